//! Acknowledgement: the layer the backend puts around every handler (outermost, so it sees the
//! final outcome after timeouts and panics). It opens the job's tracing span and records the
//! outcome of the attempt in one script call:
//! - success → `done`, result stored (JSON) for the result TTL;
//! - `AbortError` (permanent failure) → `failed`, into the dead-letter set, no retry;
//! - any other error or a timeout, attempts left → `retrying` after exponential backoff with
//!   jitter (or the delay of a `RetryAfterError`);
//! - any other error, no attempts left → `dead`, into the dead-letter set.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::error::{AbortError, BoxDynError, RetryAfterError};
use apalis_core::task::Task;
use apalis_core::task::status::Status;
use futures::future::BoxFuture;
use serde::Serialize;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use super::backend::{Lease, Shared};
use super::{GROUP, QueueError, scripts};
use crate::now_ms;

/// Wraps every handler of a queue; built by the backend (`BackendConfig::middleware`).
#[derive(Debug, Clone)]
pub struct AckLayer {
    shared: Arc<Shared>,
}

impl AckLayer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for AckLayer {
    type Service = AckService<S>;

    fn layer(&self, inner: S) -> AckService<S> {
        AckService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AckService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, Args, Res> Service<Task<Args>> for AckService<S>
where
    S: Service<Task<Args>, Response = Res>,
    S::Future: Send + 'static,
    S::Error: Into<BoxDynError>,
    Res: Serialize + Send + Sync + 'static,
{
    type Response = Res;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<Res, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let ctx = task.ctx().clone();
        let lease = task.data().get::<Lease>().cloned();
        let span = tracing::info_span!(
            "job",
            queue = %self.shared.keys.queue,
            job_id = lease.as_ref().map_or("", |l| l.job_id.as_str()),
            attempt = lease.as_ref().map_or(0, |l| l.attempt),
        );
        let future = {
            let _entered = span.enter();
            self.inner.call(task)
        };
        let shared = self.shared.clone();
        Box::pin(
            async move {
                let result = future.await.map_err(Into::into);
                if let Some(lease) = lease {
                    let killed = ctx.status() == Status::Killed;
                    settle(&shared, &lease, killed, &result).await;
                }
                result
            }
            .instrument(span),
        )
    }
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done { result: String },
    Retry { error: String, at_ms: u64 },
    Failed { error: String },
    Dead { error: String },
}

pub(crate) fn outcome<R: Serialize>(
    shared: &Shared,
    lease: &Lease,
    killed: bool,
    result: &Result<R, BoxDynError>,
) -> Outcome {
    match result {
        Ok(value) => Outcome::Done {
            result: serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()),
        },
        Err(e) => {
            let error = error_chain(e.as_ref());
            if killed || find::<AbortError>(e.as_ref()).is_some() {
                Outcome::Failed { error }
            } else if lease.attempt >= lease.max_attempts {
                Outcome::Dead { error }
            } else {
                let delay = find::<RetryAfterError>(e.as_ref())
                    .map(RetryAfterError::get_duration)
                    .unwrap_or_else(|| shared.config.backoff(lease.attempt));
                Outcome::Retry {
                    error,
                    at_ms: now_ms() + delay.as_millis() as u64,
                }
            }
        }
    }
}

/// Records the outcome, retrying while Redis is unreachable. If it never gets through, the
/// job stays leased to this worker and is taken over (and run again) once the lease expires:
/// at least once, never lost.
async fn settle<R: Serialize + Sync>(
    shared: &Shared,
    lease: &Lease,
    killed: bool,
    result: &Result<R, BoxDynError>,
) {
    let outcome = outcome(shared, lease, killed, result);
    match &outcome {
        Outcome::Done { .. } => tracing::debug!("job done"),
        Outcome::Retry { error, at_ms } => {
            tracing::warn!(error = %error, retry_in_ms = at_ms.saturating_sub(now_ms()), "attempt failed; will retry")
        }
        Outcome::Failed { error } => {
            tracing::error!(error = %error, "job aborted; moved to the dead-letter set")
        }
        Outcome::Dead { error } => {
            tracing::error!(error = %error, attempts = lease.attempt, "last attempt failed; moved to the dead-letter set")
        }
    }
    let mut delay = Duration::from_millis(50);
    for _ in 0..8 {
        match record(shared, lease, &outcome).await {
            Ok(-1) => {
                tracing::warn!(
                    "another worker took this job over (lease expired); its attempt decides"
                );
                return;
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record the job's outcome yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    tracing::error!(
        "gave up recording the outcome; the job will run again after its lease expires"
    );
}

async fn record(shared: &Shared, lease: &Lease, outcome: &Outcome) -> Result<i64, QueueError> {
    let (kind, value, at) = match outcome {
        Outcome::Done { result } => ("done", result.as_str(), 0),
        Outcome::Retry { error, at_ms } => ("retry", error.as_str(), *at_ms),
        Outcome::Failed { error } => ("failed", error.as_str(), 0),
        Outcome::Dead { error } => ("dead", error.as_str(), 0),
    };
    let ttl = match outcome {
        Outcome::Failed { .. } | Outcome::Dead { .. } => shared.config.dead_ttl,
        _ => shared.config.result_ttl,
    };
    let mut conn = shared.conn.clone();
    Ok(scripts::SETTLE
        .key(&shared.keys.base)
        .arg(now_ms())
        .arg(GROUP)
        .arg(&lease.entry)
        .arg(lease.job_id.as_str())
        .arg(kind)
        .arg(value)
        .arg(at)
        .arg(ttl.as_millis() as u64)
        .arg(shared.config.done_index_max)
        .invoke_async(&mut conn)
        .await?)
}

/// The first error of type `T` in the chain (handlers often wrap an `AbortError`).
fn find<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// `outer: cause: root`, skipping causes their parent already quotes.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        current = err.source();
    }
    out
}
