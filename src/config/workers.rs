//! The `workers` section: how many jobs a worker process runs at once (per queue), which
//! probe queues it serves, how long a job's lease lasts and its results and dead letters stay,
//! how often the housekeeping sweep runs, and where the worker's metrics are served. It
//! converts into the worker runtime's [`WorkerSettings`].

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use workers::WorkerSettings;

use super::error::{ConfigError, invalid};
use super::resolve::Resolver;
use super::server::ServerConfig;

/// The job workers (`concierge worker`, and the workers inside `concierge all`).
#[derive(Debug, Clone)]
pub struct WorkersConfig {
    /// Jobs a worker process runs at once per queue. `WORKER_CONCURRENCY`,
    /// `workers.concurrency`; default 64, chosen by measuring `concierge worker` draining no-op
    /// jobs at 16, 64 and 256 (`bench/README.md`, issue 14): 16 ran at half of 64's rate in
    /// both runs, 256 at 0.54× in one and 1.11× in the other, with more memory (19.4 MiB).
    pub concurrency: usize,
    /// Per-queue overrides: `WORKER_CONCURRENCY_<QUEUE>` (e.g. `WORKER_CONCURRENCY_PROBE=64`),
    /// `workers.queue_concurrency: {probe: 64}`.
    pub queue_concurrency: HashMap<String, usize>,
    /// Queues of probe jobs this process serves. `PROBE_QUEUES` (comma-separated),
    /// `workers.probe_queues`; default `probe`.
    pub probe_queues: Vec<String>,
    /// A job's lease: a worker that stops heartbeating loses its jobs to others this long
    /// after its last heartbeat. `JOB_LEASE_SECONDS`, `workers.lease_seconds`; default 6.
    pub lease: Duration,
    /// How long a kept result (and the done index's entries) stays in Redis.
    /// `JOB_RESULT_TTL_SECONDS`, `workers.result_ttl_seconds`; default 3600.
    pub result_ttl: Duration,
    /// Keep every done job's state and result for `result_ttl`, not only those someone waits
    /// for (`exchange_oauth_code`). `JOB_KEEP_RESULTS`, `workers.keep_results`; default
    /// false: a done job's hash is deleted as it is recorded, and only its id stays in the done
    /// index (the newest 10,000 per queue), so Redis holds nothing per finished job at full
    /// speed. On, each done job holds about 1 KB for the TTL.
    pub keep_results: bool,
    /// How long dead jobs stay in the dead-letter set. `JOB_DEAD_TTL_DAYS`,
    /// `workers.dead_ttl_days`; default 7.
    pub dead_ttl: Duration,
    /// How often the housekeeping `sweep` job fires (once across all replicas).
    /// `SWEEP_INTERVAL_SECONDS`, `workers.sweep_interval_seconds`; default 300.
    pub sweep_every: Duration,
    /// Where `concierge worker` serves Prometheus `/metrics` and `/health` (on HOST).
    /// `WORKER_METRICS_PORT`, `workers.metrics_port`; default 9464; 0 turns it off. In
    /// `concierge all` the API's `/metrics` shows the workers' metrics instead.
    pub metrics_port: u16,
}

