//! What Discord refuses before a REST request does anything, as Discord answers it:
//!
//! - no `Authorization: Bot <token>`, or another token: 401 (40001); interaction callbacks
//!   and webhooks are authorised by the token in their path instead;
//! - a body that is not JSON or `multipart/form-data` (`payload_json` + `files[n]`), or JSON
//!   that does not parse: 400 (50109);
//! - a body that does not match its operation's request schema in Discord's OpenAPI
//!   description (`schema`), or a `files[n]` with no `attachments[]` entry of id `n`: 400
//!   (50035 Invalid Form Body, with `errors`);
//!
//! and the rate-limit headers Discord puts on every answer (`X-RateLimit-*`), which serenity
//! reads to pace itself; and how every endpoint records a request, taken or refused.

use poem::http::{HeaderValue, StatusCode};
use poem::web::{Json, Multipart};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::{Value, json};

use super::{Recorded, Shared, TOKEN, schema};

/// A request's files: (field name, file name, bytes).
pub(super) type Files = Vec<(String, String, Vec<u8>)>;

/// A request Discord would take so far: its JSON (or `payload_json`) and its files.
pub(super) struct Incoming {
    pub(super) json: Value,
    pub(super) files: Files,
}

/// Checks `req` (whose operation the spec writes as `path`) against the rules above and
/// reads its body; a refusal is recorded with its code and is the answer to send.
pub(super) async fn admit(
    shared: &Shared,
    req: &Request,
    body: poem::Body,
    path: &str,
) -> Result<Incoming, Response> {
    let by_path_token = path.starts_with("/interactions/") || path.starts_with("/webhooks/");
    let authorised = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bot {TOKEN}"));
    let nothing = || Incoming {
        json: Value::Null,
        files: Vec::new(),
    };
    // Authorisation comes first: an unauthorised caller learns nothing about its body.
    if !by_path_token && !authorised {
        let incoming = read(req, body).await.unwrap_or_else(|_| nothing());
        return Err(refuse(
            shared,
            req,
            incoming,
            StatusCode::UNAUTHORIZED,
            40001,
            "401: Unauthorized",
        ));
    }
    let incoming = match read(req, body).await {
        Ok(incoming) => incoming,
        Err(why) => {
            let status = StatusCode::BAD_REQUEST;
            return Err(refuse(shared, req, nothing(), status, 50109, &why));
        }
    };
    let method = req.method().as_str();
    if let Some(expected) = schema::request(method, path, "application/json") {
        let mut errors = schema::validate(expected, &incoming.json);
        errors.extend(unmatched_files(&incoming));
        if !errors.is_empty() {
            tracing::warn!(path, ?errors, "fake Discord: Invalid Form Body (50035)");
            return Err(refuse_with(
                shared,
                req,
                incoming,
                50035,
                invalid_form(&errors),
            ));
        }
    }
    Ok(incoming)
}

/// Discord's 400 for a body that breaks its form's rules, each error under `errors`.
pub(super) fn invalid_form(errors: &[String]) -> Response {
    let listed: Vec<Value> = errors
        .iter()
        .map(|e| json!({ "code": "INVALID_FORM_BODY", "message": e }))
        .collect();
    let answer = json!({
        "code": 50035,
        "message": "Invalid Form Body",
        "errors": { "_errors": listed },
    });
    (StatusCode::BAD_REQUEST, Json(answer)).into_response()
}

