//! The anonymous-cost case of issue 11: thousands of `/api/login` requests with junk access
//! tokens, each held while its `exchange_oauth_code` job waits for a Google that never
//! answers, against the release `concierge api` and `concierge worker` processes. It shows
//! how many Redis connections the waits cost, that the API keeps answering, and how fast the
//! workers drain other queues meanwhile (a probe run during the storm beside one before it).
//!
//! Every request names a client of its own in `X-Forwarded-For` (the API trusts the bench on
//! 127.0.0.1 as its proxy): per-address limits are not what is measured here.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use super::api::{Api, Process};
use crate::measure::{redis_info, report};
use crate::subject::{self, Bench};

impl Bench {
    /// Issue 11's anonymous-cost case (see the module's documentation).
    pub(crate) async fn login_storm(&self) -> anyhow::Result<()> {
        let binary = self.concierge_binary();
        let prefix = format!("{}:storm", self.prefix);
        let storm = Storm {
            api: Api {
                binary: &binary,
                redis_url: &self.settings.redis_url,
                database_url: &self.settings.database_url,
                prefix: &prefix,
            },
            requests: self.settings.storm_requests,
            probe_jobs: if self.settings.quick { 20_000 } else { 100_000 },
        };
        let result = storm.run().await;
        self.forget_keys_with_prefix(&prefix)?;
        report(result?);
        Ok(())
    }
}

/// What the storm needs of the bench's settings.
struct Storm<'a> {
    /// The `concierge` processes (`migrate`, `api`, `worker`, and `probe` beside them).
    api: Api<'a>,
    /// Concurrent `/api/login` requests.
    requests: usize,
    /// Jobs of each probe drain (before and during the storm).
    probe_jobs: u64,
}

async fn connected_clients(client: &redis::Client) -> anyhow::Result<u64> {
    let info = redis_info(client, "clients").await?;
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no connected_clients in INFO")
}

/// A TCP port that accepts and never answers: Google, as slow as it gets.
async fn black_hole() -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Ok(port)
}

impl Storm<'_> {
    /// A probe drain beside the storm, on a blocking thread (it waits for its process).
    async fn probe(&self) -> anyhow::Result<serde_json::Value> {
        let (binary, redis_url, prefix, jobs) = (
            self.api.binary.to_owned(),
            self.api.redis_url.to_owned(),
            self.api.prefix.to_owned(),
            self.probe_jobs,
        );
        tokio::task::spawn_blocking(move || subject::probe(&binary, &redis_url, &prefix, jobs, 300))
            .await?
    }

    /// Runs the storm; returns the case's JSON line.
    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        let redis = redis::Client::open(self.api.redis_url)?;
        self.api.migrate()?;
        let hole = black_hole().await?;
        let tokeninfo = format!("http://127.0.0.1:{hole}/tokeninfo");
        let clients_before = connected_clients(&redis).await?;
        let (_api, address) = self.api.start_api(&tokeninfo, false)?;
        let _worker = Process(
            self.api
                .command("worker", &tokeninfo, false)
                .env("RUST_LOG", "warn")
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start concierge worker")?,
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let clients_idle = connected_clients(&redis).await?;
        let alone = self.probe().await?;

        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(60))
            .build()?;
        let answered = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let requests: Vec<_> = (0..self.requests)
            .map(|i| {
                let http = http.clone();
                let url = format!("http://{address}/api/login");
                let answered = answered.clone();
                tokio::spawn(async move {
                    let from = format!("10.{}.{}.{}", i / 65_536 % 256, i / 256 % 256, i % 256);
                    let sent = Instant::now();
                    let resp = http
                        .post(url)
                        .header("x-forwarded-for", from)
                        .json(&json!({ "access_token": format!("junk-{i}") }))
                        .send()
                        .await;
                    answered.fetch_add(1, Ordering::Relaxed);
                    (resp.map(|r| r.status().as_u16()), sent.elapsed())
                })
            })
            .collect();
        // Once the waits are in flight: what they cost Redis, and what the API reports.
        let metrics_url = format!("http://{address}/metrics");
        let mut waiters_peak = 0u64;
        let mut clients_storm = 0u64;
        let until = Instant::now() + Duration::from_secs(8);
        while Instant::now() < until {
            if let Ok(text) = http.get(&metrics_url).send().await?.text().await {
                let waiting = text
                    .lines()
                    .find_map(|l| l.strip_prefix("concierge_job_waiters "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .unwrap_or_default() as u64;
                waiters_peak = waiters_peak.max(waiting);
            }
            clients_storm = clients_storm.max(connected_clients(&redis).await?);
            if waiters_peak as usize >= self.requests {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let during = self.probe().await?;
        let probe_overlapped = answered.load(Ordering::Relaxed) < self.requests as u64;
        let mut statuses = std::collections::BTreeMap::<String, u64>::new();
        let mut latencies = Vec::with_capacity(self.requests);
        for r in requests {
            let (status, took) = r.await?;
            let key = match status {
                Ok(s) => s.to_string(),
                Err(e) => format!("error: {}", e.without_url()),
            };
            *statuses.entry(key).or_default() += 1;
            latencies.push(took.as_millis() as u64);
        }
        latencies.sort_unstable();
        let pick =
            |q: f64| latencies[((q * latencies.len() as f64) as usize).min(latencies.len() - 1)];
        Ok(json!({
            "case": "login_storm", "subject": "concierge",
            "requests": self.requests,
            "answers": statuses,
            "answer_ms_p50": pick(0.5), "answer_ms_p99": pick(0.99),
            "storm_s": started.elapsed().as_secs_f64(),
            "waiters_peak": waiters_peak,
            "redis_clients": {
                "before_processes": clients_before,
                "api_and_worker_idle": clients_idle,
                "peak_during_storm": clients_storm,
            },
            "probe_drain_alone": { "jobs_per_s": alone["jobs_per_s"], "lost": alone["lost"], "duplicates": alone["duplicates"] },
            "probe_drain_during_storm": { "jobs_per_s": during["jobs_per_s"], "lost": during["lost"], "duplicates": during["duplicates"], "overlapped_waits": probe_overlapped },
        }))
    }
}
