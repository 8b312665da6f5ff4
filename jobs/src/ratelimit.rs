//! Rate limits shared by every replica: fixed-window counters in Redis. Guessing short codes
//! (invitation tokens, `/login` codes) is limited per address and per Discord id, failed
//! guesses lock out the failing source from one email for a while, anonymous requests and
//! mails are capped per address and per recipient, and failed admin authentication per
//! address. Keys are hashed: emails and addresses never sit in Redis in clear.

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

/// The cap on mails anonymous requests may cause to one address: `max` per hour, counted per
/// recipient by the API (to refuse early) and the `send_email` worker (to enforce it).
pub fn mail_limit(max: u32) -> Limit {
    Limit {
        scope: "mail",
        max,
        window: Duration::from_secs(3600),
    }
}

/// The limit of failed attempts on one email from one source (an address, a Discord
/// account): over it, that source is locked out of that email until the window ends. The API
/// and the workers count under the same keys ([`failure_key`]).
pub fn failure_limit(max: u32, window: Duration) -> Limit {
    Limit {
        scope: "fail",
        max,
        window,
    }
}

/// The counter key of failures on `email` from `source` (`ip:<addr>`, `discord:<id>`).
pub fn failure_key(email: &str, source: &str) -> String {
    format!("{}\u{1f}{source}", email.trim().to_lowercase())
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

/// Reads a counter without counting: `{count, ttl_ms}`.
const PEEK: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
return {n, ttl}
";

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

    /// Counts one attempt against every `(limit, key)` and says whether all allow it (the
    /// `max`-th attempt of a window is allowed, the next is not).
    pub async fn hit(&self, checks: &[(Limit, &str)]) -> Result<Decision, QueueError> {
        self.run(HIT, checks, |count, max| count > max).await
    }

    /// Says whether every `(limit, key)` still has room, without counting: for limits that
    /// count failures, checked before an attempt and [`RateLimiter::hit`] after it failed.
    /// Limited once `max` were counted.
    pub async fn peek(&self, checks: &[(Limit, &str)]) -> Result<Decision, QueueError> {
        self.run(PEEK, checks, |count, max| count >= max).await
    }

    async fn run(
        &self,
        source: &str,
        checks: &[(Limit, &str)],
        over: impl Fn(u64, u64) -> bool,
    ) -> Result<Decision, QueueError> {
        let script = redis::Script::new(source);
        let mut worst: Option<Duration> = None;
        for (limit, key) in checks {
            let (count, ttl_ms): (u64, i64) = script
                .key(self.key(limit, key))
                .arg(limit.window.as_millis().max(1) as u64)
                .invoke_async(&mut self.conn.clone())
                .await?;
            if over(count, u64::from(limit.max)) {
                let wait = match ttl_ms {
                    ms if ms > 0 => Duration::from_millis(ms as u64),
                    _ => limit.window,
                };
                worst = Some(worst.map_or(wait, |w| w.max(wait)));
            }
        }
        Ok(match worst {
            Some(retry_after) => Decision::Limited { retry_after },
            None => Decision::Allowed,
        })
    }

    fn key(&self, limit: &Limit, key: &str) -> String {
        format!("{}:rl:{}:{}", self.prefix, limit.scope, short_digest(key))
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
