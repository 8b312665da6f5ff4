//! The job catalogue: one payload per file, named like the queue (and like the handler file
//! in `workers`). Payloads carry ids and small values; handlers re-read the rows they need.

mod chat_reply;
mod exchange_oauth_code;
mod generate_image;
mod guild_command;
mod kick_expired_member;
mod probe;
mod refresh_provider_token;
mod send_discord_dm;
mod send_email;
mod sweep;
mod verify_member;

pub use chat_reply::ChatReply;
pub use exchange_oauth_code::{
    ExchangeError, ExchangeOauthCode, ExchangeOutcome, OauthGrant, OauthProvider,
};
pub use generate_image::GenerateImage;
pub use guild_command::{AdminCommand, GuildCommand};
pub use kick_expired_member::KickExpiredMember;
pub use probe::Probe;
pub use refresh_provider_token::RefreshProviderToken;
pub use send_discord_dm::{DmMessage, SendDiscordDm};
pub use send_email::SendEmail;
pub use sweep::Sweep;
pub use verify_member::{InteractionRef, MemberProof, VerifyMember};

/// Every queue name, for listing and for workers that serve them all.
pub const QUEUES: &[&str] = &[
    <SendEmail as crate::Job>::QUEUE,
    <ExchangeOauthCode as crate::Job>::QUEUE,
    <RefreshProviderToken as crate::Job>::QUEUE,
    <ChatReply as crate::Job>::QUEUE,
    <GenerateImage as crate::Job>::QUEUE,
    <SendDiscordDm as crate::Job>::QUEUE,
    <VerifyMember as crate::Job>::QUEUE,
    <KickExpiredMember as crate::Job>::QUEUE,
    <GuildCommand as crate::Job>::QUEUE,
    <Sweep as crate::Job>::QUEUE,
    <Probe as crate::Job>::QUEUE,
];
