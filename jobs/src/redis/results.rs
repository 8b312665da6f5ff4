//! Waiting for job results, for every waiter of a process on one Redis connection.
//!
//! A request that needs a job's outcome (an OAuth exchange) waits for the worker's
//! announcement on the queue's results channel. Giving each waiter its own subscription would
//! let anonymous callers open one Redis connection each, up to Redis's client limit, which
//! takes the workers and the bot down with it. Instead one [`ResultHub`] per producer holds
//! one pub/sub connection, subscribed once per queue, and wakes the waiters of each announced
//! job; a bounded number of waiters may wait at once (beyond it, [`QueueError::Busy`]: the
//! caller answers with the job id to poll).
//!
//! A waiter always re-reads the job's state after it subscribed and after each wake-up, so an
//! announcement missed while the connection was being re-established (every waiter is woken
//! when it comes back) or sent before the subscription costs nothing but a re-read.
//!
//! One announcement names every job a settle call finished, separated by spaces. A done job
//! whose queue keeps no results has no hash left to re-read: the status read finds it in the
//! done index (done, without a result), and a waiter that saw its id announced takes it as
//! done even once the index has dropped it. A job somebody waits for the result of belongs in
//! a queue that keeps results ([`crate::Job::KEEP_RESULT`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::connect::{Conn, Heard, RESUBSCRIBE_EVERY, RedisClient, Subscriptions};
use super::error::QueueError;
use super::keys::QueueKeys;
use super::status::recorded_status;
use crate::job::{JobId, JobStatus};

/// Waiters one process keeps at once unless configured otherwise.
pub const DEFAULT_MAX_WAITERS: usize = 10_000;

/// The shared subscription of one producer (and its clones).
pub(crate) struct ResultHub {
    client: RedisClient,
    max_waiters: usize,
    /// The live connection's sink; `None` while (re)connecting.
    sink: watch::Sender<Option<Subscriptions>>,
    state: Mutex<HubState>,
    next_waiter: AtomicU64,
    started: std::sync::Once,
}

/// One waiting request: its id (to leave the list) and how to wake it.
type Waiter = (u64, Arc<Wake>);

/// How a waiter is woken, and whether it was its job's announcement that woke it (not a
/// reconnect).
#[derive(Default)]
struct Wake {
    notify: Notify,
    announced: AtomicBool,
}

#[derive(Default)]
struct HubState {
    /// Channels any waiter asked for: subscribed again on every new connection.
    wanted: HashSet<String>,
    /// Channels subscribed on the current connection.
    channels: HashSet<String>,
    /// Who waits for which job: (channel, job id) → waiters.
    waiters: HashMap<(String, String), Vec<Waiter>>,
    count: usize,
}

impl std::fmt::Debug for ResultHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultHub")
            .field("max_waiters", &self.max_waiters)
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}

/// Removes its waiter from the hub when the wait ends, however it ends.
struct Registration<'a> {
    hub: &'a ResultHub,
    key: (String, String),
    id: u64,
    wake: Arc<Wake>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        if let Some(list) = state.waiters.get_mut(&self.key) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                state.waiters.remove(&self.key);
            }
        }
        state.count = state.count.saturating_sub(1);
    }
}

