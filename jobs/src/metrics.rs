//! Prometheus metrics of every process: HTTP requests (API), jobs (workers), provider calls,
//! and the queues themselves, read from Redis when scraped. One registry per process
//! ([`global`]); [`render`] produces the text exposition format for `GET /metrics`.
//!
//! Names (all prefixed `concierge_`):
//! - `http_requests_total{method,route,status}`, `http_request_duration_seconds{method,route}`
//! - `job_start_latency_seconds{queue}`: enqueue → first claim (a delayed job counts its delay)
//! - `job_run_seconds{queue}`: claim → outcome
//! - `job_outcomes_total{queue,outcome,attempt}`: outcome `done|retry|failed|dead`
//! - `worker_heartbeat_timestamp_seconds{queue}`: the last heartbeat of this process
//! - `provider_calls_total{provider,outcome}`: `smtp|discord|chat|image|speech|oauth`,
//!   outcome `ok|transient|permanent`
//! - `queue_jobs{queue,state}`: `waiting|running|scheduled|retrying|dead`, read at scrape time
//! - `queue_oldest_age_seconds{queue}`: age of the oldest job not yet finished (approximate:
//!   acknowledged entries are trimmed per settle batch)

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::redis::Producer;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub queue: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub queue: String,
    pub outcome: String,
    pub attempt: u32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueStateLabels {
    pub queue: String,
    pub state: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds, from 1 ms to about a minute.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The metrics of this process.
#[derive(Debug)]
pub struct Metrics {
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Histograms<RouteLabels>,
    pub job_start_latency: Histograms<QueueLabels>,
    pub job_run_time: Histograms<QueueLabels>,
    pub job_outcomes: Family<OutcomeLabels, Counter>,
    pub heartbeats: Family<QueueLabels, Gauge>,
    pub provider_calls: Family<ProviderLabels, Counter>,
    pub queue_jobs: Family<QueueStateLabels, Gauge>,
    pub queue_oldest_age: Family<QueueLabels, Gauge>,
    /// Requests of this process waiting for a job's result (all on one Redis subscription).
    pub job_waiters: Gauge,
    registry: Registry,
}

impl Metrics {
    fn new() -> Self {
        let http_requests = Family::default();
        let http_duration = Histograms::new_with_constructor(latency_histogram as fn() -> _);
        let job_start_latency = Histograms::new_with_constructor(latency_histogram as fn() -> _);
        let job_run_time = Histograms::new_with_constructor(latency_histogram as fn() -> _);
        let job_outcomes = Family::default();
        let heartbeats = Family::default();
        let provider_calls = Family::default();
        let queue_jobs = Family::default();
        let queue_oldest_age = Family::default();
        let job_waiters = Gauge::default();
        let mut registry = Registry::with_prefix("concierge");
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            http_duration.clone(),
        );
        registry.register(
            "job_start_latency_seconds",
            "From a job's enqueue to its first claim (delayed jobs count their delay)",
            job_start_latency.clone(),
        );
        registry.register(
            "job_run_seconds",
            "From a job's claim to its outcome",
            job_run_time.clone(),
        );
        registry.register("job_outcomes", "Attempts by outcome", job_outcomes.clone());
        registry.register(
            "worker_heartbeat_timestamp_seconds",
            "UNIX time of this process's last heartbeat per queue",
            heartbeats.clone(),
        );
        registry.register(
            "provider_calls",
            "Calls to outside services by outcome",
            provider_calls.clone(),
        );
        registry.register("queue_jobs", "Jobs per queue and state", queue_jobs.clone());
        registry.register(
            "queue_oldest_age_seconds",
            "Age of the oldest unfinished job of a queue",
            queue_oldest_age.clone(),
        );
        registry.register(
            "job_waiters",
            "Requests of this process waiting for a job's result",
            job_waiters.clone(),
        );
        Self {
            http_requests,
            http_duration,
            job_start_latency,
            job_run_time,
            job_outcomes,
            heartbeats,
            provider_calls,
            queue_jobs,
            queue_oldest_age,
            job_waiters,
            registry,
        }
    }
}

/// This process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Counts one call to an outside service.
pub fn provider_call(provider: &str, outcome: &str) {
    global()
        .provider_calls
        .get_or_create(&ProviderLabels {
            provider: provider.to_owned(),
            outcome: outcome.to_owned(),
        })
        .inc();
}

/// Reads the queues' sizes from Redis (when a producer is given), then renders every metric
/// in Prometheus' text format. A queue that cannot be read keeps its last values.
pub async fn render(producer: Option<&Producer>) -> String {
    let metrics = global();
    if let Some(producer) = producer {
        metrics.job_waiters.set(producer.waiting() as i64);
        for queue in crate::catalog::QUEUES {
            if let Ok(depth) = producer.depth(queue).await {
                let set = |state: &str, value: u64| {
                    metrics
                        .queue_jobs
                        .get_or_create(&QueueStateLabels {
                            queue: (*queue).to_owned(),
                            state: state.to_owned(),
                        })
                        .set(value as i64);
                };
                set("waiting", depth.waiting);
                set("running", depth.running);
                set("scheduled", depth.delayed - depth.retrying);
                set("retrying", depth.retrying);
                set("dead", depth.dead);
            }
            if let Ok(age) = producer.oldest_age_ms(queue).await {
                metrics
                    .queue_oldest_age
                    .get_or_create(&QueueLabels {
                        queue: (*queue).to_owned(),
                    })
                    .set((age / 1000) as i64);
            }
        }
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &metrics.registry);
    out
}
