//! The settler's scripts against a real Redis: outcomes that must change nothing.

use super::*;
use crate::JobId;
use crate::redis::config::QueueConfig;
use crate::redis::connect::RedisClient;

/// A job without a hash read by consumer `a`, then taken over by `b` (`XCLAIM`, as
/// `XAUTOCLAIM` does once `a`'s lease expired): its stream and entry.
async fn taken_over(redis: &testkit::TestRedis, shared: &Shared) -> (String, JobId) {
    let mut conn = redis.connection().await;
    let stream = shared.keys.stream();
    let id = JobId::generate();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await
        .expect("group");
    let entry: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg(&[("id", id.as_str()), ("a", "{}"), ("m", "3"), ("e", "1")])
        .query_async(&mut conn)
        .await
        .expect("push");
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg(&["GROUP", GROUP, "a", "COUNT", "1", "STREAMS", &stream, ">"])
        .query_async(&mut conn)
        .await
        .expect("read");
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&[&stream, GROUP, "b", "0", &entry, "JUSTID"])
        .query_async(&mut conn)
        .await
        .expect("take over");
    (entry, id)
}

fn late(entry: &str, id: &JobId, outcome: Outcome) -> SettleRequest {
    SettleRequest {
        lease: Lease {
            entry: entry.to_owned(),
            job_id: id.clone(),
            consumer: "a".to_owned(),
            attempt: 1,
            max_attempts: 3,
            enqueued_at_ms: 1,
            claimed_at_ms: 2,
            trace: None,
            hashless: true,
        },
        outcome,
        recorded: oneshot::channel().0,
    }
}

#[tokio::test]
async fn a_late_outcome_of_a_job_another_worker_took_over_changes_nothing() {
    let redis = testkit::TestRedis::new().await;
    // This crate's own client (testkit's is of the `jobs` it links, another build of it).
    let client = match testkit::redis_cluster_nodes() {
        Some(nodes) => {
            let urls: Vec<String> = nodes.iter().map(|n| format!("redis://{n}")).collect();
            RedisClient::cluster(&urls).expect("cluster")
        }
        None => RedisClient::open(&testkit::redis_url()).expect("url"),
    };
    let producer = Producer::connect(client.clone(), &redis.prefix)
        .await
        .expect("producer");
    let shared = Shared {
        keys: QueueKeys::new(&redis.prefix, "late"),
        config: QueueConfig::default(),
        client,
        conn: producer.connection(),
        concurrency: 1,
        held: Default::default(),
        jobs_in_entries: true,
        durability: Default::default(),
        push_conn: producer.connection(),
    };
    let mut conn = redis.connection().await;
    let (entry, id) = taken_over(&redis, &shared).await;
    // While `b` runs it: `a`'s retry neither takes `b`'s entry nor schedules a second run.
    let retry = Outcome::Retry {
        error: "late".into(),
        at_ms: 0,
    };
    let codes = record(&shared, &[late(&entry, &id, retry)])
        .await
        .expect("settle");
    assert_eq!(codes, vec![-1]);
    let held: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(&[&shared.keys.stream(), GROUP, "-", "+", "10"])
        .query_async(&mut conn)
        .await
        .expect("pending");
    assert_eq!(held.len(), 1, "b still holds the entry");
    assert_eq!(held[0].1, "b");
    // After `b` finished it (acknowledged, no hash): `a`'s failure marks nothing dead.
    let _: i64 = redis::AsyncCommands::xack(&mut conn, shared.keys.stream(), GROUP, &[&entry])
        .await
        .expect("ack");
    let dead = Outcome::Dead {
        error: "late".into(),
    };
    let codes = record(&shared, &[late(&entry, &id, dead)])
        .await
        .expect("settle");
    assert_eq!(codes, vec![-1]);
    let (hash, delayed, dead): (bool, u64, u64) = redis::pipe()
        .exists(shared.keys.job(id.as_str()))
        .zcard(shared.keys.delayed())
        .zcard(shared.keys.dead())
        .query_async(&mut conn)
        .await
        .expect("state");
    assert_eq!(
        (hash, delayed, dead),
        (false, 0, 0),
        "the late outcomes wrote nothing"
    );
}

#[test]
fn the_newest_entry_compares_numbers_not_text() {
    let entries = ["999-5", "1000-0", "1000-10", "1000-9"];
    assert_eq!(newest_entry(entries.into_iter()), Some("1000-10"));
    assert_eq!(newest_entry(std::iter::empty()), None);
}
