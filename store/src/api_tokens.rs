//! Admin-created Bearer API tokens (seed 004): stored hashed, shown once at creation, with a
//! last-used time and revocation.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use crate::secret;

/// Tokens start with this, so a leaked one is recognisable (secret scanners, logs review).
pub const TOKEN_PREFIX: &str = "cnc_";

/// `last_used_at` is refreshed at most this often: a hot token must not turn every request
/// into a row update.
const LAST_USED_GRANULARITY: Duration = Duration::seconds(60);

/// An API token as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to tell tokens apart in listings.
    pub token_prefix: String,
    pub role: String,
    pub created_by: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A token just created: the only time its secret exists outside its owner's hands.
#[derive(Debug)]
pub struct CreatedApiToken {
    pub token: String,
    pub record: ApiToken,
}

/// Creates a token with `role`, optionally expiring.
pub async fn create(
    pool: &PgPool,
    name: &str,
    role: &str,
    created_by: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<CreatedApiToken, sqlx::Error> {
    let token = format!("{TOKEN_PREFIX}{}", secret::generate(32));
    let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let record = sqlx::query_as!(
        ApiToken,
        r#"INSERT INTO api_tokens (name, token_hash, token_prefix, role, created_by, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, name, token_prefix, role, created_by, expires_at, last_used_at,
                     revoked_at, created_at"#,
        name,
        secret::digest(&token),
        prefix,
        role,
        created_by,
        expires_at,
    )
    .fetch_one(pool)
    .await?;
    Ok(CreatedApiToken { token, record })
}

/// The live (not revoked, not expired) token whose secret is `presented`, noting its use.
pub async fn authenticate(pool: &PgPool, presented: &str) -> Result<Option<ApiToken>, sqlx::Error> {
    if !presented.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let found = sqlx::query_as!(
        ApiToken,
        r#"SELECT id, name, token_prefix, role, created_by, expires_at, last_used_at, revoked_at,
                  created_at
           FROM api_tokens
           WHERE token_hash = $1
             AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > now())"#,
        secret::digest(presented),
    )
    .fetch_optional(pool)
    .await?;
    if let Some(token) = &found {
        let stale = token
            .last_used_at
            .is_none_or(|at| Utc::now() - at > LAST_USED_GRANULARITY);
        if stale {
            sqlx::query!(
                "UPDATE api_tokens SET last_used_at = now() WHERE id = $1",
                token.id
            )
            .execute(pool)
            .await?;
        }
    }
    Ok(found)
}

/// Every token, newest first (revoked ones included, marked).
pub async fn list(pool: &PgPool) -> Result<Vec<ApiToken>, sqlx::Error> {
    sqlx::query_as!(
        ApiToken,
        r#"SELECT id, name, token_prefix, role, created_by, expires_at, last_used_at, revoked_at,
                  created_at
           FROM api_tokens ORDER BY id DESC"#
    )
    .fetch_all(pool)
    .await
}

/// Revokes a token; false when there is no such live token.
pub async fn revoke(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        id
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
