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

/// What a Discord link proves besides the Discord account itself (which every link proves:
/// it is made by OAuth as that account, or by the bot hearing it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProof {
    /// Nothing about the user's email: the credential used (an onboarding's OAuth state or
    /// `/login` code) is handed to whoever asks. The link is unconfirmed: it grants nothing,
    /// and the next link its user or its Discord account makes replaces it.
    AccountOnly,
    /// A token mailed to the user's address was typed from this Discord account: the link is
    /// confirmed and the user verified.
    EmailProven,
    /// Discord vouches that this account's verified email is the user's (the OAuth
    /// callback): confirmed and verified too. It arrives through a browser redirect, which a
    /// linking CSRF can trigger, so unlike [`LinkProof::EmailProven`] it does not displace a
    /// link confirmed by V2's migration.
    ProviderVouched,
}

impl LinkProof {
    fn confirms(self) -> bool {
        !matches!(self, LinkProof::AccountOnly)
    }
}

/// What linking a Discord account to a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscordLink {
    /// Linked; `new` is false when this very link existed already, `confirmed` tells whether
    /// it is confirmed now (an earlier confirmation is kept). `detached` is the user an
    /// unconfirmed link of this Discord account was taken from.
    Linked {
        new: bool,
        confirmed: bool,
        detached: Option<i64>,
    },
    /// The Discord account has a confirmed link to another user: nothing changed.
    TakenByOther,
    /// The user has a confirmed link to a different Discord account: nothing changed.
    UserHasOther,
    NoSuchUser,
}

