use serde::{Deserialize, Serialize};

use crate::Job;

/// Check a member's verification attempt against the invitation, mark the user verified and
/// linked, and grant the Member role. The attempt (email + token) waits in the store under
/// `attempt_id`, so the token never travels in a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyMember {
    pub guild_id: u64,
    pub discord_user_id: u64,
    pub attempt_id: i64,
}

impl Job for VerifyMember {
    const QUEUE: &'static str = "verify_member";
}
