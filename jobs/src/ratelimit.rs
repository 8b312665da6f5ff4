//! Rate limits shared by every replica: fixed-window counters in Redis. Guessing short codes
//! (invitation tokens, `/login` codes) is limited per address and per Discord id, failed
//! guesses lock out the failing source from one email for a while, anonymous requests and
//! mails are capped per address and per recipient, and failed admin authentication per
//! address. Keys are hashed: emails and addresses never sit in Redis in clear.

use std::sync::LazyLock;
use std::time::Duration;

use crate::redis::Conn;

use crate::redis::QueueError;

/// One limit: at most `max` attempts per `window` for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Names the counter family in Redis (`email`, `ip`, `discord`).
    pub scope: &'static str,
    pub max: u32,
    pub window: Duration,
}

/// The cap on mails anonymous requests may cause to one address (exactly as stored: the
/// codes they carry work for that address only): `max` per hour, counted by the `send_email`
/// worker, looked at by the API to answer early.
pub fn mail_limit(max: u32) -> Limit {
    Limit {
        scope: "mail",
        max,
        window: Duration::from_secs(3600),
    }
}

/// The cap on the same mails to one inbox whatever the spelling (see
/// `store::email::Email::mailbox_key`: `+tags`, Gmail's dots): [`MAILBOX_FACTOR`] times the
/// per-address cap, so aliases cannot multiply what one inbox receives, and a stranger needs
/// that many aliases to keep the owner's own address from getting a mail.
pub fn mailbox_limit(per_address: u32) -> Limit {
    Limit {
        scope: "mailbox",
        max: per_address.saturating_mul(MAILBOX_FACTOR),
        window: Duration::from_secs(3600),
    }
}

/// How many times the per-address cap one inbox may receive.
pub const MAILBOX_FACTOR: u32 = 3;

/// The caps on mails anyone can cause, in the order they are checked: to this `address`
/// exactly (lowercase, as stored), to its `mailbox` (see [`mailbox_limit`]), and in all. The
/// API looks at them before queueing a mail, the `send_email` worker charges them.
pub fn anonymous_mail_caps<'a>(
    per_address: u32,
    per_hour_in_all: u32,
    address: &'a str,
    mailbox: &'a str,
) -> [(Limit, &'a str); 3] {
    [
        (mail_limit(per_address), address),
        (mailbox_limit(per_address), mailbox),
        (all_mail_limit(per_hour_in_all), ALL_MAIL),
    ]
}

/// The cap on mails anonymous requests may cause in all, per hour, across the deployment
/// (counted under the key [`ALL_MAIL`]): however many addresses and mailboxes an attacker
/// names, we send no more than this in our name.
pub fn all_mail_limit(max: u32) -> Limit {
    Limit {
        scope: "mail-all",
        max,
        window: Duration::from_secs(3600),
    }
}

/// The one key of [`all_mail_limit`].
pub const ALL_MAIL: &str = "all";

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

impl Decision {
    /// How long until the limit has room again; `None` when it has room now.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            Decision::Allowed => None,
            Decision::Limited { retry_after } => Some(retry_after),
        }
    }
}

/// Counts attempts under `<prefix>:rl:{rl}:<scope>:<key>`: every counter in one Redis
/// Cluster slot (the `{rl}` hash tag), so one script call checks all the limits of a request.
#[derive(Clone)]
pub struct RateLimiter {
    conn: Conn,
    prefix: String,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Counts one attempt on each of the first `ARGV[1]` counters in order while each has room,
/// then reads the rest without counting. KEYS: the counters to count on, then those to read;
/// ARGV: how many to count on, then the window (ms) and limit of each of them. Returns
/// `{i, ttl_ms}` when the `i`-th counted one had no room (nothing was counted on it or after
/// it, nothing read), else `{0}` followed by `count, ttl_ms` of each read one. A counter
/// without a TTL (left by a crash between INCR and PEXPIRE) gets one.
static LIMITS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local hits = tonumber(ARGV[1])
for i = 1, hits do
  local key, window, max = KEYS[i], ARGV[2 * i], tonumber(ARGV[2 * i + 1])
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= max then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then redis.call('PEXPIRE', key, window); ttl = tonumber(window) end
    return {i, ttl}
  end
  n = redis.call('INCR', key)
  if n == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, window) end
