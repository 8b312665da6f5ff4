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
use poem::Request;
use poem_openapi::payload::Json;

use crate::client::ClientKey;
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

/// Counts one attempt against each of `checks`; when one is over its limit, the 429 to answer
/// with (see [`too_many`]).
pub(crate) async fn check(
    state: &AppState,
    checks: &[(Limit, &str)],
) -> poem::Result<Option<TooMany>> {
    let hit = state.limiter().hit(checks).await;
    Ok(decided(hit.or_500("counting a rate limit")?).map(too_many))
}

/// Counts one sign-in attempt (a Google login or code flow start, the Discord callback) from
/// the caller's address; the 429 to answer with when it has too many.
pub(crate) async fn sign_in(state: &AppState, req: &Request) -> poem::Result<Option<TooMany>> {
    let config = state.config();
    let client = ClientKey::of(req, &config.trusted_proxies);
    check(state, &[(config.limits.sign_in(), client.0.as_str())]).await
}

/// Whether a limit of failures still has room, without counting; `Some(wait)` when it has
/// none.
pub(crate) async fn peek(
    state: &AppState,
    checks: &[(Limit, &str)],
) -> poem::Result<Option<Duration>> {
    let peeked = state.limiter().peek(checks).await;
    Ok(decided(peeked.or_500("reading a rate limit")?))
}

/// [`check`] on `hits`, then, when none refused, a look at each of `peeks` without counting,
/// in one round trip: the 429 of a refusing hit, else `Some(wait)` for each peeked limit that
/// has no room.
pub(crate) async fn check_then_peek(
    state: &AppState,
    hits: &[(Limit, &str)],
    peeks: &[(Limit, &str)],
) -> poem::Result<Result<Vec<Option<Duration>>, TooMany>> {
    let (hit, peeked) = state
        .limiter()
        .hit_then_peek(hits, peeks)
        .await
        .or_500("counting a rate limit")?;
    Ok(match decided(hit) {
        Some(wait) => Err(too_many(wait)),
        // Not logged: a full mail cap is an answer (no new mail), not a refusal, and one
        // request must not log once per full cap.
        None => Ok(peeked.into_iter().map(Decision::retry_after).collect()),
    })
}

/// How long to wait, when the decision is no.
fn decided(decision: Decision) -> Option<Duration> {
    let wait = decision.retry_after();
    if let Some(wait) = wait {
        tracing::warn!(retry_after_s = wait.as_secs(), "rate limit reached");
    }
    wait
}

/// A 429's body and its `Retry-After` seconds, as the `TooMany` variants hold them.
pub(crate) type TooMany = (Json<ErrorBody>, u64);

/// The 429 of a reached limit: `too_many_attempts`, and when to try again.
fn too_many(wait: Duration) -> TooMany {
    let seconds = retry_after(wait);
    (
        body(
            "too_many_attempts",
            format!("too many attempts; try again in {seconds} seconds"),
        ),
        seconds,
    )
}
