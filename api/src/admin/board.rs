//! apalis-board's prebuilt web UI (the `apalis-board-api` crate's embedded Leptos/wasm build)
//! and the `/api/v1` JSON it reads, computed by apalis-board's own functions over the
//! apalis-core listing and metrics traits our Redis backend implements ([`jobs::redis::QueueView`]).
//!
//! The UI loads its files and its API from absolute paths (`/`, `/api/v1`), so it gets a port
//! of its own (`BOARD_PORT`), served by the API process. Everything on that port, files
//! included, takes HTTP Basic authentication whose password is an admin credential (the admin
//! key, an admin API token or an admin's JWT; any user name): the browser asks once and sends
//! it with every request the UI makes, event stream included. Payloads are redacted as on
//! `/api/admin`. The UI reads only; the actions it lacks (retry, discard, replay, pause) are
//! the `/api/admin` endpoints and the `/dashboard` page of the main port.

use std::sync::Arc;
use std::time::Duration;

use apalis_board_api::RawTask;
use apalis_board_api::ui::ServeUI;
use apalis_board_types::{ApiError, Entry, EntryType, LogEntry, LogLevel, ResultEntry, Span};
use apalis_core::backend::Filter;
use apalis_core::task::Task;
use apalis_core::task::status::Status;
use futures::StreamExt;
use jobs::redis::QueueView;
use jobs::{JobId, JobState};
use poem::http::{HeaderValue, StatusCode, header};
use poem::web::sse::{Event, SSE};
use poem::web::{Data, Path, Query};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::views::redact;
use crate::state::AppState;

/// The realm browsers show when they ask for the credentials.
const REALM: &str = "Concierge job board (password: admin key or token)";

/// A page of tasks is at most this long, whatever the UI asks for.
const MAX_PAGE_SIZE: u32 = 100;

/// The board: UI files and `/api/v1`, behind Basic authentication.
pub fn board(state: AppState) -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/api/v1/queues", get(queues))
        .at("/api/v1/overview", get(overview))
        .at("/api/v1/workers", get(all_workers))
        .at("/api/v1/tasks", get(all_tasks))
        .at("/api/v1/events", get(events))
        .at("/api/v1/queues/:queue/tasks", get(queue_tasks))
        .at("/api/v1/queues/:queue/tasks/:id", get(one_task))
        .at("/api/v1/queues/:queue/stats", get(queue_stats))
        .at("/api/v1/queues/:queue/workers", get(queue_workers))
        .at("/api/v1/*rest", no_endpoint)
        .at("/", get(ui))
        .at("/*path", get(ui))
        .around(basic_auth)
        .with(crate::middleware::Throttle)
        .data(state)
        .map_to_response()
}

#[handler]
fn no_endpoint() -> Response {
    failure(StatusCode::NOT_FOUND, "no such endpoint")
}

/// Every request proves an admin credential as the Basic-auth password; the answer to one
/// that does not asks the browser for it.
async fn basic_auth<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let password = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_password);
    // Any refusal asks again (a browser prompts only on 401): a user who typed a non-admin
    // token gets the prompt back, not a dead end.
    let refused = || {
        let mut resp = failure(StatusCode::UNAUTHORIZED, "admin credentials required");
        if let Ok(value) =
            HeaderValue::from_str(&format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""))
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        Ok(resp)
    };
    let Some(password) = password else {
        return refused();
    };
    match crate::auth::admin_secret(&req, &password).await {
        Ok(_) => Ok(next.call(req).await?.into_response()),
        Err(e) if e.status() == StatusCode::SERVICE_UNAVAILABLE => {
            Ok(failure(e.status(), "cannot check credentials right now"))
        }
        // Too many failures from this address: wait, whatever is typed (no prompt).
        Err(e) if e.status() == StatusCode::TOO_MANY_REQUESTS => {
            Ok(crate::error::into_json_error(e))
        }
        Err(_) => refused(),
    }
}