end
local out = {0}
for i = hits + 1, #KEYS do
  out[#out + 1] = tonumber(redis.call('GET', KEYS[i]) or '0')
  out[#out + 1] = redis.call('PTTL', KEYS[i])
end
return out
",
    )
});

impl RateLimiter {
    pub fn new(producer: &crate::redis::Producer) -> Self {
        Self {
            conn: producer.connection(),
            prefix: producer.prefix().to_owned(),
        }
    }

    /// Counts one attempt against the `(limit, key)`s in order and says whether all allow it
    /// (the `max`-th attempt of a window is allowed, the next is not). A refused attempt is
    /// counted nowhere from the limit that refused it on: list the caller's own limits (its
    /// address, its account) before shared ones (an email), so that a caller over its own
    /// budget cannot spend a budget it shares with others, such as the owner of the email.
    /// One round trip, however many limits.
    pub async fn hit(&self, checks: &[(Limit, &str)]) -> Result<Decision, QueueError> {
        Ok(self.hit_then_peek(checks, &[]).await?.0)
    }

    /// Says whether every `(limit, key)` still has room, without counting: for limits that
    /// count failures, checked before an attempt and [`RateLimiter::hit`] after it failed.
    /// Limited once `max` were counted; the wait is the longest of the limits that have no
    /// room.
    pub async fn peek(&self, checks: &[(Limit, &str)]) -> Result<Decision, QueueError> {
        let worst = self
            .peek_each(checks)
            .await?
            .into_iter()
            .filter_map(Decision::retry_after)
            .max();
        Ok(match worst {
            Some(retry_after) => Decision::Limited { retry_after },
            None => Decision::Allowed,
        })
    }

    /// [`RateLimiter::peek`] for each `(limit, key)` on its own, in one round trip: for
    /// callers that answer differently depending on which limit has no room.
    pub async fn peek_each(&self, checks: &[(Limit, &str)]) -> Result<Vec<Decision>, QueueError> {
        Ok(self.hit_then_peek(&[], checks).await?.1)
    }

    /// [`RateLimiter::hit`] on `hits`, then, when they all allowed the attempt,
    /// [`RateLimiter::peek_each`] on `peeks`, in one round trip. The peeks are empty when a
    /// hit refused.
    pub async fn hit_then_peek(
        &self,
        hits: &[(Limit, &str)],
        peeks: &[(Limit, &str)],
    ) -> Result<(Decision, Vec<Decision>), QueueError> {
        if hits.is_empty() && peeks.is_empty() {
            return Ok((Decision::Allowed, Vec::new()));
        }
        let mut call = LIMITS.prepare_invoke();
        call.arg(hits.len());
        for (limit, key) in hits {
            call.key(self.key(limit, key))
                .arg(limit.window.as_millis().max(1) as u64)
                .arg(limit.max);
        }
        for (limit, key) in peeks {
            call.key(self.key(limit, key));
        }
        let reply: Vec<i64> = call.invoke_async(&mut self.conn.clone()).await?;
        let unexpected = || QueueError::Protocol(format!("rate limit script answered {reply:?}"));
        match *reply.as_slice() {
            [i, ttl_ms] if i >= 1 => {
                let (limit, _) = hits.get(i as usize - 1).ok_or_else(unexpected)?;
                Ok((
                    Decision::Limited {
                        retry_after: wait(ttl_ms, limit),
                    },
                    Vec::new(),
                ))
            }
            [0, ref read @ ..] if read.len() == peeks.len() * 2 => Ok((
                Decision::Allowed,
                peeks
                    .iter()
                    .zip(read.chunks_exact(2))
                    .map(|((limit, _), v)| {
                        if v[0] >= i64::from(limit.max) {
                            Decision::Limited {
                                retry_after: wait(v[1], limit),
                            }
                        } else {
                            Decision::Allowed
                        }
                    })
                    .collect(),
            )),
            _ => Err(unexpected()),
        }
    }

    fn key(&self, limit: &Limit, key: &str) -> String {
        format!(
            "{}:rl:{{rl}}:{}:{}",
            self.prefix,
            limit.scope,
            short_digest(key)
        )
    }
}

/// How long until a counter's window ends (its TTL, or the whole window when it has none).
fn wait(ttl_ms: i64, limit: &Limit) -> Duration {
    match ttl_ms {
        ms if ms > 0 => Duration::from_millis(ms as u64),
        _ => limit.window,
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
