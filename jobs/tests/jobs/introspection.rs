use std::time::Duration;

use apalis::prelude::{
    Filter, ListAllTasks, ListQueues, ListTasks, ListWorkers, Metrics, Status, TaskId,
    WaitForCompletion,
};
use apalis_core::backend::FetchById;
use futures::StreamExt;
use jobs::{PushOptions, RedisBackend};

use crate::support::{Behaviour, Env, TestJob, eventually, fast_config};

fn stat(stats: &[apalis::prelude::Statistic], title: &str) -> String {
    stats
        .iter()
        .find(|s| s.title == title)
        .map(|s| s.value.clone())
        .unwrap_or_else(|| panic!("no {title} in {stats:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_sees_queues_workers_tasks_and_counts() {
    let env = Env::new().await;
    let mut backend = RedisBackend::<TestJob>::new(&env.producer, fast_config(), 4);
    let batch = vec![
        TestJob {
            n: 1,
            behaviour: Behaviour::Succeed,
        },
        TestJob {
            n: 2,
            behaviour: Behaviour::Abort,
        },
        TestJob {
            n: 3,
            behaviour: Behaviour::Work(3_000),
        },
    ];
    let pushed = env
        .producer
        .push_bulk(&batch, PushOptions::default())
        .await
        .expect("push");
    env.producer
        .push_with(
            &TestJob {
                n: 4,
                behaviour: Behaviour::Succeed,
            },
            PushOptions::delay(Duration::from_secs(600)),
        )
        .await
        .expect("push");
    let worker = env.worker(fast_config(), 4, Duration::from_secs(10));
    eventually(Duration::from_secs(10), "all three started", async || {
        env.ledger.totals().0 == 3
    })
    .await;
    eventually(Duration::from_secs(5), "two finished", async || {
        let stats = backend.fetch_by_queue().await.expect("stats");
        stat(&stats, "DONE_JOBS") == "1" && stat(&stats, "FAILED_JOBS") == "1"
    })
    .await;

    let stats = backend.fetch_by_queue().await.expect("stats");
    assert_eq!(stat(&stats, "RUNNING_JOBS"), "1", "{stats:?}");
    assert_eq!(stat(&stats, "PENDING_JOBS"), "1", "the delayed job");
    assert_eq!(
        stat(&stats, "KILLED_JOBS"),
        "1",
        "the abort counts as killed"
    );
    let global = backend.global().await.expect("global");
    assert_eq!(stat(&global, "RUNNING_JOBS"), "1");

    let queues = backend.list_queues().await.expect("queues");
    let ours = queues
        .iter()
        .find(|q| q.name == "conformance")
        .expect("our queue is listed");
    assert_eq!(ours.workers.len(), 1, "{ours:?}");
    assert_eq!(ours.activity.len(), 7);
    assert_eq!(ours.activity[6], 2, "today: one done, one failed");

    let workers = backend.list_workers().await.expect("workers");
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].queue, "conformance");
    assert!(
        workers[0].layers.contains("concurrency=4"),
        "{:?}",
        workers[0]
    );
    assert_eq!(
        backend.list_all_workers().await.expect("all workers").len(),
        1
    );

    let page = |status: Option<Status>| Filter {
        status,
        page: 1,
        page_size: Some(10),
    };
    let done = backend
        .list_tasks(&page(Some(Status::Done)))
        .await
        .expect("done");
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0].task_id().map(ToString::to_string).as_deref(),
        Some(pushed[0].id().as_str())
    );
    let decoded: TestJob = serde_json::from_slice(&done[0].args).expect("payload");
    assert_eq!(decoded.n, 1);
    assert_eq!(
        backend
            .list_tasks(&page(Some(Status::Killed)))
            .await
            .expect("dead")
            .len(),
        1
    );
    assert_eq!(
        backend
            .list_tasks(&page(Some(Status::Running)))
            .await
            .expect("running")
            .len(),
        1
    );
    assert_eq!(
        backend
            .list_tasks(&page(Some(Status::Pending)))
            .await
            .expect("delayed")
            .len(),
        1
    );
    assert_eq!(
        backend
            .list_all_tasks(&page(Some(Status::Done)))
            .await
            .expect("all")
            .len(),
        1
    );

    let id: TaskId = pushed[2].id().as_str().parse().expect("id");
    let fetched = backend
        .fetch_by_id(&id)
        .await
        .expect("fetch")
        .expect("exists");
    assert_eq!(fetched.status(), Status::Running);

    worker.stop().await;
}

