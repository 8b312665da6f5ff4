//! Provider tokens kept sealed on identities, for the refresh sweep and for `concierge
//! reseal`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

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
