//! Redis memory at full speed: an in-process worker at the queue's default settings drains
//! jobs pushed in bulk as fast as it takes them, for minutes; Redis's `used_memory` before,
//! during and after says what each finished job leaves behind.

use std::time::{Duration, Instant};

use jobs::PushOptions;
use serde_json::json;

use crate::measure::{redis_info, report};
use crate::subject::{Bench, BenchJob, Subject};

async fn used_memory(client: &redis::Client) -> anyhow::Result<u64> {
    let info = redis_info(client, "memory").await?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}

impl Bench {
    /// Pushes in batches of 10,000 while fewer than 40,000 wait, for `run`; then lets the
    /// queue drain and reports Redis memory and bytes per finished job.
    pub(crate) async fn memory_soak(&self, run: Duration) -> anyhow::Result<()> {
        let queue = "soak".to_owned();
        let producer = self.producer().await?;
        let options = PushOptions::default().in_queue(queue.clone());
        self.seen.reset();
        let start_memory = used_memory(&self.client).await?;
        let worker = self.worker(Subject::Concierge, &queue);
        let started = Instant::now();
        let mut pushed = 0u64;
        let mut peak = start_memory;
        let mut samples = Vec::new();
        let mut next_sample = Duration::from_secs(10);
        while started.elapsed() < run {
            let waiting = pushed.saturating_sub(self.seen.done());
            if waiting < 40_000 {
                let batch: Vec<BenchJob> = (pushed..pushed + 10_000).map(Bench::job).collect();
                producer.push_bulk(&batch, options.clone()).await?;
                pushed += 10_000;
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if started.elapsed() >= next_sample {
                let now = used_memory(&self.client).await?;
                peak = peak.max(now);
                samples.push(json!({"s": next_sample.as_secs(), "used_memory": now, "finished": self.seen.done()}));
                next_sample += Duration::from_secs(10);
            }
        }
        let drained = self
            .seen
            .wait_done(pushed, Duration::from_secs(120))
            .await
            .is_some();
        let seconds = started.elapsed().as_secs_f64();
        worker.stop().await;
        let finished = self.seen.done();
        let end_memory = used_memory(&self.client).await?;
        let per_job = end_memory.saturating_sub(start_memory) as f64 / finished.max(1) as f64;
        report(json!({
            "case": "memory_soak", "subject": "concierge", "settings": "QueueConfig::default()",
            "concurrency": self.settings.concurrency, "seconds": seconds.round(),
            "finished": finished, "drained": drained,
            "jobs_per_s": (finished as f64 / seconds).round(),
            "used_memory_start": start_memory, "used_memory_end": end_memory,
            "used_memory_peak_sampled": peak,
            "bytes_per_finished_job": (per_job * 10.0).round() / 10.0,
            "samples": samples,
        }));
        self.forget_keys(&queue)?;
        Ok(())
    }
}
