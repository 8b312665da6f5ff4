//! The job catalogue: one payload per file, named like the queue (and like the handler file
//! in `workers`), each opening with where it is pushed and where it is handled. Payloads carry
//! ids and small values; handlers re-read the rows they need. [`crate::for_each_job!`] is the one
//! list of them all.

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

/// Names every job type of the catalogue, once: `for_each_job!(callback)` expands to
/// `callback! { $crate::SendEmail, $crate::ExchangeOauthCode, … }`. [`QUEUES`] is made from it,
/// and the worker runtime serves each job with it, so a job added here has a queue name in
/// every listing and, without a handler in `workers`, does not compile.
#[macro_export]
macro_rules! for_each_job {
    ($callback:ident) => {
        $callback! {
            $crate::SendEmail,
            $crate::ExchangeOauthCode,
            $crate::RefreshProviderToken,
            $crate::ChatReply,
            $crate::GenerateImage,
            $crate::SendDiscordDm,
            $crate::VerifyMember,
            $crate::KickExpiredMember,
            $crate::GuildCommand,
            $crate::Sweep,
            $crate::Probe,
        }
    };
}

/// The queue names of the given job types, in their order.
macro_rules! queue_names {
    ($($job:ty),* $(,)?) => {
        &[$(<$job as crate::job::Job>::QUEUE),*]
    };
}

/// Every queue name, for listing and for workers that serve them all.
pub const QUEUES: &[&str] = for_each_job!(queue_names);

#[cfg(test)]
mod tests {
    /// A queue name is part of every Redis key of its queue: two jobs sharing one would read
    /// each other's payloads.
    #[test]
    fn every_job_has_a_queue_of_its_own() {
        let mut names = super::QUEUES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), super::QUEUES.len(), "{:?}", super::QUEUES);
        assert!(names.iter().all(|n| !n.is_empty()));
    }
}
