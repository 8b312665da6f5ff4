//! Drain throughput: a queued backlog run by one in-process worker, and a backlog that falls
//! due all at once (apalis-redis' `unpack()` limit).

use std::time::Duration;

use apalis::prelude::TaskSink;
use jobs::{PushOptions, now_ms};
use serde_json::json;

use crate::bullmq::{key, ratio};
use crate::measure::{redis_cpu, redis_cpu_us_per_job, report};
use crate::subject::{Bench, BenchJob, Subject};

impl Bench {
    /// Queues `n` jobs, then starts a worker and times the drain.
    pub(crate) async fn drain(&self, subject: Subject, n: u64) -> anyhow::Result<Option<f64>> {
        let queue = format!("drain-{n}");
        self.enqueue_bulk(subject, &queue, n, 10_000).await?;
        self.seen.reset();
        let cpu = redis_cpu(&self.client).await?;
        let worker = self.worker(subject, &queue);
        let took = self.seen.wait_done(n, Duration::from_secs(600)).await;
        let cpu_us = redis_cpu_us_per_job(&self.client, cpu, n).await?;
        worker.stop().await;
        let done = self.seen.done();
        let rate = took.map(|t| n as f64 / t.as_secs_f64());
        report(json!({
            "case": "drain", "subject": subject.name(), "queued": n, "completed": done,
            "concurrency": self.settings.concurrency,
            "jobs_per_s": rate.map(f64::round), "redis_cpu_us_per_job": cpu_us,
            "x_bullmq": rate.filter(|_| subject == Subject::Concierge).and_then(|r| ratio(r, self.baseline(key::DRAIN))),
            "note": if took.is_none() { "did not complete: the queue stopped making progress" } else { "" },
        }));
        self.forget_keys(&queue)?;
        Ok(rate)
    }

    /// Schedules `n` jobs all due at once (1 s from now), then drains them: apalis-redis
    /// promotes every due job with one `unpack()` and stops past ~8,000.
    pub(crate) async fn due_backlog(&self, subject: Subject, n: u64) -> anyhow::Result<()> {
        let queue = format!("due-{n}");
        let due = now_ms() + 1_000;
        match subject {
            Subject::Concierge => {
                let producer = self.producer().await?;
                let options = PushOptions::at(due).in_queue(queue.clone());
                for start in (0..n).step_by(10_000) {
                    let jobs: Vec<BenchJob> =
                        (start..(start + 10_000).min(n)).map(Bench::job).collect();
                    producer.push_bulk(&jobs, options.clone()).await?;
                }
            }
            Subject::ApalisRedis => {
                let mut storage = self.apalis_storage(&queue).await?;
                for seq in 0..n {
                    let task = apalis::prelude::TaskBuilder::new(Bench::job(seq))
                        .run_at_timestamp(due / 1000 + 1)
                        .build();
                    storage
                        .push_task(task)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(due.saturating_sub(now_ms()) + 1_000)).await;
        self.seen.reset();
        let worker = self.worker(subject, &queue);
        let took = self.seen.wait_done(n, Duration::from_secs(300)).await;
        worker.stop().await;
        let done = self.seen.done();
        report(json!({
            "case": "due_backlog", "subject": subject.name(), "due_at_once": n, "completed": done,
            "jobs_per_s": took.map(|t| (n as f64 / t.as_secs_f64()).round()),
            "note": if took.is_none() { "did not complete: the queue stopped making progress" } else { "" },
        }));
        Ok(())
    }
}
