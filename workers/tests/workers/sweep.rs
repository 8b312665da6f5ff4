//! The sweep's schedule (one firing per slot across replicas) and what one run removes.

use std::time::Duration;

use jobs::{Job, JobState, Producer, Sweep, now_ms};
use testkit::{TestDb, TestRedis};
use tokio_util::sync::CancellationToken;
use workers::cron;

async fn producer(redis: &TestRedis) -> Producer {
    redis.producer().await
}

#[tokio::test]
async fn each_slot_fires_once_however_many_replicas_try() {
    let redis = TestRedis::new().await;
    let replicas = [
        producer(&redis).await,
        producer(&redis).await,
        producer(&redis).await,
    ];
    let every = Duration::from_secs(60);
    let first_slot = cron::slot(now_ms(), every);
    for k in 0..3u64 {
        let slot = first_slot + k * every.as_millis() as u64;
        let fired =
            futures::future::join_all(replicas.iter().map(|p| cron::fire_sweep(p, slot, every)))
                .await;
        let enqueued = fired
            .into_iter()
            .map(|r| r.expect("push"))
            .filter(|&f| f)
            .count();
        assert_eq!(enqueued, 1, "slot {slot} fired {enqueued} times");
    }
    assert_eq!(
        replicas[0].depth(Sweep::QUEUE).await.expect("depth").stream,
        3
    );
}

#[test]
fn slots_are_aligned_to_the_interval() {
    let every = Duration::from_secs(300);
    assert_eq!(cron::slot(1_000_000, every), 900_000);
    assert_eq!(cron::slot(1_200_000, every), 1_200_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_sweep_runs_and_removes_what_expired() {
    testkit::init_logging();
    let db = TestDb::new().await;
    let redis = TestRedis::new().await;
    let producer = producer(&redis).await;
    sqlx::raw_sql(
        "INSERT INTO users (id, email) OVERRIDING SYSTEM VALUE VALUES (1, 'a@example.com');
         INSERT INTO one_time_tokens (purpose, token_hash, user_id, expires_at) VALUES
           ('login_code', sha256('old'), 1, now() - interval '3 days'),
           ('login_code', sha256('new'), 1, now() + interval '1 hour');
         INSERT INTO job_effects (idempotency_key, queue, effect, created_at) VALUES
           ('old', 'send_email', 'email_sent', now() - interval '40 days'),
           ('new', 'send_email', 'email_sent', now());
         -- Onboardings nobody proved go after a week; invitees, verified users, admins and
         -- the recent stay.
         INSERT INTO users (id, email, verified, role, created_at) OVERRIDING SYSTEM VALUE VALUES
           (10, 'stale@example.com', FALSE, 'personal_only', now() - interval '8 days'),
           (11, 'stale-linked@example.com', FALSE, 'personal_only', now() - interval '8 days'),
           (12, 'invitee@example.com', FALSE, 'personal_only', now() - interval '8 days'),
           (13, 'member@example.com', TRUE, 'personal_only', now() - interval '8 days'),
           (14, 'recent@example.com', FALSE, 'personal_only', now() - interval '1 day'),
           (15, 'admin@example.com', FALSE, 'admin', now() - interval '8 days'),
           (16, 'mailed@example.com', FALSE, 'personal_only', now() - interval '8 days');
         -- A code of theirs was issued yesterday (onboarded again, or mailed): still in flight.
         INSERT INTO one_time_tokens (purpose, token_hash, user_id, expires_at, created_at) VALUES
           ('email_verification', sha256('fresh'), 16, now() + interval '1 day',
            now() - interval '1 day');
         INSERT INTO identities (user_id, provider, issuer, subject) VALUES
           (11, 'discord', 'https://discord.com', '4242');
         INSERT INTO invitations (user_id) VALUES (12);",
    )
    .execute(&db.pool)
    .await
    .expect("fixture");
    let settings = workers::WorkerSettings {
        sweep_every: Duration::from_secs(1),
        probe_queues: Vec::new(),
        grace: Duration::from_secs(5),
        ..workers::WorkerSettings::default()
    };
    let stop = CancellationToken::new();
    let deps = testkit::worker_deps(
        &db,
        &producer,
        &"k".repeat(32),
        None,
        None,
        workers::providers::smtp::Mailer::files(
            std::env::temp_dir().join("concierge-unused-outbox"),
        ),
    );
    let watcher = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut conn = producer.connection();
        loop {
            let done: Vec<String> =
                redis::AsyncCommands::zrange(&mut conn, producer.keys::<Sweep>().done(), 0, -1)
                    .await
                    .expect("done index");
            if let Some(id) = done.first() {
                let status = producer
                    .status(Sweep::QUEUE, &jobs::JobId(id.clone()))
                    .await
                    .expect("status")
                    .expect("kept");
                stop.cancel();
                return Some(status);
            }
            if tokio::time::Instant::now() > deadline {
                stop.cancel();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (ran, status) = tokio::join!(workers::run(deps, settings, stop.clone()), watcher);
    ran.expect("workers ran");
    let status = status.expect("a sweep ran within 15 s");
    assert_eq!(status.state, JobState::Done);
    assert_eq!(
        status.result,
        Some(serde_json::json!({
            "one_time_tokens": 1, "refresh_tokens": 0, "job_effects": 1, "refreshes_pushed": 0,
            "kicks_pushed": 0, "unproven_users": 2
        }))
    );
    let kept: Vec<i64> = sqlx::query_scalar("SELECT id FROM users ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .expect("users");
    assert_eq!(
        kept,
        [1, 12, 13, 14, 15, 16],
        "only the stale unproven onboardings went"
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM one_time_tokens")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(left, 2, "the live tokens stay");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM job_effects")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(left, 1, "the recent effect stays");
}
