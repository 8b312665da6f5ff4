use serde::{Deserialize, Serialize};

use crate::Job;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OauthProvider {
    Discord,
    Google,
}

/// Exchange an authorization code for tokens, fetch the profile, link the identity and mark
/// the user verified. `state_id` is the consumed `one_time_tokens` row that binds the user,
/// redirect URI and PKCE verifier. The code alone is useless without that verifier, which
/// never leaves the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeOauthCode {
    pub provider: OauthProvider,
    pub state_id: i64,
    pub code: String,
}

impl Job for ExchangeOauthCode {
    const QUEUE: &'static str = "exchange_oauth_code";
    // The browser waits for this one: few, fast attempts.
    const MAX_ATTEMPTS: u32 = 3;
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
}
