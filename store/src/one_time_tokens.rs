//! Single-use secrets with a purpose and an expiry, stored as SHA-256 digests.

use std::time::Duration;

use sqlx::PgPool;

use crate::secret;

/// What issuing a token does to the user's earlier live tokens of the same purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Earlier {
    /// They die: a re-sent invitation makes the old one dead (an admin's decision).
    Retire,
    /// They stay valid until they expire: a mail anyone can trigger (a verification) must
    /// not kill the code the owner already holds.
    Keep,
}

/// Issues a new token of `purpose` for `user_id`, valid for `ttl`. Returns its id and the
/// token: the only time it exists in clear.
pub async fn issue(
    pool: &PgPool,
    user_id: i64,
    purpose: &str,
    ttl: Duration,
    earlier: Earlier,
) -> Result<(i64, String), sqlx::Error> {
    let token = secret::generate(18);
    let mut tx = pool.begin().await?;
    if earlier == Earlier::Retire {
        sqlx::query!(
            r#"UPDATE one_time_tokens SET consumed_at = now()
               WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL"#,
            user_id,
            purpose
        )
        .execute(&mut *tx)
        .await?;
    }
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

/// A stored OAuth `state`: who asked, for which provider, where the provider must send the
/// browser back, the PKCE verifier (which never leaves the database), and the digest of the
/// browser cookie it is bound to, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthState {
    pub id: i64,
    pub user_id: Option<i64>,
    pub provider: String,
    pub redirect_uri: String,
    pub pkce_verifier: String,
    pub browser_binding: Option<Vec<u8>>,
}

impl OauthState {
    /// Whether `cookie` (the binding cookie the request carried) is the one this state was
    /// issued with. A state bound to no browser accepts any request.
    pub fn bound_to(&self, cookie: Option<&str>) -> bool {
        match (&self.browser_binding, cookie) {
            (None, _) => true,
            (Some(expected), Some(cookie)) => {
                secret::constant_time_eq(expected, &secret::digest(cookie))
            }
            (Some(_), None) => false,
        }
    }
}

/// A new OAuth `state` to store.
#[derive(Debug, Clone, Copy)]
pub struct NewOauthState<'a> {
    pub user_id: Option<i64>,
    pub provider: &'a str,
    pub redirect_uri: &'a str,
    pub pkce_verifier: &'a str,
    /// The secret of the browser cookie the state is bound to (only its digest is stored).
    pub browser_binding: Option<&'a str>,
    pub ttl: Duration,
}

/// Stores a fresh `state` (≥ 128 random bits) with its bindings. Returns it: the only time it
/// exists in clear.
pub async fn issue_oauth_state(
    pool: &PgPool,
    new: &NewOauthState<'_>,
) -> Result<String, sqlx::Error> {
    let state = secret::generate(24);
    sqlx::query!(
        r#"INSERT INTO one_time_tokens (purpose, token_hash, user_id, provider, redirect_uri,
                                        pkce_verifier, browser_binding, expires_at)
           VALUES ('oauth_state', $1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))"#,
        secret::digest(&state),
        new.user_id,
        new.provider,
        new.redirect_uri,
        new.pkce_verifier,
        new.browser_binding.map(secret::digest),
        new.ttl.as_secs_f64()
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
                     pkce_verifier AS "pkce_verifier!", browser_binding"#,
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
                  pkce_verifier AS "pkce_verifier!", browser_binding
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
                  pkce_verifier AS "pkce_verifier!", browser_binding
           FROM one_time_tokens WHERE id = $1 AND purpose = 'oauth_state'"#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// Issues a `/login` code for `user_id` (seed 001's fallback): short enough to type. Earlier
/// codes stay valid until they expire: onboarding is anonymous, and a stranger repeating it
/// must not kill the code the owner holds (its per-email limit bounds how many exist).
pub async fn issue_login_code(
    pool: &PgPool,
    user_id: i64,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    let (code, digest) = new_login_code();
    sqlx::query!(
        r#"INSERT INTO one_time_tokens (purpose, token_hash, user_id, expires_at)
           VALUES ('login_code', $1, $2, now() + make_interval(secs => $3))"#,
        digest,
        user_id,
        ttl.as_secs_f64()
    )
    .execute(pool)
    .await?;
    Ok(code)
}

/// A new `/login` code and the digest it is stored as.
pub(crate) fn new_login_code() -> (String, Vec<u8>) {
    let code = secret::short_code(10);
    let digest = secret::digest(&normalize_code(&code));
    (code, digest)
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

/// Voids a live token someone typed where others could read it (an invitation or
/// verification token, or a `/login` code, whoever it belongs to): returns its user and
/// purpose, so the owner can be sent a fresh one.
pub async fn void_exposed(
    pool: &PgPool,
    typed: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"UPDATE one_time_tokens SET consumed_at = now()
           WHERE consumed_at IS NULL AND expires_at > now() AND user_id IS NOT NULL
             AND ((purpose IN ('invitation', 'email_verification') AND token_hash = $1)
                  OR (purpose = 'login_code' AND token_hash = $2))
           RETURNING user_id AS "user_id!", purpose"#,
        secret::digest(typed.trim()),
        secret::digest(&normalize_code(typed))
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.user_id, r.purpose)))
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

/// The outcome of checking a token a person typed against the user's live tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Right, and now consumed.
    Valid { token_id: i64 },
    /// Wrong. Failures never consume or kill a token (a stranger could otherwise destroy the
    /// owner's): callers slow the failing source instead (see `jobs::ratelimit`).
    Wrong,
    /// Right, but past its expiry.
    Expired,
    /// The user has no live token of this purpose (never issued, or used).
    NoToken,
}

/// Checks `presented` against `user_id`'s live tokens of `purpose` (every one: a user may hold
/// several verification codes), consuming it when right. The lookup is by digest, which the
/// presenter cannot steer, so it reveals nothing through timing.
pub async fn check(
    pool: &PgPool,
    user_id: i64,
    purpose: &str,
    presented: &str,
) -> Result<Check, sqlx::Error> {
    let consumed = sqlx::query_scalar!(
        r#"UPDATE one_time_tokens SET consumed_at = now()
           WHERE purpose = $2 AND token_hash = $3 AND user_id = $1
             AND consumed_at IS NULL AND expires_at > now()
           RETURNING id"#,
        user_id,
        purpose,
        secret::digest(presented.trim())
    )
    .fetch_optional(pool)
    .await?;
    if let Some(token_id) = consumed {
        return Ok(Check::Valid { token_id });
    }
    let live = sqlx::query!(
        r#"SELECT COALESCE(bool_or(token_hash = $3 AND expires_at <= now()), FALSE) AS "expired!",
                  count(*) AS "count!"
           FROM one_time_tokens
           WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL"#,
        user_id,
        purpose,
        secret::digest(presented.trim())
    )
    .fetch_one(pool)
    .await?;
    Ok(if live.expired {
        Check::Expired
    } else if live.count == 0 {
        Check::NoToken
    } else {
        Check::Wrong
    })
}
