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

use serenity::all::{ClientBuilder, GatewayIntents};
use serenity::http::HttpBuilder;
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
}

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
    let handler = handler::Handler::new(deps, settings);
    let mut client = ClientBuilder::new_with_http(http.build(), intents())
        .event_handler(handler)
        .await?;
    let shards = client.shard_manager.clone();
    let mut running = tokio::spawn(async move { client.start().await });
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
        shards.shutdown_all().await;
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
