//! The gateway: one WebSocket session per connection (Hello, Identify checked against
//! [`TOKEN`], READY and GUILD_CREATE, heartbeats, RESUME), and the dispatches a test scripts
//! ([`FakeDiscord::message`], [`FakeDiscord::slash`]…), forwarded to the connected client with
//! increasing sequence numbers.

use std::time::Duration;

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
        let mentions = if mention { bot_mention() } else { json!([]) };
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
        self.with(|s| s.members.insert(user));
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

/// One gateway session (`/gateway`, the URL `GET /api/v10/gateway` names).
#[handler]
pub(super) fn session(ws: WebSocket, shared: Data<&Shared>) -> impl IntoResponse {
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
                                "v": 10, "user": bot_user_json(),
                                "guilds": [{ "id": GUILD_ID.to_string(), "unavailable": true }],
                                "session_id": "fake-session", "resume_gateway_url": shared.ws_url.get(),
                                "shard": [0, 1], "application": { "id": APPLICATION_ID.to_string(), "flags": 0 },
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
