//! A fake Discord that serenity really talks to: REST under `/api/v10` and a WebSocket gateway.
//!
//! - `GET /api/v10/gateway` answers this server's `ws://` URL; the gateway sends Hello, checks
//!   Identify (token, intents), sends READY and GUILD_CREATE for one guild, acknowledges
//!   heartbeats, answers RESUME with RESUMED, and forwards the dispatches a test scripts
//!   ([`FakeDiscord::message`], [`FakeDiscord::member_joins`], [`FakeDiscord::slash`]…) with
//!   increasing sequence numbers.
//! - REST: DM channels, messages (JSON or multipart `payload_json` + `files[n]`), typing,
//!   roles, members, kicks, interaction callbacks and edits, command registration, with
//!   Discord's status codes (204 where Discord answers 204) and error bodies (50007 DMs closed,
//!   50013 missing permissions, 10007 unknown member). Message nonces with `enforce_nonce` are
//!   honoured as Discord does: the same nonce in a channel returns the first message.
//!
//! Every REST request is recorded; tests wait for the ones they expect with
//! [`FakeDiscord::wait_for`] (woken by each request, no polling).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use poem::http::StatusCode;
use poem::web::websocket::{Message as WsMessage, WebSocket};
use poem::web::{Data, Json, Multipart, Path};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, get, handler, post, put};
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};

/// The bot's user and application id.
pub const BOT_ID: u64 = 100;
/// The one guild the bot is in.
pub const GUILD_ID: u64 = 200;
/// The guild's `Member` role.
pub const MEMBER_ROLE_ID: u64 = 901;
/// A guild text channel.
pub const GENERAL_CHANNEL: u64 = 4002;
/// The token the bot must identify with.
pub const TOKEN: &str = "fake-bot-token";

const TIMESTAMP: &str = "2024-01-01T00:00:00.000000+00:00";
/// The marker of a scripted op 7 in the dispatch channel.
const RECONNECT: &str = "__RECONNECT__";

/// One REST request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Without the `/api/v10` prefix, e.g. `/channels/4002/messages`.
    pub path: String,
    /// The JSON body (or multipart `payload_json`), `Null` when none.
    pub body: Value,
    /// Attached files: (field name, file name, bytes).
    pub files: Vec<(String, String, Vec<u8>)>,
    /// A message post the fake answered with an earlier message (same nonce).
    pub duplicate: bool,
}

impl Recorded {
    pub fn content(&self) -> &str {
        self.body["content"].as_str().unwrap_or("")
    }
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<Recorded>,
    identify: Option<Value>,
    connections: u32,
    closed_dms: HashSet<u64>,
    forbid_roles: bool,
    forbid_kicks: bool,
    /// RESUMEs received (after a reconnect).
    resumes: u32,
    /// Message posts still to answer with 429 (Discord's rate limit).
    rate_limited_posts: u32,
    /// Members in the guild (for GET member).
    members: HashSet<u64>,
    /// (channel, nonce) → the message id first created with it.
    nonces: HashMap<(String, String), u64>,
    next_id: u64,
}

/// A running fake Discord. Stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct FakeDiscord {
    /// `http://127.0.0.1:<port>`: serenity's `HttpBuilder::proxy`.
    pub url: String,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Value>,
    notify: Arc<Notify>,
    _stop: Arc<crate::oauth::StopOnDrop>,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Value>,
    notify: Arc<Notify>,
    /// Known once the server is bound.
    ws_url: Arc<std::sync::OnceLock<String>>,
}

