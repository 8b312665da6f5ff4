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

mod bullmq;
mod cases;
mod measure;
mod pin;
mod subject;

/// Runs one case: its value, or `None` with the error recorded as the case's line. A case
/// that fails is recorded, not fatal: apalis-redis cannot complete some of them.
macro_rules! case {
    ($name:expr, $subject:expr, $run:expr) => {
        match $run {
            Ok(v) => Some(v),
            Err(e) => {
                report(json!({"case": $name, "subject": $subject, "error": format!("{e:#}")}));
                None
            }
        }
    };
}

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
    /// Run only the cluster cases: a sharded probe queue on a loopback Redis Cluster of 1, 2
    /// and 3 masters (ports 7301 and up, `scripts/redis-cluster`), and `WAIT`'s cost.
    #[arg(long)]
    only_cluster: bool,
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
    /// Do not pin Redis to CPU 0 and the bench (and what it starts) to CPU 1.
    #[arg(long)]
    no_pin: bool,
    /// Skip the BullMQ baseline (then no line carries a ratio).
    #[arg(long)]
    skip_bullmq: bool,
    /// Where `bench.mjs` is (default: this crate's `bullmq/`).
    #[arg(long)]
    bullmq_dir: Option<PathBuf>,
    /// Run only the BullMQ comparison: BullMQ, then `concierge worker` and the in-process
    /// worker's drain, enqueue, latency and memory cases against it.
    #[arg(long)]
    only_bullmq_comparison: bool,
    /// Run only the push cases: BullMQ's `add` and `addBulk`, then ours from 32 callers,
    /// 1 caller, enqueue → start at 1,000 and 10,000 jobs/s, and in bulk (for working on the
    /// push path).
    #[arg(long)]
    only_push: bool,
    /// Run only the onboarding case: `POST /api/user/onboarding` from 64 clients against
    /// `concierge api`, beside `pgbench` inserting single rows into the same Postgres.
    #[arg(long)]
    only_onboarding: bool,
    /// How long each side of the onboarding case runs (default 30 s; 10 s with --quick).
    #[arg(long)]
    onboarding_seconds: Option<u64>,
    /// How long the memory soak runs at full speed (default 600 s; 60 s with --quick).
    #[arg(long)]
    soak_seconds: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Warnings and errors of both backends (why a case stalls) go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let bench = Bench::new(Settings {
        redis_url: args.redis_url.clone(),
        quick: args.quick,
        concurrency: args.concurrency,
        concurrency_per_replica: args.concurrency_per_replica,
        concierge: args.concierge.clone(),
        storm_requests: args.storm_requests,
        database_url: args.database_url.clone(),
        bullmq_dir: args.bullmq_dir.clone(),
    })?;
    // Pinned before the runtime starts, so the runtime sizes itself to the one CPU it has, as
    // any process started under `taskset -c 1` would (tokio counts the CPUs it may run on);
    // pinned after, its two threads would share that CPU. Restores Redis's CPU mask when the
    // run ends, however it ends.
    let _pinned = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(pin::pin(&bench.client, !args.no_pin))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args, bench))
}

