//! Configuration: one typed struct, resolved once at start from (lowest to highest priority)
//! built-in defaults, an optional YAML file (seed 002's `config.yml` shape: `database`,
//! `security`, `server`, plus Concierge's own sections), a `.env` file, and the process
//! environment, using the seeds' variable names. This is the only module that reads the
//! environment; every other crate receives typed values.
//!
//! Every field is documented here and shown in `concierge.example.yaml`. A missing or invalid
//! setting stops the process with one line naming it; secrets are never printed (see
//! [`store::secret::Secret`]). The defaults run the whole system on a developer machine with
//! local Postgres and Redis, emails written as `.eml` files, and built-in providers.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use store::secret::Secret;
use url::Url;
use workers::providers::smtp::{SmtpSettings, SmtpTls};

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub server: ServerConfig,
    pub logging: LoggingConfig,
    pub security: SecurityConfig,
    /// Where the process keeps files: outgoing mail as `.eml` (when no SMTP server is set) and
    /// generated secrets. `DATA_DIR`, `data_dir`; default `./data`.
    pub data_dir: PathBuf,
    /// The web frontend that OAuth callbacks redirect to (`/discord/success`, `/discord/error`).
    /// Unset: the API serves small built-in pages instead. `WEB_APP_BASE_URL`,
    /// `web_app_base_url`.
    pub web_app_base_url: Option<Url>,
    pub email: EmailConfig,
    pub discord: DiscordConfig,
    pub google: GoogleConfig,
    pub ai: AiConfig,
    pub workers: WorkersConfig,
    pub telemetry: TelemetryConfig,
    pub limits: LimitsConfig,
}

/// What each caller may cost (the API's and the workers' limits, shared across replicas in
/// Redis). Every refusal is 429 with `Retry-After`. YAML section `limits`.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Requests of any kind per client address per minute. `REQUESTS_PER_IP_PER_MINUTE`,
    /// `limits.requests_per_ip_per_minute`; default 1200.
    pub requests_per_ip_per_minute: u32,
    /// Onboardings per client address per hour. `ONBOARDINGS_PER_IP_PER_HOUR`,
    /// `limits.onboardings_per_ip_per_hour`; default 20.
    pub onboardings_per_ip_per_hour: u32,
    /// Onboardings of one email from one client address per hour.
    /// `ONBOARDINGS_PER_EMAIL_PER_HOUR`, `limits.onboardings_per_email_per_hour`; default 5.
    pub onboardings_per_email_per_hour: u32,
    /// Onboardings of one email from all addresses per hour (high: reaching it locks the
    /// owner out of onboarding too, so only many addresses together can).
    /// `ONBOARDINGS_PER_EMAIL_TOTAL_PER_HOUR`, `limits.onboardings_per_email_total_per_hour`;
    /// default 50.
    pub onboardings_per_email_total_per_hour: u32,
    /// Mails that anyone can cause (verification codes, link notices) per recipient mailbox
    /// per hour (`+tags` and Gmail's dots do not make another mailbox).
    /// `MAILS_PER_ADDRESS_PER_HOUR`, `limits.mails_per_address_per_hour`; default 3.
    pub mails_per_address_per_hour: u32,
    /// The same mails in all, per hour, whatever the recipients.
    /// `ANONYMOUS_MAILS_PER_HOUR`, `limits.anonymous_mails_per_hour`; default 1000.
    pub anonymous_mails_per_hour: u32,
    /// Sign-in attempts (Google login, the Discord callback, starting a Google code flow) per
    /// client address per window. `SIGN_INS_PER_IP`, `limits.sign_ins_per_ip`; default 60.
    pub sign_ins_per_ip: u32,
    /// Attempts at invitation and verification tokens and `/login` codes per client address
    /// per window. `SECRET_ATTEMPTS_PER_IP`, `limits.secret_attempts_per_ip`; default 60.
    pub secret_attempts_per_ip: u32,
    /// The same per Discord account (API and bot). `SECRET_ATTEMPTS_PER_DISCORD_ID`,
    /// `limits.secret_attempts_per_discord_id`; default 10.
    pub secret_attempts_per_discord_id: u32,
    /// Wrong tokens for one email from one source (an address, a Discord account) per window;
    /// then that source is locked out of that email until the window ends. Wrong tokens
    /// never kill the right one. `FAILURES_PER_EMAIL_AND_SOURCE`,
    /// `limits.failures_per_email_and_source`; default 5.
    pub failures_per_email_and_source: u32,
    /// Failed admin authentications (`x-api-key`, API tokens, the board's password) per
    /// client address per window; then that address is refused until the window ends.
    /// `ADMIN_FAILURES_PER_IP`, `limits.admin_failures_per_ip`; default 20.
    pub admin_failures_per_ip: u32,
    /// The window of the per-window limits. `RATE_LIMIT_WINDOW_SECONDS`,
    /// `limits.window_seconds`; default 900.
    pub window: Duration,
    /// Requests of one API process that may wait for a job at once (OAuth exchanges); beyond
    /// it they answer at once with the job id to poll. All waiters share one Redis
    /// connection. `MAX_JOB_WAITERS`, `limits.max_job_waiters`; default 10000.
    pub max_job_waiters: usize,
}

/// The chat, image and speech providers of the bot's replies. Each is an OpenAI-compatible
/// HTTP API (base URL, model, key); without a base URL the built-in ones answer: a clearly
/// labelled local responder, a local renderer that draws a PNG from the prompt, no voice notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiConfig {
    pub chat: Option<AiProvider>,
    pub image: Option<AiProvider>,
    pub speech: Option<AiProvider>,
    /// Voice of spoken replies. `SPEECH_VOICE`, `ai.speech_voice`; default `alloy`.
    pub speech_voice: String,
    /// Earlier turns sent with each chat request. `CHAT_HISTORY_TURNS`,
    /// `ai.chat_history_turns`; default 20.
    pub chat_history_turns: u32,
}

/// One OpenAI-compatible API: `<KIND>_API_BASE_URL` (e.g. `https://api.openai.com/v1`),
/// `<KIND>_MODEL`, `<KIND>_API_KEY` (secret) for KIND in CHAT, IMAGE, SPEECH; YAML
/// `ai.<kind>_base_url`, `ai.<kind>_model`, `ai.<kind>_api_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiProvider {
    pub base_url: Url,
    pub model: String,
    pub api_key: Option<Secret>,
}

/// The job workers (`concierge worker`, and the workers inside `concierge all`).
#[derive(Debug, Clone)]
pub struct WorkersConfig {
    /// Jobs a worker process runs at once per queue. `WORKER_CONCURRENCY`,
    /// `workers.concurrency`; default 16.
    pub concurrency: usize,
    /// Per-queue overrides: `WORKER_CONCURRENCY_<QUEUE>` (e.g. `WORKER_CONCURRENCY_PROBE=64`),
    /// `workers.queue_concurrency: {probe: 64}`.
    pub queue_concurrency: HashMap<String, usize>,
    /// Queues of probe jobs this process serves. `PROBE_QUEUES` (comma-separated),
    /// `workers.probe_queues`; default `probe`.
    pub probe_queues: Vec<String>,
    /// A job's lease: a worker that stops heartbeating loses its jobs to others this long
    /// after its last heartbeat. `JOB_LEASE_SECONDS`, `workers.lease_seconds`; default 6.
    pub lease: Duration,
    /// How long finished jobs' states and results stay in Redis. `JOB_RESULT_TTL_SECONDS`,
    /// `workers.result_ttl_seconds`; default 3600.
    pub result_ttl: Duration,
    /// How long dead jobs stay in the dead-letter set. `JOB_DEAD_TTL_DAYS`,
    /// `workers.dead_ttl_days`; default 7.
    pub dead_ttl: Duration,
    /// How often the housekeeping `sweep` job fires (once across all replicas).
    /// `SWEEP_INTERVAL_SECONDS`, `workers.sweep_interval_seconds`; default 300.
    pub sweep_every: Duration,
    /// Where `concierge worker` serves Prometheus `/metrics` and `/health` (on HOST).
    /// `WORKER_METRICS_PORT`, `workers.metrics_port`; default 9464; 0 turns it off. In
    /// `concierge all` the API's `/metrics` shows the workers' metrics instead.
    pub metrics_port: u16,
}

/// Postgres.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Connection settings from `DATABASE_URL` (`database.url`) or, when that is unset, the
    /// parts `DB_HOST` (default `127.0.0.1`), `DB_PORT` (5432), `DB_USER` (`postgres`),
    /// `DB_PASSWORD` (none), `DB_NAME` (`concierge`) and `DB_SSL` (`false`; `true` requires
    /// TLS). The database is created on first start when it does not exist.
    pub settings: store::DatabaseSettings,
}

/// Redis, which holds the job queues and rate-limit counters.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`, `redis.url`; default `redis://127.0.0.1:6379`. `rediss://` uses TLS. The
    /// URL may carry a password, so it is kept as a secret.
    pub url: Secret,
    /// Prepended to every key Concierge writes, so several deployments (or tests) can share one
    /// Redis. `REDIS_KEY_PREFIX`, `redis.key_prefix`; default `concierge`.
    pub key_prefix: String,
}