impl FakeDiscord {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            next_id: 10_000,
            ..State::default()
        }));
        let (events, _) = broadcast::channel(256);
        let notify = Arc::new(Notify::new());
        let shared = Shared {
            state: state.clone(),
            events: events.clone(),
            notify: notify.clone(),
            ws_url: Arc::default(),
        };
        let app = Route::new()
            .at("/gateway", get(gateway))
            .at("/api/v10/gateway", get(gateway_url))
            .at("/api/v10/users/@me", get(current_user))
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
            .at("/api/v10/applications/:app/commands", put(commands));
        let ws_url = shared.ws_url.clone();
        let (addr, stop) = crate::oauth::serve(app.data(shared), "fake Discord").await;
        let _ = ws_url.set(format!("ws://{addr}/gateway"));
        Self {
            url: format!("http://{addr}"),
            state,
            events,
            notify,
            _stop: Arc::new(stop),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("fake Discord state"))
    }

    fn next_id(&self) -> u64 {
        self.with(|s| {
            s.next_id += 1;
            s.next_id
        })
    }

    /// Every REST request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    /// The Identify payload the bot sent.
    pub fn identify(&self) -> Option<Value> {
        self.with(|s| s.identify.clone())
    }

    /// Asks the connected client to reconnect (op 7) and waits until it has resumed.
    pub async fn reconnect(&self) {
        let before = self.with(|s| s.resumes);
        let _ = self.events.send(json!({ "t": RECONNECT }));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.notify.notified();
            if self.with(|s| s.resumes) > before {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("the client did not resume after op 7");
            }
        }
    }

    /// Gateway connections opened so far.
    pub fn connections(&self) -> u32 {
        self.with(|s| s.connections)
    }

    /// Waits until the requests satisfy `done`, then returns them; panics after `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let seen: Vec<String> = requests
                    .iter()
                    .map(|r| format!("{} {} {}", r.method, r.path, r.body))
                    .collect();
                panic!(
                    "timed out waiting for {what}; requests:\n{}",
                    seen.join("\n")
                );
            }
        }
    }

    /// Waits until the bot is connected and ready (it registers its commands on READY).
    pub async fn wait_ready(&self) {
        self.wait_for(
            "the bot to register its commands",
            Duration::from_secs(20),
            |r| r.iter().any(|r| r.path.ends_with("/commands")),
        )
        .await;
    }

    /// The DM channel of `user`.
    pub fn dm_channel(user: u64) -> u64 {
        1_000_000_000 + user
    }

    /// `user` does not accept DMs (50007).
    pub fn close_dms(&self, user: u64) {
        self.with(|s| s.closed_dms.insert(user));
    }

    /// Role grants fail with 50013 Missing Permissions.
    pub fn forbid_roles(&self) {
        self.with(|s| s.forbid_roles = true);
    }

    /// The next `n` message posts get 429 with `retry_after`, as Discord's rate limit does.
    pub fn rate_limit_posts(&self, n: u32) {
        self.with(|s| s.rate_limited_posts = n);
    }

    /// Kicks fail with 50013 Missing Permissions.
    pub fn forbid_kicks(&self) {
        self.with(|s| s.forbid_kicks = true);
    }

    fn dispatch(&self, t: &str, d: Value) {
        // No subscriber yet means no gateway connection: tests wait for ready first.
        let _ = self.events.send(json!({ "t": t, "d": d }));
    }

    /// A user writes `content` in `channel` (a DM when `guild` is `None`); `mention` adds the
    /// bot's mention. Returns the message id.
    pub fn message(
        &self,
        user: u64,
        channel: u64,
        guild: Option<u64>,
        content: &str,
        mention: bool,
    ) -> u64 {
        let id = self.next_id();
        let content = if mention {
            format!("<@{BOT_ID}> {content}")
        } else {
            content.to_owned()
        };
        let mentions = if mention {
            json!([{ "id": BOT_ID.to_string(), "username": "concierge", "bot": true, "avatar": null }])
        } else {
            json!([])
        };
        let mut d = json!({
            "id": id.to_string(), "channel_id": channel.to_string(),
            "author": user_json(user), "content": content, "timestamp": TIMESTAMP,
            "edited_timestamp": null, "tts": false, "mention_everyone": false,
            "mentions": mentions, "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": false, "type": 0,
        });
        if let Some(guild) = guild {
            d["guild_id"] = json!(guild.to_string());
            d["member"] = json!({ "roles": [], "joined_at": TIMESTAMP, "deaf": false, "mute": false, "flags": 0 });
        }
        self.dispatch("MESSAGE_CREATE", d);
        id
    }

    /// A message from another bot (the bot must ignore it).
    pub fn bot_message(&self, user: u64, channel: u64, content: &str) {
        let id = self.next_id();
        let mut author = user_json(user);
        author["bot"] = json!(true);
        self.dispatch(
            "MESSAGE_CREATE",
            json!({
                "id": id.to_string(), "channel_id": channel.to_string(), "author": author,
                "content": content, "timestamp": TIMESTAMP, "edited_timestamp": null,
                "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
                "attachments": [], "embeds": [], "pinned": false, "type": 0,
            }),
        );
    }

    /// `user` joins the guild (`pending`: membership screening not passed yet).
    pub fn member_joins(&self, user: u64, pending: bool) {
        self.with(|s| s.members.insert(user));
        self.dispatch(
            "GUILD_MEMBER_ADD",
            json!({
                "guild_id": GUILD_ID.to_string(), "user": user_json(user), "roles": [],
                "joined_at": now(), "deaf": false, "mute": false, "flags": 0, "pending": pending,
            }),
        );
    }

    /// `user` passed membership screening.
    pub fn member_screened(&self, user: u64) {
        self.dispatch(
            "GUILD_MEMBER_UPDATE",
            json!({
                "guild_id": GUILD_ID.to_string(), "user": user_json(user), "roles": [],
                "joined_at": now(), "pending": false, "flags": 0,
            }),
        );
    }

    /// `user` leaves the guild.
    pub fn member_leaves(&self, user: u64) {
        self.with(|s| s.members.remove(&user));
        self.dispatch(
            "GUILD_MEMBER_REMOVE",
            json!({ "guild_id": GUILD_ID.to_string(), "user": user_json(user) }),
        );
    }

    /// Whether `user` is in the guild now.
    pub fn is_member(&self, user: u64) -> bool {
        self.with(|s| s.members.contains(&user))
    }

    /// `user` runs a slash command (in the guild with `permissions`, or in a DM when
    /// `permissions` is `None`). Returns the interaction token.
    pub fn slash(
        &self,
        user: u64,
        name: &str,
        options: Value,
        permissions: Option<&str>,
    ) -> String {
        let id = self.next_id();
        let token = format!("itoken-{id}");
        let mut resolved = json!({ "users": {}, "members": {} });
        if let Some(opts) = options.as_array() {
            for o in opts {
                if o["type"] == 6
                    && let Some(uid) = o["value"].as_str()
                {
                    resolved["users"][uid] = user_json(uid.parse().unwrap_or(1));
                }
            }
        }
        let mut d = json!({
            "id": id.to_string(), "application_id": BOT_ID.to_string(), "type": 2,
            "token": token, "version": 1, "locale": "en-US", "entitlements": [],
            "attachment_size_limit": 8_388_608,
            "data": { "id": "7001", "name": name, "type": 1, "options": options, "resolved": resolved },
        });
        match permissions {
            Some(p) => {
                d["guild_id"] = json!(GUILD_ID.to_string());
                d["channel_id"] = json!(GENERAL_CHANNEL.to_string());
                d["member"] = json!({
                    "user": user_json(user), "roles": [], "joined_at": TIMESTAMP,
                    "deaf": false, "mute": false, "flags": 0, "pending": false, "permissions": p,
                });
            }
            None => {
                d["channel_id"] = json!(Self::dm_channel(user).to_string());
                d["user"] = user_json(user);
            }
        }
        self.dispatch("INTERACTION_CREATE", d);
        token
    }

    /// Posts in `channel` (not duplicates), in order.
    pub fn posts(&self, channel: u64) -> Vec<Recorded> {
        let path = format!("/channels/{channel}/messages");
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path && !r.duplicate)
            .collect()
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

