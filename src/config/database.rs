//! The `database` section: how to reach Postgres, from `DATABASE_URL` or seed 003's `DB_*`
//! parts, and the pool's size and patience. The result is the store's own
//! [`store::DatabaseSettings`], which never prints the password.

use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, invalid};
use super::resolve::Resolver;

/// Postgres.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Connection settings from `DATABASE_URL` (`database.url`) or, when that is unset, the
    /// parts `DB_HOST` (default `127.0.0.1`), `DB_PORT` (5432), `DB_USER` (`postgres`),
    /// `DB_PASSWORD` (none), `DB_NAME` (`concierge`) and `DB_SSL` (`false`; `true` requires
    /// TLS). The database is created on first start when it does not exist.
    pub settings: store::DatabaseSettings,
}

/// The YAML section `database`, every key optional; each key is described on the
/// [`DatabaseConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDatabase {
    url: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    database: Option<String>,
    ssl: Option<bool>,
    max_connections: Option<u32>,
    acquire_timeout_seconds: Option<u64>,
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileDatabase) -> Result<DatabaseConfig, ConfigError> {
    let mut settings = match r.string("DATABASE_URL", f.url) {
        Some(url) => store::DatabaseSettings::from_url(&url).map_err(|e| {
            invalid(
                "DATABASE_URL (database.url)",
                format!("not a usable postgres:// URL ({e})"),
            )
        })?,
        None => {
            let host = r.string_or("DB_HOST", f.host, "127.0.0.1");
            let port = r.parse("DB_PORT", "database.port", f.port)?.unwrap_or(5432);
            let user = r.string_or("DB_USER", f.user, "postgres");
            let password = r.string("DB_PASSWORD", f.password);
            let name = r.string_or("DB_NAME", f.database, "concierge");
            let ssl = r.bool("DB_SSL", "database.ssl", f.ssl)?.unwrap_or(false);
            store::DatabaseSettings::from_parts(&host, port, &user, password.as_deref(), &name, ssl)
        }
    };
    settings.max_connections = r.at_least_one(
        "DB_MAX_CONNECTIONS",
        "database.max_connections",
        f.max_connections,
        settings.max_connections,
    )?;
    if let Some(s) = r.parse(
        "DB_ACQUIRE_TIMEOUT_SECONDS",
        "database.acquire_timeout_seconds",
        f.acquire_timeout_seconds,
    )? {
        settings.acquire_timeout = Duration::from_secs(s.max(1));
    }
    Ok(DatabaseConfig { settings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::testing::section;

    #[test]
    fn database_url_wins_over_parts() {
        let c = section(
            &[
                ("DATABASE_URL", "postgres://u:p@h:1234/x"),
                ("DB_HOST", "ignored"),
            ],
            "",
            resolve,
        )
        .expect("valid");
        assert_eq!(c.settings.display_target(), "h:1234/x");
    }
}