/// The HTTP server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. `HOST`, `server.host`; default `0.0.0.0` (seed 002).
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one. `PORT`, `server.port`; default 8000 (seed 002).
    pub port: u16,
    /// Largest request body accepted; larger ones get 413. `MAX_BODY_BYTES`,
    /// `server.max_body_bytes`; default 10 MiB (enough for a 100k-row invitation CSV).
    pub max_body_bytes: usize,
    /// The port of the job board (apalis-board's UI and its `/api/v1`), served by the API
    /// process on `host`; it needs a port of its own. 0 turns it off. `BOARD_PORT`,
    /// `server.board_port`; default 8001.
    pub board_port: u16,
    /// On SIGTERM/SIGINT, how long in-flight requests (and, in workers, running jobs) may take
    /// to finish before the process exits. `SHUTDOWN_GRACE_SECONDS`,
    /// `server.shutdown_grace_seconds`; default 30.
    pub shutdown_grace: Duration,
}

/// Trace export to an OpenTelemetry collector. Off unless a collector URL is set; the W3C
/// trace context travels from requests and Discord events into jobs either way.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP traces URL (protobuf). `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// (the full URL), else `OTEL_EXPORTER_OTLP_ENDPOINT` / `telemetry.otlp_endpoint` (the
    /// collector's base URL, e.g. `http://otel-collector:4318`; `/v1/traces` is appended), as
    /// OpenTelemetry SDKs read them. `None`: nothing is exported (default).
    pub otlp_traces_url: Option<Url>,
    /// Headers sent with every export, e.g. a vendor's API key. `OTEL_EXPORTER_OTLP_HEADERS`
    /// / `telemetry.otlp_headers`: `name=value,name2=value2`, values percent-encoded. Secret.
    pub otlp_headers: Vec<(String, Secret)>,
    /// `service.name` of exported spans (the command, `api`/`worker`/..., is added as
    /// `concierge.role`). `OTEL_SERVICE_NAME`, `telemetry.service_name`; default `concierge`.
    pub service_name: String,
    /// Share of new traces exported, 0.0 to 1.0. A trace that arrives with a caller's
    /// `traceparent` keeps the caller's decision. `OTEL_TRACES_SAMPLER_ARG`,
    /// `telemetry.sample_ratio`; default 1.0.
    pub sample_ratio: f64,
}

/// Logs.
#[derive(Debug, Clone)]
pub struct LoggingConfig {
    /// A `tracing` filter. `RUST_LOG` (full filter syntax, e.g. `info,sqlx=warn`) wins over
    /// `LOG_LEVEL` / `server.log_level` (`trace`, `debug`, `info`, `warn`, `error`; seed 002
    /// writes `INFO`); default `info`, or `debug` when `DEBUG` / `server.debug` is true.
    pub filter: String,
    /// `human` (default) or `json` (one object per line, for log shippers). `LOG_FORMAT`,
    /// `server.log_format`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Keys and token lifetimes.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// The admin API key checked against the `x-api-key` header (seed 003). `SECRET_KEY`,
    /// `security.secret_key`; at least 16 characters. Unset: a random key is generated once and
    /// kept in `<DATA_DIR>/secrets/secret_key` (fine for one machine; set it explicitly when
    /// several replicas must agree).
    pub secret_key: Secret,
    /// HMAC key of the access JWTs we issue. `JWT_SECRET`, `security.jwt_secret`; at least 32
    /// characters. Unset: generated and kept in `<DATA_DIR>/secrets/jwt_secret`, as above.
    pub jwt_secret: Secret,
    /// The key sealing secrets we must read back (provider tokens at rest, secrets travelling
    /// in job payloads). Apart from the admin key on purpose: the bot and the workers hold it,
    /// not the admin key. `SEALING_KEY`, `security.sealing_key`; at least 32 characters. Unset:
    /// generated and kept in `<DATA_DIR>/secrets/sealing_key`, as above; the API, the workers
    /// and the bot must share it.
    pub sealing_key: Secret,
    /// Earlier sealing keys, still used to open what they sealed (never to seal): set the old
    /// key here when rotating, run `concierge reseal`, then remove it.
    /// `SEALING_KEY_PREVIOUS` (comma-separated), `security.sealing_key_previous` (a list).
    pub sealing_key_previous: Vec<Secret>,
    /// Proxies whose `X-Forwarded-For` names the client (for per-address limits): CIDRs or
    /// addresses, comma-separated. `TRUSTED_PROXIES`, `security.trusted_proxies`; default none (the TCP
    /// peer is the client).
    pub trusted_proxies: api::TrustedProxies,
    /// Lifetime of access JWTs. `ACCESS_TOKEN_EXPIRY_MINUTES`,
    /// `security.access_token_expiry_minutes`; default 60 (seed 002).
    pub access_token_expiry: Duration,
    /// Lifetime of refresh tokens. `REFRESH_TOKEN_EXPIRY_DAYS`,
    /// `security.refresh_token_expiry_days`; default 30 (seed 002).
    pub refresh_token_expiry: Duration,
    /// Lifetime of invitation tokens. `TOKEN_EXPIRY_DAYS`, `security.token_expiry_days`;
    /// default 7 (seed 003).
    pub invitation_token_expiry: Duration,
}

/// Outgoing email.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// The From address. `SMTP_FROM` or `SENDGRID_FROM_EMAIL` (seed 003), `email.from`;
    /// default `Concierge <concierge@localhost>`.
    pub from: String,
    /// The community's name in subjects and greetings. `COMMUNITY_NAME`,
    /// `email.community_name`; default `the community`.
    pub community_name: String,
    pub transport: EmailTransport,
}

/// Where emails go.
#[derive(Debug, Clone)]
pub enum EmailTransport {
    /// No SMTP server configured: each email is written to `<DATA_DIR>/outbox/*.eml`.
    Files { dir: PathBuf },
    /// An SMTP relay. `SMTP_HOST`, `SMTP_PORT` (default 587, or 465 with `tls`),
    /// `SMTP_USERNAME`, `SMTP_PASSWORD`, `SMTP_TLS` (`starttls` default, `tls`, or `none` for a
    /// local sink). `SENDGRID_API_KEY` alone selects SendGrid's relay (`smtp.sendgrid.net`,
    /// user `apikey`, the key as password).
    Smtp(SmtpSettings),
}

/// Discord: the bot, OAuth account linking and the verification gate.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// The bot's token. `DISCORD_BOT_TOKEN` (seed 001) or `DISCORD_TOKEN` (seed 003),
    /// `discord.bot_token`. Unset: `concierge all` runs without the bot.
    pub bot_token: Option<Secret>,
    /// OAuth application (seed 001): `DISCORD_CLIENT_ID`, `DISCORD_CLIENT_SECRET`,
    /// `DISCORD_REDIRECT_URI` (must match the application's settings exactly). All three or
    /// none; without them the callback answers `oauth_not_configured`.
    pub oauth: Option<OAuthClient>,
    /// Invite link returned by `GET /api/discord/invite`. `DISCORD_BOT_INVITE_URL`; unset, one
    /// is built from the client id.
    pub bot_invite_url: Option<Url>,
    /// Discord's REST base. `DISCORD_API_BASE_URL`; default `https://discord.com/api/v10`.
    pub api_base_url: Url,
    /// OAuth endpoints. `DISCORD_AUTHORIZE_URL` (default
    /// `https://discord.com/oauth2/authorize`), `DISCORD_TOKEN_URL` (default
    /// `https://discord.com/api/oauth2/token`).
    pub authorize_url: Url,
    pub token_url: Url,
    /// Role granted after verification (seed 003). `MEMBER_ROLE_NAME`; default `Member`.
    pub member_role_name: String,
    /// Time a new member has to verify before being kicked, unless the guild set its own with
    /// `/set_timeout`. `VERIFICATION_TIMEOUT` in seconds (seed 003); default 300.
    pub verification_timeout: Duration,
    /// Answer every message, not only DMs and mentions. `RESPOND_TO_ALL_MESSAGES`; default
    /// false.
    pub respond_to_all_messages: bool,
    /// Testing only: chat with members who never linked their account. `BYPASS_AUTH`;
    /// default false; logs a warning at start when on.
    pub bypass_auth: bool,
    /// Where verification DMs go when a member's DMs are closed (Discord error 50007), unless
    /// the guild has its own. `DISCORD_FALLBACK_CHANNEL_ID`, `discord.fallback_channel_id`.
    pub fallback_channel_id: Option<u64>,
    /// Where the bot reports what it could not do (missing permission, role above its own),
    /// unless the guild has its own. `DISCORD_LOG_CHANNEL_ID`, `discord.log_channel_id`.
    pub log_channel_id: Option<u64>,
}

