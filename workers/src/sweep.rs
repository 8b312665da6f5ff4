//! `sweep`: periodic housekeeping, fired once across replicas by [`crate::cron`]. It re-reads
//! everything it acts on, so running it twice, late, or after a missed firing is harmless.

use std::time::Duration;

use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use jobs::Sweep;

use crate::Deps;

/// Expired tokens are kept this long, so a late click is told "expired" rather than "unknown".
const TOKEN_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Idempotency records outlive any retry of the job that wrote them by far.
const EFFECTS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

pub async fn handle(
    job: Sweep,
    deps: Data<Deps>,
) -> Result<store::maintenance::Swept, BoxDynError> {
    let swept = store::maintenance::sweep(&deps.db, TOKEN_GRACE, EFFECTS_TTL).await?;
    tracing::info!(
        fired_at_ms = job.fired_at_ms,
        one_time_tokens = swept.one_time_tokens,
        refresh_tokens = swept.refresh_tokens,
        job_effects = swept.job_effects,
        "swept"
    );
    Ok(swept)
}
