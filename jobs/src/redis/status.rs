//! One job's status as stored in its hash, read by the producer (`status`, `wait`), its admin
//! listings and the apalis introspection traits, and the mapping to apalis' own status and id.

use std::collections::HashMap;
use std::str::FromStr;

use apalis_core::task::status::Status;
use apalis_core::task::task_id::TaskId;
use redis::aio::ConnectionManager;

use super::error::QueueError;
use super::keys::QueueKeys;
use crate::job::{JobId, JobState, JobStatus};

/// The status of job `id` of the queue of `keys`, `None` when it never existed or expired.
/// A done job whose queue keeps no results has no hash: while its id is in the done index it
/// is done, without a result (one round trip either way).
pub(crate) async fn status(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    id: &JobId,
) -> Result<Option<JobStatus>, QueueError> {
    let (fields, finished): (HashMap<String, Vec<u8>>, Option<f64>) = redis::pipe()
        .hgetall(keys.job(id.as_str()))
        .zscore(keys.done(), id.as_str())
        .query_async(conn)
        .await?;
    Ok(match parse_status(&keys.queue, id.as_str(), fields) {
        None => finished.map(|at| JobStatus {
            finished_at_ms: Some(at as u64),
            ..JobStatus::done_without_result(&keys.queue, id)
        }),
        found => found,
    })
}

/// Parses the hash of a job (HGETALL) into its status.
pub(crate) fn parse_status(
    queue: &str,
    id: &str,
    fields: HashMap<String, Vec<u8>>,
) -> Option<JobStatus> {
    if fields.is_empty() {
        return None;
    }
    let text = |k: &str| {
        fields
            .get(k)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let number = |k: &str| text(k).and_then(|v| v.parse::<u64>().ok());
    let json = |k: &str| {
        fields
            .get(k)
            .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
    };
    Some(JobStatus {
        id: JobId(id.to_owned()),
        queue: queue.to_owned(),
        state: text("state")
            .as_deref()
            .and_then(JobState::parse)
            .unwrap_or(JobState::Pending),
        attempts: number("attempts").unwrap_or(0) as u32,
        max_attempts: number("max").unwrap_or(0) as u32,
        result: json("result"),
        error: text("error"),
        enqueued_at_ms: number("enqueued"),
        run_at_ms: number("run_at").or_else(|| number("enqueued")),
        started_at_ms: number("started"),
        finished_at_ms: number("finished"),
        payload: json("args"),
        trace: text("trace"),
    })
}

/// apalis' coarser status of a job state.
pub fn apalis_status(state: JobState) -> Status {
    match state {
        JobState::Pending => Status::Queued,
        JobState::Scheduled | JobState::Retrying => Status::Pending,
        JobState::Running => Status::Running,
        JobState::Done => Status::Done,
        JobState::Failed => Status::Killed,
        JobState::Dead => Status::Failed,
    }
}

/// The job's id as apalis' task id (both are the UUIDv7 text).
pub(crate) fn task_id(id: &JobId) -> Result<TaskId, QueueError> {
    TaskId::from_str(id.as_str()).map_err(|e| QueueError::Protocol(format!("job id {id}: {e}")))
}
