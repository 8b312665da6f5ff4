//! The job dashboard's API, admin only (`x-api-key`, an admin API token or an admin's JWT):
//! queues with their sizes, workers and pause state; jobs per state; one job with its payload
//! (secrets redacted), attempts, error, timings and result; and actions: retry, discard,
//! replay the dead-letter set (one or in bulk), pause and resume a queue; jobs done and
//! failed per minute. Also apalis-board's UI on a port of its own. The `/dashboard` page that
//! calls it is in `console`.
//!
//! The endpoints are declared here, in one `#[OpenApi]` impl, as the spec lists them: a read
//! and an action share the path `/queues/{queue}/jobs/{id}` (`GET` and `DELETE`), and
//! poem-openapi merges the methods of one path only within one impl. Each endpoint hands its
//! parameters to the function that does the work.
//!
//! # Layout
//! - `views`: the view and response types, and `redact` (payloads shown here and on the board).
//! - `queues`: the reads (queues, workers, throughput, events, jobs, one job) and the queue and job
//!   look-ups every endpoint under `/queues/{queue}` starts with.
//! - `actions`: the changes (retry, discard, replay, pause, resume), audited.
//! - [`board`]: apalis-board's prebuilt UI and its `/api/v1`.

mod actions;
pub mod board;
mod queues;
mod views;

pub(crate) use self::queues::summaries;
pub(crate) use self::views::QueueSummary;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{OpenApi, Tags};

use self::actions::JobAction;
use self::views::{
    ActionResult, EventsResult, JobResult, JobsResult, QueuesResult, ReplayResult, StateFilter,
    ThroughputResult, WorkersResult,
};
use crate::auth::AdminAuth;
use crate::state::AppState;
use crate::text::Count;

#[derive(Debug, Tags)]
enum AdminTags {
    /// Job dashboard: queues, jobs and actions (admin)
    Jobs,
}

#[derive(Debug)]
pub struct AdminJobsApi;

#[OpenApi(prefix_path = "/admin", tag = "AdminTags::Jobs")]
impl AdminJobsApi {
    /// Every queue with its sizes, oldest job age and pause state.
    #[oai(path = "/queues", method = "get", operation_id = "admin_queues")]
    async fn queues(&self, state: Data<&AppState>, _auth: AdminAuth) -> poem::Result<QueuesResult> {
        queues::queues(&state).await
    }

    /// Live workers of every queue (heartbeat within two leases).
    #[oai(path = "/workers", method = "get", operation_id = "admin_workers")]
    async fn workers(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> poem::Result<WorkersResult> {
        queues::workers(&state).await
    }

    /// Jobs done and attempts failed per minute over the last `minutes` (default 60, at most
    /// 120), of one queue or of all.
    #[oai(
        path = "/throughput",
        method = "get",
        operation_id = "admin_throughput"
    )]
    async fn throughput(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Only this queue.
        queue: Query<Option<String>>,
        /// 1 to 120.
        #[oai(default = "default_minutes")]
        minutes: Query<Count<1, 120>>,
    ) -> poem::Result<ThroughputResult> {
        queues::throughput(&state, queue.0.as_deref(), minutes.0.0).await
    }

    /// Queue sizes every two seconds, as server-sent events (`data: [QueueSummary…]`), for
    /// live charts. Send the admin credentials as headers (read it with `fetch`, not
    /// `EventSource`, which cannot send them).
    #[oai(path = "/events", method = "get", operation_id = "admin_events")]
    async fn events(&self, state: Data<&AppState>, _auth: AdminAuth) -> EventsResult {
        queues::events(&state)
    }

    /// Jobs of a queue in one state (default: waiting), newest finished first.
    #[oai(
        path = "/queues/:queue/jobs",
        method = "get",
        operation_id = "admin_jobs"
    )]
    // poem-openapi takes each query parameter as an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn jobs(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        queue: Path<String>,
        #[oai(name = "state")] filter: Query<Option<StateFilter>>,
        /// At most 500.
        #[oai(default = "default_limit")]
        limit: Query<Count<1, 500>>,
        #[oai(default)] offset: Query<u32>,
        /// Only jobs whose payload (secrets redacted) contains this text (any case), or, written
        /// `field=value`, has a field of that name at any depth with that value. Looks at the
        /// first 5,000 jobs of the state in listing order (oldest first for waiting and
        /// running, newest first for the others); `offset` and `limit` count matches.
        q: Query<Option<String>>,
    ) -> poem::Result<JobsResult> {
        queues::jobs(
            &state,
            &queue,
            filter.0,
            limit.0.0,
            offset.0,
            q.0.as_deref(),
        )
        .await
    }

    /// One job: payload (secrets redacted), attempts, error, timings, result.
    #[oai(
        path = "/queues/:queue/jobs/:id",
        method = "get",
        operation_id = "admin_job"
    )]
    async fn job(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        queue: Path<String>,
        id: Path<String>,
    ) -> poem::Result<JobResult> {
        queues::job(&state, &queue, &id).await
    }

    /// Run a failed or dead job again, with a fresh attempt budget.
    #[oai(
        path = "/queues/:queue/jobs/:id/retry",
        method = "post",
        operation_id = "admin_retry_job"
    )]
    async fn retry(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
        id: Path<String>,
    ) -> poem::Result<ActionResult> {
        actions::on_job(&state, &auth, &queue, &id, JobAction::Retry).await
    }

    /// Delete a job that is not running.
    #[oai(
        path = "/queues/:queue/jobs/:id",
        method = "delete",
        operation_id = "admin_discard_job"
    )]
    async fn discard(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
        id: Path<String>,
    ) -> poem::Result<ActionResult> {
        actions::on_job(&state, &auth, &queue, &id, JobAction::Discard).await
    }

    /// Replay the dead-letter set: the oldest `limit` jobs (default 100, at most 10,000).
    #[oai(
        path = "/queues/:queue/replay-dead",
        method = "post",
        operation_id = "admin_replay_dead"
    )]
    async fn replay_dead(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
        /// At most 10,000.
        #[oai(default = "default_replay")]
        limit: Query<Count<1, 10_000>>,
    ) -> poem::Result<ReplayResult> {
        actions::replay_dead(&state, &auth, &queue, limit.0.0).await
    }

    /// Stop workers from claiming this queue's jobs (running ones finish).
    #[oai(
        path = "/queues/:queue/pause",
        method = "post",
        operation_id = "admin_pause_queue"
    )]
    async fn pause(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
    ) -> poem::Result<ActionResult> {
        actions::set_paused(&state, &auth, &queue, true).await
    }

    /// Let workers claim this queue's jobs again.
    #[oai(
        path = "/queues/:queue/resume",
        method = "post",
        operation_id = "admin_resume_queue"
    )]
    async fn resume(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        queue: Path<String>,
    ) -> poem::Result<ActionResult> {
        actions::set_paused(&state, &auth, &queue, false).await
    }
}

fn default_limit() -> Count<1, 500> {
    Count(50)
}

fn default_minutes() -> Count<1, 120> {
    Count(60)
}

fn default_replay() -> Count<1, 10_000> {
    Count(100)
}
