//! Issue 15, "how far it goes": one probe queue split into shards on a Redis Cluster of 1, 2
//! and 3 masters on loopback (`scripts/redis-cluster`, no replicas, every node pinned to CPU
//! 0 as the single Redis of the other cases is), drained by `concierge worker`; jobs/s and
//! the Redis CPU per job on each node. Then what `REDIS_WAIT_REPLICAS=1` costs a push, on one
//! master with one replica.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jobs::probe_run::{self, ProbeRunKeys};
use jobs::redis::{QueueKeys, RedisClient, shard_name};
use jobs::{Job, Probe, PushOptions, now_ms};
use serde_json::json;

use crate::measure::{quantile, report};
use crate::subject::Bench;

/// Ports of the bench's clusters: 7301 and up.
const BASE: u16 = 7300;
/// The probe queue's shards in the runs on several masters: several per node, so each
/// node gets a share.
const SHARDS: usize = 6;

/// A cluster of the bench's own, stopped when dropped.
struct LoopbackCluster {
    masters: usize,
    replicas: usize,
    dir: PathBuf,
}

impl LoopbackCluster {
    fn start(masters: usize, replicas: usize) -> anyhow::Result<Self> {
        let cluster = LoopbackCluster {
            masters,
            replicas,
            dir: std::env::temp_dir().join(format!("concierge-bench-cluster-{BASE}")),
        };
        let _ = cluster.script("stop");
        let out = cluster.script("start")?;
        if !out.status.success() {
            bail!(
                "scripts/redis-cluster start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // On CPU 0, as the other cases' Redis (`pin.rs`): the masters share one core, so the
        // jobs/s are not the cluster's; the CPU per job on each node is what carries.
        for port in cluster.ports() {
            if let Ok(pid) =
                std::fs::read_to_string(cluster.dir.join(port.to_string()).join("redis.pid"))
            {
                let _ = Command::new("taskset")
                    .args(["-a", "-p", "-c", "0", pid.trim()])
                    .stdout(Stdio::null())
                    .status();
            }
        }
        Ok(cluster)
    }

    fn script(&self, what: &str) -> anyhow::Result<std::process::Output> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-cluster");
        Command::new(script)
            .arg(what)
            .env("REDIS_CLUSTER_PORT_BASE", BASE.to_string())
            .env("REDIS_CLUSTER_DIR", &self.dir)
            .env("REDIS_CLUSTER_MASTERS", self.masters.to_string())
            .env("REDIS_CLUSTER_REPLICAS", self.replicas.to_string())
            // No persistence, as the single Redis of the other cases runs.
            .env("REDIS_CLUSTER_AOF", "no")
            .output()
            .context("cannot run scripts/redis-cluster")
    }

    fn ports(&self) -> Vec<u16> {
        let nodes = self.masters * (1 + self.replicas);
        (1..=nodes as u16).map(|i| BASE + i).collect()
    }

    fn master_ports(&self) -> Vec<u16> {
        (1..=self.masters as u16).map(|i| BASE + i).collect()
    }

    fn nodes(&self) -> String {
        let nodes: Vec<String> = self
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        nodes.join(",")
    }

    fn client(&self) -> anyhow::Result<RedisClient> {
        let urls: Vec<String> = self
            .ports()
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        Ok(RedisClient::cluster(&urls)?)
    }

    /// Each master's CPU seconds so far.
    async fn cpu(&self) -> anyhow::Result<Vec<f64>> {
        let mut out = Vec::new();
        for port in self.master_ports() {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
            out.push(crate::measure::redis_cpu(&client).await?);
        }
        Ok(out)
    }

    /// Which master serves each shard of the probe queue.
    fn shard_masters(&self, prefix: &str, shards: usize) -> anyhow::Result<Vec<u16>> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", BASE + 1))?;
        let mut conn = client.get_connection()?;
        let mut out = Vec::new();
        for shard in 0..shards {
            let key = QueueKeys::new(prefix, &shard_name(Probe::QUEUE, shard)).stream();
            let slot: u64 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&key)
                .query(&mut conn)?;
            // Masters hold equal slot ranges in port order, master i from 16384 * i / M
            // (`scripts/redis-cluster`).
            let master = (0..self.masters)
                .rev()
                .find(|i| 16384 * i / self.masters <= slot as usize)
                .unwrap_or(0) as u16;
            out.push(BASE + 1 + master);
        }
        Ok(out)
    }
}

impl Drop for LoopbackCluster {
    fn drop(&mut self) {
        let _ = self.script("stop");
    }
}

impl Bench {
    /// The probe queue in [`SHARDS`] shards on 1, 2 and 3 masters, drained by `concierge
    /// worker` (`WORKER_CONCURRENCY_PROBE=256`, split over the shards), then the cost of
    /// `WAIT`.
    pub(crate) async fn cluster(&self) -> anyhow::Result<()> {
        let n: u64 = if self.settings.quick { 50_000 } else { 200_000 };
        // One master and one shard first: what cluster mode itself costs against the single
        // Redis of the other cases; then what splitting the queue costs on the same node.
        for (masters, shards) in [(1, 1), (1, SHARDS), (2, SHARDS), (3, SHARDS)] {
            let cluster = LoopbackCluster::start(masters, 0)?;
            self.cluster_drain(&cluster, n, shards).await?;
        }
        let cluster = LoopbackCluster::start(1, 1)?;
        for replicas in [0, 1] {
            self.wait_cost(&cluster, replicas).await?;
        }
        Ok(())
    }

