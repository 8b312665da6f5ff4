//! The audit log: who did what (admin actions, verifications, links, revocations).

use sqlx::PgPool;

/// Records one action (on the pool, or inside the caller's transaction). `actor` is `api_key`, `api_token:<id>`, `user:<id>`, `job:<queue>`…
pub async fn record(
    db: impl sqlx::PgExecutor<'_>,
    actor: &str,
    action: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4)",
        actor,
        action,
        target,
        detail
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<serde_json::Value>,
}

/// Filters of the audit log; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The actor exactly (`api_key`, `api_token:3`, `user:7`, `job:send_email`…).
    pub actor: Option<String>,
    /// The action exactly (`user_deleted`…).
    pub action: Option<String>,
    /// The target exactly (`user:7`, `upload:<uuid>`…).
    pub target: Option<String>,
    /// Only rows with an id below this: the next page of a listing.
    pub before: Option<i64>,
}

/// Up to `limit` rows matching `filter`, newest first.
pub async fn list(pool: &PgPool, filter: &Filter, limit: i64) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as!(
        Entry,
        r#"SELECT id, at, actor, action, target, detail FROM audit_log
           WHERE ($1::text IS NULL OR actor = $1)
             AND ($2::text IS NULL OR action = $2)
             AND ($3::text IS NULL OR target = $3)
             AND ($4::bigint IS NULL OR id < $4)
           ORDER BY id DESC
           LIMIT $5"#,
        filter.actor,
        filter.action,
        filter.target,
        filter.before,
        limit
    )
    .fetch_all(pool)
    .await
}
