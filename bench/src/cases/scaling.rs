//! Horizontal scaling: `concierge worker` processes side by side on one probe queue, checked
//! by `concierge probe` for jobs run twice or lost.

use std::time::{Duration, Instant};

use anyhow::Context;
use jobs::Job;
use serde_json::json;

use crate::measure::report;
use crate::subject::{self, Bench};

impl Bench {
    /// Horizontal scaling: 1, 2 and 4 `concierge worker` processes serve one probe queue;
    /// `concierge probe` pushes N jobs in bulk, waits, and checks each ran exactly once.
    pub(crate) async fn scaling(&self) -> anyhow::Result<()> {
        let binary = self.concierge_binary();
        let n = if self.settings.quick { 50_000 } else { 200_000 };
        let concurrency = self
            .settings
            .concurrency_per_replica
            .unwrap_or(self.settings.concurrency);
        for replicas in [1usize, 2, 4] {
            let prefix = format!("{}:scale{replicas}", self.prefix);
            let mut children = Vec::new();
            for _ in 0..replicas {
                let child = subject::worker_process(
                    &binary,
                    &self.settings.redis_url,
                    &prefix,
                    Some(concurrency),
                )
                .spawn()
                .with_context(|| format!("cannot start {}", binary.display()))?;
                children.push(child);
            }
            // Every replica registered on the queue before the jobs arrive.
            let workers_key = jobs::redis::QueueKeys::new(&prefix, jobs::Probe::QUEUE).workers();
            let mut conn = self.client.get_multiplexed_async_connection().await?;
            let started = Instant::now();
            loop {
                let live: usize = redis::AsyncCommands::zcard(&mut conn, &workers_key).await?;
                if live >= replicas || started.elapsed() > Duration::from_secs(30) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let probed = subject::probe(&binary, &self.settings.redis_url, &prefix, n, 600);
            for mut child in children {
                let _ = child.kill();
                let _ = child.wait();
            }
            let probed = probed?;
            report(json!({
                "case": "scaling", "subject": "concierge", "replicas": replicas,
                "concurrency_per_replica": concurrency, "jobs": n,
                "jobs_per_s": probed["jobs_per_s"], "completed": probed["completed"],
                "duplicates": probed["duplicates"], "lost": probed["lost"],
                "p99_ms": probed["p99_ms"],
            }));
            self.forget_keys_with_prefix(&prefix)?;
        }
        Ok(())
    }
}
