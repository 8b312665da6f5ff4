//! Pushed by the API (`login`, and `discord_callback` for Discord), which waits for its outcome
//! · handled by `workers/src/exchange_oauth_code.rs`.

use serde::{Deserialize, Serialize};

use crate::job::Job;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OauthProvider {
    Discord,
    Google,
}

impl OauthProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            OauthProvider::Discord => "discord",
            OauthProvider::Google => "google",
        }
    }
}

/// What the provider is asked to turn into an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OauthGrant {
    /// An authorization code, sealed with the sealing key so Redis, logs and the dashboard
    /// never hold it in clear. `state_id` is the consumed `one_time_tokens` row binding the
    /// user, redirect URI and PKCE verifier; the code is useless without that verifier, which
    /// never leaves the database.
    Code { state_id: i64, sealed_code: String },
    /// An access token the client already holds (Google sign-in, seed 002), sealed likewise.
    AccessToken { sealed: String },
}

/// Exchange a grant for tokens, fetch the profile, link or find the account. The result is an
/// [`ExchangeOutcome`]; the API waits for it (bounded) and answers the browser or client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeOauthCode {
    pub provider: OauthProvider,
    pub grant: OauthGrant,
}

impl Job for ExchangeOauthCode {
    const QUEUE: &'static str = "exchange_oauth_code";
    // The browser waits for this one: few, fast attempts.
    const MAX_ATTEMPTS: u32 = 3;
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
    // The API waits for the outcome, and the pending page reads it afterwards.
    const KEEP_RESULT: bool = true;
}

/// The result of an `exchange_oauth_code` job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ExchangeOutcome {
    /// A Discord account is linked to the user of the state.
    Linked {
        user_id: i64,
        discord_id: String,
        /// The Discord display name, for the success page.
        username: String,
        /// Discord vouched for the user's own email: the link is confirmed and the user
        /// verified. Otherwise a verification code is on its way to the user's address, to be
        /// sent to the bot from this Discord account. Absent in results stored before it.
        #[serde(default = "confirmed_by_default")]
        confirmed: bool,
    },
    /// A Google account signed in as `user_id` (created now when `created`).
    SignedIn { user_id: i64, created: bool },
    /// A permanent failure: retrying cannot help.
    Rejected { error: ExchangeError },
}

/// Before links could be unconfirmed, every link verified its user.
fn confirmed_by_default() -> bool {
    true
}

/// Why an exchange was rejected. The first nine are seed 001's redirect codes, spelled the
/// same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeError {
    MissingParams,
    InvalidToken,
    OauthNotConfigured,
    TokenExchangeFailed,
    NoAccessToken,
    UserInfoFailed,
    NoDiscordId,
    VerificationFailed,
    ServerError,
    /// Google does not vouch for the account's email.
    EmailNotVerified,
    /// The provider account is linked to another user, or the user to another account.
    AlreadyLinked,
    /// The user is deactivated.
    AccountDisabled,
}

impl ExchangeError {
    pub fn code(self) -> &'static str {
        match self {
            ExchangeError::MissingParams => "missing_params",
            ExchangeError::InvalidToken => "invalid_token",
            ExchangeError::OauthNotConfigured => "oauth_not_configured",
            ExchangeError::TokenExchangeFailed => "token_exchange_failed",
            ExchangeError::NoAccessToken => "no_access_token",
            ExchangeError::UserInfoFailed => "user_info_failed",
            ExchangeError::NoDiscordId => "no_discord_id",
            ExchangeError::VerificationFailed => "verification_failed",
            ExchangeError::ServerError => "server_error",
            ExchangeError::EmailNotVerified => "email_not_verified",
            ExchangeError::AlreadyLinked => "already_linked",
            ExchangeError::AccountDisabled => "account_disabled",
        }
    }

    /// The code to show on seed 001's `/discord/error` page: one of its nine.
    pub fn discord_redirect_code(self) -> &'static str {
        match self {
            ExchangeError::EmailNotVerified
            | ExchangeError::AlreadyLinked
            | ExchangeError::AccountDisabled => "verification_failed",
            other => other.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_and_outcomes_have_a_stable_wire_form() {
        let job = ExchangeOauthCode {
            provider: OauthProvider::Discord,
            grant: OauthGrant::Code {
                state_id: 7,
                sealed_code: "c2VhbGVk".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&job).unwrap_or_default(),
            serde_json::json!({"provider": "discord", "grant": {"kind": "code", "state_id": 7, "sealed_code": "c2VhbGVk"}})
        );
        let rejected = ExchangeOutcome::Rejected {
            error: ExchangeError::NoDiscordId,
        };
        assert_eq!(
            serde_json::to_value(&rejected).unwrap_or_default(),
            serde_json::json!({"outcome": "rejected", "error": "no_discord_id"})
        );
        for e in [ExchangeError::NoDiscordId, ExchangeError::ServerError] {
            assert_eq!(serde_json::to_value(e).unwrap_or_default(), e.code());
        }
    }
}
