//! What a dashboard reads: apalis-core's listing, metrics and result traits on the backend
//! (apalis-board uses them), computed from the queue's stream, sets and job hashes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::str::FromStr;

use apalis_core::backend::{
    FetchById, Filter, ListAllTasks, ListQueues, ListTasks, ListWorkers, Metrics, QueueInfo,
    RunningWorker, StatType, Statistic, TaskResult, WaitForCompletion,
};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::status::Status;
use apalis_core::task::task_id::TaskId;
use futures::StreamExt;
use futures::stream::BoxStream;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::de::DeserializeOwned;

use super::{GROUP, QueueError, QueueKeys, RedisBackend};
use crate::{Job, JobId, JobState, JobStatus, now_ms};

/// The backend name workers report.
const BACKEND_NAME: &str = "concierge-redis-streams";

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
    pub fn view(producer: &super::Producer, queue: &str) -> Self {
        Self::with_queue(producer, queue, super::QueueConfig::default(), 1)
    }
}

/// apalis' coarser status of a job state.
pub fn apalis_status(state: JobState) -> Status {
    match state {
        JobState::Pending => Status::Queued,
        JobState::Scheduled | JobState::Retrying => Status::Pending,
        JobState::Running => Status::Running,
        JobState::Done => Status::Done,
        JobState::Failed => Status::Killed,
        JobState::Dead => Status::Failed,
    }
}

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

fn task_id(id: &JobId) -> Result<TaskId, QueueError> {
    TaskId::from_str(id.as_str()).map_err(|e| QueueError::Protocol(format!("job id {id}: {e}")))
}

async fn job_status(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    id: &str,
) -> Result<Option<JobStatus>, QueueError> {
    super::producer::status(conn, keys, &JobId(id.to_owned())).await
}

