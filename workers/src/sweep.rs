//! `sweep`: periodic housekeeping, fired once across replicas by [`crate::cron`]. It re-reads
//! everything it acts on, so running it twice, late, or after a missed firing is harmless.

use std::time::Duration;

use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use jobs::{KickExpiredMember, PushOptions, RefreshProviderToken, Sweep};
use serde::Serialize;

use crate::{Deps, Handler, Handles};

/// Expired tokens are kept this long, so a late click is told "expired" rather than "unknown".
const TOKEN_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Onboardings nobody proved (no mail answered, no invitation, no confirmed account) are
/// removed after this long: anyone can create them, and nothing else ever would.
const UNPROVEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Idempotency records outlive any retry of the job that wrote them by far.
const EFFECTS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// At most this many token refreshes are pushed per firing; the next firing takes the rest.
const REFRESHES_PER_SWEEP: i64 = 1000;

/// What one firing did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepOutcome {
    #[serde(flatten)]
    pub swept: store::maintenance::Swept,
    /// `refresh_provider_token` jobs pushed for tokens about to expire.
    pub refreshes_pushed: usize,
    /// `kick_expired_member` jobs pushed for members past their deadline (their scheduled kick
    /// was lost while everything was down; the kick's key makes a duplicate harmless).
    pub kicks_pushed: usize,
}

pub async fn handle(job: Sweep, deps: Data<Deps>) -> Result<SweepOutcome, BoxDynError> {
    let swept = store::maintenance::sweep(&deps.db, TOKEN_GRACE, EFFECTS_TTL, UNPROVEN_TTL).await?;
    let due = store::identities::due_for_refresh(
        &deps.db,
        crate::refresh_provider_token::REFRESH_AHEAD,
        REFRESHES_PER_SWEEP,
    )
    .await?;
    // One refresh per identity per firing, even when two sweeps overlap.
    let pushes: Vec<_> = due
        .iter()
        .map(|&identity_id| {
            (
                RefreshProviderToken { identity_id },
                PushOptions::idempotent(format!("refresh:{identity_id}:{}", job.fired_at_ms)),
            )
        })
        .collect();
    for (payload, options) in &pushes {
        deps.producer.push_with(payload, options.clone()).await?;
    }
    let overdue = store::members::overdue(&deps.db, REFRESHES_PER_SWEEP).await?;
    for (guild, member, deadline) in &overdue {
        let (guild, member) = (*guild as u64, *member as u64);
        let kick = KickExpiredMember {
            guild_id: guild,
            discord_user_id: member,
        };
        let key = kick.key(deadline.timestamp_millis());
        deps.producer
            .push_with(&kick, PushOptions::idempotent(key))
            .await?;
    }
    tracing::info!(
        fired_at_ms = job.fired_at_ms,
        one_time_tokens = swept.one_time_tokens,
        refresh_tokens = swept.refresh_tokens,
        job_effects = swept.job_effects,
        unproven_users = swept.unproven_users,
        refreshes_pushed = pushes.len(),
        kicks_pushed = overdue.len(),
        "swept"
    );
    Ok(SweepOutcome {
        swept,
        refreshes_pushed: pushes.len(),
        kicks_pushed: overdue.len(),
    })
}

impl Handles for Sweep {
    type Outcome = SweepOutcome;
    const HANDLER: Handler<Self> = |job, _, _, deps| Box::pin(handle(job, deps));
}
