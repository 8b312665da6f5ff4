//! The REST endpoints under `/api/v10`, as serenity calls them, with Discord's status codes
//! and error bodies; every request is recorded (and wakes the tests waiting on it, see
//! `rules`). The interactions' and commands' endpoints are in `interactions`.

use poem::http::StatusCode;
use poem::web::{Data, Json, Path};
use poem::{IntoResponse, Request, Response, Route, get, handler, post, put};
use serde_json::{Value, json};

use std::time::{Duration, Instant};

use super::interactions;
use super::json::{
    TIMESTAMP, application_json, bot_user_json, dm_channel_json, gateway_bot_json, member_json,
    roles_json,
};
use super::rules::{Files, Incoming, error, posted, record, refuse, refuse_with, unknown};
use super::{DM_CHANNELS, FakeDiscord, Guild, Shared, State};

/// The REST routes (the gateway's WebSocket route is added beside them).
pub(super) fn routes() -> Route {
    Route::new()
        .at("/api/v10/gateway", get(gateway_url))
        .at("/api/v10/gateway/bot", get(gateway_bot))
        .at("/api/v10/users/@me", get(current_user))
        .at("/api/v10/applications/@me", get(current_application))
        .at("/api/v10/oauth2/applications/@me", get(current_application))
        .at("/api/v10/users/@me/channels", post(create_dm))
        .at("/api/v10/channels/:channel/messages", post(create_message))
        .at("/api/v10/channels/:channel/typing", post(typing))
        .at("/api/v10/guilds/:guild/roles", get(roles))
        .at(
            "/api/v10/guilds/:guild/members/:user/roles/:role",
            put(member_role).delete(member_role),
        )
        .at(
            "/api/v10/guilds/:guild/members/:user",
            get(get_member).delete(kick),
        )
        .at(
            "/api/v10/interactions/:id/:token/callback",
            post(interactions::callback),
        )
        .at(
            "/api/v10/webhooks/:app/:token/messages/@original",
            poem::patch(interactions::edit_original),
        )
        .at(
            "/api/v10/applications/:app/commands",
            put(interactions::commands),
        )
}

#[handler]
fn gateway_url(shared: Data<&Shared>) -> Json<Value> {
    Json(json!({ "url": shared.ws_url.get() }))
}

/// `GET /gateway/bot`: the URL, the shards the bot needs as the shards Discord recommends,
/// and the session starts left ([`FakeDiscord::limit_session_starts`]).
#[handler]
async fn gateway_bot(req: &Request, body: poem::Body, shared: Data<&Shared>) -> Response {
    let incoming = admit!(shared, req, body, "/gateway/bot");
    record(&shared, req, incoming.json, incoming.files, false);
    let (shards, remaining) = shared.state.lock().map_or((1, 0), |s| {
        (s.gateway.required_shards(), s.gateway.session_starts_left())
    });
    let url = shared.ws_url.get().cloned().unwrap_or_default();
    Json(gateway_bot_json(&url, shards, remaining)).into_response()
}

/// How long an interaction may wait for its first answer (Discord: 3 s), and how long its
/// token then works for follow-ups and edits (15 minutes).
pub(super) const CALLBACK_DEADLINE: Duration = Duration::from_secs(3);
pub(super) const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// How long Discord remembers a nonce of one author (it says "the past few minutes").
pub(super) const NONCE_WINDOW: Duration = Duration::from_secs(2 * 60);

/// Reads and admits a request (see `rules`), or answers as Discord refuses it.
macro_rules! admit {
    ($shared:expr, $req:expr, $body:expr, $path:expr) => {
        match $crate::discord::rules::admit(&$shared, $req, $body, $path).await {
            Ok(incoming) => incoming,
            Err(refused) => return refused,
        }
    };
}

/// Refuses a request with Discord failing for now (a test's scripted 500).
fn fail_for_now(shared: &Shared, req: &Request, incoming: Incoming) -> Response {
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    refuse(
        shared,
        req,
        incoming,
        status,
        0,
        "500: Internal Server Error",
    )
}

/// The guild a path names, if the bot is in it.
fn guild_named(s: &State, guild: &str) -> Option<Guild> {
    s.guilds.iter().find(|g| g.id.to_string() == guild).copied()
}

/// [`guild_named`], under the state's lock.
fn known_guild(shared: &Shared, guild: &str) -> Option<Guild> {
    shared
        .state
        .lock()
        .ok()
        .and_then(|s| guild_named(&s, guild))
}

