//! `concierge migrate`: creates the database when it does not exist and applies the pending
//! migrations (up to `--target`). `concierge all` runs it before it starts. A database that
//! holds another application's tables before its first migration (the replaced systems') is
//! migrated only with `--adopt`, which sets those tables aside and imports their users.

use anyhow::Context;
use concierge::config::Config;

/// Creates the database when missing, then migrates it to `target` (default: the newest);
/// `adopt`: adopting the replaced systems' tables first (see `store::adopt`).
pub(crate) async fn run(config: &Config, target: Option<i32>, adopt: bool) -> anyhow::Result<()> {
    if adopt && target.is_some() {
        anyhow::bail!("--adopt imports into the newest schema only; leave out --target");
    }
    let settings = &config.database.settings;
    let target_name = settings.display_target();
    if store::ensure_database(settings)
        .await
        .with_context(|| format!("cannot reach Postgres at {target_name} to create the database"))?
    {
        tracing::info!(database = %target_name, "created the database");
    }
    let pool = store::connect(settings);
    let found = store::adopt::foreign_tables(&pool)
        .await
        .with_context(|| format!("reading the tables of {target_name}"))?;
    match found {
        store::adopt::Found::Nothing => {}
        store::adopt::Found::OursWithoutHistory(tables) => anyhow::bail!(
            "{target_name} holds Concierge's own tables ({}) without their migration history \
             (refinery_schema_history): restore it from a backup; adopting them would take \
             Concierge's own users for legacy ones",
            tables.join(", ")
        ),
        store::adopt::Found::Legacy(tables) if !adopt => anyhow::bail!(
            "{target_name} holds tables Concierge did not make ({}): to adopt them, run \
             `concierge migrate --adopt` (it moves them to the schema `legacy`, keeps every \
             row and imports their users; see the README's \"Adopting an existing \
             database\"), or point DATABASE_URL at an empty database",
            tables.join(", ")
        ),
        store::adopt::Found::Legacy(_) => {
            let moved = store::adopt::set_aside(&pool).await.with_context(|| {
                format!("moving the objects of {target_name} to the schema `legacy`")
            })?;
            if let store::adopt::Found::Legacy(tables) = moved {
                tracing::info!(tables = %tables.join(", "), "moved the existing tables to the schema `legacy`");
            }
        }
    }
    if !adopt
        && store::adopt::pending(&pool)
            .await
            .with_context(|| format!("reading the tables of {target_name}"))?
    {
        anyhow::bail!(
            "an adoption of {target_name} was started and its import has not run: finish it \
             with `concierge migrate --adopt` before serving this database"
        );
    }
    let applied = store::migrate::run(&pool, target)
        .await
        .with_context(|| format!("migrating {target_name} failed"))?;
    let version = store::migrate::applied_version(&pool).await?;
    if adopt {
        let report = store::adopt::import(&pool, config.security.invitation_token_expiry)
            .await
            .context("importing the legacy users (nothing of the import was kept)")?;
        for (id, why) in &report.skipped {
            tracing::warn!(legacy_id = id, "legacy user not imported: {why}");
        }
        for (id, what) in &report.changed {
            tracing::warn!(
                legacy_id = id,
                "legacy user imported without a field: {what}"
            );
        }
        tracing::info!("adopted: {report}");
    }
    tracing::info!(
        database = %target_name,
        applied = applied.len(),
        version = version.unwrap_or(0),
        "database schema is up to date"
    );
    pool.close().await;
    Ok(())
}
