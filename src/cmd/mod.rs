//! The commands of the `concierge` binary, one file each: `main.rs` parses the command line
//! and calls the one asked for. Each builds the pieces of its role from the library crates
//! and the configuration's conversions, and runs them until shutdown.
//!
//! # Layout
//! - `all.rs`: `concierge all`, every role in one process
//! - `api.rs`: `concierge api`, the HTTP API and the job board on its own port
//! - `worker.rs`: `concierge worker`, the job workers
//! - `bot.rs`: `concierge bot`, the Discord bot
//! - `migrate.rs`: `concierge migrate`, creating and migrating the database
//! - `probe.rs`: `concierge probe`, pushing probe jobs and checking each ran once
//! - `healthcheck.rs`: `concierge healthcheck`, for container healthchecks
//! - `reseal.rs`: `concierge reseal`, sealing stored tokens under the current key
//! - `openapi.rs`: `concierge openapi`, printing or checking the committed spec
//! - `services.rs`: whether PostgreSQL and Redis answer, and the Redis producer every role
//!   builds
//! - this file: the error chain every command's failure is printed with

pub(crate) mod all;
pub(crate) mod api;
pub(crate) mod bot;
pub(crate) mod healthcheck;
pub(crate) mod migrate;
pub(crate) mod openapi;
pub(crate) mod probe;
pub(crate) mod reseal;
pub(crate) mod services;
pub(crate) mod worker;

/// `outer: cause: root cause`, skipping a cause whose text its parent already repeats (sqlx
/// and refinery both quote their source in their own message).
pub(crate) fn error_chain(e: &anyhow::Error) -> String {
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
