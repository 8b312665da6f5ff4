//! Brute-force limits on short codes (invitation tokens, `/login` codes): per email, per client
//! address and per Discord account, counted in Redis so every API replica shares them.

use std::time::Duration;

use jobs::ratelimit::{Decision, Limit};
use poem::web::RemoteAddr;
use poem_openapi::payload::Json;

use crate::AppState;
use crate::error::{ErrorBody, body, internal};

/// The caller's address. Behind a proxy this is the proxy's: the per-email and per-Discord
/// limits still hold, and the per-address one then limits the proxy as a whole.
pub(crate) fn client_ip(remote: &RemoteAddr) -> String {
    remote
        .as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| remote.to_string())
}

pub(crate) fn email(state: &AppState) -> Limit {
    let l = state.config().limits;
    Limit {
        scope: "email",
        max: l.per_email,
        window: l.window,
    }
}

pub(crate) fn ip(state: &AppState) -> Limit {
    let l = state.config().limits;
    Limit {
        scope: "ip",
        max: l.per_ip,
        window: l.window,
    }
}

pub(crate) fn discord(state: &AppState) -> Limit {
    let l = state.config().limits;
    Limit {
        scope: "discord",
        max: l.per_discord_id,
        window: l.window,
    }
}

/// Counts one attempt; `Some(wait)` when over a limit.
pub(crate) async fn check(
    state: &AppState,
    checks: &[(Limit, &str)],
) -> poem::Result<Option<Duration>> {
    match state.limiter().hit(checks).await.map_err(internal)? {
        Decision::Allowed => Ok(None),
        Decision::Limited { retry_after } => {
            tracing::warn!(retry_after_s = retry_after.as_secs(), "rate limit reached");
            Ok(Some(retry_after))
        }
    }
}

pub(crate) fn too_many(wait: Duration) -> Json<ErrorBody> {
    body(
        "too_many_attempts",
        format!(
            "too many attempts; try again in {} seconds",
            wait.as_secs().max(1)
        ),
    )
}
