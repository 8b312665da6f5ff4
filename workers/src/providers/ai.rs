//! The bot's chat, image and speech providers: three traits ([`ChatProvider`],
//! [`ImageProvider`], [`SpeechProvider`]), each with an OpenAI-compatible HTTP client
//! ([`OpenAi`]: chat completions, image generations, speech) and a built-in implementation that
//! needs no key: a clearly labelled [`LocalResponder`], a [`LocalRenderer`] that draws a real PNG
//! from the prompt, and [`NoSpeech`]. Tests replace the service at the network edge
//! (testkit's fake OpenAI-compatible server).
//!
//! Errors: [`AiError::Permanent`] (4xx other than 408/429: bad key, refused prompt) must not
//! be retried; [`AiError::Transient`] (network, 5xx, 429) may succeed later.

use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use store::secret::Secret;
use url::Url;

const HTTP_TIMEOUT: Duration = Duration::from_secs(90);
/// A reply that wants an image ends with a line `IMAGE: <prompt>`; the worker strips it and
/// pushes `generate_image`.
pub const IMAGE_MARKER: &str = "IMAGE:";

#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error("the provider refused: {0}")]
    Permanent(String),
    #[error("the provider failed for now: {0}")]
    Transient(String),
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// What the chat provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAnswer {
    pub reply: String,
    /// Set when the reply asks for an image.
    pub image_prompt: Option<String>,
}

impl ChatAnswer {
    /// Splits a trailing `IMAGE: <prompt>` line off a raw reply.
    pub fn parse(raw: &str) -> Self {
        let trimmed = raw.trim_end();
        if let Some((body, last)) = trimmed.rsplit_once('\n').or(Some(("", trimmed)))
            && let Some(prompt) = last.trim().strip_prefix(IMAGE_MARKER)
        {
            let prompt = prompt.trim();
            if !prompt.is_empty() {
                return Self {
                    reply: body.trim_end().to_owned(),
                    image_prompt: Some(prompt.to_owned()),
                };
            }
        }
        Self {
            reply: trimmed.to_owned(),
            image_prompt: None,
        }
    }
}

/// An OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// e.g. `https://api.openai.com/v1`
    pub base_url: Url,
    pub model: String,
    pub api_key: Option<Secret>,
}

/// Where replies, images and voice notes come from.
#[derive(Debug, Clone, Default)]
pub struct AiSettings {
    /// `None`: the local responder.
    pub chat: Option<ApiSettings>,
    /// `None`: the local renderer.
    pub image: Option<ApiSettings>,
    /// `None`: no voice notes.
    pub speech: Option<ApiSettings>,
    pub speech_voice: String,
    pub history_turns: u32,
}

/// Answers a conversation.
pub trait ChatProvider: Send + Sync + std::fmt::Debug {
    /// A reply to the last user turn of `history` (oldest first).
    fn chat<'a>(
        &'a self,
        personality: Option<&'a str>,
        history: &'a [Turn],
    ) -> BoxFuture<'a, Result<ChatAnswer, AiError>>;
}

/// Draws a picture (PNG bytes).
pub trait ImageProvider: Send + Sync + std::fmt::Debug {
    fn image<'a>(&'a self, prompt: &'a str) -> BoxFuture<'a, Result<Vec<u8>, AiError>>;
}

/// Speaks a text (MP3 bytes), or declines (`None`).
pub trait SpeechProvider: Send + Sync + std::fmt::Debug {
    fn speech<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, AiError>>;
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn join(base: &Url, path: &str) -> String {
    format!("{}/{path}", base.as_str().trim_end_matches('/'))
}

fn classify(status: reqwest::StatusCode, body: String) -> AiError {
    let detail = format!("{status}: {}", body.chars().take(300).collect::<String>());
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        AiError::Transient(detail)
    } else {
        AiError::Permanent(detail)
    }
}

/// The providers, ready to call: OpenAI-compatible clients where configured, the built-in
/// ones elsewhere. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ai {
    pub settings: std::sync::Arc<AiSettings>,
    pub chat: std::sync::Arc<dyn ChatProvider>,
    pub image: std::sync::Arc<dyn ImageProvider>,
    pub speech: std::sync::Arc<dyn SpeechProvider>,
}