impl ResultHub {
    pub(crate) fn new(client: RedisClient, max_waiters: usize) -> Arc<Self> {
        Arc::new(Self {
            client,
            max_waiters: max_waiters.max(1),
            sink: watch::channel(None).0,
            state: Mutex::default(),
            next_waiter: AtomicU64::new(1),
            started: std::sync::Once::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every channel a waiter asked for: what a (new) connection subscribes to.
    fn wanted(&self) -> Vec<String> {
        self.lock().wanted.iter().cloned().collect()
    }

    /// Waiters waiting now.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().count
    }

    /// Waits until job `id` of the queue of `keys` is final (done, failed, dead) and returns
    /// its status, or `None` after `timeout`. [`QueueError::Busy`] when the process already
    /// has its maximum of waiters.
    pub(crate) async fn wait(
        self: &Arc<Self>,
        conn: Conn,
        keys: &QueueKeys,
        id: &JobId,
        timeout: Duration,
    ) -> Result<Option<JobStatus>, QueueError> {
        let registration = self.register(keys.results(), id)?;
        self.start();
        let deadline = tokio::time::Instant::now() + timeout;
        let waited = tokio::time::timeout_at(deadline, async {
            self.subscribe(&registration.key.0).await?;
            let mut conn = conn;
            loop {
                // Armed before the read: a wake-up between the read and the wait is kept.
                let notified = registration.wake.notify.notified();
                // Read before the status: an announcement seen now was published after the
                // outcome was written, so the read below sees it. (One arriving while the read
                // is on its way proves nothing about what the read saw: a job without a hash
                // reads as nothing until it is done.)
                let announced = registration.wake.announced.load(Ordering::Acquire);
                match recorded_status(&mut conn, keys, id).await? {
                    Some(status) if status.state.is_terminal() => return Ok(Some(status)),
                    // Announced, and its hash is gone: done in a queue that keeps no results.
                    None if announced => {
                        return Ok(Some(JobStatus::done_without_result(&keys.queue, id)));
                    }
                    _ => {}
                }
                notified.await;
            }
        })
        .await;
        match waited {
            Ok(result) => result,
            Err(_) => Ok(None),
        }
    }

    fn register(&self, channel: String, id: &JobId) -> Result<Registration<'_>, QueueError> {
        let wake = Arc::new(Wake::default());
        let waiter = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        let key = (channel, id.as_str().to_owned());
        let mut state = self.lock();
        if state.count >= self.max_waiters {
            return Err(QueueError::Busy);
        }
        state.count += 1;
        state
            .waiters
            .entry(key.clone())
            .or_default()
            .push((waiter, wake.clone()));
        Ok(Registration {
            hub: self,
            key,
            id: waiter,
            wake,
        })
    }

    /// Subscribes the shared connection to `channel` once; waits for the connection when it
    /// is being (re)established.
    async fn subscribe(&self, channel: &str) -> Result<(), QueueError> {
        let mut sinks = self.sink.subscribe();
        self.lock().wanted.insert(channel.to_owned());
        loop {
            if self.lock().channels.contains(channel) {
                return Ok(());
            }
            let sink = sinks.borrow_and_update().clone();
            if let Some(mut sink) = sink {
                match sink.subscribe(&[channel.to_owned()]).await {
                    Ok(()) => {
                        self.lock().channels.insert(channel.to_owned());
                        return Ok(());
                    }
                    // The connection just broke: on one node the next one comes through
                    // `sinks`; a cluster connection stays and finds the slot's new node, so
                    // try it again after a pause.
                    Err(e) => tracing::debug!(error = %e, "result subscription failed; retrying"),
                }
            }
            tokio::select! {
                changed = sinks.changed() => if changed.is_err() {
                    return Err(QueueError::Protocol("the result hub stopped".into()));
                },
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// Starts the task holding the connection, once.
    fn start(self: &Arc<Self>) {
        self.started.call_once(|| {
            let hub = Arc::downgrade(self);
            tokio::spawn(run(hub));
        });
    }

    /// Wakes the waiters of the announced jobs (ids separated by spaces).
    fn announce(&self, channel: &str, ids: &str) {
        let state = self.lock();
        if state.waiters.is_empty() {
            return;
        }
        let mut key = (channel.to_owned(), String::new());
        for id in ids.split(' ') {
            id.clone_into(&mut key.1);
            if let Some(list) = state.waiters.get(&key) {
                for (_, wake) in list {
                    wake.announced.store(true, Ordering::Release);
                    wake.notify.notify_one();
                }
            }
        }
    }

    /// Wakes every waiter: after a reconnect, announcements may have been missed.
    fn wake_all(&self) {
        let state = self.lock();
        for (_, wake) in state.waiters.values().flatten() {
            wake.notify.notify_one();
        }
    }
}

/// Subscribes every wanted channel again after a gap, retrying with a growing pause until it
/// succeeds, then wakes every waiter; `false` once the hub is gone.
async fn resubscribe(hub: &Weak<ResultHub>, sink: &mut Subscriptions) -> bool {
    let mut pause = Duration::from_millis(50);
    loop {
        let Some(strong) = hub.upgrade() else {
            return false;
        };
        let wanted = strong.wanted();
        drop(strong);
        match sink.subscribe(&wanted).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to job results again; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
    let Some(strong) = hub.upgrade() else {
        return false;
    };
    strong.wake_all();
    true
}

/// Holds the connection while the hub lives: connects, resubscribes, wakes everyone, reads
/// announcements; reconnects with a growing pause when the connection ends.
async fn run(hub: Weak<ResultHub>) {
    let mut pause = Duration::from_millis(50);
    loop {
        let Some(strong) = hub.upgrade() else { return };
        let client = strong.client.clone();
        drop(strong);
        let (mut sink, mut messages) = match client.subscriber().await {
            Ok(connected) => connected,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the job result subscription; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        {
            let Some(strong) = hub.upgrade() else { return };
            let channels = strong.wanted();
            if !channels.is_empty()
                && let Err(e) = sink.subscribe(&channels).await
            {
                drop(strong);
                tracing::warn!(error = %e, "cannot subscribe to job results; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
            strong.lock().channels.extend(channels);
            strong.sink.send_replace(Some(sink.clone()));
            strong.wake_all();
        }
        pause = Duration::from_millis(50);
        let mut renewed = tokio::time::Instant::now();
        loop {
            let next = tokio::time::timeout(Duration::from_secs(1), messages.next()).await;
            let Some(strong) = hub.upgrade() else { return };
            match next {
                // Nothing announced for a second: check the hub is still wanted, and now and
                // then subscribe again to every channel (a cluster connection may have lost
                // one to a node that left for good; it is a no-op where it did not).
                Err(_) => {
                    if client.is_cluster() && renewed.elapsed() >= RESUBSCRIBE_EVERY {
                        renewed = tokio::time::Instant::now();
                        let wanted = strong.wanted();
                        drop(strong);
                        if let Err(e) = sink.subscribe(&wanted).await {
                            tracing::debug!(error = %e, "renewing the result subscriptions failed");
                        }
                    }
                }
                Ok(Some(Heard::Message { channel, payload })) => {
                    strong.announce(&channel, &payload);
                }
                // A node dropped the subscription (or a slot moved away from it): subscribe
                // every channel again, then everyone reads again what was missed meanwhile.
                Ok(Some(Heard::Gap)) => {
                    drop(strong);
                    if !resubscribe(&hub, &mut sink).await {
                        return;
                    }
                    renewed = tokio::time::Instant::now();
                }
                Ok(None) => {
                    tracing::warn!("the job result subscription closed; reconnecting");
                    strong.sink.send_replace(None);
                    strong.lock().channels.clear();
                    break;
                }
            }
        }
    }
}
