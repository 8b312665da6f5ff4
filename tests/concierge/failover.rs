//! The queue through a Redis Cluster failover: a master killed mid-run, its replica promoted,
//! `concierge worker` and the producer carrying on by themselves. On a cluster of the test's
//! own (three masters with a replica each, `scripts/redis-cluster` on ports 7201-7206), so
//! killing a node disturbs no other test.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use jobs::probe_run::ProbeRunKeys;
use jobs::redis::QueueKeys;

use crate::queue::{Queue, never_ran, probe_job};

/// A cluster of the test's own, stopped (and its files removed) on drop.
struct OwnCluster {
    base: u16,
    dir: PathBuf,
}

impl OwnCluster {
    /// Its files in one place per port range, so that a run killed midway leaves nothing the
    /// next one cannot stop: it stops whatever runs there first.
    fn start(base: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("concierge-cluster-{base}"));
        let cluster = OwnCluster { base, dir };
        let _ = cluster.script(&["stop"]);
        let out = cluster.script(&["start"]);
        assert!(
            out.status.success(),
            "scripts/redis-cluster start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn script(&self, args: &[&str]) -> std::process::Output {
        Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/redis-cluster"))
            .args(args)
            .env("REDIS_CLUSTER_PORT_BASE", self.base.to_string())
            .env("REDIS_CLUSTER_DIR", &self.dir)
            .output()
            .expect("run scripts/redis-cluster")
    }

    fn ports(&self) -> Vec<u16> {
        (self.base + 1..=self.base + 6).collect()
    }

    fn nodes(&self) -> String {
        let nodes: Vec<String> = self
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        nodes.join(",")
    }

    fn client(&self) -> jobs::redis::RedisClient {
        let urls: Vec<String> = self
            .ports()
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        jobs::redis::RedisClient::cluster(&urls).expect("cluster")
    }

    /// `ROLE` of one node: `master`, `slave`, or `None` when it does not answer.
    fn role(&self, port: u16) -> Option<String> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()?;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).ok()?;
        match role.first() {
            Some(redis::Value::BulkString(r)) => Some(String::from_utf8_lossy(r).into_owned()),
            _ => None,
        }
    }

    /// The master serving `key`'s slot, and its replica.
    fn master_and_replica_of(&self, key: &str) -> (u16, u16) {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}", self.base + 1)).expect("client");
        let mut conn = client.get_connection().expect("connection");
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut conn)
            .expect("keyslot");
        // [[start, end, [host, port, id, …], replicas…]…]
        let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut conn)
            .expect("slots");
        let number =
            |v: Option<&redis::Value>| v.and_then(|v| redis::from_redis_value_ref::<u16>(v).ok());
        let master = ranges
            .iter()
            .find(|range| {
                matches!((number(range.first()), number(range.get(1))),
                    (Some(start), Some(end)) if (start..=end).contains(&slot))
            })
            .and_then(|range| match range.get(2) {
                Some(redis::Value::Array(node)) => number(node.get(1)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("slot {slot} is not served: {ranges:?}"));
        // ROLE of a replica: [slave, host, port of its master, state, offset].
        let replica = self
            .ports()
            .into_iter()
            .find(|port| {
                let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else {
                    return false;
                };
                let Ok(mut conn) = client.get_connection() else {
                    return false;
                };
                let role: Vec<redis::Value> =
                    redis::cmd("ROLE").query(&mut conn).unwrap_or_default();
                role.len() > 2
                    && redis::from_redis_value_ref::<String>(&role[0])
                        .ok()
                        .as_deref()
                        == Some("slave")
                    && redis::from_redis_value_ref::<u16>(&role[2]).ok() == Some(master)
            })
            .expect("the master has a replica");
        (master, replica)
    }

    /// SIGKILL one node: no shutdown, no last fsync.
    fn kill(&self, port: u16) {
        let pid = std::fs::read_to_string(self.dir.join(port.to_string()).join("redis.pid"))
            .expect("pid file");
        let status = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.script(&["stop"]);
    }
}

