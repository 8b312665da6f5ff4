//! Housekeeping queries of the `sweep` job: what expired or grew old goes.

use std::time::Duration;

use sqlx::PgPool;

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Swept {
    pub one_time_tokens: u64,
    pub refresh_tokens: u64,
    pub job_effects: u64,
}

/// Deletes single-use tokens and refresh tokens that expired more than `grace` ago (kept a
/// little while so a late click gets "expired", not "unknown"), and idempotency records older
/// than `effects_ttl` (far longer than any job can be retried).
pub async fn sweep(
    pool: &PgPool,
    grace: Duration,
    effects_ttl: Duration,
) -> Result<Swept, sqlx::Error> {
    let grace_s = grace.as_secs_f64();
    let effects_s = effects_ttl.as_secs_f64();
    let one_time_tokens = sqlx::query!(
        "DELETE FROM one_time_tokens WHERE expires_at < now() - make_interval(secs => $1)",
        grace_s
    )
    .execute(pool)
    .await?
    .rows_affected();
    let refresh_tokens = sqlx::query!(
        "DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)",
        grace_s
    )
    .execute(pool)
    .await?
    .rows_affected();
    let job_effects = sqlx::query!(
        "DELETE FROM job_effects WHERE created_at < now() - make_interval(secs => $1)",
        effects_s
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(Swept {
        one_time_tokens,
        refresh_tokens,
        job_effects,
    })
}
