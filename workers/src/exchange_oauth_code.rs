//! `exchange_oauth_code`: turn a provider grant into a linked account.
//!
//! - Discord (seed 001's callback): exchange the code with the state's PKCE verifier and
//!   redirect URI, fetch `/users/@me`, and link the Discord id to the state's user. The state
//!   was handed to whoever onboarded, so the link is confirmed (and the user verified) only
//!   when Discord vouches for the user's own email; otherwise it stays unconfirmed and the
//!   user's address gets a code to send the bot from this Discord account. A confirmed link is
//!   never moved from another user.
//! - Google (seed 002's login): check an access token was issued to our client, or exchange a
//!   code; fetch userinfo; find the account by issuer + subject, or by a verified email, or
//!   create it.
//!
//! The result is an [`ExchangeOutcome`] the waiting API turns into a redirect or tokens. A
//! permanent failure is an `Ok(Rejected)` result (the API needs its code; no retry); a transient
//! one is an error, retried by the queue. Running twice is safe: linking is an upsert and the
//! confirmation mail is queued only when the link is new.

use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use chrono::Utc;
use jobs::{
    ExchangeError, ExchangeOauthCode, ExchangeOutcome, Lease, OauthGrant, OauthProvider, SendEmail,
};
use store::identities::{DiscordLink, GoogleSignIn, LinkProof, ProviderAccount};

use crate::providers::oauth::{OauthError, Tokens};
use crate::{Deps, Handler, Handles};

#[tracing::instrument(skip_all, fields(provider = job.provider.as_str(), job_id = %lease.job_id))]
pub async fn handle(
    job: ExchangeOauthCode,
    lease: Data<Lease>,
    deps: Data<Deps>,
) -> Result<ExchangeOutcome, BoxDynError> {
    let outcome = match (job.provider, job.grant) {
        (
            OauthProvider::Discord,
            OauthGrant::Code {
                state_id,
                sealed_code,
            },
        ) => match deps.sealer.open_text(&sealed_code) {
            Ok(code) => discord(&deps, &lease, state_id, &code).await,
            Err(_) => Err(Failure::Rejected(ExchangeError::InvalidToken)),
        },
        (
            OauthProvider::Google,
            OauthGrant::Code {
                state_id,
                sealed_code,
            },
        ) => match deps.sealer.open_text(&sealed_code) {
            Ok(code) => google_code(&deps, state_id, &code).await,
            Err(_) => Err(Failure::Rejected(ExchangeError::InvalidToken)),
        },
        (OauthProvider::Google, OauthGrant::AccessToken { sealed }) => {
            google_token(&deps, &sealed).await
        }
        (OauthProvider::Discord, OauthGrant::AccessToken { .. }) => {
            Err(Failure::Rejected(ExchangeError::InvalidToken))
        }
    };
    match outcome {
        Ok(outcome) => Ok(outcome),
        Err(Failure::Rejected(error)) => {
            tracing::info!(error = error.code(), "OAuth exchange rejected");
            Ok(ExchangeOutcome::Rejected { error })
        }
        Err(Failure::Retry(e)) => Err(e),
    }
}

impl Handles for ExchangeOauthCode {
    type Outcome = ExchangeOutcome;
    const HANDLER: Handler<Self> = |job, lease, _, deps| Box::pin(handle(job, lease, deps));
}

/// How an exchange stops early.
enum Failure {
    Rejected(ExchangeError),
    Retry(BoxDynError),
}

impl From<OauthError> for Failure {
    fn from(e: OauthError) -> Self {
        match e {
            OauthError::Rejected(code, detail) => {
                tracing::info!(code = code.code(), %detail, "provider refused");
                Failure::Rejected(code)
            }
            OauthError::Transient(detail) => Failure::Retry(detail.into()),
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Retry(e.into())
    }
}

fn sealed_account(deps: &Deps, subject: String, tokens: &Tokens) -> ProviderAccount {
    ProviderAccount {
        subject,
        access_token_enc: Some(deps.sealer.seal(&tokens.access_token)),
        refresh_token_enc: tokens.refresh_token.as_deref().map(|t| deps.sealer.seal(t)),
        token_expires_at: tokens
            .expires_in
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d),
        scopes: tokens.scopes.clone(),
        ..ProviderAccount::default()
    }
}

