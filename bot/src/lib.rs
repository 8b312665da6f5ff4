//! The Discord bot (serenity 0.12): it holds the gateway connection, reads the store, writes
//! small rows, and pushes jobs; the workers do everything else that talks to Discord REST or a
//! provider. The one exception is the interaction response Discord requires within three
//! seconds (a deferral, or an immediate refusal), which the bot sends itself.
//!
//! # Layout
//! - [`run`]: connect, register slash commands, dispatch events until shut down
//! - `handler`: the gateway events, each in its own trace: who the bot answers (seed 001),
//!   chat, text `/login` and DM verification routed to the gate, member events to the gate,
//!   interactions to `commands`
//! - `gate`: the verification gate on member join (seed 003: DM, deadline, kick, the role
//!   back for members verified before), verification attempts, secrets typed in a channel
//! - `commands`: slash commands (`/login`, `/verify`, `/imagine`, admin commands)
//! - `data`: `Inner`, what every event shares (dependencies, settings, member cache, rate
//!   limiter), and the acts they all use (push a job, send a DM, count an attempt)
//! - `members`: the bounded cache from Discord account to user
//!
//! Imports run one way: `handler` uses `commands` and `data`; `commands` and `gate` use `data`
//! (the gate's acts are methods of `Inner`); `data` uses `members`.

mod commands;
mod data;
mod gate;
mod handler;
mod members;

use std::time::Duration;

use anyhow::bail;
use serenity::all::{ClientBuilder, GatewayIntents};
use serenity::http::{Http, HttpBuilder};
use store::secret::{Sealer, Secret};
use tokio_util::sync::CancellationToken;

/// What the bot needs.
#[derive(Debug, Clone)]
pub struct BotDeps {
    pub db: store::Pool,
    pub producer: jobs::Producer,
    /// Seals the secrets members type (tokens, codes) and interaction tokens into payloads.
    pub sealer: Sealer,
}

/// How the bot behaves.
#[derive(Debug, Clone)]
pub struct BotSettings {
    pub token: Secret,
    /// `http://127.0.0.1:<port>`: talk to a fake Discord there (tests), rate limiter off.
    pub proxy: Option<String>,
    /// `RESPOND_TO_ALL_MESSAGES`.
    pub respond_to_all_messages: bool,
    /// `BYPASS_AUTH` (testing only, seed 001): chat with linked members whose account is not
    /// verified (or whose link is unconfirmed). Members who never linked still get the login
    /// instructions and no chat.
    pub bypass_auth: bool,
    /// `VERIFICATION_TIMEOUT`, unless the guild set its own.
    pub verification_timeout: Duration,
    /// Attempts per Discord account per window on `/login` codes and verification tokens.
    pub attempts_per_member: u32,
    pub attempts_window: Duration,
    /// The gateway shards this process runs.
    pub shards: Shards,
}

/// The gateway shards one bot process runs: `first..=last` of the `count` the bot's guilds
/// are split over (Discord sends guild `g`'s events to shard `(g >> 22) % count`, and DMs to
/// shard 0). Every process of one bot must use the same `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shards {
    pub count: u32,
    pub first: u32,
    pub last: u32,
}

impl Shards {
    /// One shard for every guild: what a bot in fewer than 2,500 guilds runs.
    pub const ONE: Self = Self {
        count: 1,
        first: 0,
        last: 0,
    };

    /// Every shard of `count` in this process.
    pub fn all(count: u32) -> Self {
        Self {
            count,
            first: 0,
            last: count.saturating_sub(1),
        }
    }

    /// The shards this process runs.
    pub fn ids(&self) -> std::ops::RangeInclusive<u32> {
        self.first..=self.last
    }

    /// Shards `first..=last` of `count`; `None` unless `first <= last < count`.
    pub fn range(count: u32, first: u32, last: u32) -> Option<Self> {
        (first <= last && last < count).then_some(Self { count, first, last })
    }
}

impl std::fmt::Display for Shards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "shard {} of {}", self.first, self.count)
        } else {
            write!(f, "shards {}-{} of {}", self.first, self.last, self.count)
        }
    }
}

