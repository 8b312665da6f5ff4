//! What the job dashboard's API answers: the views of queues, workers and jobs, the response
//! enums of its endpoints, and [`redact`], which every payload shown to an admin (here and on
//! the board) goes through.

use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{Enum, Object};

use crate::error::ErrorBody;
use crate::responses::responses;

#[derive(Debug, Object)]
pub struct QueueSummary {
    pub queue: String,
    /// Not yet claimed by a worker.
    pub waiting: u64,
    /// Claimed by a worker.
    pub running: u64,
    /// Pushed to run later, waiting for their time.
    pub scheduled: u64,
    /// An attempt failed; waiting for the backoff before the next one.
    pub retrying: u64,
    /// In the dead-letter set (failed for good), replayable.
    pub dead: u64,
    /// Age of the oldest unfinished job (waiting or running), in seconds.
    pub oldest_age_seconds: u64,
    /// How long the oldest job no worker has claimed yet has waited, in seconds; null when
    /// nothing waits.
    pub oldest_waiting_seconds: Option<u64>,
    /// Workers claim nothing from a paused queue.
    pub paused: bool,
    /// Jobs finished (done, failed or dead) in the last minute.
    pub finished_last_minute: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StateFilter {
    Waiting,
    Running,
    Scheduled,
    Retrying,
    Done,
    Dead,
}

#[derive(Debug, Object)]
pub struct JobView {
    pub id: String,
    pub queue: String,
    /// `pending`, `scheduled`, `running`, `retrying`, `done`, `failed`, `dead`.
    pub state: String,
    pub attempts: u32,
    pub max_attempts: u32,
    /// The last attempt's error.
    pub error: Option<String>,
    pub enqueued_at_ms: Option<u64>,
    pub run_at_ms: Option<u64>,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    /// The payload, with secrets (tokens, codes, keys, sealed values) replaced by
    /// `[redacted]`.
    pub payload: Option<serde_json::Value>,
    /// The handler's result when done.
    pub result: Option<serde_json::Value>,
    /// The W3C `traceparent` of the request or event that pushed the job.
    pub trace: Option<String>,
}

impl From<jobs::JobStatus> for JobView {
    fn from(s: jobs::JobStatus) -> Self {
        Self {
            id: s.id.to_string(),
            queue: s.queue,
            state: s.state.as_str().to_owned(),
            attempts: s.attempts,
            max_attempts: s.max_attempts,
            error: s.error,
            enqueued_at_ms: s.enqueued_at_ms,
            run_at_ms: s.run_at_ms,
            started_at_ms: s.started_at_ms,
            finished_at_ms: s.finished_at_ms,
            payload: s.payload.map(redact),
            result: s.result.map(redact),
            trace: s.trace,
        }
    }
}

/// Replaces the values of secret-looking keys, at any depth.
pub(super) fn redact(value: serde_json::Value) -> serde_json::Value {
    const SECRET: [&str; 7] = [
        "sealed", "token", "code", "secret", "password", "key", "email",
    ];
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SECRET.iter().any(|s| lower.contains(s)) && !v.is_object() {
                        (k, serde_json::Value::String("[redacted]".into()))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(redact).collect())
        }
        other => other,
    }
}

#[derive(Debug, Object)]
pub struct WorkerView {
    /// Unique per worker run: host, pid and a random suffix.
    pub name: String,
    pub queue: String,
    pub host: String,
    pub pid: u32,
    /// Jobs it runs at once.
    pub concurrency: u32,
    /// UNIX ms of its last heartbeat.
    pub last_heartbeat_ms: u64,
}

/// What ended in one minute.
#[derive(Debug, Object)]
pub struct MinuteView {
    /// The minute's start, UNIX ms.
    pub minute_start_ms: u64,
    /// Jobs done.
    pub done: u64,
    /// Attempts that failed (to be retried, or failed for good).
    pub failed: u64,
}

/// Jobs done and attempts failed per minute, oldest minute first, the current (partial) one
/// last.
#[derive(Debug, Object)]
pub struct Throughput {
    /// The queue, or null for every queue together.
    pub queue: Option<String>,
    pub minutes: Vec<MinuteView>,
}

#[derive(Debug, Object)]
pub struct Replayed {
    /// The ids put back into their queue.
    pub replayed: Vec<String>,
}

responses! {
    /// The answer of an endpoint over every queue: `T`, or the caller is no admin. One enum for
    /// all of them, so they cannot drift apart (the spec inlines responses: it shows no name).
    pub enum Answer<T: ToJSON> {
        200 Ok(Json<T>),
        @auth,
    }
}

responses! {
    /// The answer of an endpoint over one queue that takes a parameter: `T`, a bad parameter,
    /// no admin, or no such queue.
    pub enum QueueAnswer<T: ToJSON> {
        200 Ok(Json<T>),
        /// A parameter is invalid (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        @auth,
        /// No such queue (`not_found`).
        404 NotFound(Json<ErrorBody>),
    }
}

pub type QueuesResult = Answer<Vec<QueueSummary>>;

pub type WorkersResult = Answer<Vec<WorkerView>>;

pub type JobsResult = QueueAnswer<Vec<JobView>>;

pub type ReplayResult = QueueAnswer<Replayed>;

pub type ThroughputResult = QueueAnswer<Throughput>;

/// Queue summaries as server-sent events.
pub type QueueEvents =
    poem_openapi::payload::EventStream<futures::stream::BoxStream<'static, Vec<QueueSummary>>>;

responses! {
    @opaque
    pub enum EventsResult {
        /// `data: [QueueSummary…]` every two seconds.
        200 Ok(QueueEvents),
        @auth,
    }
}

responses! {
    pub enum JobResult {
        200 Ok(Json<Box<JobView>>),
        @auth,
        /// No such queue or job (`not_found`).
        404 NotFound(Json<ErrorBody>),
    }
}

responses! {
    pub enum ActionResult {
        /// Done.
        204 Done,
        /// A parameter is invalid (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        @auth,
        /// No such queue or job (`not_found`).
        404 NotFound(Json<ErrorBody>),
        /// The job is not in a state that allows it (`conflict`): only failed or dead jobs are
        /// retried, running ones cannot be discarded.
        409 Conflict(Json<ErrorBody>),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let payload = serde_json::json!({
            "discord_user_id": 5,
            "proof": { "kind": "invitation", "email": "a@b.co", "sealed_token": "xyz" },
            "interaction": { "sealed_token": "abc" },
            "grant": { "kind": "code", "state_id": 3, "code": "c0de" },
        });
        let redacted = super::redact(payload);
        assert_eq!(redacted["discord_user_id"], 5);
        assert_eq!(redacted["proof"]["sealed_token"], "[redacted]");
        assert_eq!(redacted["proof"]["email"], "[redacted]");
        assert_eq!(redacted["proof"]["kind"], "invitation");
        assert_eq!(redacted["interaction"]["sealed_token"], "[redacted]");
        assert_eq!(redacted["grant"]["code"], "[redacted]");
        assert_eq!(redacted["grant"]["state_id"], 3);
    }
}
