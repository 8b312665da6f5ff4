//! One job's status as stored in its hash, read by the producer (`status`, `wait`), its admin
//! listings and the apalis introspection traits, and the mapping to apalis' own status and id.

use std::collections::HashMap;
use std::str::FromStr;

use super::connect::Conn;
use apalis_core::task::status::Status;
use apalis_core::task::task_id::TaskId;

use super::error::QueueError;
use super::keys::QueueKeys;
use crate::job::{JobId, JobState, JobStatus};

/// The status of job `id` of the queue of `keys`, `None` when it never existed or expired.
/// A done job whose queue keeps no results has no hash: while its id is in the done index it
/// is done, without a result (one round trip either way). A job pushed without a hash
/// (`push.lua`) that has not finished yet is looked for in its stream ([`locate`]).
pub(crate) async fn status(
    conn: &mut Conn,
    keys: &QueueKeys,
    id: &JobId,
) -> Result<Option<JobStatus>, QueueError> {
    Ok(status_with_entry(conn, keys, id).await?.0)
}

/// [`status`], and for a waiting job without a hash its stream entry (what a discard names).
pub(crate) async fn status_with_entry(
    conn: &mut Conn,
    keys: &QueueKeys,
    id: &JobId,
) -> Result<(Option<JobStatus>, Option<Vec<u8>>), QueueError> {
    if let Some(found) = recorded_status(conn, keys, id).await? {
        return Ok((Some(found), None));
    }
    Ok(match locate(conn, keys, id).await? {
        Located::Waiting(fields) => {
            let entry = fields.get("entry").cloned();
            (parse_status(&keys.queue, id.as_str(), fields), entry)
        }
        Located::Running(fields) => (parse_status(&keys.queue, id.as_str(), fields), None),
        // Finished between the two reads.
        Located::Delivered => (recorded_status(conn, keys, id).await?, None),
        Located::Nowhere => (None, None),
    })
}

