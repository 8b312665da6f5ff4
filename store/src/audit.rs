//! The audit log: who did what (admin actions, verifications, links, revocations).

use sqlx::PgPool;

/// Records one action. `actor` is `api_key`, `api_token:<id>`, `user:<id>`, `job:<queue>`…
pub async fn record(
    pool: &PgPool,
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
    .execute(pool)
    .await?;
    Ok(())
}
