//! The gateway refuses what Discord refuses: a wrong token (4004), privileged intents the
//! application may not use (4014), a second Identify on one connection (4005), a RESUME of
//! a session it does not know (op 9) or with a wrong token (4004), a shard out of range
//! (4010), too few shards for the bot's guilds (4011), an Identify within 5 s of the last
//! (op 9); and it sends each shard the events of its guilds only.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::super::{FakeDiscord, TOKEN};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection past Hello.
async fn connect(discord: &FakeDiscord) -> Socket {
    let url = discord.url.replace("http://", "ws://") + "/gateway";
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let hello = next(&mut socket).await;
    assert_eq!(hello["op"], 10, "{hello}");
    socket
}

/// The next frame: JSON (text or zlib), or the close code as `{"close": code}`.
async fn next(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("json"),
            Some(Ok(Message::Binary(bytes))) => {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut flate2::read::ZlibDecoder::new(&bytes[..]),
                    &mut text,
                )
                .expect("zlib");
                return serde_json::from_str(&text).expect("json");
            }
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map_or(0, |f| u16::from(f.code));
                return json!({ "close": code });
            }
            Some(Ok(_)) => continue,
            _ => return json!({ "close": 0 }),
        }
    }
}

async fn send(socket: &mut Socket, op: u64, d: Value) {
    let frame = json!({ "op": op, "d": d }).to_string();
    socket.send(Message::Text(frame)).await.expect("send");
}

fn identify(token: &str, intents: u64) -> Value {
    json!({ "token": token, "intents": intents, "properties": {}, "compress": false })
}

/// The bot's Identify as shard `shard` of `count`.
fn identify_shard(shard: Value) -> Value {
    let mut d = identify(&format!("Bot {TOKEN}"), BOTS_INTENTS);
    d["shard"] = shard;
    d
}

/// GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT.
const BOTS_INTENTS: u64 = 1 | (1 << 1) | (1 << 9) | (1 << 12) | (1 << 15);

fn closed_with(frame: &Value, code: CloseCode) {
    assert_eq!(frame["close"], u16::from(code), "{frame}");
}

