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
        .await
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
    // Trimmed back to 10 whenever it is an eighth over.
    assert!(
        done_index <= 10 + 10 / 8,
        "done index is trimmed: {done_index}"
    );
}

/// A producer of `env`'s prefix connected through a proxy that counts its connections.
async fn through_proxy(env: &Env) -> (testkit::TcpProxy, jobs::Producer) {
    let upstream = testkit::redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = testkit::TcpProxy::start(&upstream).await;
    let client = redis::Client::open(format!("redis://{}", proxy.addr)).expect("client");
    let producer = jobs::Producer::connect(client, &env.redis.prefix)
        .await
        .expect("producer");
    (proxy, producer)
}

/// Issue 11, finding 2: every waiter used to open a pub/sub connection of its own, so 10,000
/// anonymous `/api/login` requests reached Redis's client limit. Now every waiter of a
/// producer shares one subscription: 500 waits cost two connections (the producer's and the
/// subscription), and each is woken for its own job. Fails on d37e806 (502 connections).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_share_one_subscription_and_each_wakes_for_its_own_job() {
    let env = Env::new().await;
    if env.redis.is_cluster() {
        // Counted through a proxy to one node; a cluster's nodes are found by discovery.
        eprintln!("one node only: the connections are counted through a proxy to it");
        return;
    }
    let (proxy, producer) = through_proxy(&env).await;
    let producer = producer.with_max_waiters(1_000);
    let jobs: Vec<TestJob> = (0..500)
        .map(|n| TestJob {
            n,
            behaviour: Behaviour::Succeed,
        })
        .collect();
    let pushed = producer
        .push_bulk(&jobs, PushOptions::default())
        .await
        .expect("push");
    let waits: Vec<_> = pushed
        .iter()
        .map(|p| {
            let producer = producer.clone();
            let id = p.id().clone();
            tokio::spawn(async move { producer.wait(QUEUE, &id, Duration::from_secs(30)).await })
        })
        .collect();
    crate::support::eventually(Duration::from_secs(10), "all 500 waiting", async || {
        producer.waiting() == 500
    })
    .await;
    assert!(
        proxy.connections() <= 2,
        "{} connections for 500 waiters",
        proxy.connections()
    );
    // Workers (on connections of their own) finish the jobs: every waiter gets its own.
    let worker = env.worker(fast_config(), 32, Duration::from_secs(10));
    for (wait, p) in waits.into_iter().zip(&pushed) {
        let status = wait
            .await
            .expect("joined")
            .expect("wait")
            .unwrap_or_else(|| panic!("job {} not announced", p.id()));
        assert_eq!(&status.id, p.id());
        assert_eq!(status.state, JobState::Done);
    }
    worker.stop().await;
    assert_eq!(producer.waiting(), 0, "finished waits leave the hub");
    assert!(proxy.connections() <= 2, "{}", proxy.connections());
}

/// Beyond its maximum of waiters a producer refuses at once (the API then answers with the
/// job id to poll) instead of holding one more request open.
#[tokio::test]
async fn a_full_hub_refuses_more_waiters_at_once() {
    let env = Env::new().await;
    let producer = env.producer.clone().with_max_waiters(2);
    let pushed = producer
        .push(&TestJob {
            n: 1,
            behaviour: Behaviour::Succeed,
        })
        .await
        .expect("push");
    let id = pushed.id().clone();
    let holders: Vec<_> = (0..2)
        .map(|_| {
            let (producer, id) = (producer.clone(), id.clone());
            tokio::spawn(async move { producer.wait(QUEUE, &id, Duration::from_secs(5)).await })
        })
        .collect();
    crate::support::eventually(Duration::from_secs(5), "two waiting", async || {
        producer.waiting() == 2
    })
    .await;
    let started = std::time::Instant::now();
    let third = producer.wait(QUEUE, &id, Duration::from_secs(5)).await;
    assert!(matches!(third, Err(jobs::QueueError::Busy)), "{third:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused at once"
    );
    let worker = env.worker(fast_config(), 2, Duration::from_secs(10));
    for h in holders {
        let status = h.await.expect("joined").expect("wait").expect("finished");
        assert_eq!(status.state, JobState::Done);
    }
    worker.stop().await;
}

