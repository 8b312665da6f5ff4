//! Configuration: one typed struct, resolved once at start from (lowest to highest priority)
//! built-in defaults, an optional YAML file (seed 002's `config.yml` shape: `database`,
//! `security`, `server`, plus Concierge's own sections), a `.env` file, and the process
//! environment, using the seeds' variable names. This is the only module that reads the
//! environment; every other crate receives typed values.
//!
//! Every field is documented in its section's file and shown in `concierge.example.yaml`. A
//! missing or invalid setting stops the process with one line naming it; secrets are never
//! printed (see [`store::secret::Secret`]). The defaults run the whole system on a developer
//! machine with local Postgres and Redis, emails written as `.eml` files, and built-in
//! providers.
//!
//! # Layout
//! - `mod.rs`: [`Config`], [`Config::load`], and the settings built from several sections
//!   ([`Config::api_config`], [`Config::oauth_settings`])
//! - `error.rs`: [`ConfigError`], the one-line error every reader returns
//! - `file.rs`: reading `.env` and the YAML file into its mirror of every section
//! - `resolve.rs`: the layering of one setting (environment, then file, then default)
//! - `secrets.rs`: [`Generated`], the keys generated when unset, per role
//! - one file per section, each with its struct, its YAML mirror, its resolver, its tests and
//!   its conversion into the settings of the crate it configures: `database.rs`, `redis.rs`,
//!   `server.rs`, `logging.rs` (read from the `server` keys), `security.rs`, `email.rs`,
//!   `discord.rs`, `google.rs`, `oauth.rs` (the client both of them have), `ai.rs`,
//!   `workers.rs`, `telemetry.rs`, `limits.rs`

mod ai;
mod database;
mod discord;
mod email;
mod error;
mod file;
mod google;
mod limits;
mod logging;
mod oauth;
mod redis;
mod resolve;
mod secrets;
mod security;
mod server;
mod telemetry;
mod workers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use url::Url;

pub use self::ai::{AiConfig, AiProvider};
pub use self::database::DatabaseConfig;
pub use self::discord::DiscordConfig;
pub use self::email::{EmailConfig, EmailTransport};
pub use self::error::ConfigError;
pub use self::google::GoogleConfig;
pub use self::limits::LimitsConfig;
pub use self::logging::{LogFormat, LoggingConfig};
pub use self::oauth::OAuthClient;
pub use self::redis::RedisConfig;
use self::resolve::Resolver;
pub use self::secrets::Generated;
pub use self::security::SecurityConfig;
pub use self::server::ServerConfig;
pub use self::telemetry::TelemetryConfig;
pub use self::workers::WorkersConfig;

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Postgres: section `database`.
    pub database: DatabaseConfig,
    /// The queues' and counters' Redis: section `redis`.
    pub redis: RedisConfig,
    /// The HTTP server: section `server`.
    pub server: ServerConfig,
    /// Logs: `RUST_LOG`, or the log keys of section `server`.
    pub logging: LoggingConfig,
    /// Keys and token lifetimes: section `security`.
    pub security: SecurityConfig,
    /// Where the process keeps files: outgoing mail as `.eml` (when no SMTP server is set) and
    /// generated secrets. `DATA_DIR`, `data_dir`; default `./data`.
    pub data_dir: PathBuf,
    /// The web frontend that OAuth callbacks redirect to (`/discord/success`, `/discord/error`).
    /// Unset: the API serves small built-in pages instead. `WEB_APP_BASE_URL`,
    /// `web_app_base_url`.
    pub web_app_base_url: Option<Url>,
    /// Outgoing mail: section `email`.
    pub email: EmailConfig,
    /// The bot, account linking and the gate: section `discord`.
    pub discord: DiscordConfig,
    /// Google sign-in: section `google`.
    pub google: GoogleConfig,
    /// The providers of the bot's replies: section `ai`.
    pub ai: AiConfig,
    /// The job workers: section `workers`.
    pub workers: WorkersConfig,
    /// Trace export: section `telemetry`.
    pub telemetry: TelemetryConfig,
    /// What each caller may cost: section `limits`.
    pub limits: LimitsConfig,
}

