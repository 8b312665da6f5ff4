//! A fake OpenAI-compatible API over real HTTP: `POST /v1/chat/completions`,
//! `POST /v1/images/generations` (base64 PNG) and `POST /v1/audio/speech` (bytes), recording
//! every request body. Replies are scripted with [`FakeOpenAi::reply_with`]; by default the
//! chat answer echoes the last user message.

use std::sync::{Arc, Mutex};

use base64::Engine;
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Response, Route, handler, post};

/// The bytes the speech endpoint answers (an "MP3" for tests).
pub const VOICE_NOTE: &[u8] = b"ID3\x04\x00fake-mp3-voice-note";

#[derive(Debug, Default)]
struct State {
    reply: Option<String>,
    requests: Vec<(String, serde_json::Value)>,
}

/// A running fake. Stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct FakeOpenAi {
    /// `http://127.0.0.1:<port>/v1`, the base URL to configure.
    pub base_url: String,
    state: Arc<Mutex<State>>,
    _stop: Arc<crate::oauth::StopOnDrop>,
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let app = Route::new()
            .at("/v1/chat/completions", post(chat))
            .at("/v1/images/generations", post(images))
            .at("/v1/audio/speech", post(speech))
            .data(state.clone());
        let (addr, stop) = crate::oauth::serve(app, "fake OpenAI").await;
        Self {
            base_url: format!("http://{addr}/v1"),
            state,
            _stop: Arc::new(stop),
        }
    }

    /// The chat endpoint answers `text` from now on.
    pub fn reply_with(&self, text: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.reply = Some(text.to_owned());
        }
    }

    /// Every request: (path, JSON body).
    pub fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.state
            .lock()
            .map(|s| s.requests.clone())
            .unwrap_or_default()
    }
}

fn record(state: &Mutex<State>, path: &str, body: &serde_json::Value) {
    if let Ok(mut s) = state.lock() {
        s.requests.push((path.to_owned(), body.clone()));
    }
}

#[handler]
fn chat(Json(body): Json<serde_json::Value>, state: Data<&Arc<Mutex<State>>>) -> Response {
    record(&state, "chat/completions", &body);
    let scripted = state.lock().ok().and_then(|s| s.reply.clone());
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|t| t["role"] == "user"))
        .and_then(|t| t["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let content = scripted.unwrap_or_else(|| format!("echo: {last}"));
    Json(serde_json::json!({
        "id": "chatcmpl-fake", "object": "chat.completion",
        "choices": [{ "index": 0, "finish_reason": "stop",
                      "message": { "role": "assistant", "content": content } }],
    }))
    .into_response()
}

#[handler]
fn images(Json(body): Json<serde_json::Value>, state: Data<&Arc<Mutex<State>>>) -> Response {
    record(&state, "images/generations", &body);
    let prompt = body["prompt"].as_str().unwrap_or("");
    let png = workers::providers::png::render(prompt);
    Json(serde_json::json!({
        "created": 0,
        "data": [{ "b64_json": base64::engine::general_purpose::STANDARD.encode(png) }],
    }))
    .into_response()
}

#[handler]
fn speech(Json(body): Json<serde_json::Value>, state: Data<&Arc<Mutex<State>>>) -> Response {
    record(&state, "audio/speech", &body);
    Response::builder()
        .content_type("audio/mpeg")
        .body(VOICE_NOTE.to_vec())
}
