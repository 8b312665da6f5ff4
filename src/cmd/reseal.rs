//! `concierge reseal`: every stored provider token sealed again under the current
//! `SEALING_KEY`, so the keys in `SEALING_KEY_PREVIOUS` can be removed.

use anyhow::Context;
use concierge::config::Config;

/// `concierge reseal`: every stored provider token sealed again under the current key.
#[allow(clippy::print_stdout)]
pub(crate) async fn run(config: &Config) -> anyhow::Result<()> {
    let pool = store::connect(&config.database.settings);
    let done = store::identities::reseal(&pool, &config.security.sealer())
        .await
        .context("cannot reseal the stored provider tokens")?;
    tracing::info!(
        resealed = done.resealed,
        current = done.current,
        unreadable = done.unreadable,
        "stored provider tokens are sealed under the current key"
    );
    println!("{}", serde_json::to_string(&done)?);
    pool.close().await;
    Ok(())
}
