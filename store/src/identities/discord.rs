//! Discord links: a link proves the Discord account, and, by how it was made, maybe the
//! user's email (confirmed) or nothing more (unconfirmed, and it gives way).

use sqlx::PgPool;

use super::{DISCORD_ISSUER, ProviderAccount};

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
