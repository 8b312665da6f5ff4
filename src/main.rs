//! `concierge`: the one binary of Concierge. Each subcommand is one role of the system; `all`
//! runs every role in one process for development and small deployments.
//!
//! This file is the composition root: it parses the command line, loads the configuration,
//! installs logging, and runs the command asked for (each in its own file under `cmd/`, which
//! builds the pieces of its role from the library crates) until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use concierge::config::{Config, Generated};
use concierge::telemetry;

use cmd::openapi::SpecFormat;
use cmd::probe::ProbeArgs;

mod cmd;

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
    /// Run the Discord bot (needs DISCORD_BOT_TOKEN): all its gateway shards, or those of
    /// DISCORD_SHARDS out of DISCORD_SHARD_COUNT.
    Bot,
    /// Create the database if it does not exist and apply pending migrations.
    Migrate {
        /// Stop at this schema version instead of the newest.
        #[arg(long, value_name = "VERSION")]
        target: Option<i32>,
        /// Adopt the database of the systems Concierge replaces: move the tables found before
        /// the first migration to the schema `legacy` (every row kept), migrate, then import
        /// their users (emails, roles, usernames, Discord and Google ids, invitation tokens).
        #[arg(long)]
        adopt: bool,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi {
        format,
        check,
        write,
        dir,
    } = &cli.command
    {
        return cmd::openapi::run(*format, *check, *write, dir);
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
    // On the runtime's workers, not the main thread: `block_on` would poll the command (the
    // worker's apalis monitor, the API's server) on a thread of its own, and every wake-up
    // between it and the tasks it spawned would cross threads (a context switch each on a
    // worker pinned to one CPU).
    let result = runtime.block_on(async move {
        tokio::spawn(run(cli.command, config))
            .await
            .unwrap_or_else(|e| Err(anyhow::anyhow!("the command panicked: {e}")))
    });
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{}", cmd::error_chain(&e));
            ExitCode::FAILURE
        }
    };
    // The runtime still runs the exporter's requests while the last spans go out.
    telemetry.shutdown();
    code
}

/// Runs `command` until it ends or a signal stops it; its exit code is the process's.
async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    match command {
        Command::All => cmd::all::run(&config, shutdown).await?,
        Command::Api => cmd::api::run(&config, shutdown).await?,
        Command::Migrate { target, adopt } => {
            cmd::migrate::run(&config, target, adopt).await?;
        }
        Command::Worker => cmd::worker::run(&config, shutdown, true).await?,
        Command::Probe(args) => return cmd::probe::run(&config, args, shutdown).await,
        Command::Bot => return cmd::bot::run(&config, shutdown).await,
        Command::Healthcheck { url, deps } => {
            return Ok(cmd::healthcheck::run(&config, url, deps).await);
        }
        Command::Reseal => cmd::reseal::run(&config).await?,
        Command::Openapi { .. } => unreachable!("handled before the configuration is loaded"),
    }
    Ok(ExitCode::SUCCESS)
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
