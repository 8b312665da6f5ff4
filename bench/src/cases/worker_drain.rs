//! Drain throughput of `concierge worker` exactly as an operator runs it: the process at its
//! default settings (and, for the record, at a few concurrencies), on probe jobs the bench
//! queued first, timed from the process's start to the last job's record, with each job
//! checked to have run exactly once.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jobs::probe_run::{self, ProbeRunKeys};
use jobs::{Job, Probe, PushOptions, now_ms};
use redis::AsyncCommands;
use serde_json::json;

use crate::bullmq::{key, ratio};
use crate::measure::{mib, redis_cpu, redis_cpu_us_per_job, report, rss_kib};
use crate::subject::{self, Bench};

impl Bench {
    /// Queues `n` probe jobs, starts `concierge worker` (`concurrency`: `None` for its default),
    /// and times until every job recorded its run. Returns the rate.
    pub(crate) async fn worker_drain(
        &self,
        n: u64,
        concurrency: Option<usize>,
    ) -> anyhow::Result<f64> {
        let binary = self.concierge_binary();
        let label = concurrency.map_or("default".to_owned(), |c| c.to_string());
        let prefix = format!("{}:wd{label}-{n}", self.prefix);
        let producer = jobs::Producer::connect(self.client.clone(), &prefix).await?;
        let run_id = format!("wd{label}");
        let keys = ProbeRunKeys::new(&producer.keys::<Probe>(), &run_id);
        let mut conn = producer.connection();
        probe_run::begin(&mut conn, &keys, n).await?;
        for start in (0..n).step_by(10_000) {
            let batch = Bench::probes(&run_id, start..(start + 10_000).min(n));
            producer.push_bulk(&batch, PushOptions::default()).await?;
        }
        probe_run::pushed(&mut conn, &keys).await?;
        let cpu = redis_cpu(&self.client).await?;
        let started_ms = now_ms();
        let started = Instant::now();
        let mut child =
            subject::worker_process(&binary, &self.settings.redis_url, &prefix, concurrency)
                .spawn()
                .with_context(|| {
                    format!("cannot start {} (cargo build --release)", binary.display())
                })?;
        let mut peak = 0;
        let mut completed = 0;
        while completed < n && started.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            peak = peak.max(rss_kib(child.id()));
            completed = probe_run::completed(&mut conn, std::slice::from_ref(&keys)).await?;
        }
        let cpu_us = redis_cpu_us_per_job(&self.client, cpu, n).await?;
        let _ = child.kill();
        let _ = child.wait();
        let last: u64 = conn.hget(&keys.meta, "last_done_ms").await.unwrap_or(0);
        let checked = probe_run::report(
            &mut conn,
            std::slice::from_ref(&keys),
            &run_id,
            Probe::QUEUE,
        )
        .await?;
        self.forget_keys_with_prefix(&prefix)?;
        if completed < n {
            bail!("only {completed} of {n} jobs ran within 600 s");
        }
        let seconds = last.saturating_sub(started_ms) as f64 / 1000.0;
        let rate = (n as f64 / seconds.max(0.001)).round();
        report(json!({
            "case": "worker_drain", "subject": "concierge", "process": "concierge worker",
            "concurrency": label, "queued": n, "jobs_per_s": rate,
            "x_bullmq": ratio(rate, self.baseline(key::DRAIN)),
            "redis_cpu_us_per_job": cpu_us, "peak_rss_mib": mib(peak),
            "completed": checked.completed, "duplicates": checked.duplicates, "lost": checked.lost,
        }));
        Ok(rate)
    }
}