/// The password of `Basic base64(user:password)`.
fn basic_password(value: &str) -> Option<String> {
    use base64::Engine;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

/// A file of the UI, or its `index.html` for the UI's own routes (`/queues/email`, ...).
#[handler]
fn ui(req: &Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    // A missing asset is a 404; any other path is one of the UI's own routes (a queue name
    // may contain a dot) and gets the page.
    let asset = [".js", ".css", ".wasm", ".ico", ".png", ".svg", ".map"]
        .iter()
        .any(|ext| path.ends_with(ext));
    let file = match ServeUI::get_file(path) {
        Some(file) => Some(file),
        None if asset => None,
        None => ServeUI::get_file("index.html"),
    };
    // Looked up again by its own (static) name, the file's bytes are static too: no copy.
    let file = file
        .and_then(|f| f.path().to_str())
        .and_then(ServeUI::get_file);
    match file {
        Some(file) => {
            let name = file.path().to_string_lossy();
            let mut resp = Response::builder()
                .content_type(ServeUI::content_type(&name))
                .body(file.contents());
            if let Some(cache) = ServeUI::cache_control(&name) {
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            }
            resp
        }
        None => failure(StatusCode::NOT_FOUND, "no such file"),
    }
}

/// A request the board refuses: answered in apalis-board's error shape.
#[derive(Debug)]
struct Refusal(StatusCode, &'static str);

impl From<Refusal> for Response {
    fn from(Refusal(status, message): Refusal) -> Self {
        failure(status, message)
    }
}

/// Handlers return `poem::Result`, so a refusal ends them with `?`, answered as above.
impl From<Refusal> for poem::Error {
    fn from(refusal: Refusal) -> Self {
        poem::Error::from_response(refusal.into())
    }
}

/// apalis-board's error shape: `{"type": "BackendError", "message": …}`.
fn failure(status: StatusCode, message: &str) -> Response {
    json_with(status, &ApiError::BackendError(message.to_owned()))
}

fn json<T: Serialize>(value: &T) -> Response {
    json_with(StatusCode::OK, value)
}

fn json_with<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::builder()
            .status(status)
            .content_type("application/json")
            .body(body),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A backend failure: logged, answered without detail.
fn backend_failure(e: impl std::fmt::Display) -> Refusal {
    tracing::error!(error = %e, "job board query failed");
    Refusal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the queue backend failed",
    )
}

/// What one of apalis-board's functions answered, as JSON.
fn reply<T: Serialize>(answer: Result<T, ApiError>) -> poem::Result<Response> {
    Ok(json(&answer.map_err(backend_failure)?))
}

fn shared(view: QueueView) -> Arc<RwLock<QueueView>> {
    Arc::new(RwLock::new(view))
}

/// Any queue's view: the listings of all queues do not depend on which one.
fn any_queue(state: &AppState) -> Arc<RwLock<QueueView>> {
    shared(QueueView::view(state.producer(), jobs::QUEUES[0]))
}

/// The view of a queue this deployment knows.
async fn known_queue(state: &AppState, queue: &str) -> Result<Arc<RwLock<QueueView>>, Refusal> {
    match state.producer().queues().await {
        Ok(names) if names.iter().any(|n| n == queue) => {
            Ok(shared(QueueView::view(state.producer(), queue)))
        }
        Ok(_) => Err(Refusal(StatusCode::NOT_FOUND, "no such queue")),
        Err(e) => Err(backend_failure(e)),
    }
}

#[handler]
async fn queues(state: Data<&AppState>) -> poem::Result<Response> {
    reply(apalis_board_api::fetch_queues(any_queue(&state)).await)
}

#[handler]
async fn overview(state: Data<&AppState>) -> poem::Result<Response> {
    reply(apalis_board_api::overview(any_queue(&state)).await)
}

#[handler]
async fn all_workers(state: Data<&AppState>) -> poem::Result<Response> {
    reply(apalis_board_api::get_all_workers(any_queue(&state)).await)
}

#[handler]
async fn queue_workers(
    state: Data<&AppState>,
    Path(queue): Path<String>,
) -> poem::Result<Response> {
    reply(apalis_board_api::get_workers(known_queue(&state, &queue).await?).await)
}

#[handler]
async fn queue_stats(state: Data<&AppState>, Path(queue): Path<String>) -> poem::Result<Response> {
    reply(apalis_board_api::stats_by_queue(known_queue(&state, &queue).await?).await)
}

/// The UI's task filter. It always sends `status` (possibly empty) and sometimes `queue` and
/// `sort`, which a listing of one queue does not need.
#[derive(Debug, Deserialize)]
struct TaskQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    page_size: Option<u32>,
}

impl TaskQuery {
    fn filter(&self) -> Result<Filter, Refusal> {
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(text.parse::<Status>().map_err(|_| {
                Refusal(
                    StatusCode::BAD_REQUEST,
                    "status must be one of Pending, Queued, Running, Done, Failed, Killed",
                )
            })?),
        };
        Ok(Filter {
            status,
            page: self.page.unwrap_or(1).max(1),
            page_size: Some(self.page_size.unwrap_or(15).clamp(1, MAX_PAGE_SIZE)),
        })
    }
}

/// Tasks as the UI reads them, payloads redacted.
fn redacted(tasks: Vec<Task<serde_json::Value>>) -> Vec<RawTask<serde_json::Value>> {
    tasks
        .into_iter()
        .map(|task| RawTask(task.map_args(redact)))
        .collect()
}

#[handler]
async fn queue_tasks(
    state: Data<&AppState>,
    Path(queue): Path<String>,
    Query(query): Query<TaskQuery>,
) -> poem::Result<Response> {
    let filter = query.filter()?;
    let view = known_queue(&state, &queue).await?;
    let tasks = apalis_board_api::get_tasks::<_, serde_json::Value>(view, filter)
        .await
        .map_err(backend_failure)?;
    Ok(json(&redacted(tasks)))
}

