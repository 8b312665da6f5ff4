//! What the API is built from and what every handler shares: the settings the composition
//! root resolves ([`ApiConfig`], [`Limits`], [`HttpSettings`], [`BuildInfo`], [`PublicClient`])
//! and [`AppState`], the cheap handle to the database, Redis, the job producer and the rate
//! limiter. It sits below the resource modules: they import it, it imports none of them.

use std::sync::Arc;
use std::time::Duration;

use poem_openapi::Object;
use store::secret::Secret;
use url::Url;

use crate::client::TrustedProxies;
use crate::error::Or500;
use crate::jwt;

/// What this build is, as reported by `/api/health/detailed`.
#[derive(Debug, Clone, Object)]
pub struct BuildInfo {
    /// Package version.
    pub version: String,
    /// Git commit the binary was built from, `unknown` outside a checkout.
    pub git_commit: String,
    /// `debug` or `release`.
    pub profile: String,
}

/// The public half of an OAuth client registration: what the API puts in authorize URLs.
#[derive(Debug, Clone)]
pub struct PublicClient {
    /// Our client id at the provider, sent in every authorize URL.
    pub client_id: String,
    /// Where the provider sends the browser back; must match the registration exactly.
    pub redirect_uri: Url,
}

/// How the API reaches its providers and users.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The admin API key (`x-api-key`).
    pub secret_key: Secret,
    /// Seals secrets that travel in job payloads (a Google access token, an authorization
    /// code): built from the sealing key, never from the admin key.
    pub sealer: store::secret::Sealer,
    /// Reported by `/api/health/detailed`.
    pub build: BuildInfo,
    /// Where the frontend's `/discord/success|error|pending` pages live; `None` serves the
    /// built-in ones.
    pub web_app_base_url: Option<Url>,
    /// `None` when Discord OAuth is not configured.
    pub discord: Option<PublicClient>,
    /// Discord's authorization endpoint (a test double's in tests).
    pub discord_authorize_url: Url,
    /// `DISCORD_BOT_INVITE_URL`, or one built from the client id.
    pub discord_invite_url: Option<Url>,
    /// Google's redirect (authorization-code) sign-in: `None` when Google is not configured
    /// or `GOOGLE_REDIRECT_URI` is not set.
    pub google: Option<PublicClient>,
    /// Our Google client id when Google sign-in is configured at all: the access-token login
    /// needs nothing more. `google` (the redirect flow) also needs `GOOGLE_REDIRECT_URI`.
    pub google_client_id: Option<String>,
    /// Google's authorization endpoint (a test double's in tests).
    pub google_authorize_url: Url,
    /// Signs and checks the access tokens we issue.
    pub jwt: jwt::JwtSettings,
    /// Lifetime of refresh tokens.
    pub refresh_ttl: Duration,
    /// How long a request waits for the job that answers it (OAuth exchanges).
    pub job_wait: Duration,
    /// Requests of this process that may wait for a job at once; beyond it they answer with
    /// the job id at once (202, or the pending page).
    pub max_waiters: usize,
    /// What each caller may do (counted by `limits`).
    pub limits: Limits,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// The workers' job lease (`JOB_LEASE_SECONDS`): a worker that heartbeated within two of
    /// them is live (the dashboard, the health check).
    pub job_lease: Duration,
    /// Seed 002's login log (`LOGIN_LOG_FILE`): sign-ins, refreshes, sign-outs and username
    /// changes as lines; `None`: audit rows only.
    pub login_log_file: Option<std::path::PathBuf>,
}

/// Everything a request handler may use. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Every row the API reads or writes.
    db: store::Pool,
    /// For the health check: a fresh connection proves Redis takes new clients.
    redis: jobs::redis::RedisClient,
    /// Pushes jobs and waits for their outcome.
    producer: jobs::Producer,
    /// Counts requests and attempts against [`Limits`], shared by every replica.
    limiter: jobs::ratelimit::RateLimiter,
    /// Fixed at start.
    config: ApiConfig,
}

impl AppState {
    pub fn new(
        db: store::Pool,
        redis: jobs::redis::RedisClient,
        producer: jobs::Producer,
        config: ApiConfig,
    ) -> Self {
        let producer = producer.with_max_waiters(config.max_waiters);
        Self {
            inner: Arc::new(Inner {
                db,
                redis,
                limiter: jobs::ratelimit::RateLimiter::new(&producer),
                producer,
                config,
            }),
        }
    }

    pub(crate) fn producer(&self) -> &jobs::Producer {
        &self.inner.producer
    }

    pub(crate) fn limiter(&self) -> &jobs::ratelimit::RateLimiter {
        &self.inner.limiter
    }

    pub(crate) fn sealer(&self) -> &store::secret::Sealer {
        &self.inner.config.sealer
    }

    /// Records an action in the audit log; a failure is an internal error of the request.
    pub(crate) async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: serde_json::Value,
    ) -> poem::Result<()> {
        store::audit::record(self.db(), actor, action, target, detail)
            .await
            .or_500(&format!("recording `{action}` in the audit log"))
    }

    pub(crate) fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    pub fn db(&self) -> &store::Pool {
        &self.inner.db
    }

    pub fn redis(&self) -> &jobs::redis::RedisClient {
        &self.inner.redis
    }

    pub(crate) fn secret_key(&self) -> &Secret {
        &self.inner.config.secret_key
    }

    pub(crate) fn build(&self) -> &BuildInfo {
        &self.inner.config.build
    }
}

/// Settings of the HTTP layer itself.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
}

/// How much each caller may do; every field is a setting (see the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests of any kind per client address per minute.
    pub requests_per_ip: u32,
    /// Onboardings per client address per hour.
    pub onboardings_per_ip: u32,
    /// Onboardings of one email from one client address per hour.
    pub onboardings_per_email: u32,
    /// Onboardings of one email from all addresses per hour.
    pub onboardings_per_email_total: u32,
    /// Mails that anonymous requests may cause to one mailbox per hour (verification and
    /// link mails; the workers enforce the same cap).
    pub mails_per_address: u32,
    /// The same mails in all, per hour.
    pub anonymous_mails_per_hour: u32,
    /// Sign-in attempts (Google login, Discord callback, Google code flow start) per address
    /// per `window`.
    pub sign_ins_per_ip: u32,
    /// Attempts at short secrets per client address per `window`.
    pub secret_attempts_per_ip: u32,
    /// Attempts at short secrets per Discord account per `window`.
    pub secret_attempts_per_discord_id: u32,
    /// Failed attempts on one email from one source (address or Discord account) per
    /// `window`; then that source is locked out of that email until the window ends.
    pub failures_per_email_and_source: u32,
    /// Failed admin authentications per address per `window`; then that address is refused
    /// until the window ends, right key or not.
    pub admin_failures_per_ip: u32,
    /// The window of the sign-in, secret and failure limits.
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests_per_ip: 1200,
            onboardings_per_ip: 20,
            onboardings_per_email: 5,
            onboardings_per_email_total: 50,
            mails_per_address: 3,
            anonymous_mails_per_hour: 1000,
            sign_ins_per_ip: 60,
            secret_attempts_per_ip: 60,
            secret_attempts_per_discord_id: 10,
            failures_per_email_and_source: 5,
            admin_failures_per_ip: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}
