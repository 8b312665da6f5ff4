//! `concierge all`: every role in one process, for development and small deployments. It
//! checks first that PostgreSQL and Redis answer, then migrates the database; the bot runs
//! only when its token is set, and the process says
//! so before anything starts.

use concierge::config::Config;
use tokio_util::sync::CancellationToken;

/// Migrates, then runs the API, the workers and (with a token) the bot until shutdown.
pub(crate) async fn run(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Before anything starts: a missing service is one line, not a migration and a long wait.
    super::services::require(config).await?;
    super::migrate::run(config, None, false).await?;
    // Said before anything starts, so it is the first thing an operator reads.
    let with_bot = config.discord.bot_token.is_some();
    if !with_bot {
        tracing::info!("Discord bot skipped: DISCORD_BOT_TOKEN is not set");
    }
    let bot = async {
        if with_bot {
            super::bot::serve(config, shutdown.clone()).await
        } else {
            Ok(())
        }
    };
    tokio::try_join!(
        super::api::run(config, shutdown.clone()),
        super::worker::run(config, shutdown.clone(), false),
        bot
    )?;
    Ok(())
}
