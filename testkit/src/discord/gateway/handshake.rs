//! Identify and RESUME, checked as Discord checks them, and the sessions they open or
//! resume.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::super::json::{bot_user_json, guild_json};
use super::super::{APPLICATION_ID, Guild, Shared, State, TOKEN};
use super::Session;

/// Privileged intents (Discord's bits): GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT.
const PRIVILEGED: u64 = (1 << 1) | (1 << 8) | (1 << 15);
/// The privileged intents the fake application has switched on in its settings: members and
/// message content (what the bot needs), not presences.
const ENABLED_PRIVILEGED: u64 = (1 << 1) | (1 << 15);
/// Discord's close codes for an Identify's `shard`: out of range, or too few shards for the
/// guilds the bot is in.
const INVALID_SHARD: u16 = 4010;
const SHARDING_REQUIRED: u16 = 4011;
/// Discord lets an application identify once per 5 s (`max_concurrency` 1, what every bot
/// in fewer than 150,000 guilds has); an Identify sooner is answered with op 9.
const IDENTIFY_INTERVAL: Duration = Duration::from_secs(5);

/// An Identify's `shard`: `[shard_id, num_shards]`, `[0, 1]` when left out; `None` when it is
/// not a shard Discord accepts (4010).
fn identified_shard(d: &Value) -> Option<[u32; 2]> {
    let shard = &d["shard"];
    if shard.is_null() {
        return Some([0, 1]);
    }
    let pair = shard.as_array().filter(|a| a.len() == 2)?;
    let number = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let (id, count) = (number(&pair[0])?, number(&pair[1])?);
    (id < count).then_some([id, count])
}

/// How an Identify was answered.
pub(super) enum Identified {
    /// Closed with a code and reason.
    Closed(u16, &'static str),
    /// Sooner than one per 5 s: op 9.
    TooSoon,
    /// Taken: the new session, whose log starts with READY and its guilds' GUILD_CREATEs.
    Session(String),
}

/// Checks an Identify as Discord does (token, privileged intents, shard, sharding required,
/// one per 5 s) and opens a session of its shard.
pub(super) fn identify(shared: &Shared, d: &Value) -> Identified {
    let mut s = shared.state.lock().expect("fake Discord state");
    s.identify = Some(d.clone());
    shared.notify.notify_waiters();
    let answer = checked_identify(&mut s, shared, d);
    if let Identified::Closed(code, _) = answer {
        s.gateway.refused.push(code);
    }
    answer
}

fn checked_identify(s: &mut State, shared: &Shared, d: &Value) -> Identified {
    if d["token"] != format!("Bot {TOKEN}") {
        return Identified::Closed(4004, "Authentication failed.");
    }
    let enabled = if s.gateway.privileged_disabled {
        0
    } else {
        ENABLED_PRIVILEGED
    };
    if d["intents"].as_u64().unwrap_or(0) & PRIVILEGED & !enabled != 0 {
        return Identified::Closed(4014, "Disallowed intent(s).");
    }
    let Some(shard) = identified_shard(d) else {
        return Identified::Closed(INVALID_SHARD, "Invalid shard.");
    };
    if shard[1] < s.gateway.required_shards {
        return Identified::Closed(SHARDING_REQUIRED, "Sharding required.");
    }
    if s.gateway
        .last_identify
        .is_some_and(|at| at.elapsed() < IDENTIFY_INTERVAL)
    {
        s.gateway.too_soon += 1;
        return Identified::TooSoon;
    }
    let g = &mut s.gateway;
    g.last_identify = Some(Instant::now());
    g.identified.push(shard);
    let id = format!("fake-session-{}-{}", shard[0], g.identifies());
    let mut session = Session {
        id: id.clone(),
        shard,
        frames: Vec::new(),
        seq: 0,
    };
    let guilds: Vec<Guild> = s
        .guilds
        .iter()
        .filter(|guild| session.serves(Some(guild.id)))
        .copied()
        .collect();
    let unavailable: Vec<Value> = guilds
        .iter()
        .map(|g| json!({ "id": g.id.to_string(), "unavailable": true }))
        .collect();
    session.push(
        "READY",
        json!({
            "v": 10, "user": bot_user_json(), "guilds": unavailable,
            "session_id": id, "resume_gateway_url": shared.ws_url.get(),
            "shard": shard, "application": { "id": APPLICATION_ID.to_string(), "flags": 0 },
        }),
    );
    for guild in &guilds {
        session.push("GUILD_CREATE", guild_json(guild));
    }
    s.gateway.sessions.push(session);
    Identified::Session(id)
}

/// How a RESUME was answered.
pub(super) enum Resumed {
    Closed(u16, &'static str),
    /// Not resumable: op 9.
    Invalid,
    /// The session and the first frame of its log to replay (what followed `seq`).
    From(String, usize),
}

/// Resumes the session a RESUME names, once the test lets it through.
pub(super) async fn resume(shared: &Shared, d: &Value) -> Resumed {
    if d["token"] != format!("Bot {TOKEN}") {
        return Resumed::Closed(4004, "Authentication failed.");
    }
    let held = crate::wait::until(&shared.notify, Duration::from_secs(20), || {
        match shared.state.lock() {
            Ok(s) if s.gateway.holding_resumes => Err(()),
            _ => Ok(()),
        }
    });
    let _ = held.await;
    let id = d["session_id"].as_str().unwrap_or_default().to_owned();
    let resumed = shared.state.lock().map(|mut s| {
        // An unknown session, or no sequence to resume from, is not resumable: op 9, as
        // Discord answers.
        let invalidate = std::mem::take(&mut s.gateway.invalidate_next_resume);
        let (Some(after), false) = (d["seq"].as_u64(), invalidate) else {
            return None;
        };
        let session = s.gateway.session_mut(&id)?;
        let start = session
            .frames
            .iter()
            .position(|f| f["s"].as_u64().is_some_and(|n| n > after))
            .unwrap_or(session.frames.len());
        let replayed = u32::try_from(session.frames.len() - start).unwrap_or(0);
        session.push("RESUMED", json!({}));
        s.gateway.replayed += replayed;
        s.resumes += 1;
        Some(start)
    });
    shared.notify.notify_waiters();
    match resumed {
        Ok(Some(start)) => Resumed::From(id, start),
        _ => {
            if let Ok(mut s) = shared.state.lock() {
                s.gateway.invalidated += 1;
            }
            Resumed::Invalid
        }
    }
}
