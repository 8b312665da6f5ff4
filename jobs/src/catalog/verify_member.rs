//! Pushed by the bot (`verify_attempt`, `login_attempt`, `gate`), the API (`verify_discord`) and
//! workers (`guild_command`'s force-verify) · handled by `workers/src/verify_member.rs`.

use serde::{Deserialize, Serialize};

use crate::job::Job;

/// How a member proves who they are. Secrets travel sealed with the application key (the bot
/// and workers share it), never in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MemberProof {
    /// Seed 003: the invitee's email and the token from their invitation mail.
    Invitation { email: String, sealed_token: String },
    /// Seed 001's fallback: `/login <auth_code>` from onboarding.
    LoginCode { sealed_code: String },
    /// A guild admin's `/force_verify`.
    Forced { by: u64 },
    /// The member is verified already (they rejoined, or were verified through
    /// `POST /api/verify-discord`): grant the role and lift the gate, quietly.
    Rejoined,
}

/// A deferred slash-command response to edit, instead of a DM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionRef {
    /// The interaction token, sealed (it lets its holder edit the response for 15 minutes).
    pub sealed_token: String,
}

/// Check a member's proof, mark the user verified and linked to the Discord account, grant
/// the Member role in `guild_id` (when given), and confirm (in the interaction, else by DM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyMember {
    pub guild_id: Option<u64>,
    pub discord_user_id: u64,
    pub proof: MemberProof,
    pub interaction: Option<InteractionRef>,
}

impl Job for VerifyMember {
    const QUEUE: &'static str = "verify_member";
}
