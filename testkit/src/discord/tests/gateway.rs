//! The gateway refuses what Discord refuses: a wrong token (4004), privileged intents the
//! application may not use (4014), a second Identify on one connection (4005), a RESUME of
//! a session it does not know (op 9) or with a wrong token (4004).

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
    send(&mut socket, 6, resume("fake-session", "Bot someone-else")).await;
    closed_with(&next(&mut socket).await, CloseCode::from(4004));

    // The right session resumes and replays what followed its sequence number.
    let mut socket = connect(&discord).await;
    send(&mut socket, 6, resume("fake-session", &bot)).await;
    let replayed = next(&mut socket).await;
    assert_eq!(
        (replayed["s"].clone(), replayed["t"].clone()),
        (json!(2), json!("GUILD_CREATE"))
    );
}
