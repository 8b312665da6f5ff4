//! Schema migrations: the SQL files of `../migrations`, embedded at build time and applied by
//! refinery over a sqlx connection (refinery has no sqlx driver, so this module is one: a
//! transaction per migration, the history in refinery's own `refinery_schema_history` table).
//!
//! Several replicas may start at once; a session-level advisory lock makes them migrate one
//! after another, and the later ones find nothing left to do.

use refinery::{Migration, Runner, Target};
use refinery_core::traits::r#async::{AsyncQuery, AsyncTransaction};
use sqlx::pool::PoolConnection;
use sqlx::{Acquire, PgPool, Postgres, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Arbitrary, fixed key of the advisory lock held while migrating ("concierg" in ASCII).
pub(crate) const MIGRATION_LOCK: i64 = 0x636f_6e63_6965_7267;

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot reach the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error(transparent)]
    Refinery(#[from] refinery::Error),
    #[error("database error while migrating: {0}")]
    Database(#[from] sqlx::Error),
}

/// One migration, as shipped in this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationInfo {
    pub version: i32,
    pub name: String,
}

/// The migrations embedded in this build, in version order.
pub fn embedded() -> Vec<MigrationInfo> {
    let mut all: Vec<MigrationInfo> = runner()
        .get_migrations()
        .iter()
        .map(|m| MigrationInfo {
            version: m.version(),
            name: m.name().to_owned(),
        })
        .collect();
    all.sort_by_key(|m| m.version);
    all
}

/// A fingerprint of the embedded migrations (versions, names and checksums): equal
/// fingerprints mean equal schemas. Tests key their migrated template database on it.
pub fn fingerprint() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut migrations = runner().get_migrations().clone();
    migrations.sort();
    for m in &migrations {
        (m.version(), m.name(), m.checksum()).hash(&mut hasher);
    }
    hasher.finish()
}

/// The newest version this build knows.
pub fn latest_version() -> i32 {
    embedded().last().map_or(0, |m| m.version)
}

fn runner() -> Runner {
    embedded::migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
}

/// Applies the embedded migrations up to `target` (all when `None`) and returns those applied
/// by this call. Waits for any other process that is migrating the same database.
#[tracing::instrument(skip(pool))]
pub async fn run(pool: &PgPool, target: Option<i32>) -> Result<Vec<MigrationInfo>, MigrateError> {
    let mut conn = pool.acquire().await.map_err(MigrateError::Connect)?;
    // The lock belongs to this session: close the connection afterwards rather than return it
    // to the pool, so an error between lock and unlock can never leave it held.
    conn.close_on_drop();
    sqlx::query!("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        .execute(&mut *conn)
        .await?;
    let target = target.map_or(Target::Latest, Target::Version);
    let report = runner()
        .set_target(target)
        .run_async(&mut SqlxMigrator(conn))
        .await?;
    let applied = report
        .applied_migrations()
        .iter()
        .map(|m| MigrationInfo {
            version: m.version(),
            name: m.name().to_owned(),
        })
        .collect::<Vec<_>>();
    for m in &applied {
        tracing::info!(version = m.version, name = %m.name, "applied migration");
    }
    Ok(applied)
}

/// The newest applied version, or `None` on a database that was never migrated.
pub async fn applied_version(pool: &PgPool) -> Result<Option<i32>, sqlx::Error> {
    let result = sqlx::query_scalar!("SELECT max(version) FROM refinery_schema_history")
        .fetch_one(pool)
        .await;
    match result {
        Ok(version) => Ok(version),
        // 42P01 undefined_table: nothing was ever migrated here.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Ok(None),
        Err(e) => Err(e),
    }
}

/// refinery's async driver traits over one pooled sqlx connection.
struct SqlxMigrator(PoolConnection<Postgres>);

impl AsyncTransaction for SqlxMigrator {
    type Error = sqlx::Error;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let mut tx = self.0.begin().await?;
        let mut count = 0;
        for query in queries {
            // Migration files hold many statements (and $$-quoted bodies): the simple query
            // protocol runs them as written.
            sqlx::raw_sql(sqlx::AssertSqlSafe(query.to_owned()))
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }
}

impl AsyncQuery<Vec<Migration>> for SqlxMigrator {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter()
            .map(|row| {
                let applied_on: String = row.try_get(2)?;
                let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                let checksum: String = row.try_get(3)?;
                let checksum = checksum
                    .parse::<u64>()
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                Ok(Migration::applied(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    applied_on,
                    checksum,
                ))
            })
            .collect()
    }
}

impl refinery::AsyncMigrate for SqlxMigrator {}