/// Why a guild, role or member in a path names nothing: 10004, 10011 or 10007.
fn missing_in_guild(
    s: &State,
    guild: &str,
    user: Option<u64>,
    role: Option<&str>,
) -> Option<(u32, &'static str)> {
    let Some(guild) = guild_named(s, guild) else {
        return Some((10004, "Guild"));
    };
    if let Some(role) = role
        && role != guild.id.to_string()
        && role != guild.member_role.to_string()
    {
        return Some((10011, "Role"));
    }
    match user {
        Some(user) if !s.members.contains(&(guild.id, user)) => Some((10007, "Member")),
        _ => None,
    }
}

#[handler]
async fn typing(
    req: &Request,
    Path(channel): Path<u64>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let incoming = admit!(shared, req, body, "/channels/{channel_id}/typing");
    if !shared
        .state
        .lock()
        .is_ok_and(|s| s.channels.contains(&channel))
    {
        return unknown(&shared, req, incoming, 10003, "Channel");
    }
    record(&shared, req, incoming.json, incoming.files, false);
    StatusCode::NO_CONTENT.into_response()
}

/// The application of the bot's token: `GET /applications/@me`, and the older
/// `/oauth2/applications/@me` serenity's `get_current_application_info` asks.
#[handler]
async fn current_application(req: &Request, body: poem::Body, shared: Data<&Shared>) -> Response {
    let incoming = admit!(shared, req, body, "/applications/@me");
    record(&shared, req, incoming.json, incoming.files, false);
    let guilds = shared.state.lock().map_or(1, |s| s.approximate_guilds);
    Json(application_json(guilds)).into_response()
}

#[handler]
async fn current_user(req: &Request, body: poem::Body, shared: Data<&Shared>) -> Response {
    let incoming = admit!(shared, req, body, "/users/@me");
    record(&shared, req, incoming.json, incoming.files, false);
    Json(bot_user_json()).into_response()
}

#[handler]
async fn create_dm(req: &Request, body: poem::Body, shared: Data<&Shared>) -> Response {
    let incoming = admit!(shared, req, body, "/users/@me/channels");
    let user: Option<u64> = incoming.json["recipient_id"]
        .as_str()
        .and_then(|s| s.parse().ok());
    let known = {
        let mut s = shared.state.lock().expect("state");
        match user {
            Some(user) if s.users.contains(&user) => {
                s.channels.insert(FakeDiscord::dm_channel(user));
                Some(user)
            }
            _ => None,
        }
    };
    let Some(user) = known else {
        return unknown(&shared, req, incoming, 10013, "User");
    };
    record(&shared, req, incoming.json, Vec::new(), false);
    Json(dm_channel_json(user)).into_response()
}

/// The most characters a message's `content` may have.
const MESSAGE_CONTENT_LIMIT: usize = 2000;

