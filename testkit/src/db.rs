//! One database per test, cloned from a migrated template.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection, PgPool};
use store::DatabaseSettings;
use store::pool::quote_ident;

/// Test databases older than this are left over by killed test runs: dropped on sight.
const STALE_AFTER: Duration = Duration::from_secs(3 * 3600);
const TEST_DB_PREFIX: &str = "concierge_test_";
const TEMPLATE_PREFIX: &str = "concierge_tpl_";

/// A database for one test. Dropped (with `FORCE`) when this value is dropped.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub settings: DatabaseSettings,
    pub pool: PgPool,
}

impl TestDb {
    /// A fresh database at the newest schema.
    pub async fn new() -> Self {
        let template = ensure_template().await;
        Self::create(Some(&template)).await
    }

    /// A fresh database with nothing in it, not even the migration history: for tests of the
    /// migrations themselves.
    pub async fn empty() -> Self {
        Self::create(None).await
    }

    /// The URL of this database (no password: the test server trusts local connections).
    pub fn url(&self) -> String {
        let admin = crate::pg_admin_url();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        format!("{base}/{}", self.name)
    }

    async fn create(template: Option<&str>) -> Self {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let name = format!("{TEST_DB_PREFIX}{stamp}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection().await;
        let statement = match template {
            Some(t) => format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(&name),
                quote_ident(t)
            ),
            None => format!("CREATE DATABASE {}", quote_ident(&name)),
        };
        // Cloning fails while another session is connected to the template; the only such
        // session is a builder that just finished, so retry briefly.
        let mut attempt = 0;
        loop {
            match sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut admin)
                .await
            {
                Ok(_) => break,
                Err(e) if attempt < 50 => {
                    attempt += 1;
                    tracing::debug!(error = %e, "retrying CREATE DATABASE");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create test database {name}: {e}"),
            }
        }
        let _ = admin.close().await;
        let mut url =
            url::Url::parse(&crate::pg_admin_url()).expect("CONCIERGE_TEST_PG_URL is a URL");
        url.set_path(&name);
        let mut settings =
            DatabaseSettings::from_url(url.as_str()).expect("valid test database URL");
        settings.max_connections = 5;
        let pool = store::connect(&settings);
        TestDb {
            name,
            settings,
            pool,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: do it on a thread
        // with a runtime of its own, and wait, so the database is gone when the test ends.
        // The pool's connections belong to the test's (now blocked) runtime and cannot be
        // closed from here; `WITH (FORCE)` ends them on the server side.
        crate::finish_on_own_runtime(async move {
            let mut admin = admin_connection().await;
            let statement = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&name)
            );
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await
            {
                eprintln!("testkit: could not drop test database {name}: {e}");
            }
        });
    }
}

async fn admin_connection() -> PgConnection {
    let url = crate::pg_admin_url();
    PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("tests need Postgres at {url} (start it, or run .ci/run): {e}"))
}

/// The name of the migrated template for this build's migrations, creating it if needed.
async fn ensure_template() -> String {
    let fingerprint = store::migrate::fingerprint();
    let name = format!("{TEMPLATE_PREFIX}{fingerprint:016x}");
    let mut admin = admin_connection().await;
    // One builder at a time across every test process; the others wait, then find it made.
    let lock_key = i64::from_ne_bytes(fingerprint.to_ne_bytes());
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_key)
        .execute(&mut admin)
        .await
        .expect("advisory lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .expect("query pg_database");
    if !exists {
        drop_stale(&mut admin, &name).await;
        // Build under a temporary name and rename when complete, so a builder killed halfway
        // never leaves a half-migrated template behind.
        let building = format!("{name}_building");
        for statement in [
            format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&building)
            ),
            format!("CREATE DATABASE {}", quote_ident(&building)),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await
                .expect("create template");
        }
        let mut url = url::Url::parse(&crate::pg_admin_url()).expect("URL");
        url.set_path(&building);
        let settings = DatabaseSettings::from_url(url.as_str()).expect("URL");
        let pool = store::connect(&settings);
        store::migrate::run(&pool, None)
            .await
            .expect("migrating the template database");
        pool.close().await;
        let statement = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&building),
            quote_ident(&name)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .expect("publish template");
    }
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock_key)
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    name
}

/// Drops templates of other schemas and test databases left over by killed runs.
async fn drop_stale(admin: &mut PgConnection, keep: &str) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'concierge\\_tpl\\_%' OR datname LIKE 'concierge\\_test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    for name in names {
        let stale = if let Some(rest) = name.strip_prefix(TEST_DB_PREFIX) {
            rest.split('_')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|created| now.saturating_sub(created) > STALE_AFTER.as_secs())
        } else {
            name != keep && !name.ends_with("_building")
        };
        if stale {
            let statement = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&name)
            );
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut *admin)
                .await;
        }
    }
}