/// Every `files[n]` must be described by an `attachments[]` entry whose `id` is `n`.
fn unmatched_files(incoming: &Incoming) -> Vec<String> {
    let ids: Vec<String> = incoming.json["attachments"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| match &a["id"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    incoming
        .files
        .iter()
        .filter_map(|(field, _, _)| {
            let n = field.strip_prefix("files[")?.strip_suffix(']')?;
            (!ids.iter().any(|id| id == n))
                .then(|| format!("{field}: no attachments[] entry has id {n}"))
        })
        .chain(
            incoming
                .files
                .iter()
                .filter(|(field, _, _)| !(field.starts_with("files[") && field.ends_with(']')))
                .map(|(field, _, _)| format!("{field}: not a files[n] field")),
        )
        .collect()
}

/// A JSON body, a multipart one (`payload_json` + `files[n]`), or none; `Err` says why
/// Discord could not read it.
async fn read(req: &Request, body: poem::Body) -> Result<Incoming, String> {
    let kind = req.content_type().unwrap_or("").to_owned();
    if kind.starts_with("multipart/form-data") {
        let mut json = Value::Null;
        let mut files = Vec::new();
        let mut multipart =
            <Multipart as poem::FromRequest>::from_request(req, &mut poem::RequestBody::new(body))
                .await
                .map_err(|e| format!("unreadable multipart body: {e}"))?;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| format!("unreadable multipart field: {e}"))?
        {
            let name = field.name().unwrap_or("").to_owned();
            let file_name = field.file_name().unwrap_or("").to_owned();
            let bytes = field.bytes().await.unwrap_or_default();
            if name == "payload_json" {
                json = serde_json::from_slice(&bytes)
                    .map_err(|_| "payload_json is not valid JSON".to_owned())?;
            } else {
                files.push((name, file_name, bytes));
            }
        }
        return Ok(Incoming { json, files });
    }
    let bytes = body.into_vec().await.unwrap_or_default();
    if bytes.is_empty() {
        return Ok(Incoming {
            json: Value::Null,
            files: Vec::new(),
        });
    }
    if !kind.starts_with("application/json") {
        return Err(format!(
            "the body is {kind:?}, not application/json or multipart/form-data"
        ));
    }
    let json = serde_json::from_slice(&bytes)
        .map_err(|_| "The request body contains invalid JSON.".to_owned())?;
    Ok(Incoming {
        json,
        files: Vec::new(),
    })
}

/// Discord's rate-limit headers on every answer: a bucket per route, five requests a second
/// (a 429 carries `Retry-After` and an empty bucket; see `rest::create_message`).
pub(super) async fn headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let bucket = format!("{:x}", bucket_of(req.uri().path()));
    let mut response = next.call(req).await?.into_response();
    let limited = response.status() == StatusCode::TOO_MANY_REQUESTS;
    let reset = chrono::Utc::now().timestamp_millis() as f64 / 1000.0 + 1.0;
    let set = |response: &mut Response, name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    };
    set(&mut response, "x-ratelimit-limit", "5".into());
    set(
        &mut response,
        "x-ratelimit-remaining",
        if limited { "0" } else { "4" }.into(),
    );
    set(&mut response, "x-ratelimit-reset", format!("{reset:.3}"));
    let after = if limited { "0.050" } else { "1.000" };
    set(&mut response, "x-ratelimit-reset-after", after.into());
    set(&mut response, "x-ratelimit-bucket", bucket);
    if limited {
        set(&mut response, "retry-after", "1".into());
        set(&mut response, "x-ratelimit-scope", "user".into());
        set(&mut response, "x-ratelimit-global", "false".into());
    }
    Ok(response)
}

/// A route's bucket: its path with the ids that do not pick a bucket (anything but the
/// channel, guild or webhook) left out.
fn bucket_of(path: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (i, part) in path.split('/').enumerate() {
        if i > 4 && part.bytes().all(|b| b.is_ascii_digit()) {
            "{id}".hash(&mut hasher);
        } else {
            part.hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// One of Discord's JSON errors (`code` is Discord's, not HTTP's).
pub(super) fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

/// The answer to a message the fake accepted: the message object Discord returns (message
/// `id` in `channel`), the request recorded (`duplicate`: a nonce's repeat).
pub(super) fn posted(
    shared: &Shared,
    req: &Request,
    incoming: Incoming,
    id: u64,
    channel: u64,
    duplicate: bool,
) -> Response {
    let response =
        super::json::posted_message_json(id, &channel.to_string(), &incoming.json, &incoming.files);
    record(shared, req, incoming.json, incoming.files, duplicate);
    Json(response).into_response()
}

/// Records a request (its path without `/api/v10`) and wakes whoever waits on requests.
pub(super) fn record(
    shared: &Shared,
    req: &Request,
    body: Value,
    files: Vec<(String, String, Vec<u8>)>,
    duplicate: bool,
) {
    record_as(shared, req, body, files, duplicate, None);
}

/// Records a request the fake refused as Discord would, with the code it answered.
fn record_refused(
    shared: &Shared,
    req: &Request,
    body: Value,
    files: Vec<(String, String, Vec<u8>)>,
    code: u32,
) {
    record_as(shared, req, body, files, false, Some(code));
}

fn record_as(
    shared: &Shared,
    req: &Request,
    body: Value,
    files: Vec<(String, String, Vec<u8>)>,
    duplicate: bool,
    refused: Option<u32>,
) {
    let path = req
        .uri()
        .path()
        .strip_prefix("/api/v10")
        .unwrap_or(req.uri().path())
        .to_owned();
    if let Ok(mut s) = shared.state.lock() {
        s.requests.push(Recorded {
            method: req.method().to_string(),
            path,
            body,
            files,
            duplicate,
            refused,
        });
    }
    shared.notify.notify_waiters();
}

/// Refuses a request as Discord would, recording it with the code: Discord's error `code`
/// with `status` and `message`.
pub(super) fn refuse(
    shared: &Shared,
    req: &Request,
    incoming: Incoming,
    status: StatusCode,
    code: u32,
    message: &str,
) -> Response {
    refuse_with(shared, req, incoming, code, error(status, code, message))
}

/// [`refuse`], answering `answer` (Discord's own body for that refusal).
pub(super) fn refuse_with(
    shared: &Shared,
    req: &Request,
    incoming: Incoming,
    code: u32,
    answer: Response,
) -> Response {
    record_refused(shared, req, incoming.json, incoming.files, code);
    answer
}

/// Refuses a request that names something that does not exist (404 `Unknown …`).
pub(super) fn unknown(
    shared: &Shared,
    req: &Request,
    incoming: Incoming,
    code: u32,
    what: &str,
) -> Response {
    let message = format!("Unknown {what}");
    refuse(shared, req, incoming, StatusCode::NOT_FOUND, code, &message)
}