/// The shared subscription is re-established when Redis drops it, and no announcement made
/// meanwhile is missed (every waiter re-reads its job after the reconnect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscription_comes_back_and_waiters_still_wake() {
    let env = Env::new().await;
    if env.redis.is_cluster() {
        return a_dropped_sharded_subscription_comes_back_and_waiters_still_wake(&env).await;
    }
    let (proxy, producer) = through_proxy(&env).await;
    let pushed = producer
        .push(&TestJob {
            n: 7,
            behaviour: Behaviour::Succeed,
        })
        .await
        .expect("push");
    let wait = {
        let (producer, id) = (producer.clone(), pushed.id().clone());
        tokio::spawn(async move { producer.wait(QUEUE, &id, Duration::from_secs(30)).await })
    };
    crate::support::eventually(Duration::from_secs(5), "subscribed", async || {
        proxy.connections() == 2
    })
    .await;
    // Kill the subscription's connection at the server, as a failover or a restart would.
    // Its connection is open before its SUBSCRIBE has run: wait until Redis lists it.
    let mut admin = env.redis.connection().await;
    let ours: Vec<String> = proxy
        .upstream_addresses()
        .iter()
        .map(|a| a.to_string())
        .collect();
    let mut subscriber = None;
    crate::support::eventually(
        Duration::from_secs(5),
        "our subscription is listed",
        async || {
            let clients: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut admin)
                .await
                .expect("client list");
            subscriber = clients
                .lines()
                .find(|line| {
                    line.contains(" sub=1 ")
                        && line
                            .split_whitespace()
                            .any(|f| ours.iter().any(|a| f == format!("addr={a}")))
                })
                .and_then(|line| line.split_whitespace().find_map(|f| f.strip_prefix("id=")))
                .map(str::to_owned);
            subscriber.is_some()
        },
    )
    .await;
    let subscriber = subscriber.expect("found");
    let _: () = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(&subscriber)
        .query_async(&mut admin)
        .await
        .expect("kill");
    let worker = env.worker(fast_config(), 2, Duration::from_secs(10));
    let status = wait
        .await
        .expect("joined")
        .expect("wait")
        .expect("announced after the reconnect");
    assert_eq!(status.state, JobState::Done);
    worker.stop().await;
    assert!(proxy.connections() >= 3, "the subscription reconnected");
}

/// On a cluster: the sharded subscription's node drops every subscriber (as a failover does
/// to the old master's); the cluster connection subscribes again by itself, and the waiter
/// is still woken by the job finishing meanwhile.
async fn a_dropped_sharded_subscription_comes_back_and_waiters_still_wake(env: &Env) {
    let producer = env.producer.clone();
    let channel = producer.keys::<TestJob>().results();
    let pushed = producer
        .push(&TestJob {
            n: 7,
            behaviour: Behaviour::Succeed,
        })
        .await
        .expect("push");
    let wait = {
        let (producer, id) = (producer.clone(), pushed.id().clone());
        tokio::spawn(async move { producer.wait(QUEUE, &id, Duration::from_secs(30)).await })
    };
    let mut conn = env.redis.connection().await;
    let subscribers = async |conn: &mut jobs::redis::Conn| -> u64 {
        let reply: std::collections::HashMap<String, u64> = conn
            .on_node_of(
                &channel,
                redis::cmd("PUBSUB").arg("SHARDNUMSUB").arg(&channel),
            )
            .await
            .expect("shardnumsub");
        reply.get(&channel).copied().unwrap_or(0)
    };
    crate::support::eventually(Duration::from_secs(5), "subscribed", async || {
        subscribers(&mut conn).await >= 1
    })
    .await;
    // The node serving the channel's slot drops its pub/sub clients (other tests' too: they
    // come back the same way).
    let killed: u64 = conn
        .on_node_of(
            &channel,
            redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"),
        )
        .await
        .expect("kill");
    assert!(killed >= 1, "a subscriber was dropped");
    let worker = env.worker(fast_config(), 2, Duration::from_secs(10));
    let status = wait
        .await
        .expect("joined")
        .expect("wait")
        .expect("announced after the reconnect");
    assert_eq!(status.state, JobState::Done);
    worker.stop().await;
    crate::support::eventually(Duration::from_secs(10), "subscribed again", async || {
        subscribers(&mut conn).await >= 1
    })
    .await;
}

/// Concurrent single pushes share script calls, and each caller still gets its own job: its
/// own id, payload, trace and options, and its own answer to an idempotency key.
#[tokio::test]
async fn concurrent_single_pushes_share_calls_and_each_gets_its_own_job() {
    let env = Env::new().await;
    let before = env.producer.single_push_calls();
    let mut callers = Vec::new();
    for n in 0..64u64 {
        let producer = env.producer.clone();
        let trace = jobs::trace::TraceParent::new_root();
        callers.push(tokio::spawn(async move {
            let job = TestJob {
                n,
                behaviour: Behaviour::Succeed,
            };
            // Every fourth caller asks for a delay, every eighth competes for one key.
            let options = match n % 8 {
                0 => PushOptions::idempotent("shared-key"),
                4 => PushOptions::delay(Duration::from_secs(3600)),
                _ => PushOptions::default(),
            };
            let pushed = jobs::trace::scope(trace, producer.push_with(&job, options)).await;
            (n, trace, pushed.expect("push"))
        }));
    }
    let mut results = Vec::new();
    for caller in callers {
        results.push(caller.await.expect("caller"));
    }
    let calls = env.producer.single_push_calls() - before;
    assert!(
        (1..64).contains(&calls),
        "64 concurrent pushes went out in {calls} script calls"
    );

    let keyed: Vec<_> = results.iter().filter(|(n, ..)| n % 8 == 0).collect();
    let winners: Vec<_> = keyed.iter().filter(|(.., p)| !p.is_duplicate()).collect();
    assert_eq!(winners.len(), 1, "one push wins the shared key");
    let winner = winners[0].2.id();
    assert!(keyed.iter().all(|(.., p)| p.id() == winner));

    let mut ids = std::collections::HashSet::new();
    for (n, trace, pushed) in results.iter().filter(|(.., p)| !p.is_duplicate()) {
        assert!(ids.insert(pushed.id().clone()), "ids are distinct");
        let status = env
            .producer
            .status(QUEUE, pushed.id())
            .await
            .expect("status")
            .expect("exists");
        assert_eq!(
            status.payload,
            Some(serde_json::json!({"n": n, "behaviour": "Succeed"})),
            "caller {n} got its own job"
        );
        let scheduled = n % 8 == 4;
        assert_eq!(status.state == JobState::Scheduled, scheduled, "job {n}");
        // From the job's hash (scheduled) or its stream entry (the others).
        assert_eq!(
            status.trace,
            Some(trace.to_string()),
            "job {n} keeps its caller's trace"
        );
    }
    let depth = env.producer.depth(QUEUE).await.expect("depth");
    // 64 callers: 8 compete for one key, 8 are delayed, the other 48 are pending.
    assert_eq!((depth.stream, depth.delayed), (48 + 1, 8));
}

