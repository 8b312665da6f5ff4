//! Accounts at OAuth providers linked to users. A provider account belongs to at most one user
//! and is never moved silently from one user to another; provider tokens are kept sealed (see
//! [`crate::secret::Sealer`]) so the sweep can refresh them.
//!
//! # Layout
//! - `discord`: linking a Discord account, the proofs a link rests on, who owns one.
//! - `google`: signing in with Google (find, link by verified email, or create).
//! - `tokens`: stored provider tokens: refresh locking, rotation, parking, resealing.

mod discord;
mod google;
mod tokens;

pub use discord::{
    DiscordLink, DiscordOwner, LinkProof, discord_of_user, discord_owner, link_discord,
    user_of_discord,
};
pub use google::{GoogleSignIn, sign_in_google};
pub use tokens::{
    Resealed, StoredTokens, due_for_refresh, forget_tokens, lock_for_refresh, park_refresh, reseal,
    store_refreshed,
};

use chrono::{DateTime, Utc};

/// Discord's issuer, for the (provider, issuer, subject) key.
pub const DISCORD_ISSUER: &str = "https://discord.com";
/// Google's issuer (the `iss` of its ID tokens).
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// A provider account as fetched by a worker, with its tokens already sealed.
#[derive(Debug, Clone, Default)]
pub struct ProviderAccount {
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    /// Whether the provider vouches for `email`. An unverified email is never trusted.
    pub email_verified: bool,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<String>,
}
