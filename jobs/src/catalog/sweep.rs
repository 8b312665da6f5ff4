//! Pushed by workers (`fire_sweep` in `workers/src/cron.rs`, once across replicas) · handled by
//! `workers/src/sweep.rs`.

use serde::{Deserialize, Serialize};

use crate::job::Job;

/// The periodic clean-up: expire tokens, enqueue kicks and refreshes that were missed, trim
/// old job data. Fired by the cron once across all replicas (the firing time is its
/// idempotency key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sweep {
    /// The scheduled firing (UNIX ms).
    pub fired_at_ms: u64,
}

impl Job for Sweep {
    const QUEUE: &'static str = "sweep";
    const MAX_ATTEMPTS: u32 = 3;
    // What it removed is the admin's record of the sweep: one result every few minutes.
    const KEEP_RESULT: bool = true;
}