impl Ai {
    pub fn new(settings: AiSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .user_agent(concat!("concierge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let client = |api: &ApiSettings| OpenAi {
            api: api.clone(),
            http: http.clone(),
            voice: settings.speech_voice.clone(),
        };
        let chat: std::sync::Arc<dyn ChatProvider> = match &settings.chat {
            Some(api) => std::sync::Arc::new(client(api)),
            None => std::sync::Arc::new(LocalResponder),
        };
        let image: std::sync::Arc<dyn ImageProvider> = match &settings.image {
            Some(api) => std::sync::Arc::new(client(api)),
            None => std::sync::Arc::new(LocalRenderer),
        };
        let speech: std::sync::Arc<dyn SpeechProvider> = match &settings.speech {
            Some(api) => std::sync::Arc::new(client(api)),
            None => std::sync::Arc::new(NoSpeech),
        };
        Ok(Self {
            settings: std::sync::Arc::new(settings),
            chat,
            image,
            speech,
        })
    }

    pub async fn chat(
        &self,
        personality: Option<&str>,
        history: &[Turn],
    ) -> Result<ChatAnswer, AiError> {
        self.chat.chat(personality, history).await
    }

    pub async fn image(&self, prompt: &str) -> Result<Vec<u8>, AiError> {
        self.image.image(prompt).await
    }

    pub async fn speech(&self, text: &str) -> Result<Option<Vec<u8>>, AiError> {
        self.speech.speech(text).await
    }

    /// The system prompt: the member's chosen personality, and how to ask for an image.
    pub fn system_prompt(personality: Option<&str>) -> String {
        let personality = personality.unwrap_or("friendly");
        format!(
            "You are the community's companion on Discord, with a {personality} personality. \
             Answer briefly. When a picture would help, end your answer with one line \
             `{IMAGE_MARKER} <a description of the picture>`."
        )
    }
}

/// An OpenAI-compatible API: chat completions, image generations, speech.
#[derive(Debug, Clone)]
pub struct OpenAi {
    api: ApiSettings,
    http: reqwest::Client,
    voice: String,
}

impl OpenAi {
    async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<reqwest::Response, AiError> {
        let mut request = self.http.post(join(&self.api.base_url, path)).json(&body);
        if let Some(key) = &self.api.api_key {
            request = request.bearer_auth(key.expose());
        }
        let provider = match path {
            "chat/completions" => "chat",
            "images/generations" => "image",
            _ => "speech",
        };
        let result = match request.send().await {
            Err(e) => Err(AiError::Transient(super::oauth::http_error(e))),
            Ok(response) if response.status().is_success() => Ok(response),
            Ok(response) => {
                let status = response.status();
                Err(classify(status, response.text().await.unwrap_or_default()))
            }
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AiError::Transient(_)) => "transient",
            Err(AiError::Permanent(_)) => "permanent",
        };
        jobs::metrics::provider_call(provider, outcome);
        result
    }

    async fn complete(
        &self,
        personality: Option<&str>,
        history: &[Turn],
    ) -> Result<ChatAnswer, AiError> {
        let mut messages = vec![Turn {
            role: "system".into(),
            content: Ai::system_prompt(personality),
        }];
        messages.extend(history.iter().cloned());
        let response = self
            .post(
                "chat/completions",
                serde_json::json!({ "model": self.api.model, "messages": messages }),
            )
            .await?;
        #[derive(Deserialize)]
        struct Completion {
            choices: Vec<Choice>,
        }
        #[derive(Deserialize)]
        struct Choice {
            message: Turn,
        }
        let completion: Completion = read(response, "completion").await?;
        let choice = first(completion.choices, "a completion without choices")?;
        Ok(ChatAnswer::parse(&choice.message.content))
    }

    async fn generate(&self, prompt: &str) -> Result<Vec<u8>, AiError> {
        let response = self
            .post(
                "images/generations",
                serde_json::json!({ "model": self.api.model, "prompt": prompt, "n": 1, "size": "1024x1024", "response_format": "b64_json" }),
            )
            .await?;
        #[derive(Deserialize)]
        struct Images {
            data: Vec<Image>,
        }
        #[derive(Deserialize)]
        struct Image {
            b64_json: Option<String>,
            url: Option<String>,
        }
        let images: Images = read(response, "image answer").await?;
        let image = first(images.data, "no image in the answer")?;
        match (image.b64_json, image.url) {
            (Some(b64), _) => base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| AiError::Permanent(format!("the image is not base64: {e}"))),
            (None, Some(url)) => {
                let bytes = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| AiError::Transient(super::oauth::http_error(e)))?
                    .bytes()
                    .await
                    .map_err(|e| AiError::Transient(super::oauth::http_error(e)))?;
                Ok(bytes.to_vec())
            }
            (None, None) => Err(AiError::Transient("an image without data".into())),
        }
    }

    async fn speak(&self, text: &str) -> Result<Option<Vec<u8>>, AiError> {
        let response = self
            .post(
                "audio/speech",
                serde_json::json!({ "model": self.api.model, "input": text, "voice": self.voice, "response_format": "mp3" }),
            )
            .await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AiError::Transient(super::oauth::http_error(e)))?;
        Ok(Some(bytes.to_vec()))
    }
}

