//! The idempotency ledger: an effect that must not repeat (an email, a kick, a role grant, a
//! posted message) is recorded under the job's idempotency key, so a job that runs twice
//! (at-least-once delivery) sees it was already done.

use sqlx::PgPool;

/// Whether an effect was recorded under `key`.
pub async fn done(pool: &PgPool, key: &str) -> Result<bool, sqlx::Error> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM job_effects WHERE idempotency_key = $1) AS "found!""#,
        key
    )
    .fetch_one(pool)
    .await?;
    Ok(found)
}

/// The detail recorded under `key`, when an effect was.
pub async fn detail(pool: &PgPool, key: &str) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let found = sqlx::query_scalar!(
        r#"SELECT detail AS "detail!" FROM job_effects WHERE idempotency_key = $1"#,
        key
    )
    .fetch_optional(pool)
    .await?;
    Ok(found)
}

/// Records an effect; returns false when one was already recorded under `key`.
pub async fn record(
    pool: &PgPool,
    key: &str,
    queue: &str,
    job_id: &str,
    effect: &str,
    detail: serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query!(
        r#"INSERT INTO job_effects (idempotency_key, queue, job_id, effect, detail)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING"#,
        key,
        queue,
        job_id,
        effect,
        detail
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}
