//! Issue 14's API case: `POST /api/user/onboarding` from 64 concurrent clients against the
//! release `concierge api`, beside `pgbench` inserting single rows from as many clients into
//! the same Postgres, in one run. `pgbench` runs before and after the API (the mean of the two
//! is the baseline), so a drift of the machine during the case shows as a gap between them.
//! A third `pgbench` run sends the endpoint's own SQL statement, prepared as sqlx sends it:
//! what the database alone can do for onboardings, so the line also says how much of the gap
//! is the API's.
//!
//! Each request is a new web onboarding (`communicationChannel: "web"`: no mail, no Discord):
//! the API counts the request and the three onboarding limits and reads the mail caps in
//! Redis (two calls), then upserts the user and issues its login code in one statement. Each names a client of its own in `X-Forwarded-For` (the API trusts the bench
//! on 127.0.0.1 as its proxy), so the per-address limit is not what is measured. The API runs
//! at its defaults (a pool of 10 connections) and may use every CPU, as Postgres does; the
//! clients, like `pgbench`, run on the bench's CPU.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use super::api::Api;
use crate::bullmq::ratio;
use crate::measure::{quantile, report};
use crate::subject::Bench;

/// The table `pgbench` inserts into: a `bigserial` key, a timestamp and an email unique
/// regardless of case, as `users` has.
const TABLE: &str = "bench_pgbench_insert";