/// Google sign-in (seed 002).
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`, `GOOGLE_REDIRECT_URI`: all three or none
    /// (the redirect URI is needed only by the authorization-code login).
    pub oauth: Option<OAuthClient>,
    /// Endpoints, each configurable for tests and self-hosted providers:
    /// `GOOGLE_AUTHORIZE_URL` (default `https://accounts.google.com/o/oauth2/v2/auth`),
    /// `GOOGLE_TOKEN_URL` (`https://oauth2.googleapis.com/token`), `GOOGLE_USERINFO_URL`
    /// (`https://openidconnect.googleapis.com/v1/userinfo`), `GOOGLE_TOKENINFO_URL`
    /// (`https://oauth2.googleapis.com/tokeninfo`).
    pub authorize_url: Url,
    pub token_url: Url,
    pub userinfo_url: Url,
    pub tokeninfo_url: Url,
}

/// An OAuth client registration.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: Url,
}

/// A setting that is missing or invalid. Displays as one line naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable, with the YAML key in parentheses where there is one.
    pub setting: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting {}: {}", self.setting, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// The YAML file, every key optional. Unknown keys are errors: a typo must not be ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    database: FileDatabase,
    #[serde(default)]
    redis: FileRedis,
    #[serde(default)]
    security: FileSecurity,
    #[serde(default)]
    server: FileServer,
    data_dir: Option<PathBuf>,
    web_app_base_url: Option<String>,
    #[serde(default)]
    email: FileEmail,
    #[serde(default)]
    discord: FileDiscord,
    #[serde(default)]
    google: FileGoogle,
    #[serde(default)]
    ai: FileAi,
    #[serde(default)]
    workers: FileWorkers,
    #[serde(default)]
    telemetry: FileTelemetry,
    #[serde(default)]
    limits: FileLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    requests_per_ip_per_minute: Option<u32>,
    onboardings_per_ip_per_hour: Option<u32>,
    onboardings_per_email_per_hour: Option<u32>,
    onboardings_per_email_total_per_hour: Option<u32>,
    mails_per_address_per_hour: Option<u32>,
    anonymous_mails_per_hour: Option<u32>,
    sign_ins_per_ip: Option<u32>,
    secret_attempts_per_ip: Option<u32>,
    secret_attempts_per_discord_id: Option<u32>,
    failures_per_email_and_source: Option<u32>,
    admin_failures_per_ip: Option<u32>,
    window_seconds: Option<u64>,
    max_job_waiters: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTelemetry {
    otlp_endpoint: Option<String>,
    otlp_headers: Option<String>,
    service_name: Option<String>,
    sample_ratio: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWorkers {
    concurrency: Option<usize>,
    #[serde(default)]
    queue_concurrency: HashMap<String, usize>,
    probe_queues: Option<Vec<String>>,
    lease_seconds: Option<u64>,
    result_ttl_seconds: Option<u64>,
    dead_ttl_days: Option<u64>,
    sweep_interval_seconds: Option<u64>,
    metrics_port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    database: Option<String>,
    ssl: Option<bool>,
    max_connections: Option<u32>,
    acquire_timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRedis {
    url: Option<String>,
    key_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSecurity {
    secret_key: Option<String>,
    jwt_secret: Option<String>,
    sealing_key: Option<String>,
    sealing_key_previous: Option<Vec<String>>,
    trusted_proxies: Option<String>,
    jwt_algorithm: Option<String>,
    access_token_expiry_minutes: Option<u64>,
    refresh_token_expiry_days: Option<u64>,
    token_expiry_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServer {
    host: Option<String>,
    port: Option<u16>,
    debug: Option<bool>,
    log_level: Option<String>,
    log_format: Option<String>,
    max_body_bytes: Option<usize>,
    shutdown_grace_seconds: Option<u64>,
    board_port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEmail {
    from: Option<String>,
    community_name: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    smtp_tls: Option<String>,
    sendgrid_api_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDiscord {
    bot_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    bot_invite_url: Option<String>,
    api_base_url: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    member_role_name: Option<String>,
    verification_timeout: Option<u64>,
    respond_to_all_messages: Option<bool>,
    bypass_auth: Option<bool>,
    fallback_channel_id: Option<u64>,
    log_channel_id: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAi {
    chat_base_url: Option<String>,
    chat_model: Option<String>,
    chat_api_key: Option<String>,
    chat_history_turns: Option<u32>,
    image_base_url: Option<String>,
    image_model: Option<String>,
    image_api_key: Option<String>,
    speech_base_url: Option<String>,
    speech_model: Option<String>,
    speech_api_key: Option<String>,
    speech_voice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGoogle {
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    tokeninfo_url: Option<String>,
}

/// Where the YAML file is looked for when neither `--config` nor `CONCIERGE_CONFIG` names one.
const DEFAULT_CONFIG_FILE: &str = "config.yml";

impl Config {
    /// Loads the configuration of this process: the process environment, `.env` in the
    /// working directory, and the YAML file named by `explicit_file`, `CONCIERGE_CONFIG`, or
    /// `config.yml` when that exists. Of the keys that may be generated, only those in `needs`
    /// are (loaded from or generated into `<DATA_DIR>/secrets/`): a process holds only the
    /// keys of its role (the bot and the workers never the admin key).
    pub fn load(explicit_file: Option<&Path>, needs: &[Generated]) -> Result<Self, ConfigError> {
        let mut env: HashMap<String, String> = HashMap::new();
        match dotenvy::from_path_iter(".env") {
            Ok(iter) => {
                for item in iter {
                    let (key, value) = item.map_err(|e| ConfigError {
                        setting: ".env".into(),
                        problem: format!("cannot parse the file: {e}"),
                    })?;
                    env.insert(key, value);
                }
            }
            Err(e) if e.not_found() => {}
            Err(e) => {
                return Err(ConfigError {
                    setting: ".env".into(),
                    problem: format!("cannot read the file: {e}"),
                });
            }
        }
        // The process environment wins over `.env`.
        env.extend(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        );

        let (path, required) = match explicit_file {
            Some(p) => (p.to_path_buf(), true),
            None => match non_empty(&env, "CONCIERGE_CONFIG") {
                Some(p) => (PathBuf::from(p), true),
                None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
            },
        };
        let yaml = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
            Err(e) => {
                return Err(ConfigError {
                    setting: format!("CONCIERGE_CONFIG ({})", path.display()),
                    problem: format!("cannot read the file: {e}"),
                });
            }
        };
        let mut config = Self::from_sources(&env, yaml.as_deref(), &path)?;
        config.fill_generated_secrets(needs)?;
        Ok(config)
    }

    /// Resolves the configuration from an environment and an optional YAML text (`file` names
    /// it in errors). Secrets left unset are empty here; [`Config::load`] generates them.
    pub fn from_sources(
        env: &HashMap<String, String>,
        yaml: Option<&str>,
        file: &Path,
    ) -> Result<Self, ConfigError> {
        let file_config: FileConfig = match yaml {
            Some(text) if !text.trim().is_empty() => {
                serde_yaml::from_str(text).map_err(|e| ConfigError {
                    setting: format!("CONCIERGE_CONFIG ({})", file.display()),
                    problem: e.to_string().replace('\n', " "),
                })?
            }
            _ => FileConfig::default(),
        };
        let r = Resolver { env };
        let f = file_config;

        let database = resolve_database(&r, f.database)?;

        let redis_url = r
            .string("REDIS_URL", f.redis.url)
            .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
        match Url::parse(&redis_url) {
            Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "unix" | "redis+unix") => {}
            // Never echo the URL: it may hold a password.
            _ => {
                return Err(invalid(
                    "REDIS_URL (redis.url)",
                    "expected a redis://, rediss:// or unix:// URL",
                ));
            }
        }
        let key_prefix = r
            .string("REDIS_KEY_PREFIX", f.redis.key_prefix)
            .unwrap_or_else(|| "concierge".into());
        if key_prefix.contains(['{', '}', ' ']) {
            return Err(invalid(
                "REDIS_KEY_PREFIX (redis.key_prefix)",
                format!("must not contain braces or spaces, got {key_prefix:?}"),
            ));
        }

        let logging = resolve_logging(&r, &f.server)?;
        let host = r
            .string("HOST", f.server.host)
            .unwrap_or_else(|| "0.0.0.0".into());
        let host: IpAddr = host.parse().map_err(|_| {
            invalid(
                "HOST (server.host)",
                format!("expected an IP address such as 0.0.0.0 or 127.0.0.1, got {host:?}"),
            )
        })?;
        let port = r
            .parse("PORT", "server.port", f.server.port)?
            .unwrap_or(8000);
        let board_port = r
            .parse("BOARD_PORT", "server.board_port", f.server.board_port)?
            .unwrap_or(8001);
        let max_body_bytes = r
            .parse(
                "MAX_BODY_BYTES",
                "server.max_body_bytes",
                f.server.max_body_bytes,
            )?
            .unwrap_or(10 * 1024 * 1024);
        if max_body_bytes < 1024 {
            return Err(invalid(
                "MAX_BODY_BYTES (server.max_body_bytes)",
                "must be at least 1024",
            ));
        }
        let grace = r
            .parse(
                "SHUTDOWN_GRACE_SECONDS",
                "server.shutdown_grace_seconds",
                f.server.shutdown_grace_seconds,
            )?
            .unwrap_or(30);

        let security = resolve_security(&r, f.security)?;

        let data_dir = r
            .string(
                "DATA_DIR",
                f.data_dir.map(|p| p.to_string_lossy().into_owned()),
            )
            .map_or_else(|| PathBuf::from("data"), PathBuf::from);
        let web_app_base_url = r
            .string("WEB_APP_BASE_URL", f.web_app_base_url)
            .map(|u| http_url("WEB_APP_BASE_URL (web_app_base_url)", &u))
            .transpose()?;

        let email = resolve_email(&r, f.email, &data_dir)?;
        let discord = resolve_discord(&r, f.discord)?;
        let google = resolve_google(&r, f.google)?;
        let ai = resolve_ai(&r, f.ai)?;
        let workers = resolve_workers(&r, f.workers)?;
        let telemetry = resolve_telemetry(&r, f.telemetry)?;
        let limits = resolve_limits(&r, f.limits)?;

        Ok(Config {
            database,
            redis: RedisConfig {
                url: Secret::new(redis_url),
                key_prefix,
            },
            server: ServerConfig {
                host,
                port,
                max_body_bytes,
                board_port,
                shutdown_grace: Duration::from_secs(grace),
            },
            logging,
            security,
            data_dir,
            web_app_base_url,
            email,
            discord,
            google,
            ai,
            workers,
            telemetry,
            limits,
        })
    }

    /// Fills the keys in `needs` that are unset with values generated once and kept under
    /// `<DATA_DIR>/secrets/` (mode 0600), so restarts keep sessions and keys valid. The keys
    /// not needed are emptied: nothing of this process can use them.
    fn fill_generated_secrets(&mut self, needs: &[Generated]) -> Result<(), ConfigError> {
        let dir = self.data_dir.join("secrets");
        for (which, name, slot) in [
            (
                Generated::AdminKey,
                "secret_key",
                &mut self.security.secret_key,
            ),
            (
                Generated::JwtSecret,
                "jwt_secret",
                &mut self.security.jwt_secret,
            ),
            (
                Generated::SealingKey,
                "sealing_key",
                &mut self.security.sealing_key,
            ),
        ] {
            if !needs.contains(&which) {
                *slot = Secret::new(String::new());
                continue;
            }
            if slot.expose().is_empty() {
                *slot = Secret::new(load_or_generate_secret(&dir.join(name)).map_err(|e| {
                    ConfigError {
                        setting: format!("{} (security.{name})", name.to_uppercase()),
                        problem: format!(
                            "not set, and no generated one could be kept in {}: {e}",
                            dir.display()
                        ),
                    }
                })?);
            }
        }
        Ok(())
    }
}

/// The keys a process may have generated for it when they are not configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generated {
    /// `SECRET_KEY`: the API (admin authentication).
    AdminKey,
    /// `JWT_SECRET`: the API (access tokens).
    JwtSecret,
    /// `SEALING_KEY`: the API, the workers and the bot (sealed secrets).
    SealingKey,
}

impl Generated {
    pub const ALL: &[Generated] = &[
        Generated::AdminKey,
        Generated::JwtSecret,
        Generated::SealingKey,
    ];
}

fn load_or_generate_secret(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let value = store::secret::generate(32);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, value.as_bytes())?;
            Ok(value)
        }
        // Another process on this machine generated it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?.trim().to_owned())
        }
        Err(e) => Err(e),
    }
}

fn resolve_database(r: &Resolver<'_>, f: FileDatabase) -> Result<DatabaseConfig, ConfigError> {
    let mut settings = match r.string("DATABASE_URL", f.url) {
        Some(url) => store::DatabaseSettings::from_url(&url).map_err(|e| {
            invalid(
                "DATABASE_URL (database.url)",
                format!("not a usable postgres:// URL ({e})"),
            )
        })?,
        None => {
            let host = r
                .string("DB_HOST", f.host)
                .unwrap_or_else(|| "127.0.0.1".into());
            let port = r.parse("DB_PORT", "database.port", f.port)?.unwrap_or(5432);
            let user = r
                .string("DB_USER", f.user)
                .unwrap_or_else(|| "postgres".into());
            let password = r.string("DB_PASSWORD", f.password);
            let name = r
                .string("DB_NAME", f.database)
                .unwrap_or_else(|| "concierge".into());
            let ssl = r.bool("DB_SSL", "database.ssl", f.ssl)?.unwrap_or(false);
            store::DatabaseSettings::from_parts(&host, port, &user, password.as_deref(), &name, ssl)
        }
    };
    if let Some(n) = r.parse(
        "DB_MAX_CONNECTIONS",
        "database.max_connections",
        f.max_connections,
    )? {
        if n == 0 {
            return Err(invalid(
                "DB_MAX_CONNECTIONS (database.max_connections)",
                "must be at least 1",
            ));
        }
        settings.max_connections = n;
    }
    if let Some(s) = r.parse(
        "DB_ACQUIRE_TIMEOUT_SECONDS",
        "database.acquire_timeout_seconds",
        f.acquire_timeout_seconds,
    )? {
        settings.acquire_timeout = Duration::from_secs(s.max(1));
    }
    Ok(DatabaseConfig { settings })
}

fn resolve_logging(r: &Resolver<'_>, f: &FileServer) -> Result<LoggingConfig, ConfigError> {
    let debug = r.bool("DEBUG", "server.debug", f.debug)?.unwrap_or(false);
    let filter = match r.string("RUST_LOG", None) {
        Some(filter) => {
            tracing_subscriber::EnvFilter::try_new(&filter)
                .map_err(|e| invalid("RUST_LOG", format!("not a valid filter ({e})")))?;
            filter
        }
        None => match r.string("LOG_LEVEL", f.log_level.clone()) {
            Some(level) => {
                let lower = level.to_ascii_lowercase();
                let lower = if lower == "warning" {
                    "warn".to_owned()
                } else {
                    lower
                };
                if !matches!(
                    lower.as_str(),
                    "trace" | "debug" | "info" | "warn" | "error"
                ) {
                    return Err(invalid(
                        "LOG_LEVEL (server.log_level)",
                        format!("expected one of trace, debug, info, warn, error; got {level:?}"),
                    ));
                }
                lower
            }
            None if debug => "debug".into(),
            None => "info".into(),
        },
    };
    let format = match r
        .string("LOG_FORMAT", f.log_format.clone())
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("human") | Some("text") => LogFormat::Human,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(invalid(
                "LOG_FORMAT (server.log_format)",
                format!("expected human or json, got {other:?}"),
            ));
        }
    };
    Ok(LoggingConfig { filter, format })
}

