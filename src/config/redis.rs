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
}

/// The YAML section `redis`, every key optional; each key is described on the
/// [`RedisConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRedis {
    url: Option<String>,
    key_prefix: Option<String>,
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
    Ok(RedisConfig {
        url: Secret::new(redis_url),
        key_prefix,
    })
}
