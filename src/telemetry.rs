//! Logging: `tracing` with human-readable lines by default and one JSON object per line when
//! `LOG_FORMAT=json`. Spans carry the context (request id on API requests; queue, job id and
//! attempt on jobs), so every line inside them names it.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LoggingConfig};

/// Installs the global subscriber. Call once, after the configuration is loaded.
pub fn init(config: &LoggingConfig) -> anyhow::Result<()> {
    // Validated when the configuration was loaded.
    let filter = EnvFilter::try_new(&config.filter)?;
    let registry = tracing_subscriber::registry().with(filter);
    match config.format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init()?,
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()?,
    }
    Ok(())
}
