//! Single-use secrets with a purpose and an expiry, stored as SHA-256 digests.

use std::time::Duration;

use sqlx::PgPool;

use crate::secret;

/// Issues a new token of `purpose` for `user_id`, valid for `ttl`, and retires the user's
/// earlier live tokens of that purpose (a re-sent invitation makes the old one dead). Returns
/// the token: the only time it exists in clear.
pub async fn issue(
    pool: &PgPool,
    user_id: i64,
    purpose: &str,
    ttl: Duration,
) -> Result<(i64, String), sqlx::Error> {
    let token = secret::generate(18);
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"UPDATE one_time_tokens SET consumed_at = now()
           WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL"#,
        user_id,
        purpose
    )
    .execute(&mut *tx)
    .await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO one_time_tokens (purpose, token_hash, user_id, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING id"#,
        purpose,
        secret::digest(&token),
        user_id,
        ttl.as_secs_f64()
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((id, token))
}
