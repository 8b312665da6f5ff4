//! The HTTP app in-process, on a free port, against the test's own database and Redis prefix;
//! optionally with the workers running beside it and the OAuth providers faked.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use store::secret::Secret;
use tokio_util::sync::CancellationToken;

use crate::{FakeOAuth, TestDb, TestRedis};

/// How to build the app under test; the defaults fit most tests.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Use this database URL instead of the test database (e.g. through a [`crate::TcpProxy`]).
    pub database_url: Option<String>,
    /// Use this Redis URL for the health check instead of the test Redis.
    pub redis_url: Option<String>,
    /// Leave the test database empty (not migrated).
    pub unmigrated: bool,
    pub max_body_bytes: usize,
    /// Run the workers in-process beside the API.
    pub workers: bool,
    /// Configure Discord and Google OAuth against a fake provider (started for the test).
    pub oauth: bool,
    /// With `oauth`: give Google no redirect URI (seed 002's `.env`: token sign-in only).
    pub google_without_redirect: bool,
    /// Google's redirect URI is this path of the app itself (the admin console's `/admin`),
    /// not the fake's landing page.
    pub google_redirect_to_app: Option<&'static str>,
    pub web_app_base_url: Option<String>,
    /// How long requests wait for their job.
    pub job_wait: Duration,
    pub limits: api::Limits,
    /// Requests that may wait for a job at once.
    pub max_waiters: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: api::TrustedProxies,
    /// Where the workers' mail goes: `.eml` files in a fresh directory unless set.
    pub smtp_port: Option<u16>,
    /// Share another app's Redis key prefix (its queues and rate limits), as a second replica
    /// of the same deployment would.
    pub redis_prefix: Option<String>,
    /// Use this admin key instead of a fresh one (a second replica of one deployment).
    pub api_key: Option<String>,
    /// Seed 002's login log file (`LOGIN_LOG_FILE`); none unless set.
    pub login_log_file: Option<PathBuf>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            database_url: None,
            redis_url: None,
            unmigrated: false,
            max_body_bytes: 64 * 1024,
            workers: false,
            oauth: false,
            google_without_redirect: false,
            google_redirect_to_app: None,
            web_app_base_url: None,
            job_wait: Duration::from_secs(10),
            limits: api::Limits::default(),
            max_waiters: jobs::redis::DEFAULT_MAX_WAITERS,
            trusted_proxies: api::TrustedProxies::default(),
            smtp_port: None,
            redis_prefix: None,
            api_key: None,
            login_log_file: None,
        }
    }
}

