//! Accounts at OAuth providers linked to users. A provider account belongs to at most one user
//! and is never moved silently from one user to another; provider tokens are kept sealed (see
//! [`crate::secret::Sealer`]) so the sweep can refresh them.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Discord's issuer, for the (provider, issuer, subject) key.
pub const DISCORD_ISSUER: &str = "https://discord.com";
/// Google's issuer (the `iss` of its ID tokens).
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// A provider account as fetched by a worker, with its tokens already sealed.
#[derive(Debug, Clone, Default)]
pub struct ProviderAccount {
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    /// Whether the provider vouches for `email`. An unverified email is never trusted.
    pub email_verified: bool,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<String>,
}

/// What linking a Discord account to a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscordLink {
    /// Linked and the user marked verified; `new` is false when it was already linked.
    Linked {
        new: bool,
    },
    /// The Discord account belongs to another user: nothing changed.
    TakenByOther,
    /// The user is linked to a different Discord account: nothing changed.
    UserHasOther,
    NoSuchUser,
}

/// Links `account` to `user_id` and marks the user verified, in one transaction.
pub async fn link_discord(
    pool: &PgPool,
    user_id: i64,
    account: &ProviderAccount,
) -> Result<DiscordLink, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let user = sqlx::query_scalar!("SELECT id FROM users WHERE id = $1 FOR UPDATE", user_id)
        .fetch_optional(&mut *tx)
        .await?;
    if user.is_none() {
        return Ok(DiscordLink::NoSuchUser);
    }
    let owner = sqlx::query_scalar!(
        "SELECT user_id FROM identities WHERE provider = 'discord' AND subject = $1",
        account.subject
    )
    .fetch_optional(&mut *tx)
    .await?;
    match owner {
        Some(owner) if owner != user_id => return Ok(DiscordLink::TakenByOther),
        _ => {}
    }
    let current = sqlx::query_scalar!(
        "SELECT subject FROM identities WHERE provider = 'discord' AND user_id = $1",
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if current.as_deref().is_some_and(|s| s != account.subject) {
        return Ok(DiscordLink::UserHasOther);
    }
    let new = current.is_none();
    let upsert = sqlx::query!(
        r#"INSERT INTO identities (user_id, provider, issuer, subject, provider_username, email,
                                   email_verified, access_token_enc, refresh_token_enc,
                                   token_expires_at, scopes, last_login_at)
           VALUES ($1, 'discord', $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
           ON CONFLICT (provider, issuer, subject) DO UPDATE
               SET provider_username = EXCLUDED.provider_username, email = EXCLUDED.email,
                   email_verified = EXCLUDED.email_verified,
                   access_token_enc = COALESCE(EXCLUDED.access_token_enc, identities.access_token_enc),
                   refresh_token_enc = COALESCE(EXCLUDED.refresh_token_enc, identities.refresh_token_enc),
                   token_expires_at = COALESCE(EXCLUDED.token_expires_at, identities.token_expires_at),
                   scopes = COALESCE(EXCLUDED.scopes, identities.scopes), last_login_at = now()"#,
        user_id,
        DISCORD_ISSUER,
        account.subject,
        account.username,
        account.email.as_deref().filter(|_| account.email_verified),
        account.email_verified,
        account.access_token_enc,
        account.refresh_token_enc,
        account.token_expires_at,
        account.scopes,
    )
    .execute(&mut *tx)
    .await;
    match upsert {
        Ok(_) => {}
        // A concurrent link of the same Discord account to another user won the race.
        Err(e) if crate::is_unique_violation(&e, "identities_discord_id_key") => {
            return Ok(DiscordLink::TakenByOther);
        }
        Err(e) => return Err(e),
    }
    crate::users::mark_verified(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(DiscordLink::Linked { new })
}

/// The user a Discord account is linked to.
pub async fn user_of_discord(pool: &PgPool, discord_id: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT user_id FROM identities WHERE provider = 'discord' AND subject = $1",
        discord_id
    )
    .fetch_optional(pool)
    .await
}

/// What signing in with Google did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoogleSignIn {
    /// Signed in as `user_id`; `created` when the account was made now.
    User { user_id: i64, created: bool },
    /// Google does not vouch for the email, and no account is linked to this Google subject.
    EmailNotVerified,
    /// The user with this email is linked to a different Google account.
    UserHasOther,
    /// The account is deactivated.
    Disabled,
}

