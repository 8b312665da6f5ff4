//! `concierge migrate`: creates the database when it does not exist and applies the pending
//! migrations (up to `--target`). `concierge all` runs it before it starts.

use anyhow::Context;
use concierge::config::Config;

/// Creates the database when missing, then migrates it to `target` (default: the newest).
pub(crate) async fn run(config: &Config, target: Option<i32>) -> anyhow::Result<()> {
    let settings = &config.database.settings;
    let target_name = settings.display_target();
    if store::ensure_database(settings)
        .await
        .with_context(|| format!("cannot reach Postgres at {target_name} to create the database"))?
    {
        tracing::info!(database = %target_name, "created the database");
    }
    let pool = store::connect(settings);
    let applied = store::migrate::run(&pool, target)
        .await
        .with_context(|| format!("migrating {target_name} failed"))?;
    let version = store::migrate::applied_version(&pool).await?;
    tracing::info!(
        database = %target_name,
        applied = applied.len(),
        version = version.unwrap_or(0),
        "database schema is up to date"
    );
    pool.close().await;
    Ok(())
}