#[handler]
async fn all_tasks(
    state: Data<&AppState>,
    Query(query): Query<TaskQuery>,
) -> poem::Result<Response> {
    let filter = query.filter()?;
    let tasks = apalis_board_api::get_all_tasks(any_queue(&state), filter)
        .await
        .map_err(backend_failure)?;
    // The listing across queues keeps payloads as stored bytes: decode them for the UI.
    let decoded: Vec<Task<serde_json::Value>> = tasks
        .into_iter()
        .map(|task| task.map_args(|bytes| serde_json::from_slice(&bytes).unwrap_or_default()))
        .collect();
    Ok(json(&redacted(decoded)))
}

#[handler]
async fn one_task(
    state: Data<&AppState>,
    Path((queue, id)): Path<(String, String)>,
) -> poem::Result<Response> {
    let no_task = Refusal(StatusCode::NOT_FOUND, "no such task");
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(no_task.into());
    }
    let view = known_queue(&state, &queue).await?;
    let task = apalis_board_api::get_task_by_id::<_, serde_json::Value>(id, view)
        .await
        .map_err(backend_failure)?
        .ok_or(no_task)?;
    Ok(json(&RawTask(task.map_args(redact))))
}

/// The board's log stream: one entry per job that finishes, in any queue (from the queues'
/// result announcements), so task pages refresh and the logs page shows outcomes. It opens
/// with a `retry:` line once subscribed; comments keep it alive through proxies.
#[handler]
async fn events(state: Data<&AppState>) -> Response {
    let producer = state.producer().clone();
    let finished = {
        let producer = producer.clone();
        async move { producer.finished_announcements().await.ok() }
    };
    let stream = futures::stream::once(finished).flat_map(move |messages| {
        let Some(messages) = messages else {
            tracing::warn!("job board events: cannot subscribe to job results");
            return futures::stream::empty().boxed();
        };
        let producer = producer.clone();
        // One announcement names every job one settle call finished, separated by spaces; a
        // done job of a queue that keeps no results has no hash left, and is shown as done.
        let entries = messages
            .then(move |(queue, ids)| {
                let producer = producer.clone();
                async move {
                    let mut events = Vec::new();
                    for id in ids.split(' ').filter(|id| !id.is_empty()) {
                        let id = JobId(id.to_owned());
                        let status = match producer.recorded_status(&queue, &id).await {
                            Ok(Some(status)) => status,
                            Ok(None) => jobs::JobStatus::done_without_result(&queue, &id),
                            Err(_) => continue,
                        };
                        if let Ok(text) = serde_json::to_string(&finished_entry(&status)) {
                            events.push(Event::message(text));
                        }
                    }
                    events
                }
            })
            .flat_map(futures::stream::iter);
        // First, once subscribed: the reconnection delay (this also tells a client that
        // every job finishing from now on will be announced).
        futures::stream::once(async { Event::retry(3000) })
            .chain(entries)
            .boxed()
    });
    SSE::new(stream)
        .keep_alive(Duration::from_secs(15))
        .into_response()
}

/// A finished job as the board's log entry: its message names the outcome (`task.done`,
/// `task.failed`, `task.dead`); the UI refreshes a task's page on `task.` messages.
fn finished_entry(status: &jobs::JobStatus) -> LogEntry {
    let level = match status.state {
        JobState::Done => LogLevel::Info,
        _ => LogLevel::Error,
    };
    let took = match (status.started_at_ms, status.finished_at_ms) {
        (Some(start), Some(end)) => format!("{}ms", end.saturating_sub(start)),
        _ => String::new(),
    };
    let result = match status.state {
        JobState::Done => "ok".to_owned(),
        _ => status.error.clone().unwrap_or_default(),
    };
    LogEntry {
        span: Some(Span {
            attempt: i64::from(status.attempts),
            task_id: status.id.to_string(),
            name: status.queue.clone(),
        }),
        level,
        timestamp: chrono::Utc::now().to_rfc3339(),
        target: format!("concierge::{}", status.queue),
        entry: Entry {
            message: Some(format!("task.{}", status.state.as_str())),
            entry_type: Some(EntryType::Result(ResultEntry {
                done_in: took,
                result,
            })),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::basic_password;

    #[test]
    fn basic_credentials_give_their_password() {
        // "admin:s3cret:with:colons"
        assert_eq!(
            basic_password("Basic YWRtaW46czNjcmV0OndpdGg6Y29sb25z").as_deref(),
            Some("s3cret:with:colons")
        );
        assert_eq!(basic_password("basic OnBhc3M=").as_deref(), Some("pass"));
        for bad in [
            "Bearer abc",
            "Basic !!!",
            "Basic YWRtaW4=",
            "Basic YWRtaW46",
            "",
        ] {
            assert_eq!(basic_password(bad), None, "{bad}");
        }
    }
}