/// Links `account` (a Discord account) to `user_id`, in one transaction. With
/// [`LinkProof::EmailProven`] the link is confirmed and the user marked verified.
///
/// A confirmed link is never moved or replaced (409 for callers). An unconfirmed one proved
/// nothing, so it gives way: a new link of the same user replaces it, and the Discord account
/// linking elsewhere takes itself back from it. Neither is a silent move between people: the
/// actor is always the Discord account's owner. A link confirmed by V2's migration (made when
/// any link verified its user) gives way to a token typed from a Discord account.
pub async fn link_discord(
    pool: &PgPool,
    user_id: i64,
    account: &ProviderAccount,
    proof: LinkProof,
) -> Result<DiscordLink, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Links of one Discord account are made one at a time: without this, two concurrent links
    // of it (to two users) both see no owner, and the second upsert would update (and could
    // confirm) the row the first one just inserted for the other user. The user's row lock
    // below orders the links of one user.
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('discord-link:' || $1, 0))",
        account.subject
    )
    .execute(&mut *tx)
    .await?;
    let user = sqlx::query_scalar!("SELECT id FROM users WHERE id = $1 FOR UPDATE", user_id)
        .fetch_optional(&mut *tx)
        .await?;
    if user.is_none() {
        return Ok(DiscordLink::NoSuchUser);
    }
    let proven = proof.confirms();
    // A link confirmed by V2's migration rather than a proof gives way to a token typed from
    // the Discord account (never to a redirect a CSRF could have caused).
    let holds = |confirmed: bool, before_v2: bool| {
        confirmed && !(before_v2 && proof == LinkProof::EmailProven)
    };
    // The account's link and the user's, locked in one statement in id order: links that
    // cross (S1 to U1 while S1 sits on U2, S2 to U2 while S2 sits on U1) would otherwise lock
    // them in opposite orders and deadlock.
    let rows = sqlx::query!(
        r#"SELECT id, user_id, subject, confirmed_at IS NOT NULL AS "confirmed!",
                  confirmed_before_v2
           FROM identities WHERE provider = 'discord' AND (subject = $1 OR user_id = $2)
           ORDER BY id FOR UPDATE"#,
        account.subject,
        user_id
    )
    .fetch_all(&mut *tx)
    .await?;
    let owner = rows.iter().find(|r| r.subject == account.subject);
    let current = rows.iter().find(|r| r.user_id == user_id);
    let mut detached = None;
    if let Some(owner) = owner
        && owner.user_id != user_id
    {
        if holds(owner.confirmed, owner.confirmed_before_v2) {
            return Ok(DiscordLink::TakenByOther);
        }
        sqlx::query!("DELETE FROM identities WHERE id = $1", owner.id)
            .execute(&mut *tx)
            .await?;
        detached = Some(owner.user_id);
    }
    let mut new = true;
    if let Some(current) = current {
        if current.subject == account.subject {
            new = false;
        } else if holds(current.confirmed, current.confirmed_before_v2) {
            return Ok(DiscordLink::UserHasOther);
        } else {
            sqlx::query!("DELETE FROM identities WHERE id = $1", current.id)
                .execute(&mut *tx)
                .await?;
        }
    }
    let upsert = sqlx::query_scalar!(
        r#"INSERT INTO identities (user_id, provider, issuer, subject, provider_username, email,
                                   email_verified, access_token_enc, refresh_token_enc,
                                   token_expires_at, scopes, last_login_at, confirmed_at)
           VALUES ($1, 'discord', $2, $3, $4, $5, $6, $7, $8, $9, $10, now(),
                   CASE WHEN $11 THEN now() END)
           ON CONFLICT (provider, issuer, subject) DO UPDATE
               SET provider_username = COALESCE(EXCLUDED.provider_username, identities.provider_username),
                   email = COALESCE(EXCLUDED.email, identities.email),
                   email_verified = EXCLUDED.email_verified OR identities.email_verified,
                   access_token_enc = COALESCE(EXCLUDED.access_token_enc, identities.access_token_enc),
                   refresh_token_enc = COALESCE(EXCLUDED.refresh_token_enc, identities.refresh_token_enc),
                   token_expires_at = COALESCE(EXCLUDED.token_expires_at, identities.token_expires_at),
                   scopes = COALESCE(EXCLUDED.scopes, identities.scopes), last_login_at = now(),
                   confirmed_at = COALESCE(identities.confirmed_at, EXCLUDED.confirmed_at),
                   confirmed_before_v2 = identities.confirmed_before_v2 AND NOT $12
               -- Never another user's row, whatever happened since it was read.
               WHERE identities.user_id = EXCLUDED.user_id
           RETURNING confirmed_at IS NOT NULL AS "confirmed!""#,
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
        proven,
        proof == LinkProof::EmailProven,
    )
    .fetch_optional(&mut *tx)
    .await;
    let confirmed = match upsert {
        Ok(Some(confirmed)) => confirmed,
        Ok(None) => return Ok(DiscordLink::TakenByOther),
        // A concurrent link of the same Discord account to another user won the race.
        Err(e) if crate::is_unique_violation(&e, "identities_discord_id_key") => {
            return Ok(DiscordLink::TakenByOther);
        }
        Err(e) => return Err(e),
    };
    if proven {
        crate::users::mark_verified(&mut tx, user_id).await?;
    }
    tx.commit().await?;
    Ok(DiscordLink::Linked {
        new,
        confirmed,
        detached,
    })
}

/// The user a Discord account is linked to, and whether that link is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscordOwner {
    pub user_id: i64,
    pub confirmed: bool,
    /// Confirmed by V2's migration, not by a proof: a proof replaces it.
    pub confirmed_before_v2: bool,
}

impl DiscordOwner {
    /// Whether the link holds against a token proof made for another user (it was confirmed
    /// by a proof, not by V2's migration).
    pub fn holds(&self) -> bool {
        self.confirmed && !self.confirmed_before_v2
    }
}

pub async fn discord_owner(
    pool: &PgPool,
    discord_id: &str,
) -> Result<Option<DiscordOwner>, sqlx::Error> {
    sqlx::query_as!(
        DiscordOwner,
        r#"SELECT user_id, confirmed_at IS NOT NULL AS "confirmed!", confirmed_before_v2
           FROM identities WHERE provider = 'discord' AND subject = $1"#,
        discord_id
    )
    .fetch_optional(pool)
    .await
}

