//! Pushed by the bot (`/imagine`) and workers (`chat_reply`, when the answer asks for an
//! image) · handled by `workers/src/generate_image.rs`.

use serde::{Deserialize, Serialize};

use super::verify_member::InteractionRef;
use crate::job::Job;

/// Generate an image for `prompt` and post it to `channel_id` (or into the deferred response
/// of `/imagine`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateImage {
    pub prompt: String,
    pub channel_id: u64,
    /// The Discord member who asked.
    pub requested_by: u64,
    /// The message to reply to, when there is one.
    pub reply_to: Option<u64>,
    /// `/imagine`'s deferred response to fill.
    #[serde(default)]
    pub interaction: Option<InteractionRef>,
}

impl Job for GenerateImage {
    const QUEUE: &'static str = "generate_image";
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);
}
