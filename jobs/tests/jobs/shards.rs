//! A queue split into shards (`Producer::with_shards`): pushes spread over them, keyed jobs
//! stay together, every shard is served, and lowering the number of shards loses nothing.

use std::collections::HashMap;
use std::time::Duration;

use jobs::{Job, JobState, PushOptions, Pushed};
use redis::AsyncCommands;

use crate::support::{Behaviour, Env, TestJob, fast_config};

const QUEUE: &str = TestJob::QUEUE;

fn jobs(range: std::ops::Range<u64>) -> Vec<TestJob> {
    range
        .map(|n| TestJob {
            n,
            behaviour: Behaviour::Succeed,
        })
        .collect()
}

fn shards(n: usize) -> HashMap<String, usize> {
    HashMap::from([(QUEUE.to_owned(), n)])
}

/// Entries in each shard's stream.
async fn lengths(env: &Env, names: &[String]) -> Vec<u64> {
    let mut conn = env.redis.connection().await;
    let mut out = Vec::new();
    for name in names {
        let keys = jobs::redis::QueueKeys::new(&env.redis.prefix, name);
        out.push(conn.xlen(keys.stream()).await.expect("xlen"));
    }
    out
}

/// A worker on each of `names` until `n` distinct jobs ran, then stopped.
async fn serve_until(env: &Env, names: &[String], n: usize) {
    let workers: Vec<_> = names
        .iter()
        .map(|name| env.worker_of(name, fast_config(), 8, Duration::from_secs(10)))
        .collect();
    crate::support::eventually(
        Duration::from_secs(20),
        &format!("all {n} ran"),
        async || env.ledger.totals().0 == n,
    )
    .await;
    for worker in workers {
        worker.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_spread_over_the_shards_and_each_job_runs_once() {
    let env = Env::new().await;
    let producer = env
        .producer
        .clone()
        .with_shards(shards(3))
        .await
        .expect("shards");
    let names = producer.shard_queues(QUEUE).await.expect("shards");
    assert_eq!(names, ["conformance", "conformance~1", "conformance~2"]);
    let bulk = producer
        .push_bulk(&jobs(0..300), PushOptions::default())
        .await
        .expect("bulk");
    for job in jobs(300..330) {
        producer.push(&job).await.expect("push");
    }
    // Each bulk job's id is its own, in the order of the jobs.
    let ids: std::collections::HashSet<_> = bulk.iter().map(|p| p.id().clone()).collect();
    assert_eq!(ids.len(), 300);
    let spread = lengths(&env, &names).await;
    assert_eq!(spread, [110, 110, 110], "round robin over the shards");
    serve_until(&env, &names, 330).await;
    for n in 0..330 {
        assert_eq!(env.ledger.runs(n), 1, "job {n}");
    }
    // A job's status is found in whichever shard holds it.
    let last = bulk.last().expect("pushed");
    let status = producer
        .status(QUEUE, last.id())
        .await
        .expect("status")
        .expect("found in its shard");
    assert_eq!(status.state, JobState::Done);
}

#[tokio::test]
async fn keyed_jobs_stay_in_one_shard_and_an_idempotency_key_holds_across_shards() {
    let env = Env::new().await;
    let producer = env
        .producer
        .clone()
        .with_shards(shards(4))
        .await
        .expect("shards");
    let names = producer.shard_queues(QUEUE).await.expect("shards");
    for job in jobs(0..12) {
        producer
            .push_with(&job, PushOptions::default().ordered_by("channel-7"))
            .await
            .expect("push");
    }
    let spread = lengths(&env, &names).await;
    assert_eq!(spread.iter().filter(|n| **n > 0).count(), 1, "{spread:?}");
    assert_eq!(spread.iter().sum::<u64>(), 12);
    // The same idempotency key, pushed by round-robin producers, is one job.
    let job = TestJob {
        n: 99,
        behaviour: Behaviour::Succeed,
    };
    let first = producer
        .push_with(&job, PushOptions::idempotent("once"))
        .await
        .expect("push");
    for _ in 0..8 {
        let again = producer
            .push_with(&job, PushOptions::idempotent("once"))
            .await
            .expect("push");
        assert_eq!(again, Pushed::Duplicate(first.id().clone()));
    }
}

/// Issue 15: "changing N on a live system loses nothing". Jobs pushed over 4 shards, then
/// every process restarted with 1: the workers still serve the 4 (the registry names them),
/// so every job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_the_number_of_shards_loses_nothing() {
    let env = Env::new().await;
    let four = env
        .producer
        .clone()
        .with_shards(shards(4))
        .await
        .expect("shards");
    four.push_bulk(&jobs(0..200), PushOptions::default())
        .await
        .expect("bulk");
    let one = env
        .producer
        .clone()
        .with_shards(shards(1))
        .await
        .expect("shards");
    assert_eq!(one.shards(QUEUE), 1, "pushes now go to the queue alone");
    let served = one.shard_queues(QUEUE).await.expect("shards");
    assert_eq!(served.len(), 4, "{served:?}");
    one.push_bulk(&jobs(200..250), PushOptions::default())
        .await
        .expect("bulk");
    assert_eq!(lengths(&env, &served).await, [100, 50, 50, 50]);
    serve_until(&env, &served, 250).await;
    assert!((0..250).all(|n| env.ledger.runs(n) == 1));
}

/// The admin acts of a split queue act on every shard: pausing stops all of them, the depth is
/// their sum, a job is discarded in whichever shard holds it; a forged registry entry for a
/// thousandth shard does not make workers serve more than 64.
#[tokio::test]
async fn admin_acts_reach_every_shard_and_the_registry_cannot_inflate_them() {
    let env = Env::new().await;
    let producer = env
        .producer
        .clone()
        .with_shards(shards(3))
        .await
        .expect("shards");
    let pushed = producer
        .push_bulk(&jobs(0..30), PushOptions::default())
        .await
        .expect("bulk");
    assert_eq!(producer.depth(QUEUE).await.expect("depth").waiting, 30);
    producer.pause(QUEUE).await.expect("pause");
    let mut conn = env.redis.connection().await;
    for name in producer.shard_queues(QUEUE).await.expect("shards") {
        let keys = jobs::redis::QueueKeys::new(&env.redis.prefix, &name);
        let paused: bool = conn.exists(keys.paused()).await.expect("exists");
        assert!(paused, "{name} paused");
    }
    assert!(producer.is_paused(QUEUE).await.expect("paused"));
    // The last job went to shard 2 (round robin from 0).
    let last = pushed.last().expect("pushed").id().clone();
    assert!(
        producer.discard(QUEUE, &last).await.expect("discard"),
        "found in its shard"
    );
    let nobody = jobs::JobId::generate();
    assert!(!producer.discard(QUEUE, &nobody).await.expect("discard"));
    producer.resume(QUEUE).await.expect("resume");
    assert!(!producer.is_paused(QUEUE).await.expect("paused"));
    let _: () = conn
        .sadd(
            jobs::redis::QueueKeys::registry(&env.redis.prefix),
            jobs::redis::shard_name(QUEUE, 999),
        )
        .await
        .expect("sadd");
    assert_eq!(
        producer.shard_queues(QUEUE).await.expect("shards").len(),
        jobs::redis::MAX_SHARDS
    );
}

/// The feed of finished jobs (the board's live log) hears a shard registered after it opened:
/// on a cluster it reads the registry again every 10 s; on one node its pattern covers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finished_jobs_feed_hears_a_shard_added_after_it_opened() {
    use futures::StreamExt;
    let env = Env::new().await;
    let feed = env.producer.finished_announcements().await.expect("feed");
    let producer = env
        .producer
        .clone()
        .with_shards(shards(2))
        .await
        .expect("shards");
    let shard = jobs::redis::shard_name(QUEUE, 1);
    let worker = env.worker_of(&shard, fast_config(), 4, Duration::from_secs(10));
    let mut feed = Box::pin(feed);
    // A job for the new shard every half second until the feed names one.
    let mut n = 1000;
    let heard = tokio::time::timeout(Duration::from_secs(25), async {
        loop {
            let options = PushOptions::default().in_queue(shard.clone());
            producer
                .push_with(&jobs(n..n + 1)[0], options)
                .await
                .expect("push");
            n += 1;
            match tokio::time::timeout(Duration::from_millis(500), feed.next()).await {
                Ok(Some((queue, _))) if queue == shard => return,
                Ok(None) => panic!("the feed ended"),
                _ => {}
            }
        }
    })
    .await;
    worker.stop().await;
    assert!(heard.is_ok(), "the feed never heard {shard}");
}
