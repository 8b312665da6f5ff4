//! The gateway: one WebSocket session per connection (Hello; Identify checked against
//! [`TOKEN`] and the privileged intents the application may use, 4004 and 4014 otherwise;
//! READY and GUILD_CREATE; heartbeats; RESUME, which replays what the client missed, or op 9
//! Invalid Session when a test asks), and the dispatches a test scripts
//! ([`FakeDiscord::message`], [`FakeDiscord::slash`]…). Every dispatch is kept in the
//! session's log with its sequence number, so a client that resumes after a drop gets the
//! events sent while it was away, as Discord replays them. A client that identifies with
//! `compress: true` (serenity does) gets its dispatches zlib-compressed in binary frames.

use std::io::Write;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use poem::IntoResponse;
use poem::handler;
use poem::web::Data;
use poem::web::websocket::{Message as WsMessage, WebSocket};
use serde_json::{Value, json};

use super::json::{
    TIMESTAMP, bot_mention, bot_user_json, guild, member_json, message_json, now, user_json,
};
use super::{APPLICATION_ID, BOT_ID, FakeDiscord, GENERAL_CHANNEL, GUILD_ID, Shared, TOKEN};

/// The marker of a scripted op 7 in the dispatch channel.
const RECONNECT: &str = "__RECONNECT__";
/// The marker of a dropped connection (closed with 4000, which the client resumes from).
const DROP: &str = "__DROP__";
/// The marker of a new dispatch in the log.
const WAKE: &str = "__WAKE__";

/// Privileged intents (Discord's bits): GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT.
const PRIVILEGED: u64 = (1 << 1) | (1 << 8) | (1 << 15);
/// The privileged intents the fake application has switched on in its settings: members and
/// message content (what the bot needs), not presences.
const ENABLED_PRIVILEGED: u64 = (1 << 1) | (1 << 15);

/// The gateway session all connections share (one bot, one session id).
#[derive(Debug, Default)]
pub(super) struct Session {
    /// Every dispatch frame sent or to send, in sequence order.
    frames: Vec<Value>,
    /// The last sequence number given.
    seq: u64,
    /// The next RESUME is answered with op 9 (d: false): the client must identify again.
    invalidate_next_resume: bool,
    /// The application's privileged intents are all switched off (4014 for any).
    privileged_disabled: bool,
    /// Identifies received.
    pub(super) identifies: u32,
    /// Dispatches sent zlib-compressed.
    pub(super) compressed: u32,
    /// Events replayed on RESUME.
    pub(super) replayed: u32,
    /// Op 9s sent.
    pub(super) invalidated: u32,
    /// Connections that ended.
    disconnects: u32,
    /// RESUMEs wait until the test lets them through ([`FakeDiscord::hold_resumes`]).
    holding_resumes: bool,
}

impl Session {
    /// Appends a dispatch with the next sequence number.
    fn push(&mut self, t: &str, d: Value) {
        self.seq += 1;
        self.frames
            .push(json!({ "op": 0, "s": self.seq, "t": t, "d": d }));
    }
}

impl FakeDiscord {
    /// Asks the connected client to reconnect (op 7) and waits until it has resumed.
    pub async fn reconnect(&self) {
        let before = self.with(|s| s.resumes);
        let _ = self.events.send(json!({ "t": RECONNECT }));
        let resumed = crate::wait::until(&self.notify, Duration::from_secs(20), || {
            if self.with(|s| s.resumes) > before {
                Ok(())
            } else {
                Err(())
            }
        });
        if resumed.await.is_err() {
            panic!("the client did not resume after op 7");
        }
    }

    /// Drops the gateway connection (close 4000, as a network failure would look); the
    /// client reconnects and resumes, and gets what was dispatched meanwhile.
    /// Returns once the connection is closed: what is dispatched next waits in the log.
    pub async fn drop_connection(&self) {
        let before = self.with(|s| s.gateway.disconnects);
        let _ = self.events.send(json!({ "t": DROP }));
        let closed = crate::wait::until(&self.notify, Duration::from_secs(20), || {
            if self.with(|s| s.gateway.disconnects) > before {
                Ok(())
            } else {
                Err(())
            }
        });
        if closed.await.is_err() {
            panic!("the gateway connection did not close");
        }
    }

    /// RESUMEs wait (the client stays away) until [`FakeDiscord::release_resumes`]: what is
    /// dispatched meanwhile can only arrive by the replay.
    pub fn hold_resumes(&self) {
        self.with(|s| s.gateway.holding_resumes = true);
    }

    /// Lets held RESUMEs through.
    pub fn release_resumes(&self) {
        self.with(|s| s.gateway.holding_resumes = false);
        self.notify.notify_waiters();
    }

    /// The next RESUME is refused with op 9 Invalid Session (not resumable).
    pub fn invalidate_next_resume(&self) {
        self.with(|s| s.gateway.invalidate_next_resume = true);
    }

    /// The application's privileged intents are switched off: an Identify asking for any is
    /// closed with 4014 Disallowed intent(s).
    pub fn disable_privileged_intents(&self) {
        self.with(|s| s.gateway.privileged_disabled = true);
    }