fn resolve_security(r: &Resolver<'_>, f: FileSecurity) -> Result<SecurityConfig, ConfigError> {
    let secret_key = r.string("SECRET_KEY", f.secret_key).unwrap_or_default();
    if !secret_key.is_empty() && secret_key.chars().count() < 16 {
        return Err(invalid(
            "SECRET_KEY (security.secret_key)",
            "must be at least 16 characters",
        ));
    }
    let jwt_secret = r.string("JWT_SECRET", f.jwt_secret).unwrap_or_default();
    if !jwt_secret.is_empty() && jwt_secret.len() < 32 {
        return Err(invalid(
            "JWT_SECRET (security.jwt_secret)",
            "must be at least 32 bytes for HS256",
        ));
    }
    let sealing_key = r.string("SEALING_KEY", f.sealing_key).unwrap_or_default();
    if !sealing_key.is_empty() && sealing_key.len() < 32 {
        return Err(invalid(
            "SEALING_KEY (security.sealing_key)",
            "must be at least 32 characters",
        ));
    }
    let previous = match r.string("SEALING_KEY_PREVIOUS", None) {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
        None => f.sealing_key_previous.unwrap_or_default(),
    };
    let sealing_key_previous: Vec<Secret> = previous.into_iter().map(Secret::new).collect();
    let proxies = r
        .string("TRUSTED_PROXIES", f.trusted_proxies)
        .unwrap_or_default();
    let trusted_proxies = api::TrustedProxies::parse(&proxies).map_err(|bad| {
        invalid(
            "TRUSTED_PROXIES (security.trusted_proxies)",
            format!("expected IP addresses or CIDRs separated by commas; {bad:?} is neither"),
        )
    })?;
    // The algorithm is pinned: a configurable one invites `none` and RS/HS confusion.
    if let Some(alg) = r.string("JWT_ALGORITHM", f.jwt_algorithm)
        && alg != "HS256"
    {
        return Err(invalid(
            "JWT_ALGORITHM (security.jwt_algorithm)",
            format!("only HS256 is supported, got {alg:?}"),
        ));
    }
    let minutes = r
        .parse(
            "ACCESS_TOKEN_EXPIRY_MINUTES",
            "security.access_token_expiry_minutes",
            f.access_token_expiry_minutes,
        )?
        .unwrap_or(60);
    let refresh_days = r
        .parse(
            "REFRESH_TOKEN_EXPIRY_DAYS",
            "security.refresh_token_expiry_days",
            f.refresh_token_expiry_days,
        )?
        .unwrap_or(30);
    let invite_days = r
        .parse(
            "TOKEN_EXPIRY_DAYS",
            "security.token_expiry_days",
            f.token_expiry_days,
        )?
        .unwrap_or(7);
    for (setting, value, max) in [
        (
            "ACCESS_TOKEN_EXPIRY_MINUTES (security.access_token_expiry_minutes)",
            minutes,
            24 * 60,
        ),
        (
            "REFRESH_TOKEN_EXPIRY_DAYS (security.refresh_token_expiry_days)",
            refresh_days,
            365,
        ),
        (
            "TOKEN_EXPIRY_DAYS (security.token_expiry_days)",
            invite_days,
            365,
        ),
    ] {
        if value == 0 || value > max {
            return Err(invalid(
                setting,
                format!("must be between 1 and {max}, got {value}"),
            ));
        }
    }
    Ok(SecurityConfig {
        secret_key: Secret::new(secret_key),
        jwt_secret: Secret::new(jwt_secret),
        sealing_key: Secret::new(sealing_key),
        sealing_key_previous,
        trusted_proxies,
        access_token_expiry: Duration::from_secs(minutes * 60),
        refresh_token_expiry: Duration::from_secs(refresh_days * 86_400),
        invitation_token_expiry: Duration::from_secs(invite_days * 86_400),
    })
}

