//! Pinning: Redis alone on CPU 0, the bench and every process it starts (node, `concierge
//! worker`, `concierge probe`) on CPU 1, so both subjects meet the same conditions; and the
//! `machine` line every run starts with (CPU model, pinning, versions, commit).

use std::process::Command;

use serde_json::json;

use crate::measure::{redis_info, report};

/// Redis's CPU mask before the bench pinned it, restored on drop.
pub struct Pinned {
    redis_pid: Option<u32>,
    previous: Option<String>,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if let (Some(pid), Some(mask)) = (self.redis_pid, &self.previous) {
            let _ = Command::new("taskset")
                .args(["-a", "-p", mask, &pid.to_string()])
                .output();
        }
    }
}

/// The first `model name` of /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn field(info: &str, key: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_owned())
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Pins Redis to CPU 0 and this process (all its threads; children inherit it) to CPU 1,
/// unless `enabled` is false, the machine has one CPU, or Redis is not on this machine; then
/// prints the `machine` line.
pub async fn pin(client: &redis::Client, enabled: bool) -> anyhow::Result<Pinned> {
    let server = redis_info(client, "server").await?;
    let redis_version = field(&server, "redis_version:").unwrap_or_default();
    let redis_pid: Option<u32> = field(&server, "process_id:").and_then(|p| p.parse().ok());
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    // The host the client connects to, not a substring of the URL: only a Redis on this
    // machine is ours to pin.
    let local = match client.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, _) => {
            ["127.0.0.1", "localhost", "::1", "[::1]"].contains(&host.as_str())
        }
        redis::ConnectionAddr::Unix(_) => true,
        _ => false,
    };
    let mut pinned = Pinned {
        redis_pid: None,
        previous: None,
    };
    let mut why_not = None;
    if !enabled {
        why_not = Some("--no-pin");
    } else if cpus < 2 {
        why_not = Some("one CPU");
    } else if !local || redis_pid.is_none() {
        why_not = Some("Redis is not on this machine");
    }
    if why_not.is_none()
        && let Some(pid) = redis_pid
    {
        let previous = output("taskset", &["-p", &pid.to_string()])
            .and_then(|s| s.rsplit(' ').next().map(str::to_owned));
        let redis_ok = output("taskset", &["-a", "-p", "-c", "0", &pid.to_string()]).is_some();
        let own = std::process::id().to_string();
        let own_ok = output("taskset", &["-a", "-p", "-c", "1", &own]).is_some();
        if redis_ok && own_ok {
            pinned = Pinned {
                redis_pid: Some(pid),
                previous,
            };
        } else {
            why_not = Some("taskset failed (not allowed to pin Redis?)");
        }
    }
    let node = output("node", &["--version"]).unwrap_or_else(|| "missing".to_owned());
    let dirty = output("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    let commit = output("git", &["rev-parse", "--short", "HEAD"])
        .map(|c| if dirty { format!("{c}+changes") } else { c })
        .unwrap_or_else(|| "unknown".to_owned());
    report(json!({
        "case": "machine",
        "cpu_model": cpu_model(),
        "cpus": cpus,
        "redis_version": redis_version,
        "pinned": match why_not {
            None => json!({"redis": 0, "bench_and_subjects": 1}),
            Some(why) => json!({"no": why}),
        },
        "commit": commit,
        "node": node,
        "bullmq": crate::bullmq::VERSION,
    }));
    Ok(pinned)
}
