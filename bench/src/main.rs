//! The queue benchmark: our Redis Streams backend (`jobs`) and apalis-redis 1.0 measured in one
//! invocation on the same Redis, plus `redis-benchmark` figures for the Redis operations one job
//! needs (the physical limit). Prints one JSON object per case; `bench/README.md` records a run
//! with the machine, commit and settings.
//!
//! Run: `cargo run --release -p bench -- [--quick]` (Redis on 127.0.0.1:6379; the release
//! `concierge` binary beside this one for the worker-process cases).
//!
//! # Layout
//! - this file: the command line, and which cases run in which order
//! - `subject`: the systems under test: the in-process workers of both backends, the
//!   `concierge` worker and probe processes, the run's Redis keys
//! - `measure`: what the handlers saw, percentiles, Redis CPU, process memory, the JSON report
//! - `cases`: one file per benchmark case (see its documentation for the list)

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde_json::json;

use crate::measure::report;
use crate::subject::{Bench, Settings, Subject};

mod cases;
mod measure;
mod subject;

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
    let bench = Bench::new(Settings {
        redis_url: args.redis_url,
        quick: args.quick,
        concurrency: args.concurrency,
        concurrency_per_replica: args.concurrency_per_replica,
        concierge: args.concierge,
        storm_requests: args.storm_requests,
        database_url: args.database_url,
    })?;
    let quick = args.quick;
    let subjects: Vec<Subject> = if args.skip_apalis_redis {
        vec![Subject::Concierge]
    } else if args.only_apalis_redis {
        vec![Subject::ApalisRedis]
    } else {
        vec![Subject::Concierge, Subject::ApalisRedis]
    };
    // A case that fails is recorded, not fatal: apalis-redis cannot complete some of them.
    macro_rules! case {
        ($name:expr, $subject:expr, $run:expr) => {
            if let Err(e) = $run {
                report(json!({"case": $name, "subject": $subject, "error": format!("{e:#}")}));
            }
        };
    }
    if args.only_scaling {
        case!("scaling", "concierge", bench.scaling().await);
        return Ok(());
    }
    if args.only_login_storm {
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
    if !args.only_apalis_redis {
        case!("worker_rss", "concierge", bench.worker_rss().await);
        case!("scaling", "concierge", bench.scaling().await);
        case!("login_storm", "concierge", bench.login_storm().await);
    }
    // Leave nothing behind.
    bench.forget_all()
}
