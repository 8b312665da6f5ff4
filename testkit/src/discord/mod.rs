//! A fake Discord that serenity really talks to, as strict as Discord: REST under `/api/v10`
//! and a WebSocket gateway.
//!
//! - REST: DM channels, messages (JSON or multipart `payload_json` + `files[n]`), typing,
//!   roles, members, kicks, interaction callbacks and edits, command registration, with
//!   Discord's status codes (204 where Discord answers 204), error bodies and rate-limit
//!   headers. Every request is checked before it does anything (`rules`): the bot's token
//!   (40001), a readable body (50109), the body against its operation's schema in Discord's
//!   OpenAPI description, vendored in `testkit/spec/` (50035), and each `files[n]` against an
//!   `attachments[]` id. Then Discord's own rules: no empty message (50006), 2,000 characters
//!   (50035), ids that name nothing (10003 channel, 10004 guild, 10011 role, 10007 member,
//!   10013 user, 10002 application, 10015 webhook), one answer per interaction within 3 s
//!   (10062, 40060) and 15 minutes for its token (50027), nonces with `enforce_nonce`
//!   de-duplicating per author for two minutes, 50007 closed DMs, 50013 missing permissions,
//!   429 with `Retry-After`.
//! - Gateway: Hello, Identify checked (token 4004, privileged intents 4014, shard 4010,
//!   sharding required 4011, one Identify per 5 s or op 9), a session per shard with the
//!   guilds Discord routes to it (`(guild_id >> 22) % shard_count`, DMs to shard 0), READY
//!   and GUILD_CREATE, heartbeats, RESUME replaying what the client missed (or op 9 when a test
//!   asks), payloads zlib-compressed for a client that asks, and the dispatches a test scripts
//!   ([`FakeDiscord::message`], [`FakeDiscord::member_joins`], [`FakeDiscord::slash`]…).
//!
//! Every REST request is recorded, refused ones with their code; tests wait for the ones they
//! expect with [`FakeDiscord::wait_for`] (woken by each request, no polling). Time-bound rules
//! are tested without sleeping: [`FakeDiscord::pass_time`] ages what the fake remembers.
//!
//! # Layout
//! - this file: [`FakeDiscord`] (start, the test's switches, what was recorded) and the state
//!   its server shares
//! - `rules`: what is refused before any endpoint runs, the rate-limit headers, and how a
//!   request is recorded, taken or refused
//! - `schema`: the vendored OpenAPI description and the JSON Schema validator over it
//! - `rest`: the REST endpoints and their own refusals
//! - `interactions`: interaction answers and edits, and command registration
//! - `gateway`: the WebSocket connections, a session per shard with its log, Identify and
//!   RESUME as Discord checks them
//! - `events`: the dispatches a test scripts, routed to their shard's session
//! - `json`: Discord's objects as the fake writes them (every field the spec requires)
//! - `tests/`: a test per refusal (REST, and the gateway over a raw WebSocket), and the
//!   answers against the spec

mod events;
mod gateway;
mod interactions;
mod json;
mod rest;
mod rules;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::{EndpointExt, get};
use serde_json::Value;
use tokio::sync::{Notify, broadcast};

/// The bot's user id.
pub const BOT_ID: u64 = 100;
/// The bot's application id: not the bot user's id, since Discord does not promise they are
/// equal (interaction webhooks are addressed by this one; `GET /applications/@me` tells it).
pub const APPLICATION_ID: u64 = 300;
/// The guild the bot is in (the only one unless the fake runs several shards: [`Guild`]).
pub const GUILD_ID: u64 = 200;
/// The guild's `Member` role.
pub const MEMBER_ROLE_ID: u64 = 901;
/// A guild text channel.
pub const GENERAL_CHANNEL: u64 = 4002;

/// A guild the bot is in: one per shard the application must run
/// ([`FakeDiscord::start_sharded`]), the first being [`GUILD_ID`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guild {
    pub id: u64,
    /// Its `Member` role.
    pub member_role: u64,
    /// Its text channel.
    pub general_channel: u64,
}

impl Guild {
    /// The fake's guild on shard `shard`: Discord sends guild `g`'s events to shard
    /// `(g >> 22) % shard_count`, so the id carries `shard` above its low 22 bits.
    pub fn on_shard(shard: u32) -> Self {
        let i = u64::from(shard);
        Self {
            id: (i << 22) | GUILD_ID,
            member_role: MEMBER_ROLE_ID + 1000 * i,
            general_channel: GENERAL_CHANNEL + 1000 * i,
        }
    }

    /// The shard that gets this guild's events when the bot runs `count` shards.
    pub fn shard(&self, count: u32) -> u32 {
        shard_of(self.id, count)
    }
}

