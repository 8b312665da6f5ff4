//! Logs: the `tracing` filter and the line format, read from `RUST_LOG`, or seed 002's
//! `LOG_LEVEL` and `DEBUG` (keys of the YAML `server` section), and `LOG_FORMAT`; and where
//! seed 002's login log goes (`LOGIN_LOG_FILE`). The filter is
//! checked here so a typo stops the start with one line instead of silencing the logs.

use super::error::{ConfigError, invalid};
use super::resolve::Resolver;
use super::server::FileServer;

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
    /// Seed 002's login log: a line per sign-in, refresh, sign-out and username change (each
    /// is an audit row too). `LOGIN_LOG_FILE`, `server.login_log_file`; default
    /// `logs/login.log` (relative to the working directory, created when missing); `off`: no
    /// file, audit rows only. Written by the API role.
    pub login_log_file: Option<std::path::PathBuf>,
}

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For a person at a terminal.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

pub(super) fn resolve(r: &Resolver<'_>, f: &FileServer) -> Result<LoggingConfig, ConfigError> {
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
    let login_log_file =
        match r.string_or("LOGIN_LOG_FILE", f.login_log_file.clone(), "logs/login.log") {
            off if off.eq_ignore_ascii_case("off") => None,
            path => Some(path.into()),
        };
    Ok(LoggingConfig {
        filter,
        format,
        login_log_file,
    })
}
