//! What a dashboard reads: apalis-core's listing, lookup and metrics traits on the backend
//! (apalis-board uses them), computed from the queue's stream, sets and job hashes, and
//! [`QueueView`], the backend that only looks. The counters are in `stats.rs`, waiting for
//! results (`WaitForCompletion`) in `watch.rs`.

use std::collections::HashMap;

use apalis_core::backend::{
    FetchById, Filter, ListAllTasks, ListQueues, ListTasks, ListWorkers, Metrics, QueueInfo,
    RunningWorker, StatType, Statistic,
};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;

use super::connect::Conn;

use super::backend::RedisBackend;
use super::config::QueueConfig;
use super::contents::{ids_with_status, queue_names};
use super::error::QueueError;
use super::keys::QueueKeys;
use super::producer::Producer;
use super::stats::{queue_stats, workers_of};
use super::status::{Located, apalis_status, locate, parse_status, task_id};
use crate::job::{Job, JobId};

/// The job type of a backend that only looks at a queue (listings, metrics, lookups by id,
/// as apalis-board does): it has no values, so nothing can be pushed as one, and a
/// [`QueueView`] is never given to a worker. Payloads come out through the codec as whatever
/// the caller decodes them to (e.g. `serde_json::Value`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Inspection {}

impl Job for Inspection {
    const QUEUE: &'static str = "";
}

/// A backend for looking at any queue by name, whatever its job type.
pub type QueueView = RedisBackend<Inspection>;

impl QueueView {
    pub fn view(producer: &Producer, queue: &str) -> Self {
        Self::with_queue(producer, queue, QueueConfig::default(), 1)
    }
}

/// The job as an apalis task (payload bytes and its context), for listings: from `inline`
/// (a listed job without a hash), its hash, or its stream entry.
async fn task_of(
    conn: &mut Conn,
    keys: &QueueKeys,
    id: &str,
    inline: Option<HashMap<String, Vec<u8>>>,
) -> Result<Option<Task<Vec<u8>>>, QueueError> {
    // A hash, when there is one, says more than the entry (a job taken over has both).
    let (hash, done): (HashMap<String, Vec<u8>>, Option<f64>) = redis::pipe()
        .hgetall(keys.job(id))
        .zscore(keys.done(), id)
        .query_async(conn)
        .await?;
    let fields = if !hash.is_empty() {
        hash
    } else if let Some(fields) = inline {
        fields
    } else if done.is_some() {
        // Done, and its queue keeps nothing of it: no task to show.
        return Ok(None);
    } else {
        match locate(conn, keys, &JobId(id.to_owned())).await? {
            Located::Waiting(fields) | Located::Running(fields) => fields,
            Located::Delivered | Located::Nowhere => return Ok(None),
        }
    };
    let Some(args) = fields.get("args").cloned() else {
        return Ok(None);
    };
    // The worker that claimed the job last.
    let worker = fields
        .get("worker")
        .and_then(|w| String::from_utf8(w.clone()).ok())
        .filter(|w| !w.is_empty());
    let Some(status) = parse_status(&keys.queue, id, fields) else {
        return Ok(None);
    };
    let secs = |ms: Option<u64>| ms.map(|v| v / 1000);
    let mut builder = TaskBuilder::new(args)
        .task_id(task_id(&status.id)?)
        .attempt(status.attempts as usize)
        .max_attempts(status.max_attempts as usize)
        .status(apalis_status(status.state))
        .queue(keys.queue.as_str().into())
        .done_at(secs(status.finished_at_ms).filter(|_| status.state.is_terminal()))
        .lock_at(secs(status.started_at_ms))
        .lock_by(worker);
    if let Some(run_at) = secs(status.run_at_ms) {
        builder = builder.run_at_timestamp(run_at);
    }
    Ok(Some(builder.build()))
}

async fn list(
    conn: &mut Conn,
    keys: &QueueKeys,
    filter: &Filter,
) -> Result<Vec<Task<Vec<u8>>>, QueueError> {
    let ids = ids_with_status(
        conn,
        keys,
        filter.status.as_ref(),
        filter.offset() as usize,
        filter.limit() as usize,
    )
    .await?;
    let mut tasks = Vec::with_capacity(ids.len());
    for listed in ids {
        if let Some(task) = task_of(conn, keys, &listed.id, listed.inline).await? {
            tasks.push(task);
        }
    }
    Ok(tasks)
}