/// The status as recorded in the job's hash or the done index, without looking in the stream:
/// enough for a job that has a hash from its push on (a kept or scheduled one), and the
/// cheap read for an id anyone may send.
pub(crate) async fn recorded_status(
    conn: &mut Conn,
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

/// Where [`locate`] found a job without a hash, with its fields in the shape of a job hash.
pub(crate) enum Located {
    Waiting(HashMap<String, Vec<u8>>),
    Running(HashMap<String, Vec<u8>>),
    /// Its entry was delivered and acknowledged: it finished meanwhile.
    Delivered,
    Nowhere,
}

/// How far from the time in a job's id (UUIDv7) its stream entry is looked for: the entry's
/// own time (the Redis clock at the push) may be earlier by the clocks' skew, and later by
/// how long the push took (a large bulk push encodes while it sends).
const LOCATE_BEFORE_MS: u64 = 10_000;
const LOCATE_AFTER_MS: u64 = 120_000;
/// At most this many entries are read, in pages of [`LOCATE_PAGE`], one round trip each.
const LOCATE_LIMIT: usize = 50_000;
const LOCATE_PAGE: usize = 1_000;

/// Looks for the stream entry of a job pushed without a hash, from the time in its id on:
/// `Nowhere` for an id that is not a UUIDv7, and for a job more than [`LOCATE_LIMIT`] entries
/// past that time (it is found again once it runs, or when it is done). Admin reads only (a
/// status lookup, a listing, a discard): it costs up to 50 round trips where a hash costs one.
pub(crate) async fn locate(
    conn: &mut Conn,
    keys: &QueueKeys,
    id: &JobId,
) -> Result<Located, QueueError> {
    let Some(made_ms) = uuid::Uuid::parse_str(id.as_str())
        .ok()
        .and_then(|u| u.get_timestamp())
        .map(|t| t.to_unix().0 * 1000 + u64::from(t.to_unix().1 / 1_000_000))
    else {
        return Ok(Located::Nowhere);
    };
    let until_ms = made_ms.saturating_add(LOCATE_AFTER_MS);
    let mut start = format!("{}-0", made_ms.saturating_sub(LOCATE_BEFORE_MS));
    let mut read = 0;
    let mut found_delivered = false;
    while read < LOCATE_LIMIT {
        let page: Vec<(String, HashMap<String, Vec<u8>>)> = redis::cmd("XRANGE")
            .arg(keys.stream())
            .arg(&start)
            .arg(until_ms)
            .arg("COUNT")
            .arg(LOCATE_PAGE)
            .query_async(conn)
            .await?;
        read += page.len();
        let last = page.last().map(|(entry, _)| entry.clone());
        for (entry, fields) in page
            .into_iter()
            .filter(|(_, f)| f.get("id").map(Vec::as_slice) == Some(id.as_str().as_bytes()))
        {
            match entry_located(conn, keys, &entry, fields).await? {
                // A job handed back (release.lua) has a later entry: look on.
                Located::Delivered => found_delivered = true,
                located => return Ok(located),
            }
        }
        match last {
            Some(last) if read % LOCATE_PAGE == 0 => start = format!("({last}"),
            _ => break,
        }
    }
    Ok(if found_delivered {
        Located::Delivered
    } else {
        Located::Nowhere
    })
}

/// The state of a job without a hash whose stream entry is `entry`: pending for a worker
/// (running), not yet delivered (waiting), or acknowledged.
async fn entry_located(
    conn: &mut Conn,
    keys: &QueueKeys,
    entry: &str,
    mut fields: HashMap<String, Vec<u8>>,
) -> Result<Located, QueueError> {
    if !fields.contains_key("a") {
        // A job with a hash (its hash was read first): deleted meanwhile.
        return Ok(Located::Delivered);
    }
    let id = String::from_utf8_lossy(fields.get("id").map_or(&[][..], Vec::as_slice)).into_owned();
    let hash = entry_as_hash(&mut fields);
    let discarded: bool = redis::AsyncCommands::sismember(conn, keys.discarded(), id).await?;
    if discarded {
        return Ok(Located::Nowhere);
    }
    // No group yet: no worker ever read the stream.
    let Some(group) = super::contents::group_info(conn, keys).await? else {
        return Ok(Located::Waiting(waiting_at(hash, entry)));
    };
    let held: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(keys.stream())
        .arg(super::keys::GROUP)
        .arg(entry)
        .arg(entry)
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(if !held.is_empty() {
        Located::Running(with_state(hash, "running", 1))
    } else if entry_order(entry) <= entry_order(&group.last_delivered) {
        Located::Delivered
    } else {
        Located::Waiting(waiting_at(hash, entry))
    })
}

/// A stream entry id (`<ms>-<seq>`) as numbers, to compare.
pub(crate) fn entry_order(entry: &str) -> (u64, u64) {
    let mut parts = entry.splitn(2, '-').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The fields of a stream entry written by `push.lua` for a job without a hash (`a`, `m`,
/// `e`, `t`), under the names of a job hash.
pub(crate) fn entry_as_hash(fields: &mut HashMap<String, Vec<u8>>) -> HashMap<String, Vec<u8>> {
    let mut hash = HashMap::new();
    for (from, to) in [
        ("a", "args"),
        ("m", "max"),
        ("e", "enqueued"),
        ("t", "trace"),
    ] {
        if let Some(v) = fields.remove(from) {
            hash.insert(to.to_owned(), v);
        }
    }
    hash
}

/// A waiting job's fields, with its stream `entry` (as a job hash names the entry of its
/// current attempt), which a discard needs.
fn waiting_at(hash: HashMap<String, Vec<u8>>, entry: &str) -> HashMap<String, Vec<u8>> {
    let mut hash = with_state(hash, "pending", 0);
    hash.insert("entry".to_owned(), entry.as_bytes().to_vec());
    hash
}

pub(crate) fn with_state(
    mut hash: HashMap<String, Vec<u8>>,
    state: &str,
    attempts: u32,
) -> HashMap<String, Vec<u8>> {
    hash.insert("state".to_owned(), state.as_bytes().to_vec());
    hash.insert("attempts".to_owned(), attempts.to_string().into_bytes());
    hash
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