#[tokio::test]
async fn wait_for_yields_each_final_result_once() {
    let env = Env::new().await;
    let mut backend = RedisBackend::<TestJob>::new(&env.producer, fast_config(), 4);
    let batch = vec![
        TestJob {
            n: 10,
            behaviour: Behaviour::Succeed,
        },
        TestJob {
            n: 11,
            behaviour: Behaviour::FailTimes(1),
        },
        TestJob {
            n: 12,
            behaviour: Behaviour::Abort,
        },
    ];
    let pushed = env
        .producer
        .push_bulk(&batch, PushOptions::default())
        .await
        .expect("push");
    let ids: Vec<TaskId> = pushed
        .iter()
        .map(|p| p.id().as_str().parse().expect("id"))
        .collect();
    let worker = env.worker(fast_config(), 4, Duration::from_secs(10));
    let stream = WaitForCompletion::<u64>::wait_for(&mut backend, ids.clone());
    let results: Vec<_> = tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .expect("all three finish");
    worker.stop().await;
    assert_eq!(results.len(), 3);
    let by_id = |i: usize| {
        results
            .iter()
            .map(|r| r.as_ref().expect("no error"))
            .find(|r| r.task_id.to_string() == ids[i].to_string())
            .expect("reported")
    };
    assert_eq!(by_id(0).result, Ok(20));
    assert_eq!(
        (by_id(1).result.clone(), by_id(1).attempt),
        (Ok(22), 2),
        "reported after the retry, not the failure"
    );
    assert_eq!(by_id(2).status, Status::Killed);
    let checked = WaitForCompletion::<u64>::check_status(&mut backend, ids)
        .await
        .expect("check");
    assert_eq!(checked.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_told_apart_from_scheduled_pushes() {
    let env = Env::new().await;
    let queue = <TestJob as jobs::Job>::QUEUE;
    let later = env
        .producer
        .push_with(
            &TestJob {
                n: 1,
                behaviour: Behaviour::Succeed,
            },
            PushOptions::delay(Duration::from_secs(600)),
        )
        .await
        .expect("push");
    let failing = env
        .producer
        .push(&TestJob {
            n: 2,
            behaviour: Behaviour::FailTimes(1),
        })
        .await
        .expect("push");
    // A backoff long enough that the retry is still waiting when we look.
    let slow_retries = jobs::QueueConfig {
        backoff_base: Duration::from_secs(600),
        backoff_max: Duration::from_secs(600),
        ..fast_config()
    };
    let worker = env.worker(slow_retries, 2, Duration::from_secs(10));
    eventually(
        Duration::from_secs(10),
        "the failed attempt waits",
        async || env.producer.depth(queue).await.expect("depth").retrying == 1,
    )
    .await;
    worker.stop().await;
    let depth = env.producer.depth(queue).await.expect("depth");
    assert_eq!((depth.delayed, depth.retrying), (2, 1));
    let ids = |list: Vec<jobs::JobStatus>| list.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let retrying = env
        .producer
        .list(queue, Some(jobs::JobState::Retrying), 0, 10)
        .await
        .expect("list");
    assert_eq!(ids(retrying.clone()), [failing.id().clone()]);
    assert_eq!(retrying[0].state, jobs::JobState::Retrying);
    let scheduled = env
        .producer
        .list(queue, Some(jobs::JobState::Scheduled), 0, 10)
        .await
        .expect("list");
    assert_eq!(ids(scheduled), [later.id().clone()]);
    assert!(
        env.producer
            .list(queue, Some(jobs::JobState::Scheduled), 1, 10)
            .await
            .expect("list")
            .is_empty(),
        "offsets count scheduled jobs only"
    );

    // Discarded, a retry leaves both sets.
    assert!(
        env.producer
            .discard(queue, failing.id())
            .await
            .expect("discard")
    );
    let depth = env.producer.depth(queue).await.expect("depth");
    assert_eq!((depth.delayed, depth.retrying), (1, 0));

    // Promoted when due, a retry leaves the retrying set too.
    let again = env
        .producer
        .push(&TestJob {
            n: 3,
            behaviour: Behaviour::FailTimes(1),
        })
        .await
        .expect("push");
    let worker = env.worker(fast_config(), 2, Duration::from_secs(10));
    let done = env.finished(&again, Duration::from_secs(10)).await;
    worker.stop().await;
    assert_eq!((done.state, done.attempts), (jobs::JobState::Done, 2));
    let depth = env.producer.depth(queue).await.expect("depth");
    assert_eq!((depth.delayed, depth.retrying), (1, 0));
}
