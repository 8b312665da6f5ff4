//! Pushed by the bot (`on_message`, a linked member's message) · handled by
//! `workers/src/chat_reply.rs`.

use serde::{Deserialize, Serialize};

use crate::job::Job;

/// Answer a linked member's message: load history, call the chat provider with the user's
/// personality, post the reply (and a voice note) in the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatReply {
    pub user_id: i64,
    pub channel_id: u64,
    pub message_id: u64,
    pub guild_id: Option<u64>,
}

impl Job for ChatReply {
    const QUEUE: &'static str = "chat_reply";
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
}
