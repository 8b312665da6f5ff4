//! What a done job leaves in Redis at the defaults: nothing but its id in the bounded done
//! index, unless its queue or its push keeps the result; waiters already waiting still learn
//! it finished, and the dashboard still lists it.

use std::time::Duration;

use apalis::prelude::{BoxDynError, WorkerBuilder, WorkerBuilderExt};
use jobs::{Job, JobState, PushOptions, QueueConfig, RedisBackend};
use serde::{Deserialize, Serialize};

use crate::support::{Behaviour, Env, TestJob, eventually, fast_config};

const QUEUE: &str = <TestJob as Job>::QUEUE;

/// `fast_config` with the production default: done jobs keep no result.
fn default_keeping() -> QueueConfig {
    QueueConfig {
        keep_results: false,
        ..fast_config()
    }
}

fn succeed(n: u64) -> TestJob {
    TestJob {
        n,
        behaviour: Behaviour::Succeed,
    }
}

async fn job_keys(env: &Env) -> Vec<String> {
    env.redis
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":job:"))
        .collect()
}

#[tokio::test]
async fn a_done_job_leaves_only_its_id_in_the_done_index() {
    let env = Env::new().await;
    let batch: Vec<TestJob> = (0..200).map(succeed).collect();
    let pushed = env
        .producer
        .push_bulk(&batch, PushOptions::default())
        .await
        .expect("push");
    // Waiters registered before the jobs run: every one is woken by the batched announcement
    // (one PUBLISH names every job of a settle call) and learns the job is done.
    let waits = pushed
        .iter()
        .take(20)
        .map(|p| env.producer.wait(QUEUE, p.id(), Duration::from_secs(10)));
    let waits = futures::future::join_all(waits);
    let worker = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        env.worker(default_keeping(), 64, Duration::from_secs(10))
    };
    let (statuses, worker) = tokio::join!(waits, worker);
    for (status, p) in statuses.into_iter().zip(&pushed) {
        let status = status.expect("wait").expect("woken as done");
        assert_eq!(status.state, JobState::Done, "{}", p.id());
        assert_eq!(status.result, None, "no result is kept");
    }
    eventually(Duration::from_secs(10), "all ran", async || {
        env.ledger.totals().0 == 200
    })
    .await;
    worker.stop().await;
    assert_eq!(env.ledger.totals(), (200, 200), "each ran once");
    let left = job_keys(&env).await;
    assert!(left.is_empty(), "done jobs left their hashes: {left:?}");
    // The dashboard still lists them as done, newest first, with when they finished.
    let listed = env
        .producer
        .list(QUEUE, Some(JobState::Done), 0, 500)
        .await
        .expect("list");
    assert_eq!(listed.len(), 200);
    assert!(listed.iter().all(|s| s.state == JobState::Done));
    assert!(listed.iter().all(|s| s.finished_at_ms.is_some()));
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].finished_at_ms >= w[1].finished_at_ms)
    );
    // A late status read, or a late waiter, learns it is done, without the result (never
    // kept), while its id is in the done index.
    let late = env
        .producer
        .status(QUEUE, pushed[0].id())
        .await
        .expect("status")
        .expect("listed in the done index");
    assert_eq!((late.state, late.result), (JobState::Done, None));
    assert!(late.finished_at_ms.is_some());
    let waited = env
        .producer
        .wait(QUEUE, pushed[199].id(), Duration::from_secs(1))
        .await
        .expect("wait")
        .expect("answers at once");
    assert_eq!(waited.state, JobState::Done);
}

#[tokio::test]
async fn a_push_can_ask_to_keep_its_result() {
    let env = Env::new().await;
    let kept = env
        .producer
        .push_with(&succeed(21), PushOptions::default().keep_result())
        .await
        .expect("push");
    let dropped = env.producer.push(&succeed(22)).await.expect("push");
    let worker = env.worker(default_keeping(), 4, Duration::from_secs(10));
    eventually(Duration::from_secs(10), "both ran", async || {
        env.ledger.totals().0 == 2
    })
    .await;
    worker.stop().await;
    let status = env
        .producer
        .wait(QUEUE, kept.id(), Duration::from_secs(1))
        .await
        .expect("wait")
        .expect("kept");
    assert_eq!(status.result, Some(serde_json::json!(42)));
    let gone = env
        .producer
        .status(QUEUE, dropped.id())
        .await
        .expect("status")
        .expect("done");
    assert_eq!(gone.result, None, "the other one's hash was deleted");
    assert_eq!(
        job_keys(&env).await,
        [env.producer.keys::<TestJob>().job(kept.id().as_str())]
    );
}

