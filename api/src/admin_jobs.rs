//! The job dashboard's API, admin only (`x-api-key`, an admin API token or an admin's JWT):
//! queues with their sizes, workers and pause state; jobs per state; one job with its payload
//! (secrets redacted), attempts, error, timings and result; and actions: retry, discard,
//! replay the dead-letter set (one or in bulk), pause and resume a queue.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};

use jobs::{JobId, JobState};

use crate::AppState;
use crate::auth::AdminAuth;
use crate::error::{ErrorBody, body, internal};

#[derive(Debug, Tags)]
enum AdminTags {
    /// Job dashboard: queues, jobs and actions (admin)
    Jobs,
}

#[derive(Debug)]
pub struct AdminJobsApi;

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
    /// Age of the oldest unfinished job, in seconds.
    pub oldest_age_seconds: u64,
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
pub(crate) fn redact(value: serde_json::Value) -> serde_json::Value {
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

#[derive(Debug, ApiResponse)]
pub enum WorkersResult {
    #[oai(status = 200)]
    Ok(Json<Vec<WorkerView>>),
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
}

/// Queue summaries as server-sent events.
pub type QueueEvents =
    poem_openapi::payload::EventStream<futures::stream::BoxStream<'static, Vec<QueueSummary>>>;

#[derive(ApiResponse)]
pub enum EventsResult {
    /// `data: [QueueSummary…]` every two seconds.
    #[oai(status = 200)]
    Ok(QueueEvents),
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
}

impl std::fmt::Debug for EventsResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventsResult")
    }
}

#[derive(Debug, Object)]
pub struct Replayed {
    /// The ids put back into their queue.
    pub replayed: Vec<String>,
}

#[derive(Debug, ApiResponse)]
pub enum QueuesResult {
    #[oai(status = 200)]
    Ok(Json<Vec<QueueSummary>>),
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
}

#[derive(Debug, ApiResponse)]
pub enum JobsResult {
    #[oai(status = 200)]
    Ok(Json<Vec<JobView>>),
    /// A parameter is invalid (`invalid_request`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such queue (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
}

#[derive(Debug, ApiResponse)]
pub enum JobResult {
    #[oai(status = 200)]
    Ok(Json<Box<JobView>>),
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such queue or job (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
}

#[derive(Debug, ApiResponse)]
pub enum ActionResult {
    /// Done.
    #[oai(status = 204)]
    Done,
    /// A parameter is invalid (`invalid_request`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such queue or job (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The job is not in a state that allows it (`conflict`): only failed or dead jobs are
    /// retried, running ones cannot be discarded.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
}

#[derive(Debug, ApiResponse)]
pub enum ReplayResult {
    #[oai(status = 200)]
    Ok(Json<Replayed>),
    /// A parameter is invalid (`invalid_request`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such queue (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
}

fn known(queue: &str) -> bool {
    jobs::QUEUES.contains(&queue)
}

fn no_queue() -> Json<ErrorBody> {
    body("not_found", "no such queue")
}

#[OpenApi(prefix_path = "/admin", tag = "AdminTags::Jobs")]
impl AdminJobsApi {
    /// Every queue with its sizes, oldest job age and pause state.
    #[oai(path = "/queues", method = "get", operation_id = "admin_queues")]
    async fn queues(&self, state: Data<&AppState>, _auth: AdminAuth) -> poem::Result<QueuesResult> {
        let out = summaries(state.producer()).await.map_err(internal)?;
        Ok(QueuesResult::Ok(Json(out)))
    }