fn resolve_email(
    r: &Resolver<'_>,
    f: FileEmail,
    data_dir: &Path,
) -> Result<EmailConfig, ConfigError> {
    let from = r
        .string("SMTP_FROM", f.from)
        .or_else(|| r.string("SENDGRID_FROM_EMAIL", None))
        .unwrap_or_else(|| "Concierge <concierge@localhost>".into());
    if !from.contains('@') {
        return Err(invalid(
            "SMTP_FROM (email.from)",
            format!("expected an email address, got {from:?}"),
        ));
    }
    let tls = match r
        .string("SMTP_TLS", f.smtp_tls)
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") | Some("implicit") => SmtpTls::Implicit,
        Some("none") | Some("off") => SmtpTls::None,
        Some(other) => {
            return Err(invalid(
                "SMTP_TLS (email.smtp_tls)",
                format!("expected starttls, tls or none; got {other:?}"),
            ));
        }
    };
    let sendgrid_key = r.string("SENDGRID_API_KEY", f.sendgrid_api_key);
    let host = r.string("SMTP_HOST", f.smtp_host);
    let port = r.parse("SMTP_PORT", "email.smtp_port", f.smtp_port)?;
    let username = r.string("SMTP_USERNAME", f.smtp_username);
    let password = r.string("SMTP_PASSWORD", f.smtp_password);
    let transport = match (host, sendgrid_key) {
        (Some(host), _) => {
            if username.is_some() != password.is_some() {
                return Err(invalid(
                    "SMTP_PASSWORD (email.smtp_password)",
                    "SMTP_USERNAME and SMTP_PASSWORD must be set together",
                ));
            }
            EmailTransport::Smtp(SmtpSettings {
                host,
                port: port.unwrap_or(if tls == SmtpTls::Implicit { 465 } else { 587 }),
                username,
                password: password.map(Secret::new),
                tls,
            })
        }
        (None, Some(key)) => EmailTransport::Smtp(SmtpSettings {
            host: "smtp.sendgrid.net".into(),
            port: port.unwrap_or(587),
            username: Some("apikey".into()),
            password: Some(Secret::new(key)),
            tls,
        }),
        (None, None) => EmailTransport::Files {
            dir: data_dir.join("outbox"),
        },
    };
    let community_name = r
        .string("COMMUNITY_NAME", f.community_name)
        .unwrap_or_else(|| "the community".into());
    Ok(EmailConfig {
        from,
        community_name,
        transport,
    })
}

fn resolve_discord(r: &Resolver<'_>, f: FileDiscord) -> Result<DiscordConfig, ConfigError> {
    let bot_token = r
        .string("DISCORD_BOT_TOKEN", f.bot_token)
        .or_else(|| r.string("DISCORD_TOKEN", None))
        .map(Secret::new);
    let oauth = oauth_client(
        r,
        ("DISCORD_CLIENT_ID", f.client_id),
        ("DISCORD_CLIENT_SECRET", f.client_secret),
        ("DISCORD_REDIRECT_URI", f.redirect_uri),
        "discord",
    )?;
    let bot_invite_url = r
        .string("DISCORD_BOT_INVITE_URL", f.bot_invite_url)
        .map(|u| http_url("DISCORD_BOT_INVITE_URL (discord.bot_invite_url)", &u))
        .transpose()?;
    let url = |env: &str, key: &str, value: Option<String>, default: &str| {
        http_url(
            &format!("{env} (discord.{key})"),
            &r.string(env, value).unwrap_or_else(|| default.into()),
        )
    };
    let api_base_url = url(
        "DISCORD_API_BASE_URL",
        "api_base_url",
        f.api_base_url,
        "https://discord.com/api/v10",
    )?;
    let authorize_url = url(
        "DISCORD_AUTHORIZE_URL",
        "authorize_url",
        f.authorize_url,
        "https://discord.com/oauth2/authorize",
    )?;
    let token_url = url(
        "DISCORD_TOKEN_URL",
        "token_url",
        f.token_url,
        "https://discord.com/api/oauth2/token",
    )?;
    let member_role_name = r
        .string("MEMBER_ROLE_NAME", f.member_role_name)
        .unwrap_or_else(|| "Member".into());
    let timeout = r
        .parse(
            "VERIFICATION_TIMEOUT",
            "discord.verification_timeout",
            f.verification_timeout,
        )?
        .unwrap_or(300);
    if timeout == 0 {
        return Err(invalid(
            "VERIFICATION_TIMEOUT (discord.verification_timeout)",
            "must be at least 1 second",
        ));
    }
    Ok(DiscordConfig {
        bot_token,
        oauth,
        bot_invite_url,
        api_base_url,
        authorize_url,
        token_url,
        member_role_name,
        verification_timeout: Duration::from_secs(timeout),
        respond_to_all_messages: r
            .bool(
                "RESPOND_TO_ALL_MESSAGES",
                "discord.respond_to_all_messages",
                f.respond_to_all_messages,
            )?
            .unwrap_or(false),
        bypass_auth: r
            .bool("BYPASS_AUTH", "discord.bypass_auth", f.bypass_auth)?
            .unwrap_or(false),
        fallback_channel_id: r.parse(
            "DISCORD_FALLBACK_CHANNEL_ID",
            "discord.fallback_channel_id",
            f.fallback_channel_id,
        )?,
        log_channel_id: r.parse(
            "DISCORD_LOG_CHANNEL_ID",
            "discord.log_channel_id",
            f.log_channel_id,
        )?,
    })
}

fn resolve_ai(r: &Resolver<'_>, f: FileAi) -> Result<AiConfig, ConfigError> {
    let provider = |kind: &str,
                    base: Option<String>,
                    model: Option<String>,
                    key: Option<String>,
                    default_model: &str|
     -> Result<Option<AiProvider>, ConfigError> {
        let upper = kind.to_ascii_uppercase();
        let Some(base) = r.string(&format!("{upper}_API_BASE_URL"), base) else {
            return Ok(None);
        };
        let base_url = http_url(&format!("{upper}_API_BASE_URL (ai.{kind}_base_url)"), &base)?;
        Ok(Some(AiProvider {
            base_url,
            model: r
                .string(&format!("{upper}_MODEL"), model)
                .unwrap_or_else(|| default_model.into()),
            api_key: r.string(&format!("{upper}_API_KEY"), key).map(Secret::new),
        }))
    };
    let turns = r
        .parse(
            "CHAT_HISTORY_TURNS",
            "ai.chat_history_turns",
            f.chat_history_turns,
        )?
        .unwrap_or(20);
    if turns > 200 {
        return Err(invalid(
            "CHAT_HISTORY_TURNS (ai.chat_history_turns)",
            "must be at most 200",
        ));
    }
    Ok(AiConfig {
        chat: provider(
            "chat",
            f.chat_base_url,
            f.chat_model,
            f.chat_api_key,
            "gpt-4o-mini",
        )?,
        image: provider(
            "image",
            f.image_base_url,
            f.image_model,
            f.image_api_key,
            "gpt-image-1",
        )?,
        speech: provider(
            "speech",
            f.speech_base_url,
            f.speech_model,
            f.speech_api_key,
            "tts-1",
        )?,
        speech_voice: r
            .string("SPEECH_VOICE", f.speech_voice)
            .unwrap_or_else(|| "alloy".into()),
        chat_history_turns: turns,
    })
}

