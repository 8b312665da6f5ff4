//! The REST endpoints under `/api/v10`, as serenity calls them, with Discord's status codes
//! and error bodies; every request is recorded (and wakes the tests waiting on it).

use poem::http::StatusCode;
use poem::web::{Data, Json, Multipart, Path};
use poem::{IntoResponse, Request, Response, Route, get, handler, post, put};
use serde_json::{Value, json};

use super::json::{
    TIMESTAMP, bot_user_json, member_json, posted_message_json, roles_json, user_json,
};
use super::{APPLICATION_ID, DM_CHANNELS, FakeDiscord, GENERAL_CHANNEL, Recorded, Shared};

/// The REST routes (the gateway's WebSocket route is added beside them).
pub(super) fn routes() -> Route {
    Route::new()
        .at("/api/v10/gateway", get(gateway_url))
        .at("/api/v10/users/@me", get(current_user))
        .at("/api/v10/applications/@me", get(current_application))
        .at("/api/v10/oauth2/applications/@me", get(current_application))
        .at("/api/v10/users/@me/channels", post(create_dm))
        .at("/api/v10/channels/:channel/messages", post(create_message))
        .at("/api/v10/channels/:channel/typing", post(no_content))
        .at("/api/v10/guilds/:guild/roles", get(roles))
        .at(
            "/api/v10/guilds/:guild/members/:user/roles/:role",
            put(add_role).delete(no_content),
        )
        .at(
            "/api/v10/guilds/:guild/members/:user",
            get(get_member).delete(kick),
        )
        .at("/api/v10/interactions/:id/:token/callback", post(callback))
        .at(
            "/api/v10/webhooks/:app/:token/messages/@original",
            poem::patch(edit_original),
        )
        .at("/api/v10/applications/:app/commands", put(commands))
}

/// One of Discord's JSON errors (`code` is Discord's, not HTTP's).
fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

/// Records a request (its path without `/api/v10`) and wakes whoever waits on requests.
fn record(
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

/// A JSON body or a multipart one (`payload_json` + `files[n]`).
async fn read_body(req: &Request, body: poem::Body) -> (Value, Vec<(String, String, Vec<u8>)>) {
    let is_multipart = req
        .content_type()
        .is_some_and(|c| c.starts_with("multipart/form-data"));
    if !is_multipart {
        let bytes = body.into_vec().await.unwrap_or_default();
        return (
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Vec::new(),
        );
    }
    let mut json_body = Value::Null;
    let mut files = Vec::new();
    let Ok(mut multipart) =
        <Multipart as poem::FromRequest>::from_request(req, &mut poem::RequestBody::new(body))
            .await
    else {
        return (Value::Null, files);
    };
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().unwrap_or("").to_owned();
        let bytes = field.bytes().await.unwrap_or_default();
        if name == "payload_json" {
            json_body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        } else {
            files.push((name, file_name, bytes));
        }
    }
    (json_body, files)
}

#[handler]
fn gateway_url(shared: Data<&Shared>) -> Json<Value> {
    Json(json!({ "url": shared.ws_url.get() }))
}

#[handler]
fn no_content(req: &Request, shared: Data<&Shared>) -> StatusCode {
    record(&shared, req, Value::Null, Vec::new(), false);
    StatusCode::NO_CONTENT
}

/// The application of the bot's token: `GET /applications/@me`, and the older
/// `/oauth2/applications/@me` serenity's `get_current_application_info` asks.
#[handler]
fn current_application(req: &Request, shared: Data<&Shared>) -> Json<Value> {
    record(&shared, req, Value::Null, Vec::new(), false);
    Json(json!({
        "id": APPLICATION_ID.to_string(), "name": "Concierge", "icon": null,
        "description": "", "bot_public": false, "bot_require_code_grant": false,
        "verify_key": "0".repeat(64), "team": null, "owner": bot_user_json(),
        "flags": 0,
    }))
}

#[handler]
fn current_user(req: &Request, shared: Data<&Shared>) -> Json<Value> {
    record(&shared, req, Value::Null, Vec::new(), false);
    Json(bot_user_json())
}

#[handler]
async fn callback(req: &Request, body: poem::Body, shared: Data<&Shared>) -> StatusCode {
    let (json_body, files) = read_body(req, body).await;
    record(&shared, req, json_body, files, false);
    StatusCode::NO_CONTENT
}

#[handler]
async fn create_dm(req: &Request, body: poem::Body, shared: Data<&Shared>) -> Response {
    let (json_body, _) = read_body(req, body).await;
    record(&shared, req, json_body.clone(), Vec::new(), false);
    let user: u64 = json_body["recipient_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    Json(json!({
        "id": FakeDiscord::dm_channel(user).to_string(), "type": 1, "last_message_id": null,
        "recipients": [user_json(user)],
    }))
    .into_response()
}

/// The most characters a message's `content` may have.
const MESSAGE_CONTENT_LIMIT: usize = 2000;

/// Why Discord refuses to create a message, as it answers: the code and the 400 it sends.
#[derive(Debug)]
struct Refusal(u32, Response);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.1
    }
}