/// Issue 15, failover: with `REDIS_WAIT_REPLICAS=1`, a push is acknowledged only once the
/// replica has it, so killing the master of the probe queue mid-run loses none of the
/// acknowledged pushes. The replica is promoted (node timeout 2 s), the producer's and the
/// worker's cluster connections find the new master by themselves, and every acknowledged
/// job runs; pushes made during the failover fail, none hangs past its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_loses_no_push_its_replica_acknowledged() {
    let cluster = OwnCluster::start(7200);
    let redis_env = vec![
        ("REDIS_URL", "redis://127.0.0.1:7201".to_owned()),
        ("REDIS_CLUSTER_NODES", cluster.nodes()),
    ];
    let q = Queue::with(redis_env, cluster.client());
    let mut worker = q.worker("16");
    let producer = jobs::Producer::connect(cluster.client(), &q.prefix)
        .await
        .expect("producer")
        .with_wait_replicas(1, Duration::from_secs(1))
        .await
        .expect("a connection for pushes");
    let run_id = "failover";
    let keys = ProbeRunKeys::new(&QueueKeys::new(&q.prefix, "probe"), run_id);
    let (master, replica) = cluster.master_and_replica_of(&keys.runs);
    let mut acknowledged = Vec::new();
    let mut refused = 0u32;
    let mut killed_at = None;
    let mut restarted = false;
    let mut waiter = None;
    let started = Instant::now();
    let mut seq = 0u64;
    // 500 pushes, the kill, then on until 1,000 more were acknowledged after it.
    while acknowledged.iter().filter(|s| **s >= 500).count() < 1000 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "pushes did not resume after the failover: {} acknowledged, {refused} refused",
            acknowledged.len()
        );
        if seq == 500 {
            // A job still running when its master dies, and a request waiting for it: the
            // waiter must hear of it from the new master (or read it after the gap).
            let slow = probe_job("slow", 0, 4_000);
            let pushed = producer.push(&slow).await.expect("push the slow job");
            let (producer, id) = (producer.clone(), pushed.id().clone());
            waiter = Some(tokio::spawn(async move {
                producer.wait("probe", &id, Duration::from_secs(60)).await
            }));
            tokio::time::sleep(Duration::from_millis(500)).await;
            cluster.kill(master);
            killed_at = Some(Instant::now());
        }
        // The old master comes back only once its replica took over, so it rejoins as the
        // new master's replica (back first, it would be master again with its own AOF).
        if !restarted && killed_at.is_some() && cluster.role(replica).as_deref() == Some("master") {
            let out = cluster.script(&["node-start", &master.to_string()]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            restarted = true;
        }
        let job = probe_job(run_id, seq, 0);
        // Longer than the 10 s a command may take on the cluster connection.
        match tokio::time::timeout(Duration::from_secs(15), producer.push(&job)).await {
            Ok(Ok(_)) => acknowledged.push(seq),
            Ok(Err(_)) => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => panic!("push {seq} hung past its timeout"),
        }
        seq += 1;
    }
    let outage = killed_at.map(|at| at.elapsed());
    assert!(restarted, "the replica took over");
    let missing = never_ran(&producer, &keys, &acknowledged, Duration::from_secs(60)).await;
    eprintln!(
        "failover: {} pushes acknowledged, {refused} refused while the master was down, \
         {:?} from the kill to the end of the pushes",
        acknowledged.len(),
        outage
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged pushes never ran: {missing:?}",
        missing.len()
    );
    let slow = waiter
        .expect("waiting")
        .await
        .expect("joined")
        .expect("wait");
    assert!(
        slow.is_some(),
        "the request waiting through the failover heard its job finish"
    );
    // Announcements reach waiters from the new master: the subscription moved with the slot.
    let job = probe_job(run_id, seq, 0);
    let pushed = producer.push(&job).await.expect("push after the failover");
    let finished = producer
        .wait("probe", pushed.id(), Duration::from_secs(20))
        .await
        .expect("wait");
    assert!(
        finished.is_some(),
        "the waiter heard the job finish after the failover"
    );
    worker.signal("TERM");
    assert_eq!(worker.wait_exit(Duration::from_secs(15)), 0);
}