impl Config {
    /// Loads the configuration of this process: the process environment, `.env` in the
    /// working directory, and the YAML file named by `explicit_file`, `CONCIERGE_CONFIG`, or
    /// `config.yml` when that exists. Of the keys that may be generated, only those in `needs`
    /// are (loaded from or generated into `<DATA_DIR>/secrets/`): a process holds only the
    /// keys of its role (the bot and the workers never the admin key).
    pub fn load(explicit_file: Option<&Path>, needs: &[Generated]) -> Result<Self, ConfigError> {
        let env = file::environment()?;
        let (path, yaml) = file::read(explicit_file, &env)?;
        let mut config = Self::from_sources(&env, yaml.as_deref(), &path)?;
        secrets::fill_generated_secrets(&mut config.security, &config.data_dir, needs)?;
        Ok(config)
    }

    /// Resolves the configuration from an environment and an optional YAML text (`file` names
    /// it in errors). Secrets left unset are empty here; [`Config::load`] generates them.
    pub fn from_sources(
        env: &HashMap<String, String>,
        yaml: Option<&str>,
        file: &Path,
    ) -> Result<Self, ConfigError> {
        let f = file::parse(yaml, file)?;
        let r = Resolver { env };
        // With several settings invalid, the one named is the first in this order.
        let database = database::resolve(&r, f.database)?;
        let redis = redis::resolve(&r, f.redis)?;
        let logging = logging::resolve(&r, &f.server)?;
        let server = server::resolve(&r, f.server)?;
        let security = security::resolve(&r, f.security)?;
        let data_dir = f.data_dir.map(|p| p.to_string_lossy().into_owned());
        let data_dir = PathBuf::from(r.string_or("DATA_DIR", data_dir, "data"));
        let web_app_base_url = r.url("WEB_APP_BASE_URL", "web_app_base_url", f.web_app_base_url)?;
        Ok(Config {
            database,
            redis,
            server,
            logging,
            security,
            email: email::resolve(&r, f.email, &data_dir)?,
            discord: discord::resolve(&r, f.discord)?,
            google: google::resolve(&r, f.google)?,
            ai: ai::resolve(&r, f.ai)?,
            workers: workers::resolve(&r, f.workers)?,
            telemetry: telemetry::resolve(&r, f.telemetry)?,
            limits: limits::resolve(&r, f.limits)?,
            data_dir,
            web_app_base_url,
        })
    }

    /// The API's configuration: keys and token lifetimes, the OAuth clients' public halves and
    /// endpoints, the frontend, the limits, and `build` (what `/api/health/detailed` reports).
    pub fn api_config(&self, build: api::BuildInfo) -> api::ApiConfig {
        api::ApiConfig {
            secret_key: self.security.secret_key.clone(),
            sealer: self.security.sealer(),
            build,
            web_app_base_url: self.web_app_base_url.clone(),
            discord: self.discord.oauth.as_ref().and_then(OAuthClient::public),
            discord_authorize_url: self.discord.authorize_url.clone(),
            discord_invite_url: self.discord.bot_invite_url.clone(),
            google: self.google.oauth.as_ref().and_then(OAuthClient::public),
            google_client_id: self.google.oauth.as_ref().map(|c| c.client_id.clone()),
            google_authorize_url: self.google.authorize_url.clone(),
            jwt: self.security.jwt(),
            refresh_ttl: self.security.refresh_token_expiry,
            job_wait: std::time::Duration::from_secs(10),
            max_waiters: self.limits.max_job_waiters,
            limits: self.limits.api(),
            trusted_proxies: self.security.trusted_proxies.clone(),
            login_log_file: self.logging.login_log_file.clone(),
            job_lease: self.workers.lease,
        }
    }