fn resolve_telemetry(r: &Resolver<'_>, f: FileTelemetry) -> Result<TelemetryConfig, ConfigError> {
    let otlp_traces_url = match r.string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None) {
        Some(url) => Some(http_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url)?),
        None => match r.string("OTEL_EXPORTER_OTLP_ENDPOINT", f.otlp_endpoint) {
            Some(base) => {
                let setting = "OTEL_EXPORTER_OTLP_ENDPOINT (telemetry.otlp_endpoint)";
                let base = http_url(setting, &base)?;
                let joined = format!("{}/v1/traces", base.as_str().trim_end_matches('/'));
                Some(http_url(setting, &joined)?)
            }
            None => None,
        },
    };
    let otlp_headers = match r.string("OTEL_EXPORTER_OTLP_HEADERS", f.otlp_headers) {
        Some(list) => otlp_headers(&list).map_err(|problem| {
            invalid(
                "OTEL_EXPORTER_OTLP_HEADERS (telemetry.otlp_headers)",
                problem,
            )
        })?,
        None => Vec::new(),
    };
    let service_name = r
        .string("OTEL_SERVICE_NAME", f.service_name)
        .unwrap_or_else(|| "concierge".into());
    let sample_ratio = match r.string("OTEL_TRACES_SAMPLER_ARG", None) {
        Some(raw) => Some(raw.parse::<f64>().map_err(|_| {
            invalid(
                "OTEL_TRACES_SAMPLER_ARG (telemetry.sample_ratio)",
                format!("expected a number from 0.0 to 1.0, got {raw:?}"),
            )
        })?),
        None => f.sample_ratio,
    }
    .unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        return Err(invalid(
            "OTEL_TRACES_SAMPLER_ARG (telemetry.sample_ratio)",
            format!("expected a number from 0.0 to 1.0, got {sample_ratio}"),
        ));
    }
    if let Some(url) = &otlp_traces_url
        && (!url.username().is_empty() || url.password().is_some())
    {
        return Err(invalid(
            "OTEL_EXPORTER_OTLP_ENDPOINT (telemetry.otlp_endpoint)",
            "must not carry credentials; send them as OTEL_EXPORTER_OTLP_HEADERS",
        ));
    }
    Ok(TelemetryConfig {
        otlp_traces_url,
        otlp_headers,
        service_name,
        sample_ratio,
    })
}

/// `name=value,name2=value2` with percent-encoded values (the OpenTelemetry SDK format). A
/// problem names the header, never its value.
fn otlp_headers(list: &str) -> Result<Vec<(String, Secret)>, String> {
    let mut headers = Vec::new();
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err("expected name=value pairs separated by commas".into());
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(format!("{name:?} is not a header name"));
        }
        // Kept percent-encoded: the exporter decodes it.
        headers.push((name.to_owned(), Secret::new(value.trim())));
    }
    Ok(headers)
}

fn resolve_workers(r: &Resolver<'_>, f: FileWorkers) -> Result<WorkersConfig, ConfigError> {
    let concurrency = r
        .parse("WORKER_CONCURRENCY", "workers.concurrency", f.concurrency)?
        .unwrap_or(16);
    if concurrency == 0 {
        return Err(invalid(
            "WORKER_CONCURRENCY (workers.concurrency)",
            "must be at least 1",
        ));
    }
    let mut queue_concurrency = f.queue_concurrency;
    for (name, value) in r.env.iter() {
        if let Some(queue) = name.strip_prefix("WORKER_CONCURRENCY_") {
            let n: usize = value
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    invalid(
                        name,
                        format!("expected a whole number of at least 1, got {value:?}"),
                    )
                })?;
            queue_concurrency.insert(queue.to_ascii_lowercase(), n);
        }
    }
    let probe_queues = match r.string("PROBE_QUEUES", None) {
        Some(list) => list
            .split(',')
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty())
            .collect(),
        None => f.probe_queues.unwrap_or_else(|| vec!["probe".to_owned()]),
    };
    if let Some(bad) = probe_queues.iter().find(|q| {
        q.is_empty()
            || !q
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(invalid(
            "PROBE_QUEUES (workers.probe_queues)",
            format!("queue names are letters, digits, '_' and '-'; got {bad:?}"),
        ));
    }
    let lease = r
        .parse(
            "JOB_LEASE_SECONDS",
            "workers.lease_seconds",
            f.lease_seconds,
        )?
        .unwrap_or(6);
    if !(2..=3600).contains(&lease) {
        return Err(invalid(
            "JOB_LEASE_SECONDS (workers.lease_seconds)",
            format!("must be between 2 and 3600, got {lease}"),
        ));
    }
    let result_ttl = r
        .parse(
            "JOB_RESULT_TTL_SECONDS",
            "workers.result_ttl_seconds",
            f.result_ttl_seconds,
        )?
        .unwrap_or(3600);
    let dead_ttl = r
        .parse(
            "JOB_DEAD_TTL_DAYS",
            "workers.dead_ttl_days",
            f.dead_ttl_days,
        )?
        .unwrap_or(7);
    let sweep = r
        .parse(
            "SWEEP_INTERVAL_SECONDS",
            "workers.sweep_interval_seconds",
            f.sweep_interval_seconds,
        )?
        .unwrap_or(300);
    if sweep == 0 {
        return Err(invalid(
            "SWEEP_INTERVAL_SECONDS (workers.sweep_interval_seconds)",
            "must be at least 1",
        ));
    }
    if result_ttl == 0 || dead_ttl == 0 {
        return Err(invalid(
            "JOB_RESULT_TTL_SECONDS / JOB_DEAD_TTL_DAYS",
            "must be at least 1",
        ));
    }
    Ok(WorkersConfig {
        concurrency,
        queue_concurrency,
        probe_queues,
        lease: Duration::from_secs(lease),
        result_ttl: Duration::from_secs(result_ttl),
        dead_ttl: Duration::from_secs(dead_ttl * 86_400),
        sweep_every: Duration::from_secs(sweep),
        metrics_port: r
            .parse(
                "WORKER_METRICS_PORT",
                "workers.metrics_port",
                f.metrics_port,
            )?
            .unwrap_or(9464),
    })
}

fn resolve_limits(r: &Resolver<'_>, f: FileLimits) -> Result<LimitsConfig, ConfigError> {
    let count = |env: &str, key: &str, value: Option<u32>, default: u32| {
        let n = r
            .parse(env, &format!("limits.{key}"), value)?
            .unwrap_or(default);
        if n == 0 {
            return Err(invalid(
                &format!("{env} (limits.{key})"),
                "must be at least 1",
            ));
        }
        Ok(n)
    };
    let window = r
        .parse(
            "RATE_LIMIT_WINDOW_SECONDS",
            "limits.window_seconds",
            f.window_seconds,
        )?
        .unwrap_or(900);
    if !(1..=86_400).contains(&window) {
        return Err(invalid(
            "RATE_LIMIT_WINDOW_SECONDS (limits.window_seconds)",
            format!("must be between 1 and 86400, got {window}"),
        ));
    }
    let max_job_waiters = r
        .parse(
            "MAX_JOB_WAITERS",
            "limits.max_job_waiters",
            f.max_job_waiters,
        )?
        .unwrap_or(jobs::redis::DEFAULT_MAX_WAITERS);
    if max_job_waiters == 0 {
        return Err(invalid(
            "MAX_JOB_WAITERS (limits.max_job_waiters)",
            "must be at least 1",
        ));
    }
    Ok(LimitsConfig {
        requests_per_ip_per_minute: count(
            "REQUESTS_PER_IP_PER_MINUTE",
            "requests_per_ip_per_minute",
            f.requests_per_ip_per_minute,
            1200,
        )?,
        onboardings_per_ip_per_hour: count(
            "ONBOARDINGS_PER_IP_PER_HOUR",
            "onboardings_per_ip_per_hour",
            f.onboardings_per_ip_per_hour,
            20,
        )?,
        onboardings_per_email_per_hour: count(
            "ONBOARDINGS_PER_EMAIL_PER_HOUR",
            "onboardings_per_email_per_hour",
            f.onboardings_per_email_per_hour,
            5,
        )?,
        onboardings_per_email_total_per_hour: count(
            "ONBOARDINGS_PER_EMAIL_TOTAL_PER_HOUR",
            "onboardings_per_email_total_per_hour",
            f.onboardings_per_email_total_per_hour,
            50,
        )?,
        mails_per_address_per_hour: count(
            "MAILS_PER_ADDRESS_PER_HOUR",
            "mails_per_address_per_hour",
            f.mails_per_address_per_hour,
            3,
        )?,
        anonymous_mails_per_hour: count(
            "ANONYMOUS_MAILS_PER_HOUR",
            "anonymous_mails_per_hour",
            f.anonymous_mails_per_hour,
            1000,
        )?,
        sign_ins_per_ip: count("SIGN_INS_PER_IP", "sign_ins_per_ip", f.sign_ins_per_ip, 60)?,
        secret_attempts_per_ip: count(
            "SECRET_ATTEMPTS_PER_IP",
            "secret_attempts_per_ip",
            f.secret_attempts_per_ip,
            60,
        )?,
        secret_attempts_per_discord_id: count(
            "SECRET_ATTEMPTS_PER_DISCORD_ID",
            "secret_attempts_per_discord_id",
            f.secret_attempts_per_discord_id,
            10,
        )?,
        failures_per_email_and_source: count(
            "FAILURES_PER_EMAIL_AND_SOURCE",
            "failures_per_email_and_source",
            f.failures_per_email_and_source,
            5,
        )?,
        admin_failures_per_ip: count(
            "ADMIN_FAILURES_PER_IP",
            "admin_failures_per_ip",
            f.admin_failures_per_ip,
            20,
        )?,
        window: Duration::from_secs(window),
        max_job_waiters,
    })
}

