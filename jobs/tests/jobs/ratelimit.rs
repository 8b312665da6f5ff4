//! The shared rate limiter against real Redis: several limits in one call, in order, and what
//! a refusal leaves counted.

use std::time::Duration;

use jobs::ratelimit::{Decision, Limit, RateLimiter};

use crate::support::Env;

fn limit(scope: &'static str, max: u32) -> Limit {
    limit_over(scope, max, Duration::from_secs(60))
}

fn limit_over(scope: &'static str, max: u32, window: Duration) -> Limit {
    Limit { scope, max, window }
}

#[tokio::test]
async fn a_full_limit_refuses_and_nothing_after_it_is_counted() {
    let env = Env::new().await;
    let limiter = RateLimiter::new(&env.producer);
    let (own, shared) = (limit("own", 1), limit("shared", 5));
    let checks = [(own, "10.0.0.1"), (shared, "ada@example.com")];
    assert_eq!(limiter.hit(&checks).await.expect("hit"), Decision::Allowed);
    let Decision::Limited { retry_after } = limiter.hit(&checks).await.expect("hit") else {
        panic!("the second attempt over `own` was allowed");
    };
    assert!(retry_after > Duration::ZERO && retry_after <= own.window);
    // The refused attempt spent none of the shared budget: it holds 1 of 5, so four more
    // callers with their own room still get through.
    for i in 0..4 {
        let from = format!("10.0.1.{i}");
        let other = [(own, from.as_str()), (shared, "ada@example.com")];
        assert_eq!(limiter.hit(&other).await.expect("hit"), Decision::Allowed);
    }
    let fifth = [(own, "10.0.2.1"), (shared, "ada@example.com")];
    assert!(matches!(
        limiter.hit(&fifth).await.expect("hit"),
        Decision::Limited { .. }
    ));
    // ...and that refusal counted the new address's own limit (it comes first), so both
    // are full now.
    let each = limiter.peek_each(&fifth).await.expect("peek");
    assert!(
        each.iter().all(|d| matches!(d, Decision::Limited { .. })),
        "{each:?}"
    );
}

#[tokio::test]
async fn peeking_counts_nothing_and_tells_each_limit_apart() {
    let env = Env::new().await;
    let limiter = RateLimiter::new(&env.producer);
    let (a, b) = (limit("a", 2), limit("b", 2));
    let checks = [(a, "k"), (b, "k")];
    assert_eq!(
        limiter.peek_each(&checks).await.expect("peek"),
        [Decision::Allowed, Decision::Allowed]
    );
    for _ in 0..2 {
        assert_eq!(
            limiter.hit(&checks[..1]).await.expect("hit"),
            Decision::Allowed
        );
    }
    for _ in 0..3 {
        let each = limiter.peek_each(&checks).await.expect("peek");
        assert!(matches!(each[0], Decision::Limited { .. }), "{each:?}");
        assert_eq!(each[1], Decision::Allowed, "peeking counted on b");
    }
    assert!(matches!(
        limiter.peek(&checks).await.expect("peek"),
        Decision::Limited { .. }
    ));
    assert_eq!(limiter.peek_each(&[]).await.expect("peek"), []);
    assert_eq!(limiter.hit(&[]).await.expect("hit"), Decision::Allowed);
}

#[tokio::test]
async fn counting_and_reading_in_one_call_reads_only_when_counting_allowed() {
    let env = Env::new().await;
    let limiter = RateLimiter::new(&env.producer);
    let (own, cap) = (limit("own", 1), limit("cap", 1));
    let hits = [(own, "10.0.0.1")];
    let peeks = [(cap, "ada@example.com"), (cap, "bob@example.com")];
    assert_eq!(
        limiter.hit(&[(cap, "ada@example.com")]).await.expect("hit"),
        Decision::Allowed
    );
    let (hit, read) = limiter.hit_then_peek(&hits, &peeks).await.expect("call");
    assert_eq!(hit, Decision::Allowed);
    assert!(matches!(read[0], Decision::Limited { .. }), "{read:?}");
    assert_eq!(read[1], Decision::Allowed);
    // Refused: nothing is read, and the read counters were not counted either.
    let (hit, read) = limiter.hit_then_peek(&hits, &peeks).await.expect("call");
    assert!(matches!(hit, Decision::Limited { .. }));
    assert!(read.is_empty());
    assert_eq!(
        limiter.peek(&peeks[1..]).await.expect("peek"),
        Decision::Allowed
    );
}

/// Runs `command` (`PTTL`, `PERSIST`) on each counter of `scope` (one key per limited value)
/// and returns the replies.
async fn on_counters(env: &Env, scope: &str, command: &str) -> Vec<i64> {
    let mut conn = env.redis.connection().await;
    let pattern = format!("{}:rl:*:{scope}:*", env.redis.prefix);
    let keys: Vec<String> = env
        .redis
        .keys()
        .await
        .into_iter()
        .filter(|k| glob_match(&pattern, k))
        .collect();
    let mut out = Vec::new();
    for key in keys {
        let reply: i64 = redis::cmd(command)
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect(command);
        out.push(reply);
    }
    out
}

async fn ttls(env: &Env, scope: &str) -> Vec<i64> {
    on_counters(env, scope, "PTTL").await
}

#[tokio::test]
async fn each_counter_expires_with_its_own_window_and_a_lost_ttl_comes_back() {
    let env = Env::new().await;
    let limiter = RateLimiter::new(&env.producer);
    let short = limit_over("short", 3, Duration::from_secs(7));
    let long = limit_over("long", 3, Duration::from_secs(50));
    let checks = [(short, "k"), (long, "k")];
    assert_eq!(limiter.hit(&checks).await.expect("hit"), Decision::Allowed);
    let [s] = ttls(&env, "short").await[..] else {
        panic!("one short counter")
    };
    let [l] = ttls(&env, "long").await[..] else {
        panic!("one long counter")
    };
    assert!(0 < s && s <= 7_000, "short TTL {s}");
    assert!(7_000 < l && l <= 50_000, "long TTL {l}");
    // A counter that lost its TTL (a crash between INCR and PEXPIRE) would lock its key out
    // for good; the next hit gives it one again.
    assert_eq!(on_counters(&env, "short", "PERSIST").await, [1]);
    assert_eq!(ttls(&env, "short").await, [-1]);
    assert_eq!(limiter.hit(&checks).await.expect("hit"), Decision::Allowed);
    let [s] = ttls(&env, "short").await[..] else {
        panic!("one short counter")
    };
    assert!(0 < s && s <= 7_000, "short TTL after repair {s}");
    // A limit of zero refuses everything and counts nothing.
    let none = limit_over("none", 0, Duration::from_secs(7));
    assert!(matches!(
        limiter.hit(&[(none, "k")]).await.expect("hit"),
        Decision::Limited { .. }
    ));
    let made = ttls(&env, "none").await;
    assert!(made.is_empty(), "a zero limit made a counter: {made:?}");
}

/// `pattern` with `*` for any run of characters matches `text` (as `KEYS` would).
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text.ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}
