use std::time::Duration;

use jobs::{JobState, PushOptions, Pushed};

use crate::support::{Behaviour, Env, TestJob, fast_config};

const QUEUE: &str = <TestJob as jobs::Job>::QUEUE;

#[tokio::test]
async fn a_second_push_with_the_same_key_is_a_no_op_that_says_so() {
    let env = Env::new().await;
    let job = TestJob {
        n: 1,
        behaviour: Behaviour::Succeed,
    };
    let first = env
        .producer
        .push_with(&job, PushOptions::idempotent("welcome:42"))
        .await
        .expect("push");
    let second = env
        .producer
        .push_with(&job, PushOptions::idempotent("welcome:42"))
        .await
        .expect("push");
    assert!(matches!(first, Pushed::Enqueued(_)));
    assert_eq!(second, Pushed::Duplicate(first.id().clone()));
    assert_eq!(env.producer.depth(QUEUE).await.expect("depth").stream, 1);
    let other = env
        .producer
        .push_with(&job, PushOptions::idempotent("welcome:43"))
        .await
        .expect("push");
    assert!(!other.is_duplicate());
}

#[tokio::test]
async fn idempotency_keys_expire_with_their_ttl() {
    let env = Env::new().await;
    let job = TestJob {
        n: 1,
        behaviour: Behaviour::Succeed,
    };
    let options = PushOptions {
        idempotency_key: Some("k".into()),
        idempotency_ttl: Some(Duration::from_millis(200)),
        ..PushOptions::default()
    };
    let first = env
        .producer
        .push_with(&job, options.clone())
        .await
        .expect("push");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = env.producer.push_with(&job, options).await.expect("push");
    assert!(!second.is_duplicate());
    assert_ne!(first.id(), second.id());
}

#[tokio::test]
async fn bulk_push_returns_one_id_per_job_in_order_and_status_follows_the_job() {
    let env = Env::new().await;
    let batch: Vec<TestJob> = (0..5_000)
        .map(|n| TestJob {
            n,
            behaviour: Behaviour::Succeed,
        })
        .collect();
    let pushed = env
        .producer
        .push_bulk(&batch, PushOptions::default())
        .await
        .expect("push");
    assert_eq!(pushed.len(), 5_000);
    let status = env
        .producer
        .status(QUEUE, pushed[4_999].id())
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(status.state, JobState::Pending);
    assert_eq!(
        status.payload,
        Some(serde_json::json!({"n": 4_999, "behaviour": "Succeed"}))
    );
    assert_eq!(status.max_attempts, 3);
}

#[tokio::test]
async fn scheduled_jobs_wait_in_the_delayed_set() {
    let env = Env::new().await;
    let job = TestJob {
        n: 1,
        behaviour: Behaviour::Succeed,
    };
    let pushed = env
        .producer
        .push_with(&job, PushOptions::delay(Duration::from_secs(3600)))
        .await
        .expect("push");
    let status = env
        .producer
        .status(QUEUE, pushed.id())
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(status.state, JobState::Scheduled);
    let depth = env.producer.depth(QUEUE).await.expect("depth");
    assert_eq!((depth.stream, depth.delayed), (0, 1));
}

#[tokio::test]
async fn waiting_for_a_result_returns_when_it_is_stored() {
    let env = Env::new().await;
    let pushed = env
        .producer
        .push(&TestJob {
            n: 21,
            behaviour: Behaviour::Work(300),
        })
        .await
        .expect("push");
    // No worker yet: the wait times out with nothing.
    let none = env
        .producer
        .wait(QUEUE, pushed.id(), Duration::from_millis(200))
        .await
        .expect("wait");
    assert!(none.is_none());
    let worker = env.worker(fast_config(), 2, Duration::from_secs(10));
    let started = std::time::Instant::now();
    let status = env.finished(&pushed, Duration::from_secs(10)).await;
    worker.stop().await;
    assert_eq!(status.result, Some(serde_json::json!(42)));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "woken by the result, not a slow poll"
    );
    // Waiting on a finished job answers at once.
    let again = env
        .producer
        .wait(QUEUE, pushed.id(), Duration::from_millis(50))
        .await
        .expect("wait");
    assert_eq!(again.map(|s| s.state), Some(JobState::Done));
}

#[tokio::test]
async fn finished_jobs_expire_so_memory_stays_bounded() {
    let env = Env::new().await;
    let mut config = fast_config();
    config.result_ttl = Duration::from_millis(300);
    config.done_index_max = 10;
    let batch: Vec<TestJob> = (0..50)
        .map(|n| TestJob {
            n,
            behaviour: Behaviour::Succeed,
        })
        .collect();
    env.producer
        .push_bulk(&batch, PushOptions::default())
        .await
        .expect("push");
    let worker = env.worker(config, 8, Duration::from_secs(10));
    crate::support::eventually(Duration::from_secs(10), "all ran", async || {
        env.ledger.totals().0 == 50
    })
    .await;
    worker.stop().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let keys: Vec<String> = env
        .redis
        .keys()
        .into_iter()
        .filter(|k| k.contains(":job:"))
        .collect();
    assert!(keys.is_empty(), "job hashes outlived their TTL: {keys:?}");
    let mut conn = env.redis.connection().await;
    let done_index: u64 = redis::cmd("ZCARD")
        .arg(env.producer.keys::<TestJob>().done())
        .query_async(&mut conn)
        .await
        .expect("zcard");
    assert!(done_index <= 10, "done index is trimmed: {done_index}");
}