impl LimitsConfig {
    /// The API's limits.
    pub fn api(&self) -> api::Limits {
        api::Limits {
            requests_per_ip: self.requests_per_ip_per_minute,
            onboardings_per_ip: self.onboardings_per_ip_per_hour,
            onboardings_per_email: self.onboardings_per_email_per_hour,
            onboardings_per_email_total: self.onboardings_per_email_total_per_hour,
            mails_per_address: self.mails_per_address_per_hour,
            anonymous_mails_per_hour: self.anonymous_mails_per_hour,
            sign_ins_per_ip: self.sign_ins_per_ip,
            secret_attempts_per_ip: self.secret_attempts_per_ip,
            secret_attempts_per_discord_id: self.secret_attempts_per_discord_id,
            failures_per_email_and_source: self.failures_per_email_and_source,
            admin_failures_per_ip: self.admin_failures_per_ip,
            window: self.window,
        }
    }
}

fn resolve_google(r: &Resolver<'_>, f: FileGoogle) -> Result<GoogleConfig, ConfigError> {
    let oauth = oauth_client(
        r,
        ("GOOGLE_CLIENT_ID", f.client_id),
        ("GOOGLE_CLIENT_SECRET", f.client_secret),
        ("GOOGLE_REDIRECT_URI", f.redirect_uri),
        "google",
    )?;
    let url = |env: &str, key: &str, value: Option<String>, default: &str| {
        http_url(
            &format!("{env} (google.{key})"),
            &r.string(env, value).unwrap_or_else(|| default.into()),
        )
    };
    Ok(GoogleConfig {
        oauth,
        authorize_url: url(
            "GOOGLE_AUTHORIZE_URL",
            "authorize_url",
            f.authorize_url,
            "https://accounts.google.com/o/oauth2/v2/auth",
        )?,
        token_url: url(
            "GOOGLE_TOKEN_URL",
            "token_url",
            f.token_url,
            "https://oauth2.googleapis.com/token",
        )?,
        userinfo_url: url(
            "GOOGLE_USERINFO_URL",
            "userinfo_url",
            f.userinfo_url,
            "https://openidconnect.googleapis.com/v1/userinfo",
        )?,
        tokeninfo_url: url(
            "GOOGLE_TOKENINFO_URL",
            "tokeninfo_url",
            f.tokeninfo_url,
            "https://oauth2.googleapis.com/tokeninfo",
        )?,
    })
}

/// An OAuth client from its three settings: all of them, or none.
fn oauth_client(
    r: &Resolver<'_>,
    id: (&str, Option<String>),
    secret: (&str, Option<String>),
    redirect: (&str, Option<String>),
    section: &str,
) -> Result<Option<OAuthClient>, ConfigError> {
    let yaml_key = |env: &str| {
        format!(
            "{env} ({section}.{})",
            env.split_once('_')
                .map_or("", |(_, k)| k)
                .to_ascii_lowercase()
        )
    };
    let values = [
        (id.0, r.string(id.0, id.1)),
        (secret.0, r.string(secret.0, secret.1)),
        (redirect.0, r.string(redirect.0, redirect.1)),
    ];
    if values.iter().all(|(_, v)| v.is_none()) {
        return Ok(None);
    }
    if let Some((missing, _)) = values.iter().find(|(_, v)| v.is_none()) {
        let present: Vec<&str> = values
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| *n)
            .collect();
        return Err(invalid(
            &yaml_key(missing),
            format!(
                "missing; it is required when {} {} set",
                present.join(" and "),
                if present.len() > 1 { "are" } else { "is" }
            ),
        ));
    }
    let [
        (_, Some(client_id)),
        (_, Some(client_secret)),
        (_, Some(redirect_uri)),
    ] = values
    else {
        unreachable!("all three were checked to be present")
    };
    Ok(Some(OAuthClient {
        client_id,
        client_secret: Secret::new(client_secret),
        redirect_uri: http_url(&yaml_key(redirect.0), &redirect_uri)?,
    }))
}

fn http_url(setting: &str, value: &str) -> Result<Url, ConfigError> {
    match Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(u),
        // A value with a user part may hold a password: not repeated.
        _ if value.contains('@') => Err(invalid(setting, "expected an http(s) URL")),
        _ => Err(invalid(
            setting,
            format!("expected an http(s) URL, got {value:?}"),
        )),
    }
}

fn invalid(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        problem: problem.into(),
    }
}

fn non_empty<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Reads one setting: the environment first, then the YAML value.
struct Resolver<'a> {
    env: &'a HashMap<String, String>,
}

