//! Rate limits shared by every replica: fixed-window counters in Redis. Guessing short codes
//! (invitation tokens, `/login` codes) is limited per email, per IP and per Discord id here,
//! on top of each token dying after a few wrong guesses in the database.

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::redis::QueueError;

/// One limit: at most `max` attempts per `window` for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Names the counter family in Redis (`email`, `ip`, `discord`).
    pub scope: &'static str,
    pub max: u32,
    pub window: Duration,
}

/// What the limiter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit; the window ends after this long.
    Limited {
        retry_after: Duration,
    },
}

/// Counts attempts under `<prefix>:rl:<scope>:<key>`.
#[derive(Clone)]
pub struct RateLimiter {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("prefix", &self.prefix)
            .finish()
    }
}

const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
";

impl RateLimiter {
    pub fn new(producer: &crate::Producer) -> Self {
        Self {
            conn: producer.connection(),
            prefix: producer.prefix().to_owned(),
        }
    }

    /// Counts one attempt against every `(limit, key)` and says whether all allow it. Keys are
    /// hashed, so emails and addresses do not sit in Redis in clear.
    pub async fn hit(&self, checks: &[(Limit, &str)]) -> Result<Decision, QueueError> {
        let script = redis::Script::new(HIT);
        let mut worst: Option<Duration> = None;
        for (limit, key) in checks {
            let digest = short_digest(key);
            let redis_key = format!("{}:rl:{}:{digest}", self.prefix, limit.scope);
            let window_ms = limit.window.as_millis().max(1) as u64;
            let (count, ttl_ms): (u64, i64) = script
                .key(redis_key)
                .arg(window_ms)
                .invoke_async(&mut self.conn.clone())
                .await?;
            if count > u64::from(limit.max) {
                let wait = Duration::from_millis(ttl_ms.max(0) as u64);
                worst = Some(worst.map_or(wait, |w| w.max(wait)));
            }
        }
        Ok(match worst {
            Some(retry_after) => Decision::Limited { retry_after },
            None => Decision::Allowed,
        })
    }
}

fn short_digest(key: &str) -> String {
    use std::fmt::Write;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(key.trim().to_lowercase().as_bytes());
    digest[..12].iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