/// What one side of the case measured.
struct Side {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

impl Side {
    /// The rate and percentiles of `latencies_us` (sorted here).
    fn of(tps: f64, mut latencies_us: Vec<u64>, failed: u64) -> Self {
        latencies_us.sort_unstable();
        let ms = |q| (quantile(&latencies_us, q) as f64 / 10.0).round() / 100.0;
        Side {
            tps,
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            failed,
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({"tps": self.tps.round(), "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "failed": self.failed})
    }
}

fn psql(database_url: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args([database_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .context("cannot run psql")?;
    anyhow::ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// One row into [`TABLE`]; `txid_current()` is unique to the transaction, so every email is
/// new.
fn insert_script() -> String {
    format!(
        "INSERT INTO {TABLE} (email) VALUES ('pgbench-' || txid_current() || '@example.com');\n"
    )
}

/// The endpoint's own statement (`store::users::onboard` for a new member: the user and its
/// login code in one statement), as pgbench would send it: what the database alone can do for
/// onboardings, the ceiling of any API in front of it.
fn onboarding_script(run: &str) -> String {
    format!(
        "WITH member AS (\
           INSERT INTO users (email, full_name, personality, communication_channel) \
           VALUES ('{run}-pgbench-' || txid_current() || '@example.com', 'Bench Member', NULL, 'web') \
           ON CONFLICT ((lower(email))) DO UPDATE \
             SET full_name = EXCLUDED.full_name, personality = EXCLUDED.personality, \
                 communication_channel = EXCLUDED.communication_channel \
             WHERE NOT users.verified \
               AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.user_id = users.id) \
           RETURNING id), \
         code AS (\
           INSERT INTO one_time_tokens (purpose, token_hash, user_id, expires_at) \
           SELECT 'login_code', sha256(txid_current()::text::bytea), id, \
                  now() + make_interval(secs => 86400) FROM member \
           RETURNING user_id) \
         SELECT user_id FROM code;\n"
    )
}

/// `pgbench -n -c <clients> -j 2 -T <seconds>` running `script` (one transaction), with every
/// transaction's latency logged (for p99) under a temporary directory; with `prepared`, as
/// prepared statements (`-M prepared`, as sqlx sends them), else as simple queries.
fn pgbench(
    database_url: &str,
    script: &str,
    prepared: bool,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<Side> {
    let dir = std::env::temp_dir().join(format!("concierge-bench-pgbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("script.sql");
    std::fs::write(&path, script)?;
    let out = Command::new("pgbench")
        .args(["-n", "-c", &clients.to_string(), "-j", "2"])
        .args(["-M", if prepared { "prepared" } else { "simple" }])
        .args(["-T", &seconds.to_string(), "-f"])
        .arg(&path)
        .arg("--log")
        .arg(format!("--log-prefix={}", dir.join("tx").display()))
        .arg(database_url)
        .output()
        .context("cannot run pgbench")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "pgbench: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let number = |key: &str| -> Option<f64> {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    // The rate without connection time (PostgreSQL before 14 also prints one with it).
    let tps = stdout
        .lines()
        .filter(|l| l.contains("without initial connection") || l.contains("excluding"))
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .context("no tps in pgbench's output")?;
    let failed = number("number of failed transactions: ").unwrap_or(0.0) as u64;
    // Each log line: client, transaction, latency (µs), script, epoch s, µs.
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tx"))
        {
            for line in std::fs::read_to_string(&path)?.lines() {
                if let Some(us) = line.split(' ').nth(2).and_then(|v| v.parse().ok()) {
                    latencies.push(us);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Side::of(tps, latencies, failed))
}

/// `clients` loops of onboardings against the API at `address` for `seconds`; every answer
/// but 200 counts as failed (and the first few are kept to say why).
async fn onboard(
    address: &str,
    run: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(Side, Vec<String>)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, next) = (http.clone(), next.clone());
            let url = format!("http://{address}/api/user/onboarding");
            let run = run.to_owned();
            tokio::spawn(async move {
                let (mut latencies, mut failed, mut why) = (Vec::new(), 0u64, Vec::new());
                while Instant::now() < until {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let from = format!("10.{}.{}.{}", i / 65_536 % 256, i / 256 % 256, i % 256);
                    let sent = Instant::now();
                    let answer = http
                        .post(&url)
                        .header("x-forwarded-for", from)
                        .json(&json!({
                            "name": "Bench Member",
                            "email": format!("{run}-{i}@example.com"),
                            "communicationChannel": "web",
                        }))
                        .send()
                        .await;
                    let took = sent.elapsed().as_micros() as u64;
                    match answer {
                        Ok(r) if r.status().is_success() => latencies.push(took),
                        Ok(r) => {
                            failed += 1;
                            if why.len() < 3 {
                                why.push(format!(
                                    "{}: {}",
                                    r.status(),
                                    r.text().await.unwrap_or_default()
                                ));
                            }
                        }
                        Err(e) => {
                            failed += 1;
                            if why.len() < 3 {
                                why.push(e.without_url().to_string());
                            }
                        }
                    }
                }
                (latencies, failed, why)
            })
        })
        .collect();
    let (mut latencies, mut failed, mut why) = (Vec::new(), 0, Vec::new());
    for task in tasks {
        let (l, f, w) = task.await?;
        latencies.extend(l);
        failed += f;
        why.extend(w);
    }
    let tps = latencies.len() as f64 / started.elapsed().as_secs_f64();
    why.truncate(3);
    Ok((Side::of(tps, latencies, failed), why))
}

impl Bench {
    /// The onboarding case (see the module's documentation): `pgbench`, the API, `pgbench`,
    /// `clients` at once for `seconds` each; the API's rate as a share of `pgbench`'s mean.
    /// Prints the case's line and returns it.
    pub(crate) async fn onboarding(
        &self,
        clients: usize,
        seconds: u64,
    ) -> anyhow::Result<serde_json::Value> {
        let binary = self.concierge_binary();
        let prefix = format!("{}:onboarding", self.prefix);
        let database_url = self.settings.database_url.as_str();
        let api = Api {
            binary: &binary,
            redis_url: &self.settings.redis_url,
            database_url,
            prefix: &prefix,
        };
        api.migrate()?;
        psql(
            database_url,
            &format!(
                "DROP TABLE IF EXISTS {TABLE}; \
                 CREATE TABLE {TABLE} (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL, \
                 created_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
                 CREATE UNIQUE INDEX ON {TABLE} ((lower(email)));"
            ),
        )?;
        let run = format!("onboarding-{}", std::process::id());
        let result = async {
            let before = pgbench(database_url, &insert_script(), false, clients, seconds)?;
            let same_sql = pgbench(
                database_url,
                &onboarding_script(&run),
                true,
                clients,
                seconds,
            )?;
            let (process, address) = api.start_api("http://127.0.0.1:9/google", true)?;
            let (ours, why) = onboard(&address, &run, clients, seconds).await?;
            // Its connections closed before pgbench opens as many again.
            drop(process);
            let after = pgbench(database_url, &insert_script(), false, clients, seconds)?;
            let baseline = (before.tps + after.tps) / 2.0;
            anyhow::Ok(json!({
                "case": "onboarding", "subject": "concierge",
                "clients": clients, "seconds": seconds,
                "api": ours.json(), "api_failures": why,
                "pgbench_before": before.json(), "pgbench_after": after.json(),
                "pgbench_onboarding_sql": same_sql.json(),
                "api_x_pgbench": ratio(ours.tps, Some(baseline)), "target": 0.7,
                "api_x_pgbench_onboarding_sql": ratio(ours.tps, Some(same_sql.tps)),
            }))
        }
        .await;
        // Leave the database as it was: the members of this run and of any run that was cut
        // short (their codes go with them), and pgbench's table. The case's own error comes
        // first, then the clean-up's.
        let cleanup = psql(
            database_url,
            &format!(
                "DELETE FROM users WHERE email LIKE 'onboarding-%@example.com'; \
                 DROP TABLE IF EXISTS {TABLE};"
            ),
        );
        let keys = self.forget_keys_with_prefix(&prefix);
        let value = result?;
        cleanup?;
        keys?;
        report(value.clone());
        Ok(value)
    }
}