/// The Discord link of a user, if any (whose link it is, and whether it is confirmed).
pub async fn discord_of_user(
    pool: &PgPool,
    user_id: i64,
) -> Result<Option<DiscordOwner>, sqlx::Error> {
    sqlx::query_as!(
        DiscordOwner,
        r#"SELECT user_id, confirmed_at IS NOT NULL AS "confirmed!", confirmed_before_v2
           FROM identities WHERE provider = 'discord' AND user_id = $1"#,
        user_id
    )
    .fetch_optional(pool)
    .await
}

/// The user a Discord account is linked to (confirmed or not).
pub async fn user_of_discord(pool: &PgPool, discord_id: &str) -> Result<Option<i64>, sqlx::Error> {
    Ok(discord_owner(pool, discord_id).await?.map(|o| o.user_id))
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
                                       token_expires_at, scopes, last_login_at, confirmed_at)
               VALUES ($1, 'google', $2, $3, $4, $5, TRUE, $6, $7, $8, $9, now(), now())"#,
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

/// Takes an identity out of the refresh sweep (no expiry) with its tokens kept: its refresh
/// cannot happen now (no key opens it, or its provider is not configured).
pub async fn park_refresh(tx: &mut sqlx::PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE identities SET token_expires_at = NULL WHERE id = $1",
        id
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

/// What [`reseal`] did with the stored provider tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    /// Sealed under a previous key, now under the current one.
    pub resealed: u64,
    /// Already under the current key.
    pub current: u64,
    /// Opened by no configured key (sealed under a key that is gone): left as they are; the
    /// next refresh of such a grant fails and its user signs in again.
    pub unreadable: u64,
}

/// Seals every stored provider token again under `sealer`'s current key, so previous sealing
/// keys can be dropped from the configuration (`concierge reseal`). Each row is rewritten in
/// its own statement, compared against the value read, so a refresh writing meanwhile wins.
pub async fn reseal(
    pool: &PgPool,
    sealer: &crate::secret::Sealer,
) -> Result<Resealed, sqlx::Error> {
    use crate::secret::OpenedWith;
    let mut done = Resealed::default();
    let mut after = 0_i64;
    loop {
        let rows = sqlx::query!(
            r#"SELECT id, access_token_enc, refresh_token_enc FROM identities
               WHERE id > $1 AND (access_token_enc IS NOT NULL OR refresh_token_enc IS NOT NULL)
               ORDER BY id LIMIT 500"#,
            after
        )
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(done);
        };
        after = last.id;
        for row in rows {
            let mut again = |sealed: &Option<Vec<u8>>| -> Option<Vec<u8>> {
                let sealed = sealed.as_ref()?;
                match sealer.open_with(sealed) {
                    Ok((_, OpenedWith::Current)) => {
                        done.current += 1;
                        None
                    }
                    Ok((plain, OpenedWith::Previous)) => {
                        done.resealed += 1;
                        Some(sealer.seal(&plain))
                    }
                    Err(_) => {
                        done.unreadable += 1;
                        None
                    }
                }
            };
            let access = again(&row.access_token_enc);
            let refresh = again(&row.refresh_token_enc);
            if access.is_none() && refresh.is_none() {
                continue;
            }
            sqlx::query!(
                r#"UPDATE identities
                   SET access_token_enc = COALESCE($2, access_token_enc),
                       refresh_token_enc = COALESCE($3, refresh_token_enc)
                   WHERE id = $1 AND access_token_enc IS NOT DISTINCT FROM $4
                     AND refresh_token_enc IS NOT DISTINCT FROM $5"#,
                row.id,
                access,
                refresh,
                row.access_token_enc,
                row.refresh_token_enc
            )
            .execute(pool)
            .await?;
        }
    }
}
