//! The Postgres store: connection pool, the refinery migration runner (embedding
//! `../migrations`), and the queries of each table, next to the table they touch.
//!
//! Queries are `sqlx::query!` macros, checked at compile time against the schema; the offline
//! data lives in the workspace's `.sqlx/` (see the README's "Changing the schema").
//!
//! # Layout
//! - [`pool`]: connect options, the pool, creating the database when it is missing
//! - [`migrate`]: refinery on a sqlx connection, with a lock so replicas migrate one at a time
//! - [`adopt`]: taking over the replaced systems' database (their tables set aside in
//!   `legacy`, their users converted)
//! - [`secret`]: random secrets and their SHA-256 digests, the only form in which we store them
//! - [`email`]: the one canonical form of an email address
//! - [`users`]: people, their onboarding, listing, changes and deletion
//! - [`user_page`]: everything the admin console shows about one user
//! - [`identities`]: linked Discord and Google accounts, never moved between users
//! - [`sessions`]: refresh-token families with rotation and reuse detection
//! - [`invitations`]: CSV imports, invitation batches and their mails, token checks (seed 003)
//! - [`audit`]: who did what, and its listing with filters
//! - [`chat_messages`]: the bot's conversation turns
//! - [`members`]: the Discord verification gate and guild settings
//! - [`api_tokens`]: admin Bearer API tokens (seed 004)
//! - [`email_deliveries`]: emails to send and their delivery status
//! - [`job_effects`]: the idempotency ledger of jobs
//! - [`one_time_tokens`]: single-use secrets (invitations, verification, auth codes)
//! - [`maintenance`]: the periodic sweep's deletions

pub mod adopt;
pub mod api_tokens;
pub mod audit;
pub mod chat_messages;
pub mod email;
pub mod email_deliveries;
pub mod identities;
pub mod invitations;
pub mod job_effects;
pub mod maintenance;
pub mod members;
pub mod migrate;
pub mod one_time_tokens;
pub mod pool;
pub mod secret;
pub mod sessions;
pub mod user_page;
pub mod users;

pub use pool::{DatabaseSettings, connect, ensure_database, ping, reach_server};
/// The error of every query, for crates that do not depend on sqlx themselves.
pub use sqlx::Error as StoreError;
pub use sqlx::PgPool as Pool;

/// Whether `e` says the database cannot be reached or is going away (no connection in time,
/// a refused or broken connection, the server shutting down or not yet accepting), not that
/// the query was wrong: the caller may try again later, and answers 503, not 500.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) => true,
        // Class 08 (connection exception), 57P01-57P03 (admin or crash shutdown, cannot
        // connect now), 53300 (too many connections).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Whether `e` is the violation of the unique constraint (or index) named `constraint`: the
/// one database error that is the client's doing, mapped to 409 by callers.
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}
