//! `concierge bot`: the Discord bot, which needs `DISCORD_BOT_TOKEN` to log in.

use std::process::ExitCode;

use concierge::config::Config;
use tokio_util::sync::CancellationToken;

/// `concierge bot`: exits 2 with one line when there is no token to log in with.
pub(crate) async fn run(config: &Config, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    if config.discord.bot_token.is_none() {
        tracing::error!(
            "concierge bot: DISCORD_BOT_TOKEN is not set; the bot cannot log in without it"
        );
        return Ok(ExitCode::from(2));
    }
    serve(config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// The bot until shutdown; nothing without a token.
pub(crate) async fn serve(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Some(token) = &config.discord.bot_token else {
        return Ok(());
    };
    let producer = super::services::producer(config).await?;
    let deps = bot::BotDeps {
        db: store::connect(&config.database.settings),
        producer,
        sealer: config.security.sealer(),
    };
    bot::run(deps, config.discord.bot(token, &config.limits), shutdown).await
}
