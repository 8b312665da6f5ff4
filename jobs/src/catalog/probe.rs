//! Pushed by `concierge probe` and `bench` · handled by `workers/src/probe.rs`, on every queue
//! of the workers' `probe_queues`.

use serde::{Deserialize, Serialize};

use crate::job::Job;

/// A no-op that records its completion: for health checks, benchmarks and chaos tests
/// (`concierge probe`). `run_id` groups the jobs of one probe run; `seq` numbers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub run_id: String,
    pub seq: u64,
    /// When the producer pushed it (UNIX ms), to measure enqueue → start latency.
    pub enqueued_at_ms: u64,
    /// Simulated work: the handler sleeps this long.
    #[serde(default)]
    pub work_ms: u32,
    /// Padding, to measure with realistic payload sizes.
    #[serde(default)]
    pub padding: String,
}

impl Job for Probe {
    const QUEUE: &'static str = "probe";
    const MAX_ATTEMPTS: u32 = 3;
}
