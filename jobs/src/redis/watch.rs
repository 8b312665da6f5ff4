//! apalis' `WaitForCompletion` on the backend: a stream of each awaited job's result once it
//! is final, woken by the queue's results channel (a subscription of its own per call; only
//! admin tooling uses it; the producer's waiters share one, see [`super::results`]).

use std::collections::{HashSet, VecDeque};

use apalis_core::backend::{TaskResult, WaitForCompletion};
use apalis_core::task::task_id::TaskId;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::de::DeserializeOwned;

use super::backend::RedisBackend;
use super::connect::{Announcements, Conn, Heard, RedisClient, Subscriptions};
use super::error::QueueError;
use super::keys::QueueKeys;
use super::status::{apalis_status, status, task_id};
use crate::job::{Job, JobId, JobState, JobStatus};

fn task_result<O: DeserializeOwned>(status: &JobStatus) -> Result<TaskResult<O>, QueueError> {
    let result = match (status.state, &status.result) {
        (JobState::Done, Some(value)) => Ok(serde_json::from_value(value.clone())?),
        (JobState::Done, None) => Ok(serde_json::from_value(serde_json::Value::Null)?),
        (state, _) => Err(status
            .error
            .clone()
            .unwrap_or_else(|| state.as_str().to_owned())),
    };
    Ok(TaskResult {
        task_id: task_id(&status.id)?,
        attempt: status.attempts as usize,
        status: apalis_status(status.state),
        result,
    })
}

async fn job_status(
    conn: &mut Conn,
    keys: &QueueKeys,
    id: &str,
) -> Result<Option<JobStatus>, QueueError> {
    status(conn, keys, &JobId(id.to_owned())).await
}

impl<J: Job, O: DeserializeOwned + Send + 'static> WaitForCompletion<O> for RedisBackend<J> {
    type ResultStream = BoxStream<'static, Result<TaskResult<O>, QueueError>>;

    /// Yields each job's result once it is final (done, failed or dead), woken by the worker's
    /// announcement on the queue's results channel.
    fn wait_for(&mut self, task_ids: impl IntoIterator<Item = TaskId>) -> Self::ResultStream {
        let state = Wait::Start(Box::new(WaitStart {
            client: self.client(),
            conn: self.connection(),
            keys: self.keys().clone(),
            waiting: task_ids.into_iter().map(|id| id.to_string()).collect(),
        }));
        futures::stream::unfold(state, |state| async move {
            let mut watch = match state {
                Wait::Finished => return None,
                Wait::Watching(watch) => watch,
                Wait::Start(start) => {
                    match Watch::start(start.client, start.conn, start.keys, start.waiting).await {
                        Ok(watch) => watch,
                        Err(e) => return Some((Err(e), Wait::Finished)),
                    }
                }
            };
            match watch.next().await {
                Ok(Some(status)) => Some((task_result::<O>(&status), Wait::Watching(watch))),
                Ok(None) => None,
                Err(e) => Some((Err(e), Wait::Finished)),
            }
        })
        .boxed()
    }

    fn check_status(
        &mut self,
        task_ids: impl IntoIterator<Item = TaskId> + Send,
    ) -> impl Future<Output = Result<Vec<TaskResult<O>>, QueueError>> + Send {
        let ids: Vec<String> = task_ids.into_iter().map(|id| id.to_string()).collect();
        let mut conn = self.connection();
        let keys = self.keys().clone();
        async move {
            let mut results = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(s) = job_status(&mut conn, &keys, &id).await? {
                    results.push(task_result(&s)?);
                }
            }
            Ok(results)
        }
    }
}

/// The state of a [`WaitForCompletion::wait_for`] stream.
enum Wait {
    Start(Box<WaitStart>),
    Watching(Box<Watch>),
    Finished,
}

struct WaitStart {
    client: RedisClient,
    conn: Conn,
    keys: QueueKeys,
    waiting: HashSet<String>,
}

/// Jobs still awaited, and the subscription that announces finished ones.
pub(crate) struct Watch {
    messages: Announcements,
    /// Where to subscribe again after a gap (on a cluster, it is also the connection).
    subscriptions: Subscriptions,
    conn: Conn,
    keys: QueueKeys,
    waiting: HashSet<String>,
    ready: VecDeque<JobStatus>,
}

impl Watch {
    /// Subscribes first, then looks up the jobs once: a result stored in between is seen.
    pub(crate) async fn start(
        client: RedisClient,
        mut conn: Conn,
        keys: QueueKeys,
        mut waiting: HashSet<String>,
    ) -> Result<Box<Self>, QueueError> {
        let (mut subscriptions, messages) = client.subscriber().await?;
        subscriptions.subscribe(&[keys.results()]).await?;
        let mut ready = VecDeque::new();
        for id in waiting.clone() {
            if let Some(s) = job_status(&mut conn, &keys, &id).await?
                && s.state.is_terminal()
            {
                waiting.remove(&id);
                ready.push_back(s);
            }
        }
        Ok(Box::new(Watch {
            messages,
            subscriptions,
            conn,
            keys,
            waiting,
            ready,
        }))
    }

    /// The next finished job, `None` when all were reported.
    pub(crate) async fn next(&mut self) -> Result<Option<JobStatus>, QueueError> {
        loop {
            if let Some(s) = self.ready.pop_front() {
                return Ok(Some(s));
            }
            if self.waiting.is_empty() {
                return Ok(None);
            }
            let ids = match self.messages.next().await {
                None => {
                    return Err(QueueError::Protocol(
                        "the result subscription closed".into(),
                    ));
                }
                Some(Heard::Message { payload, .. }) => payload,
                // Announcements may have been missed: look at every job still awaited (one
                // not found is not taken as done: it was not announced).
                Some(Heard::Gap) => {
                    self.subscriptions.subscribe(&[self.keys.results()]).await?;
                    for id in self.waiting.clone() {
                        if let Some(s) = job_status(&mut self.conn, &self.keys, &id).await?
                            && s.state.is_terminal()
                        {
                            self.waiting.remove(&id);
                            self.ready.push_back(s);
                        }
                    }
                    continue;
                }
            };
            // One announcement names every job a settle call finished; a done job of a queue
            // that keeps no results has no hash left, and is reported done without a result.
            for id in ids.split(' ') {
                if !self.waiting.contains(id) {
                    continue;
                }
                let found = match job_status(&mut self.conn, &self.keys, id).await? {
                    None => Some(JobStatus::done_without_result(
                        &self.keys.queue,
                        &JobId(id.to_owned()),
                    )),
                    found => found,
                };
                if let Some(s) = found
                    && s.state.is_terminal()
                {
                    self.waiting.remove(id);
                    self.ready.push_back(s);
                }
            }
        }
    }
}