/// A caller that gives up on its push (a dropped request) after handing it over neither loses
/// the push nor stalls the queue's later pushes.
#[tokio::test]
async fn a_push_whose_caller_gives_up_is_still_made_and_the_lane_goes_on() {
    let env = Env::new().await;
    let job = |n| TestJob {
        n,
        behaviour: Behaviour::Succeed,
    };
    // Polled once: the push joins the lane and a flush starts; then the caller drops it.
    let gave_up = futures::FutureExt::now_or_never(env.producer.push(&job(1)));
    assert!(
        gave_up.is_none(),
        "the push was still in flight when dropped"
    );
    crate::support::eventually(
        Duration::from_secs(5),
        "the abandoned push lands",
        async || env.producer.depth(QUEUE).await.expect("depth").stream == 1,
    )
    .await;
    let next = tokio::time::timeout(Duration::from_secs(5), env.producer.push(&job(2)))
        .await
        .expect("a later push is not stuck behind the abandoned one")
        .expect("push");
    assert!(!next.is_duplicate());
    assert_eq!(env.producer.depth(QUEUE).await.expect("depth").stream, 2);
}

/// A push made from a runtime that shuts down before its flush ever ran (a clone of the
/// producer used on another runtime) fails instead of leaving the queue's lane marked busy:
/// later pushes from the runtime that lives on still go out.
#[tokio::test]
async fn a_flush_dropped_before_it_ran_does_not_stall_the_lane() {
    let env = Env::new().await;
    let job = |n| TestJob {
        n,
        behaviour: Behaviour::Succeed,
    };
    let producer = env.producer.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // `block_on` returns as soon as this future does, before the spawned flush runs.
        let gave_up = runtime
            .block_on(async { futures::FutureExt::now_or_never(producer.push(&job(1))).is_none() });
        assert!(gave_up, "the push was still waiting for its flush");
        drop(runtime);
    })
    .join()
    .expect("the other runtime's thread");
    let next = tokio::time::timeout(Duration::from_secs(5), env.producer.push(&job(2)))
        .await
        .expect("a later push is not stuck behind the dropped flush")
        .expect("push");
    assert!(!next.is_duplicate());
}

/// `with_wait_replicas` (`REDIS_WAIT_REPLICAS`): a push that fewer replicas confirm than asked
/// for fails and says how many did, single and bulk; asking for the replicas there are, it is
/// made. The test node has no replica; each master of the test cluster has one.
#[tokio::test]
async fn a_push_fewer_replicas_confirm_than_asked_for_fails_and_says_so() {
    let env = Env::new().await;
    let replicas = u32::from(env.redis.is_cluster());
    let job = TestJob {
        n: 3,
        behaviour: Behaviour::Succeed,
    };
    let greedy = env
        .producer
        .clone()
        .with_wait_replicas(replicas + 1, Duration::from_millis(100))
        .await
        .expect("producer");
    let single = greedy.push(&job).await;
    let bulk = greedy
        .push_bulk(&[job.clone(), job.clone()], PushOptions::default())
        .await;
    for refused in [single.map(drop), bulk.map(drop)] {
        match refused {
            Err(jobs::QueueError::NotReplicated {
                acknowledged,
                wanted,
            }) => assert_eq!((acknowledged, wanted), (replicas, replicas + 1)),
            other => panic!("expected NotReplicated, got {other:?}"),
        }
    }
    let content = env
        .producer
        .clone()
        .with_wait_replicas(replicas, Duration::from_millis(1000))
        .await
        .expect("producer");
    content
        .push(&job)
        .await
        .expect("confirmed by every replica there is");
}
