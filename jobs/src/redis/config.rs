//! Tuning of a queue's backend.

use std::time::Duration;

/// How a worker uses a queue. The defaults suit production; tests shorten the timings.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// How long a worker's claim on a job lasts without a heartbeat. A job whose worker died is
    /// taken over by another worker this long after the last heartbeat.
    pub lease: Duration,
    /// How often a worker renews the leases of the jobs it holds, registers itself, and looks
    /// for jobs of dead workers to take over. Well below `lease`.
    pub heartbeat: Duration,
    /// Longest wait of one blocking read when idle. New jobs wake the worker at once; this only
    /// bounds how late a delayed job or retry is promoted when nothing else happens.
    pub idle_wait: Duration,
    /// Jobs claimed ahead of free capacity. 0 means: as many as the worker's concurrency.
    pub prefetch: usize,
    /// How long a finished job's state and result are kept: failed and dead jobs always, done
    /// jobs only where a result is kept (`keep_results`, [`crate::Job::KEEP_RESULT`],
    /// [`crate::PushOptions::keep_result`]).
    pub result_ttl: Duration,
    /// Keep every done job's state and result for `result_ttl`. Off by default: a done job's
    /// hash is deleted when it is recorded (it only stays in the bounded done index), so a
    /// queue at full speed holds no memory per finished job. A queue whose job type sets
    /// [`crate::Job::KEEP_RESULT`] keeps them whatever this says.
    pub keep_results: bool,
    /// How long a dead job stays in the dead-letter set for inspection and replay.
    pub dead_ttl: Duration,
    /// How many recently done jobs are listed for the dashboard (the index grows an eighth
    /// past it between two trims).
    pub done_index_max: usize,
    /// First retry delay; doubles with each attempt, with ±25% jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Due delayed jobs promoted per script call (the call repeats until none are left).
    pub promote_chunk: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(6),
            heartbeat: Duration::from_secs(1),
            idle_wait: Duration::from_millis(250),
            prefetch: 0,
            result_ttl: Duration::from_secs(3600),
            keep_results: false,
            dead_ttl: Duration::from_secs(7 * 86_400),
            done_index_max: 10_000,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
            promote_chunk: 500,
        }
    }
}

impl QueueConfig {
    /// The delay before attempt `attempt + 1`, after `attempt` failed ones.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.backoff_max);
        let jitter = rand::random_range(0.75..1.25);
        capped.mul_f64(jitter)
    }
}
