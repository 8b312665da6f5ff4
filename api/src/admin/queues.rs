//! What the dashboard reads: queue summaries (once or as an event stream), live workers, the
//! jobs of a queue in one state with a payload search, and one job; plus the look-ups every
//! endpoint under `/queues/{queue}` starts with.

use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;

use jobs::{JobId, JobState};

use super::views::{
    EventsResult, JobResult, JobView, JobsResult, MinuteView, QueueAnswer, QueueSummary,
    QueuesResult, StateFilter, Throughput, ThroughputResult, WorkerView, WorkersResult,
};
use crate::error::{ErrorBody, Or500, body};
use crate::state::AppState;

/// Whether this deployment has the queue: a queue of the catalogue, or one of its shards by
/// name (`send_email~1`).
pub(super) fn known(queue: &str) -> bool {
    jobs::QUEUES.contains(&jobs::redis::shard_of(queue).0)
}

pub(super) fn no_queue() -> Json<ErrorBody> {
    body("not_found", "no such queue")
}

/// The answer to a request for up to `limit` items of `queue` when it cannot be served: no
/// such queue, or `limit` outside 1 to `max`.
pub(super) fn refused<T: ToJSON>(queue: &str, limit: u32, max: u32) -> Option<QueueAnswer<T>> {
    if !known(queue) {
        return Some(QueueAnswer::NotFound(no_queue()));
    }
    if limit == 0 || limit > max {
        return Some(QueueAnswer::BadRequest(body(
            "invalid_request",
            format!("limit is 1 to {max}"),
        )));
    }
    None
}

/// Job `id` of `queue` with its status, or the 404 body that says which of the two is
/// missing.
pub(super) async fn lookup(
    state: &AppState,
    queue: &str,
    id: &str,
) -> poem::Result<Result<(JobId, jobs::JobStatus), Json<ErrorBody>>> {
    if !known(queue) {
        return Ok(Err(no_queue()));
    }
    let id = JobId::from(id);
    match state
        .producer()
        .status(queue, &id)
        .await
        .or_500("reading the job's status")?
    {
        Some(status) => Ok(Ok((id, status))),
        None => Ok(Err(body("not_found", "no such job"))),
    }
}

pub(super) async fn queues(state: &AppState) -> poem::Result<QueuesResult> {
    let out = summaries(state.producer())
        .await
        .or_500("reading the queues' sizes")?;
    Ok(QueuesResult::Ok(Json(out)))
}

pub(super) async fn workers(state: &AppState) -> poem::Result<WorkersResult> {
    let lease = state.config().job_lease;
    let mut out = Vec::new();
    for queue in jobs::QUEUES {
        for w in state
            .producer()
            .workers(queue, lease)
            .await
            .or_500("listing the queue's workers")?
        {
            out.push(WorkerView {
                name: w.name,
                queue: w.queue,
                host: w.host,
                pid: w.pid,
                concurrency: w.concurrency,
                last_heartbeat_ms: w.last_heartbeat_ms,
            });
        }
    }
    Ok(WorkersResult::Ok(Json(out)))
}

/// Jobs done and attempts failed in each of the last `minutes` minutes, of `queue` or of
/// every queue.
pub(super) async fn throughput(
    state: &AppState,
    queue: Option<&str>,
    minutes: u32,
) -> poem::Result<ThroughputResult> {
    if minutes == 0 || minutes > 120 {
        return Ok(ThroughputResult::BadRequest(body(
            "invalid_request",
            "minutes is 1 to 120",
        )));
    }
    if queue.is_some_and(|q| !known(q)) {
        return Ok(ThroughputResult::NotFound(no_queue()));
    }
    let queues: Vec<&str> = match queue {
        Some(q) => vec![q],
        None => jobs::QUEUES.to_vec(),
    };
    // One clock for every queue, so that their minutes line up.
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    let mut total: Vec<MinuteView> = Vec::new();
    for q in queues {
        let counts = state
            .producer()
            .per_minute(q, minutes as usize, now)
            .await
            .or_500("reading the queue's counts per minute")?;
        if total.is_empty() {
            total = counts
                .iter()
                .map(|c| MinuteView {
                    minute_start_ms: c.minute_start_ms,
                    done: 0,
                    failed: 0,
                })
                .collect();
        }
        for (sum, c) in total.iter_mut().zip(counts) {
            sum.done += c.done;
            sum.failed += c.failed;
        }
    }
    Ok(ThroughputResult::Ok(Json(Throughput {
        queue: queue.map(str::to_owned),
        minutes: total,
    })))
}

pub(super) fn events(state: &AppState) -> EventsResult {
    let producer = state.producer().clone();
    let stream = futures::stream::unfold(producer, |producer| async move {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let summaries = summaries(&producer).await.unwrap_or_default();
        Some((summaries, producer))
    });
    EventsResult::Ok(poem_openapi::payload::EventStream::new(
        Box::pin(stream) as futures::stream::BoxStream<'static, _>
    ))
}

