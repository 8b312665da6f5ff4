//! The gateway: WebSocket connections (Hello; Identify checked against [`TOKEN`], the
//! privileged intents the application may use, the shard and the shards the bot needs, 4004,
//! 4014, 4010 and 4011 otherwise, and one Identify per 5 s, op 9 otherwise; READY and a
//! GUILD_CREATE per guild of the shard; heartbeats; RESUME, which replays what the client
//! missed, or op 9 Invalid Session when a test asks). A session per shard keeps every
//! dispatch sent to it (`events`: those of its guilds, DMs on shard 0) with its sequence
//! number, so a client that resumes after a drop gets the events sent while it was away, as
//! Discord replays them. A client that identifies with `compress: true` (serenity does) gets
//! its dispatches zlib-compressed in binary frames.

use std::io::Write;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use poem::IntoResponse;
use poem::handler;
use poem::web::Data;
use poem::web::websocket::{Message as WsMessage, WebSocket};
use serde_json::{Value, json};

mod handshake;

use handshake::{Identified, Resumed, identify, resume};

use super::{FakeDiscord, Shared};

/// The marker of a scripted op 7 in the dispatch channel.
const RECONNECT: &str = "__RECONNECT__";
/// The marker of a dropped connection (closed with 4000, which the client resumes from).
const DROP: &str = "__DROP__";
/// The marker of a new dispatch in the log.
const WAKE: &str = "__WAKE__";

/// The gateway as the fake's connections share it: a session per shard, and the test's
/// switches and counts.
#[derive(Debug, Default)]
pub(super) struct Gateway {
    /// Every session opened, each resumable and sent its shard's events for good: two
    /// sessions of one shard both get them, as on Discord.
    sessions: Vec<Session>,
    /// The fewest shards the application may run (4011 below).
    required_shards: u32,
    /// When the last Identify was taken (one per [`IDENTIFY_INTERVAL`]).
    last_identify: Option<Instant>,
    /// The `shard` of every Identify taken, in order.
    identified: Vec<[u32; 2]>,
    /// The close code of every Identify refused (4004, 4010, 4011, 4014), in order.
    refused: Vec<u16>,
    /// Identifies answered with op 9 for coming within 5 s of the last.
    too_soon: u32,
    /// Sessions the bot may start today, before Identifies ([`FakeDiscord::limit_session_starts`]).
    session_starts: u32,
    /// The next RESUME is answered with op 9 (d: false): the client must identify again.
    invalidate_next_resume: bool,
    /// The application's privileged intents are all switched off (4014 for any).
    privileged_disabled: bool,
    /// Dispatches sent zlib-compressed.
    pub(super) compressed: u32,
    /// Events replayed on RESUME.
    pub(super) replayed: u32,
    /// Op 9s sent for RESUMEs.
    pub(super) invalidated: u32,
    /// Connections that ended.
    disconnects: u32,
    /// RESUMEs wait until the test lets them through ([`FakeDiscord::hold_resumes`]).
    holding_resumes: bool,
}

/// One shard's session: every dispatch sent or to send to it, for RESUME to replay.
#[derive(Debug)]
struct Session {
    id: String,
    /// `[shard, count]` as identified.
    shard: [u32; 2],
    /// Every dispatch frame, in sequence order.
    frames: Vec<Value>,
    /// The last sequence number given.
    seq: u64,
}

impl Session {
    /// Appends a dispatch with the next sequence number.
    fn push(&mut self, t: &str, d: Value) {
        self.seq += 1;
        self.frames
            .push(json!({ "op": 0, "s": self.seq, "t": t, "d": d }));
    }

    /// Whether Discord sends this session the events of `guild` (`None`: a DM, which goes to
    /// shard 0).
    fn serves(&self, guild: Option<u64>) -> bool {
        let [shard, count] = self.shard;
        match guild {
            Some(guild) => super::shard_of(guild, count) == shard,
            None => shard == 0,
        }
    }
}

impl Gateway {
    pub(super) fn requiring(shards: u32) -> Self {
        Self {
            required_shards: shards,
            session_starts: 1000,
            ..Self::default()
        }
    }

    /// The fewest shards the bot may run (what `GET /gateway/bot` recommends).
    pub(super) fn required_shards(&self) -> u32 {
        self.required_shards
    }

    /// Sessions the bot may still start today.
    pub(super) fn session_starts_left(&self) -> u32 {
        self.session_starts.saturating_sub(self.identifies())
    }

    /// Identifies taken.
    pub(super) fn identifies(&self) -> u32 {
        u32::try_from(self.identified.len()).unwrap_or(u32::MAX)
    }

    pub(super) fn pass_time(&mut self, duration: Duration) {
        if let Some(at) = &mut self.last_identify {
            *at = at.checked_sub(duration).unwrap_or(*at);
        }
    }

    fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.iter().find(|s| s.id == id)
    }

    fn session_mut(&mut self, id: &str) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.id == id)
    }
}