fn user_json(user: u64) -> Value {
    json!({ "id": user.to_string(), "username": format!("user{user}"), "avatar": null, "discriminator": "0" })
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

fn record(
    shared: &Shared,
    req: &Request,
    body: Value,
    files: Vec<(String, String, Vec<u8>)>,
    duplicate: bool,
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

fn message_json(
    id: u64,
    channel: &str,
    body: &Value,
    files: &[(String, String, Vec<u8>)],
) -> Value {
    let attachments: Vec<Value> = files
        .iter()
        .enumerate()
        .map(|(i, (_, name, bytes))| {
            json!({ "id": (id * 10 + i as u64 + 1).to_string(), "filename": name, "size": bytes.len(),
                    "url": format!("https://cdn.test/{name}"), "proxy_url": format!("https://cdn.test/{name}") })
        })
        .collect();
    json!({
        "id": id.to_string(), "channel_id": channel,
        "author": { "id": BOT_ID.to_string(), "username": "concierge", "bot": true, "avatar": null },
        "content": body["content"].as_str().unwrap_or(""), "timestamp": TIMESTAMP,
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "attachments": attachments, "embeds": [], "pinned": false, "type": 0,
    })
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

#[handler]
fn current_user(req: &Request, shared: Data<&Shared>) -> Json<Value> {
    record(&shared, req, Value::Null, Vec::new(), false);
    Json(
        json!({ "id": BOT_ID.to_string(), "username": "concierge", "bot": true, "avatar": null, "discriminator": "0" }),
    )
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

#[handler]
async fn create_message(
    req: &Request,
    Path(channel): Path<String>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let (json_body, files) = read_body(req, body).await;
    let closed = channel
        .parse::<u64>()
        .ok()
        .and_then(|c| c.checked_sub(1_000_000_000))
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
                    s.next_id += 1;
                    let id = s.next_id;
                    s.nonces.insert((channel.clone(), n), id);
                    (id, false)
                }
            },
            None => {
                s.next_id += 1;
                (s.next_id, false)
            }
        }
    };
    let response = message_json(id, &channel, &json_body, &files);
    record(&shared, req, json_body, files, duplicate);
    Json(response).into_response()
}