/// A running app. Stops (with its workers) when dropped.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    /// The job board (apalis-board's UI) on a port of its own: `http://127.0.0.1:<port>`.
    pub board_address: String,
    pub addr: SocketAddr,
    pub db: TestDb,
    pub redis: TestRedis,
    /// The admin API key (`x-api-key`).
    pub api_key: String,
    /// Does not follow redirects, so tests see them.
    pub client: reqwest::Client,
    pub producer: jobs::Producer,
    /// The fake provider, when `oauth` was asked for.
    pub oauth: Option<FakeOAuth>,
    /// Where mails are written when no SMTP port was given.
    pub mail_dir: PathBuf,
    /// The key access JWTs are signed with.
    pub jwt_secret: String,
    /// The key job payloads' secrets are sealed with (API, workers and bot share it).
    pub sealing_key: String,
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

    /// `POST {address}{path}` with the admin API key.
    pub fn post_admin(&self, path: &str) -> reqwest::RequestBuilder {
        self.post(path).header("x-api-key", &self.api_key)
    }

    pub fn delete_admin(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .delete(format!("{}{path}", self.address))
            .header("x-api-key", &self.api_key)
    }

    /// The fake provider (panics when the app was built without `oauth`).
    pub fn fake_oauth(&self) -> &FakeOAuth {
        self.oauth
            .as_ref()
            .expect("the app was built with oauth: true")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = std::fs::remove_dir_all(&self.mail_dir);
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

fn url(s: &str) -> url::Url {
    url::Url::parse(s).expect("URL")
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
            settings.acquire_timeout = Duration::from_secs(1);
            store::connect(&settings)
        }
        None => db.pool.clone(),
    };
    let redis_client = match &options.redis_url {
        Some(url) => jobs::redis::RedisClient::open(url).expect("Redis URL"),
        None => redis.client.clone(),
    };
    let prefix = options.redis_prefix.as_deref().unwrap_or(&redis.prefix);
    let producer = jobs::Producer::connect(redis.client.clone(), prefix)
        .await
        .expect("producer");
    let api_key = options
        .api_key
        .clone()
        .unwrap_or_else(|| store::secret::generate(24));
    let jwt_secret = store::secret::generate(32);
    let sealing_key = store::secret::generate(32);
    let oauth = if options.oauth {
        Some(FakeOAuth::start().await)
    } else {
        None
    };
    let public = |base: &str, path: &str| api::PublicClient {
        client_id: crate::oauth::CLIENT_ID.into(),
        redirect_uri: url(&format!("{base}{path}")),
    };
    let fake = oauth.as_ref();
    let stop = CancellationToken::new();
    // The API's own address is needed for Discord's redirect URI: bind first.
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind app");
    let addr = *acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr())
        .expect("app address");
    let address = format!("http://{addr}");
    let discord = fake.map(|_| api::PublicClient {
        client_id: crate::oauth::CLIENT_ID.into(),
        redirect_uri: url(&format!("{address}/api/discord/callback")),
    });
    let config = api::ApiConfig {
        secret_key: Secret::new(api_key.clone()),
        sealer: store::secret::Sealer::provider_tokens(&Secret::new(sealing_key.clone())),
        build: api::BuildInfo {
            version: "test".into(),
            git_commit: "test".into(),
            profile: "test".into(),
        },
        web_app_base_url: options.web_app_base_url.as_deref().map(url),
        discord: discord.clone(),
        discord_authorize_url: url(&format!(
            "{}/oauth2/authorize",
            fake.map(|f| f.url.as_str())
                .unwrap_or("https://discord.com")
        )),
        discord_invite_url: None,
        google: fake.filter(|_| !options.google_without_redirect).map(|o| {
            match options.google_redirect_to_app {
                Some(path) => public(&address, path),
                None => public(o.url.as_str(), "/google/landing"),
            }
        }),
        google_client_id: fake.map(|_| crate::oauth::CLIENT_ID.into()),
        google_authorize_url: url(&format!(
            "{}/oauth2/authorize",
            fake.map(|f| f.url.as_str())
                .unwrap_or("https://accounts.google.com")
        )),
        jwt: api::jwt::JwtSettings {
            secret: Secret::new(jwt_secret.clone()),
            ttl: Duration::from_secs(3600),
        },
        refresh_ttl: Duration::from_secs(30 * 86_400),
        job_wait: options.job_wait,
        max_waiters: options.max_waiters,
        limits: options.limits,
        trusted_proxies: options.trusted_proxies.clone(),
        login_log_file: options.login_log_file.clone(),
        job_lease: jobs::QueueConfig::default().lease,
    };
    let mail_dir = std::env::temp_dir().join(format!("concierge-mail-{}", uuid::Uuid::new_v4()));
    if options.workers {
        let deps = worker_deps(
            &db,
            &producer,
            &sealing_key,
            fake,
            discord.as_ref().map(|d| d.redirect_uri.clone()),
            match options.smtp_port {
                Some(port) => workers::providers::smtp::Mailer::smtp(
                    &workers::providers::smtp::SmtpSettings {
                        host: "127.0.0.1".into(),
                        port,
                        username: None,
                        password: None,
                        tls: workers::providers::smtp::SmtpTls::None,
                    },
                )
                .expect("SMTP mailer"),
                None => workers::providers::smtp::Mailer::files(&mail_dir),
            },
        );
        // The workers use the API's database (through `database_url` when given).
        let deps = workers::Deps {
            db: pool.clone(),
            ..deps
        };
        tokio::spawn(workers::run(deps, fast_workers(), stop.clone()));
    }
    let state = api::AppState::new(pool, redis_client, producer.clone(), config);
    let board_acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind the board's port");
    let board_address = format!(
        "http://{}",
        board_acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .expect("the board's address")
    );
    let board = api::board::board(state.clone());
    let token = stop.clone();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(board_acceptor)
            .run_with_graceful_shutdown(board, async move { token.cancelled().await }, None)
            .await;
    });
    let app = api::app(
        state,
        api::HttpSettings {
            max_body_bytes: options.max_body_bytes,
        },
    );
    let token = stop.clone();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, async move { token.cancelled().await }, None)
            .await;
    });
    TestApp {
        address,
        board_address,
        addr,
        db,
        redis,
        api_key,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        producer,
        oauth,
        mail_dir,
        jwt_secret,
        sealing_key,
        stop,
    }
}