async fn discord(
    deps: &Deps,
    lease: &Lease,
    state_id: i64,
    code: &str,
) -> Result<ExchangeOutcome, Failure> {
    let Some(client) = deps.oauth.settings.discord.clone() else {
        return Err(Failure::Rejected(ExchangeError::OauthNotConfigured));
    };
    let state = store::one_time_tokens::oauth_state(&deps.db, state_id).await?;
    let Some(state) = state.filter(|s| s.provider == "discord") else {
        return Err(Failure::Rejected(ExchangeError::InvalidToken));
    };
    let Some(user_id) = state.user_id else {
        return Err(Failure::Rejected(ExchangeError::InvalidToken));
    };
    let Some(user) = store::users::find(&deps.db, user_id).await? else {
        return Err(Failure::Rejected(ExchangeError::VerificationFailed));
    };
    let tokens = deps
        .oauth
        .exchange_code(&client, code, &state.pkce_verifier, &state.redirect_uri)
        .await?;
    if tokens.access_token.is_empty() {
        return Err(Failure::Rejected(ExchangeError::NoAccessToken));
    }
    let profile = deps.oauth.discord_user(&tokens.access_token).await?;
    let Some(discord_id) = profile.id.clone().filter(|id| !id.is_empty()) else {
        return Err(Failure::Rejected(ExchangeError::NoDiscordId));
    };
    let username = profile
        .global_name
        .clone()
        .or(profile.username.clone())
        .unwrap_or_else(|| discord_id.clone());
    // Discord vouches for this account's email: when it is the user's own, the mailbox is
    // proven by the same act that proved the Discord account.
    let proof = if vouches_for(&profile, &user.email) {
        LinkProof::ProviderVouched
    } else {
        LinkProof::AccountOnly
    };
    let mut account = sealed_account(deps, discord_id.clone(), &tokens);
    account.username = profile.username.clone();
    account.email = profile.email.clone();
    account.email_verified = profile.verified;
    match store::identities::link_discord(&deps.db, user_id, &account, proof).await? {
        DiscordLink::Linked {
            new,
            confirmed,
            detached,
        } => {
            if new || detached.is_some() {
                store::audit::record(
                    &deps.db,
                    &format!("discord:{discord_id}"),
                    "discord_linked",
                    Some(&format!("user:{user_id}")),
                    serde_json::json!({
                        "discord_id": discord_id,
                        "confirmed": confirmed,
                        "detached_from": detached,
                    }),
                )
                .await?;
            }
            if confirmed && new {
                confirm_link(deps, user_id).await?;
            }
            if !confirmed {
                crate::send_email::queue_verification(deps, &user, &lease.job_id)
                    .await
                    .map_err(Failure::Retry)?;
            }
            tracing::info!(user_id, new, confirmed, "Discord account linked");
            Ok(ExchangeOutcome::Linked {
                user_id,
                discord_id,
                username,
                confirmed,
            })
        }
        DiscordLink::TakenByOther | DiscordLink::UserHasOther => {
            tracing::warn!(
                user_id,
                "Discord account already linked elsewhere (confirmed); not moved"
            );
            Err(Failure::Rejected(ExchangeError::VerificationFailed))
        }
        DiscordLink::NoSuchUser => Err(Failure::Rejected(ExchangeError::VerificationFailed)),
    }
}

/// Whether Discord's profile vouches for `email`: verified by Discord, and the same mailbox.
fn vouches_for(profile: &crate::providers::oauth::DiscordUser, email: &str) -> bool {
    let canonical = |e: &str| store::email::Email::parse(e).map(|e| e.as_str().to_lowercase());
    profile.verified
        && profile
            .email
            .as_deref()
            .and_then(|e| canonical(e).ok())
            .is_some_and(|theirs| canonical(email).is_ok_and(|ours| ours == theirs))
}

/// Queues the link-confirmation mail of a new link.
async fn confirm_link(deps: &Deps, user_id: i64) -> Result<(), Failure> {
    let Some(user) = store::users::find(&deps.db, user_id).await? else {
        return Ok(());
    };
    let delivery = store::email_deliveries::queue(
        &deps.db,
        Some(user_id),
        "link_confirmation",
        &user.email,
        None,
    )
    .await?;
    deps.producer
        .push(&SendEmail {
            delivery_id: delivery,
        })
        .await
        .map_err(|e| Failure::Retry(e.into()))?;
    Ok(())
}

async fn google_code(deps: &Deps, state_id: i64, code: &str) -> Result<ExchangeOutcome, Failure> {
    let Some(client) = deps.oauth.settings.google.clone() else {
        return Err(Failure::Rejected(ExchangeError::OauthNotConfigured));
    };
    let state = store::one_time_tokens::oauth_state(&deps.db, state_id).await?;
    let Some(state) = state.filter(|s| s.provider == "google") else {
        return Err(Failure::Rejected(ExchangeError::InvalidToken));
    };
    let tokens = deps
        .oauth
        .exchange_code(&client, code, &state.pkce_verifier, &state.redirect_uri)
        .await?;
    let profile = deps.oauth.google_user(&tokens.access_token, true).await?;
    sign_in(deps, profile, &tokens).await
}

async fn google_token(deps: &Deps, sealed: &str) -> Result<ExchangeOutcome, Failure> {
    let Some(client) = deps.oauth.settings.google.clone() else {
        return Err(Failure::Rejected(ExchangeError::OauthNotConfigured));
    };
    let Ok(access_token) = deps.sealer.open_text(sealed) else {
        return Err(Failure::Rejected(ExchangeError::InvalidToken));
    };
    let subject = deps
        .oauth
        .google_token_audience(&client, &access_token)
        .await?;
    let profile = deps.oauth.google_user(&access_token, false).await?;
    if subject.as_deref().is_some_and(|s| s != profile.sub) {
        return Err(Failure::Rejected(ExchangeError::InvalidToken));
    }
    let tokens = Tokens {
        access_token,
        refresh_token: None,
        expires_in: None,
        scopes: None,
    };
    sign_in(deps, profile, &tokens).await
}

async fn sign_in(
    deps: &Deps,
    profile: crate::providers::oauth::GoogleUser,
    tokens: &Tokens,
) -> Result<ExchangeOutcome, Failure> {
    if profile.sub.is_empty() {
        return Err(Failure::Rejected(ExchangeError::UserInfoFailed));
    }
    let mut account = sealed_account(deps, profile.sub.clone(), tokens);
    account.username = profile.name.clone();
    account.email = profile.email.clone();
    account.email_verified = profile.email_verified;
    let result =
        store::identities::sign_in_google(&deps.db, &account, profile.name.as_deref()).await?;
    match result {
        GoogleSignIn::User { user_id, created } => {
            tracing::info!(user_id, created, "signed in with Google");
            Ok(ExchangeOutcome::SignedIn { user_id, created })
        }
        GoogleSignIn::EmailNotVerified => Err(Failure::Rejected(ExchangeError::EmailNotVerified)),
        GoogleSignIn::UserHasOther => Err(Failure::Rejected(ExchangeError::AlreadyLinked)),
        GoogleSignIn::Disabled => Err(Failure::Rejected(ExchangeError::AccountDisabled)),
    }
}
