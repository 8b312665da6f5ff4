//! What an anonymous or hostile caller may cost us, counted in Redis so every API replica
//! shares the counts (see `jobs::ratelimit`). Every refusal is 429 with `Retry-After`.
//!
//! - every request: per client address (see [`crate::client`]), a generous cap;
//! - onboarding: per address, per (email, address) and (higher) per email, and mails per
//!   recipient mailbox and in all;
//! - sign-ins (Google login, the Discord callback): per address;
//! - short secrets (invitation and verification tokens, `/login` codes): attempts per address
//!   and per Discord account; failed ones per (email, source), which locks that source out of
//!   that email for a while. Failures never lock the email for everyone: a stranger failing on
//!   purpose must not stop its owner;
//! - admin authentication: failures per address (a right key from elsewhere works at once).
//!
//! The numbers are settings ([`Limits`], in `state` with the rest of the configuration); the
//! scopes they are counted under are here.

use std::time::Duration;

use jobs::ratelimit::{Decision, Limit};
use poem_openapi::payload::Json;

use crate::error::{ErrorBody, Or500, body, retry_after};
use crate::state::{AppState, Limits};
use crate::validate::Email;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Limits {
    pub(crate) fn requests(&self) -> Limit {
        limit("req", self.requests_per_ip, MINUTE)
    }

    pub(crate) fn onboarding_ip(&self) -> Limit {
        limit("onboard-ip", self.onboardings_per_ip, HOUR)
    }

    pub(crate) fn onboarding_email(&self) -> Limit {
        limit("onboard-email", self.onboardings_per_email, HOUR)
    }

    pub(crate) fn onboarding_email_total(&self) -> Limit {
        limit("onboard-email-all", self.onboardings_per_email_total, HOUR)
    }

    pub(crate) fn sign_in(&self) -> Limit {
        limit("signin-ip", self.sign_ins_per_ip, self.window)
    }

    pub(crate) fn secret_ip(&self) -> Limit {
        limit("ip", self.secret_attempts_per_ip, self.window)
    }

    pub(crate) fn secret_discord(&self) -> Limit {
        limit("discord", self.secret_attempts_per_discord_id, self.window)
    }

    pub(crate) fn failures(&self) -> Limit {
        jobs::ratelimit::failure_limit(self.failures_per_email_and_source, self.window)
    }

    pub(crate) fn admin_failures(&self) -> Limit {
        limit("admin-fail", self.admin_failures_per_ip, self.window)
    }
}

fn limit(scope: &'static str, max: u32, window: Duration) -> Limit {
    Limit { scope, max, window }
}

/// The counter key of failures on `email` from `source` (`ip:<addr>`, `discord:<id>`).
pub(crate) fn failure_key(email: &Email, source: &str) -> String {
    jobs::ratelimit::failure_key(email.as_str(), source)
}

/// Counts one attempt; `Some(wait)` when over a limit.
pub(crate) async fn check(
    state: &AppState,
    checks: &[(Limit, &str)],
) -> poem::Result<Option<Duration>> {
    decided(
        state
            .limiter()
            .hit(checks)
            .await
            .or_500("counting a rate limit")?,
    )
}

/// Whether a limit of failures still has room, without counting.
pub(crate) async fn peek(
    state: &AppState,
    checks: &[(Limit, &str)],
) -> poem::Result<Option<Duration>> {
    decided(
        state
            .limiter()
            .peek(checks)
            .await
            .or_500("reading a rate limit")?,
    )
}

fn decided(decision: Decision) -> poem::Result<Option<Duration>> {
    match decision {
        Decision::Allowed => Ok(None),
        Decision::Limited { retry_after } => {
            tracing::warn!(retry_after_s = retry_after.as_secs(), "rate limit reached");
            Ok(Some(retry_after))
        }
    }
}

/// The body of a 429 and its `Retry-After` seconds.
pub(crate) fn too_many(wait: Duration) -> (Json<ErrorBody>, u64) {
    let seconds = retry_after(wait);
    (
        body(
            "too_many_attempts",
            format!("too many attempts; try again in {seconds} seconds"),
        ),
        seconds,
    )
}
