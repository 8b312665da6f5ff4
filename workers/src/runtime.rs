//! The worker process: one apalis worker per queue in a `Monitor`. SIGTERM/SIGINT (the
//! `shutdown` token) stops fetching; running jobs get the grace period to finish; jobs still
//! running after it are handed back to the queue at once (not left to their lease).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::{Monitor, WorkerBuilder, WorkerBuilderExt};
use apalis_core::backend::queue::Queue;
use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use jobs::{Job, Lease, Probe, Producer, QueueConfig, RedisBackend};
use poem::EndpointExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// What handlers may use. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Deps {
    pub producer: Producer,
    /// Opens connections on first use: workers of queues that need no database never touch it.
    pub db: store::Pool,
    pub email: crate::send_email::EmailSettings,
    pub oauth: crate::providers::oauth::Oauth,
    /// Discord REST; `None` without a bot token (Discord jobs then fail for good, saying so).
    pub discord: Option<crate::providers::discord::Discord>,
    pub ai: crate::providers::ai::Ai,
    pub gate: crate::guild::GateSettings,
    /// Seals provider tokens at rest and opens those sealed into payloads by the API.
    pub sealer: store::secret::Sealer,
}

/// How this process works its queues.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Queue tuning shared by every queue.
    pub queue: QueueConfig,
    /// Jobs run at once per queue; queues not listed use `default_concurrency`.
    pub concurrency: HashMap<String, usize>,
    pub default_concurrency: usize,
    /// Queues holding probe jobs (the `probe` queue, and any a benchmark uses).
    pub probe_queues: Vec<String>,
    /// On shutdown, how long running jobs may take to finish.
    pub grace: Duration,
    /// How often the sweep fires (once across replicas).
    pub sweep_every: Duration,
    /// Serve Prometheus `/metrics` (and `/health`) here; `None`: not at all (e.g. `concierge
    /// all`, where the API serves the same registry).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            queue: QueueConfig::default(),
            concurrency: HashMap::new(),
            default_concurrency: 64,
            probe_queues: vec![Probe::QUEUE.to_owned()],
            grace: Duration::from_secs(30),
            sweep_every: Duration::from_secs(300),
            metrics_addr: None,
        }
    }
}

impl WorkerSettings {
    fn concurrency_of(&self, queue: &str) -> usize {
        self.concurrency
            .get(queue)
            .copied()
            .unwrap_or(self.default_concurrency)
            .max(1)
    }
}

/// A job this process runs. Every job of the catalogue implements it in its handler file
/// (`workers/src/<queue>.rs`, naming its `handle`), and the runtime serves the catalogue's
/// one list (`jobs::for_each_job!`) through it: a job without a handler does not compile.
pub trait Handles: Job {
    /// What a successful attempt returns (stored with the job as JSON).
    type Outcome: Serialize + Send + Sync + 'static;

    /// Runs one attempt of the job.
    const HANDLER: Handler<Self>;

    /// The queues the job is served on: its own, unless the settings say otherwise.
    fn queues(_settings: &WorkerSettings) -> Vec<String> {
        vec![Self::QUEUE.to_owned()]
    }
}

/// A job's handler, given what apalis extracts from the task: its lease, the queue it was
/// taken from, and the handlers' dependencies.
pub type Handler<J> =
    fn(
        J,
        Data<Lease>,
        Queue,
        Data<Deps>,
    ) -> Pin<Box<dyn Future<Output = Result<<J as Handles>::Outcome, BoxDynError>> + Send>>;

/// The apalis handler of every job: apalis extracts the arguments, the job's own runs. An
/// attempt that failed because Postgres could not be reached is [`jobs::Unavailable`]: it
/// runs again without counting, so an outage kills no job.
async fn handle<J: Handles>(
    job: J,
    lease: Data<Lease>,
    queue: Queue,
    deps: Data<Deps>,
) -> Result<J::Outcome, BoxDynError> {
    (J::HANDLER)(job, lease, queue, deps)
        .await
        .map_err(|e| match database_down(e.as_ref()) {
            true => Box::new(jobs::Unavailable(e)) as BoxDynError,
            false => e,
        })
}

