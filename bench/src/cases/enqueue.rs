//! Enqueue throughput: one job per call from concurrent callers (as API requests push), and
//! bulk pushes in batches, with the Redis CPU time each pushed job costs.

use std::time::Instant;

use apalis::prelude::TaskSink;
use jobs::PushOptions;
use serde_json::json;

use crate::bullmq::{key, ratio};
use crate::measure::{own_cpu, redis_cpu, redis_cpu_us_per_job, report};
use crate::subject::{Bench, BenchJob, Subject};

impl Bench {
    /// Pushes `n` jobs, one per call, from `callers` concurrent tasks.
    pub(crate) async fn enqueue_single(
        &self,
        subject: Subject,
        n: u64,
        callers: u64,
    ) -> anyhow::Result<f64> {
        let queue = format!("single-{callers}");
        // One producer shared by every caller, as one API process shares one (and as BullMQ's
        // callers share one `Queue`).
        let shared = self.producer().await?;
        let cpu = redis_cpu(&self.client).await?;
        let own = own_cpu();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..callers {
            let per = n / callers;
            match subject {
                Subject::Concierge => {
                    let producer = shared.clone();
                    let options = PushOptions::default().in_queue(queue.clone());
                    tasks.push(tokio::spawn(async move {
                        for i in 0..per {
                            producer
                                .push_with(&Bench::job(c * per + i), options.clone())
                                .await?;
                        }
                        Ok::<_, anyhow::Error>(())
                    }));
                }
                Subject::ApalisRedis => {
                    let mut storage = self.apalis_storage(&queue).await?;
                    tasks.push(tokio::spawn(async move {
                        for i in 0..per {
                            storage
                                .push(Bench::job(c * per + i))
                                .await
                                .map_err(|e| anyhow::anyhow!("{e}"))?;
                        }
                        Ok::<_, anyhow::Error>(())
                    }));
                }
            }
        }
        for t in tasks {
            t.await??;
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        let client_us = ((own_cpu() - own) * 1e7 / n as f64).round() / 10.0;
        let redis_us = redis_cpu_us_per_job(&self.client, cpu, n).await?;
        let calls = shared.single_push_calls();
        let jobs_per_call = (subject == Subject::Concierge && calls > 0)
            .then(|| (n as f64 / calls as f64 * 10.0).round() / 10.0);
        report(
            json!({"case": "enqueue_single", "subject": subject.name(), "jobs": n, "callers": callers, "jobs_per_s": rate.round(), "redis_cpu_us_per_job": redis_us, "jobs_per_call": jobs_per_call, "client_cpu_us_per_job": client_us,
                "x_bullmq": (subject == Subject::Concierge && callers == 32).then(|| ratio(rate, self.baseline(key::ENQUEUE))).flatten()}),
        );
        Ok(rate)
    }

    /// BullMQ's `add` and ours from 32 callers, `rounds` times in turn: neighbours on a
    /// shared machine slow one side or the other for seconds at a time, so the median of the
    /// rounds' ratios says more than one ratio. Returns that median.
    pub(crate) async fn enqueue_alternating(&self, n: u64, rounds: usize) -> anyhow::Result<f64> {
        let mut pairs = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let theirs = self.bullmq_add(n).await?;
            let ours = self.enqueue_single(Subject::Concierge, n, 32).await?;
            // Nothing drains that queue: start each round from an empty one.
            self.forget_keys("single-32")?;
            pairs.push((theirs, ours));
        }
        let mut ratios: Vec<f64> = pairs.iter().map(|(t, o)| o / t.max(1.0)).collect();
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        report(json!({
            "case": "enqueue_alternating", "callers": 32, "jobs": n,
            "rounds": pairs.iter().map(|(t, o)| json!({"bullmq_jobs_per_s": t, "concierge_jobs_per_s": o.round()})).collect::<Vec<_>>(),
            "median_x_bullmq": (median * 100.0).round() / 100.0,
        }));
        Ok(median)
    }

    /// Pushes `n` jobs in batches of `batch`.
    pub(crate) async fn enqueue_bulk(
        &self,
        subject: Subject,
        queue: &str,
        n: u64,
        batch: u64,
    ) -> anyhow::Result<f64> {
        let started = Instant::now();
        let cpu = redis_cpu(&self.client).await?;
        match subject {
            Subject::Concierge => {
                let producer = self.producer().await?;
                let options = PushOptions::default().in_queue(queue.to_owned());
                let mut seq = 0;
                while seq < n {
                    let end = (seq + batch).min(n);
                    let jobs: Vec<BenchJob> = (seq..end).map(Bench::job).collect();
                    producer.push_bulk(&jobs, options.clone()).await?;
                    seq = end;
                }
            }
            Subject::ApalisRedis => {
                let mut storage = self.apalis_storage(queue).await?;
                let mut seq = 0;
                while seq < n {
                    let end = (seq + batch).min(n);
                    let jobs: Vec<BenchJob> = (seq..end).map(Bench::job).collect();
                    storage
                        .push_bulk(jobs)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    seq = end;
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu_us = redis_cpu_us_per_job(&self.client, cpu, n).await?;
        let rate = n as f64 / elapsed;
        report(
            json!({"case": "enqueue_bulk", "subject": subject.name(), "jobs": n, "batch": batch, "jobs_per_s": rate.round(), "redis_cpu_us_per_job": cpu_us,
                "x_bullmq": (subject == Subject::Concierge).then(|| ratio(rate, self.baseline(key::BULK))).flatten()}),
        );
        Ok(rate)
    }
}