/// The YAML section `workers`, every key optional; each key is described on the
/// [`WorkersConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWorkers {
    concurrency: Option<usize>,
    #[serde(default)]
    queue_concurrency: HashMap<String, usize>,
    probe_queues: Option<Vec<String>>,
    lease_seconds: Option<u64>,
    result_ttl_seconds: Option<u64>,
    keep_results: Option<bool>,
    dead_ttl_days: Option<u64>,
    sweep_interval_seconds: Option<u64>,
    metrics_port: Option<u16>,
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileWorkers) -> Result<WorkersConfig, ConfigError> {
    let concurrency = r.at_least_one(
        "WORKER_CONCURRENCY",
        "workers.concurrency",
        f.concurrency,
        64,
    )?;
    let mut queue_concurrency = f.queue_concurrency;
    for (name, value) in r.env.iter() {
        if let Some(queue) = name.strip_prefix("WORKER_CONCURRENCY_") {
            let n: usize = value
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    invalid(
                        name,
                        format!("expected a whole number of at least 1, got {value:?}"),
                    )
                })?;
            queue_concurrency.insert(queue.to_ascii_lowercase(), n);
        }
    }
    let probe_queues = r
        .list("PROBE_QUEUES", f.probe_queues)
        .unwrap_or_else(|| vec!["probe".to_owned()]);
    if let Some(bad) = probe_queues.iter().find(|q| {
        q.is_empty()
            || !q
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(invalid(
            "PROBE_QUEUES (workers.probe_queues)",
            format!("queue names are letters, digits, '_' and '-'; got {bad:?}"),
        ));
    }
    let lease = r.within(
        "JOB_LEASE_SECONDS",
        "workers.lease_seconds",
        f.lease_seconds,
        6,
        2..=3600,
    )?;
    let result_ttl = r
        .parse(
            "JOB_RESULT_TTL_SECONDS",
            "workers.result_ttl_seconds",
            f.result_ttl_seconds,
        )?
        .unwrap_or(3600);
    let keep_results = r
        .bool("JOB_KEEP_RESULTS", "workers.keep_results", f.keep_results)?
        .unwrap_or(false);
    let dead_ttl = r
        .parse(
            "JOB_DEAD_TTL_DAYS",
            "workers.dead_ttl_days",
            f.dead_ttl_days,
        )?
        .unwrap_or(7);
    let sweep = r.at_least_one(
        "SWEEP_INTERVAL_SECONDS",
        "workers.sweep_interval_seconds",
        f.sweep_interval_seconds,
        300,
    )?;
    if result_ttl == 0 || dead_ttl == 0 {
        return Err(invalid(
            "JOB_RESULT_TTL_SECONDS / JOB_DEAD_TTL_DAYS",
            "must be at least 1",
        ));
    }
    Ok(WorkersConfig {
        concurrency,
        queue_concurrency,
        probe_queues,
        lease: Duration::from_secs(lease),
        result_ttl: Duration::from_secs(result_ttl),
        keep_results,
        dead_ttl: Duration::from_secs(dead_ttl * 86_400),
        sweep_every: Duration::from_secs(sweep),
        metrics_port: r
            .parse(
                "WORKER_METRICS_PORT",
                "workers.metrics_port",
                f.metrics_port,
            )?
            .unwrap_or(9464),
    })
}

impl WorkersConfig {
    /// The worker runtime's settings: this section, the server's grace period and address,
    /// and `serve_metrics` (only `concierge worker` serves its own `/metrics`).
    pub fn settings(&self, server: &ServerConfig, serve_metrics: bool) -> WorkerSettings {
        WorkerSettings {
            queue: jobs::QueueConfig {
                lease: self.lease,
                heartbeat: (self.lease / 6).max(Duration::from_millis(200)),
                result_ttl: self.result_ttl,
                keep_results: self.keep_results,
                dead_ttl: self.dead_ttl,
                ..jobs::QueueConfig::default()
            },
            concurrency: self.queue_concurrency.clone(),
            default_concurrency: self.concurrency,
            probe_queues: self.probe_queues.clone(),
            grace: server.shutdown_grace,
            sweep_every: self.sweep_every,
            metrics_addr: (serve_metrics && self.metrics_port != 0)
                .then(|| std::net::SocketAddr::new(server.host, self.metrics_port)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::testing::{error, section};

    #[test]
    fn concurrency_and_kept_results_default_as_documented_and_are_read() {
        let c = section(&[], "", resolve).expect("defaults");
        assert_eq!(c.concurrency, 64);
        assert!(!c.keep_results, "done jobs keep nothing by default");
        let server = section(&[], "", crate::config::server::resolve).expect("server");
        assert!(!c.settings(&server, false).queue.keep_results);
        let c = section(&[("JOB_KEEP_RESULTS", "true")], "", resolve).expect("env");
        assert!(c.keep_results);
        assert!(
            c.settings(&server, false).queue.keep_results,
            "reaches the queues"
        );
        let c = section(&[], "keep_results: true\nconcurrency: 8", resolve).expect("yaml");
        assert!(c.keep_results);
        assert_eq!(c.concurrency, 8);
        let e = error(&[("JOB_KEEP_RESULTS", "sometimes")], resolve);
        assert!(e.starts_with("invalid setting JOB_KEEP_RESULTS"), "{e}");
    }
}