/// Finds the user of a Google account (by issuer + subject), or links it to the user with its
/// verified email, or creates that user.
pub async fn sign_in_google(
    pool: &PgPool,
    account: &ProviderAccount,
    full_name: Option<&str>,
) -> Result<GoogleSignIn, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let linked = sqlx::query!(
        r#"SELECT i.id, i.user_id, u.is_active FROM identities i JOIN users u ON u.id = i.user_id
           WHERE i.provider = 'google' AND i.issuer = $1 AND i.subject = $2"#,
        GOOGLE_ISSUER,
        account.subject
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (user_id, created) = if let Some(row) = linked {
        if !row.is_active {
            return Ok(GoogleSignIn::Disabled);
        }
        sqlx::query!(
            r#"UPDATE identities
               SET provider_username = COALESCE($2, provider_username),
                   email = COALESCE($3, email), email_verified = $4,
                   access_token_enc = COALESCE($5, access_token_enc),
                   refresh_token_enc = COALESCE($6, refresh_token_enc),
                   token_expires_at = COALESCE($7, token_expires_at),
                   scopes = COALESCE($8, scopes), last_login_at = now()
               WHERE id = $1"#,
            row.id,
            account.username,
            account.email.as_deref().filter(|_| account.email_verified),
            account.email_verified,
            account.access_token_enc,
            account.refresh_token_enc,
            account.token_expires_at,
            account.scopes,
        )
        .execute(&mut *tx)
        .await?;
        (row.user_id, false)
    } else {
        let Some(email) = account.email.as_deref().filter(|_| account.email_verified) else {
            return Ok(GoogleSignIn::EmailNotVerified);
        };
        let existing = sqlx::query!(
            "SELECT id, is_active FROM users WHERE lower(email) = lower($1) FOR UPDATE",
            email
        )
        .fetch_optional(&mut *tx)
        .await?;
        let (user_id, created) = match existing {
            Some(u) if !u.is_active => return Ok(GoogleSignIn::Disabled),
            Some(u) => (u.id, false),
            None => {
                let id = sqlx::query_scalar!(
                    r#"INSERT INTO users (email, full_name, communication_channel, verified, verified_at)
                       VALUES ($1, $2, 'web', TRUE, now())
                       ON CONFLICT ((lower(email))) DO NOTHING RETURNING id"#,
                    email,
                    full_name
                )
                .fetch_optional(&mut *tx)
                .await?;
                match id {
                    Some(id) => (id, true),
                    // Created concurrently: the caller's retry finds it.
                    None => return Err(sqlx::Error::RowNotFound),
                }
            }
        };
        let inserted = sqlx::query!(
            r#"INSERT INTO identities (user_id, provider, issuer, subject, provider_username, email,
                                       email_verified, access_token_enc, refresh_token_enc,
                                       token_expires_at, scopes, last_login_at)
               VALUES ($1, 'google', $2, $3, $4, $5, TRUE, $6, $7, $8, $9, now())"#,
            user_id,
            GOOGLE_ISSUER,
            account.subject,
            account.username,
            email,
            account.access_token_enc,
            account.refresh_token_enc,
            account.token_expires_at,
            account.scopes,
        )
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if crate::is_unique_violation(&e, "identities_user_provider_key") => {
                return Ok(GoogleSignIn::UserHasOther);
            }
            Err(e) => return Err(e),
        }
        // Google vouched for the email: that verifies the account.
        crate::users::mark_verified(&mut tx, user_id).await?;
        (user_id, created)
    };
    tx.commit().await?;
    Ok(GoogleSignIn::User { user_id, created })
}

/// The stored tokens of one identity, for a refresh.
#[derive(Debug, Clone)]
pub struct StoredTokens {
    pub id: i64,
    pub provider: String,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub token_expires_at: Option<DateTime<Utc>>,
}

/// Locks the identity's row for a refresh and returns its tokens; `None` when it is gone, or
/// when another refresh holds it (two refreshes of one grant must not overlap: the provider
/// rotates refresh tokens, and the loser would present a dead one). The lock lasts until the
/// transaction ends: pass it to [`store_refreshed`] or [`forget_tokens`], then commit.
pub async fn lock_for_refresh(
    pool: &PgPool,
    id: i64,
) -> Result<Option<(sqlx::Transaction<'static, sqlx::Postgres>, StoredTokens)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let stored = sqlx::query_as!(
        StoredTokens,
        r#"SELECT id, provider, refresh_token_enc, token_expires_at FROM identities
           WHERE id = $1 FOR UPDATE SKIP LOCKED"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(stored.map(|s| (tx, s)))
}

/// Stores refreshed tokens; a provider that did not rotate the refresh token keeps the old one.
pub async fn store_refreshed(
    tx: &mut sqlx::PgConnection,
    id: i64,
    access_token_enc: &[u8],
    refresh_token_enc: Option<&[u8]>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE identities
           SET access_token_enc = $2, refresh_token_enc = COALESCE($3, refresh_token_enc),
               token_expires_at = $4
           WHERE id = $1"#,
        id,
        access_token_enc,
        refresh_token_enc,
        expires_at
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Forgets the tokens of an identity whose grant the provider revoked: nothing to refresh.
pub async fn forget_tokens(tx: &mut sqlx::PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE identities
           SET access_token_enc = NULL, refresh_token_enc = NULL, token_expires_at = NULL
           WHERE id = $1"#,
        id
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Identities whose tokens expire within `within` and can be refreshed, soonest first.
pub async fn due_for_refresh(
    pool: &PgPool,
    within: std::time::Duration,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT id FROM identities
           WHERE refresh_token_enc IS NOT NULL
             AND token_expires_at < now() + make_interval(secs => $1)
           ORDER BY token_expires_at LIMIT $2"#,
        within.as_secs_f64(),
        limit
    )
    .fetch_all(pool)
    .await
}