/// The jobs of `queue` in state `filter` (default: waiting), `limit` of them from `offset`;
/// with `q`, only those whose redacted payload matches it (see [`Search`]).
pub(super) async fn jobs(
    state: &AppState,
    queue: &str,
    filter: Option<StateFilter>,
    limit: u32,
    offset: u32,
    q: Option<&str>,
) -> poem::Result<JobsResult> {
    if let Some(refused) = refused(queue, limit, 500) {
        return Ok(refused);
    }
    let job_state = match filter {
        None | Some(StateFilter::Waiting) => None,
        Some(StateFilter::Running) => Some(JobState::Running),
        Some(StateFilter::Scheduled) => Some(JobState::Scheduled),
        Some(StateFilter::Retrying) => Some(JobState::Retrying),
        Some(StateFilter::Done) => Some(JobState::Done),
        Some(StateFilter::Dead) => Some(JobState::Dead),
    };
    let (offset, limit) = (offset as usize, limit as usize);
    let search = q.map(str::trim).filter(|q| !q.is_empty());
    let Some(search) = search else {
        let list = state
            .producer()
            .list(queue, job_state, offset, limit)
            .await
            .or_500("listing the queue's jobs")?;
        return Ok(JobsResult::Ok(Json(
            list.into_iter().map(Into::into).collect(),
        )));
    };
    let search = Search::parse(search);
    let mut found: Vec<JobView> = Vec::new();
    // A job may move between reads (a waiting one starts): seen once, counted once.
    let mut seen = std::collections::HashSet::new();
    let mut skipped = 0;
    let mut scanned = 0;
    while scanned < SEARCH_SCAN && found.len() < limit {
        let page = state
            .producer()
            .list(queue, job_state, scanned, SEARCH_PAGE)
            .await
            .or_500("listing the queue's jobs to search")?;
        if page.is_empty() {
            break;
        }
        // Pages are positions in the state's listing; jobs that expired meanwhile are
        // left out of a page, not shifted into it.
        scanned += SEARCH_PAGE;
        for view in page.into_iter().map(JobView::from) {
            if !seen.insert(view.id.clone()) {
                continue;
            }
            if !view.payload.as_ref().is_some_and(|p| search.matches(p)) {
                continue;
            }
            if skipped < offset {
                skipped += 1;
            } else if found.len() < limit {
                found.push(view);
            }
        }
    }
    Ok(JobsResult::Ok(Json(found)))
}

pub(super) async fn job(state: &AppState, queue: &str, id: &str) -> poem::Result<JobResult> {
    Ok(match lookup(state, queue, id).await? {
        Ok((_, status)) => JobResult::Ok(Json(Box::new(status.into()))),
        Err(missing) => JobResult::NotFound(missing),
    })
}

/// Every queue's sizes, pause state and oldest job, for the dashboard and the health check.
pub(crate) async fn summaries(
    producer: &jobs::Producer,
) -> Result<Vec<QueueSummary>, jobs::QueueError> {
    let mut out = Vec::new();
    for queue in jobs::QUEUES {
        let depth = producer.depth(queue).await?;
        out.push(QueueSummary {
            queue: (*queue).to_owned(),
            waiting: depth.waiting,
            running: depth.running,
            scheduled: depth.delayed - depth.retrying,
            retrying: depth.retrying,
            dead: depth.dead,
            oldest_age_seconds: producer.oldest_age_ms(queue).await? / 1000,
            oldest_waiting_seconds: producer.oldest_waiting_ms(queue).await?.map(|ms| ms / 1000),
            paused: producer.is_paused(queue).await?,
            finished_last_minute: producer.finished_last_minute(queue).await?,
        });
    }
    Ok(out)
}

/// How many jobs of a state a payload search looks at, and how many per read.
const SEARCH_SCAN: usize = 5_000;
const SEARCH_PAGE: usize = 500;

/// What a payload search looks for.
#[derive(Debug, PartialEq)]
enum Search {
    /// Text anywhere in the payload's JSON, any case.
    Text(String),
    /// A field of this name, at any depth, whose value (a string as it is, a number or boolean
    /// as written in JSON) equals this.
    Field(String, String),
}

impl Search {
    fn parse(q: &str) -> Self {
        match q.split_once('=') {
            Some((field, value)) if !field.trim().is_empty() && !field.contains(['"', ' ']) => {
                Search::Field(field.trim().to_owned(), value.trim().to_owned())
            }
            _ => Search::Text(q.to_lowercase()),
        }
    }

    fn matches(&self, payload: &serde_json::Value) -> bool {
        match self {
            Search::Text(text) => payload.to_string().to_lowercase().contains(text),
            Search::Field(field, value) => has_field(payload, field, value),
        }
    }
}

fn has_field(v: &serde_json::Value, field: &str, wanted: &str) -> bool {
    use serde_json::Value;
    match v {
        Value::Object(map) => map.iter().any(|(k, v)| {
            let equal = match v {
                Value::String(s) => s == wanted,
                Value::Number(_) | Value::Bool(_) => *v.to_string() == *wanted,
                _ => false,
            };
            (k == field && equal) || has_field(v, field, wanted)
        }),
        Value::Array(items) => items.iter().any(|i| has_field(i, field, wanted)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_searches_match_text_or_a_field_at_any_depth() {
        use super::Search;
        let payload = serde_json::json!({
            "discord_user_id": 42,
            "proof": {"kind": "forced", "by": 7},
            "message": {"text": "Welcome, Zoë"},
        });
        for (q, hit) in [
            ("welcome, zoë", true),
            ("WELCOME", true),
            ("goodbye", false),
            ("discord_user_id=42", true),
            ("discord_user_id=4", false),
            ("by=7", true),
            ("kind=forced", true),
            ("kind=Forced", false),
            ("proof=forced", false),
            ("=42", false),
        ] {
            assert_eq!(Search::parse(q).matches(&payload), hit, "{q}");
        }
        assert_eq!(Search::parse("a b=c"), Search::Text("a b=c".into()));
    }
}