/// The shard Discord sends guild `guild`'s events to when the bot runs `count` shards.
fn shard_of(guild: u64, count: u32) -> u32 {
    u32::try_from((guild >> 22) % u64::from(count.max(1))).unwrap_or(0)
}
/// The token the bot must identify with.
pub const TOKEN: &str = "fake-bot-token";

/// User `n`'s DM channel is `DM_CHANNELS + n` (see [`FakeDiscord::dm_channel`]).
const DM_CHANNELS: u64 = 1_000_000_000;

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
    /// The Discord error code the fake refused it with, as Discord would (see the module's
    /// list; 0 for a scripted 500); `None` when it was taken.
    pub refused: Option<u32>,
}

impl Recorded {
    pub fn content(&self) -> &str {
        self.body["content"].as_str().unwrap_or("")
    }
}

/// What the fake has seen and what the test switched on, behind one lock.
#[derive(Debug, Default)]
struct State {
    /// Every REST request, in order: what tests assert on.
    requests: Vec<Recorded>,
    /// The last Identify's `d` (token, intents), for tests of how the bot connects.
    identify: Option<Value>,
    /// Gateway connections opened (a reconnect opens another).
    connections: u32,
    /// Users whose DMs fail with 50007 ([`FakeDiscord::close_dms`]).
    closed_dms: HashSet<u64>,
    /// Role grants fail with 50013 ([`FakeDiscord::forbid_roles`]).
    forbid_roles: bool,
    /// Role grants still to fail with 500 ([`FakeDiscord::fail_role_grants`]).
    failing_role_grants: u32,
    /// Kicks fail with 50013 ([`FakeDiscord::forbid_kicks`]).
    forbid_kicks: bool,
    /// RESUMEs received (after a reconnect).
    resumes: u32,
    /// Message posts still to answer with 429 (Discord's rate limit).
    rate_limited_posts: u32,
    /// After this many more message posts, the next one fails with 500 (once).
    fail_after_posts: Option<u32>,
    /// The guilds the bot is in, one per shard the application must run.
    guilds: Vec<Guild>,
    /// How many guilds Discord says the bot is in (`approximate_guild_count`): enough to
    /// need the shards it must run (2,500 a shard), of which the fake keeps one per shard.
    approximate_guilds: u64,
    /// Members by (guild, user) (for GET member, role grants and kicks).
    members: HashSet<(u64, u64)>,
    /// Users Discord knows: the bot, and everyone a scripted event showed (DMs to others are
    /// refused with 10013).
    users: HashSet<u64>,
    /// Channels that exist: the guild's text channel and every DM channel opened or written
    /// in (posts elsewhere are refused with 10003).
    channels: HashSet<u64>,
    /// Interactions by id, for their deadlines and single first answer.
    interactions: HashMap<String, Interaction>,
    /// The bot's recent nonces (`enforce_nonce`): nonce → (message id, its channel, when).
    nonces: HashMap<String, (u64, u64, Instant)>,
    /// The last snowflake handed out (messages, interactions, channels' messages).
    next_id: u64,
    /// The gateway: its sessions (one per shard), each with every dispatch sent in order for
    /// RESUME to replay, and what the test switched on.
    gateway: gateway::Gateway,
}

/// A slash command's interaction as Discord tracks it.
#[derive(Debug, Clone)]
struct Interaction {
    token: String,
    /// When it was created (moved back by [`FakeDiscord::pass_time`]).
    at: Instant,
    /// Answered once already.
    acked: bool,
}

impl State {
    /// A fresh snowflake.
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// A running fake Discord. Stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct FakeDiscord {
    /// `http://127.0.0.1:<port>`: serenity's `HttpBuilder::proxy`.
    pub url: String,
    /// Shared with the server's handlers.
    state: Arc<Mutex<State>>,
    /// Scripted dispatches, to every open gateway session.
    events: broadcast::Sender<Value>,
    /// Woken by each recorded request and each RESUME: what waits wait on.
    notify: Arc<Notify>,
    /// Stops the server with the last clone.
    _stop: Arc<crate::oauth::StopOnDrop>,
}

/// What the server's handlers share (as poem data): the handle's state, events and wake-ups.
#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Value>,
    notify: Arc<Notify>,
    /// Known once the server is bound.
    ws_url: Arc<std::sync::OnceLock<String>>,
}

impl FakeDiscord {
    /// A fake Discord whose bot is in one guild ([`GUILD_ID`]) and needs no sharding.
    pub async fn start() -> Self {
        Self::start_sharded(1).await
    }