async fn run(args: Args, bench: Bench) -> anyhow::Result<()> {
    let quick = args.quick;
    let subjects: Vec<Subject> = if args.skip_apalis_redis {
        vec![Subject::Concierge]
    } else if args.only_apalis_redis {
        vec![Subject::ApalisRedis]
    } else {
        vec![Subject::Concierge, Subject::ApalisRedis]
    };
    if args.only_scaling {
        case!("scaling", "concierge", bench.scaling().await);
        return Ok(());
    }
    if args.only_cluster {
        case!("cluster", "concierge", bench.cluster().await);
        return Ok(());
    }
    if args.only_login_storm {
        case!("login_storm", "concierge", bench.login_storm().await);
        return Ok(());
    }
    let onboarding_seconds = args
        .onboarding_seconds
        .unwrap_or(if quick { 10 } else { 30 });
    if args.only_onboarding {
        case!(
            "onboarding",
            "concierge",
            bench.onboarding(64, onboarding_seconds).await
        );
        return bench.forget_all();
    }
    if args.only_push {
        let (single, bulk) = if quick {
            (20_000, 100_000)
        } else {
            (100_000, 1_000_000)
        };
        if !args.skip_bullmq && case!("install", "bullmq", bench.bullmq_install().await).is_some() {
            case!(
                "enqueue",
                "bullmq",
                bench.bullmq_enqueue(single, bulk).await
            );
        }
        let concierge = Subject::Concierge;
        case!(
            "enqueue_single",
            "concierge",
            bench.enqueue_single(concierge, single, 32).await
        );
        if !args.skip_bullmq {
            case!(
                "enqueue_alternating",
                "concierge",
                bench.enqueue_alternating(single, 3).await
            );
        }
        case!(
            "enqueue_single",
            "concierge",
            bench.enqueue_single(concierge, single / 10, 1).await
        );
        for rate in [1_000, 10_000] {
            case!(
                "latency_at_rate",
                "concierge",
                bench.latency_at_rate(concierge, rate, 3).await
            );
        }
        case!(
            "enqueue_bulk",
            "concierge",
            bench
                .enqueue_bulk(concierge, "bulk-only", bulk, 10_000)
                .await
        );
        return bench.forget_all();
    }
    case!("redis_benchmark", "redis", bench.redis_benchmark());
    if !args.skip_bullmq {
        bullmq_comparison(&bench, quick, args.soak_seconds, onboarding_seconds).await;
        if args.only_bullmq_comparison {
            return bench.forget_all();
        }
    }
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

/// Issue 14's comparison in one run: BullMQ first (its best concurrency is the baseline),
/// then the same cases of ours, each with its ratio, and a summary of the targets.
async fn bullmq_comparison(
    bench: &Bench,
    quick: bool,
    soak_seconds: Option<u64>,
    onboarding_seconds: u64,
) {
    let (drain_n, single, bulk) = if quick {
        (50_000, 20_000, 100_000)
    } else {
        (200_000, 100_000, 1_000_000)
    };
    let bullmq = "bullmq-6.7.0";
    if case!("install", bullmq, bench.bullmq_install().await).is_some() {
        case!("drain", bullmq, bench.bullmq_drain(drain_n).await);
        case!("enqueue", bullmq, bench.bullmq_enqueue(single, bulk).await);
        for rate in [1_000, 10_000] {
            case!(
                "latency_at_rate",
                bullmq,
                bench.bullmq_latency(rate, if quick { 3 } else { 10 }).await
            );
        }
    }
    let concierge = Subject::Concierge;
    let default_drain = case!(
        "worker_drain",
        "concierge",
        bench.worker_drain(drain_n, None).await
    );
    for c in [16, 64, 256] {
        case!(
            "worker_drain",
            "concierge",
            bench.worker_drain(drain_n, Some(c)).await
        );
    }
    // Flat from 1k to 1M queued.
    if !quick {
        case!(
            "worker_drain",
            "concierge",
            bench.worker_drain(1_000_000, None).await
        );
    }
    case!(
        "worker_drain",
        "concierge",
        bench.worker_drain(1_000, None).await
    );
    let in_process = case!("drain", "concierge", bench.drain(concierge, drain_n).await).flatten();
    case!(
        "enqueue_single",
        "concierge",
        bench.enqueue_single(concierge, single, 32).await
    );
    // The ratio of record: the median of three rounds, BullMQ and ours in turn.
    let enqueue = case!(
        "enqueue_alternating",
        "concierge",
        bench.enqueue_alternating(single, 3).await
    );
    let queue = "bulk-cmp";
    let bulk_rate = case!(
        "enqueue_bulk",
        "concierge",
        bench.enqueue_bulk(concierge, queue, bulk, 10_000).await
    );
    case!("cleanup", "concierge", bench.forget_keys(queue));
    for rate in [1_000, 10_000] {
        case!(
            "latency_at_rate",
            "concierge",
            bench
                .latency_at_rate(concierge, rate, if quick { 3 } else { 10 })
                .await
        );
    }
    case!(
        "latency_after_idle",
        "concierge",
        bench
            .latency_after_idle(
                concierge,
                Duration::from_secs(10),
                if quick { 2 } else { 5 }
            )
            .await
    );
    case!("worker_rss", "concierge", bench.worker_rss().await);
    let soak = Duration::from_secs(soak_seconds.unwrap_or(if quick { 60 } else { 600 }));
    case!("memory_soak", "concierge", bench.memory_soak(soak).await);
    let onboarding = case!(
        "onboarding",
        "concierge",
        bench.onboarding(64, onboarding_seconds).await
    );
    let x = |ours: Option<f64>, key: &str| bullmq::ratio(ours.unwrap_or(0.0), bench.baseline(key));
    report(json!({
        "case": "summary",
        "worker_default_x_bullmq": x(default_drain, bullmq::key::DRAIN), "target_worker": 2.0,
        "in_process_x_bullmq": x(in_process, bullmq::key::DRAIN), "target_in_process": 2.5,
        "enqueue_32_x_bullmq": enqueue.map(|m| (m * 100.0).round() / 100.0), "target_enqueue": 5.0,
        "bulk_x_bullmq": x(bulk_rate, bullmq::key::BULK), "target_bulk": 5.0,
        "onboarding_x_pgbench": onboarding.as_ref().map(|o| o["api_x_pgbench"].clone()), "target_onboarding": 0.7,
    }));
}
