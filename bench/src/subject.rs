//! The systems under test and their surroundings: our backend (`jobs`) and apalis-redis 1.0,
//! each run as an in-process worker on a thread and runtime of its own, and the `concierge`
//! binary as worker and probe processes; all on one Redis, under a key prefix of this run's
//! own that is deleted afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apalis::prelude::{BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use jobs::{Job, Producer, QueueConfig, RedisBackend};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::measure::{Seen, now_us};

/// What the cases take from the command line.
#[derive(Debug)]
pub struct Settings {
    /// The Redis every case measures against.
    pub redis_url: String,
    /// Smaller sizes, for a quick look.
    pub quick: bool,
    /// Jobs a worker runs at once.
    pub concurrency: usize,
    /// Jobs each worker process of the scaling case runs at once (default: `concurrency`).
    pub concurrency_per_replica: Option<usize>,
    /// The `concierge` binary for the worker-process cases (default: beside this binary).
    pub concierge: Option<PathBuf>,
    /// Requests of the login storm.
    pub storm_requests: usize,
    /// Postgres for the login storm's API.
    pub database_url: String,
    /// Where `bench.mjs` and its `node_modules` are (default: `bench/bullmq`).
    pub bullmq_dir: Option<PathBuf>,
}

/// One benchmark environment: a key prefix of its own on the shared Redis.
pub struct Bench {
    pub settings: Settings,
    /// The shared Redis: producers, the cleanup, `INFO`.
    pub client: redis::Client,
    /// Every key of this run starts with it (`bench:<pid>`).
    pub prefix: String,
    /// What the in-process workers' handlers saw, reset by each case.
    pub seen: Arc<Seen>,
    /// BullMQ's figures of this run, which the Concierge lines are reported against.
    pub baseline: std::sync::Mutex<std::collections::BTreeMap<&'static str, f64>>,
}

/// The no-op job both backends run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchJob {
    seq: u64,
    enqueued_at_us: u64,
}

impl Job for BenchJob {
    const QUEUE: &'static str = "bench";
}

async fn handler(job: BenchJob, seen: Data<Arc<Seen>>) -> Result<(), BoxDynError> {
    seen.ran(now_us().saturating_sub(job.enqueued_at_us));
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Concierge,
    ApalisRedis,
}

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Subject::Concierge => "concierge",
            Subject::ApalisRedis => "apalis-redis-1.0",
        }
    }
}

impl Bench {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.redis_url.as_str())?;
        Ok(Self {
            settings,
            client,
            prefix: format!("bench:{}", std::process::id()),
            seen: Arc::default(),
            baseline: Default::default(),
        })
    }

    pub async fn producer(&self) -> anyhow::Result<Producer> {
        Ok(Producer::connect(self.client.clone(), &self.prefix).await?)
    }

    fn apalis_config(&self, queue: &str) -> apalis_redis::Config {
        apalis_redis::Config::default().queue(format!("{}:apalis:{queue}", self.prefix))
    }

    pub async fn apalis_storage(
        &self,
        queue: &str,
    ) -> anyhow::Result<apalis_redis::RedisStorage<BenchJob>> {
        let conn = apalis_redis::connect(self.settings.redis_url.as_str()).await?;
        Ok(apalis_redis::RedisStorage::new(conn).with_config(self.apalis_config(queue)))
    }

    /// Probe jobs `seqs` of run `run_id`, stamped now, with no work and no padding.
    pub fn probes(run_id: &str, seqs: std::ops::Range<u64>) -> Vec<jobs::Probe> {
        seqs.map(|seq| jobs::Probe {
            run_id: run_id.to_owned(),
            seq,
            enqueued_at_ms: jobs::now_ms(),
            work_ms: 0,
            padding: String::new(),
        })
        .collect()
    }

    pub fn job(seq: u64) -> BenchJob {
        BenchJob {
            seq,
            enqueued_at_us: now_us(),
        }
    }

    /// Starts a worker of `subject` on `queue` on a thread and runtime of its own.
    pub fn worker(&self, subject: Subject, queue: &str) -> WorkerHandle {
        let stop = CancellationToken::new();
        let (token, seen, queue) = (stop.clone(), self.seen.clone(), queue.to_owned());
        let (client, prefix, url, concurrency) = (
            self.client.clone(),
            self.prefix.clone(),
            self.settings.redis_url.clone(),
            self.settings.concurrency,
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

    /// The `concierge` binary: `--concierge`, or the one beside this binary.
    pub fn concierge_binary(&self) -> PathBuf {
        match &self.settings.concierge {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .map(|p| p.with_file_name("concierge"))
                .unwrap_or_else(|_| PathBuf::from("concierge")),
        }
    }

    /// Deletes every key of this run whose name contains `part`.
    pub fn forget_keys(&self, part: &str) -> anyhow::Result<()> {
        self.unlink_matching(&format!("{}*{part}*", self.prefix))
    }

    /// Deletes every key that starts with `prefix`.
    pub fn forget_keys_with_prefix(&self, prefix: &str) -> anyhow::Result<()> {
        self.unlink_matching(&format!("{prefix}*"))
    }

    /// Deletes every key of this run.
    pub fn forget_all(&self) -> anyhow::Result<()> {
        self.forget_keys_with_prefix(&self.prefix)
    }

    fn unlink_matching(&self, pattern: &str) -> anyhow::Result<()> {
        let mut conn = self.client.get_connection()?;
        let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(&mut conn)?;
        for chunk in keys.chunks(1000) {
            let _: () = redis::cmd("UNLINK").arg(chunk).query(&mut conn)?;
        }
        Ok(())
    }
}

/// An in-process worker on its own thread, stopped by [`WorkerHandle::stop`].
pub struct WorkerHandle {
    /// Ends the worker's `run_until`.
    stop: CancellationToken,
    /// Joined once the worker has stopped and its runtime shut down.
    thread: std::thread::JoinHandle<()>,
}

impl WorkerHandle {
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

/// `concierge worker` serving the catalogue's queues and the probe queue under `prefix`,
/// `concurrency` probe jobs at once (`None`: its default), quiet and without a metrics port;
/// the caller spawns it.
pub fn worker_process(
    binary: &Path,
    redis_url: &str,
    prefix: &str,
    concurrency: Option<usize>,
) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("worker")
        .env("REDIS_URL", redis_url)
        .env("REDIS_KEY_PREFIX", prefix)
        .env("WORKER_METRICS_PORT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(concurrency) = concurrency {
        cmd.env("WORKER_CONCURRENCY_PROBE", concurrency.to_string());
    }
    cmd
}

/// Runs `concierge probe --count <count> --timeout <timeout_s>` on the queue under `prefix`
/// (the workers already serving it) and returns its JSON report.
pub fn probe(
    binary: &Path,
    redis_url: &str,
    prefix: &str,
    count: u64,
    timeout_s: u64,
) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(binary)
        .args([
            "probe",
            "--count",
            &count.to_string(),
            "--timeout",
            &timeout_s.to_string(),
        ])
        .env("REDIS_URL", redis_url)
        .env("REDIS_KEY_PREFIX", prefix)
        .env("RUST_LOG", "warn")
        .output()
        .context("cannot run concierge probe")?;
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("probe said: {}", String::from_utf8_lossy(&out.stderr)))
}
