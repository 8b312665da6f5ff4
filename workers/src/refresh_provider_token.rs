//! `refresh_provider_token`: trade an identity's stored refresh token for fresh tokens before
//! the access token expires (pushed by the sweep). Safe to run twice: a token that is no longer
//! close to expiry is left alone, and the identity's row is locked during the refresh, so two
//! jobs never refresh one grant at once (the provider rotates refresh tokens). A grant the provider revoked (`invalid_grant`) is forgotten,
//! so the sweep stops asking; network trouble and 5xx are retried.

use std::time::Duration;

use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use chrono::Utc;
use jobs::{ExchangeError, RefreshProviderToken};
use serde::Serialize;

use crate::providers::oauth::OauthError;
use crate::{Deps, Handler, Handles};

/// Tokens expiring within this are refreshed; the sweep looks this far ahead.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RefreshOutcome {
    Refreshed,
    /// Refreshed meanwhile (by an earlier run), being refreshed by another job right now, or
    /// the identity is gone.
    NotDue,
    /// The identity has no refresh token (any more).
    Gone,
    /// The provider of this identity is not configured in this deployment.
    NotConfigured,
    /// The provider revoked the grant: tokens forgotten.
    Forgotten,
    /// The sealed token opens with no configured key: kept as it is, not refreshed.
    Unreadable,
}

#[tracing::instrument(skip_all, fields(identity_id = job.identity_id))]
pub async fn handle(
    job: RefreshProviderToken,
    deps: Data<Deps>,
) -> Result<RefreshOutcome, BoxDynError> {
    let Some((mut tx, stored)) =
        store::identities::lock_for_refresh(&deps.db, job.identity_id).await?
    else {
        // Gone, or another job is refreshing it right now.
        return Ok(RefreshOutcome::NotDue);
    };
    let Some(sealed) = stored.refresh_token_enc else {
        return Ok(RefreshOutcome::Gone);
    };
    let ahead = chrono::Duration::from_std(REFRESH_AHEAD).unwrap_or_default();
    if stored
        .token_expires_at
        .is_some_and(|at| at > Utc::now() + ahead)
    {
        return Ok(RefreshOutcome::NotDue);
    }
    let client = match stored.provider.as_str() {
        "discord" => deps.oauth.settings.discord.clone(),
        "google" => deps.oauth.settings.google.clone(),
        _ => None,
    };
    // Neither case gets better by asking again every sweep, and the sweep takes the soonest
    // expiries first: such rows would crowd out every refresh that can happen. They are
    // parked (no expiry: the sweep skips them) with their tokens kept, until their user signs
    // in again.
    let Some(client) = client else {
        store::identities::park_refresh(&mut tx, stored.id).await?;
        tx.commit().await?;
        return Ok(RefreshOutcome::NotConfigured);
    };
    // A token that does not open was sealed under a key this worker lacks (a rotation or an
    // upgrade half done: `SEALING_KEY_PREVIOUS` not set here). Kept, not forgotten: the grant
    // is not lost, and signing in again stores a fresh one.
    let Ok(refresh_token) = deps.sealer.open(&sealed) else {
        tracing::error!(
            "stored refresh token does not open with SEALING_KEY or SEALING_KEY_PREVIOUS; kept, parked"
        );
        store::identities::park_refresh(&mut tx, stored.id).await?;
        tx.commit().await?;
        return Ok(RefreshOutcome::Unreadable);
    };
    match deps.oauth.refresh(&client, &refresh_token).await {
        Ok(tokens) => {
            let expires_at = tokens
                .expires_in
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| Utc::now() + d);
            store::identities::store_refreshed(
                &mut tx,
                stored.id,
                &deps.sealer.seal(&tokens.access_token),
                tokens
                    .refresh_token
                    .as_deref()
                    .map(|t| deps.sealer.seal(t))
                    .as_deref(),
                expires_at,
            )
            .await?;
            tx.commit().await?;
            tracing::info!("provider token refreshed");
            Ok(RefreshOutcome::Refreshed)
        }
        Err(OauthError::Rejected(ExchangeError::TokenExchangeFailed, detail)) => {
            tracing::info!(%detail, "provider revoked the grant; forgetting its tokens");
            store::identities::forget_tokens(&mut tx, stored.id).await?;
            tx.commit().await?;
            Ok(RefreshOutcome::Forgotten)
        }
        Err(e) => Err(e.into()),
    }
}

impl Handles for RefreshProviderToken {
    type Outcome = RefreshOutcome;
    const HANDLER: Handler<Self> = |job, _, _, deps| Box::pin(handle(job, deps));
}
