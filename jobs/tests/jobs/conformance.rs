use std::time::Duration;

use jobs::{Job, JobState, PushOptions, QueueConfig, now_ms};

use crate::support::{Behaviour, Env, TestJob, eventually, fast_config};

fn jobs(range: std::ops::Range<u64>, behaviour: Behaviour) -> Vec<TestJob> {
    range.map(|n| TestJob { n, behaviour }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_100k_drains_completely() {
    let env = Env::new().await;
    let count = 100_000;
    let pushed = env
        .producer
        .push_bulk(&jobs(0..count, Behaviour::Succeed), PushOptions::default())
        .await
        .expect("push");
    assert_eq!(pushed.len() as u64, count);
    assert_eq!(
        env.producer
            .depth(TestJob_QUEUE)
            .await
            .expect("depth")
            .stream,
        count
    );
    let worker = env.worker(fast_config(), 256, Duration::from_secs(10));
    eventually(Duration::from_secs(240), "every job ran", async || {
        env.ledger.totals().0 as u64 == count
    })
    .await;
    worker.stop().await;
    let (distinct, total) = env.ledger.totals();
    assert_eq!(
        (distinct as u64, total as u64),
        (count, count),
        "each job ran exactly once"
    );
    let depth = env.producer.depth(TestJob_QUEUE).await.expect("depth");
    assert_eq!(
        depth.stream, 0,
        "acknowledged entries are deleted from the stream"
    );
}

#[allow(non_upper_case_globals)]
const TestJob_QUEUE: &str = <TestJob as Job>::QUEUE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_pushed_before_any_worker_run_once_across_three_workers() {
    let env = Env::new().await;
    let count = 10_000;
    env.producer
        .push_bulk(&jobs(0..count, Behaviour::Succeed), PushOptions::default())
        .await
        .expect("push");
    let workers = [
        env.worker(fast_config(), 32, Duration::from_secs(10)),
        env.worker(fast_config(), 32, Duration::from_secs(10)),
        env.worker(fast_config(), 32, Duration::from_secs(10)),
    ];
    eventually(Duration::from_secs(120), "every job ran", async || {
        env.ledger.totals().0 as u64 == count
    })
    .await;
    for w in workers {
        w.stop().await;
    }
    assert_eq!(
        env.ledger.totals(),
        (count as usize, count as usize),
        "no job ran twice"
    );
}

#[tokio::test]
async fn a_job_failing_twice_then_succeeding_runs_exactly_three_times() {
    let env = Env::new().await;
    let pushed = env
        .producer
        .push_with(
            &TestJob {
                n: 1,
                behaviour: Behaviour::FailTimes(2),
            },
            PushOptions::default().with_max_attempts(3),
        )
        .await
        .expect("push");
    let worker = env.worker(fast_config(), 4, Duration::from_secs(10));
    let status = env.finished(&pushed, Duration::from_secs(20)).await;
    worker.stop().await;
    assert_eq!(status.state, JobState::Done);
    assert_eq!(status.attempts, 3);
    assert_eq!(
        status.result,
        Some(serde_json::json!(2)),
        "the handler's result is stored"
    );
    assert_eq!(env.ledger.runs(1), 3);
    let starts = env.ledger.starts(1);
    assert!(
        starts[1] > starts[0] && starts[2] > starts[1],
        "retries come after backoff"
    );
}

/// Issue 15: a dependency down longer than a job's attempts would last (Postgres for 30 s) kills
/// no job: an attempt that failed with `jobs::Unavailable` runs again without counting. Five
/// such attempts of a job allowed two, plain and pushed to keep its result (with a hash from
/// its push), then it succeeds on what counts as its first attempt.
#[tokio::test]
async fn attempts_failing_because_a_dependency_is_down_do_not_count() {
    let env = Env::new().await;
    let job = |n| TestJob {
        n,
        behaviour: Behaviour::UnavailableTimes(5),
    };
    let plain = env
        .producer
        .push_with(&job(1), PushOptions::default().with_max_attempts(2))
        .await
        .expect("push");
    let kept = env
        .producer
        .push_with(
            &job(2),
            PushOptions::default().with_max_attempts(2).keep_result(),
        )
        .await
        .expect("push");
    let worker = env.worker(fast_config(), 4, Duration::from_secs(10));
    for (pushed, n) in [(&plain, 1), (&kept, 2)] {
        let status = env.finished(pushed, Duration::from_secs(30)).await;
        assert_eq!(status.state, JobState::Done, "{status:?}");
        assert_eq!(
            status.attempts, 1,
            "postponed attempts are given back: {status:?}"
        );
        assert_eq!(env.ledger.runs(n), 6);
    }
    worker.stop().await;
}

/// ...but not forever: an hour after a job's first postponement its failures count again, so
/// an error taken for an outage cannot keep a job alive for good. (The hour is set back by
/// hand here: the job's hash says it was first postponed two hours ago.)
#[tokio::test]
async fn a_job_postponed_for_an_hour_counts_its_failures_again() {
    let env = Env::new().await;
    let pushed = env
        .producer
        .push_with(
            &TestJob {
                n: 5,
                behaviour: Behaviour::UnavailableTimes(100),
            },
            PushOptions::default().with_max_attempts(2).keep_result(),
        )
        .await
        .expect("push");
    let job = env.producer.keys::<TestJob>().job(pushed.id().as_str());
    let _: () = redis::AsyncCommands::hset(
        &mut env.redis.connection().await,
        &job,
        "postponed_since",
        now_ms() - 2 * 3_600_000,
    )
    .await
    .expect("hset");
    let worker = env.worker(fast_config(), 4, Duration::from_secs(10));
    let status = env.finished(&pushed, Duration::from_secs(20)).await;
    worker.stop().await;
    assert_eq!(status.state, JobState::Dead, "{status:?}");
    assert_eq!(env.ledger.runs(5), 2, "two counted attempts, as allowed");
}

#[tokio::test]
async fn max_attempts_two_ends_dead_after_two_runs_and_can_be_replayed() {
    let env = Env::new().await;
    let job = TestJob {
        n: 7,
        behaviour: Behaviour::FailTimes(2),
    };
    let pushed = env
        .producer
        .push_with(&job, PushOptions::default().with_max_attempts(2))
        .await
        .expect("push");
    let worker = env.worker(fast_config(), 4, Duration::from_secs(10));
    let status = env.finished(&pushed, Duration::from_secs(20)).await;
    assert_eq!(status.state, JobState::Dead);
    assert_eq!(status.attempts, 2);
    assert!(
        status
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("planned failure 2 of 2"),
        "{status:?}"
    );
    assert_eq!(env.ledger.runs(7), 2, "no run beyond max_attempts");
    assert_eq!(
        env.producer.depth(TestJob_QUEUE).await.expect("depth").dead,
        1
    );

    // Replay from the dead-letter set: a fresh budget, and this time the third run succeeds.
    let replayed = env
        .producer
        .replay_dead(TestJob_QUEUE, &[], 10)
        .await
        .expect("replay");
    assert_eq!(replayed, vec![pushed.id().clone()]);
    eventually(
        Duration::from_secs(10),
        "the replayed job is done",
        async || {
            env.producer
                .status(TestJob_QUEUE, pushed.id())
                .await
                .ok()
                .flatten()
                .is_some_and(|s| s.state == JobState::Done)
        },
    )
    .await;
    worker.stop().await;
    assert_eq!(env.ledger.runs(7), 3);
    assert_eq!(
        env.producer.depth(TestJob_QUEUE).await.expect("depth").dead,
        0
    );
}

#[tokio::test]
async fn an_aborting_job_runs_once() {
    let env = Env::new().await;
    let pushed = env
        .producer
        .push(&TestJob {
            n: 3,
            behaviour: Behaviour::Abort,
        })
        .await
        .expect("push");
    let worker = env.worker(fast_config(), 4, Duration::from_secs(10));
    let status = env.finished(&pushed, Duration::from_secs(10)).await;
    // Give a wrongly scheduled retry the chance to happen before checking it did not.
    tokio::time::sleep(fast_config().backoff_max * 2).await;
    worker.stop().await;
    assert_eq!(status.state, JobState::Failed);
    assert!(
        status
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("can never work"),
        "{status:?}"
    );
    assert_eq!(env.ledger.runs(3), 1);
}

#[tokio::test]
async fn a_timed_out_attempt_is_retried() {
    let env = Env::new().await;
    let pushed = env
        .producer
        .push(&TestJob {
            n: 4,
            behaviour: Behaviour::HangFirst(5_000),
        })
        .await
        .expect("push");
    let worker = env.worker(fast_config(), 4, Duration::from_millis(300));
    let status = env.finished(&pushed, Duration::from_secs(10)).await;
    worker.stop().await;
    assert_eq!(status.state, JobState::Done, "{status:?}");
    assert_eq!(status.attempts, 2);
    assert_eq!(env.ledger.runs(4), 2);
}

#[tokio::test]
async fn delayed_jobs_never_run_early_and_run_within_a_second_of_due() {
    let env = Env::new().await;
    let worker = env.worker(fast_config(), 8, Duration::from_secs(10));
    let base = now_ms();
    let mut due = Vec::new();
    for (i, delay_ms) in [300u64, 800, 1_500, 2_200].into_iter().enumerate() {
        let at = base + delay_ms;
        env.producer
            .push_with(
                &TestJob {
                    n: i as u64,
                    behaviour: Behaviour::Succeed,
                },
                PushOptions::at(at),
            )
            .await
            .expect("push");
        due.push(at);
    }
    eventually(
        Duration::from_secs(10),
        "every delayed job ran",
        async || env.ledger.totals().0 == due.len(),
    )
    .await;
    worker.stop().await;
    for (i, at) in due.iter().enumerate() {
        let started = env.ledger.starts(i as u64)[0];
        assert!(started >= *at, "job {i} ran {} ms early", at - started);
        assert!(
            started - at <= 1_000,
            "job {i} ran {} ms late",
            started - at
        );
    }
}

#[tokio::test]
async fn a_dead_workers_jobs_are_taken_over_after_the_lease() {
    let env = Env::new().await;
    let count = 20;
    let pushed = env
        .producer
        .push_bulk(
            &jobs(0..count, Behaviour::Work(400)),
            PushOptions::default(),
        )
        .await
        .expect("push");
    let first = env.worker(fast_config(), 8, Duration::from_secs(10));
    eventually(
        Duration::from_secs(5),
        "the first worker started jobs",
        async || env.ledger.totals().0 > 0,
    )
    .await;
    first.crash().await;
    let aborted_at = now_ms();
    let second = env.worker(fast_config(), 8, Duration::from_secs(10));
    eventually(
        Duration::from_secs(15),
        "every job ran to completion",
        async || {
            let depth = env.producer.depth(TestJob_QUEUE).await.expect("depth");
            depth.stream == 0 && depth.delayed == 0
        },
    )
    .await;
    let took = now_ms() - aborted_at;
    second.stop().await;
    assert!(took <= 10_000, "take-over took {took} ms");
    let mut taken_over = 0;
    for (n, pushed) in (0..count).zip(&pushed) {
        let runs = env.ledger.runs(n);
        assert!(runs >= 1, "job {n} ran");
        // The jobs had no hash (plain pushes): a take-over still counts the dead worker's
        // claim as an attempt, whether it started the job or only held it for later.
        let status = env.finished(pushed, Duration::from_secs(1)).await;
        assert_eq!(status.state, JobState::Done, "job {n}");
        assert!(
            (runs..=2).contains(&(status.attempts as usize)),
            "job {n}: {} attempts for {runs} runs",
            status.attempts
        );
        taken_over += usize::from(status.attempts == 2);
    }
    assert!(taken_over > 0, "no job was taken over");
}

#[tokio::test]
async fn a_long_job_that_keeps_its_lease_is_never_stolen() {
    let env = Env::new().await;
    // Runs for three leases; heartbeats must keep it with its worker.
    let lease = fast_config().lease;
    let pushed = env
        .producer
        .push(&TestJob {
            n: 9,
            behaviour: Behaviour::Work(lease.as_millis() as u64 * 3),
        })
        .await
        .expect("push");
    let first = env.worker(fast_config(), 2, Duration::from_secs(30));
    let second = env.worker(fast_config(), 2, Duration::from_secs(30));
    let status = env.finished(&pushed, Duration::from_secs(20)).await;
    first.stop().await;
    second.stop().await;
    assert_eq!(status.state, JobState::Done);
    assert_eq!(
        env.ledger.runs(9),
        1,
        "the job was not stolen by the idle worker"
    );
}

#[tokio::test]
async fn graceful_stop_finishes_running_jobs_and_hands_back_the_rest() {
    let env = Env::new().await;
    let count = 40;
    env.producer
        .push_bulk(
            &jobs(0..count, Behaviour::Work(300)),
            PushOptions::default(),
        )
        .await
        .expect("push");
    let first = env.worker(fast_config(), 4, Duration::from_secs(10));
    eventually(Duration::from_secs(5), "jobs started", async || {
        env.ledger.totals().0 >= 4
    })
    .await;
    first.stop().await;
    let depth = env.producer.depth(TestJob_QUEUE).await.expect("depth");
    let (ran, _) = env.ledger.totals();
    assert_eq!(
        depth.stream as usize,
        count as usize - ran,
        "everything not finished is back in the queue, nothing lost"
    );
    let second = env.worker(fast_config(), 8, Duration::from_secs(10));
    eventually(Duration::from_secs(20), "the rest ran", async || {
        env.ledger.totals().0 == count as usize
    })
    .await;
    second.stop().await;
    assert_eq!(
        env.ledger.totals(),
        (count as usize, count as usize),
        "nothing ran twice"
    );
}

/// A pause holds even for a worker that was already waiting for jobs when it came: what its
/// blocked read brings after the pause goes back unrun, and runs once the queue resumes.
#[tokio::test]
async fn a_pause_stops_a_worker_already_waiting_for_jobs() {
    let env = Env::new().await;
    let config = QueueConfig {
        // A long blocking read, so the pause lands inside it.
        idle_wait: Duration::from_secs(3),
        ..fast_config()
    };
    let worker = env.worker(config, 2, Duration::from_secs(10));
    let keys = jobs::redis::QueueKeys::new(&env.redis.prefix, TestJob::QUEUE);
    let mut conn = env.redis.connection().await;
    // A first job, run: the fetcher that handed it over went straight back to a blocking
    // read, before the job ran and long before it was recorded done.
    let first = env
        .producer
        .push(&TestJob {
            n: 1,
            behaviour: Behaviour::Succeed,
        })
        .await
        .expect("push");
    env.finished(&first, Duration::from_secs(20)).await;
    env.producer.pause(TestJob::QUEUE).await.expect("pause");
    let pushed = env
        .producer
        .push(&TestJob {
            n: 7,
            behaviour: Behaviour::Succeed,
        })
        .await
        .expect("push");
    // The blocked read returns the job; the worker hands it back: the group delivered it,
    // and nobody holds it.
    eventually(
        Duration::from_secs(10),
        "the job was never read and handed back",
        async || {
            let delivered: Vec<(String, redis::Value)> = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(keys.stream())
                .query_async::<Vec<std::collections::HashMap<String, redis::Value>>>(&mut conn)
                .await
                .unwrap_or_default()
                .into_iter()
                .flat_map(|g| g.into_iter().collect::<Vec<_>>())
                .filter(|(k, _)| k == "entries-read" || k == "pending")
                .collect();
            let number = |name: &str| {
                delivered
                    .iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| redis::from_redis_value_ref::<u64>(v).ok())
            };
            number("entries-read").is_some_and(|n| n >= 2) && number("pending") == Some(0)
        },
    )
    .await;
    assert_eq!(
        env.ledger.runs(7),
        0,
        "nothing runs while the queue is paused"
    );
    env.producer.resume(TestJob::QUEUE).await.expect("resume");
    let status = env.finished(&pushed, Duration::from_secs(20)).await;
    worker.stop().await;
    assert_eq!(status.state, JobState::Done);
    assert_eq!(env.ledger.runs(7), 1);
}