    async fn cluster_drain(
        &self,
        cluster: &LoopbackCluster,
        n: u64,
        shards: usize,
    ) -> anyhow::Result<()> {
        let prefix = format!("{}:cl{}x{shards}", self.prefix, cluster.masters);
        let split = std::collections::HashMap::from([(Probe::QUEUE.to_owned(), shards)]);
        let producer = jobs::Producer::connect(cluster.client()?, &prefix)
            .await?
            .with_shards(split)
            .await?;
        let run_id = format!("cl{}x{shards}", cluster.masters);
        let keys = probe_run::shard_keys(&producer, Probe::QUEUE, &run_id).await?;
        let mut conn = producer.connection();
        probe_run::begin(&mut conn, &keys[0], n).await?;
        for start in (0..n).step_by(10_000) {
            let batch = Bench::probes(&run_id, start..(start + 10_000).min(n));
            producer.push_bulk(&batch, PushOptions::default()).await?;
        }
        probe_run::pushed(&mut conn, &keys[0]).await?;
        let before = cluster.cpu().await?;
        let started_ms = now_ms();
        let mut child = Command::new(self.concierge_binary())
            .arg("worker")
            .env("REDIS_URL", format!("redis://127.0.0.1:{}", BASE + 1))
            .env("REDIS_CLUSTER_NODES", cluster.nodes())
            .env("REDIS_KEY_PREFIX", &prefix)
            .env("QUEUE_SHARDS_PROBE", shards.to_string())
            .env("WORKER_CONCURRENCY_PROBE", "256")
            .env("WORKER_METRICS_PORT", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start concierge worker (cargo build --release)")?;
        let started = Instant::now();
        let mut completed = 0;
        while completed < n && started.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            completed = probe_run::completed(&mut conn, &keys).await?;
        }
        let after = cluster.cpu().await?;
        let _ = child.kill();
        let _ = child.wait();
        let checked = probe_run::report(&mut conn, &keys, &run_id, Probe::QUEUE).await?;
        if completed < n {
            bail!("only {completed} of {n} jobs ran within 600 s");
        }
        let finished_ms = {
            let meta: std::collections::HashMap<String, u64> = keys_meta(&mut conn, &keys).await?;
            meta.get("last_done_ms").copied().unwrap_or(now_ms())
        };
        let seconds = finished_ms.saturating_sub(started_ms) as f64 / 1000.0;
        let per_node: Vec<f64> = before
            .iter()
            .zip(&after)
            .map(|(b, a)| ((a - b) * 1e6 / n as f64 * 10.0).round() / 10.0)
            .collect();
        let shard_masters = cluster.shard_masters(&prefix, shards)?;
        report(json!({
            "case": "cluster_drain", "subject": "concierge", "process": "concierge worker",
            "masters": cluster.masters, "shards": shards, "shard_masters": shard_masters,
            "queued": n, "jobs_per_s": (n as f64 / seconds.max(0.001)).round(),
            "redis_cpu_us_per_job_by_master": per_node,
            "redis_cpu_us_per_job": (per_node.iter().sum::<f64>() * 10.0).round() / 10.0,
            "completed": checked.completed, "duplicates": checked.duplicates, "lost": checked.lost,
        }));
        Ok(())
    }

    /// Single pushes from 32 callers for 3 s on the cluster's one master, each waiting for
    /// `replicas` replicas (`Producer::with_wait_replicas`): pushes/s and each push's latency.
    async fn wait_cost(&self, cluster: &LoopbackCluster, replicas: u32) -> anyhow::Result<()> {
        let prefix = format!("{}:wait{replicas}", self.prefix);
        let producer = jobs::Producer::connect(cluster.client()?, &prefix)
            .await?
            .with_wait_replicas(replicas, Duration::from_secs(1))
            .await?;
        let pushed = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut callers = Vec::new();
        for caller in 0..32u64 {
            let (producer, pushed) = (producer.clone(), pushed.clone());
            callers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut seq = caller << 32;
                while Instant::now() < deadline {
                    let job = Bench::probes("wait", seq..seq + 1).remove(0);
                    let at = Instant::now();
                    if producer.push(&job).await.is_ok() {
                        latencies.push(at.elapsed().as_micros() as u64);
                        pushed.fetch_add(1, Ordering::Relaxed);
                    }
                    seq += 1;
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for caller in callers {
            latencies.extend(caller.await?);
        }
        latencies.sort_unstable();
        report(json!({
            "case": "push_wait_replicas", "subject": "concierge", "wait_replicas": replicas,
            "callers": 32, "seconds": 3, "pushes_per_s": (pushed.load(Ordering::Relaxed) as f64 / 3.0).round(),
            "p50_us": quantile(&latencies, 0.50), "p99_us": quantile(&latencies, 0.99),
        }));
        Ok(())
    }
}

/// The run's meta (in the queue's own shard).
async fn keys_meta(
    conn: &mut jobs::redis::Conn,
    keys: &[ProbeRunKeys],
) -> anyhow::Result<std::collections::HashMap<String, u64>> {
    let mut out = std::collections::HashMap::new();
    for k in keys {
        let meta: std::collections::HashMap<String, u64> =
            redis::AsyncCommands::hgetall(conn, &k.meta).await?;
        for (field, value) in meta {
            let kept = out.entry(field).or_insert(0);
            *kept = (*kept).max(value);
        }
    }
    Ok(out)
}
