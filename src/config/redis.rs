//! The `redis` section: where the job queues and rate-limit counters live, and the prefix
//! that lets several deployments (or tests) share one Redis.

use serde::Deserialize;
use store::secret::Secret;
use url::Url;

use super::error::{ConfigError, invalid};
use super::resolve::Resolver;

/// Redis, which holds the job queues and rate-limit counters.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`, `redis.url`; default `redis://127.0.0.1:6379`. `rediss://` uses TLS. The
    /// URL may carry a password, so it is kept as a secret.
    pub url: Secret,
    /// Prepended to every key Concierge writes, so several deployments (or tests) can share one
    /// Redis. `REDIS_KEY_PREFIX`, `redis.key_prefix`; default `concierge`.
    pub key_prefix: String,
    /// A plain push (to run now, result not kept) writes the whole job into its stream entry,
    /// with no job hash: one `XADD`. Workers from before `8e4b4c8` cannot read such entries
    /// (they drop them), so while upgrading from such a version with old workers still
    /// running, set it to false on every process (workers push jobs too), and remove it once
    /// none is left. `REDIS_JOBS_IN_ENTRIES`, `redis.jobs_in_entries`; default true.
    pub jobs_in_entries: bool,
}

/// The YAML section `redis`, every key optional; each key is described on the
/// [`RedisConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRedis {
    url: Option<String>,
    key_prefix: Option<String>,
    jobs_in_entries: Option<bool>,
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileRedis) -> Result<RedisConfig, ConfigError> {
    let redis_url = r.string_or("REDIS_URL", f.url, "redis://127.0.0.1:6379");
    match Url::parse(&redis_url) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "unix" | "redis+unix") => {}
        // Never echo the URL: it may hold a password.
        _ => {
            return Err(invalid(
                "REDIS_URL (redis.url)",
                "expected a redis://, rediss:// or unix:// URL",
            ));
        }
    }
    let key_prefix = r.string_or("REDIS_KEY_PREFIX", f.key_prefix, "concierge");
    if key_prefix.contains(['{', '}', ' ']) {
        return Err(invalid(
            "REDIS_KEY_PREFIX (redis.key_prefix)",
            format!("must not contain braces or spaces, got {key_prefix:?}"),
        ));
    }
    let jobs_in_entries = r
        .bool(
            "REDIS_JOBS_IN_ENTRIES",
            "redis.jobs_in_entries",
            f.jobs_in_entries,
        )?
        .unwrap_or(true);
    Ok(RedisConfig {
        url: Secret::new(redis_url),
        key_prefix,
        jobs_in_entries,
    })
}
