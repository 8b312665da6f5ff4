//! What a queue holds, read without changing it: the consumer group's counters, the ids of
//! jobs in each state (for listings), and the deployment's registry of queue names. Shared by
//! the producer's admin methods and the apalis introspection traits.

use std::collections::HashMap;

use super::connect::Conn;
use apalis_core::task::status::Status;
use redis::AsyncCommands;

use super::error::QueueError;
use super::keys::GROUP;
use super::keys::QueueKeys;
use super::status::{entry_as_hash, with_state};

/// The consumer group's view of a queue's stream (`XINFO GROUPS`).
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupInfo {
    /// Entries not yet delivered to any worker; `None` when Redis cannot tell.
    pub lag: Option<u64>,
    /// Entries delivered and not yet acknowledged (held by workers).
    pub pending: u64,
    /// The last entry delivered to any worker: entries after it are waiting.
    pub last_delivered: String,
}

/// The group's counters, `None` before any worker created the group. (Acknowledged entries
/// stay in the stream until trimmed, so its length is not the number of waiting jobs.)
pub(crate) async fn group_info(
    conn: &mut Conn,
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
    conn: &mut Conn,
    keys: &QueueKeys,
) -> Result<(u64, u64), QueueError> {
    let length: u64 = AsyncCommands::xlen(conn, keys.stream()).await?;
    Ok(match group_info(conn, keys).await? {
        None => (length, 0),
        Some(g) => (g.lag.unwrap_or(length.saturating_sub(g.pending)), g.pending),
    })
}

/// A job in a listing: its id and, for a job without a hash (`push.lua`), its fields from the
/// stream entry in the shape of a job hash, so the listing needs no lookup.
pub(crate) struct Listed {
    pub id: String,
    pub inline: Option<HashMap<String, Vec<u8>>>,
}

impl Listed {
    pub(crate) fn of(id: String) -> Self {
        Self { id, inline: None }
    }

    /// From a stream entry's fields: `None` for an entry without a job id.
    fn from_entry(mut fields: HashMap<String, Vec<u8>>, running: bool) -> Option<Self> {
        let id = String::from_utf8(fields.remove("id")?).ok()?;
        let inline = fields.contains_key("a").then(|| {
            let hash = entry_as_hash(&mut fields);
            if running {
                with_state(hash, "running", 1)
            } else {
                with_state(hash, "pending", 0)
            }
        });
        Some(Self { id, inline })
    }
}

/// Jobs in a queue with the given apalis status, newest first where that means anything,
/// paginated.
pub(crate) async fn ids_with_status(
    conn: &mut Conn,
    keys: &QueueKeys,
    status: Option<&Status>,
    offset: usize,
    limit: usize,
) -> Result<Vec<Listed>, QueueError> {
    let stop = (offset + limit).saturating_sub(1) as isize;
    let from_set = async |conn: &mut Conn, key: String| -> Result<Vec<Listed>, QueueError> {
        let ids: Vec<String> = conn.zrevrange(key, offset as isize, stop).await?;
        Ok(ids.into_iter().map(Listed::of).collect())
    };
    match status {
        Some(Status::Done) => from_set(conn, keys.done()).await,
        Some(Status::Failed | Status::Killed) => from_set(conn, keys.dead()).await,
        Some(Status::Pending) => from_set(conn, keys.delayed()).await,
        Some(Status::Running) => {
            let held: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
                .arg(keys.stream())
                .arg(GROUP)
                .arg("-")
                .arg("+")
                .arg(offset + limit)
                .query_async(conn)
                .await?;
            let entries: Vec<String> = held.into_iter().skip(offset).map(|(e, ..)| e).collect();
            held_jobs(conn, keys, &entries).await
        }
        Some(Status::Queued) | None => {
            // Entries up to the last delivered one are held or acknowledged (not yet trimmed).
            let start = match group_info(conn, keys).await? {
                Some(g) => format!("({}", g.last_delivered),
                None => "-".to_owned(),
            };
            let entries: Vec<(String, HashMap<String, Vec<u8>>)> = redis::cmd("XRANGE")
                .arg(keys.stream())
                .arg(start)
                .arg("+")
                .arg("COUNT")
                .arg(offset + limit)
                .query_async(conn)
                .await?;
            Ok(entries
                .into_iter()
                .skip(offset)
                .filter_map(|(_, f)| Listed::from_entry(f, false))
                .collect())
        }
        Some(_) => Ok(Vec::new()),
    }
}

async fn held_jobs(
    conn: &mut Conn,
    keys: &QueueKeys,
    entries: &[String],
) -> Result<Vec<Listed>, QueueError> {
    let mut jobs = Vec::new();
    for entry in entries {
        let found: Vec<(String, HashMap<String, Vec<u8>>)> = redis::cmd("XRANGE")
            .arg(keys.stream())
            .arg(entry)
            .arg(entry)
            .query_async(conn)
            .await?;
        jobs.extend(
            found
                .into_iter()
                .filter_map(|(_, f)| Listed::from_entry(f, true)),
        );
    }
    Ok(jobs)
}

/// Every queue of the deployment (the registry each producer and worker adds to), sorted.
pub(crate) async fn queue_names(conn: &mut Conn, prefix: &str) -> Result<Vec<String>, QueueError> {
    let mut names: Vec<String> = conn.smembers(QueueKeys::registry(prefix)).await?;
    names.sort();
    Ok(names)
}
