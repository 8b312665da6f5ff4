//! Memory: a `concierge worker` process's resident set idle, and its peak while it drains a
//! probe backlog.

use std::time::{Duration, Instant};

use anyhow::Context;
use jobs::{Producer, PushOptions};
use serde_json::json;

use crate::measure::{mib, report, rss_kib};
use crate::subject::{self, Bench};

impl Bench {
    /// `concierge worker` as a process: RSS idle, and peak RSS while draining probe jobs.
    pub(crate) async fn worker_rss(&self) -> anyhow::Result<()> {
        let binary = self.concierge_binary();
        let prefix = format!("{}:proc", self.prefix);
        // At its defaults, as an operator runs it.
        let mut child = subject::worker_process(&binary, &self.settings.redis_url, &prefix, None)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (build it: cargo build --release)",
                    binary.display()
                )
            })?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle = rss_kib(child.id());
        let producer = Producer::connect(self.client.clone(), &prefix).await?;
        let n = if self.settings.quick { 50_000 } else { 200_000 };
        let jobs = Bench::probes("rss", 0..n);
        for chunk in jobs.chunks(10_000) {
            producer.push_bulk(chunk, PushOptions::default()).await?;
        }
        let mut peak = idle;
        let started = Instant::now();
        while producer.depth("probe").await?.stream > 0
            && started.elapsed() < Duration::from_secs(120)
        {
            peak = peak.max(rss_kib(child.id()));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        report(
            json!({"case": "worker_rss", "subject": "concierge", "idle_mib": mib(idle), "peak_under_load_mib": mib(peak), "jobs": n, "concurrency": "default"}),
        );
        Ok(())
    }
}
