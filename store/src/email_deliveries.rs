//! One row per email we mean to send; the `send_email` job moves it from `queued` to `sent`
//! (or `retrying`, `failed`), and its latest state is the delivery status shown on the user.

use sqlx::PgPool;

/// What the sender needs to render and address one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryToSend {
    pub id: i64,
    pub user_id: Option<i64>,
    pub kind: String,
    pub to_address: String,
    pub status: String,
    pub full_name: Option<String>,
    pub message_id: Option<String>,
}

/// Queues an email of `kind` to `to_address` (about `user_id`), optionally in a batch.
pub async fn queue(
    pool: &PgPool,
    user_id: Option<i64>,
    kind: &str,
    to_address: &str,
    batch_id: Option<uuid::Uuid>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO email_deliveries (user_id, kind, to_address, batch_id)
           VALUES ($1, $2, $3, $4) RETURNING id"#,
        user_id,
        kind,
        to_address,
        batch_id,
    )
    .fetch_one(pool)
    .await
}

/// The delivery and its recipient's name; `None` when it was deleted meanwhile.
pub async fn find(pool: &PgPool, id: i64) -> Result<Option<DeliveryToSend>, sqlx::Error> {
    sqlx::query_as!(
        DeliveryToSend,
        r#"SELECT d.id, d.user_id, d.kind, d.to_address, d.status, u.full_name AS "full_name?",
                  d.message_id
           FROM email_deliveries d LEFT JOIN users u ON u.id = d.user_id
           WHERE d.id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// Records a successful send.
pub async fn mark_sent(
    pool: &PgPool,
    id: i64,
    message_id: &str,
    job_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE email_deliveries
           SET status = 'sent', message_id = $2, job_id = $3, sent_at = now(), last_error = NULL,
               attempts = attempts + 1
           WHERE id = $1"#,
        id,
        message_id,
        job_id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed attempt: `retrying` while the job will try again, `failed` when not.
pub async fn mark_failed(
    pool: &PgPool,
    id: i64,
    error: &str,
    final_attempt: bool,
    job_id: &str,
) -> Result<(), sqlx::Error> {
    let status = if final_attempt { "failed" } else { "retrying" };
    sqlx::query!(
        r#"UPDATE email_deliveries
           SET status = $2, last_error = $3, job_id = $4, attempts = attempts + 1
           WHERE id = $1"#,
        id,
        status,
        error,
        job_id
    )
    .execute(pool)
    .await?;
    Ok(())
}