/// Worker settings for tests: short backoffs and heartbeats, no probe queues.
pub fn fast_workers() -> workers::WorkerSettings {
    let mut queue = jobs::QueueConfig {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        idle_wait: Duration::from_millis(100),
        // The tests wait for and read the outcomes of all kinds of jobs, after they finished.
        keep_results: true,
        ..jobs::QueueConfig::default()
    };
    queue.heartbeat = Duration::from_millis(500);
    workers::WorkerSettings {
        queue,
        probe_queues: Vec::new(),
        grace: Duration::from_secs(5),
        ..workers::WorkerSettings::default()
    }
}

/// The workers' dependencies against the test's database and Redis, with `sealing_key` as the
/// sealing key and OAuth against `fake` when given.
pub fn worker_deps(
    db: &TestDb,
    producer: &jobs::Producer,
    sealing_key: &str,
    fake: Option<&FakeOAuth>,
    discord_redirect: Option<url::Url>,
    mailer: workers::providers::smtp::Mailer,
) -> workers::Deps {
    use workers::providers::oauth::{Oauth, OauthSettings, ProviderClient};
    let settings = match fake {
        Some(f) => {
            let client = |redirect: url::Url| ProviderClient {
                client_id: crate::oauth::CLIENT_ID.into(),
                client_secret: Secret::new(crate::oauth::CLIENT_SECRET),
                redirect_uri: Some(redirect),
                token_url: url(&format!("{}/oauth2/token", f.url)),
            };
            OauthSettings {
                discord: Some(client(
                    discord_redirect.unwrap_or_else(|| url(&format!("{}/discord/landing", f.url))),
                )),
                discord_api_base: url(&format!("{}/api/v10", f.url)),
                google: Some(client(url(&format!("{}/google/landing", f.url)))),
                google_userinfo_url: url(&format!("{}/userinfo", f.url)),
                google_tokeninfo_url: url(&format!("{}/tokeninfo", f.url)),
            }
        }
        None => OauthSettings {
            discord: None,
            discord_api_base: url("https://discord.com/api/v10"),
            google: None,
            google_userinfo_url: url("https://openidconnect.googleapis.com/v1/userinfo"),
            google_tokeninfo_url: url("https://oauth2.googleapis.com/tokeninfo"),
        },
    };
    workers::Deps {
        producer: producer.clone(),
        db: db.pool.clone(),
        email: workers::send_email::EmailSettings {
            mailer,
            from: "Concierge <noreply@concierge.test>".into(),
            community: "Rustaceans".into(),
            invitation_ttl: Duration::from_secs(7 * 86_400),
            verification_ttl: Duration::from_secs(86_400),
            mails_per_address: 3,
            anonymous_mails_per_hour: 1000,
        },
        oauth: Oauth::new(settings).expect("OAuth HTTP client"),
        discord: None,
        ai: workers::providers::ai::Ai::new(workers::providers::ai::AiSettings::default())
            .expect("AI HTTP client"),
        gate: workers::guild::GateSettings::default(),
        sealer: store::secret::Sealer::provider_tokens(&Secret::new(sealing_key)),
    }
}
