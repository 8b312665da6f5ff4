//! Pushed by the bot (`gate`, scheduled at the member's deadline) and workers (`sweep`, for
//! deadlines that passed unnoticed) · handled by `workers/src/kick_expired_member.rs`.

use serde::{Deserialize, Serialize};

use crate::job::Job;

/// At the deadline: re-read the member's state and kick only if still unverified and still in
/// the guild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KickExpiredMember {
    pub guild_id: u64,
    pub discord_user_id: u64,
}

impl Job for KickExpiredMember {
    const QUEUE: &'static str = "kick_expired_member";
}

impl KickExpiredMember {
    /// The idempotency key of the kick for one deadline (UNIX ms): the job scheduled at join
    /// and the sweep's catch-up share it, so one deadline gives one kick.
    pub fn key(&self, deadline_ms: i64) -> String {
        format!(
            "kick:{}:{}:{deadline_ms}",
            self.guild_id, self.discord_user_id
        )
    }
}
