//! Connecting to Postgres: parsing the connection URL once, a lazy pool (so the API can start
//! and report an unreachable database on its health endpoint), and creating the database on
//! first start.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgConnection, PgPool};

/// How to reach the database. Built by the binary's configuration from `DATABASE_URL` or the
/// `DB_*` parts; the URL may carry a password, so this type never prints it.
#[derive(Clone)]
pub struct DatabaseSettings {
    /// Parsed connection options (host, port, user, password, database, sslmode).
    pub options: PgConnectOptions,
    /// Upper bound of pooled connections per process; Postgres' own limit is shared by every
    /// replica, so keep `replicas × max_connections` below `max_connections` of the server.
    pub max_connections: u32,
    /// How long a query waits for a free connection, or for a new one to be opened, before it
    /// fails: bounds every request when the database is slow or unreachable.
    pub acquire_timeout: Duration,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("host", &self.options.get_host())
            .field("port", &self.options.get_port())
            .field("database", &self.options.get_database())
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish_non_exhaustive()
    }
}

impl DatabaseSettings {
    /// Parses a `postgres://` URL. The error never repeats the URL (it may hold a password).
    pub fn from_url(url: &str) -> Result<Self, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("the scheme must be postgres:// or postgresql://".into());
        }
        let options = PgConnectOptions::from_str(url).map_err(|e| match e {
            sqlx::Error::Configuration(inner) => inner.to_string(),
            other => other.to_string(),
        })?;
        Ok(Self {
            options,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        })
    }

    /// Builds the settings from separate parts (seed 003's `DB_*` variables); `ssl` requires
    /// TLS, otherwise it is used when the server offers it.
    pub fn from_parts(
        host: &str,
        port: u16,
        user: &str,
        password: Option<&str>,
        database: &str,
        ssl: bool,
    ) -> Self {
        let mut options = PgConnectOptions::new_without_pgpass()
            .host(host)
            .port(port)
            .username(user)
            .database(database)
            .ssl_mode(if ssl {
                PgSslMode::Require
            } else {
                PgSslMode::Prefer
            });
        if let Some(password) = password {
            options = options.password(password);
        }
        Self {
            options,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// The database name, `postgres` when the URL names none.
    pub fn database_name(&self) -> &str {
        self.options.get_database().unwrap_or("postgres")
    }

    /// `host:port/database`, safe to log.
    pub fn display_target(&self) -> String {
        format!(
            "{}:{}/{}",
            self.options.get_host(),
            self.options.get_port(),
            self.database_name()
        )
    }
}

/// How long a pooled connection may sit idle before it is checked (a round trip) when next
/// taken: one the server or the network closed meanwhile (a restart, an idle timeout) is
/// replaced instead of failing its query. A connection in steady use is handed out as it is
/// (sqlx still checks each one as it comes back to the pool): when the server restarts under
/// load, the statements already on their way over connections used in the last second fail
/// once, each taking its connection out of the pool, and the next ones open new connections.
pub const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A pool that opens connections on first use: starting never fails because the database is
/// down, and every query is bounded by `acquire_timeout`. A connection idle longer than
/// [`CHECK_AFTER_IDLE`] is pinged before it is used (sqlx's default pings before every use:
/// a second round trip for every statement).
pub fn connect(settings: &DatabaseSettings) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > CHECK_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(settings.options.clone())
}

/// Creates the configured database when it does not exist yet, connecting to the server's
/// `postgres` maintenance database to do so. Safe when several processes race: the loser's
/// "already exists" is not an error.
#[tracing::instrument(skip_all, fields(database = settings.database_name()))]
pub async fn ensure_database(settings: &DatabaseSettings) -> Result<bool, sqlx::Error> {
    let name = settings.database_name().to_owned();
    let mut conn = maintenance(settings).await?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        name
    )
    .fetch_one(&mut conn)
    .await?;
    let created = if exists {
        false
    } else {
        let statement = format!("CREATE DATABASE {}", quote_ident(&name));
        match sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
        {
            Ok(_) => {
                tracing::info!("created database");
                true
            }
            // 42P04 duplicate_database: another process created it first.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => false,
            Err(e) => return Err(e),
        }
    };
    conn.close().await?;
    Ok(created)
}

/// Opens and closes one connection to the server's `postgres` maintenance database: does the
/// server answer (the configured database need not exist yet)?
pub async fn reach_server(settings: &DatabaseSettings) -> Result<(), sqlx::Error> {
    maintenance(settings).await?.close().await
}

/// A connection to the server's `postgres` database, which exists before ours does.
async fn maintenance(settings: &DatabaseSettings) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect_with(&settings.options.clone().database("postgres")).await
}

/// Quotes an SQL identifier (for the few statements that cannot take parameters).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One round trip to the database.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT 1 AS "one!""#)
        .fetch_one(pool)
        .await?;
    Ok(())
}