    /// (Identifies, dispatches sent compressed, events replayed on RESUME, op 9s sent).
    pub fn gateway_counts(&self) -> (u32, u32, u32, u32) {
        self.with(|s| {
            let g = &s.gateway;
            (g.identifies, g.compressed, g.replayed, g.invalidated)
        })
    }

    /// Logs a dispatch (sent at once to a connected client, or replayed when it resumes).
    fn dispatch(&self, t: &str, d: Value) {
        self.with(|s| s.gateway.push(t, d));
        let _ = self.events.send(json!({ "t": WAKE }));
    }

    /// Discord knows `user` (and their DM channel) once an event shows them.
    fn seen(&self, user: u64, channel: Option<u64>) {
        self.with(|s| {
            s.users.insert(user);
            if let Some(channel) = channel {
                s.channels.insert(channel);
            }
        });
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
        let mentions = if mention { bot_mention() } else { json!([]) };
        self.seen(user, Some(channel));
        let mut d = message_json(
            id,
            &channel.to_string(),
            user_json(user),
            &content,
            mentions,
            json!([]),
        );
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
        self.seen(user, Some(channel));
        let mut author = user_json(user);
        author["bot"] = json!(true);
        let d = message_json(
            id,
            &channel.to_string(),
            author,
            content,
            json!([]),
            json!([]),
        );
        self.dispatch("MESSAGE_CREATE", d);
    }

    /// `user` joins the guild (`pending`: membership screening not passed yet).
    pub fn member_joins(&self, user: u64, pending: bool) {
        self.with(|s| {
            s.members.insert(user);
            s.users.insert(user);
        });
        let mut d = member_json(user, &now(), pending);
        d["guild_id"] = json!(GUILD_ID.to_string());
        self.dispatch("GUILD_MEMBER_ADD", d);
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
        let dm = permissions.is_none().then(|| Self::dm_channel(user));
        self.seen(user, dm);
        self.with(|s| {
            s.interactions.insert(
                id.to_string(),
                super::Interaction {
                    token: token.clone(),
                    at: Instant::now(),
                    acked: false,
                },
            )
        });
        let mut resolved = json!({ "users": {}, "members": {} });
        if let Some(opts) = options.as_array() {
            for o in opts {
                if o["type"] == 6
                    && let Some(uid) = o["value"].as_str()
                {
                    let named: u64 = uid.parse().unwrap_or(1);
                    self.seen(named, None);
                    resolved["users"][uid] = user_json(named);
                }
            }
        }
        let mut d = json!({
            "id": id.to_string(), "application_id": APPLICATION_ID.to_string(), "type": 2,
            "token": token, "version": 1, "locale": "en-US", "entitlements": [],
            "attachment_size_limit": 8_388_608,
            "data": { "id": "7001", "name": name, "type": 1, "options": options, "resolved": resolved },
        });
        match permissions {
            Some(p) => {
                d["guild_id"] = json!(GUILD_ID.to_string());
                d["channel_id"] = json!(GENERAL_CHANNEL.to_string());
                d["member"] = member_json(user, TIMESTAMP, false);
                d["member"]["permissions"] = json!(p);
            }
            None => {
                d["channel_id"] = json!(Self::dm_channel(user).to_string());
                d["user"] = user_json(user);
            }
        }
        self.dispatch("INTERACTION_CREATE", d);
        token
    }
}

