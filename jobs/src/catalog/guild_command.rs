//! Pushed by the bot (the admin slash commands) · handled by `workers/src/guild_command.rs`.

use serde::{Deserialize, Serialize};

use super::verify_member::InteractionRef;
use crate::job::Job;

/// A guild admin's slash command (seed 003), answered by editing the deferred response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AdminCommand {
    /// Pending members and their deadlines.
    VerificationStatus,
    /// Verify a member by hand.
    ForceVerify { discord_user_id: u64 },
    /// The guild's verification timeout, in minutes.
    SetTimeout { minutes: u32 },
}

/// Run `command` for `guild_id`, asked by `invoker` (the bot checked their permission).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildCommand {
    pub guild_id: u64,
    pub invoker: u64,
    pub command: AdminCommand,
    pub interaction: InteractionRef,
}

impl Job for GuildCommand {
    const QUEUE: &'static str = "guild_command";
}
