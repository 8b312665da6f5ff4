//! The BullMQ subject: `bullmq/bench.mjs` under Node, on the same Redis and CPU as ours (it
//! inherits the bench's pinning), measured in the same run. Its figures are the baseline each
//! Concierge line is reported against (`x_bullmq`).

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::measure::{redis_cpu, redis_cpu_us_per_job, report};
use crate::subject::Bench;

/// The pinned version (`bullmq/package-lock.json`).
pub const VERSION: &str = "6.7.0";

/// The baselines the Concierge cases are reported against.
pub mod key {
    /// Best drain rate over concurrency 16, 64 and 256 (jobs/s).
    pub const DRAIN: &str = "drain";
    /// Redis CPU per drained job at that best concurrency (µs).
    pub const DRAIN_REDIS_US: &str = "drain_redis_us";
    /// `add` from 32 concurrent callers (jobs/s).
    pub const ENQUEUE: &str = "enqueue";
    /// `addBulk` in batches of 10,000 (jobs/s).
    pub const BULK: &str = "enqueue_bulk";
    /// Enqueue → start p99 at 1,000 and 10,000 jobs/s (µs).
    pub const P99_1K: &str = "p99_us_1000";
    pub const P99_10K: &str = "p99_us_10000";
}

impl Bench {
    fn bullmq_dir(&self) -> PathBuf {
        self.settings
            .bullmq_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/bullmq")))
    }

    /// Installs the pinned BullMQ unless it already is (`bullmq/install.sh`, `npm ci`).
    pub(crate) async fn bullmq_install(&self) -> anyhow::Result<()> {
        let dir = self.bullmq_dir();
        let installed = std::fs::read_to_string(dir.join("node_modules/bullmq/package.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        if installed.as_deref() == Some(VERSION) {
            return Ok(());
        }
        let status = Command::new(dir.join("install.sh"))
            .stdout(Stdio::null())
            .status()
            .await
            .context("cannot run bench/bullmq/install.sh (are node and npm installed?)")?;
        if !status.success() {
            bail!("bench/bullmq/install.sh failed: {status}");
        }
        Ok(())
    }

    fn node(&self, mode: &str, args: &[(&str, String)]) -> Command {
        let mut cmd = Command::new("node");
        cmd.arg(self.bullmq_dir().join("bench.mjs"))
            .arg(mode)
            .args(["--redis", &self.settings.redis_url])
            .args(["--prefix", &format!("{}:bullmq", self.prefix)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in args {
            cmd.arg(format!("--{k}")).arg(v);
        }
        cmd
    }

    /// Runs one mode to its end, takes `field` of its result as the baseline `key`, and
    /// reports the result.
    async fn node_case(
        &self,
        mode: &str,
        args: &[(&str, String)],
        key: &'static str,
        field: &str,
    ) -> anyhow::Result<()> {
        let out = self.node(mode, args).output().await?;
        if !out.status.success() {
            bail!("node bench.mjs {mode} failed: {}", out.status);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = result(text.lines().last().context("bench.mjs printed nothing")?)?;
        self.set_baseline(key, line[field].as_f64().unwrap_or(0.0));
        report(line);
        Ok(())
    }

    pub(crate) fn baseline(&self, key: &str) -> Option<f64> {
        self.baseline.lock().ok()?.get(key).copied()
    }

    fn set_baseline(&self, key: &'static str, value: f64) {
        if let Ok(mut b) = self.baseline.lock() {
            b.insert(key, value);
        }
    }

    /// BullMQ drains `n` no-op jobs at each concurrency; the best rate is the drain baseline.
    pub(crate) async fn bullmq_drain(&self, n: u64) -> anyhow::Result<()> {
        let mut best: Option<(f64, f64)> = None;
        for concurrency in [16, 64, 256] {
            let args = [
                ("jobs", n.to_string()),
                ("concurrency", concurrency.to_string()),
            ];
            let mut child = self.node("drain", &args).spawn()?;
            let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
            let filled = lines.next_line().await?.context("bench.mjs ended early")?;
            if !filled.contains("\"filled\"") {
                bail!("bench.mjs said {filled}");
            }
            let cpu = redis_cpu(&self.client).await?;
            let mut stdin = child.stdin.take().context("stdin")?;
            stdin.write_all(b"go\n").await?;
            stdin.flush().await?;
            let done = lines.next_line().await?.context("bench.mjs ended early")?;
            // Redis CPU until the last job; the cleanup after it is not the drain's.
            let cpu_us = redis_cpu_us_per_job(&self.client, cpu, n).await?;
            let mut line = result(&done)?;
            let _ = child.wait().await;
            let rate = line["jobs_per_s"].as_f64().unwrap_or(0.0);
            line["redis_cpu_us_per_job"] = json!(cpu_us);
            report(line);
            if best.is_none_or(|(r, _)| rate > r) {
                best = Some((rate, cpu_us));
            }
        }
        if let Some((rate, cpu_us)) = best {
            self.set_baseline(key::DRAIN, rate);
            self.set_baseline(key::DRAIN_REDIS_US, cpu_us);
        }
        Ok(())
    }

    /// BullMQ's `add` from 32 concurrent callers and `addBulk` in batches of 10,000.
    pub(crate) async fn bullmq_enqueue(&self, single: u64, bulk: u64) -> anyhow::Result<()> {
        let args = [("jobs", single.to_string()), ("callers", "32".into())];
        self.node_case("enqueue", &args, key::ENQUEUE, "jobs_per_s")
            .await?;
        let args = [("jobs", bulk.to_string()), ("batch", "10000".into())];
        self.node_case("bulk", &args, key::BULK, "jobs_per_s").await
    }

    /// BullMQ's `add` from 32 concurrent callers on one `Queue`: its rate (also the baseline
    /// of the 32-caller enqueue).
    pub(crate) async fn bullmq_add(&self, jobs: u64) -> anyhow::Result<f64> {
        let args = [("jobs", jobs.to_string()), ("callers", "32".into())];
        self.node_case("enqueue", &args, key::ENQUEUE, "jobs_per_s")
            .await?;
        self.baseline(key::ENQUEUE)
            .context("bench.mjs reported no rate")
    }

    /// BullMQ's enqueue → start at `rate` jobs/s for `seconds`, worker and pusher in one
    /// process (as ours).
    pub(crate) async fn bullmq_latency(&self, rate: u64, seconds: u64) -> anyhow::Result<()> {
        let key = match rate {
            1_000 => key::P99_1K,
            10_000 => key::P99_10K,
            _ => bail!("no baseline for {rate} jobs/s"),
        };
        let args = [
            ("rate", rate.to_string()),
            ("seconds", seconds.to_string()),
            ("concurrency", "64".into()),
        ];
        self.node_case("latency", &args, key, "p99_us").await
    }
}

/// One result line of `bench.mjs`, without its `event` field.
fn result(line: &str) -> anyhow::Result<Value> {
    let mut value: Value = serde_json::from_str(line)?;
    if let Some(o) = value.as_object_mut() {
        o.remove("event");
    }
    Ok(value)
}

/// `ours / theirs` to two decimals (rates: higher is better), `None` without a baseline.
pub fn ratio(ours: f64, theirs: Option<f64>) -> Option<f64> {
    let theirs = theirs.filter(|t| *t > 0.0)?;
    Some((ours / theirs * 100.0).round() / 100.0)
}
