//! `send_email` over real SMTP (a sink) and to `.eml` files: headers, the token it carries,
//! once-only delivery, and permanent and transient failures.

use std::time::Duration;

use jobs::{Job, JobState, PushOptions, SendEmail};
use testkit::SmtpSink;
use workers::providers::smtp::{Mailer, SmtpSettings, SmtpTls};

use crate::support::World;

fn sink_mailer(sink: &SmtpSink) -> Mailer {
    Mailer::smtp(&SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port(),
        username: None,
        password: None,
        tls: SmtpTls::None,
    })
    .expect("mailer")
}

async fn delivery(world: &World, email: &str, kind: &str) -> i64 {
    let user_id: i64 = sqlx::query_scalar(
        "INSERT INTO users (email, full_name) VALUES ($1, 'Zoë <Admin> O''Neil') RETURNING id",
    )
    .bind(email)
    .fetch_one(&world.db.pool)
    .await
    .expect("user");
    store::email_deliveries::queue(&world.db.pool, Some(user_id), kind, email, None)
        .await
        .expect("delivery")
}

/// A world and an SMTP sink, with a delivery of `kind` to `email` queued; the delivery's id.
async fn queued(email: &str, kind: &str) -> (World, SmtpSink, i64) {
    let world = World::new().await;
    let sink = SmtpSink::start().await;
    let id = delivery(&world, email, kind).await;
    (world, sink, id)
}

/// Runs the workers, mailing with `mailer`, until the delivery's job has finished (20 s at
/// most); its status.
async fn deliver(
    world: &World,
    mailer: Mailer,
    delivery_id: i64,
    options: PushOptions,
) -> jobs::JobStatus {
    let limit = Duration::from_secs(20);
    world
        .with_workers(world.deps(mailer), async {
            send_and_wait(world, delivery_id, options, limit).await
        })
        .await
        .expect("finished")
}

/// Pushes the delivery's job and waits for its final status.
async fn send_and_wait(
    world: &World,
    delivery_id: i64,
    options: PushOptions,
    limit: Duration,
) -> Option<jobs::JobStatus> {
    let pushed = world
        .producer
        .push_with(&SendEmail { delivery_id }, options)
        .await
        .expect("push");
    world
        .producer
        .wait(SendEmail::QUEUE, pushed.id(), limit)
        .await
        .expect("wait")
}

async fn delivery_row(world: &World, id: i64) -> (String, Option<String>, i32) {
    sqlx::query_as("SELECT status, last_error, attempts FROM email_deliveries WHERE id = $1")
        .bind(id)
        .fetch_one(&world.db.pool)
        .await
        .expect("row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_sent_over_smtp_with_a_working_token_and_proper_headers() {
    let (world, sink, id) = queued("zoe@example.com", "invitation").await;
    let status = deliver(&world, sink_mailer(&sink), id, PushOptions::default()).await;
    assert_eq!(status.state, JobState::Done, "{status:?}");
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["zoe@example.com".to_owned()]);
    assert_eq!(mail.from, "noreply@concierge.test");
    for header in [
        "Message-ID: <",
        "Date: ",
        "Subject: You're invited to Rustaceans",
        "multipart/alternative",
        "text/plain",
        "text/html",
    ] {
        assert!(
            mail.data.contains(header),
            "missing {header} in:\n{}",
            mail.data
        );
    }
    assert!(
        mail.data.contains("&lt;Admin&gt;"),
        "the name is escaped in the HTML part:\n{}",
        mail.data
    );
    // The token in the mail is the one stored (hashed) for the invitation.
    let token = mail
        .data
        .lines()
        .find_map(|l| l.strip_prefix("Your invitation token: "))
        .expect("token line")
        .trim()
        .to_owned();
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM one_time_tokens WHERE purpose = 'invitation' AND token_hash = $1 AND consumed_at IS NULL",
    )
    .bind(store::secret::digest(&token))
    .fetch_one(&world.db.pool)
    .await
    .expect("query");
    assert_eq!(stored, 1);
    let (state, error, attempts) = delivery_row(&world, id).await;
    assert_eq!((state.as_str(), error, attempts), ("sent", None, 1));
    assert!(
        store::job_effects::done(&world.db.pool, &format!("send_email:{id}"))
            .await
            .expect("ledger")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_sent_once_even_when_its_job_runs_twice() {
    let (world, sink, id) = queued("twice@example.com", "link_confirmation").await;
    world
        .with_workers(world.deps(sink_mailer(&sink)), async {
            for _ in 0..2 {
                let status =
                    send_and_wait(&world, id, PushOptions::default(), Duration::from_secs(15))
                        .await;
                assert_eq!(status.map(|s| s.state), Some(JobState::Done));
            }
        })
        .await;
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_rejection_fails_at_once_and_is_recorded_on_the_delivery() {
    let (world, sink, id) = queued("bounce@example.com", "link_confirmation").await;
    let status = deliver(&world, sink_mailer(&sink), id, PushOptions::default()).await;
    assert_eq!(status.state, JobState::Failed);
    assert_eq!(status.attempts, 1, "no retry of a permanent failure");
    let (state, error, _) = delivery_row(&world, id).await;
    assert_eq!(state, "failed");
    assert!(error.unwrap_or_default().contains("550"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_until_the_budget_is_spent() {
    let (world, sink, id) = queued("tempfail@example.com", "link_confirmation").await;
    let options = PushOptions::default().with_max_attempts(3);
    let status = deliver(&world, sink_mailer(&sink), id, options).await;
    assert_eq!(status.state, JobState::Dead);
    assert_eq!(status.attempts, 3);
    let (state, error, attempts) = delivery_row(&world, id).await;
    assert_eq!((state.as_str(), attempts), ("failed", 3));
    assert!(error.unwrap_or_default().contains("451"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_is_written_as_eml_files() {
    let world = World::new().await;
    let dir = std::env::temp_dir().join(format!(
        "concierge-outbox-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let id = delivery(&world, "files@example.com", "verification").await;
    let status = deliver(&world, Mailer::files(&dir), id, PushOptions::default()).await;
    assert_eq!(status.state, JobState::Done);
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("outbox")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).expect("eml");
    assert!(
        text.contains("To: files@example.com") && text.contains("Your verification code: "),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
