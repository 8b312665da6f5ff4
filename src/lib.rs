//! The composition root of Concierge: the one `concierge` binary, whose subcommands are the
//! roles of the system (API, workers, bot, and `all` of them in one process), and this
//! library beside it. The root crate is the only place that reads the environment and the
//! only one that knows every other crate: it resolves one typed configuration, converts each
//! section into the settings of the crate it configures, and wires the crates together. The
//! library holds what does not run a command (the configuration and the logging setup), so
//! the integration tests in `tests/concierge/` can use it too; the binary holds the commands.
//!
//! # Layout
//! - [`config`] (`config/`): the one typed configuration, from environment, `.env` and YAML;
//!   `mod.rs` holds [`config::Config`] and its loading, `file.rs` the reading of the files,
//!   `resolve.rs` the layering of one setting, `error.rs` the one-line error, `secrets.rs` the
//!   generated keys, and one file per section (`database.rs`, `redis.rs`, `server.rs`,
//!   `logging.rs`, `security.rs`, `email.rs`, `discord.rs`, `google.rs`, `oauth.rs`, `ai.rs`,
//!   `workers.rs`, `telemetry.rs`, `limits.rs`) with its struct, its YAML mirror, its resolver,
//!   its tests and its conversion into a crate's settings
//! - [`telemetry`]: logging setup (human or JSON) and trace export
//! - `main.rs` (the binary): the command line (clap), loading the configuration, logging,
//!   signals, and the dispatch to one command
//! - `cmd/` (the binary): one file per command (`all.rs`, `api.rs`, `worker.rs`, `bot.rs`,
//!   `migrate.rs`, `probe.rs`, `healthcheck.rs`, `reseal.rs`, `openapi.rs`); `cmd/mod.rs` what
//!   several share

pub mod config;
pub mod telemetry;