#[tokio::test]
async fn identify_and_resume_are_checked() {
    let discord = FakeDiscord::start().await;
    let bot = format!("Bot {TOKEN}");

    let mut socket = connect(&discord).await;
    send(&mut socket, 2, identify("Bot someone-else", BOTS_INTENTS)).await;
    closed_with(&next(&mut socket).await, CloseCode::from(4004));

    let mut socket = connect(&discord).await;
    // GUILD_PRESENCES: privileged, and not switched on for this application.
    send(&mut socket, 2, identify(&bot, BOTS_INTENTS | (1 << 8))).await;
    closed_with(&next(&mut socket).await, CloseCode::from(4014));

    let mut socket = connect(&discord).await;
    send(&mut socket, 2, identify(&bot, BOTS_INTENTS)).await;
    let ready = next(&mut socket).await;
    assert_eq!(ready["t"], "READY", "{ready}");
    assert_eq!(ready["d"]["shard"], json!([0, 1]), "no shard asked: [0, 1]");
    let session = ready["d"]["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    assert_eq!(next(&mut socket).await["t"], "GUILD_CREATE");
    send(&mut socket, 2, identify(&bot, BOTS_INTENTS)).await;
    closed_with(&next(&mut socket).await, CloseCode::from(4005));

    let mut socket = connect(&discord).await;
    let resume =
        |session: &str, token: &str| json!({ "token": token, "session_id": session, "seq": 1 });
    send(&mut socket, 6, resume("someone-elses-session", &bot)).await;
    let invalid = next(&mut socket).await;
    assert_eq!(
        (invalid["op"].clone(), invalid["d"].clone()),
        (json!(9), json!(false))
    );

    let mut socket = connect(&discord).await;
    send(&mut socket, 6, resume(&session, "Bot someone-else")).await;
    closed_with(&next(&mut socket).await, CloseCode::from(4004));

    // The right session resumes and replays what followed its sequence number.
    let mut socket = connect(&discord).await;
    send(&mut socket, 6, resume(&session, &bot)).await;
    let replayed = next(&mut socket).await;
    assert_eq!(
        (replayed["s"].clone(), replayed["t"].clone()),
        (json!(2), json!("GUILD_CREATE"))
    );
}

#[tokio::test]
async fn shards_are_checked_and_each_gets_its_guilds_events() {
    let discord = FakeDiscord::start_sharded(2).await;
    let guilds = discord.guilds();
    assert_eq!(
        guilds.iter().map(|g| g.shard(2)).collect::<Vec<_>>(),
        [0, 1],
        "a guild on each shard"
    );

    for bad in [json!([2, 2]), json!([0, 0]), json!([0]), json!(["0", 2])] {
        let mut socket = connect(&discord).await;
        send(&mut socket, 2, identify_shard(bad.clone())).await;
        let frame = next(&mut socket).await;
        assert_eq!(frame["close"], 4010, "{bad}: {frame}");
    }
    // The bot is in two shards' worth of guilds: one shard cannot hold them.
    for few in [Value::Null, json!([0, 1])] {
        let mut socket = connect(&discord).await;
        send(&mut socket, 2, identify_shard(few.clone())).await;
        closed_with(&next(&mut socket).await, CloseCode::from(4011));
    }

    let mut second = connect(&discord).await;
    send(&mut second, 2, identify_shard(json!([1, 2]))).await;
    let ready = next(&mut second).await;
    assert_eq!(ready["d"]["shard"], json!([1, 2]), "{ready}");
    assert_eq!(
        ready["d"]["guilds"],
        json!([{ "id": guilds[1].id.to_string(), "unavailable": true }])
    );
    let created = next(&mut second).await;
    assert_eq!(created["d"]["id"], guilds[1].id.to_string(), "{created}");

    // One Identify per 5 s: the next, sooner, is answered with op 9.
    let mut first = connect(&discord).await;
    send(&mut first, 2, identify_shard(json!([0, 2]))).await;
    let refused = next(&mut first).await;
    assert_eq!(
        (refused["op"].clone(), refused["d"].clone()),
        (json!(9), json!(false))
    );
    discord.pass_time(std::time::Duration::from_secs(5));
    send(&mut first, 2, identify_shard(json!([0, 2]))).await;
    let ready = next(&mut first).await;
    assert_eq!(ready["d"]["shard"], json!([0, 2]), "{ready}");
    assert_eq!(next(&mut first).await["d"]["id"], guilds[0].id.to_string());
    assert_eq!(discord.identified_shards(), [[1, 2], [0, 2]]);

    // A join in the second guild reaches shard 1 alone; a DM reaches shard 0 alone.
    discord.member_joins_in(guilds[1].id, 77, false);
    discord.message(77, FakeDiscord::dm_channel(77), None, "hello", false);
    let joined = next(&mut second).await;
    assert_eq!(
        (joined["t"].clone(), joined["d"]["guild_id"].clone()),
        (json!("GUILD_MEMBER_ADD"), json!(guilds[1].id.to_string()))
    );
    let dm = next(&mut first).await;
    assert_eq!(
        dm["t"], "MESSAGE_CREATE",
        "shard 0 got the DM and not the join: {dm}"
    );
    // Shard 1 got nothing more: what answers its heartbeat comes next.
    send(&mut second, 1, json!(null)).await;
    assert_eq!(
        next(&mut second).await["op"],
        11,
        "shard 1 did not get the DM"
    );
    assert_eq!(discord.identifies_too_soon(), 1);
    assert_eq!(
        discord.refused_identifies(),
        [4010, 4010, 4010, 4010, 4011, 4011]
    );
    assert!(discord.is_member_of(guilds[1].id, 77));
    assert!(!discord.is_member_of(guilds[0].id, 77));
}