    /// The workers' OAuth providers: both clients, with the endpoints the workers call.
    pub fn oauth_settings(&self) -> ::workers::providers::oauth::OauthSettings {
        let (d, g) = (&self.discord, &self.google);
        ::workers::providers::oauth::OauthSettings {
            discord: d.oauth.as_ref().map(|c| c.provider(&d.token_url)),
            discord_api_base: d.api_base_url.clone(),
            google: g.oauth.as_ref().map(|c| c.provider(&g.token_url)),
            google_userinfo_url: g.userinfo_url.clone(),
            google_tokeninfo_url: g.tokeninfo_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::resolve::testing::env;

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
        assert_eq!(
            c.logging.login_log_file.as_deref(),
            Some(Path::new("logs/login.log")),
            "seed 002's login log"
        );
        let off = load(&[("LOGIN_LOG_FILE", "off")], None).expect("valid");
        assert_eq!(off.logging.login_log_file, None);
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
        // Seed 002's `.env` example holds a 30-character secret: refused, with how to make one.
        let short = error(&[("JWT_SECRET", "your-very-secure-random-secret")], None);
        assert!(
            short.starts_with("invalid setting JWT_SECRET (security.jwt_secret)")
                && short.contains("openssl rand -hex 32"),
            "{short}"
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
        for nodes in [
            "localhost",
            "h:0",
            "h:port",
            ":7000",
            "unix:///run/redis.sock",
        ] {
            assert!(
                error(&[("REDIS_CLUSTER_NODES", nodes)], None)
                    .starts_with("invalid setting REDIS_CLUSTER_NODES"),
                "{nodes}"
            );
        }
    }

    #[test]
    fn cluster_nodes_take_the_credentials_of_redis_url_and_show_without_them() {
        let c = load(
            &[
                ("REDIS_URL", "rediss://app:pw-xyz@unused:6379"),
                ("REDIS_CLUSTER_NODES", " 10.0.0.1:7000 , 10.0.0.2:7001,"),
            ],
            None,
        )
        .expect("valid");
        assert_eq!(
            c.redis.display_target(),
            "cluster 10.0.0.1:7000,10.0.0.2:7001"
        );
        assert_eq!(c.redis.setting(), "REDIS_CLUSTER_NODES");
        assert!(c.redis.client().expect("client").is_cluster());
        let one = load(&[], None).expect("defaults");
        assert_eq!(one.redis.display_target(), "127.0.0.1:6379");
        assert!(!one.redis.client().expect("client").is_cluster());
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug_output() {
        let e = error(&[("SECRET_KEY", "short-key")], None);
        assert!(!e.contains("short-key"), "{e}");
        let e = error(&[("REDIS_URL", "http://:hunter2@host")], None);
        assert!(!e.contains("hunter2"), "{e}");
        for nodes in [
            "http://:hunter2@host:1",
            ":hunter2@host:1",
            "user:hunter2@host:1",
        ] {
            let e = error(&[("REDIS_CLUSTER_NODES", nodes)], None);
            assert!(e.starts_with("invalid setting REDIS_CLUSTER_NODES"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let e = error(
            &[
                ("REDIS_URL", "redis://:first@h"),
                ("REDIS_CLUSTER_NODES", "a:1,redis://:second@b:2"),
            ],
            None,
        );
        assert!(e.contains("same user name and password"), "{e}");
        assert!(!e.contains("first") && !e.contains("second"), "{e}");
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
                (
                    "REDIS_CLUSTER_NODES",
                    "redis://:node-pass-xyz@10.0.0.1:7000,redis://:node-pass-xyz@10.0.0.2:7000",
                ),
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
            "node-pass-xyz",
            "bot-token-xyz",
            "sendgrid-xyz",
            "otel-key-xyz",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked into {debug}");
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
    fn the_example_file_is_valid_and_shows_the_defaults() {
        let text = include_str!("../../concierge.example.yaml");
        let example = load(&[], Some(text)).expect("concierge.example.yaml loads");
        let defaults = load(&[], None).expect("defaults");
        assert_eq!(format!("{example:?}"), format!("{defaults:?}"));
    }
}