/// Discord's documented refusals of a message body: nothing to show (50006: no content,
/// file, embed, sticker or poll), or content over 2,000 characters (50035, with the field's
/// error as Discord nests it).
fn refused_message(body: &Value, files: &[(String, String, Vec<u8>)]) -> Option<Refusal> {
    let content = body["content"].as_str().unwrap_or("");
    let listed = |field: &str| body[field].as_array().is_some_and(|a| !a.is_empty());
    let empty = content.is_empty()
        && files.is_empty()
        && !listed("embeds")
        && !listed("sticker_ids")
        && body["poll"].is_null();
    if empty {
        return Some(Refusal(
            50006,
            error(
                StatusCode::BAD_REQUEST,
                50006,
                "Cannot send an empty message",
            ),
        ));
    }
    if content.chars().count() > MESSAGE_CONTENT_LIMIT {
        let answer = json!({
            "code": 50035,
            "message": "Invalid Form Body",
            "errors": { "content": { "_errors": [{
                "code": "BASE_TYPE_MAX_LENGTH",
                "message": "Must be 2000 or fewer in length.",
            }]}},
        });
        return Some(Refusal(
            50035,
            (StatusCode::BAD_REQUEST, Json(answer)).into_response(),
        ));
    }
    None
}

#[handler]
async fn create_message(
    req: &Request,
    Path(channel): Path<String>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let (json_body, files) = read_body(req, body).await;
    if let Some(refusal) = refused_message(&json_body, &files) {
        record_refused(&shared, req, json_body, files, refusal.0);
        return refusal.into_response();
    }
    let closed = channel
        .parse::<u64>()
        .ok()
        .and_then(|c| c.checked_sub(DM_CHANNELS))
        .is_some_and(|user| {
            shared
                .state
                .lock()
                .is_ok_and(|s| s.closed_dms.contains(&user))
        });
    if closed {
        record(&shared, req, json_body, files, false);
        return error(
            StatusCode::FORBIDDEN,
            50007,
            "Cannot send messages to this user",
        );
    }
    let limited = shared.state.lock().is_ok_and(|mut s| {
        let hit = s.rate_limited_posts > 0;
        s.rate_limited_posts = s.rate_limited_posts.saturating_sub(1);
        hit
    });
    if limited {
        record(&shared, req, json_body, files, true);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(
                json!({ "message": "You are being rate limited.", "retry_after": 0.05,
                         "global": false, "code": 0 }),
            ),
        )
            .into_response();
    }
    let nonce = json_body["nonce"].as_str().map(str::to_owned);
    let enforce = json_body["enforce_nonce"].as_bool() == Some(true);
    let (id, duplicate) = {
        let mut s = shared.state.lock().expect("state");
        match nonce.filter(|_| enforce) {
            Some(n) => match s.nonces.get(&(channel.clone(), n.clone())) {
                Some(id) => (*id, true),
                None => {
                    let id = s.next_id();
                    s.nonces.insert((channel.clone(), n), id);
                    (id, false)
                }
            },
            None => (s.next_id(), false),
        }
    };
    let response = posted_message_json(id, &channel, &json_body, &files);
    record(&shared, req, json_body, files, duplicate);
    Json(response).into_response()
}

#[handler]
fn roles(req: &Request, shared: Data<&Shared>) -> Json<Value> {
    record(&shared, req, Value::Null, Vec::new(), false);
    Json(roles_json())
}

#[handler]
fn add_role(req: &Request, shared: Data<&Shared>) -> Response {
    record(&shared, req, Value::Null, Vec::new(), false);
    if shared.state.lock().is_ok_and(|s| s.forbid_roles) {
        return error(StatusCode::FORBIDDEN, 50013, "Missing Permissions");
    }
    StatusCode::NO_CONTENT.into_response()
}

#[handler]
fn get_member(
    req: &Request,
    Path((_, user)): Path<(String, u64)>,
    shared: Data<&Shared>,
) -> Response {
    record(&shared, req, Value::Null, Vec::new(), false);
    if !shared.state.lock().is_ok_and(|s| s.members.contains(&user)) {
        return error(StatusCode::NOT_FOUND, 10007, "Unknown Member");
    }
    Json(member_json(user, TIMESTAMP, false)).into_response()
}

#[handler]
fn kick(req: &Request, Path((_, user)): Path<(String, u64)>, shared: Data<&Shared>) -> Response {
    record(&shared, req, Value::Null, Vec::new(), false);
    let mut s = shared.state.lock().expect("state");
    if s.forbid_kicks {
        return error(StatusCode::FORBIDDEN, 50013, "Missing Permissions");
    }
    if !s.members.remove(&user) {
        return error(StatusCode::NOT_FOUND, 10007, "Unknown Member");
    }
    StatusCode::NO_CONTENT.into_response()
}

#[handler]
async fn edit_original(
    req: &Request,
    Path((app, _)): Path<(String, String)>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let (json_body, files) = read_body(req, body).await;
    // An interaction's webhook belongs to its application: any other id names no webhook.
    if app != APPLICATION_ID.to_string() {
        record_refused(&shared, req, json_body, files, 10015);
        return error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook");
    }
    let id = shared.state.lock().expect("state").next_id();
    let response = posted_message_json(id, &GENERAL_CHANNEL.to_string(), &json_body, &files);
    record(&shared, req, json_body, files, false);
    Json(response).into_response()
}

#[handler]
async fn commands(
    req: &Request,
    Path(app): Path<String>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let (json_body, files) = read_body(req, body).await;
    if app != APPLICATION_ID.to_string() {
        record_refused(&shared, req, json_body, files, 10002);
        return error(StatusCode::NOT_FOUND, 10002, "Unknown Application");
    }
    let echoed: Vec<Value> = json_body
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            c["id"] = json!((7000 + i).to_string());
            c["application_id"] = json!(APPLICATION_ID.to_string());
            c["version"] = json!("1");
            if c.get("type").is_none() {
                c["type"] = json!(1);
            }
            if c.get("description").is_none() {
                c["description"] = json!("");
            }
            c
        })
        .collect();
    record(&shared, req, json_body, Vec::new(), false);
    Json(Value::Array(echoed)).into_response()
}