/// The job as an apalis task (payload bytes and its context), for listings.
async fn task_of(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    id: &str,
) -> Result<Option<Task<Vec<u8>>>, QueueError> {
    let fields: HashMap<String, Vec<u8>> = conn.hgetall(keys.job(id)).await?;
    let Some(args) = fields.get("args").cloned() else {
        return Ok(None);
    };
    // The worker that claimed the job last.
    let worker = fields
        .get("worker")
        .and_then(|w| String::from_utf8(w.clone()).ok())
        .filter(|w| !w.is_empty());
    let Some(status) = super::parse_status(&keys.queue, id, fields) else {
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

/// Ids of jobs in a queue with the given apalis status, newest first where that means
/// anything, paginated.
pub(crate) async fn ids_with_status(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    status: Option<&Status>,
    offset: usize,
    limit: usize,
) -> Result<Vec<String>, QueueError> {
    let stop = (offset + limit).saturating_sub(1) as isize;
    let from_set =
        async |conn: &mut ConnectionManager, key: String| -> Result<Vec<String>, QueueError> {
            Ok(conn.zrevrange(key, offset as isize, stop).await?)
        };
    match status {
        Some(Status::Done) => from_set(conn, keys.done()).await,
        Some(Status::Failed | Status::Killed) => from_set(conn, keys.dead()).await,
        Some(Status::Pending) => from_set(conn, keys.delayed()).await,
        Some(Status::Running) => {
            let held: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
                .arg(keys.stream())
                .arg(GROUP)
                .arg("-")
                .arg("+")
                .arg(offset + limit)
                .query_async(conn)
                .await?;
            let entries: Vec<String> = held.into_iter().skip(offset).map(|(e, ..)| e).collect();
            stream_ids(conn, keys, &entries).await
        }
        Some(Status::Queued) | None => {
            // Entries up to the last delivered one are held or acknowledged (not yet trimmed).
            let start = match super::group_info(conn, keys).await? {
                Some(g) => format!("({}", g.last_delivered),
                None => "-".to_owned(),
            };
            let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
                .arg(keys.stream())
                .arg(start)
                .arg("+")
                .arg("COUNT")
                .arg(offset + limit)
                .query_async(conn)
                .await?;
            Ok(entries
                .into_iter()
                .skip(offset)
                .filter_map(|(_, f)| f.get("id").cloned())
                .collect())
        }
        Some(_) => Ok(Vec::new()),
    }
}

async fn stream_ids(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    entries: &[String],
) -> Result<Vec<String>, QueueError> {
    let mut ids = Vec::new();
    for entry in entries {
        let found: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(keys.stream())
            .arg(entry)
            .arg(entry)
            .query_async(conn)
            .await?;
        ids.extend(found.into_iter().filter_map(|(_, f)| f.get("id").cloned()));
    }
    Ok(ids)
}

async fn list(
    conn: &mut ConnectionManager,
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
    for id in ids {
        if let Some(task) = task_of(conn, keys, &id).await? {
            tasks.push(task);
        }
    }
    Ok(tasks)
}

fn stat(title: &str, stat_type: StatType, value: impl ToString, priority: u64) -> Statistic {
    Statistic {
        title: title.to_owned(),
        stat_type,
        value: value.to_string(),
        priority: Some(priority),
    }
}

/// Counters of one queue: what is waiting, running, finished, and its last days. Only titles
/// apalis-board knows (it labels any other "TOTAL_JOBS"); `PENDING_JOBS` counts scheduled
/// jobs and retries too, as apalis' `Pending` status does.
async fn queue_stats(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
) -> Result<(Vec<Statistic>, Vec<usize>), QueueError> {
    let (delayed, dead, done): (u64, u64, u64) = redis::pipe()
        .zcard(keys.delayed())
        .zcard(keys.dead())
        .zcard(keys.done())
        .query_async(conn)
        .await?;
    let (pending, running) = super::stream_jobs(conn, keys).await?;
    let length = pending + running;
    let today = now_ms() / 86_400_000;
    let mut activity = Vec::with_capacity(7);
    let (mut done_7d, mut failed_7d, mut dead_7d, mut last_24h) = (0u64, 0u64, 0u64, 0u64);
    for days_ago in (0..7).rev() {
        let counts: HashMap<String, u64> = conn
            .hgetall(format!("{}:daily:{}", keys.base, today - days_ago))
            .await?;
        let d = counts.get("done").copied().unwrap_or(0);
        let f = counts.get("failed").copied().unwrap_or(0);
        let x = counts.get("dead").copied().unwrap_or(0);
        done_7d += d;
        failed_7d += f;
        dead_7d += x;
        if days_ago <= 1 {
            last_24h += d + f + x;
        }
        activity.push((d + f + x) as usize);
    }
    let finished = done_7d + failed_7d + dead_7d;
    let rate = |n: u64| {
        if finished == 0 {
            0.0
        } else {
            n as f64 * 100.0 / finished as f64
        }
    };
    let stats = vec![
        stat("RUNNING_JOBS", StatType::Number, running, 1),
        stat("PENDING_JOBS", StatType::Number, pending + delayed, 2),
        stat("FAILED_JOBS", StatType::Number, dead, 3),
        stat("DONE_JOBS", StatType::Number, done, 4),
        stat(
            "TOTAL_JOBS",
            StatType::Number,
            length + delayed + dead + done,
            5,
        ),
        stat("KILLED_JOBS", StatType::Number, failed_7d, 6),
        stat(
            "SUCCESS_RATE",
            StatType::Percentage,
            format!("{:.2}", rate(done_7d)),
            7,
        ),
        stat(
            "FAILURE_RATE",
            StatType::Percentage,
            format!("{:.2}", rate(failed_7d + dead_7d)),
            8,
        ),
        stat("JOBS_PAST_24_HOURS", StatType::Number, last_24h, 9),
        stat(
            "FAILED_JOBS_PAST_7_DAYS",
            StatType::Number,
            failed_7d + dead_7d,
            10,
        ),
    ];
    Ok((stats, activity))
}

async fn workers_of(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
) -> Result<Vec<RunningWorker>, QueueError> {
    let live: Vec<(String, u64)> = conn.zrange_withscores(keys.workers(), 0, -1).await?;
    let mut workers = Vec::with_capacity(live.len());
    for (name, last_heartbeat) in live {
        let info: HashMap<String, String> = conn.hgetall(keys.worker(&name)).await?;
        if info.is_empty() {
            // Registration expired: the worker is gone, the registry not yet cleaned.
            continue;
        }
        let started = info
            .get("started_at")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        workers.push(RunningWorker {
            id: name,
            queue: keys.queue.clone(),
            backend: BACKEND_NAME.to_owned(),
            started_at: started / 1000,
            last_heartbeat: last_heartbeat / 1000,
            layers: format!(
                "host={} pid={} concurrency={}",
                info.get("host").map_or("?", String::as_str),
                info.get("pid").map_or("?", String::as_str),
                info.get("concurrency").map_or("?", String::as_str)
            ),
        });
    }
    Ok(workers)
}

pub(crate) async fn queue_names(
    conn: &mut ConnectionManager,
    prefix: &str,
) -> Result<Vec<String>, QueueError> {
    let mut names: Vec<String> = conn.smembers(QueueKeys::registry(prefix)).await?;
    names.sort();
    Ok(names)
}

impl<J: Job> FetchById for RedisBackend<J> {
    fn fetch_by_id(
        &mut self,
        task_id: &TaskId,
    ) -> impl Future<Output = Result<Option<Task<Vec<u8>>>, QueueError>> + Send {
        let mut conn = self.connection();
        let keys = self.keys().clone();
        let id = task_id.to_string();
        async move { task_of(&mut conn, &keys, &id).await }
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
    client: redis::Client,
    conn: ConnectionManager,
    keys: QueueKeys,
    waiting: HashSet<String>,
}

/// Jobs still awaited, and the subscription that announces finished ones.
pub(crate) struct Watch {
    messages: redis::aio::PubSubStream,
    conn: ConnectionManager,
    keys: QueueKeys,
    waiting: HashSet<String>,
    ready: VecDeque<JobStatus>,
}

impl Watch {
    /// Subscribes first, then looks up the jobs once: a result stored in between is seen.
    pub(crate) async fn start(
        client: redis::Client,
        mut conn: ConnectionManager,
        keys: QueueKeys,
        mut waiting: HashSet<String>,
    ) -> Result<Box<Self>, QueueError> {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(keys.results()).await?;
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
            messages: pubsub.into_on_message(),
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
            let Some(message) = self.messages.next().await else {
                return Err(QueueError::Protocol(
                    "the result subscription closed".into(),
                ));
            };
            let Ok(id) = message.get_payload::<String>() else {
                continue;
            };
            if self.waiting.contains(&id)
                && let Some(s) = job_status(&mut self.conn, &self.keys, &id).await?
                && s.state.is_terminal()
            {
                self.waiting.remove(&id);
                self.ready.push_back(s);
            }
        }
    }
}
