//! The queue as operators run it: `concierge worker` processes killed, stopped and starved of
//! Redis, checked with `concierge probe`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jobs::probe_run::{self, ProbeRunKeys};
use jobs::redis::QueueKeys;
use serde_json::Value;

use crate::cli::{Cli, Running, message};

pub(crate) struct Queue {
    cli: Cli,
    pub(crate) prefix: String,
    /// How the processes reach Redis (`REDIS_URL`, and on a cluster `REDIS_CLUSTER_NODES`).
    redis_env: Vec<(&'static str, String)>,
    redis: jobs::redis::RedisClient,
}

impl Queue {
    /// On the tests' Redis: one node, or the cluster of `CONCIERGE_TEST_REDIS_CLUSTER`.
    fn new() -> Self {
        Self::with(testkit::redis_env(), testkit::redis_client())
    }

    /// On the one node at `url`.
    fn on_node(url: &str) -> Self {
        let client = jobs::redis::RedisClient::open(url).expect("url");
        Self::with(vec![("REDIS_URL", url.to_owned())], client)
    }

    pub(crate) fn with(
        redis_env: Vec<(&'static str, String)>,
        redis: jobs::redis::RedisClient,
    ) -> Self {
        Queue {
            cli: Cli::new(),
            prefix: format!("test:{}", uuid::Uuid::new_v4().simple()),
            redis_env,
            redis,
        }
    }

    /// Every process of the test also gets `name=value`.
    fn setting(mut self, name: &'static str, value: &str) -> Self {
        self.redis_env.push((name, value.to_owned()));
        self
    }

    fn env<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut env: Vec<(&str, &str)> = self
            .redis_env
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        env.extend([
            ("REDIS_KEY_PREFIX", self.prefix.as_str()),
            ("LOG_FORMAT", "json"),
            ("SHUTDOWN_GRACE_SECONDS", "10"),
            // Several workers run at once here: no metrics listeners to collide.
            ("WORKER_METRICS_PORT", "0"),
        ]);
        env.extend_from_slice(extra);
        env
    }

    /// A `concierge worker`, once it serves the probe queue.
    pub(crate) fn worker(&self, concurrency: &str) -> Running {
        let mut worker = Running::start(
            &self.cli,
            &["worker"],
            &self.env(&[("WORKER_CONCURRENCY", concurrency)]),
        );
        worker.wait_for(Duration::from_secs(20), |v| message(v) == "serving queue");
        worker
    }

