//! Job handlers, one file per job (named like its payload in `jobs`), and the runtime that
//! runs them: one apalis worker per queue in a `Monitor`, on the Redis backend of `jobs`.
//!
//! # Layout
//! - [`runtime`]: `concierge worker`: which queues, concurrency, graceful shutdown; [`Handles`],
//!   what every job's handler file implements
//! - [`cron`]: periodic jobs fired once across replicas
//! - [`probe`]: the no-op job of `concierge probe`
//! - [`send_email`]: render, send and record one email
//! - [`exchange_oauth_code`]: OAuth code or token → linked account (Discord, Google)
//! - [`refresh_provider_token`]: keep stored provider tokens fresh
//! - [`send_discord_dm`], [`chat_reply`], [`generate_image`], [`verify_member`],
//!   [`kick_expired_member`], [`guild_command`]: the Discord side (seeds 001 and 003)
//! - [`guild`]: what the Discord handlers share (gate settings, member role, log channel)
//! - [`sweep`]: periodic housekeeping
//! - [`providers`]: the outside services (SMTP, OAuth, Discord REST, chat/image/speech)

pub mod chat_reply;
pub mod cron;
pub mod exchange_oauth_code;
pub mod generate_image;
pub mod guild;
pub mod guild_command;
pub mod kick_expired_member;
pub mod probe;
pub mod providers;
pub mod refresh_provider_token;
pub mod runtime;
pub mod send_discord_dm;
pub mod send_email;
pub mod sweep;
pub mod verify_member;

pub use runtime::{Deps, Handler, Handles, WorkerSettings, run};