impl Resolver<'_> {
    /// An empty variable counts as unset (a blank line in `.env` must not override the file).
    fn string(&self, env: &str, file: Option<String>) -> Option<String> {
        non_empty(self.env, env)
            .map(str::to_owned)
            .or(file.filter(|v| !v.trim().is_empty()))
    }

    fn parse<T: std::str::FromStr>(
        &self,
        env: &str,
        key: &str,
        file: Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        match non_empty(self.env, env) {
            Some(raw) => raw.parse::<T>().map(Some).map_err(|_| {
                invalid(
                    &format!("{env} ({key})"),
                    format!("expected a non-negative whole number, got {raw:?}"),
                )
            }),
            None => Ok(file),
        }
    }

    fn bool(&self, env: &str, key: &str, file: Option<bool>) -> Result<Option<bool>, ConfigError> {
        match non_empty(self.env, env)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => Ok(file),
            Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
            Some("false" | "0" | "no" | "off") => Ok(Some(false)),
            Some(other) => Err(invalid(
                &format!("{env} ({key})"),
                format!("expected true or false, got {other:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)], yaml: Option<&str>) -> Result<Config, ConfigError> {
        Config::from_sources(&env(pairs), yaml, Path::new("config.yml"))
    }

    fn error(pairs: &[(&str, &str)], yaml: Option<&str>) -> String {
        load(pairs, yaml)
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn defaults_run_on_a_local_machine() {
        let c = load(&[], None).expect("defaults are valid");
        assert_eq!(c.server.port, 8000);
        assert_eq!(c.server.host.to_string(), "0.0.0.0");
        assert_eq!(
            c.database.settings.display_target(),
            "127.0.0.1:5432/concierge"
        );
        assert_eq!(c.redis.url.expose(), "redis://127.0.0.1:6379");
        assert_eq!(c.logging.filter, "info");
        assert_eq!(c.logging.format, LogFormat::Human);
        assert!(
            matches!(c.email.transport, EmailTransport::Files { ref dir } if dir == Path::new("data/outbox"))
        );
        assert!(c.discord.bot_token.is_none());
        assert!(c.discord.oauth.is_none());
        assert_eq!(c.discord.verification_timeout, Duration::from_secs(300));
        assert_eq!(
            c.security.invitation_token_expiry,
            Duration::from_secs(7 * 86_400)
        );
    }

    #[test]
    fn seed_002_yaml_shape_is_read_and_env_wins() {
        let yaml = "database:\n  host: db.internal\n  port: 6543\n  database: oauth_db\n\
                    security:\n  jwt_algorithm: HS256\n  access_token_expiry_minutes: 15\n  refresh_token_expiry_days: 10\n\
                    server:\n  host: 127.0.0.1\n  port: 9000\n  debug: true\n";
        let c = load(&[("PORT", "9100"), ("DB_USER", "oauth_user")], Some(yaml)).expect("valid");
        assert_eq!(c.server.port, 9100, "environment overrides the file");
        assert_eq!(c.server.host.to_string(), "127.0.0.1");
        assert_eq!(
            c.database.settings.display_target(),
            "db.internal:6543/oauth_db"
        );
        assert_eq!(c.database.settings.options.get_username(), "oauth_user");
        assert_eq!(c.security.access_token_expiry, Duration::from_secs(15 * 60));
        assert_eq!(
            c.security.refresh_token_expiry,
            Duration::from_secs(10 * 86_400)
        );
        assert_eq!(
            c.logging.filter, "debug",
            "server.debug lowers the default level"
        );
    }

    #[test]
    fn database_url_wins_over_parts() {
        let c = load(
            &[
                ("DATABASE_URL", "postgres://u:p@h:1234/x"),
                ("DB_HOST", "ignored"),
            ],
            None,
        )
        .expect("valid");
        assert_eq!(c.database.settings.display_target(), "h:1234/x");
    }

    #[test]
    fn invalid_values_name_the_setting() {
        assert_eq!(
            error(&[("PORT", "eighty")], None),
            "invalid setting PORT (server.port): expected a non-negative whole number, got \"eighty\""
        );
        assert!(
            error(&[("PORT", "70000")], None).starts_with("invalid setting PORT (server.port)")
        );
        assert!(
            error(&[("HOST", "not an ip")], None).starts_with("invalid setting HOST (server.host)")
        );
        assert!(
            error(&[("DB_SSL", "maybe")], None)
                .starts_with("invalid setting DB_SSL (database.ssl)")
        );
        assert!(error(&[("LOG_FORMAT", "xml")], None).starts_with("invalid setting LOG_FORMAT"));
        assert!(error(&[("LOG_LEVEL", "loud")], None).starts_with("invalid setting LOG_LEVEL"));
        assert!(error(&[("RUST_LOG", "info,[bad")], None).starts_with("invalid setting RUST_LOG"));
        assert!(
            error(&[("JWT_ALGORITHM", "none")], None).starts_with("invalid setting JWT_ALGORITHM")
        );
        assert!(
            error(&[("TOKEN_EXPIRY_DAYS", "0")], None)
                .starts_with("invalid setting TOKEN_EXPIRY_DAYS")
        );
        assert!(
            error(&[("VERIFICATION_TIMEOUT", "-5")], None)
                .starts_with("invalid setting VERIFICATION_TIMEOUT")
        );
        assert!(
            error(&[("WEB_APP_BASE_URL", "localhost:3000")], None)
                .starts_with("invalid setting WEB_APP_BASE_URL")
        );
        assert!(error(&[("SMTP_TLS", "ssl3")], None).starts_with("invalid setting SMTP_TLS"));
        assert!(
            error(&[("DATABASE_URL", "mysql://x")], None)
                .starts_with("invalid setting DATABASE_URL")
        );
        assert!(
            error(&[("MAX_BODY_BYTES", "10")], None).starts_with("invalid setting MAX_BODY_BYTES")
        );
    }

    #[test]
    fn errors_are_one_line() {
        let e = error(&[], Some("server:\n  port: [1, 2]\n"));
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("server.port") || e.contains("port"), "{e}");
    }

    #[test]
    fn unknown_yaml_keys_are_rejected() {
        let e = error(&[], Some("server:\n  prot: 8000\n"));
        assert!(e.contains("unknown field `prot`"), "{e}");
    }

    #[test]
    fn incomplete_oauth_client_names_the_missing_setting() {
        let e = error(
            &[
                ("DISCORD_CLIENT_ID", "123"),
                ("DISCORD_REDIRECT_URI", "http://localhost/cb"),
            ],
            None,
        );
        assert_eq!(
            e,
            "invalid setting DISCORD_CLIENT_SECRET (discord.client_secret): missing; it is required when DISCORD_CLIENT_ID and DISCORD_REDIRECT_URI are set"
        );
        let c = load(
            &[
                ("GOOGLE_CLIENT_ID", "g"),
                ("GOOGLE_CLIENT_SECRET", "s3cr3t"),
                (
                    "GOOGLE_REDIRECT_URI",
                    "http://localhost:8000/api/google/callback",
                ),
            ],
            None,
        )
        .expect("valid");
        assert_eq!(c.google.oauth.expect("configured").client_id, "g");
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug_output() {
        let e = error(&[("SECRET_KEY", "short-key")], None);
        assert!(!e.contains("short-key"), "{e}");
        let e = error(&[("REDIS_URL", "http://:hunter2@host")], None);
        assert!(!e.contains("hunter2"), "{e}");
        let e = error(
            &[("DATABASE_URL", "postgres://u:hunter2@h:notaport/x")],
            None,
        );
        assert!(!e.contains("hunter2"), "{e}");
        let c = load(
            &[
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef-jwt"),
                ("SECRET_KEY", "admin-key-0123456789"),
                ("DB_PASSWORD", "db-pass-xyz"),
                ("REDIS_URL", "redis://:redis-pass-xyz@127.0.0.1:6379"),
                ("DISCORD_BOT_TOKEN", "bot-token-xyz"),
                ("SENDGRID_API_KEY", "SG.sendgrid-xyz"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=otel-key-xyz"),
            ],
            None,
        )
        .expect("valid");
        let debug = format!("{c:?}");
        for secret in [
            "0123456789abcdef0123456789abcdef-jwt",
            "admin-key-0123456789",
            "db-pass-xyz",
            "redis-pass-xyz",
            "bot-token-xyz",
            "sendgrid-xyz",
            "otel-key-xyz",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked into {debug}");
        }
    }

    #[test]
    fn trace_export_is_off_unless_a_collector_is_named() {
        let c = load(&[], None).expect("defaults");
        assert!(c.telemetry.otlp_traces_url.is_none());
        assert_eq!(c.telemetry.sample_ratio, 1.0);

        let c = load(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b-c=x%20y"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ],
            None,
        )
        .expect("valid");
        let url = c.telemetry.otlp_traces_url.expect("url");
        assert_eq!(url.as_str(), "http://collector:4318/v1/traces");
        let headers: Vec<(&str, &str)> = c
            .telemetry
            .otlp_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose()))
            .collect();
        assert_eq!(headers, [("a", "1"), ("b-c", "x%20y")]);
        assert_eq!(c.telemetry.sample_ratio, 0.25);

        // The signal's own URL is taken as it is.
        let c = load(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://otel.example/in",
                ),
            ],
            None,
        )
        .expect("valid");
        assert_eq!(
            c.telemetry.otlp_traces_url.expect("url").as_str(),
            "https://otel.example/in"
        );

        for (pairs, starts) in [
            (
                [("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
                "invalid setting OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                [("OTEL_TRACES_SAMPLER_ARG", "1.5")],
                "invalid setting OTEL_TRACES_SAMPLER_ARG",
            ),
            (
                [("OTEL_EXPORTER_OTLP_HEADERS", "key-without-value-s3cret")],
                "invalid setting OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                [(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "http://user:s3cret@collector:4318",
                )],
                "invalid setting OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                [("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:s3cret@:4318")],
                "invalid setting OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
        ] {
            let e = error(&pairs, None);
            assert!(e.starts_with(starts), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn seed_003_names_are_accepted() {
        let c = load(
            &[
                ("DISCORD_TOKEN", "legacy-token"),
                ("SENDGRID_API_KEY", "SG.key"),
                ("SENDGRID_FROM_EMAIL", "team@example.com"),
                ("MEMBER_ROLE_NAME", "Verified"),
                ("VERIFICATION_TIMEOUT", "600"),
                ("DB_SSL", "true"),
            ],
            None,
        )
        .expect("valid");
        assert_eq!(c.discord.bot_token.expect("set").expose(), "legacy-token");
        assert_eq!(c.email.from, "team@example.com");
        let EmailTransport::Smtp(smtp) = c.email.transport else {
            panic!("SendGrid selects SMTP")
        };
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.username.as_deref()),
            ("smtp.sendgrid.net", 587, Some("apikey"))
        );
        assert_eq!(c.discord.member_role_name, "Verified");
        assert_eq!(c.discord.verification_timeout, Duration::from_secs(600));
    }

    #[test]
    fn limits_keys_and_proxies_are_read_and_checked() {
        let c = load(
            &[
                ("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1, fd00::/8"),
                ("SEALING_KEY", "s".repeat(32).as_str()),
                ("SEALING_KEY_PREVIOUS", "old-key-one, old-key-two"),
                ("ONBOARDINGS_PER_IP_PER_HOUR", "7"),
                ("RATE_LIMIT_WINDOW_SECONDS", "60"),
                ("MAX_JOB_WAITERS", "50"),
            ],
            Some("limits:\n  admin_failures_per_ip: 4\n  onboardings_per_ip_per_hour: 99\n"),
        )
        .expect("valid");
        assert!(
            c.security
                .trusted_proxies
                .contains("10.1.2.3".parse().expect("ip"))
        );
        assert!(
            !c.security
                .trusted_proxies
                .contains("11.0.0.1".parse().expect("ip"))
        );
        assert_eq!(c.security.sealing_key_previous.len(), 2);
        let api = c.limits.api();
        assert_eq!(
            api.onboardings_per_ip, 7,
            "the environment wins over the file"
        );
        assert_eq!(api.admin_failures_per_ip, 4);
        assert_eq!(api.window, Duration::from_secs(60));
        assert_eq!(c.limits.max_job_waiters, 50);
        for (pairs, setting) in [
            (
                &[("TRUSTED_PROXIES", "10.0.0.0/8, a-proxy")][..],
                "TRUSTED_PROXIES",
            ),
            (&[("SEALING_KEY", "short")][..], "SEALING_KEY"),
            (&[("SIGN_INS_PER_IP", "0")][..], "SIGN_INS_PER_IP"),
            (&[("MAX_JOB_WAITERS", "none")][..], "MAX_JOB_WAITERS"),
            (
                &[("RATE_LIMIT_WINDOW_SECONDS", "0")][..],
                "RATE_LIMIT_WINDOW_SECONDS",
            ),
        ] {
            let e = error(pairs, None);
            assert!(e.starts_with(&format!("invalid setting {setting}")), "{e}");
        }
        let e = error(&[("SEALING_KEY", "short-sealing-secret")], None);
        assert!(!e.contains("short-sealing-secret"), "{e}");
    }

    #[test]
    fn the_example_file_is_valid_and_shows_the_defaults() {
        let text = include_str!("../concierge.example.yaml");
        let example = load(&[], Some(text)).expect("concierge.example.yaml loads");
        let defaults = load(&[], None).expect("defaults");
        assert_eq!(format!("{example:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn generated_secrets_are_kept_between_starts() {
        let dir =
            std::env::temp_dir().join(format!("concierge-config-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("secrets").join("jwt_secret");
        let first = load_or_generate_secret(&path).expect("generated");
        let second = load_or_generate_secret(&path).expect("read back");
        assert_eq!(first, second);
        assert!(first.len() >= 43);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
