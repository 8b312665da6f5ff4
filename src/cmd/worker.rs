//! `concierge worker`: the job workers, with the providers they call (mail, OAuth, Discord
//! REST, AI) built from the configuration, until shutdown. `concierge all` runs them too,
//! without their own `/metrics` (the API's shows theirs).

use anyhow::Context;
use concierge::config::Config;
use tokio_util::sync::CancellationToken;

/// `serve_metrics`: serve `/metrics` on `WORKER_METRICS_PORT` (not in `concierge all`).
pub(crate) async fn run(
    config: &Config,
    shutdown: CancellationToken,
    serve_metrics: bool,
) -> anyhow::Result<()> {
    let producer = super::services::producer(config).await?;
    let settings = config.workers.settings(&config.server, serve_metrics);
    let db = store::connect(&config.database.settings);
    let email = config
        .email
        .settings(config.security.invitation_token_expiry, &config.limits)?;
    let oauth = workers::providers::oauth::Oauth::new(config.oauth_settings())
        .context("cannot build the HTTP client of the OAuth providers")?;
    workers::run(
        workers::Deps {
            producer,
            db,
            email,
            oauth,
            sealer: config.security.sealer(),
            discord: config.discord.bot_token.as_ref().map(|token| {
                workers::providers::discord::Discord::new(&config.discord.rest(token))
            }),
            ai: workers::providers::ai::Ai::new(config.ai.settings())
                .context("cannot build the HTTP client of the AI providers")?,
            gate: config
                .discord
                .gate(config.web_app_base_url.as_ref(), &config.limits),
        },
        settings,
        shutdown,
    )
    .await
}