/// Discord's documented refusals of a message body: nothing to show (50006: no content,
/// file, embed, sticker or poll), or content over 2,000 characters (50035, with the field's
/// error as Discord nests it). The spec's schema allows 4,000: Discord's limit for bots is
/// 2,000.
pub(super) fn refused_message(body: &Value, files: &Files) -> Option<(u32, Response)> {
    let content = body["content"].as_str().unwrap_or("");
    let listed = |field: &str| body[field].as_array().is_some_and(|a| !a.is_empty());
    let empty = content.is_empty()
        && files.is_empty()
        && !listed("embeds")
        && !listed("sticker_ids")
        && body["poll"].is_null();
    if empty {
        return Some((
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
        return Some((
            50035,
            (StatusCode::BAD_REQUEST, Json(answer)).into_response(),
        ));
    }
    None
}

#[handler]
async fn create_message(
    req: &Request,
    Path(channel): Path<u64>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let incoming = admit!(shared, req, body, "/channels/{channel_id}/messages");
    if let Some((code, answer)) = refused_message(&incoming.json, &incoming.files) {
        return refuse_with(&shared, req, incoming, code, answer);
    }
    if !shared
        .state
        .lock()
        .is_ok_and(|s| s.channels.contains(&channel))
    {
        return unknown(&shared, req, incoming, 10003, "Channel");
    }
    let closed = channel.checked_sub(DM_CHANNELS).is_some_and(|user| {
        shared
            .state
            .lock()
            .is_ok_and(|s| s.closed_dms.contains(&user))
    });
    if closed {
        let message = "Cannot send messages to this user";
        return refuse(
            &shared,
            req,
            incoming,
            StatusCode::FORBIDDEN,
            50007,
            message,
        );
    }
    let failing = shared
        .state
        .lock()
        .is_ok_and(|mut s| match s.fail_after_posts {
            Some(0) => {
                s.fail_after_posts = None;
                true
            }
            Some(n) => {
                s.fail_after_posts = Some(n - 1);
                false
            }
            None => false,
        });
    if failing {
        return fail_for_now(&shared, req, incoming);
    }
    let limited = shared
        .state
        .lock()
        .is_ok_and(|mut s| take_one(&mut s.rate_limited_posts));
    if limited {
        record(&shared, req, incoming.json, incoming.files, true);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(
                json!({ "message": "You are being rate limited.", "retry_after": 0.05,
                         "global": false, "code": 0 }),
            ),
        )
            .into_response();
    }
    // `enforce_nonce`: a nonce this author used in the past few minutes returns that message
    // (from whichever channel), and creates none.
    let nonce = match &incoming.json["nonce"] {
        Value::String(n) => Some(n.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let enforce = incoming.json["enforce_nonce"].as_bool() == Some(true);
    let (id, first_channel, duplicate) = {
        let mut s = shared.state.lock().expect("state");
        s.nonces.retain(|_, (_, _, at)| at.elapsed() < NONCE_WINDOW);
        match nonce.filter(|_| enforce) {
            Some(n) => match s.nonces.get(&n) {
                Some((id, first, _)) => (*id, *first, true),
                None => {
                    let id = s.next_id();
                    s.nonces.insert(n, (id, channel, Instant::now()));
                    (id, channel, false)
                }
            },
            None => (s.next_id(), channel, false),
        }
    };
    posted(&shared, req, incoming, id, first_channel, duplicate)
}

#[handler]
async fn roles(
    req: &Request,
    Path(guild): Path<String>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let incoming = admit!(shared, req, body, "/guilds/{guild_id}/roles");
    let Some(guild) = known_guild(&shared, &guild) else {
        return unknown(&shared, req, incoming, 10004, "Guild");
    };
    record(&shared, req, incoming.json, incoming.files, false);
    Json(roles_json(&guild)).into_response()
}

/// A member's role given (`PUT`) or taken (`DELETE`): the guild, the role and the member must
/// exist; a grant may fail for now (500) or for good (50013) when a test says so.
#[handler]
async fn member_role(
    req: &Request,
    Path((guild, user, role)): Path<(String, u64, String)>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let incoming = admit!(
        shared,
        req,
        body,
        "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
    );
    let missing = shared
        .state
        .lock()
        .ok()
        .and_then(|s| missing_in_guild(&s, &guild, Some(user), Some(&role)));
    if let Some((code, what)) = missing {
        return unknown(&shared, req, incoming, code, what);
    }
    if req.method() == poem::http::Method::PUT {
        let (failing, forbidden) = shared.state.lock().map_or((false, false), |mut s| {
            (take_one(&mut s.failing_role_grants), s.forbid_roles)
        });
        if failing {
            return fail_for_now(&shared, req, incoming);
        }
        if forbidden {
            let message = "Missing Permissions";
            return refuse(
                &shared,
                req,
                incoming,
                StatusCode::FORBIDDEN,
                50013,
                message,
            );
        }
    }
    record(&shared, req, incoming.json, incoming.files, false);
    StatusCode::NO_CONTENT.into_response()
}

/// Spends one of a test's scripted failures: whether there was one left.
fn take_one(left: &mut u32) -> bool {
    let hit = *left > 0;
    *left = left.saturating_sub(1);
    hit
}

#[handler]
async fn get_member(
    req: &Request,
    Path((guild, user)): Path<(String, u64)>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let incoming = admit!(shared, req, body, "/guilds/{guild_id}/members/{user_id}");
    let missing = shared
        .state
        .lock()
        .ok()
        .and_then(|s| missing_in_guild(&s, &guild, Some(user), None));
    if let Some((code, what)) = missing {
        return unknown(&shared, req, incoming, code, what);
    }
    record(&shared, req, incoming.json, incoming.files, false);
    Json(member_json(user, TIMESTAMP, false)).into_response()
}

#[handler]
async fn kick(
    req: &Request,
    Path((guild, user)): Path<(String, u64)>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let incoming = admit!(shared, req, body, "/guilds/{guild_id}/members/{user_id}");
    let Some(guild) = known_guild(&shared, &guild) else {
        return unknown(&shared, req, incoming, 10004, "Guild");
    };
    let refusal = {
        let mut s = shared.state.lock().expect("state");
        if s.forbid_kicks {
            Some((StatusCode::FORBIDDEN, 50013, "Missing Permissions"))
        } else if !s.members.remove(&(guild.id, user)) {
            Some((StatusCode::NOT_FOUND, 10007, "Unknown Member"))
        } else {
            None
        }
    };
    if let Some((status, code, message)) = refusal {
        return refuse(&shared, req, incoming, status, code, message);
    }
    record(&shared, req, incoming.json, incoming.files, false);
    StatusCode::NO_CONTENT.into_response()
}

pub(super) use admit;