#[tokio::test]
async fn failed_jobs_keep_their_error_whatever_the_setting() {
    let env = Env::new().await;
    let pushed = env
        .producer
        .push(&TestJob {
            n: 5,
            behaviour: Behaviour::Abort,
        })
        .await
        .expect("push");
    let worker = env.worker(default_keeping(), 2, Duration::from_secs(10));
    let status = env.finished(&pushed, Duration::from_secs(10)).await;
    worker.stop().await;
    assert_eq!(status.state, JobState::Failed);
    let again = env
        .producer
        .status(QUEUE, pushed.id())
        .await
        .expect("status")
        .expect("a failed job stays for inspection and replay");
    assert!(again.error.is_some());
}

/// A job type whose results its queue keeps (like `exchange_oauth_code`, which the API waits
/// for).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Kept {
    n: u64,
}

impl Job for Kept {
    const QUEUE: &'static str = "kept_results";
    const KEEP_RESULT: bool = true;
}

async fn double(job: Kept) -> Result<u64, BoxDynError> {
    Ok(job.n * 2)
}

#[tokio::test]
async fn a_job_type_that_keeps_results_keeps_them_at_the_defaults() {
    let env = Env::new().await;
    let pushed = env.producer.push(&Kept { n: 8 }).await.expect("push");
    let worker = env.spawn_worker(|producer, stop| async move {
        let backend = RedisBackend::<Kept>::new(&producer, default_keeping(), 2);
        let worker = WorkerBuilder::new(jobs::redis::worker_name("kept").as_str())
            .backend(backend)
            .concurrency(2)
            .catch_panic()
            .build(double);
        let _ = worker
            .run_until(async move {
                stop.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .await;
    });
    let status = env
        .producer
        .wait(Kept::QUEUE, pushed.id(), Duration::from_secs(10))
        .await
        .expect("wait")
        .expect("done");
    worker.stop().await;
    assert_eq!(status.result, Some(serde_json::json!(16)));
    let later = env
        .producer
        .status(Kept::QUEUE, pushed.id())
        .await
        .expect("status")
        .expect("still there after the wait");
    assert_eq!(later.result, Some(serde_json::json!(16)));
}

/// The stream entries of the test queue, field by field.
async fn stream_entries(env: &Env) -> Vec<std::collections::HashMap<String, String>> {
    let mut conn = env.redis.connection().await;
    let entries: Vec<(String, std::collections::HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg(format!("{}:{{{QUEUE}}}:stream", env.redis.prefix))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE");
    entries.into_iter().map(|(_, f)| f).collect()
}

#[tokio::test]
async fn a_plain_push_is_one_stream_entry_and_its_status_is_read_from_it() {
    let env = Env::new().await;
    let job = TestJob {
        n: 7,
        behaviour: Behaviour::Work(1_500),
    };
    let pushed = env.producer.push(&job).await.expect("push");
    // Nothing but the entry: the payload, the attempt budget and the push time travel in it.
    assert!(job_keys(&env).await.is_empty(), "a plain push wrote a hash");
    let entries = stream_entries(&env).await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["id"], pushed.id().as_str());
    assert_eq!(
        serde_json::from_str::<TestJob>(&entry["a"]).expect("payload"),
        job
    );
    assert_eq!(entry["m"], TestJob::MAX_ATTEMPTS.to_string());
    // Its status, its listing and the dashboard's view all come from the entry.
    let waiting = env
        .producer
        .status(QUEUE, pushed.id())
        .await
        .expect("status")
        .expect("found in the stream");
    assert_eq!(waiting.state, JobState::Pending);
    assert_eq!(
        (waiting.attempts, waiting.max_attempts),
        (0, TestJob::MAX_ATTEMPTS)
    );
    assert_eq!(
        waiting.payload,
        Some(serde_json::to_value(&job).expect("json"))
    );
    assert!(waiting.enqueued_at_ms.is_some());
    let listed = env.producer.list(QUEUE, None, 0, 10).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].state, &listed[0].payload),
        (JobState::Pending, &waiting.payload)
    );
    // An id that is not in the stream is nowhere, whatever its time.
    let stranger = jobs::JobId::generate();
    assert_eq!(
        env.producer.status(QUEUE, &stranger).await.expect("status"),
        None
    );
    assert_eq!(
        env.producer
            .status(QUEUE, &jobs::JobId("not-a-uuid".into()))
            .await
            .expect("status"),
        None
    );

    let worker = env.worker(default_keeping(), 4, Duration::from_secs(10));
    eventually(Duration::from_secs(5), "the job started", async || {
        env.ledger.runs(7) == 1
    })
    .await;
    // Running: still no hash; the entry pending for the worker is its state.
    let running = env
        .producer
        .status(QUEUE, pushed.id())
        .await
        .expect("status")
        .expect("found in the stream");
    assert_eq!((running.state, running.attempts), (JobState::Running, 1));
    assert!(
        job_keys(&env).await.is_empty(),
        "a first delivery wrote a hash"
    );
    let listed = env
        .producer
        .list(QUEUE, Some(JobState::Running), 0, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, *pushed.id());
    let done = env.finished(&pushed, Duration::from_secs(10)).await;
    worker.stop().await;
    assert_eq!(done.state, JobState::Done);
    assert!(job_keys(&env).await.is_empty());
    assert_eq!(env.ledger.totals(), (1, 1));
}

