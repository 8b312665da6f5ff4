//! What every job type declares, and the handle types a push returns.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A job payload: a small serde struct of ids and small values (never secrets, never whole
/// rows), stored as JSON, with a stable queue name of its own.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// The queue's name: part of every Redis key of the queue, so it never changes once jobs
    /// of this type exist. Never a Rust type path.
    const QUEUE: &'static str;
    /// Attempts before a job that keeps failing goes to the dead-letter set.
    const MAX_ATTEMPTS: u32 = 5;
    /// How long one attempt may run before it counts as failed (and is retried).
    const TIMEOUT: Duration = Duration::from_secs(60);
    /// Keep each done job's state and result for the result TTL, for someone who waits for it
    /// ([`crate::Producer::wait`]) or reads it later. Without it a done job's hash is deleted
    /// as it is recorded: a waiter already waiting still learns it finished, with no result.
    const KEEP_RESULT: bool = false;
}

/// A job's id: a UUIDv7 string (time-ordered), unique across queues.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl JobId {
    pub fn generate() -> Self {
        JobId(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for JobId {
    fn from(s: &str) -> Self {
        JobId(s.to_owned())
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The job was enqueued (or scheduled) under this id.
    Enqueued(JobId),
    /// A job with the same idempotency key was pushed within the key's TTL: nothing was
    /// enqueued; this is the id of that earlier job.
    Duplicate(JobId),
}

impl Pushed {
    /// The id of the job that will run: the new one, or the earlier duplicate.
    pub fn id(&self) -> &JobId {
        match self {
            Pushed::Enqueued(id) | Pushed::Duplicate(id) => id,
        }
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, Pushed::Duplicate(_))
    }
}

/// Options of one push. The default runs the job as soon as possible, once per push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Run no earlier than this (UNIX milliseconds). `None`: now.
    pub run_at_ms: Option<u64>,
    /// A second push with the same key within `idempotency_ttl` enqueues nothing and answers
    /// [`Pushed::Duplicate`] with the first job's id.
    pub idempotency_key: Option<String>,
    /// How long the key is remembered; default 24 hours.
    pub idempotency_ttl: Option<Duration>,
    /// Overrides [`Job::MAX_ATTEMPTS`].
    pub max_attempts: Option<u32>,
    /// Push into this queue instead of [`Job::QUEUE`] (a probe queue of its own, say). A
    /// worker must serve that queue with the same job type.
    pub queue: Option<String>,
    /// Keep these jobs' state and result once done, whatever their queue does (see
    /// [`Job::KEEP_RESULT`]).
    pub keep_result: bool,
    /// On a queue split into shards ([`crate::Producer::with_shards`]), jobs with the same key
    /// go to the same shard, so they are delivered in the order they were pushed. `None`:
    /// spread over the shards (an idempotency key picks the shard the same way).
    pub order_key: Option<String>,
}

impl PushOptions {
    /// Run after `delay`.
    pub fn delay(delay: Duration) -> Self {
        Self {
            run_at_ms: Some(crate::clock::now_ms() + delay.as_millis() as u64),
            ..Self::default()
        }
    }

    /// Run at `at_ms` (UNIX milliseconds).
    pub fn at(at_ms: u64) -> Self {
        Self {
            run_at_ms: Some(at_ms),
            ..Self::default()
        }
    }

    /// Deduplicate by `key`.
    pub fn idempotent(key: impl Into<String>) -> Self {
        Self {
            idempotency_key: Some(key.into()),
            ..Self::default()
        }
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = Some(ttl);
        self
    }

    pub fn in_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Deliver in push order with every other job of the same `key` (see
    /// [`PushOptions::order_key`]).
    pub fn ordered_by(mut self, key: impl Into<String>) -> Self {
        self.order_key = Some(key.into());
        self
    }

    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// Keep the result once done, for a later [`crate::Producer::wait`] or status read.
    pub fn keep_result(mut self) -> Self {
        self.keep_result = true;
        self
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// In the stream, waiting for a worker.
    Pending,
    /// Waiting for its time (a delayed push).
    Scheduled,
    /// A worker holds its lease and runs it.
    Running,
    /// An attempt failed; waiting for its backoff to pass.
    Retrying,
    /// Succeeded. Kept for the result TTL, then trimmed.
    Done,
    /// Failed for good on purpose (the handler aborted): in the dead-letter set, replayable.
    Failed,
    /// Failed on every attempt: in the dead-letter set, replayable.
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Retrying => "retrying",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => JobState::Pending,
            "scheduled" => JobState::Scheduled,
            "running" => JobState::Running,
            "retrying" => JobState::Retrying,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "dead" => JobState::Dead,
            _ => return None,
        })
    }

    /// No further attempt will happen (until an admin replays it).
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Dead)
    }
}

/// Everything the queue knows about one job.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct JobStatus {
    pub id: JobId,
    pub queue: String,
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    pub max_attempts: u32,
    /// The handler's result (JSON) when done.
    pub result: Option<serde_json::Value>,
    /// The last attempt's error.
    pub error: Option<String>,
    pub enqueued_at_ms: Option<u64>,
    pub run_at_ms: Option<u64>,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    /// The payload, as JSON.
    pub payload: Option<serde_json::Value>,
    /// The W3C `traceparent` of the request or event that pushed it.
    #[serde(default)]
    pub trace: Option<String>,
}

impl JobStatus {
    /// What is known of a done job whose queue keeps no results once its hash is gone: its
    /// id, its queue, done, and (from the done index) when it finished.
    pub fn done_without_result(queue: &str, id: &JobId) -> Self {
        Self {
            id: id.clone(),
            queue: queue.to_owned(),
            state: JobState::Done,
            attempts: 0,
            max_attempts: 0,
            result: None,
            error: None,
            enqueued_at_ms: None,
            run_at_ms: None,
            started_at_ms: None,
            finished_at_ms: None,
            payload: None,
            trace: None,
        }
    }
}

/// An attempt that failed because something the job depends on is down (Postgres
/// unreachable): the job runs again after a pause of at most 10 s, and the attempt does not
/// count against [`Job::MAX_ATTEMPTS`], so an outage of any length kills no job. A handler (or
/// the runtime around it) returns it wrapping the error.
#[derive(Debug)]
pub struct Unavailable(pub Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unavailable: {}", self.0)
    }
}

impl std::error::Error for Unavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}