#[handler]
fn roles(req: &Request, shared: Data<&Shared>) -> Json<Value> {
    record(&shared, req, Value::Null, Vec::new(), false);
    Json(json!([
        role_json(GUILD_ID, "@everyone", 0),
        role_json(MEMBER_ROLE_ID, "Member", 1)
    ]))
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
    Json(
        json!({ "user": user_json(user), "roles": [], "joined_at": TIMESTAMP, "deaf": false,
                 "mute": false, "flags": 0, "pending": false }),
    )
    .into_response()
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
async fn edit_original(req: &Request, body: poem::Body, shared: Data<&Shared>) -> Response {
    let (json_body, files) = read_body(req, body).await;
    let id = {
        let mut s = shared.state.lock().expect("state");
        s.next_id += 1;
        s.next_id
    };
    let response = message_json(id, &GENERAL_CHANNEL.to_string(), &json_body, &files);
    record(&shared, req, json_body, files, false);
    Json(response).into_response()
}

#[handler]
async fn commands(req: &Request, body: poem::Body, shared: Data<&Shared>) -> Response {
    let (json_body, _) = read_body(req, body).await;
    let echoed: Vec<Value> = json_body
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            c["id"] = json!((7000 + i).to_string());
            c["application_id"] = json!(BOT_ID.to_string());
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

#[handler]
fn gateway(ws: WebSocket, shared: Data<&Shared>) -> impl IntoResponse {
    let shared = shared.clone();
    ws.on_upgrade(move |socket| async move {
        let (mut sink, mut stream) = socket.split();
        let mut events = shared.events.subscribe();
        if let Ok(mut s) = shared.state.lock() {
            s.connections += 1;
        }
        let send = |v: Value| WsMessage::Text(v.to_string());
        if sink
            .send(send(json!({ "op": 10, "d": { "heartbeat_interval": 1000 }, "s": null, "t": null })))
            .await
            .is_err()
        {
            return;
        }
        let mut seq: u64 = 0;
        let mut ready = false;
        loop {
            tokio::select! {
                incoming = stream.next() => {
                    let Some(Ok(frame)) = incoming else { break };
                    let WsMessage::Text(text) = frame else {
                        if matches!(frame, WsMessage::Close(_)) { break }
                        continue;
                    };
                    let Ok(payload) = serde_json::from_str::<Value>(&text) else { continue };
                    match payload["op"].as_u64() {
                        Some(1) => {
                            let acked = sink.send(send(json!({ "op": 11 }))).await;
                            if acked.is_err() { break }
                        }
                        Some(2) => {
                            let token_ok = payload["d"]["token"] == format!("Bot {TOKEN}");
                            if let Ok(mut s) = shared.state.lock() {
                                s.identify = Some(payload["d"].clone());
                            }
                            if !token_ok {
                                let _ = sink.send(WsMessage::Close(Some((poem::web::websocket::CloseCode::from(4004), "Authentication failed.".into())))).await;
                                break;
                            }
                            seq += 1;
                            let ready_event = json!({ "op": 0, "s": seq, "t": "READY", "d": {
                                "v": 10, "user": { "id": BOT_ID.to_string(), "username": "concierge", "bot": true, "avatar": null, "discriminator": "0" },
                                "guilds": [{ "id": GUILD_ID.to_string(), "unavailable": true }],
                                "session_id": "fake-session", "resume_gateway_url": shared.ws_url.get(),
                                "shard": [0, 1], "application": { "id": BOT_ID.to_string(), "flags": 0 },
                            }});
                            if sink.send(send(ready_event)).await.is_err() { break }
                            seq += 1;
                            if sink.send(send(json!({ "op": 0, "s": seq, "t": "GUILD_CREATE", "d": guild() }))).await.is_err() { break }
                            ready = true;
                        }
                        Some(6) => {
                            if let Ok(mut s) = shared.state.lock() {
                                s.resumes += 1;
                            }
                            shared.notify.notify_waiters();
                            seq = payload["d"]["seq"].as_u64().unwrap_or(seq) + 1;
                            if sink.send(send(json!({ "op": 0, "s": seq, "t": "RESUMED", "d": {} }))).await.is_err() { break }
                            ready = true;
                        }
                        _ => {}
                    }
                }
                event = events.recv(), if ready => {
                    let Ok(event) = event else { continue };
                    if event["t"] == RECONNECT {
                        // Discord's op 7: the client must reconnect and resume.
                        let _ = sink.send(send(json!({ "op": 7, "d": null }))).await;
                        break;
                    }
                    seq += 1;
                    let frame = json!({ "op": 0, "s": seq, "t": event["t"], "d": event["d"] });
                    if sink.send(send(frame)).await.is_err() { break }
                }
            }
        }
    })
}

/// The guild's roles, as Discord describes them (serenity 0.12 requires `colors`).
fn role_json(id: u64, name: &str, position: i32) -> Value {
    json!({ "id": id.to_string(), "name": name, "color": 0, "colors": { "primary_color": 0 },
            "hoist": false, "managed": false, "mentionable": false, "permissions": "0",
            "position": position })
}

fn guild() -> Value {
    json!({
        "id": GUILD_ID.to_string(), "name": "Fake Guild", "icon": null,
        "owner_id": BOT_ID.to_string(),
        "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
        "mfa_level": 0, "premium_tier": 0, "nsfw_level": 0, "system_channel_flags": 0,
        "preferred_locale": "en-US", "premium_progress_bar_enabled": false,
        "features": [], "emojis": [], "stickers": [],
        "roles": [role_json(GUILD_ID, "@everyone", 0), role_json(MEMBER_ROLE_ID, "Member", 1)],
        "joined_at": TIMESTAMP, "large": false, "member_count": 1000,
        "voice_states": [], "members": [], "channels": [], "threads": [], "presences": [],
        "stage_instances": [], "guild_scheduled_events": [],
    })
}
