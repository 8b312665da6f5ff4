//! Measuring and reporting: what the handlers saw (jobs run, enqueue → start latencies) and
//! their percentiles, waiting for a drain to finish, the CPU time Redis spent, a process's
//! memory, and the report itself: one JSON line per case on stdout.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the handlers saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Jobs run since the last reset: what a drain waits for.
    done: AtomicU64,
    /// The runs since the last reset, behind one lock (each job takes it once).
    runs: Mutex<Runs>,
}

#[derive(Debug, Default)]
struct Runs {
    /// Enqueue → start of each job run, in microseconds.
    latencies_us: Vec<u64>,
    /// When the latest job ran: a drain ends there, not at the next poll.
    last: Option<Instant>,
}

impl Seen {
    /// One job started `latency_us` after it was enqueued.
    pub fn ran(&self, latency_us: u64) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.latencies_us.push(latency_us);
            runs.last = Some(Instant::now());
        }
        self.done.fetch_add(1, Ordering::SeqCst);
    }

    /// Jobs run since the last reset.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.done.store(0, Ordering::SeqCst);
        if let Ok(mut runs) = self.runs.lock() {
            *runs = Runs::default();
        }
    }

    /// p50, p99 and max of the latencies, in µs (0 when none).
    pub fn percentiles(&self) -> (u64, u64, u64) {
        let mut l = self
            .runs
            .lock()
            .map(|r| r.latencies_us.clone())
            .unwrap_or_default();
        l.sort_unstable();
        (
            quantile(&l, 0.5),
            quantile(&l, 0.99),
            l.last().copied().unwrap_or(0),
        )
    }

    /// Waits until `target` jobs ran, or `limit` passed; returns the time from the call to
    /// the last job's run if complete.
    pub async fn wait_done(&self, target: u64, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut last = 0;
        let mut last_progress = Instant::now();
        loop {
            let done = self.done();
            if done >= target {
                let at = self.runs.lock().ok().and_then(|r| r.last);
                return Some(at.map_or_else(|| started.elapsed(), |at| at.duration_since(started)));
            }
            if done != last {
                last = done;
                last_progress = Instant::now();
            }
            // A queue that made no progress for 40 s is stuck (apalis-redis' backlog limit).
            if started.elapsed() > limit || last_progress.elapsed() > Duration::from_secs(40) {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Prints one case's result as a JSON line on stdout (the bench's output; logs go to stderr).
/// The `q` quantile (nearest rank) of sorted values; 0 when there are none.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub fn report(value: serde_json::Value) {
    #[allow(clippy::print_stdout)]
    {
        println!("{value}");
    }
}

/// One section of Redis's `INFO`.
pub async fn redis_info(client: &redis::Client, section: &str) -> anyhow::Result<String> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    Ok(redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await?)
}

/// The CPU seconds Redis has spent so far (user and system).
pub async fn redis_cpu(client: &redis::Client) -> anyhow::Result<f64> {
    let info = redis_info(client, "cpu").await?;
    let value = |key: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(value("used_cpu_user:") + value("used_cpu_sys:"))
}

/// The microseconds of Redis CPU per job for `n` jobs since Redis stood at `since`
/// ([`redis_cpu`]), to a tenth.
pub async fn redis_cpu_us_per_job(
    client: &redis::Client,
    since: f64,
    n: u64,
) -> anyhow::Result<f64> {
    let cpu_us = (redis_cpu(client).await? - since) * 1e6 / n as f64;
    Ok(tenths(cpu_us))
}

/// A process's resident memory, in KiB (0 when unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
            })
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// KiB as MiB, to a tenth.
pub fn mib(kib: u64) -> f64 {
    tenths(kib as f64 / 1024.0)
}

fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Microseconds since the UNIX epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// CPU time this process has used so far (user + system, all threads), in seconds; 0 when
/// `/proc` cannot tell.
pub fn own_cpu() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, after the command name in parentheses.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on every Linux this runs on.
    ticks as f64 / 100.0
}