    /// A fake Discord whose bot is in `shards` guilds ([`Guild::on_shard`]) and must run at
    /// least `shards` shards: an Identify with fewer is closed with 4011 Sharding required,
    /// as Discord closes a session that would hold more than 2,500 guilds.
    pub async fn start_sharded(shards: u32) -> Self {
        let shards = shards.max(1);
        let guilds: Vec<Guild> = (0..shards).map(Guild::on_shard).collect();
        let state = Arc::new(Mutex::new(State {
            next_id: 10_000,
            users: HashSet::from([BOT_ID]),
            channels: guilds.iter().map(|g| g.general_channel).collect(),
            guilds,
            approximate_guilds: 2500 * u64::from(shards - 1) + 1,
            gateway: gateway::Gateway::requiring(shards),
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
        let app = rest::routes().at("/gateway", get(gateway::connection));
        let ws_url = shared.ws_url.clone();
        let app = app.around(rules::headers).data(shared);
        let (addr, stop) = crate::oauth::serve(app, "fake Discord").await;
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
        self.with(State::next_id)
    }

    /// Every REST request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    /// The Identify payload the bot sent.
    pub fn identify(&self) -> Option<Value> {
        self.with(|s| s.identify.clone())
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
        let waited = crate::wait::until(&self.notify, timeout, || {
            let requests = self.requests();
            if done(&requests) {
                Ok(requests)
            } else {
                Err(requests)
            }
        });
        match waited.await {
            Ok(requests) => requests,
            Err(requests) => {
                let seen: Vec<String> = requests
                    .iter()
                    .map(|r| match r.refused {
                        Some(code) => {
                            format!("{} {} {} (refused: {code})", r.method, r.path, r.body)
                        }
                        None => format!("{} {} {}", r.method, r.path, r.body),
                    })
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
        DM_CHANNELS + user
    }

    /// `user` does not accept DMs (50007).
    pub fn close_dms(&self, user: u64) {
        self.with(|s| s.closed_dms.insert(user));
    }

    /// Role grants fail with 50013 Missing Permissions.
    pub fn forbid_roles(&self) {
        self.with(|s| s.forbid_roles = true);
    }

    /// The next `n` role grants fail with 500 Internal Server Error (Discord failing for now).
    pub fn fail_role_grants(&self, n: u32) {
        self.with(|s| s.failing_role_grants = n);
    }

    /// The next `n` message posts get 429 with `retry_after`, as Discord's rate limit does.
    pub fn rate_limit_posts(&self, n: u32) {
        self.with(|s| s.rate_limited_posts = n);
    }

    /// After `posts` more message posts are taken, the next one fails with 500 Internal Server
    /// Error (once): a post cut off halfway through a long message.
    pub fn fail_after_posts(&self, posts: u32) {
        self.with(|s| s.fail_after_posts = Some(posts));
    }

    /// Kicks fail with 50013 Missing Permissions.
    pub fn forbid_kicks(&self) {
        self.with(|s| s.forbid_kicks = true);
    }

    /// Lets `duration` pass for the fake's deadlines: interactions age (3 s to answer, 15
    /// minutes for their token), nonces leave the window in which they de-duplicate, and the
    /// last Identify moves back (one per 5 s).
    pub fn pass_time(&self, duration: Duration) {
        self.with(|s| {
            for i in s.interactions.values_mut() {
                i.at = i.at.checked_sub(duration).unwrap_or(i.at);
            }
            for (_, _, at) in s.nonces.values_mut() {
                *at = at.checked_sub(duration).unwrap_or(*at);
            }
            s.gateway.pass_time(duration);
        });
    }

    /// Adds a text channel to the guild (besides [`GENERAL_CHANNEL`]): posts to a channel
    /// that does not exist are refused with 10003.
    pub fn add_channel(&self, channel: u64) {
        self.with(|s| s.channels.insert(channel));
    }

    /// Makes `user` known to Discord without a gateway event (a user the bot never saw).
    pub fn add_user(&self, user: u64) {
        self.with(|s| s.users.insert(user));
    }

    /// Whether `user` is in the guild ([`GUILD_ID`]) now.
    pub fn is_member(&self, user: u64) -> bool {
        self.is_member_of(GUILD_ID, user)
    }

    /// Whether `user` is in `guild` now.
    pub fn is_member_of(&self, guild: u64, user: u64) -> bool {
        self.with(|s| s.members.contains(&(guild, user)))
    }

    /// The guilds the bot is in.
    pub fn guilds(&self) -> Vec<Guild> {
        self.with(|s| s.guilds.clone())
    }

    /// Posts in `channel` (not duplicates), in order.
    pub fn posts(&self, channel: u64) -> Vec<Recorded> {
        let path = format!("/channels/{channel}/messages");
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path && !r.duplicate && r.refused.is_none())
            .collect()
    }

    /// The requests refused as Discord would refuse them, with the code each got.
    pub fn refusals(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.refused.is_some())
            .collect()
    }
}
