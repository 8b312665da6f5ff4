//! Test support for Concierge's integration tests: real Postgres and Redis, isolated per test.
//!
//! # Layout
//! - [`TestDb`]: a database of its own for each test, cloned in milliseconds from a template
//!   that is migrated once per schema (keyed by the migrations' fingerprint, built under an
//!   advisory lock so parallel test processes build it once), dropped when the test ends;
//!   `seed` writes the rows many tests start from (a user, a Discord link, an invitation
//!   token).
//! - [`TestRedis`]: a key prefix of its own for each test, its keys deleted when it ends.
//! - [`spawn_app`]: the whole HTTP app in-process on a free port, with a client.
//! - [`browser`]: headless Chromium over the DevTools protocol, for the pages' tests.
//! - [`TcpProxy`]: a TCP forwarder that can be stopped, to take a dependency away mid-test.
//! - [`AuthProxy`]: an HTTP proxy adding Basic credentials, for browsers in tests.
//! - [`SmtpSink`]: an SMTP server that records messages (and rejects on request).
//! - [`FakeOAuth`]: Discord's and Google's OAuth and profile endpoints over real HTTP.
//! - [`FakeDiscord`]: Discord's REST API and gateway (WebSocket) as serenity uses them
//!   (`discord/`: the handle and its state in `mod`, the endpoints in `rest`, the WebSocket
//!   session in `gateway`, Discord's objects as the fake writes them in `json`).
//! - [`FakeOpenAi`]: an OpenAI-compatible chat, image and speech API over real HTTP.
//! - [`otlp::FakeCollector`]: an OpenTelemetry collector's OTLP/HTTP traces endpoint.
//! - `wait`: the one polling loop the fakes' `wait_for`s share.
//! - [`eventually`]: polls for state no fake announces, up to a deadline.
//!
//! The servers are the local ones of the project's machines (`127.0.0.1:5432`, user
//! `postgres`, trust auth; `127.0.0.1:6379`); `CONCIERGE_TEST_PG_URL` and
//! `CONCIERGE_TEST_REDIS_URL` point elsewhere, and `CONCIERGE_TEST_REDIS_CLUSTER` (nodes of
//! a Redis Cluster, `host:port,…`) runs every test that uses [`TestRedis`] on that cluster
//! instead (`.ci/run` runs the Redis tests both ways). (Test support is the one place besides the
//! binary's `config/` that reads the environment.)

mod app;
pub mod browser;
mod db;
pub mod discord;
mod eventually;
pub mod oauth;
pub mod openai;
pub mod otlp;
mod proxy;
mod redis_ns;
mod seed;
mod smtp;
mod wait;

pub use app::{AppOptions, TestApp, fast_workers, spawn_app, spawn_app_with, worker_deps};
pub use db::TestDb;
pub use discord::FakeDiscord;
pub use eventually::eventually;
pub use oauth::FakeOAuth;
pub use openai::FakeOpenAi;
pub use proxy::{AuthProxy, TcpProxy};
pub use redis_ns::TestRedis;
pub use smtp::{ReceivedMail, SmtpSink};

/// Runs `work` to its end on a thread with a runtime of its own, and waits for it: for the
/// clean-ups in `Drop`, which run inside a test's runtime and cannot block on it.
pub(crate) fn finish_on_own_runtime(work: impl Future<Output = ()> + Send + 'static) {
    let handle = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(work);
        }
    });
    let _ = handle.join();
}

/// The Postgres server tests use, as an admin URL (database `postgres`).
pub fn pg_admin_url() -> String {
    std::env::var("CONCIERGE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The nodes of the Redis Cluster the tests run on instead of one node, when
/// `CONCIERGE_TEST_REDIS_CLUSTER` names some (`host:port`, comma-separated).
pub fn redis_cluster_nodes() -> Option<Vec<String>> {
    let nodes: Vec<String> = std::env::var("CONCIERGE_TEST_REDIS_CLUSTER")
        .ok()?
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    (!nodes.is_empty()).then_some(nodes)
}

/// The Redis the tests' code talks to: the cluster of [`redis_cluster_nodes`], else the node
/// of [`redis_url`].
pub fn redis_client() -> jobs::redis::RedisClient {
    match redis_cluster_nodes() {
        Some(nodes) => {
            let urls: Vec<String> = nodes.iter().map(|n| format!("redis://{n}")).collect();
            jobs::redis::RedisClient::cluster(&urls).expect("CONCIERGE_TEST_REDIS_CLUSTER")
        }
        None => jobs::redis::RedisClient::open(&redis_url()).expect("CONCIERGE_TEST_REDIS_URL"),
    }
}

/// The settings a `concierge` process started by a test needs to use the test Redis:
/// `REDIS_URL`, and on a cluster `REDIS_CLUSTER_NODES`.
pub fn redis_env() -> Vec<(&'static str, String)> {
    let mut env = vec![("REDIS_URL", redis_url())];
    if let Some(nodes) = redis_cluster_nodes() {
        env.push(("REDIS_CLUSTER_NODES", nodes.join(",")));
    }
    env
}

/// The Redis server tests use (on a cluster run, a URL scheme and credentials only: see
/// [`redis_env`]).
pub fn redis_url() -> String {
    std::env::var("CONCIERGE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Logs of the code under test, shown for failing tests (`RUST_LOG` to change the level).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_test_writer()
        .try_init();
}