    /// `concierge probe …`, its JSON line.
    fn probe(&self, args: &[&str]) -> Value {
        let out = self
            .cli
            .command(&[&["probe"], args].concat(), &self.env(&[]))
            .output()
            .expect("run probe");
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
            panic!(
                "probe printed {stdout:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    async fn completed(&self, run_id: &str) -> u64 {
        let mut conn = self.redis.shared().await.expect("redis");
        let keys = ProbeRunKeys::new(&QueueKeys::new(&self.prefix, "probe"), run_id);
        probe_run::completed(&mut conn, std::slice::from_ref(&keys))
            .await
            .unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_jobs_finish_on_another_worker_within_ten_seconds() {
    let q = Queue::new();
    let mut first = q.worker("8");
    let pushed = q.probe(&["--count", "400", "--work-ms", "100", "--no-wait"]);
    let run_id = pushed["run_id"].as_str().expect("run id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while q.completed(&run_id).await < 16 {
        assert!(
            Instant::now() < deadline,
            "the first worker never got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.signal("KILL");
    let killed_at = Instant::now();
    first.wait_exit(Duration::from_secs(5));
    let mut second = q.worker("64");
    let report = q.probe(&["--check", &run_id, "--timeout", "30"]);
    let took = killed_at.elapsed();
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["completed"], 400, "{report}");
    assert!(
        took <= Duration::from_secs(10),
        "the dead worker's jobs took {took:?} to finish elsewhere: {report}"
    );
    second.signal("TERM");
    assert_eq!(second.wait_exit(Duration::from_secs(15)), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_nothing_and_runs_nothing_twice() {
    let q = Queue::new();
    let mut first = q.worker("8");
    let mut second = q.worker("8");
    let pushed = q.probe(&[
        "--count",
        "3000",
        "--work-ms",
        "20",
        "--rate",
        "1500",
        "--no-wait",
    ]);
    let run_id = pushed["run_id"].as_str().expect("run id").to_owned();
    // Mid-run: stop one worker gracefully, start another.
    let deadline = Instant::now() + Duration::from_secs(20);
    while q.completed(&run_id).await < 500 {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.signal("TERM");
    let mut third = q.worker("8");
    assert_eq!(first.wait_exit(Duration::from_secs(15)), 0, "graceful exit");
    let report = q.probe(&["--check", &run_id, "--timeout", "60"]);
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    assert_eq!(report["completed"], 3000, "{report}");
    for w in [&mut second, &mut third] {
        w.signal("TERM");
        assert_eq!(w.wait_exit(Duration::from_secs(15)), 0);
    }
}

/// `QUEUE_SHARDS_PROBE=3` on every process: `concierge probe` spreads its jobs over the three
/// shards, the worker serves all three, and the report counts the run over them: each job
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_over_three_shards_counts_every_job_once() {
    let q = Queue::new().setting("QUEUE_SHARDS_PROBE", "3");
    let mut worker = q.worker("16");
    let report = q.probe(&["--count", "600", "--timeout", "30"]);
    assert_eq!(report["completed"], 600, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    let run_id = report["run_id"].as_str().expect("run id");
    let mut conn = q.redis.shared().await.expect("redis");
    for shard in 0..3 {
        let keys = QueueKeys::new(&q.prefix, &jobs::redis::shard_name("probe", shard));
        let ran = probe_run::completed(&mut conn, &[ProbeRunKeys::new(&keys, run_id)])
            .await
            .expect("runs");
        assert_eq!(ran, 200, "shard {shard} ran its share");
    }
    worker.signal("TERM");
    assert_eq!(worker.wait_exit(Duration::from_secs(15)), 0);
}

/// A `redis-server` of the test's own, with the AOF fsynced on every write: what production
/// should run, and restartable without disturbing other tests.
struct OwnRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("concierge-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut redis = OwnRedis {
            port,
            dir,
            child: None,
        };
        redis.spawn();
        redis
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_run_loses_no_acknowledged_push() {
    let mut redis = OwnRedis::start();
    let q = Queue::on_node(&redis.url());
    let mut worker = q.worker("16");
    let client = redis::Client::open(redis.url()).expect("url");
    let producer = jobs::Producer::connect(client, &q.prefix)
        .await
        .expect("producer");
    let run_id = "restart";
    let keys = ProbeRunKeys::new(&QueueKeys::new(&q.prefix, "probe"), run_id);
    let mut acknowledged = Vec::new();
    for seq in 0..1010u64 {
        match seq {
            // SIGKILL, not a clean shutdown: only the fsynced AOF survives.
            500 => redis.kill(),
            505 => redis.spawn(),
            _ => {}
        }
        let job = probe_job(run_id, seq, 0);
        // A push during the outage fails (or times out): it was never acknowledged.
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), producer.push(&job)).await {
            acknowledged.push(seq);
        }
    }
    assert!(
        acknowledged.len() >= 1000,
        "pushes resumed after the restart: {}",
        acknowledged.len()
    );
    assert!(acknowledged.contains(&499) && acknowledged.contains(&1009));
    let missing = never_ran(&producer, &keys, &acknowledged, Duration::from_secs(60)).await;
    assert!(
        missing.is_empty(),
        "{} acknowledged pushes never ran: {missing:?}",
        missing.len()
    );
    worker.signal("TERM");
    assert_eq!(worker.wait_exit(Duration::from_secs(15)), 0);
}

/// The probe jobs of `acknowledged` (their `seq`s) that have not run once `limit` is over
/// (or none, as soon as all have).
pub(crate) async fn never_ran(
    producer: &jobs::Producer,
    keys: &ProbeRunKeys,
    acknowledged: &[u64],
    limit: Duration,
) -> Vec<u64> {
    let mut conn = producer.connection();
    let deadline = Instant::now() + limit;
    loop {
        let runs: std::collections::HashMap<String, u64> =
            redis::AsyncCommands::hgetall(&mut conn, &keys.runs)
                .await
                .unwrap_or_default();
        let missing: Vec<u64> = acknowledged
            .iter()
            .filter(|s| !runs.contains_key(&s.to_string()))
            .copied()
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A probe job of run `run_id` pushed now, working `work_ms`.
pub(crate) fn probe_job(run_id: &str, seq: u64, work_ms: u32) -> jobs::Probe {
    jobs::Probe {
        run_id: run_id.into(),
        seq,
        enqueued_at_ms: jobs::now_ms(),
        work_ms,
        padding: String::new(),
    }
}