/// Whether the error (or one it was caused by) says Postgres cannot be reached.
fn database_down(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source()).any(|e| {
        e.downcast_ref::<store::StoreError>()
            .is_some_and(store::is_unavailable)
    })
}

/// Runs the workers until `shutdown` is cancelled, then drains them.
pub async fn run(
    deps: Deps,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // The consumer names this process used, to hand back what a cut-off shutdown leaves held.
    let consumers: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut monitor = Monitor::new().shutdown_timeout(settings.grace);
    // One apalis worker per queue of every job of the catalogue (`jobs::for_each_job!`); each
    // (re)start gets a fresh unique name, remembered for the hand-back after a cut-off shutdown.
    macro_rules! serve {
        ($($job:ty),* $(,)?) => {$(
            for logical in <$job as Handles>::queues(&settings) {
              // Every shard of the queue (configured here or registered by a process
              // configured with more), each a queue with a worker of its own; the queue's
              // concurrency is split between them.
              let shards = deps.producer.shard_queues(&logical).await?;
              let configured = deps.producer.shards(&logical);
              for (index, queue) in shards.iter().cloned().enumerate() {
                // The configured shards split the queue's concurrency; shards left by a
                // larger N only drain, at a quarter of that.
                let share = settings.concurrency_of(&logical).div_ceil(configured);
                let concurrency = if index < configured { share } else { share.div_ceil(4) };
                let backend = RedisBackend::<$job>::with_queue(
                    &deps.producer,
                    &queue,
                    settings.queue.clone(),
                    concurrency,
                );
                let deps = deps.clone();
                let consumers = consumers.clone();
                tracing::info!(queue = %queue, concurrency, "serving queue");
                monitor = monitor.register(move |_restarts| {
                    let name = jobs::redis::worker_name(&queue);
                    if let Ok(mut names) = consumers.lock() {
                        names.push((queue.clone(), name.clone()));
                    }
                    WorkerBuilder::new(name.as_str())
                        .backend(backend.clone())
                        .concurrency(concurrency)
                        .timeout(<$job as Job>::TIMEOUT)
                        .catch_panic()
                        .data(deps.clone())
                        .build(handle::<$job>)
                });
              }
            }
        )*};
    }
    jobs::for_each_job!(serve);
    if let Some(addr) = settings.metrics_addr {
        serve_metrics(addr, deps.producer.clone(), shutdown.clone()).await?;
    }
    let schedule = tokio::spawn(crate::cron::run_schedule(
        deps.producer.clone(),
        settings.sweep_every,
        shutdown.clone(),
    ));
    let signal = async move {
        shutdown.cancelled().await;
        tracing::info!("stopping: no new jobs; running ones may finish");
        Ok(())
    };
    monitor.run_with_signal(signal).await?;
    let _ = schedule.await;
    let names = consumers.lock().map(|n| n.clone()).unwrap_or_default();
    for (queue, consumer) in names {
        match jobs::redis::release_held(&deps.producer, &queue, &consumer).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(queue = %queue, handed_back = n, "jobs cut off by the grace period go back to the queue")
            }
            Err(e) => {
                tracing::warn!(queue = %queue, error = %e, "cannot hand back held jobs; they return when their lease expires")
            }
        }
    }
    tracing::info!("workers stopped");
    Ok(())
}

/// `GET /metrics` (Prometheus) and `GET /health` (liveness) of a worker process.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    producer: Producer,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use poem::listener::Listener;
    #[poem::handler]
    async fn metrics(producer: poem::web::Data<&Producer>) -> poem::Response {
        poem::Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(jobs::metrics::render(Some(&producer)).await)
    }
    #[poem::handler]
    fn health() -> &'static str {
        "ok"
    }
    let app = poem::Route::new()
        .at("/metrics", poem::get(metrics))
        .at("/health", poem::get(health))
        .data(producer);
    let acceptor = poem::listener::TcpListener::bind(addr)
        .into_acceptor()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot serve worker metrics on {addr} (WORKER_METRICS_PORT): {e}")
        })?;
    tracing::info!(address = %addr, "worker metrics at /metrics");
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, async move { shutdown.cancelled().await }, None)
            .await;
    });
    Ok(())
}