    /// Live workers of every queue (heartbeat within two leases).
    #[oai(path = "/workers", method = "get", operation_id = "admin_workers")]
    async fn workers(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> poem::Result<WorkersResult> {
        let lease = jobs::QueueConfig::default().lease;
        let mut out = Vec::new();
        for queue in jobs::QUEUES {
            for w in state
                .producer()
                .workers(queue, lease)
                .await
                .map_err(internal)?
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

    /// Queue sizes every two seconds, as server-sent events (`data: [QueueSummary…]`), for
    /// live charts. Send the admin credentials as headers (read it with `fetch`, not
    /// `EventSource`, which cannot send them).
    #[oai(path = "/events", method = "get", operation_id = "admin_events")]
    async fn events(&self, state: Data<&AppState>, _auth: AdminAuth) -> EventsResult {
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

    /// Jobs of a queue in one state (default: waiting), newest finished first.
    #[oai(
        path = "/queues/:queue/jobs",
        method = "get",
        operation_id = "admin_jobs"
    )]
    // poem-openapi takes each query parameter as an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn jobs(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        queue: Path<String>,
        #[oai(name = "state")] filter: Query<Option<StateFilter>>,
        /// At most 500.
        #[oai(default = "default_limit")]
        limit: Query<u32>,
        #[oai(default)] offset: Query<u32>,
        /// Only jobs whose payload (secrets redacted) contains this text (any case), or, written
        /// `field=value`, has a field of that name at any depth with that value. Looks at the
        /// first 5,000 jobs of the state in listing order (oldest first for waiting and
        /// running, newest first for the others); `offset` and `limit` count matches.
        q: Query<Option<String>>,
    ) -> poem::Result<JobsResult> {
        if !known(&queue) {
            return Ok(JobsResult::NotFound(no_queue()));
        }
        if limit.0 == 0 || limit.0 > 500 {
            return Ok(JobsResult::BadRequest(body(
                "invalid_request",
                "limit is 1 to 500",
            )));
        }
        let job_state = match filter.0 {
            None | Some(StateFilter::Waiting) => None,
            Some(StateFilter::Running) => Some(JobState::Running),
            Some(StateFilter::Scheduled) => Some(JobState::Scheduled),
            Some(StateFilter::Retrying) => Some(JobState::Retrying),
            Some(StateFilter::Done) => Some(JobState::Done),
            Some(StateFilter::Dead) => Some(JobState::Dead),
        };
        let (offset, limit) = (offset.0 as usize, limit.0 as usize);
        let search = q.0.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let Some(search) = search else {
            let list = state
                .producer()
                .list(&queue, job_state, offset, limit)
                .await
                .map_err(internal)?;
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
                .list(&queue, job_state, scanned, SEARCH_PAGE)
                .await
                .map_err(internal)?;
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

    /// One job: payload (secrets redacted), attempts, error, timings, result.
    #[oai(
        path = "/queues/:queue/jobs/:id",
        method = "get",
        operation_id = "admin_job"
    )]
    async fn job(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        queue: Path<String>,
        id: Path<String>,
    ) -> poem::Result<JobResult> {
        if !known(&queue) {
            return Ok(JobResult::NotFound(no_queue()));
        }
        match state
            .producer()
            .status(&queue, &JobId::from(id.as_str()))
            .await
            .map_err(internal)?
        {
            Some(status) => Ok(JobResult::Ok(Json(Box::new(status.into())))),
            None => Ok(JobResult::NotFound(body("not_found", "no such job"))),
        }
    }

    /// Run a failed or dead job again, with a fresh attempt budget.
    #[oai(
        path = "/queues/:queue/jobs/:id/retry",
        method = "post",
        operation_id = "admin_retry_job"
    )]
    async fn retry(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
        id: Path<String>,
    ) -> poem::Result<ActionResult> {
        if !known(&queue) {
            return Ok(ActionResult::NotFound(no_queue()));
        }
        let id = JobId::from(id.as_str());
        let Some(status) = state
            .producer()
            .status(&queue, &id)
            .await
            .map_err(internal)?
        else {
            return Ok(ActionResult::NotFound(body("not_found", "no such job")));
        };
        if !matches!(status.state, JobState::Failed | JobState::Dead) {
            return Ok(ActionResult::Conflict(body(
                "conflict",
                format!(
                    "the job is {}; only failed or dead jobs are retried",
                    status.state.as_str()
                ),
            )));
        }
        state
            .producer()
            .replay_dead(&queue, std::slice::from_ref(&id), 1)
            .await
            .map_err(internal)?;
        audit(&state, &auth, "job_retried", &queue, id.as_str()).await?;
        Ok(ActionResult::Done)
    }

