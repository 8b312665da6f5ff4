//! The HTTP app in-process, on a free port, against the test's own database and Redis prefix.

use std::net::SocketAddr;

use poem::listener::{Acceptor, Listener, TcpListener};
use store::secret::Secret;
use tokio_util::sync::CancellationToken;

use crate::{TestDb, TestRedis};

/// How to build the app under test; the defaults fit most tests.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Use this database URL instead of the test database (e.g. through a [`crate::TcpProxy`]).
    pub database_url: Option<String>,
    /// Use this Redis URL instead of the test Redis.
    pub redis_url: Option<String>,
    /// Leave the test database empty (not migrated).
    pub unmigrated: bool,
    pub max_body_bytes: usize,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            database_url: None,
            redis_url: None,
            unmigrated: false,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// A running app. Stops when dropped.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub addr: SocketAddr,
    pub db: TestDb,
    pub redis: TestRedis,
    /// The admin API key (`x-api-key`).
    pub api_key: String,
    pub client: reqwest::Client,
    stop: CancellationToken,
}

impl TestApp {
    /// `GET {address}{path}`.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.address))
    }

    /// `GET {address}{path}` with the admin API key.
    pub fn get_admin(&self, path: &str) -> reqwest::RequestBuilder {
        self.get(path).header("x-api-key", &self.api_key)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.address))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    crate::init_logging();
    let db = if options.unmigrated {
        TestDb::empty().await
    } else {
        TestDb::new().await
    };
    let redis = TestRedis::new().await;
    let pool = match &options.database_url {
        Some(url) => {
            let mut settings = store::DatabaseSettings::from_url(url).expect("database URL");
            settings.acquire_timeout = std::time::Duration::from_secs(1);
            store::connect(&settings)
        }
        None => db.pool.clone(),
    };
    let redis_client =
        redis::Client::open(options.redis_url.as_deref().unwrap_or(&redis.url)).expect("Redis URL");
    let api_key = store::secret::generate(24);
    let state = api::AppState::new(
        pool,
        redis_client,
        Secret::new(api_key.clone()),
        api::BuildInfo {
            version: "test".into(),
            git_commit: "test".into(),
            profile: "test".into(),
        },
    );
    let app = api::app(
        state,
        api::HttpSettings {
            max_body_bytes: options.max_body_bytes,
        },
    );
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind app");
    let addr = *acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr())
        .expect("app address");
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, async move { token.cancelled().await }, None)
            .await;
    });
    TestApp {
        address: format!("http://{addr}"),
        addr,
        db,
        redis,
        api_key,
        client: reqwest::Client::new(),
        stop,
    }
}
