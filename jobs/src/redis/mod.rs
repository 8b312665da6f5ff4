//! The Redis backend: every queue is a Redis Stream read by one consumer group, with a sorted
//! set for delayed jobs and retry backoff, a dead-letter set, and a hash per job holding its
//! payload, state and result. All keys of a queue share the hash tag `{<queue>}` so a queue
//! lives in one Redis Cluster slot. See `jobs/README.md` for the design and the apalis-redis
//! defects it avoids.

mod ack;
mod backend;
mod config;
mod introspect;
mod keys;
mod producer;
mod results;
mod scripts;

use std::collections::HashMap;

pub use ack::{AckLayer, AckService};
pub use backend::{Lease, RedisBackend, release_held, worker_name};
pub use config::QueueConfig;
pub use introspect::{Inspection, QueueView, apalis_status};
pub use keys::QueueKeys;
pub use producer::{Producer, QueueDepth, WorkerInfo};
pub use results::DEFAULT_MAX_WAITERS;

use crate::{JobId, JobState, JobStatus};

/// The consumer group every worker of a queue joins.
pub const GROUP: &str = "workers";

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cannot encode or decode a job payload: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("unexpected reply from Redis: {0}")]
    Protocol(String),
    /// This process already waits for as many job results as it may (see `results`): the
    /// caller answers without waiting (e.g. with the job id to poll).
    #[error("too many requests are waiting for job results in this process")]
    Busy,
}

/// The consumer group's view of a queue's stream (`XINFO GROUPS`).
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupInfo {
    /// Entries not yet delivered to any worker; `None` when Redis cannot tell.
    pub lag: Option<u64>,
    /// Entries delivered and not yet acknowledged (held by workers).
    pub pending: u64,
    pub last_delivered: String,
}

/// The group's counters, `None` before any worker created the group. (Acknowledged entries
/// stay in the stream until trimmed, so its length is not the number of waiting jobs.)
pub(crate) async fn group_info(
    conn: &mut redis::aio::ConnectionManager,
    keys: &QueueKeys,
) -> Result<Option<GroupInfo>, QueueError> {
    let reply: Result<Vec<HashMap<String, redis::Value>>, redis::RedisError> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(keys.stream())
        .query_async(conn)
        .await;
    let groups = match reply {
        Ok(groups) => groups,
        // No stream yet.
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) => {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let Some(group) = groups.into_iter().find(|g| {
        g.get("name")
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .as_deref()
            == Some(GROUP)
    }) else {
        return Ok(None);
    };
    let number = |k: &str| {
        group
            .get(k)
            .and_then(|v| redis::from_redis_value_ref::<u64>(v).ok())
    };
    Ok(Some(GroupInfo {
        lag: number("lag"),
        pending: number("pending").unwrap_or(0),
        last_delivered: group
            .get("last-delivered-id")
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .unwrap_or_else(|| "0-0".to_owned()),
    }))
}

/// Jobs in the stream that are waiting or held: the group's lag plus its pending entries
/// (the stream's length before any worker joined).
pub(crate) async fn stream_jobs(
    conn: &mut redis::aio::ConnectionManager,
    keys: &QueueKeys,
) -> Result<(u64, u64), QueueError> {
    let length: u64 = redis::AsyncCommands::xlen(conn, keys.stream()).await?;
    Ok(match group_info(conn, keys).await? {
        None => (length, 0),
        Some(g) => (g.lag.unwrap_or(length.saturating_sub(g.pending)), g.pending),
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
