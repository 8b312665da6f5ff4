//! The `ai` section: the chat, image and speech providers of the bot's replies, each an
//! OpenAI-compatible HTTP API, and how much history a chat request carries. It converts into
//! the workers' [`AiSettings`].

use serde::Deserialize;
use store::secret::Secret;
use url::Url;
use workers::providers::ai::{AiSettings, ApiSettings};

use super::error::{ConfigError, invalid};
use super::resolve::Resolver;

/// The chat, image and speech providers of the bot's replies. Each is an OpenAI-compatible
/// HTTP API (base URL, model, key); without a base URL the built-in ones answer: a clearly
/// labelled local responder, a local renderer that draws a PNG from the prompt, no voice notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiConfig {
    /// Chat replies: `CHAT_API_BASE_URL`, `CHAT_MODEL` (default `gpt-4o-mini`), `CHAT_API_KEY`;
    /// `ai.chat_*`. Unset: the local responder answers, clearly labelled.
    pub chat: Option<AiProvider>,
    /// Generated images: `IMAGE_API_BASE_URL`, `IMAGE_MODEL` (default `gpt-image-1`),
    /// `IMAGE_API_KEY`; `ai.image_*`. Unset: the local renderer draws a PNG from the prompt.
    pub image: Option<AiProvider>,
    /// Spoken replies: `SPEECH_API_BASE_URL`, `SPEECH_MODEL` (default `tts-1`),
    /// `SPEECH_API_KEY`; `ai.speech_*`. Unset: no voice notes.
    pub speech: Option<AiProvider>,
    /// Voice of spoken replies. `SPEECH_VOICE`, `ai.speech_voice`; default `alloy`.
    pub speech_voice: String,
    /// Earlier turns sent with each chat request. `CHAT_HISTORY_TURNS`,
    /// `ai.chat_history_turns`; default 20.
    pub chat_history_turns: u32,
}

/// One OpenAI-compatible API: `<KIND>_API_BASE_URL` (e.g. `https://api.openai.com/v1`),
/// `<KIND>_MODEL`, `<KIND>_API_KEY` (secret) for KIND in CHAT, IMAGE, SPEECH; YAML
/// `ai.<kind>_base_url`, `ai.<kind>_model`, `ai.<kind>_api_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiProvider {
    /// The API's base URL; setting it is what turns the provider on.
    pub base_url: Url,
    /// The model asked for.
    pub model: String,
    /// The API key, when the provider wants one (a local server may not).
    pub api_key: Option<Secret>,
}

/// The YAML section `ai`, every key optional; each key is described on the
/// [`AiConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAi {
    chat_base_url: Option<String>,
    chat_model: Option<String>,
    chat_api_key: Option<String>,
    chat_history_turns: Option<u32>,
    image_base_url: Option<String>,
    image_model: Option<String>,
    image_api_key: Option<String>,
    speech_base_url: Option<String>,
    speech_model: Option<String>,
    speech_api_key: Option<String>,
    speech_voice: Option<String>,
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileAi) -> Result<AiConfig, ConfigError> {
    let provider = |kind: &str,
                    base: Option<String>,
                    model: Option<String>,
                    key: Option<String>,
                    default_model: &str|
     -> Result<Option<AiProvider>, ConfigError> {
        let upper = kind.to_ascii_uppercase();
        let Some(base_url) = r.url(
            &format!("{upper}_API_BASE_URL"),
            &format!("ai.{kind}_base_url"),
            base,
        )?
        else {
            return Ok(None);
        };
        Ok(Some(AiProvider {
            base_url,
            model: r.string_or(&format!("{upper}_MODEL"), model, default_model),
            api_key: r.string(&format!("{upper}_API_KEY"), key).map(Secret::new),
        }))
    };
    let turns = r
        .parse(
            "CHAT_HISTORY_TURNS",
            "ai.chat_history_turns",
            f.chat_history_turns,
        )?
        .unwrap_or(20);
    if turns > 200 {
        return Err(invalid(
            "CHAT_HISTORY_TURNS (ai.chat_history_turns)",
            "must be at most 200",
        ));
    }
    Ok(AiConfig {
        chat: provider(
            "chat",
            f.chat_base_url,
            f.chat_model,
            f.chat_api_key,
            "gpt-4o-mini",
        )?,
        image: provider(
            "image",
            f.image_base_url,
            f.image_model,
            f.image_api_key,
            "gpt-image-1",
        )?,
        speech: provider(
            "speech",
            f.speech_base_url,
            f.speech_model,
            f.speech_api_key,
            "tts-1",
        )?,
        speech_voice: r.string_or("SPEECH_VOICE", f.speech_voice, "alloy"),
        chat_history_turns: turns,
    })
}

impl AiConfig {
    /// The workers' AI settings.
    pub fn settings(&self) -> AiSettings {
        let api = |p: &AiProvider| ApiSettings {
            base_url: p.base_url.clone(),
            model: p.model.clone(),
            api_key: p.api_key.clone(),
        };
        AiSettings {
            chat: self.chat.as_ref().map(api),
            image: self.image.as_ref().map(api),
            speech: self.speech.as_ref().map(api),
            speech_voice: self.speech_voice.clone(),
            history_turns: self.chat_history_turns,
        }
    }
}
