//! The verification gate (seed 003): members who joined a gated guild and must verify before
//! their deadline, and each guild's settings (`/set_timeout`, role, channels).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A guild's own settings; `None` fields fall back to the deployment's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuildSettings {
    pub verification_timeout_seconds: Option<i32>,
    pub member_role_name: Option<String>,
    pub member_role_id: Option<i64>,
    pub log_channel_id: Option<i64>,
    pub fallback_channel_id: Option<i64>,
}

pub async fn guild_settings(pool: &PgPool, guild: u64) -> Result<GuildSettings, sqlx::Error> {
    let row = sqlx::query_as!(
        GuildSettings,
        r#"SELECT verification_timeout_seconds, member_role_name, member_role_id, log_channel_id,
                  fallback_channel_id
           FROM guild_settings WHERE guild_id = $1"#,
        guild as i64
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or_default())
}

impl GuildSettings {
    /// The guild's verification timeout (`/set_timeout`), else `default`.
    pub fn verification_timeout(&self, default: std::time::Duration) -> std::time::Duration {
        self.verification_timeout_seconds
            .map(|s| std::time::Duration::from_secs(s.max(1) as u64))
            .unwrap_or(default)
    }
}

/// `/set_timeout`: the guild's verification timeout.
pub async fn set_timeout(
    pool: &PgPool,
    guild: u64,
    seconds: i32,
    by: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO guild_settings (guild_id, verification_timeout_seconds, updated_by)
           VALUES ($1, $2, $3)
           ON CONFLICT (guild_id) DO UPDATE
               SET verification_timeout_seconds = EXCLUDED.verification_timeout_seconds,
                   updated_by = EXCLUDED.updated_by"#,
        guild as i64,
        seconds,
        by as i64
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Remembers the id of the guild's member role (found by name once).
pub async fn remember_role(pool: &PgPool, guild: u64, role: u64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO guild_settings (guild_id, member_role_id) VALUES ($1, $2)
           ON CONFLICT (guild_id) DO UPDATE SET member_role_id = EXCLUDED.member_role_id"#,
        guild as i64,
        role as i64
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A member's place at the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    /// `pending`, `verified` or `kicked`.
    pub status: String,
    pub deadline: DateTime<Utc>,
    pub in_guild: bool,
    pub user_id: Option<i64>,
}

/// A member joined (or rejoined): the first join sets the deadline; a rejoin keeps it (leaving
/// and coming back does not buy time), and a kicked member who returns starts pending again
/// with a fresh deadline.
pub async fn joined(
    pool: &PgPool,
    guild: u64,
    member: u64,
    timeout: std::time::Duration,
) -> Result<Gate, sqlx::Error> {
    sqlx::query_as!(
        Gate,
        r#"INSERT INTO member_verifications (guild_id, discord_user_id, joined_at, deadline)
           VALUES ($1, $2, now(), now() + make_interval(secs => $3))
           ON CONFLICT (guild_id, discord_user_id) DO UPDATE
               SET in_guild = TRUE,
                   status = CASE WHEN member_verifications.status = 'kicked' THEN 'pending'
                                 ELSE member_verifications.status END,
                   deadline = CASE WHEN member_verifications.status = 'kicked'
                                   THEN now() + make_interval(secs => $3)
                                   ELSE member_verifications.deadline END,
                   joined_at = CASE WHEN member_verifications.status = 'kicked' THEN now()
                                    ELSE member_verifications.joined_at END
           RETURNING status, deadline, in_guild, user_id"#,
        guild as i64,
        member as i64,
        timeout.as_secs_f64()
    )
    .fetch_one(pool)
    .await
}

pub async fn left(pool: &PgPool, guild: u64, member: u64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE member_verifications SET in_guild = FALSE WHERE guild_id = $1 AND discord_user_id = $2",
        guild as i64,
        member as i64
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn gate(pool: &PgPool, guild: u64, member: u64) -> Result<Option<Gate>, sqlx::Error> {
    sqlx::query_as!(
        Gate,
        r#"SELECT status, deadline, in_guild, user_id FROM member_verifications
           WHERE guild_id = $1 AND discord_user_id = $2"#,
        guild as i64,
        member as i64
    )
    .fetch_optional(pool)
    .await
}

/// The member passed the gate (creates the row when verification came first).
pub async fn verified(
    pool: &PgPool,
    guild: u64,
    member: u64,
    user_id: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO member_verifications (guild_id, discord_user_id, user_id, status, joined_at,
                                             deadline, verified_at)
           VALUES ($1, $2, $3, 'verified', now(), now(), now())
           ON CONFLICT (guild_id, discord_user_id) DO UPDATE
               SET status = 'verified', verified_at = now(),
                   user_id = COALESCE(EXCLUDED.user_id, member_verifications.user_id)"#,
        guild as i64,
        member as i64,
        user_id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a kick; false when the member was no longer pending (verified meanwhile).
pub async fn kicked(pool: &PgPool, guild: u64, member: u64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"UPDATE member_verifications SET status = 'kicked', kicked_at = now(), in_guild = FALSE
           WHERE guild_id = $1 AND discord_user_id = $2 AND status = 'pending'"#,
        guild as i64,
        member as i64
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Pending members of a guild, soonest deadline first.
pub async fn pending(
    pool: &PgPool,
    guild: u64,
    limit: i64,
) -> Result<Vec<(i64, DateTime<Utc>)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT discord_user_id, deadline FROM member_verifications
           WHERE guild_id = $1 AND status = 'pending' AND in_guild
           ORDER BY deadline LIMIT $2"#,
        guild as i64,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.discord_user_id, r.deadline))
        .collect())
}

/// Pending members past their deadline in every guild: kicks the sweep pushes again in case
/// their scheduled job was lost.
pub async fn overdue(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<(i64, i64, DateTime<Utc>)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT guild_id, discord_user_id, deadline FROM member_verifications
           WHERE status = 'pending' AND in_guild AND deadline <= now()
           ORDER BY deadline LIMIT $1"#,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.guild_id, r.discord_user_id, r.deadline))
        .collect())
}

/// Guilds where the member is still waiting at the gate.
pub async fn pending_guilds(pool: &PgPool, member: u64) -> Result<Vec<u64>, sqlx::Error> {
    let rows = sqlx::query_scalar!(
        r#"SELECT guild_id FROM member_verifications
           WHERE discord_user_id = $1 AND status = 'pending' AND in_guild"#,
        member as i64
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|g| g as u64).collect())
}
