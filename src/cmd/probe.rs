//! `concierge probe`: pushes N probe jobs (in bulk or paced), waits for them and prints one
//! JSON line saying whether each ran exactly once; or, with `--no-wait` and `--check`, pushes
//! now and reports later.

use std::process::ExitCode;

use concierge::config::Config;
use tokio_util::sync::CancellationToken;

// The options of `concierge probe`; clap shows their doc comments in `--help`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    /// How many probe jobs to push.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Pushes per second; 0 pushes everything at once (in bulk).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Padding added to each payload, in bytes.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Simulated work per job, in milliseconds.
    #[arg(long, default_value_t = 0)]
    work_ms: u32,
    /// The queue to push to (a worker must serve it: PROBE_QUEUES).
    #[arg(long, default_value = "probe")]
    queue: String,
    /// Give up waiting after this many seconds; what has not run by then counts as lost.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Push, print the run id, and exit without waiting (check later with --check).
    #[arg(long, conflicts_with = "check")]
    no_wait: bool,
    /// Wait for (or report on) an earlier run instead of pushing.
    #[arg(long, value_name = "RUN_ID")]
    check: Option<String>,
}

/// `concierge probe`: push probe jobs, wait for them, print one JSON line.
#[allow(clippy::print_stdout)]
pub(crate) async fn run(
    config: &Config,
    args: ProbeArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    use jobs::probe_run::{self, ProbeRunKeys};
    let producer = super::services::producer(config).await?;
    let keys = jobs::redis::QueueKeys::new(producer.prefix(), &args.queue);
    let mut conn = producer.connection();
    let (run_id, enqueued) = match &args.check {
        Some(run_id) => {
            // The run as every shard of the queue records it (its own keys first).
            let run = probe_run::shard_keys(&producer, &args.queue, run_id).await?;
            let report = probe_run::report(&mut conn, &run, run_id, &args.queue).await?;
            if report.enqueued == 0 {
                anyhow::bail!(
                    "no probe run {run_id} in queue {} (it may have expired after a day)",
                    args.queue
                );
            }
            (run_id.clone(), report.enqueued)
        }
        None => {
            let run_id = uuid::Uuid::now_v7().simple().to_string();
            let run = ProbeRunKeys::new(&keys, &run_id);
            probe_run::begin(&mut conn, &run, args.count).await?;
            push_probes(&producer, &args, &run_id, &shutdown).await?;
            probe_run::pushed(&mut conn, &run).await?;
            tracing::info!(run_id = %run_id, count = args.count, queue = %args.queue, "pushed probe jobs");
            (run_id, args.count)
        }
    };
    if args.no_wait {
        println!(
            "{}",
            serde_json::json!({ "run_id": run_id, "queue": args.queue, "enqueued": enqueued })
        );
        return Ok(ExitCode::SUCCESS);
    }
    let run = probe_run::shard_keys(&producer, &args.queue, &run_id).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(args.timeout);
    // A CLI watching a counter: checking it a few times a second costs nothing.
    while probe_run::completed(&mut conn, &run).await? < enqueued
        && tokio::time::Instant::now() < deadline
        && !shutdown.is_cancelled()
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let report = probe_run::report(&mut conn, &run, &run_id, &args.queue).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(if report.lost == 0 && report.duplicates == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Pushes the run's `count` probes: in bulk batches when unpaced, else a few every 10 ms at
/// `rate` per second until all are pushed or shutdown.
async fn push_probes(
    producer: &jobs::Producer,
    args: &ProbeArgs,
    run_id: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let padding = "x".repeat(args.payload_bytes);
    let options = jobs::PushOptions::default().in_queue(args.queue.clone());
    let make = |seq: u64| jobs::Probe {
        run_id: run_id.to_owned(),
        seq,
        enqueued_at_ms: jobs::now_ms(),
        work_ms: args.work_ms,
        padding: padding.clone(),
    };
    if args.rate == 0 {
        let mut seq = 0;
        while seq < args.count {
            let end = (seq + 10_000).min(args.count);
            let batch: Vec<jobs::Probe> = (seq..end).map(make).collect();
            producer.push_bulk(&batch, options.clone()).await?;
            seq = end;
        }
        return Ok(());
    }
    // Paced: a small batch every 10 ms, so the rate is smooth at any size.
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(10));
    let mut seq = 0;
    while seq < args.count && !shutdown.is_cancelled() {
        ticker.tick().await;
        let due = ((started.elapsed().as_secs_f64() * args.rate as f64) as u64).min(args.count);
        if due > seq {
            let batch: Vec<jobs::Probe> = (seq..due).map(make).collect();
            producer.push_bulk(&batch, options.clone()).await?;
            seq = due;
        }
    }
    Ok(())
}