/// Discord closes a shard that would hold more guilds than this (4011 Sharding required).
const GUILDS_PER_SHARD: u32 = 2500;
/// How long the checks before connecting wait for Discord's REST API.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(10);

/// The gateway intents the bot needs: guilds, members (privileged: the gate), guild and DM
/// messages and their content (privileged: chat).
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MEMBERS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
}

/// Runs the bot until `shutdown`; serenity reconnects and resumes on its own.
pub async fn run(
    deps: BotDeps,
    settings: BotSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if settings.bypass_auth {
        tracing::warn!(
            "BYPASS_AUTH is on: the bot chats with linked members whose account is not verified"
        );
    }
    let mut http = HttpBuilder::new(settings.token.expose());
    if let Some(proxy) = &settings.proxy {
        http = http.proxy(proxy.clone()).ratelimiter_disabled(true);
    }
    let http = http.build();
    let shards = settings.shards;
    tokio::select! {
        checked = tokio::time::timeout(PREFLIGHT_TIMEOUT, preflight(&http, shards)) => {
            if checked.is_err() {
                tracing::warn!("Discord's REST API did not answer within 10 s: connecting anyway");
            }
            checked.unwrap_or(Ok(()))?;
        }
        () = shutdown.cancelled() => return Ok(()),
    }
    tracing::info!(%shards, "connecting to Discord's gateway");
    let handler = handler::Handler::new(deps, settings);
    let mut client = ClientBuilder::new_with_http(http, intents())
        .event_handler(handler)
        .await?;
    let manager = client.shard_manager.clone();
    // serenity boots `range.start..=range.end`: `end - start + 1` shards (client/mod.rs,
    // `start_connection`), so the range is passed as first..last, both included.
    let mut running = tokio::spawn(async move {
        client
            .start_shard_range(shards.first..shards.last, shards.count)
            .await
    });
    tokio::select! {
        result = &mut running => {
            return match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::anyhow!("the Discord connection ended: {e}")),
                Err(e) => Err(anyhow::anyhow!("the bot task failed: {e}")),
            };
        }
        () = shutdown.cancelled() => {}
    }
    tracing::info!("stopping the bot");
    let stop = async {
        manager.shutdown_all().await;
        let _ = (&mut running).await;
    };
    // A shard that never connected cannot be told to stop: give up on it after a while.
    if tokio::time::timeout(Duration::from_secs(10), stop)
        .await
        .is_err()
    {
        running.abort();
    }
    tracing::info!("bot stopped");
    Ok(())
}

/// Refuses to start what Discord would refuse, before connecting: fewer shards than the bot's
/// guilds need (Discord closes a shard holding more than 2,500 guilds with 4011, which
/// serenity retries for ever), or more sessions than Discord lets the bot start before its
/// daily limit resets; warns below the shard count Discord recommends. What cannot be read
/// is left to Discord: the bot connects.
async fn preflight(http: &Http, shards: Shards) -> anyhow::Result<()> {
    match http.get_current_application_info().await {
        Ok(application) => {
            if let Some(guilds) = application.approximate_guild_count {
                let needed = guilds.div_ceil(GUILDS_PER_SHARD).max(1);
                if shards.count < needed {
                    bail!(
                        "the bot is in about {guilds} guilds and Discord lets one shard hold at \
                         most {GUILDS_PER_SHARD}: DISCORD_SHARD_COUNT is {}, it must be at least \
                         {needed}",
                        shards.count
                    );
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read how many guilds the bot is in"),
    }
    match http.get_bot_gateway().await {
        Ok(gateway) => {
            let starting = shards.ids().count() as u64;
            let limit = gateway.session_start_limit;
            if limit.remaining < starting {
                bail!(
                    "Discord lets the bot start {} more gateway sessions before its limit \
                     resets in {} minutes, and {shards} would start {starting}",
                    limit.remaining,
                    limit.reset_after.div_ceil(60_000)
                );
            }
            if shards.count < gateway.shards {
                tracing::warn!(
                    recommended = gateway.shards,
                    "DISCORD_SHARD_COUNT is {}, below the shards Discord recommends",
                    shards.count
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the gateway's session limits"),
    }
    Ok(())
}
