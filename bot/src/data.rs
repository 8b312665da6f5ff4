//! What every event handler shares: the bot's dependencies and settings, the member cache and
//! the rate limiter, with the small acts they all use (push a job, send a DM, count an attempt).
//! The gateway handler (`handler`), the gate (`gate`) and the slash commands (`commands`) all
//! work on one [`Inner`]; none of them owns it.

use jobs::ratelimit::{Decision, Limit, RateLimiter};
use jobs::{DmMessage, PushOptions, SendDiscordDm};
use serenity::all::User;

use crate::members::MemberCache;
use crate::{BotDeps, BotSettings};

/// The state behind every event, shared by the handler's clones (serenity runs events
/// concurrently).
pub struct Inner {
    /// The store, the producer and the sealer: what the bot reads, writes and pushes with.
    pub deps: BotDeps,
    /// How the bot behaves (whom it answers, the gate's default timeout, attempt limits).
    pub settings: BotSettings,
    /// From Discord account to user on every message, without a query each time.
    pub members: MemberCache,
    /// Counts guesses at secrets and reminder mails in Redis, so every bot replica shares
    /// one count.
    pub limiter: RateLimiter,
}

impl Inner {
    pub fn new(deps: BotDeps, settings: BotSettings) -> Self {
        let limiter = RateLimiter::new(&deps.producer);
        Self {
            deps,
            settings,
            members: MemberCache::default(),
            limiter,
        }
    }

    /// Counts an attempt at a secret (code, token) by `member`; false when over the limit.
    pub async fn attempt_allowed(&self, member: u64) -> bool {
        let limit = Limit {
            scope: "discord",
            max: self.settings.attempts_per_member,
            window: self.settings.attempts_window,
        };
        self.hit(limit, member).await
    }

    /// Counts one hit of `member` against `limit`; false when over it.
    pub async fn hit(&self, limit: Limit, member: u64) -> bool {
        match self.limiter.hit(&[(limit, &member.to_string())]).await {
            Ok(Decision::Allowed) => true,
            Ok(Decision::Limited { .. }) => false,
            Err(e) => {
                // Without Redis nothing can be pushed either; refuse rather than allow guessing.
                tracing::error!(error = %e, "rate limiter unavailable");
                false
            }
        }
    }

    /// Pushes a job, logging a failure (an event handler has nobody to return an error to).
    pub async fn push<J: jobs::Job>(&self, job: &J, options: PushOptions) -> bool {
        match self.deps.producer.push_with(job, options).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(queue = J::QUEUE, error = %e, "cannot push a job");
                false
            }
        }
    }

    /// Sends `message` to `member` by DM (through the queue).
    pub async fn dm(&self, member: u64, guild: Option<u64>, message: DmMessage, key: String) {
        self.push(
            &SendDiscordDm {
                discord_user_id: member,
                guild_id: guild,
                message,
            },
            PushOptions::idempotent(key),
        )
        .await;
    }
}

/// Bots and Discord's system user: the bot never answers them, and they pass no gate.
pub fn is_bot(user: &User) -> bool {
    user.bot || user.system
}
