//! `probe`: does nothing but (optionally) wait `work_ms`, then records that it ran, for
//! `concierge probe` to count.

use std::time::Duration;

use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use jobs::probe_run::ProbeRunKeys;
use jobs::redis::QueueKeys;
use jobs::{Lease, Probe, now_ms};

use crate::{Deps, Handler, Handles, WorkerSettings};

pub async fn handle(
    job: Probe,
    lease: Data<Lease>,
    queue: apalis_core::backend::queue::Queue,
    deps: Data<Deps>,
) -> Result<(), BoxDynError> {
    let started = now_ms();
    let _ = &lease;
    if job.work_ms > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(job.work_ms))).await;
    }
    let keys = ProbeRunKeys::new(
        &QueueKeys::new(deps.producer.prefix(), queue.as_ref()),
        &job.run_id,
    );
    deps.producer
        .probe_recorder()
        .record(&keys, &job, started)
        .await?;
    Ok(())
}

impl Handles for Probe {
    type Outcome = ();
    const HANDLER: Handler<Self> =
        |job, lease, queue, deps| Box::pin(handle(job, lease, queue, deps));

    /// Served on every probe queue (the `probe` queue, and any a benchmark uses).
    fn queues(settings: &WorkerSettings) -> Vec<String> {
        settings.probe_queues.clone()
    }
}
