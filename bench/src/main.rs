//! The queue benchmark: our Redis Streams backend (`jobs`) and apalis-redis 1.0 measured in one
//! invocation on the same Redis, plus `redis-benchmark` figures for the Redis operations one job
//! needs (the physical limit). Prints one JSON object per case and a summary table;
//! `bench/README.md` records a run with the machine, commit and settings.
//!
//! Run: `cargo run --release -p bench -- [--quick]` (Redis on 127.0.0.1:6379; the release
//! `concierge` binary beside this one for the worker-process cases).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use apalis::prelude::{BoxDynError, Data, TaskSink, WorkerBuilder, WorkerBuilderExt};
use clap::Parser;
use jobs::{Job, Producer, PushOptions, QueueConfig, RedisBackend, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

mod login_storm;

#[derive(Debug, Parser)]
#[command(about = "Benchmark the job queue against apalis-redis 1.0 and redis-benchmark")]
struct Args {
    /// Redis to measure against (every key under a fresh prefix, deleted afterwards).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Smaller sizes, for a quick look (not for publishing).
    #[arg(long)]
    quick: bool,
    /// Jobs a worker runs at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Skip the apalis-redis baseline.
    #[arg(long)]
    skip_apalis_redis: bool,
    /// Measure only the apalis-redis baseline.
    #[arg(long, conflicts_with = "skip_apalis_redis")]
    only_apalis_redis: bool,
    /// Jobs each worker process of the scaling case runs at once (default: --concurrency).
    #[arg(long)]
    concurrency_per_replica: Option<usize>,
    /// The `concierge` binary for the worker-process cases (default: beside this binary).
    #[arg(long)]
    concierge: Option<PathBuf>,
    /// Run only the scaling case: 1, 2 and 4 `concierge worker` processes on one queue.
    #[arg(long)]
    only_scaling: bool,
    /// Run only the login storm: concurrent `/api/login` waits against `concierge api` and
    /// `concierge worker` (issue 11), with a probe drain beside them.
    #[arg(long)]
    only_login_storm: bool,
    /// Requests of the login storm.
    #[arg(long, default_value_t = 5_000)]
    storm_requests: usize,
    /// Postgres for the login storm's API (created and migrated if missing).
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/concierge_bench"
    )]
    database_url: String,
}

/// The no-op job both backends run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BenchJob {
    seq: u64,
    enqueued_at_ms: u64,
}

impl Job for BenchJob {
    const QUEUE: &'static str = "bench";
}

/// What the handlers saw.
#[derive(Debug, Default)]
struct Seen {
    done: AtomicU64,
    latencies_ms: Mutex<Vec<u64>>,
}

impl Seen {
    fn reset(&self) {
        self.done.store(0, Ordering::SeqCst);
        if let Ok(mut l) = self.latencies_ms.lock() {
            l.clear();
        }
    }

    fn percentiles(&self) -> (u64, u64, u64) {
        let mut l = self
            .latencies_ms
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        l.sort_unstable();
        let pick = |q: f64| {
            if l.is_empty() {
                return 0;
            }
            l[((q * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1]
        };
        (pick(0.5), pick(0.99), l.last().copied().unwrap_or(0))
    }
}

async fn handler(job: BenchJob, seen: Data<Arc<Seen>>) -> Result<(), BoxDynError> {
    let latency = now_ms().saturating_sub(job.enqueued_at_ms);
    if let Ok(mut l) = seen.latencies_ms.lock() {
        l.push(latency);
    }
    seen.done.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Concierge,
    ApalisRedis,
}

impl Subject {
    fn name(self) -> &'static str {
        match self {
            Subject::Concierge => "concierge",
            Subject::ApalisRedis => "apalis-redis-1.0",
        }
    }
}

/// One benchmark environment: a key prefix of its own on the shared Redis.
struct Bench {
    args: Args,
    client: redis::Client,
    prefix: String,
    seen: Arc<Seen>,
    results: Vec<serde_json::Value>,
}

impl Bench {
    fn record(&mut self, value: serde_json::Value) {
        #[allow(clippy::print_stdout)]
        {
            println!("{value}");
        }
        self.results.push(value);
    }