impl FakeDiscord {
    /// Asks every connected session to reconnect (op 7) and waits until one has resumed.
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

    /// Drops every gateway connection (close 4000, as a network failure would look); the
    /// client reconnects and resumes, and gets what was dispatched meanwhile.
    /// Returns once a connection is closed: what is dispatched next waits in the log.
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
            (g.identifies(), g.compressed, g.replayed, g.invalidated)
        })
    }

    /// The `[shard, count]` of every Identify taken, in order.
    pub fn identified_shards(&self) -> Vec<[u32; 2]> {
        self.with(|s| s.gateway.identified.clone())
    }

    /// The close codes of the Identifies refused, in order.
    pub fn refused_identifies(&self) -> Vec<u16> {
        self.with(|s| s.gateway.refused.clone())
    }

    /// Identifies answered with op 9 for coming within 5 s of the last one taken.
    pub fn identifies_too_soon(&self) -> u32 {
        self.with(|s| s.gateway.too_soon)
    }

    /// `GET /gateway/bot` says the bot may start `n` more sessions today (it says 1,000 less
    /// the Identifies taken otherwise).
    pub fn limit_session_starts(&self, n: u32) {
        self.with(|s| s.gateway.session_starts = s.gateway.identifies() + n);
    }

    /// Waits until a session of each of `shards` (`[shard, count]`) was opened; panics
    /// after 20 s. What is dispatched to a shard's guilds from then on reaches it.
    pub async fn wait_shards(&self, shards: &[[u32; 2]]) {
        let open = crate::wait::until(&self.notify, Duration::from_secs(20), || {
            let open: Vec<[u32; 2]> =
                self.with(|s| s.gateway.sessions.iter().map(|s| s.shard).collect());
            if shards.iter().all(|shard| open.contains(shard)) {
                Ok(())
            } else {
                Err(open)
            }
        });
        if let Err(open) = open.await {
            panic!("the sessions of {shards:?} did not open; open: {open:?}");
        }
    }

    /// Logs a dispatch in the session of each shard Discord sends `guild`'s events to (a DM's
    /// to shard 0): sent at once to a connected client, or replayed when it resumes.
    pub(super) fn dispatch(&self, t: &str, d: Value, guild: Option<u64>) {
        self.with(|s| {
            for session in &mut s.gateway.sessions {
                if session.serves(guild) {
                    session.push(t, d.clone());
                }
            }
        });
        let _ = self.events.send(json!({ "t": WAKE }));
    }
}

/// One gateway connection (`/gateway`, the URL `GET /api/v10/gateway` names).
#[handler]
pub(super) fn connection(ws: WebSocket, shared: Data<&Shared>) -> impl IntoResponse {
    let shared = shared.clone();
    ws.on_upgrade(move |socket| async move {
        let (mut sink, mut stream) = socket.split();
        let mut events = shared.events.subscribe();
        if let Ok(mut s) = shared.state.lock() {
            s.connections += 1;
        }
        if sink
            .send(text(json!({ "op": 10, "d": { "heartbeat_interval": 1000 }, "s": null, "t": null })))
            .await
            .is_err()
        {
            return;
        }
        // The session this connection serves and the next frame of its log to send; `None`
        // until it identified or resumed.
        let mut cursor: Option<(String, usize)> = None;
        let mut compress = false;
        loop {
            // Send what the session's log holds beyond the cursor.
            if let Some((session, at)) = &mut cursor {
                let pending: Vec<Value> = shared
                    .state
                    .lock()
                    .ok()
                    .and_then(|s| {
                        let frames = &s.gateway.session(session)?.frames;
                        Some(frames[(*at).min(frames.len())..].to_vec())
                    })
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
                *at += pending.len();
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
                        Some(2) => match identify(&shared, &payload["d"]) {
                            Identified::Closed(code, why) => {
                                let _ = sink.send(close(code, why)).await;
                                break;
                            }
                            Identified::TooSoon => {
                                if sink.send(text(json!({ "op": 9, "d": false }))).await.is_err() { break }
                            }
                            Identified::Session(id) => {
                                compress = payload["d"]["compress"] == true;
                                cursor = Some((id, 0));
                            }
                        },
                        Some(6) => match resume(&shared, &payload["d"]).await {
                            Resumed::Closed(code, why) => {
                                let _ = sink.send(close(code, why)).await;
                                break;
                            }
                            Resumed::Invalid => {
                                if sink.send(text(json!({ "op": 9, "d": false }))).await.is_err() { break }
                            }
                            Resumed::From(id, at) => cursor = Some((id, at)),
                        },
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

fn text(v: Value) -> WsMessage {
    WsMessage::Text(v.to_string())
}

fn close(code: u16, why: &str) -> WsMessage {
    WsMessage::Close(Some((
        poem::web::websocket::CloseCode::from(code),
        why.to_owned(),
    )))
}

/// One payload as Discord compresses it for `compress: true`: a whole zlib stream.
fn zlib(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = encoder.write_all(text.as_bytes());
    encoder.finish().unwrap_or_default()
}
