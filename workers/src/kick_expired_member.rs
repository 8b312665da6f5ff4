//! `kick_expired_member`: at a member's deadline, re-read the gate and kick only if they are
//! still unverified and still in the guild. A deadline moved later (a longer `/set_timeout`)
//! reschedules the kick. The kick is recorded in `job_effects` under the member's deadline, so
//! two jobs for one deadline (the scheduled one and the sweep's) kick once. Missing permission
//! is reported to the log channel and ends the job.

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::data::Data;
use chrono::Utc;
use jobs::{Job, KickExpiredMember, Lease, PushOptions};
use serde::Serialize;

use crate::guild::{discord, report};
use crate::{Deps, Handler, Handles};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum KickOutcome {
    Kicked,
    /// Verified, already kicked, or unknown: nothing to do.
    NotNeeded,
    /// Not in the guild any more.
    Left,
    /// The deadline moved later: a new kick is scheduled for it.
    Rescheduled {
        deadline_ms: i64,
    },
}

#[tracing::instrument(skip_all, fields(job_id = %lease.job_id, guild = job.guild_id, member = job.discord_user_id))]
pub async fn handle(
    job: KickExpiredMember,
    lease: Data<Lease>,
    deps: Data<Deps>,
) -> Result<KickOutcome, BoxDynError> {
    let db = &deps.db;
    let Some(gate) = store::members::gate(db, job.guild_id, job.discord_user_id).await? else {
        return Ok(KickOutcome::NotNeeded);
    };
    if gate.status != "pending" {
        return Ok(KickOutcome::NotNeeded);
    }
    if !gate.in_guild {
        return Ok(KickOutcome::Left);
    }
    let deadline_ms = gate.deadline.timestamp_millis();
    if gate.deadline > Utc::now() + chrono::Duration::seconds(1) {
        deps.producer
            .push_with(
                &job,
                PushOptions::at(deadline_ms.max(0) as u64)
                    .with_idempotency_key(job.key(deadline_ms)),
            )
            .await?;
        return Ok(KickOutcome::Rescheduled { deadline_ms });
    }
    let key = job.key(deadline_ms);
    if store::job_effects::done(db, &key).await? {
        store::members::kicked(db, job.guild_id, job.discord_user_id).await?;
        return Ok(KickOutcome::Kicked);
    }
    let discord = discord(&deps)?;
    match discord.is_member(job.guild_id, job.discord_user_id).await {
        Ok(true) => {}
        Ok(false) => {
            store::members::left(db, job.guild_id, job.discord_user_id).await?;
            return Ok(KickOutcome::Left);
        }
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the member; kicking anyway");
        }
    }
    match discord
        .kick(job.guild_id, job.discord_user_id, "did not verify in time")
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(crate::providers::discord::DiscordError::NotFound(_)) => {
            store::members::left(db, job.guild_id, job.discord_user_id).await?;
            return Ok(KickOutcome::Left);
        }
        Err(e) => {
            report(
                &deps,
                Some(job.guild_id),
                &key,
                &format!(
                    "cannot kick <@{}> who did not verify in time: {e}. The bot needs Kick Members and a role above theirs.",
                    job.discord_user_id
                ),
            )
            .await;
            return Err(AbortError::new(e).into());
        }
    }
    store::job_effects::record(
        db,
        &key,
        KickExpiredMember::QUEUE,
        lease.job_id.as_str(),
        "kicked",
        serde_json::json!({ "guild_id": job.guild_id, "discord_user_id": job.discord_user_id }),
    )
    .await?;
    store::members::kicked(db, job.guild_id, job.discord_user_id).await?;
    store::audit::record(
        db,
        &format!("job:{}", KickExpiredMember::QUEUE),
        "member_kicked",
        Some(&format!("discord:{}", job.discord_user_id)),
        serde_json::json!({ "guild_id": job.guild_id }),
    )
    .await?;
    tracing::info!("kicked a member who did not verify in time");
    Ok(KickOutcome::Kicked)
}

impl Handles for KickExpiredMember {
    type Outcome = KickOutcome;
    const HANDLER: Handler<Self> = |job, lease, _, deps| Box::pin(handle(job, lease, deps));
}
