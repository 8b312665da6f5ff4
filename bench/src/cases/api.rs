//! `concierge api` (and the other roles) as a bench subject, started as an operator would:
//! the release binary, migrated first, configured only through its environment, on the
//! bench's Redis and Postgres under a key prefix of the case's own.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// What a `concierge` process of a case needs of the bench's settings.
pub(super) struct Api<'a> {
    /// The release `concierge` binary.
    pub binary: &'a Path,
    pub redis_url: &'a str,
    /// The API's database (migrated by [`Api::migrate`]).
    pub database_url: &'a str,
    /// The case's keys, deleted afterwards.
    pub prefix: &'a str,
}

/// A child process killed when dropped.
pub(super) struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The CPUs this machine has online (`/sys/devices/system/cpu/online`, e.g. `0-1`), which
/// `taskset -c` reads as they are.
fn online_cpus() -> Option<String> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

impl Api<'_> {
    /// `concierge <role>` with the settings every role needs; Google (sign-in and token
    /// checks) at `google`. With `all_cpus`, the process may run on every CPU of the machine
    /// (through `taskset`, before it starts, so its runtime sizes itself to them), as a server
    /// beside the database would; otherwise it inherits the bench's pinning.
    pub fn command(&self, role: &str, google: &str, all_cpus: bool) -> Command {
        let mut cmd = match online_cpus().filter(|_| all_cpus) {
            Some(cpus) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", &cpus]).arg(self.binary);
                cmd
            }
            None => Command::new(self.binary),
        };
        cmd.arg(role)
            .env("DATABASE_URL", self.database_url)
            .env("REDIS_URL", self.redis_url)
            .env("REDIS_KEY_PREFIX", self.prefix)
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("BOARD_PORT", "0")
            .env("WORKER_METRICS_PORT", "0")
            .env("LOG_FORMAT", "json")
            .env("SECRET_KEY", "bench-admin-key-0123456789")
            .env("JWT_SECRET", "bench-jwt-secret-0123456789abcdef0123")
            .env("SEALING_KEY", "bench-sealing-key-0123456789abcdef01")
            .env("GOOGLE_CLIENT_ID", "bench-client")
            .env("GOOGLE_CLIENT_SECRET", "bench-secret")
            .env("GOOGLE_REDIRECT_URI", "http://127.0.0.1:9/landing")
            .env("GOOGLE_TOKENINFO_URL", google)
            .env("GOOGLE_USERINFO_URL", google)
            .env("TRUSTED_PROXIES", "127.0.0.1")
            .stdout(Stdio::null());
        cmd
    }

    /// `concierge migrate` on the case's database.
    pub fn migrate(&self) -> anyhow::Result<()> {
        let status = Command::new(self.binary)
            .arg("migrate")
            .env("DATABASE_URL", self.database_url)
            .env("RUST_LOG", "warn")
            .status()
            .context("cannot run concierge migrate")?;
        anyhow::ensure!(status.success(), "concierge migrate failed");
        Ok(())
    }

    /// Starts `concierge api` and returns it with the address it listens on.
    pub fn start_api(&self, google: &str, all_cpus: bool) -> anyhow::Result<(Process, String)> {
        use std::io::BufRead;
        let mut child = self
            .command("api", google, all_cpus)
            .env("LOG_LEVEL", "info")
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        let stderr = child.stderr.take().context("stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if !sent
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("API listening"))
                {
                    let _ = tx.send(v["address"].as_str().unwrap_or_default().to_owned());
                    sent = true;
                }
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(60))
            .context("concierge api did not start listening")?;
        Ok((Process(child), address))
    }
}