#[tokio::test]
async fn a_discarded_job_without_a_hash_never_runs() {
    let env = Env::new().await;
    let pushed = env
        .producer
        .push_bulk(&[succeed(1), succeed(2)], PushOptions::default())
        .await
        .expect("push");
    assert!(
        env.producer
            .discard(QUEUE, pushed[0].id())
            .await
            .expect("discard")
    );
    assert_eq!(
        env.producer
            .status(QUEUE, pushed[0].id())
            .await
            .expect("status"),
        None,
        "a discarded job is gone"
    );
    let worker = env.worker(default_keeping(), 4, Duration::from_secs(10));
    env.finished(&pushed[1], Duration::from_secs(10)).await;
    // The discarded entry came first in the stream, so it was claimed (and skipped) first.
    worker.stop().await;
    assert_eq!(env.ledger.totals(), (1, 1), "only the job kept ran");
    assert_eq!(env.ledger.runs(1), 0);
    // Once workers have read the stream, a discard checks the entry is still undelivered.
    let later = env
        .producer
        .push_bulk(&[succeed(3), succeed(4)], PushOptions::default())
        .await
        .expect("push");
    assert!(
        env.producer
            .discard(QUEUE, later[0].id())
            .await
            .expect("discard")
    );
    let worker = env.worker(default_keeping(), 4, Duration::from_secs(10));
    env.finished(&later[1], Duration::from_secs(10)).await;
    worker.stop().await;
    assert_eq!(env.ledger.runs(3), 0, "the second discarded job never ran");
    assert_eq!(env.ledger.totals(), (2, 2));
    let leftovers: Vec<String> = env
        .redis
        .keys()
        .await
        .into_iter()
        .filter(|k| k.ends_with(":discarded"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the claim forgot the discard: {leftovers:?}"
    );
}

#[tokio::test]
async fn a_job_without_a_hash_that_fails_keeps_its_payload_for_the_retry_and_the_dead_letters() {
    let env = Env::new().await;
    let job = TestJob {
        n: 3,
        behaviour: Behaviour::FailTimes(10),
    };
    let pushed = env.producer.push(&job).await.expect("push");
    let worker = env.worker(default_keeping(), 2, Duration::from_secs(10));
    let dead = env.finished(&pushed, Duration::from_secs(10)).await;
    worker.stop().await;
    assert_eq!(dead.state, JobState::Dead);
    assert_eq!(env.ledger.runs(3), TestJob::MAX_ATTEMPTS as usize);
    assert_eq!(dead.attempts, TestJob::MAX_ATTEMPTS);
    assert_eq!(
        dead.payload,
        Some(serde_json::to_value(&job).expect("json"))
    );
    assert!(
        dead.error
            .as_deref()
            .is_some_and(|e| e.contains("planned failure"))
    );
}

#[tokio::test]
async fn with_jobs_out_of_entries_a_push_writes_the_hash_older_workers_read() {
    let env = Env::new().await;
    // `REDIS_JOBS_IN_ENTRIES=false`, for a rolling upgrade: the format of before.
    let producer = env.producer.clone().with_jobs_in_entries(false);
    let pushed = producer.push(&succeed(5)).await.expect("push");
    assert_eq!(job_keys(&env).await.len(), 1, "the job has its hash");
    let entries = stream_entries(&env).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].keys().collect::<Vec<_>>(),
        vec!["id"],
        "the entry names the job only"
    );
    let worker = env.worker(default_keeping(), 2, Duration::from_secs(10));
    let done = env.finished(&pushed, Duration::from_secs(10)).await;
    worker.stop().await;
    assert_eq!(done.state, JobState::Done);
    assert_eq!(env.ledger.totals(), (1, 1));
    assert!(job_keys(&env).await.is_empty());
}

#[tokio::test]
async fn the_status_of_a_job_deep_in_its_stream_is_found_page_by_page() {
    let env = Env::new().await;
    // 2,500 jobs pushed within the same moments: the last is on the third page of 1,000.
    let batch: Vec<TestJob> = (0..2_500).map(succeed).collect();
    let pushed = env
        .producer
        .push_bulk(&batch, PushOptions::default())
        .await
        .expect("push");
    for i in [0, 999, 1_000, 2_499] {
        let status = env
            .producer
            .status(QUEUE, pushed[i].id())
            .await
            .expect("status")
            .unwrap_or_else(|| panic!("job {i} not found"));
        assert_eq!(status.state, JobState::Pending, "job {i}");
        assert_eq!(
            status.payload,
            Some(serde_json::to_value(succeed(i as u64)).expect("json")),
            "job {i} is its own"
        );
    }
    assert!(job_keys(&env).await.is_empty(), "plain pushes wrote hashes");
}