impl<J: Job> FetchById for RedisBackend<J> {
    fn fetch_by_id(
        &mut self,
        task_id: &TaskId,
    ) -> impl Future<Output = Result<Option<Task<Vec<u8>>>, QueueError>> + Send {
        let mut conn = self.connection();
        let keys = self.keys().clone();
        let id = task_id.to_string();
        async move { task_of(&mut conn, &keys, &id, None).await }
    }
}

impl<J: Job> ListQueues for RedisBackend<J> {
    fn list_queues(&self) -> impl Future<Output = Result<Vec<QueueInfo>, QueueError>> + Send {
        let mut conn = self.connection();
        let prefix = self.keys().prefix.clone();
        async move {
            let mut queues = Vec::new();
            for name in queue_names(&mut conn, &prefix).await? {
                let keys = QueueKeys::new(&prefix, &name);
                let (stats, activity) = queue_stats(&mut conn, &keys).await?;
                let workers = workers_of(&mut conn, &keys)
                    .await?
                    .into_iter()
                    .map(|w| w.id)
                    .collect();
                queues.push(QueueInfo {
                    name,
                    stats,
                    workers,
                    activity,
                });
            }
            Ok(queues)
        }
    }
}

impl<J: Job> ListWorkers for RedisBackend<J> {
    fn list_workers(&self) -> impl Future<Output = Result<Vec<RunningWorker>, QueueError>> + Send {
        let mut conn = self.connection();
        let keys = self.keys().clone();
        async move { workers_of(&mut conn, &keys).await }
    }

    fn list_all_workers(
        &self,
    ) -> impl Future<Output = Result<Vec<RunningWorker>, QueueError>> + Send {
        let mut conn = self.connection();
        let prefix = self.keys().prefix.clone();
        async move {
            let mut all = Vec::new();
            for name in queue_names(&mut conn, &prefix).await? {
                all.extend(workers_of(&mut conn, &QueueKeys::new(&prefix, &name)).await?);
            }
            Ok(all)
        }
    }
}

impl<J: Job> ListTasks for RedisBackend<J> {
    fn list_tasks(
        &self,
        filter: &Filter,
    ) -> impl Future<Output = Result<Vec<Task<Vec<u8>>>, QueueError>> + Send {
        let mut conn = self.connection();
        let keys = self.keys().clone();
        let filter = filter.clone();
        async move { list(&mut conn, &keys, &filter).await }
    }
}

impl<J: Job> ListAllTasks for RedisBackend<J> {
    fn list_all_tasks(
        &self,
        filter: &Filter,
    ) -> impl Future<Output = Result<Vec<Task<Vec<u8>>>, QueueError>> + Send {
        let mut conn = self.connection();
        let prefix = self.keys().prefix.clone();
        let filter = filter.clone();
        async move {
            // Each queue's first `offset + limit`, then one page of the union.
            let wide = Filter {
                status: filter.status.clone(),
                page: 1,
                page_size: Some(filter.offset() + filter.limit()),
            };
            let mut all = Vec::new();
            for name in queue_names(&mut conn, &prefix).await? {
                all.extend(list(&mut conn, &QueueKeys::new(&prefix, &name), &wide).await?);
            }
            all.sort_by_key(|t| std::cmp::Reverse(t.task_id().map(ToString::to_string)));
            Ok(all
                .into_iter()
                .skip(filter.offset() as usize)
                .take(filter.limit() as usize)
                .collect())
        }
    }
}

impl<J: Job> Metrics for RedisBackend<J> {
    fn global(&self) -> impl Future<Output = Result<Vec<Statistic>, QueueError>> + Send {
        let mut conn = self.connection();
        let prefix = self.keys().prefix.clone();
        async move {
            let mut totals: Vec<Statistic> = Vec::new();
            for name in queue_names(&mut conn, &prefix).await? {
                let (stats, _) = queue_stats(&mut conn, &QueueKeys::new(&prefix, &name)).await?;
                if totals.is_empty() {
                    totals = stats;
                    continue;
                }
                for (total, s) in totals.iter_mut().zip(stats) {
                    if total.stat_type == StatType::Number {
                        let sum = total.value.parse::<u64>().unwrap_or(0)
                            + s.value.parse::<u64>().unwrap_or(0);
                        total.value = sum.to_string();
                    }
                }
            }
            // Rates do not add up across queues; leave the numbers.
            totals.retain(|s| s.stat_type == StatType::Number);
            Ok(totals)
        }
    }

    fn fetch_by_queue(&self) -> impl Future<Output = Result<Vec<Statistic>, QueueError>> + Send {
        let mut conn = self.connection();
        let keys = self.keys().clone();
        async move { Ok(queue_stats(&mut conn, &keys).await?.0) }
    }
}