/// A provider's JSON answer; one we cannot read is worth another try (a proxy's error page, a
/// cut-off body).
async fn read<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    what: &str,
) -> Result<T, AiError> {
    response
        .json()
        .await
        .map_err(|e| AiError::Transient(format!("unreadable {what}: {e}")))
}

/// The first of the items an answer lists; none is worth another try.
fn first<T>(items: Vec<T>, missing: &str) -> Result<T, AiError> {
    items
        .into_iter()
        .next()
        .ok_or_else(|| AiError::Transient(missing.to_owned()))
}

impl ChatProvider for OpenAi {
    fn chat<'a>(
        &'a self,
        personality: Option<&'a str>,
        history: &'a [Turn],
    ) -> BoxFuture<'a, Result<ChatAnswer, AiError>> {
        Box::pin(self.complete(personality, history))
    }
}

impl ImageProvider for OpenAi {
    fn image<'a>(&'a self, prompt: &'a str) -> BoxFuture<'a, Result<Vec<u8>, AiError>> {
        Box::pin(self.generate(prompt))
    }
}

impl SpeechProvider for OpenAi {
    fn speech<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, AiError>> {
        Box::pin(self.speak(text))
    }
}

/// The built-in chat provider: no model, no key, and it says so.
#[derive(Debug, Clone, Copy)]
pub struct LocalResponder;

impl ChatProvider for LocalResponder {
    fn chat<'a>(
        &'a self,
        personality: Option<&'a str>,
        history: &'a [Turn],
    ) -> BoxFuture<'a, Result<ChatAnswer, AiError>> {
        Box::pin(async move { Ok(local_reply(personality, history)) })
    }
}

/// The built-in image provider: a PNG drawn from the prompt.
#[derive(Debug, Clone, Copy)]
pub struct LocalRenderer;

impl ImageProvider for LocalRenderer {
    fn image<'a>(&'a self, prompt: &'a str) -> BoxFuture<'a, Result<Vec<u8>, AiError>> {
        Box::pin(async move { Ok(crate::providers::png::render(prompt)) })
    }
}

/// Without a speech provider there are no voice notes.
#[derive(Debug, Clone, Copy)]
pub struct NoSpeech;

impl SpeechProvider for NoSpeech {
    fn speech<'a>(&'a self, _text: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, AiError>> {
        Box::pin(async { Ok(None) })
    }
}

/// The local responder's answer.
fn local_reply(personality: Option<&str>, history: &[Turn]) -> ChatAnswer {
    let last = history
        .iter()
        .rev()
        .find(|t| t.role == "user")
        .map(|t| t.content.trim())
        .unwrap_or("");
    let lower = last.to_lowercase();
    let wants_image = ["draw", "imagine", "picture", "image of", "paint"]
        .iter()
        .any(|w| lower.contains(w));
    let tone = personality.unwrap_or("friendly");
    let mut reply = format!(
        "[local responder: no chat model is configured] You said: \u{201c}{}\u{201d}. \
         I'm the {tone} built-in stand-in; an operator can set CHAT_API_BASE_URL for real answers.",
        last.chars().take(500).collect::<String>()
    );
    let image_prompt = wants_image.then(|| last.chars().take(300).collect::<String>());
    if image_prompt.is_some() {
        reply.push_str(" Here is a picture.");
    }
    ChatAnswer {
        reply,
        image_prompt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_requests_are_split_off_the_reply() {
        let a = ChatAnswer::parse("Sure!\nIMAGE: a red fox in snow\n");
        assert_eq!(a.reply, "Sure!");
        assert_eq!(a.image_prompt.as_deref(), Some("a red fox in snow"));
        let b = ChatAnswer::parse("No picture here.");
        assert_eq!(b.image_prompt, None);
        let c = ChatAnswer::parse("IMAGE: only a picture");
        assert_eq!(
            (c.reply.as_str(), c.image_prompt.as_deref()),
            ("", Some("only a picture"))
        );
    }

    #[test]
    fn the_local_responder_labels_itself_and_draws_on_request() {
        let history = [Turn {
            role: "user".into(),
            content: "please draw a cat".into(),
        }];
        let a = local_reply(Some("loving"), &history);
        assert!(a.reply.starts_with("[local responder"));
        assert_eq!(a.image_prompt.as_deref(), Some("please draw a cat"));
    }
}
