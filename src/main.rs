//! `concierge`: the one binary of Concierge. Each subcommand is one role of the system; `all`
//! runs every role in one process for development and small deployments.
//!
//! This file is the composition root: it loads the configuration, installs logging, builds
//! the pieces of each role from the library crates and runs them until SIGINT or SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use poem::listener::{Acceptor, Listener};
use tokio_util::sync::CancellationToken;

use concierge::config::{Config, Generated};
use concierge::telemetry;

/// Concierge: community onboarding, Discord verification and chat, built on a job queue.
///
/// Configuration comes from environment variables (the names of the systems Concierge
/// replaces: DATABASE_URL or DB_*, REDIS_URL, HOST, PORT, SECRET_KEY, JWT_SECRET, DISCORD_*,
/// GOOGLE_*, SMTP_* ...), a `.env` file, and an optional YAML file. Every setting is described
/// in concierge.example.yaml. With no configuration at all, everything runs against the local
/// Postgres and Redis and writes emails to ./data/outbox.
#[derive(Debug, Parser)]
#[command(
    name = "concierge",
    version,
    about,
    long_about,
    propagate_version = true
)]
struct Cli {
    /// YAML configuration file [default: config.yml when it exists; env: CONCIERGE_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database, then serve the API and run the workers (and the Discord bot when
    /// DISCORD_BOT_TOKEN is set) in this one process.
    All,
    /// Serve the HTTP API (docs at /api/docs).
    Api,
    /// Run job workers.
    Worker,
    /// Run the Discord bot (needs DISCORD_BOT_TOKEN).
    Bot,
    /// Create the database if it does not exist and apply pending migrations.
    Migrate {
        /// Stop at this schema version instead of the newest.
        #[arg(long, value_name = "VERSION")]
        target: Option<i32>,
    },
    /// Push N probe jobs and check that each ran exactly once; prints one JSON line
    /// (enqueued, completed, duplicates, lost, jobs_per_s, p50_ms, p99_ms, max_ms).
    Probe(ProbeArgs),
    /// Exit 0 when this deployment's API is ready, or with --deps when the database and
    /// Redis answer: for container healthchecks (the image has no curl).
    Healthcheck {
        /// The readiness URL; default http://127.0.0.1:$PORT/api/health/ready.
        #[arg(long, value_name = "URL", conflicts_with = "deps")]
        url: Option<String>,
        /// Check the database and Redis instead (workers and the bot serve no HTTP).
        #[arg(long)]
        deps: bool,
    },
    /// Seal every stored provider token again under the current SEALING_KEY, so the keys in
    /// SEALING_KEY_PREVIOUS can be removed; prints one JSON line (resealed, current,
    /// unreadable).
    Reseal,
    /// Print the OpenAPI spec, or compare it with the committed copy.
    Openapi {
        /// Output format.
        #[arg(long, value_enum, default_value_t = SpecFormat::Json)]
        format: SpecFormat,
        /// Exit non-zero when DIR/openapi.json or DIR/openapi.yaml differ from the code.
        #[arg(long, conflicts_with = "write")]
        check: bool,
        /// Write DIR/openapi.json and DIR/openapi.yaml from the code.
        #[arg(long)]
        write: bool,
        /// Where the committed spec lives.
        #[arg(long, value_name = "DIR", default_value = "openapi")]
        dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct ProbeArgs {
    /// How many probe jobs to push.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Pushes per second; 0 pushes everything at once (in bulk).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Padding added to each payload, in bytes.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Simulated work per job, in milliseconds.
    #[arg(long, default_value_t = 0)]
    work_ms: u32,
    /// The queue to push to (a worker must serve it: PROBE_QUEUES).
    #[arg(long, default_value = "probe")]
    queue: String,
    /// Give up waiting after this many seconds; what has not run by then counts as lost.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Push, print the run id, and exit without waiting (check later with --check).
    #[arg(long, conflicts_with = "check")]
    no_wait: bool,
    /// Wait for (or report on) an earlier run instead of pushing.
    #[arg(long, value_name = "RUN_ID")]
    check: Option<String>,
}

impl Command {
    /// The role recorded on exported spans.
    fn role(&self) -> &'static str {
        match self {
            Command::All => "all",
            Command::Api => "api",
            Command::Worker => "worker",
            Command::Bot => "bot",
            Command::Migrate { .. } => "migrate",
            Command::Probe(_) => "probe",
            Command::Healthcheck { .. } => "healthcheck",
            Command::Reseal => "reseal",
            Command::Openapi { .. } => "openapi",
        }
    }

    /// The keys this command may have generated when they are not configured: each process
    /// holds only those of its role (the bot and the workers never the admin key).
    fn keys(&self) -> &'static [Generated] {
        match self {
            Command::All => Generated::ALL,
            Command::Api => Generated::ALL,
            Command::Worker | Command::Bot | Command::Reseal => &[Generated::SealingKey],
            Command::Migrate { .. }
            | Command::Probe(_)
            | Command::Healthcheck { .. }
            | Command::Openapi { .. } => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SpecFormat {
    Json,
    Yaml,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi {
        format,
        check,
        write,
        dir,
    } = &cli.command
    {
        return openapi(*format, *check, *write, dir);
    }
    let config = match Config::load(cli.config.as_deref(), cli.command.keys()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("concierge: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("concierge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match telemetry::init(
        &config.logging,
        &config.telemetry,
        cli.command.role(),
        runtime.handle(),
    ) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("concierge: cannot set up logging and tracing: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(run(cli.command, config));
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{}", error_chain(&e));
            ExitCode::FAILURE
        }
    };
    // The runtime still runs the exporter's requests while the last spans go out.
    telemetry.shutdown();
    code
}

/// `outer: cause: root cause`, skipping a cause whose text its parent already repeats (sqlx
/// and refinery both quote their source in their own message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    match command {
        Command::All => {
            migrate(&config, None).await?;
            // Said before anything starts, so it is the first thing an operator reads.
            let with_bot = config.discord.bot_token.is_some();
            if !with_bot {
                tracing::info!("Discord bot skipped: DISCORD_BOT_TOKEN is not set");
            }
            let bot = async {
                if with_bot {
                    run_bot(&config, shutdown.clone()).await
                } else {
                    Ok(())
                }
            };
            tokio::try_join!(
                serve_api(&config, shutdown.clone()),
                run_workers(&config, shutdown.clone(), false),
                bot
            )?;
        }
        Command::Api => serve_api(&config, shutdown).await?,
        Command::Migrate { target } => migrate(&config, target).await?,
        Command::Worker => run_workers(&config, shutdown, true).await?,
        Command::Probe(args) => return probe(&config, args, shutdown).await,
        Command::Bot => {
            if config.discord.bot_token.is_none() {
                tracing::error!(
                    "concierge bot: DISCORD_BOT_TOKEN is not set; the bot cannot log in without it"
                );
                return Ok(ExitCode::from(2));
            }
            run_bot(&config, shutdown).await?;
        }
        Command::Healthcheck { url, deps } => return Ok(healthcheck(&config, url, deps).await),
        Command::Reseal => reseal(&config).await?,
        Command::Openapi { .. } => unreachable!("handled before the configuration is loaded"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `concierge healthcheck`: 0 when ready, 1 when not (with one line on stderr saying why).
async fn healthcheck(config: &Config, url: Option<String>, deps: bool) -> ExitCode {
    let timeout = std::time::Duration::from_secs(3);
    let result: anyhow::Result<()> = if deps {
        async {
            let pool = store::connect(&config.database.settings);
            tokio::time::timeout(timeout, store::ping(&pool))
                .await
                .context("the database did not answer in time")?
                .context("the database is down")?;
            let client = redis::Client::open(config.redis.url.expose())?;
            let mut conn = tokio::time::timeout(timeout, client.get_multiplexed_async_connection())
                .await
                .context("Redis did not answer in time")??;
            redis::cmd("PING").query_async::<String>(&mut conn).await?;
            Ok(())
        }
        .await
    } else {
        let url = url
            .unwrap_or_else(|| format!("http://127.0.0.1:{}/api/health/ready", config.server.port));
        tokio::time::timeout(timeout, http_status(&url))
            .await
            .context("no answer in time")
            .and_then(|r| r)
            .and_then(|status| {
                if status == 200 {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("{url} answered {status}"))
                }
            })
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("not ready: {}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// The status code of a plain-HTTP GET, without an HTTP client dependency.
async fn http_status(url: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(url).context("not a URL")?;
    anyhow::ensure!(url.scheme() == "http", "only http:// URLs are checked");
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        url.path()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = vec![0u8; 64];
    let n = stream.read(&mut head).await?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("not an HTTP answer")
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM. A second signal exits at once, for the
/// operator who does not want to wait for the grace period.
async fn watch_signals(shutdown: CancellationToken) {
    let terminate = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
    shutdown.cancel();
    let _ = tokio::signal::ctrl_c().await;
    tracing::warn!("second signal: exiting now");
    std::process::exit(130);
}

async fn migrate(config: &Config, target: Option<i32>) -> anyhow::Result<()> {
    let settings = &config.database.settings;
    let target_name = settings.display_target();
    if store::ensure_database(settings)
        .await
        .with_context(|| format!("cannot reach Postgres at {target_name} to create the database"))?
    {
        tracing::info!(database = %target_name, "created the database");
    }
    let pool = store::connect(settings);
    let applied = store::migrate::run(&pool, target)
        .await
        .with_context(|| format!("migrating {target_name} failed"))?;
    let version = store::migrate::applied_version(&pool).await?;
    tracing::info!(
        database = %target_name,
        applied = applied.len(),
        version = version.unwrap_or(0),
        "database schema is up to date"
    );
    pool.close().await;
    Ok(())
}

/// The sealer of this process: the sealing key, opening also what the previous keys sealed.
fn sealer(config: &Config) -> store::secret::Sealer {
    store::secret::Sealer::with_previous(
        &config.security.sealing_key,
        &config.security.sealing_key_previous,
    )
}

/// `concierge reseal`: every stored provider token sealed again under the current key.
#[allow(clippy::print_stdout)]
async fn reseal(config: &Config) -> anyhow::Result<()> {
    let pool = store::connect(&config.database.settings);
    let done = store::identities::reseal(&pool, &sealer(config))
        .await
        .context("cannot reseal the stored provider tokens")?;
    tracing::info!(
        resealed = done.resealed,
        current = done.current,
        unreadable = done.unreadable,
        "stored provider tokens are sealed under the current key"
    );
    println!("{}", serde_json::to_string(&done)?);
    pool.close().await;
    Ok(())
}

fn api_config(config: &Config) -> api::ApiConfig {
    let public = |c: &concierge::config::OAuthClient| api::PublicClient {
        client_id: c.client_id.clone(),
        redirect_uri: c.redirect_uri.clone(),
    };
    api::ApiConfig {
        secret_key: config.security.secret_key.clone(),
        sealer: sealer(config),
        build: build_info(),
        web_app_base_url: config.web_app_base_url.clone(),
        discord: config.discord.oauth.as_ref().map(public),
        discord_authorize_url: config.discord.authorize_url.clone(),
        discord_invite_url: config.discord.bot_invite_url.clone(),
        google: config.google.oauth.as_ref().map(public),
        google_authorize_url: config.google.authorize_url.clone(),
        jwt: api::jwt::JwtSettings {
            secret: config.security.jwt_secret.clone(),
            ttl: config.security.access_token_expiry,
        },
        refresh_ttl: config.security.refresh_token_expiry,
        job_wait: std::time::Duration::from_secs(10),
        max_waiters: config.limits.max_job_waiters,
        limits: config.limits.api(),
        trusted_proxies: config.security.trusted_proxies.clone(),
    }
}

async fn serve_api(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let pool = store::connect(&config.database.settings);
    let redis = redis::Client::open(config.redis.url.expose())
        .context("REDIS_URL is not a usable Redis URL")?;
    let producer = producer(config).await?;
    let state = api::AppState::new(pool.clone(), redis, producer, api_config(config));
    let board = serve_board(config, state.clone(), shutdown.clone());
    let app = api::app(
        state,
        api::HttpSettings {
            max_body_bytes: config.server.max_body_bytes,
        },
    );
    let (acceptor, local) = listen(config.server.host, config.server.port, "PORT").await?;
    tracing::info!(
        address = %local,
        database = %config.database.settings.display_target(),
        "API listening; docs at http://{}/api/docs",
        display_host(local)
    );
    let api = async {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move { shutdown.cancelled().await },
                Some(config.server.shutdown_grace),
            )
            .await
            .context("the HTTP server failed")
    };
    tokio::try_join!(api, board)?;
    pool.close().await;
    tracing::info!("API stopped");
    Ok(())
}

/// Binds `host:port` (`setting` names the port's setting in the error) and tells the address
/// it got (port 0 picks a free one).
async fn listen(
    host: std::net::IpAddr,
    port: u16,
    setting: &str,
) -> anyhow::Result<(impl Acceptor + 'static, std::net::SocketAddr)> {
    let addr = std::net::SocketAddr::new(host, port);
    let acceptor = poem::listener::TcpListener::bind(addr)
        .into_acceptor()
        .await
        .with_context(|| format!("cannot listen on {addr} (settings HOST and {setting})"))?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .unwrap_or(addr);
    Ok((acceptor, local))
}

/// The job board on its own port (`BOARD_PORT`; 0: not served).
async fn serve_board(
    config: &Config,
    state: api::AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if config.server.board_port == 0 {
        return Ok(());
    }
    let (acceptor, local) =
        listen(config.server.host, config.server.board_port, "BOARD_PORT").await?;
    tracing::info!(
        address = %local,
        "job board listening on http://{}/ (user: any, password: the admin key or an admin token)",
        display_host(local)
    );
    // Its requests are short reads; only event streams stay open, and those may be cut.
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            api::board::board(state),
            async move { shutdown.cancelled().await },
            Some(std::time::Duration::from_secs(1)),
        )
        .await
        .context("the job board's HTTP server failed")
}

async fn producer(config: &Config) -> anyhow::Result<jobs::Producer> {
    let client = redis::Client::open(config.redis.url.expose())
        .context("REDIS_URL is not a usable Redis URL")?;
    jobs::Producer::connect(client, &config.redis.key_prefix)
        .await
        .context("cannot reach Redis (REDIS_URL)")
}

async fn run_workers(
    config: &Config,
    shutdown: CancellationToken,
    serve_metrics: bool,
) -> anyhow::Result<()> {
    let producer = producer(config).await?;
    let w = &config.workers;
    let settings = workers::WorkerSettings {
        queue: jobs::QueueConfig {
            lease: w.lease,
            heartbeat: (w.lease / 6).max(std::time::Duration::from_millis(200)),
            result_ttl: w.result_ttl,
            dead_ttl: w.dead_ttl,
            ..jobs::QueueConfig::default()
        },
        concurrency: w.queue_concurrency.clone(),
        default_concurrency: w.concurrency,
        probe_queues: w.probe_queues.clone(),
        grace: config.server.shutdown_grace,
        sweep_every: w.sweep_every,
        metrics_addr: (serve_metrics && w.metrics_port != 0)
            .then(|| std::net::SocketAddr::new(config.server.host, w.metrics_port)),
    };
    let db = store::connect(&config.database.settings);
    let email = email_settings(config)?;
    let oauth = workers::providers::oauth::Oauth::new(oauth_settings(config))
        .context("cannot build the HTTP client of the OAuth providers")?;
    workers::run(
        workers::Deps {
            producer,
            db,
            email,
            oauth,
            sealer: sealer(config),
            discord: config.discord.bot_token.as_ref().map(|token| {
                workers::providers::discord::Discord::new(&discord_settings(config, token))
            }),
            ai: workers::providers::ai::Ai::new(ai_settings(config))
                .context("cannot build the HTTP client of the AI providers")?,
            gate: workers::guild::GateSettings {
                member_role_name: config.discord.member_role_name.clone(),
                verification_timeout: config.discord.verification_timeout,
                fallback_channel_id: config.discord.fallback_channel_id,
                log_channel_id: config.discord.log_channel_id,
                web_app_base_url: config.web_app_base_url.as_ref().map(|u| u.to_string()),
                failures_per_email: config.limits.failures_per_email_and_source,
                failure_window: config.limits.window,
            },
        },
        settings,
        shutdown,
    )
    .await
}

async fn run_bot(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Some(token) = &config.discord.bot_token else {
        return Ok(());
    };
    let producer = producer(config).await?;
    let deps = bot::BotDeps {
        db: store::connect(&config.database.settings),
        producer,
        sealer: sealer(config),
    };
    let settings = bot::BotSettings {
        token: token.clone(),
        proxy: discord_settings(config, token).proxy,
        respond_to_all_messages: config.discord.respond_to_all_messages,
        bypass_auth: config.discord.bypass_auth,
        verification_timeout: config.discord.verification_timeout,
        attempts_per_member: config.limits.secret_attempts_per_discord_id,
        attempts_window: config.limits.window,
    };
    bot::run(deps, settings, shutdown).await
}

/// Discord REST: discord.com, or the host of `DISCORD_API_BASE_URL` when it points elsewhere
/// (a self-hosted gateway or a test double).
fn discord_settings(
    config: &Config,
    token: &store::secret::Secret,
) -> workers::providers::discord::DiscordSettings {
    let base = &config.discord.api_base_url;
    let proxy = (base.host_str() != Some("discord.com")).then(|| {
        let mut origin = base.origin().ascii_serialization();
        if origin == "null" {
            origin = base.as_str().trim_end_matches('/').to_owned();
        }
        origin
    });
    workers::providers::discord::DiscordSettings {
        token: token.clone(),
        proxy,
    }
}

fn ai_settings(config: &Config) -> workers::providers::ai::AiSettings {
    let api = |p: &concierge::config::AiProvider| workers::providers::ai::ApiSettings {
        base_url: p.base_url.clone(),
        model: p.model.clone(),
        api_key: p.api_key.clone(),
    };
    workers::providers::ai::AiSettings {
        chat: config.ai.chat.as_ref().map(api),
        image: config.ai.image.as_ref().map(api),
        speech: config.ai.speech.as_ref().map(api),
        speech_voice: config.ai.speech_voice.clone(),
        history_turns: config.ai.chat_history_turns,
    }
}

fn oauth_settings(config: &Config) -> workers::providers::oauth::OauthSettings {
    use workers::providers::oauth::ProviderClient;
    let client = |c: &concierge::config::OAuthClient, token_url: &url::Url| ProviderClient {
        client_id: c.client_id.clone(),
        client_secret: c.client_secret.clone(),
        redirect_uri: c.redirect_uri.clone(),
        token_url: token_url.clone(),
    };
    let (d, g) = (&config.discord, &config.google);
    workers::providers::oauth::OauthSettings {
        discord: d.oauth.as_ref().map(|c| client(c, &d.token_url)),
        discord_api_base: d.api_base_url.clone(),
        google: g.oauth.as_ref().map(|c| client(c, &g.token_url)),
        google_userinfo_url: g.userinfo_url.clone(),
        google_tokeninfo_url: g.tokeninfo_url.clone(),
    }
}

fn email_settings(config: &Config) -> anyhow::Result<workers::send_email::EmailSettings> {
    use concierge::config::EmailTransport;
    use workers::providers::smtp::Mailer;
    let mailer = match &config.email.transport {
        EmailTransport::Files { dir } => {
            tracing::info!(dir = %dir.display(), "emails are written as .eml files (no SMTP_HOST)");
            Mailer::files(dir)
        }
        EmailTransport::Smtp(settings) => Mailer::smtp(settings)?,
    };
    Ok(workers::send_email::EmailSettings {
        mailer,
        from: config.email.from.clone(),
        community: config.email.community_name.clone(),
        invitation_ttl: config.security.invitation_token_expiry,
        verification_ttl: std::time::Duration::from_secs(24 * 3600),
        mails_per_address: config.limits.mails_per_address_per_hour,
        anonymous_mails_per_hour: config.limits.anonymous_mails_per_hour,
    })
}

/// `concierge probe`: push probe jobs, wait for them, print one JSON line.
#[allow(clippy::print_stdout)]
async fn probe(
    config: &Config,
    args: ProbeArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    use jobs::probe_run::{self, ProbeRunKeys};
    let producer = producer(config).await?;
    let keys = jobs::redis::QueueKeys::new(producer.prefix(), &args.queue);
    let mut conn = producer.connection();
    let (run_id, enqueued) = match &args.check {
        Some(run_id) => {
            let run = ProbeRunKeys::new(&keys, run_id);
            let report = probe_run::report(&mut conn, &run, run_id, &args.queue).await?;
            if report.enqueued == 0 {
                anyhow::bail!(
                    "no probe run {run_id} in queue {} (it may have expired after a day)",
                    args.queue
                );
            }
            (run_id.clone(), report.enqueued)
        }
        None => {
            let run_id = uuid::Uuid::now_v7().simple().to_string();
            let run = ProbeRunKeys::new(&keys, &run_id);
            probe_run::begin(&mut conn, &run, args.count).await?;
            push_probes(&producer, &args, &run_id, &shutdown).await?;
            probe_run::pushed(&mut conn, &run).await?;
            tracing::info!(run_id = %run_id, count = args.count, queue = %args.queue, "pushed probe jobs");
            (run_id, args.count)
        }
    };
    if args.no_wait {
        println!(
            "{}",
            serde_json::json!({ "run_id": run_id, "queue": args.queue, "enqueued": enqueued })
        );
        return Ok(ExitCode::SUCCESS);
    }
    let run = ProbeRunKeys::new(&keys, &run_id);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(args.timeout);
    // A CLI watching a counter: checking it a few times a second costs nothing.
    while probe_run::completed(&mut conn, &run).await? < enqueued
        && tokio::time::Instant::now() < deadline
        && !shutdown.is_cancelled()
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let report = probe_run::report(&mut conn, &run, &run_id, &args.queue).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(if report.lost == 0 && report.duplicates == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn push_probes(
    producer: &jobs::Producer,
    args: &ProbeArgs,
    run_id: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let padding = "x".repeat(args.payload_bytes);
    let options = jobs::PushOptions::default().in_queue(args.queue.clone());
    let make = |seq: u64| jobs::Probe {
        run_id: run_id.to_owned(),
        seq,
        enqueued_at_ms: jobs::now_ms(),
        work_ms: args.work_ms,
        padding: padding.clone(),
    };
    if args.rate == 0 {
        let mut seq = 0;
        while seq < args.count {
            let end = (seq + 10_000).min(args.count);
            let batch: Vec<jobs::Probe> = (seq..end).map(make).collect();
            producer.push_bulk(&batch, options.clone()).await?;
            seq = end;
        }
        return Ok(());
    }
    // Paced: a small batch every 10 ms, so the rate is smooth at any size.
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(10));
    let mut seq = 0;
    while seq < args.count && !shutdown.is_cancelled() {
        ticker.tick().await;
        let due = ((started.elapsed().as_secs_f64() * args.rate as f64) as u64).min(args.count);
        if due > seq {
            let batch: Vec<jobs::Probe> = (seq..due).map(make).collect();
            producer.push_bulk(&batch, options.clone()).await?;
            seq = due;
        }
    }
    Ok(())
}

/// `0.0.0.0:8000` is where we listen, `localhost:8000` is what a person can open.
fn display_host(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    }
}

fn build_info() -> api::BuildInfo {
    api::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: env!("CONCIERGE_GIT_COMMIT").to_owned(),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_owned(),
    }
}

/// `concierge openapi`: print, write or check the spec. Needs no configuration.
#[allow(clippy::print_stdout)]
fn openapi(format: SpecFormat, check: bool, write: bool, dir: &Path) -> ExitCode {
    let files = [
        ("openapi.json", api::spec_json()),
        ("openapi.yaml", api::spec_yaml()),
    ];
    if !check && !write {
        let (_, text) = match format {
            SpecFormat::Json => &files[0],
            SpecFormat::Yaml => &files[1],
        };
        println!("{}", text.trim_end());
        return ExitCode::SUCCESS;
    }
    let mut stale = Vec::new();
    for (name, generated) in &files {
        let path = dir.join(name);
        let generated = format!("{}\n", generated.trim_end());
        if write {
            if let Err(e) =
                std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &generated))
            {
                eprintln!("concierge openapi: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!("wrote {}", path.display());
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    if stale.is_empty() {
        if check {
            eprintln!("the committed OpenAPI spec matches the code");
        }
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "concierge openapi: {} differ from the code; run `concierge openapi --write` and commit",
            stale.join(" and ")
        );
        ExitCode::FAILURE
    }
}
