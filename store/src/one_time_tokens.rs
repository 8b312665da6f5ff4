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

/// After this many wrong guesses a token dies, whatever the rate limits allow.
pub const MAX_FAILED_ATTEMPTS: i32 = 5;

/// A stored OAuth `state`: who asked, for which provider, where the provider must send the
/// browser back, and the PKCE verifier (which never leaves the database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthState {
    pub id: i64,
    pub user_id: Option<i64>,
    pub provider: String,
    pub redirect_uri: String,
    pub pkce_verifier: String,
}

/// Stores a fresh `state` (≥ 128 random bits) bound to `user_id`, `provider`, `redirect_uri`
/// and `pkce_verifier`, living `ttl`. Returns it: the only time it exists in clear.
pub async fn issue_oauth_state(
    pool: &PgPool,
    user_id: Option<i64>,
    provider: &str,
    redirect_uri: &str,
    pkce_verifier: &str,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    let state = secret::generate(24);
    sqlx::query!(
        r#"INSERT INTO one_time_tokens (purpose, token_hash, user_id, provider, redirect_uri,
                                        pkce_verifier, expires_at)
           VALUES ('oauth_state', $1, $2, $3, $4, $5, now() + make_interval(secs => $6))"#,
        secret::digest(&state),
        user_id,
        provider,
        redirect_uri,
        pkce_verifier,
        ttl.as_secs_f64()
    )
    .execute(pool)
    .await?;
    Ok(state)
}

/// Consumes a live `state` of `provider`: once only, before it expires. `None` for a forged,
/// expired, replayed or other provider's state.
pub async fn consume_oauth_state(
    pool: &PgPool,
    state: &str,
    provider: &str,
) -> Result<Option<OauthState>, sqlx::Error> {
    sqlx::query_as!(
        OauthState,
        r#"UPDATE one_time_tokens SET consumed_at = now()
           WHERE purpose = 'oauth_state' AND token_hash = $1 AND provider = $2
             AND consumed_at IS NULL AND expires_at > now()
           RETURNING id, user_id, provider AS "provider!", redirect_uri AS "redirect_uri!",
                     pkce_verifier AS "pkce_verifier!""#,
        secret::digest(state),
        provider
    )
    .fetch_optional(pool)
    .await
}

/// A state consumed within `window`, by its secret: lets the retry of a request whose job
/// outlived the wait join that job instead of failing as a replay.
pub async fn recently_consumed_oauth_state(
    pool: &PgPool,
    state: &str,
    provider: &str,
    window: Duration,
) -> Result<Option<OauthState>, sqlx::Error> {
    sqlx::query_as!(
        OauthState,
        r#"SELECT id, user_id, provider AS "provider!", redirect_uri AS "redirect_uri!",
                  pkce_verifier AS "pkce_verifier!"
           FROM one_time_tokens
           WHERE purpose = 'oauth_state' AND token_hash = $1 AND provider = $2
             AND consumed_at > now() - make_interval(secs => $3)"#,
        secret::digest(state),
        provider,
        window.as_secs_f64()
    )
    .fetch_optional(pool)
    .await
}

/// The state row a job refers to (consumed by the API before the job was pushed).
pub async fn oauth_state(pool: &PgPool, id: i64) -> Result<Option<OauthState>, sqlx::Error> {
    sqlx::query_as!(
        OauthState,
        r#"SELECT id, user_id, provider AS "provider!", redirect_uri AS "redirect_uri!",
                  pkce_verifier AS "pkce_verifier!"
           FROM one_time_tokens WHERE id = $1 AND purpose = 'oauth_state'"#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// Issues a `/login` code for `user_id` (seed 001's fallback): short enough to type, retiring
/// the user's earlier code.
pub async fn issue_login_code(
    pool: &PgPool,
    user_id: i64,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    let code = secret::short_code(10);
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"UPDATE one_time_tokens SET consumed_at = now()
           WHERE user_id = $1 AND purpose = 'login_code' AND consumed_at IS NULL"#,
        user_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"INSERT INTO one_time_tokens (purpose, token_hash, user_id, expires_at)
           VALUES ('login_code', $1, $2, now() + make_interval(secs => $3))"#,
        secret::digest(&normalize_code(&code)),
        user_id,
        ttl.as_secs_f64()
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(code)
}

/// Codes are typed by people: case and separators do not matter.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Consumes a live `/login` code; returns its user.
pub async fn redeem_login_code(pool: &PgPool, code: &str) -> Result<Option<i64>, sqlx::Error> {
    let user = sqlx::query_scalar!(
        r#"UPDATE one_time_tokens SET consumed_at = now()
           WHERE purpose = 'login_code' AND token_hash = $1
             AND consumed_at IS NULL AND expires_at > now()
           RETURNING user_id"#,
        secret::digest(&normalize_code(code))
    )
    .fetch_optional(pool)
    .await?;
    Ok(user.flatten())
}

/// Retires every live token of `purpose` of `user_id` (a refreshed invitation kills the old
/// token at once, before the new one is even sent). Returns how many.
pub async fn retire(pool: &PgPool, user_id: i64, purpose: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"UPDATE one_time_tokens SET consumed_at = now()
           WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL"#,
        user_id,
        purpose
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The outcome of checking a token a person typed against their live token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Right, and now consumed.
    Valid { token_id: i64 },
    /// Wrong; `remaining` more failures before the token dies.
    Wrong { remaining: i32 },
    /// Right or wrong, the token is past its expiry.
    Expired,
    /// There is no live token (never issued, already used, or killed by failures).
    NoToken,
}

/// Checks `presented` against `user_id`'s live token of `purpose`, consuming it when right and
/// counting a failure when wrong (the token dies at [`MAX_FAILED_ATTEMPTS`]). Digests are
/// compared in constant time.
pub async fn check(
    pool: &PgPool,
    user_id: i64,
    purpose: &str,
    presented: &str,
) -> Result<Check, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let live = sqlx::query!(
        r#"SELECT id, token_hash, expires_at < now() AS "expired!", failed_attempts
           FROM one_time_tokens
           WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL
           ORDER BY id DESC LIMIT 1 FOR UPDATE"#,
        user_id,
        purpose
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(live) = live else {
        return Ok(Check::NoToken);
    };
    if live.expired {
        return Ok(Check::Expired);
    }
    if secret::constant_time_eq(&live.token_hash, &secret::digest(presented.trim())) {
        sqlx::query!(
            "UPDATE one_time_tokens SET consumed_at = now() WHERE id = $1",
            live.id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Check::Valid { token_id: live.id });
    }
    let failures = live.failed_attempts + 1;
    sqlx::query!(
        r#"UPDATE one_time_tokens
           SET failed_attempts = $2::int,
               consumed_at = CASE WHEN $2::int >= $3::int THEN now() ELSE consumed_at END
           WHERE id = $1"#,
        live.id,
        failures,
        MAX_FAILED_ATTEMPTS
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Check::Wrong {
        remaining: (MAX_FAILED_ATTEMPTS - failures).max(0),
    })
}
