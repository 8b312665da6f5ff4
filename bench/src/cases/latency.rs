//! Latency, enqueue → handler start: at a steady rate, and for one job after a spell of
//! idleness (where a polling backend shows its poll interval).

use std::time::{Duration, Instant};

use apalis::prelude::TaskSink;
use jobs::{Producer, PushOptions};
use serde_json::json;

use crate::bullmq::{key, ratio};
use crate::measure::report;
use crate::subject::{Bench, BenchJob, Subject};

/// Pushes one job per call through the subject's client: what both latency cases time.
struct Pusher {
    subject: Subject,
    /// Our backend's client (connected for either subject, as the cases always did).
    producer: Producer,
    /// apalis-redis' client (likewise).
    storage: apalis_redis::RedisStorage<BenchJob>,
    /// Into the case's queue.
    options: PushOptions,
}

impl Pusher {
    async fn connect(bench: &Bench, subject: Subject, queue: &str) -> anyhow::Result<Self> {
        Ok(Self {
            subject,
            producer: bench.producer().await?,
            storage: bench.apalis_storage(queue).await?,
            options: PushOptions::default().in_queue(queue.to_owned()),
        })
    }

    /// Pushes job `seq`, stamped now.
    async fn push(&mut self, seq: u64) -> anyhow::Result<()> {
        match self.subject {
            Subject::Concierge => drop(
                self.producer
                    .push_with(&Bench::job(seq), self.options.clone())
                    .await?,
            ),
            Subject::ApalisRedis => self
                .storage
                .push(Bench::job(seq))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        }
        Ok(())
    }
}

impl Bench {
    /// Pushes one job per millisecond for `seconds` while a worker runs; enqueue → start.
    pub(crate) async fn latency_at_rate(
        &self,
        subject: Subject,
        rate: u64,
        seconds: u64,
    ) -> anyhow::Result<()> {
        let queue = "latency".to_owned();
        self.seen.reset();
        let worker = self.worker(subject, &queue);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut pusher = Pusher::connect(self, subject, &queue).await?;
        let total = rate * seconds;
        let started = Instant::now();
        // Our pushes go out without waiting for each other (as a web server's requests do,
        // and as BullMQ's latency mode adds), so the pace holds at 10,000/s.
        let mut inflight = tokio::task::JoinSet::new();
        for seq in 0..total {
            let due = started + Duration::from_secs_f64(seq as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
            match subject {
                Subject::Concierge => {
                    let (producer, options) = (pusher.producer.clone(), pusher.options.clone());
                    inflight
                        .spawn(async move { producer.push_with(&Bench::job(seq), options).await });
                }
                Subject::ApalisRedis => pusher.push(seq).await?,
            }
        }
        while let Some(pushed) = inflight.join_next().await {
            pushed??;
        }
        let complete = self
            .seen
            .wait_done(total, Duration::from_secs(60))
            .await
            .is_some();
        worker.stop().await;
        let (p50, p99, max) = self.seen.percentiles();
        report(
            json!({"case": "latency_at_rate", "subject": subject.name(), "rate": rate, "jobs": total, "complete": complete, "p50_us": p50, "p99_us": p99, "max_us": max,
                // BullMQ's p99 over ours: above 1, ours starts jobs sooner.
                "bullmq_p99_over_ours": (subject == Subject::Concierge).then(|| {
                    let theirs = self.baseline(match rate { 10_000 => key::P99_10K, _ => key::P99_1K });
                    theirs.and_then(|t| ratio(t, Some(p99.max(1) as f64)))
                }).flatten()}),
        );
        Ok(())
    }

    /// One job after `idle` of nothing, `samples` times; enqueue → start.
    pub(crate) async fn latency_after_idle(
        &self,
        subject: Subject,
        idle: Duration,
        samples: u64,
    ) -> anyhow::Result<()> {
        let queue = "idle".to_owned();
        self.seen.reset();
        let worker = self.worker(subject, &queue);
        let mut pusher = Pusher::connect(self, subject, &queue).await?;
        let mut complete = true;
        for seq in 0..samples {
            tokio::time::sleep(idle).await;
            pusher.push(seq).await?;
            complete &= self.seen.wait_done(seq + 1, idle * 4).await.is_some();
        }
        worker.stop().await;
        let (p50, p99, max) = self.seen.percentiles();
        report(
            json!({"case": "latency_after_idle", "subject": subject.name(), "idle_s": idle.as_secs(), "samples": samples, "complete": complete, "p50_us": p50, "p99_us": p99, "max_us": max}),
        );
        Ok(())
    }
}