    async fn producer(&self) -> anyhow::Result<Producer> {
        Ok(Producer::connect(self.client.clone(), &self.prefix).await?)
    }

    fn apalis_config(&self, queue: &str) -> apalis_redis::Config {
        apalis_redis::Config::default().queue(format!("{}:apalis:{queue}", self.prefix))
    }

    async fn apalis_storage(
        &self,
        queue: &str,
    ) -> anyhow::Result<apalis_redis::RedisStorage<BenchJob>> {
        let conn = apalis_redis::connect(self.args.redis_url.as_str()).await?;
        Ok(apalis_redis::RedisStorage::new(conn).with_config(self.apalis_config(queue)))
    }

    fn job(seq: u64) -> BenchJob {
        BenchJob {
            seq,
            enqueued_at_ms: now_ms(),
        }
    }

    /// Pushes `n` jobs, one per call, from `callers` concurrent tasks.
    async fn enqueue_single(
        &mut self,
        subject: Subject,
        n: u64,
        callers: u64,
    ) -> anyhow::Result<f64> {
        let queue = format!("single-{callers}");
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..callers {
            let per = n / callers;
            match subject {
                Subject::Concierge => {
                    let producer = self.producer().await?;
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
        self.record(json!({"case": "enqueue_single", "subject": subject.name(), "jobs": n, "callers": callers, "jobs_per_s": rate.round()}));
        Ok(rate)
    }

    /// Pushes `n` jobs in batches of `batch`.
    async fn enqueue_bulk(
        &mut self,
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
        let cpu_us = (redis_cpu(&self.client).await? - cpu) * 1e6 / n as f64;
        let rate = n as f64 / elapsed;
        self.record(json!({"case": "enqueue_bulk", "subject": subject.name(), "jobs": n, "batch": batch, "jobs_per_s": rate.round(), "redis_cpu_us_per_job": (cpu_us * 10.0).round() / 10.0}));
        Ok(rate)
    }

    /// Starts a worker of `subject` on `queue` on a thread and runtime of its own.
    fn worker(&self, subject: Subject, queue: &str) -> WorkerHandle {
        let stop = CancellationToken::new();
        let (token, seen, queue) = (stop.clone(), self.seen.clone(), queue.to_owned());
        let (client, prefix, url, concurrency) = (
            self.client.clone(),
            self.prefix.clone(),
            self.args.redis_url.clone(),
            self.args.concurrency,
        );
        let apalis_config = self.apalis_config(&queue);
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let until = async move {
                    token.cancelled().await;
                    Ok::<(), std::io::Error>(())
                };
                match subject {
                    Subject::Concierge => {
                        let Ok(producer) = Producer::connect(client, &prefix).await else {
                            return;
                        };
                        let backend = RedisBackend::<BenchJob>::with_queue(
                            &producer,
                            &queue,
                            QueueConfig::default(),
                            concurrency,
                        );
                        let worker = WorkerBuilder::new(jobs::redis::worker_name(&queue).as_str())
                            .backend(backend)
                            .concurrency(concurrency)
                            .data(seen)
                            .build(handler);
                        let _ = worker.run_until(until).await;
                    }
                    Subject::ApalisRedis => {
                        let Ok(conn) = apalis_redis::connect(url.as_str()).await else {
                            return;
                        };
                        let storage = apalis_redis::RedisStorage::<BenchJob>::new(conn)
                            .with_config(apalis_config);
                        // A fresh name per worker: apalis-redis refuses a name seen within its heartbeat window.
                        let worker =
                            WorkerBuilder::new(jobs::redis::worker_name("apalis").as_str())
                                .backend(storage)
                                .concurrency(concurrency)
                                .data(seen)
                                .build(handler);
                        let _ = worker.run_until(until).await;
                    }
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(5));
        });
        WorkerHandle { stop, thread }
    }

    /// Waits until `target` jobs ran, or `limit` passed; returns the time it took if complete.
    async fn wait_done(&self, target: u64, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut last = 0;
        let mut last_progress = Instant::now();
        loop {
            let done = self.seen.done.load(Ordering::SeqCst);
            if done >= target {
                return Some(started.elapsed());
            }
            if done != last {
                last = done;
                last_progress = Instant::now();
            }
            // A queue that made no progress for 40 s is stuck (apalis-redis' backlog limit).
            if started.elapsed() > limit || last_progress.elapsed() > Duration::from_secs(40) {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Queues `n` jobs, then starts a worker and times the drain.
    async fn drain(&mut self, subject: Subject, n: u64) -> anyhow::Result<Option<f64>> {
        let queue = format!("drain-{n}");
        self.enqueue_bulk(subject, &queue, n, 10_000).await?;
        self.seen.reset();
        let cpu = redis_cpu(&self.client).await?;
        let worker = self.worker(subject, &queue);
        let took = self.wait_done(n, Duration::from_secs(600)).await;
        let cpu_us = (redis_cpu(&self.client).await? - cpu) * 1e6 / n as f64;
        worker.stop().await;
        let done = self.seen.done.load(Ordering::SeqCst);
        let rate = took.map(|t| n as f64 / t.as_secs_f64());
        self.record(json!({
            "case": "drain", "subject": subject.name(), "queued": n, "completed": done,
            "jobs_per_s": rate.map(f64::round), "redis_cpu_us_per_job": (cpu_us * 10.0).round() / 10.0,
            "note": if took.is_none() { "did not complete: the queue stopped making progress" } else { "" },
        }));
        self.forget_keys(&queue)?;
        Ok(rate)
    }

    /// Schedules `n` jobs all due at once (1 s from now), then drains them: apalis-redis
    /// promotes every due job with one `unpack()` and stops past ~8,000.
    async fn due_backlog(&mut self, subject: Subject, n: u64) -> anyhow::Result<()> {
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
        let took = self.wait_done(n, Duration::from_secs(300)).await;
        worker.stop().await;
        let done = self.seen.done.load(Ordering::SeqCst);
        self.record(json!({
            "case": "due_backlog", "subject": subject.name(), "due_at_once": n, "completed": done,
            "jobs_per_s": took.map(|t| (n as f64 / t.as_secs_f64()).round()),
            "note": if took.is_none() { "did not complete: the queue stopped making progress" } else { "" },
        }));
        Ok(())
    }

    /// Pushes one job per millisecond for `seconds` while a worker runs; enqueue → start.
    async fn latency_at_rate(
        &mut self,
        subject: Subject,
        rate: u64,
        seconds: u64,
    ) -> anyhow::Result<()> {
        let queue = "latency".to_owned();
        self.seen.reset();
        let worker = self.worker(subject, &queue);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let producer = self.producer().await?;
        let mut storage = self.apalis_storage(&queue).await?;
        let options = PushOptions::default().in_queue(queue.clone());
        let total = rate * seconds;
        let started = Instant::now();
        for seq in 0..total {
            let due = started + Duration::from_secs_f64(seq as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
            match subject {
                Subject::Concierge => drop(
                    producer
                        .push_with(&Bench::job(seq), options.clone())
                        .await?,
                ),
                Subject::ApalisRedis => storage
                    .push(Bench::job(seq))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            }
        }
        let complete = self
            .wait_done(total, Duration::from_secs(60))
            .await
            .is_some();
        worker.stop().await;
        let (p50, p99, max) = self.seen.percentiles();
        self.record(json!({"case": "latency_at_rate", "subject": subject.name(), "rate": rate, "jobs": total, "complete": complete, "p50_ms": p50, "p99_ms": p99, "max_ms": max}));
        Ok(())
    }

    /// One job after `idle` of nothing, `samples` times; enqueue → start.
    async fn latency_after_idle(
        &mut self,
        subject: Subject,
        idle: Duration,
        samples: u64,
    ) -> anyhow::Result<()> {
        let queue = "idle".to_owned();
        self.seen.reset();
        let worker = self.worker(subject, &queue);
        let producer = self.producer().await?;
        let mut storage = self.apalis_storage(&queue).await?;
        let options = PushOptions::default().in_queue(queue.clone());
        let mut complete = true;
        for seq in 0..samples {
            tokio::time::sleep(idle).await;
            match subject {
                Subject::Concierge => drop(
                    producer
                        .push_with(&Bench::job(seq), options.clone())
                        .await?,
                ),
                Subject::ApalisRedis => storage
                    .push(Bench::job(seq))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            }
            complete &= self.wait_done(seq + 1, idle * 4).await.is_some();
        }
        worker.stop().await;
        let (p50, p99, max) = self.seen.percentiles();
        self.record(json!({"case": "latency_after_idle", "subject": subject.name(), "idle_s": idle.as_secs(), "samples": samples, "complete": complete, "p50_ms": p50, "p99_ms": p99, "max_ms": max}));
        Ok(())
    }

    fn concierge_binary(&self) -> PathBuf {
        match &self.args.concierge {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .map(|p| p.with_file_name("concierge"))
                .unwrap_or_else(|_| PathBuf::from("concierge")),
        }
    }

    /// Horizontal scaling: 1, 2 and 4 `concierge worker` processes serve one probe queue;
    /// `concierge probe` pushes N jobs in bulk, waits, and checks each ran exactly once.
    async fn scaling(&mut self) -> anyhow::Result<()> {
        let binary = self.concierge_binary();
        let n = if self.args.quick { 50_000 } else { 200_000 };
        let concurrency = self
            .args
            .concurrency_per_replica
            .unwrap_or(self.args.concurrency);
        for replicas in [1usize, 2, 4] {
            let prefix = format!("{}:scale{replicas}", self.prefix);
            let mut children = Vec::new();
            for _ in 0..replicas {
                let child = std::process::Command::new(&binary)
                    .arg("worker")
                    .env("REDIS_URL", &self.args.redis_url)
                    .env("REDIS_KEY_PREFIX", &prefix)
                    .env("WORKER_CONCURRENCY_PROBE", concurrency.to_string())
                    .env("WORKER_METRICS_PORT", "0")
                    .env("RUST_LOG", "warn")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
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
            let out = std::process::Command::new(&binary)
                .args(["probe", "--count", &n.to_string(), "--timeout", "600"])
                .env("REDIS_URL", &self.args.redis_url)
                .env("REDIS_KEY_PREFIX", &prefix)
                .env("RUST_LOG", "warn")
                .output()
                .context("cannot run concierge probe")?;
            for mut child in children {
                let _ = child.kill();
                let _ = child.wait();
            }
            let report: serde_json::Value = serde_json::from_slice(&out.stdout)
                .with_context(|| format!("probe said: {}", String::from_utf8_lossy(&out.stderr)))?;
            self.record(json!({
                "case": "scaling", "subject": "concierge", "replicas": replicas,
                "concurrency_per_replica": concurrency, "jobs": n,
                "jobs_per_s": report["jobs_per_s"], "completed": report["completed"],
                "duplicates": report["duplicates"], "lost": report["lost"],
                "p99_ms": report["p99_ms"],
            }));
            self.forget_keys_with_prefix(&prefix)?;
        }
        Ok(())
    }

    /// Issue 11's anonymous-cost case (see `login_storm`).
    async fn login_storm(&mut self) -> anyhow::Result<()> {
        let binary = self.concierge_binary();
        let prefix = format!("{}:storm", self.prefix);
        let storm = login_storm::Storm {
            binary: &binary,
            redis_url: &self.args.redis_url,
            database_url: &self.args.database_url,
            prefix: &prefix,
            requests: self.args.storm_requests,
            probe_jobs: if self.args.quick { 20_000 } else { 100_000 },
        };
        let result = storm.run().await;
        self.forget_keys_with_prefix(&prefix)?;
        self.record(result?);
        Ok(())
    }

    fn forget_keys_with_prefix(&self, prefix: &str) -> anyhow::Result<()> {
        let mut conn = self.client.get_connection()?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query(&mut conn)?;
        for chunk in keys.chunks(1000) {
            let _: () = redis::cmd("UNLINK").arg(chunk).query(&mut conn)?;
        }
        Ok(())
    }

    /// `concierge worker` as a process: RSS idle, and peak RSS while draining probe jobs.
    async fn worker_rss(&mut self) -> anyhow::Result<()> {
        let binary = match &self.args.concierge {
            Some(p) => p.clone(),
            None => std::env::current_exe()?.with_file_name("concierge"),
        };
        let prefix = format!("{}:proc", self.prefix);
        let mut child = std::process::Command::new(&binary)
            .arg("worker")
            .env("REDIS_URL", &self.args.redis_url)
            .env("REDIS_KEY_PREFIX", &prefix)
            .env(
                "WORKER_CONCURRENCY_PROBE",
                self.args.concurrency.to_string(),
            )
            .env("RUST_LOG", "warn")
            .env("WORKER_METRICS_PORT", "0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
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
        let n = if self.args.quick { 50_000 } else { 200_000 };
        let jobs: Vec<jobs::Probe> = (0..n)
            .map(|seq| jobs::Probe {
                run_id: "rss".into(),
                seq,
                enqueued_at_ms: now_ms(),
                work_ms: 0,
                padding: String::new(),
            })
            .collect();
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
        self.record(json!({"case": "worker_rss", "subject": "concierge", "idle_mib": mib(idle), "peak_under_load_mib": mib(peak), "jobs": n, "concurrency": self.args.concurrency}));
        Ok(())
    }

    /// The physical limit: `redis-benchmark` on the commands one job needs, and one Lua
    /// enqueue → claim → ack cycle.
    fn redis_benchmark(&mut self) -> anyhow::Result<()> {
        let port = self.client.get_connection_info().addr().to_string();
        let port = port.rsplit(':').next().unwrap_or("6379").to_owned();
        let n = if self.args.quick { "50000" } else { "200000" };
        let stream = format!("{}:rb:{{s}}", self.prefix);
        let _: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&stream)
            .arg("g")
            .arg("0")
            .arg("MKSTREAM")
            .query(&mut self.client.get_connection()?);
        let cycle = "redis.call('XADD', KEYS[1], '*', 'id', 'x') \
                     local r = redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 1, 'STREAMS', KEYS[1], '>') \
                     local id = r[1][2][1][1] redis.call('XACK', KEYS[1], 'g', id) redis.call('XDEL', KEYS[1], id) return 1";
        let cases: Vec<(&str, Vec<String>)> = vec![
            (
                "XADD",
                vec![
                    "XADD".into(),
                    stream.clone(),
                    "*".into(),
                    "id".into(),
                    "x".into(),
                ],
            ),
            (
                "HSET",
                vec![
                    "HSET".into(),
                    format!("{}:rb:{{s}}:h:__rand_int__", self.prefix),
                    "state".into(),
                    "done".into(),
                ],
            ),
            (
                "ZADD",
                vec![
                    "ZADD".into(),
                    format!("{}:rb:{{s}}:z", self.prefix),
                    "__rand_int__".into(),
                    "m__rand_int__".into(),
                ],
            ),
            (
                "EVAL enqueue+claim+ack",
                vec!["EVAL".into(), cycle.into(), "1".into(), stream.clone()],
            ),
        ];
        for (name, command) in cases {
            for pipeline in ["1", "32"] {
                let out = std::process::Command::new("redis-benchmark")
                    .args([
                        "-p", &port, "-n", n, "-c", "32", "-P", pipeline, "-r", "1000000", "--csv",
                    ])
                    .args(&command)
                    .output();
                let rps = match out {
                    Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .nth(1)
                        // The command (first column) may hold commas: count from the end.
                        .and_then(|l| l.rsplit(',').nth(6).map(|v| v.trim_matches('"').to_owned()))
                        .and_then(|v| v.parse::<f64>().ok()),
                    _ => None,
                };
                self.record(json!({"case": "redis_benchmark", "command": name, "pipeline": pipeline.parse::<u32>().unwrap_or(1), "ops_per_s": rps}));
            }
        }
        Ok(())
    }
}

impl Bench {
    /// Deletes every key of this run whose name contains `part`.
    fn forget_keys(&self, part: &str) -> anyhow::Result<()> {
        let mut conn = self.client.get_connection()?;
        let pattern = format!("{}*{part}*", self.prefix);
        let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(&mut conn)?;
        for chunk in keys.chunks(1000) {
            let _: () = redis::cmd("UNLINK").arg(chunk).query(&mut conn)?;
        }
        Ok(())
    }
}

struct WorkerHandle {
    stop: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

impl WorkerHandle {
    async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

async fn redis_cpu(client: &redis::Client) -> anyhow::Result<f64> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut conn).await?;
    let value = |key: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(value("used_cpu_user:") + value("used_cpu_sys:"))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
            })
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Warnings and errors of both backends (why a case stalls) go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let client = redis::Client::open(args.redis_url.as_str())?;
    let prefix = format!("bench:{}", std::process::id());
    let mut bench = Bench {
        client,
        prefix,
        seen: Arc::default(),
        results: Vec::new(),
        args,
    };
    let quick = bench.args.quick;
    let subjects: Vec<Subject> = if bench.args.skip_apalis_redis {
        vec![Subject::Concierge]
    } else if bench.args.only_apalis_redis {
        vec![Subject::ApalisRedis]
    } else {
        vec![Subject::Concierge, Subject::ApalisRedis]
    };
    // A case that fails is recorded, not fatal: apalis-redis cannot complete some of them.
    macro_rules! case {
        ($name:expr, $subject:expr, $run:expr) => {
            if let Err(e) = $run {
                bench.record(json!({"case": $name, "subject": $subject, "error": format!("{e:#}")}));
            }
        };
    }
    if bench.args.only_scaling {
        case!("scaling", "concierge", bench.scaling().await);
        return Ok(());
    }
    if bench.args.only_login_storm {
        case!("login_storm", "concierge", bench.login_storm().await);
        return Ok(());
    }
    case!("redis_benchmark", "redis", bench.redis_benchmark());
    for &subject in &subjects {
        let name = subject.name();
        let single = if quick { 20_000 } else { 100_000 };
        case!(
            "enqueue_single",
            name,
            bench.enqueue_single(subject, single, 32).await
        );
        case!(
            "enqueue_single",
            name,
            bench.enqueue_single(subject, single / 10, 1).await
        );
        let bulk = if quick { 100_000 } else { 1_000_000 };
        let queue = format!("bulk-{subject:?}");
        case!(
            "enqueue_bulk",
            name,
            bench.enqueue_bulk(subject, &queue, bulk, 10_000).await
        );
        // That backlog is never drained: remove it so the next cases meet a clean Redis.
        case!("cleanup", name, bench.forget_keys(&queue));
        case!("drain", name, bench.drain(subject, 1_000).await);
        case!(
            "drain",
            name,
            bench
                .drain(subject, if quick { 100_000 } else { 1_000_000 })
                .await
        );
        case!(
            "due_backlog",
            name,
            bench.due_backlog(subject, 20_000).await
        );
        case!(
            "latency_at_rate",
            name,
            bench
                .latency_at_rate(subject, 1_000, if quick { 3 } else { 10 })
                .await
        );
        case!(
            "latency_after_idle",
            name,
            bench
                .latency_after_idle(subject, Duration::from_secs(10), if quick { 2 } else { 5 })
                .await
        );
    }
    if !bench.args.only_apalis_redis {
        case!("worker_rss", "concierge", bench.worker_rss().await);
        case!("scaling", "concierge", bench.scaling().await);
        case!("login_storm", "concierge", bench.login_storm().await);
    }
    // Leave nothing behind.
    let mut conn = bench.client.get_connection()?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", bench.prefix))
        .query(&mut conn)?;
    for chunk in keys.chunks(1000) {
        let _: () = redis::cmd("UNLINK").arg(chunk).query(&mut conn)?;
    }
    Ok(())
}