    /// Delete a job that is not running.
    #[oai(
        path = "/queues/:queue/jobs/:id",
        method = "delete",
        operation_id = "admin_discard_job"
    )]
    async fn discard(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
        id: Path<String>,
    ) -> poem::Result<ActionResult> {
        if !known(&queue) {
            return Ok(ActionResult::NotFound(no_queue()));
        }
        let id = JobId::from(id.as_str());
        let Some(status) = state
            .producer()
            .status(&queue, &id)
            .await
            .map_err(internal)?
        else {
            return Ok(ActionResult::NotFound(body("not_found", "no such job")));
        };
        if status.state == JobState::Running {
            return Ok(ActionResult::Conflict(body(
                "conflict",
                "a running job cannot be discarded",
            )));
        }
        state
            .producer()
            .discard(&queue, &id)
            .await
            .map_err(internal)?;
        audit(&state, &auth, "job_discarded", &queue, id.as_str()).await?;
        Ok(ActionResult::Done)
    }

    /// Replay the dead-letter set: the oldest `limit` jobs (default 100, at most 10,000).
    #[oai(
        path = "/queues/:queue/replay-dead",
        method = "post",
        operation_id = "admin_replay_dead"
    )]
    async fn replay_dead(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
        #[oai(default = "default_replay")] limit: Query<u32>,
    ) -> poem::Result<ReplayResult> {
        if !known(&queue) {
            return Ok(ReplayResult::NotFound(no_queue()));
        }
        if limit.0 == 0 || limit.0 > 10_000 {
            return Ok(ReplayResult::BadRequest(body(
                "invalid_request",
                "limit is 1 to 10000",
            )));
        }
        let replayed = state
            .producer()
            .replay_dead(&queue, &[], limit.0 as usize)
            .await
            .map_err(internal)?;
        audit(
            &state,
            &auth,
            "dead_replayed",
            &queue,
            &replayed.len().to_string(),
        )
        .await?;
        Ok(ReplayResult::Ok(Json(Replayed {
            replayed: replayed.into_iter().map(|id| id.to_string()).collect(),
        })))
    }

    /// Stop workers from claiming this queue's jobs (running ones finish).
    #[oai(
        path = "/queues/:queue/pause",
        method = "post",
        operation_id = "admin_pause_queue"
    )]
    async fn pause(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
    ) -> poem::Result<ActionResult> {
        if !known(&queue) {
            return Ok(ActionResult::NotFound(no_queue()));
        }
        state.producer().pause(&queue).await.map_err(internal)?;
        audit(&state, &auth, "queue_paused", &queue, "").await?;
        Ok(ActionResult::Done)
    }

    /// Let workers claim this queue's jobs again.
    #[oai(
        path = "/queues/:queue/resume",
        method = "post",
        operation_id = "admin_resume_queue"
    )]
    async fn resume(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
    ) -> poem::Result<ActionResult> {
        if !known(&queue) {
            return Ok(ActionResult::NotFound(no_queue()));
        }
        state.producer().resume(&queue).await.map_err(internal)?;
        audit(&state, &auth, "queue_resumed", &queue, "").await?;
        Ok(ActionResult::Done)
    }
}

async fn summaries(producer: &jobs::Producer) -> Result<Vec<QueueSummary>, jobs::QueueError> {
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

fn default_limit() -> u32 {
    50
}

fn default_replay() -> u32 {
    100
}

async fn audit(
    state: &AppState,
    auth: &AdminAuth,
    action: &str,
    queue: &str,
    detail: &str,
) -> poem::Result<()> {
    state
        .audit(
            &auth.admin().actor,
            action,
            Some(&format!("queue:{queue}")),
            serde_json::json!({ "detail": detail }),
        )
        .await
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