/// One gateway connection (`/gateway`, the URL `GET /api/v10/gateway` names).
#[handler]
pub(super) fn session(ws: WebSocket, shared: Data<&Shared>) -> impl IntoResponse {
    let shared = shared.clone();
    ws.on_upgrade(move |socket| async move {
        let (mut sink, mut stream) = socket.split();
        let mut events = shared.events.subscribe();
        if let Ok(mut s) = shared.state.lock() {
            s.connections += 1;
        }
        let text = |v: Value| WsMessage::Text(v.to_string());
        let close = |code: u16, why: &str| {
            WsMessage::Close(Some((
                poem::web::websocket::CloseCode::from(code),
                why.to_owned(),
            )))
        };
        if sink
            .send(text(json!({ "op": 10, "d": { "heartbeat_interval": 1000 }, "s": null, "t": null })))
            .await
            .is_err()
        {
            return;
        }
        // The next frame of the log this connection sends; `None` until it identified or
        // resumed.
        let mut cursor: Option<usize> = None;
        let mut compress = false;
        loop {
            // Send what the log holds beyond the cursor.
            if let Some(at) = cursor {
                let pending: Vec<Value> = shared
                    .state
                    .lock()
                    .map(|s| s.gateway.frames[at.min(s.gateway.frames.len())..].to_vec())
                    .unwrap_or_default();
                let mut failed = false;
                for frame in &pending {
                    let message = if compress {
                        if let Ok(mut s) = shared.state.lock() {
                            s.gateway.compressed += 1;
                        }
                        WsMessage::Binary(zlib(&frame.to_string()))
                    } else {
                        text(frame.clone())
                    };
                    if sink.send(message).await.is_err() {
                        failed = true;
                        break;
                    }
                }
                if failed {
                    break;
                }
                cursor = Some(at + pending.len());
            }
            tokio::select! {
                incoming = stream.next() => {
                    let Some(Ok(frame)) = incoming else { break };
                    let WsMessage::Text(body) = frame else {
                        if matches!(frame, WsMessage::Close(_)) { break }
                        continue;
                    };
                    let Ok(payload) = serde_json::from_str::<Value>(&body) else { continue };
                    match payload["op"].as_u64() {
                        Some(1) if sink.send(text(json!({ "op": 11 }))).await.is_err() => break,
                        Some(1) => {}
                        Some(2 | 6) if cursor.is_some() => {
                            // Discord: identifying (or resuming) twice on one connection.
                            let _ = sink.send(close(4005, "Already authenticated.")).await;
                            break;
                        }
                        Some(2) => {
                            let d = &payload["d"];
                            let token_ok = d["token"] == format!("Bot {TOKEN}");
                            let intents = d["intents"].as_u64().unwrap_or(0);
                            let allowed = shared.state.lock().is_ok_and(|s| {
                                let enabled = if s.gateway.privileged_disabled { 0 } else { ENABLED_PRIVILEGED };
                                intents & PRIVILEGED & !enabled == 0
                            });
                            if let Ok(mut s) = shared.state.lock() {
                                s.identify = Some(d.clone());
                                s.gateway.identifies += 1;
                            }
                            shared.notify.notify_waiters();
                            if !token_ok {
                                let _ = sink.send(close(4004, "Authentication failed.")).await;
                                break;
                            }
                            if !allowed {
                                let _ = sink.send(close(4014, "Disallowed intent(s).")).await;
                                break;
                            }
                            compress = d["compress"] == true;
                            let start = shared.state.lock().map(|mut s| {
                                let start = s.gateway.frames.len();
                                s.gateway.push("READY", json!({
                                    "v": 10, "user": bot_user_json(),
                                    "guilds": [{ "id": GUILD_ID.to_string(), "unavailable": true }],
                                    "session_id": "fake-session", "resume_gateway_url": shared.ws_url.get(),
                                    "shard": [0, 1], "application": { "id": APPLICATION_ID.to_string(), "flags": 0 },
                                }));
                                s.gateway.push("GUILD_CREATE", guild());
                                start
                            });
                            cursor = start.ok();
                        }
                        Some(6) => {
                            let d = &payload["d"];
                            if d["token"] != format!("Bot {TOKEN}") {
                                let _ = sink.send(close(4004, "Authentication failed.")).await;
                                break;
                            }
                            let held = crate::wait::until(&shared.notify, Duration::from_secs(20), || {
                                match shared.state.lock() {
                                    Ok(s) if s.gateway.holding_resumes => Err(()),
                                    _ => Ok(()),
                                }
                            });
                            let _ = held.await;
                            // An unknown session, or no sequence to resume from, is not
                            // resumable: op 9, as Discord answers.
                            let known = d["session_id"] == "fake-session" && d["seq"].is_u64();
                            let invalidate = shared.state.lock().is_ok_and(|mut s| {
                                std::mem::take(&mut s.gateway.invalidate_next_resume)
                            }) || !known;
                            if invalidate {
                                if let Ok(mut s) = shared.state.lock() {
                                    s.gateway.invalidated += 1;
                                }
                                shared.notify.notify_waiters();
                                if sink.send(text(json!({ "op": 9, "d": false }))).await.is_err() { break }
                                continue;
                            }
                            let after = payload["d"]["seq"].as_u64().unwrap_or(0);
                            let start = shared.state.lock().map(|mut s| {
                                let start = s.gateway.frames.iter()
                                    .position(|f| f["s"].as_u64().is_some_and(|n| n > after))
                                    .unwrap_or(s.gateway.frames.len());
                                s.gateway.replayed += u32::try_from(s.gateway.frames.len() - start).unwrap_or(0);
                                s.gateway.push("RESUMED", json!({}));
                                s.resumes += 1;
                                start
                            });
                            shared.notify.notify_waiters();
                            cursor = start.ok();
                        }
                        _ => {}
                    }
                }
                event = events.recv() => {
                    let Ok(event) = event else { continue };
                    if event["t"] == RECONNECT && cursor.is_some() {
                        // Discord's op 7: the client must reconnect and resume.
                        let _ = sink.send(text(json!({ "op": 7, "d": null }))).await;
                        break;
                    }
                    if event["t"] == DROP && cursor.is_some() {
                        let _ = sink.send(close(4000, "Unknown error.")).await;
                        break;
                    }
                }
            }
        }
        if let Ok(mut s) = shared.state.lock() {
            s.gateway.disconnects += 1;
        }
        shared.notify.notify_waiters();
    })
}

/// One payload as Discord compresses it for `compress: true`: a whole zlib stream.
fn zlib(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = encoder.write_all(text.as_bytes());
    encoder.finish().unwrap_or_default()
}
