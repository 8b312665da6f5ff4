//! Periodic jobs fired once across all replicas. Every worker process runs the schedule; at
//! each slot (a multiple of the interval since the epoch) each pushes the job with the slot as
//! its idempotency key, so exactly one push enqueues and the others are told it was a
//! duplicate. No leader election, no lock to lose: the queue's idempotency does the work, and
//! a replica that is down simply does not take part.

use std::time::Duration;

use jobs::{Producer, PushOptions, Sweep, now_ms};
use tokio_util::sync::CancellationToken;

/// The start (UNIX ms) of the slot `now_ms` falls in.
pub fn slot(now_ms: u64, every: Duration) -> u64 {
    let every = every.as_millis().max(1) as u64;
    now_ms - now_ms % every
}

/// Pushes the sweep of the slot starting at `slot_ms`. Returns whether this call enqueued it
/// (false: another replica did first).
pub async fn fire_sweep(
    producer: &Producer,
    slot_ms: u64,
    every: Duration,
) -> Result<bool, jobs::QueueError> {
    let options = PushOptions {
        idempotency_key: Some(format!("sweep:{slot_ms}")),
        idempotency_ttl: Some(every * 2),
        ..PushOptions::default()
    };
    let pushed = producer
        .push_with(
            &Sweep {
                fired_at_ms: slot_ms,
            },
            options,
        )
        .await?;
    Ok(!pushed.is_duplicate())
}

/// Fires the sweep at every slot boundary until `stop`.
pub async fn run_schedule(producer: Producer, every: Duration, stop: CancellationToken) {
    loop {
        let now = now_ms();
        let next = slot(now, every) + every.as_millis() as u64;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(next - now)) => {}
            () = stop.cancelled() => return,
        }
        match fire_sweep(&producer, next, every).await {
            Ok(true) => tracing::info!(slot_ms = next, "fired the sweep"),
            Ok(false) => tracing::debug!(slot_ms = next, "another replica fired the sweep"),
            Err(e) => tracing::warn!(error = %e, "cannot fire the sweep"),
        }
    }
}
