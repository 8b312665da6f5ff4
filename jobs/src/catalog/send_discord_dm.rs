//! Pushed by the bot (`dm`: verification instructions, login prompts) and workers
//! (`verify_member`'s answer) · handled by `workers/src/send_discord_dm.rs`.

use serde::{Deserialize, Serialize};

use crate::job::Job;

/// What to say in a DM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DmMessage {
    /// How to verify, and by when (UNIX seconds).
    VerificationInstructions { deadline: i64 },
    /// Verification succeeded.
    VerificationConfirmed,
    /// Verification failed; `reason` says why in words for the member.
    VerificationFailed { reason: String },
    /// The account is not linked: how to link it (seed 001).
    LoginInstructions,
    /// Linked by a `/login` code but not verified: send back the code mailed to the address.
    CheckMail,
    /// Linked, but the email is still to be proven: how to finish.
    VerifyEmailInstructions,
    /// A code or token was typed in a channel: send them by DM from now on.
    SecretInPublic,
}

/// DM a member; when their DMs are closed (Discord error 50007), post in the guild's fallback
/// channel instead. `key` makes the post idempotent (Discord's nonce) when the job runs twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendDiscordDm {
    pub discord_user_id: u64,
    pub guild_id: Option<u64>,
    pub message: DmMessage,
}

impl Job for SendDiscordDm {
    const QUEUE: &'static str = "send_discord_dm";
}
