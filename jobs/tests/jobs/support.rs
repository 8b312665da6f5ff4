//! A test job whose behaviour the test chooses, workers in-process, and waiting for
//! conditions with a deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::{AbortError, BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use jobs::{Job, Lease, Producer, QueueConfig, RedisBackend, now_ms};
use serde::{Deserialize, Serialize};
use testkit::TestRedis;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Behaviour {
    Succeed,
    /// Fail this many attempts, then succeed.
    FailTimes(u32),
    Abort,
    /// Sleep this long on the first attempt (to trip the timeout), then succeed.
    HangFirst(u64),
    /// Work this long.
    Work(u64),
    /// A dependency is down for this many attempts ([`jobs::Unavailable`]), then succeed.
    UnavailableTimes(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestJob {
    pub n: u64,
    pub behaviour: Behaviour,
}

impl Job for TestJob {
    const QUEUE: &'static str = "conformance";
    const MAX_ATTEMPTS: u32 = 3;
}

/// What the handlers saw: runs per job and when each run started.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    inner: Arc<Mutex<HashMap<u64, Vec<u64>>>>,
}

impl Ledger {
    fn record(&self, n: u64) -> usize {
        let mut map = self.inner.lock().expect("ledger");
        let runs = map.entry(n).or_default();
        runs.push(now_ms());
        runs.len()
    }

    pub fn runs(&self, n: u64) -> usize {
        self.inner
            .lock()
            .expect("ledger")
            .get(&n)
            .map_or(0, Vec::len)
    }

    pub fn starts(&self, n: u64) -> Vec<u64> {
        self.inner
            .lock()
            .expect("ledger")
            .get(&n)
            .cloned()
            .unwrap_or_default()
    }

    /// (distinct jobs run, total runs)
    pub fn totals(&self) -> (usize, usize) {
        let map = self.inner.lock().expect("ledger");
        (map.len(), map.values().map(Vec::len).sum())
    }
}

async fn handle(
    job: TestJob,
    lease: Data<Lease>,
    ledger: Data<Ledger>,
) -> Result<u64, BoxDynError> {
    let run = ledger.record(job.n);
    match job.behaviour {
        Behaviour::Succeed => Ok(job.n * 2),
        Behaviour::FailTimes(k) if run as u32 <= k => {
            Err(format!("planned failure {run} of {k}").into())
        }
        Behaviour::FailTimes(_) => Ok(job.n * 2),
        Behaviour::Abort => {
            Err(AbortError::new(std::io::Error::other("this input can never work")).into())
        }
        Behaviour::HangFirst(ms) => {
            if lease.attempt == 1 {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Ok(job.n * 2)
        }
        Behaviour::Work(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(job.n * 2)
        }
        Behaviour::UnavailableTimes(k) if run as u32 <= k => Err(Box::new(jobs::Unavailable(
            format!("the database is down ({run} of {k})").into(),
        ))),
        Behaviour::UnavailableTimes(_) => Ok(job.n * 2),
    }
}

/// Fast timings, so retries and take-overs happen within a test's patience.
pub fn fast_config() -> QueueConfig {
    QueueConfig {
        lease: Duration::from_secs(2),
        heartbeat: Duration::from_millis(300),
        idle_wait: Duration::from_millis(100),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        // Most tests read a done job's status after it finished; `results.rs` tests the default.
        keep_results: true,
        ..QueueConfig::default()
    }
}

pub struct Env {
    pub redis: TestRedis,
    pub producer: Producer,
    pub ledger: Ledger,
}

impl Env {
    pub async fn new() -> Self {
        testkit::init_logging();
        let redis = TestRedis::new().await;
        let producer = Producer::connect(redis.client.clone(), &redis.prefix)
            .await
            .expect("producer");
        Env {
            redis,
            producer,
            ledger: Ledger::default(),
        }
    }

    /// Waits for the pushed job's final status; fails the test after `limit`.
    pub async fn finished(&self, pushed: &jobs::Pushed, limit: Duration) -> jobs::JobStatus {
        self.producer
            .wait(<TestJob as Job>::QUEUE, pushed.id(), limit)
            .await
            .expect("wait")
            .unwrap_or_else(|| panic!("job {} not finished within {limit:?}", pushed.id()))
    }

    /// Starts a worker of `TestJob` in this process (see [`Env::spawn_worker`]).
    pub fn worker(&self, config: QueueConfig, concurrency: usize, timeout: Duration) -> TestWorker {
        self.worker_of(TestJob::QUEUE, config, concurrency, timeout)
    }

    /// [`Env::worker`] on the queue named `queue` (a shard of the test queue, say).
    pub fn worker_of(
        &self,
        queue: &str,
        config: QueueConfig,
        concurrency: usize,
        timeout: Duration,
    ) -> TestWorker {
        let ledger = self.ledger.clone();
        let queue = queue.to_owned();
        self.spawn_worker(move |producer, stop| async move {
            let backend =
                RedisBackend::<TestJob>::with_queue(&producer, &queue, config, concurrency);
            let worker = WorkerBuilder::new(jobs::redis::worker_name("test").as_str())
                .backend(backend)
                .concurrency(concurrency)
                .timeout(timeout)
                .catch_panic()
                .data(ledger)
                .build(handle);
            let _ = worker
                .run_until(async move {
                    stop.cancelled().await;
                    Ok::<(), std::io::Error>(())
                })
                .await;
        })
    }

    /// Runs `serve` (a worker on the producer it is given, until the token is cancelled) on a
    /// thread and runtime of its own, with its own Redis connections, so that
    /// [`TestWorker::crash`] can kill it outright (apalis' worker future is not `Send` either).
    pub fn spawn_worker<F, Fut>(&self, serve: F) -> TestWorker
    where
        F: FnOnce(Producer, CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let stop = CancellationToken::new();
        let kill = CancellationToken::new();
        let (client, prefix) = (self.redis.client.clone(), self.redis.prefix.clone());
        let (stop_token, kill_token) = (stop.clone(), kill.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("worker runtime");
            runtime.block_on(async move {
                let producer = Producer::connect(client, &prefix).await.expect("producer");
                tokio::select! {
                    () = serve(producer, stop_token) => {}
                    () = kill_token.cancelled() => {}
                }
            });
            // A kill leaves the fetcher, the heartbeats and the running jobs where they stand.
            runtime.shutdown_background();
        });
        TestWorker { stop, kill, thread }
    }
}

pub struct TestWorker {
    stop: CancellationToken,
    kill: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

impl TestWorker {
    /// Graceful stop: waits until running jobs finished and unstarted ones were handed back.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }

    /// Like SIGKILL: the worker dies where it stands (no acks, nothing handed back, no more
    /// heartbeats).
    pub async fn crash(self) {
        self.kill.cancel();
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

/// Waits until `condition` holds, checking every 20 ms, failing after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
