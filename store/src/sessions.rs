//! Sessions: opaque refresh tokens that rotate inside a family. Each refresh marks the
//! presented token used and issues the next; presenting a used token again is reuse (a stolen
//! token, or a client that lost a race) and revokes the whole family, so a thief's copy and the
//! owner's both die and the owner signs in again.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::secret;

/// A refresh token just issued: the only time it exists in clear.
#[derive(Debug, Clone)]
pub struct Issued {
    pub user_id: i64,
    pub family_id: Uuid,
    pub refresh_token: String,
}

/// Starts a session for `user_id`: a new family and its first token.
pub async fn start(pool: &PgPool, user_id: i64, ttl: Duration) -> Result<Issued, sqlx::Error> {
    let family_id = Uuid::now_v7();
    let refresh_token = secret::generate(32);
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO refresh_token_families (id, user_id) VALUES ($1, $2)",
        family_id,
        user_id
    )
    .execute(&mut *tx)
    .await?;
    insert_token(&mut tx, family_id, &refresh_token, ttl).await?;
    tx.commit().await?;
    Ok(Issued {
        user_id,
        family_id,
        refresh_token,
    })
}

async fn insert_token(
    tx: &mut sqlx::PgConnection,
    family_id: Uuid,
    token: &str,
    ttl: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO refresh_tokens (family_id, token_hash, expires_at)
           VALUES ($1, $2, now() + make_interval(secs => $3))"#,
        family_id,
        secret::digest(token),
        ttl.as_secs_f64()
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// What presenting a refresh token did.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// The token was live: here is its successor.
    Rotated(Issued),
    /// The token had been used already: its family is now revoked.
    Reused,
    /// Unknown, expired, revoked, or its user is deactivated.
    Invalid,
}

/// Rotates `presented`. Two concurrent calls with one token: exactly one rotates, the other
/// sees a used token (reuse).
pub async fn rotate(
    pool: &PgPool,
    presented: &str,
    ttl: Duration,
) -> Result<Rotation, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The row lock serialises concurrent presentations of the same token.
    let row = sqlx::query!(
        r#"SELECT t.id, t.family_id, t.used_at IS NOT NULL AS "used!",
                  t.expires_at < now() AS "expired!", f.revoked_at IS NOT NULL AS "revoked!",
                  f.user_id, u.is_active
           FROM refresh_tokens t
           JOIN refresh_token_families f ON f.id = t.family_id
           JOIN users u ON u.id = f.user_id
           WHERE t.token_hash = $1
           FOR UPDATE OF t, f"#,
        secret::digest(presented)
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Invalid);
    };
    if row.revoked || row.expired || !row.is_active {
        return Ok(Rotation::Invalid);
    }
    if row.used {
        revoke_family(&mut tx, row.family_id, "reuse").await?;
        tx.commit().await?;
        return Ok(Rotation::Reused);
    }
    sqlx::query!(
        "UPDATE refresh_tokens SET used_at = now() WHERE id = $1",
        row.id
    )
    .execute(&mut *tx)
    .await?;
    let refresh_token = secret::generate(32);
    insert_token(&mut tx, row.family_id, &refresh_token, ttl).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated(Issued {
        user_id: row.user_id,
        family_id: row.family_id,
        refresh_token,
    }))
}

/// Revokes a live family; false when it was revoked already.
async fn revoke_family(
    tx: &mut sqlx::PgConnection,
    family_id: Uuid,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let revoked = sqlx::query!(
        r#"UPDATE refresh_token_families SET revoked_at = now(), revoked_reason = $2
           WHERE id = $1 AND revoked_at IS NULL"#,
        family_id,
        reason
    )
    .execute(tx)
    .await?;
    Ok(revoked.rows_affected() > 0)
}

/// Logs out: revokes the family of `presented`. Returns its user when this ended a live
/// session; `None` when the token is unknown or its session had ended already.
pub async fn revoke(pool: &PgPool, presented: &str) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let family = sqlx::query!(
        "SELECT f.id, f.user_id FROM refresh_tokens t \
         JOIN refresh_token_families f ON f.id = t.family_id WHERE t.token_hash = $1",
        secret::digest(presented)
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(family) = family else {
        return Ok(None);
    };
    let ended = revoke_family(&mut tx, family.id, "logout").await?;
    tx.commit().await?;
    Ok(ended.then_some(family.user_id))
}

/// Whether a family is revoked (tests and the admin view).
pub async fn family_revoked(pool: &PgPool, family_id: Uuid) -> Result<bool, sqlx::Error> {
    let revoked = sqlx::query_scalar!(
        r#"SELECT revoked_at IS NOT NULL AS "revoked!" FROM refresh_token_families WHERE id = $1"#,
        family_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(revoked.unwrap_or(true))
}

/// The user of a live session: `user_id`'s own family `family_id`, not revoked (by logout,
/// reuse or an admin). Access tokens name their session, so ending it ends them at once.
pub async fn live_user(
    pool: &PgPool,
    user_id: i64,
    family_id: Uuid,
) -> Result<Option<crate::users::User>, sqlx::Error> {
    sqlx::query_as!(
        crate::users::User,
        r#"SELECT u.id, u.email, u.full_name, u.username, u.role, u.is_active, u.personality,
                  u.communication_channel, u.verified, u.verified_at, u.created_at
           FROM refresh_token_families f JOIN users u ON u.id = f.user_id
           WHERE f.id = $2 AND f.user_id = $1 AND f.revoked_at IS NULL"#,
        user_id,
        family_id
    )
    .fetch_optional(pool)
    .await
}
