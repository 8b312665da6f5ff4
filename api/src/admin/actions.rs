//! What the dashboard changes: retry or discard one job, replay the dead-letter set, pause and
//! resume a queue. Every action that happens is recorded in the audit log under the admin's
//! name.

use poem_openapi::payload::Json;

use jobs::JobState;

use super::queues::{known, lookup, no_queue, refused};
use super::views::{ActionResult, ReplayResult, Replayed};
use crate::auth::AdminAuth;
use crate::error::{Or500, body};
use crate::state::AppState;

/// What can be done to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JobAction {
    /// Run a failed or dead job again, with a fresh attempt budget.
    Retry,
    /// Delete a job that is not running.
    Discard,
}

impl JobAction {
    /// Why a job in `state` cannot take the action, if it cannot.
    fn refusal(self, state: JobState) -> Option<String> {
        match self {
            JobAction::Retry if !matches!(state, JobState::Failed | JobState::Dead) => {
                Some(format!(
                    "the job is {}; only failed or dead jobs are retried",
                    state.as_str()
                ))
            }
            JobAction::Discard if state == JobState::Running => {
                Some("a running job cannot be discarded".to_owned())
            }
            _ => None,
        }
    }

    /// Its name in the audit log.
    fn audited_as(self) -> &'static str {
        match self {
            JobAction::Retry => "job_retried",
            JobAction::Discard => "job_discarded",
        }
    }
}

/// Retries or discards job `id` of `queue`: found, in a state that allows it, done, audited.
pub(super) async fn on_job(
    state: &AppState,
    auth: &AdminAuth,
    queue: &str,
    id: &str,
    action: JobAction,
) -> poem::Result<ActionResult> {
    let (id, status) = match lookup(state, queue, id).await? {
        Ok(found) => found,
        Err(missing) => return Ok(ActionResult::NotFound(missing)),
    };
    if let Some(why) = action.refusal(status.state) {
        return Ok(ActionResult::Conflict(body("conflict", why)));
    }
    let producer = state.producer();
    match action {
        JobAction::Retry => {
            producer
                .replay_dead(queue, std::slice::from_ref(&id), 1)
                .await
                .or_500("retrying the job")?;
        }
        JobAction::Discard => {
            producer
                .discard(queue, &id)
                .await
                .or_500("discarding the job")?;
        }
    }
    audit(state, auth, action.audited_as(), queue, id.as_str()).await?;
    Ok(ActionResult::Done)
}

pub(super) async fn replay_dead(
    state: &AppState,
    auth: &AdminAuth,
    queue: &str,
    limit: u32,
) -> poem::Result<ReplayResult> {
    if let Some(refused) = refused(queue, limit, 10_000) {
        return Ok(refused);
    }
    let replayed = state
        .producer()
        .replay_dead(queue, &[], limit as usize)
        .await
        .or_500("replaying the dead-letter set")?;
    audit(
        state,
        auth,
        "dead_replayed",
        queue,
        &replayed.len().to_string(),
    )
    .await?;
    Ok(ReplayResult::Ok(Json(Replayed {
        replayed: replayed.into_iter().map(|id| id.to_string()).collect(),
    })))
}

/// Pauses (`paused`) or resumes a queue: the two differ only in the call and the audit entry.
pub(super) async fn set_paused(
    state: &AppState,
    auth: &AdminAuth,
    queue: &str,
    paused: bool,
) -> poem::Result<ActionResult> {
    if !known(queue) {
        return Ok(ActionResult::NotFound(no_queue()));
    }
    let producer = state.producer();
    let action = if paused {
        producer.pause(queue).await.or_500("pausing the queue")?;
        "queue_paused"
    } else {
        producer.resume(queue).await.or_500("resuming the queue")?;
        "queue_resumed"
    };
    audit(state, auth, action, queue, "").await?;
    Ok(ActionResult::Done)
}

async fn audit(
    state: &AppState,
    auth: &AdminAuth,
    action: &str,
    queue: &str,
    detail: &str,
) -> poem::Result<()> {
    state
        .audit(
            &auth.admin().actor,
            action,
            Some(&format!("queue:{queue}")),
            serde_json::json!({ "detail": detail }),
        )
        .await
}
