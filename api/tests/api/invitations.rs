//! Seed 003: CSV upload, invitation mails through the queue to a real SMTP sink, token checks
//! with their limits, re-issue and deletion. Seed 004: API tokens.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use testkit::{AppOptions, ReceivedMail, SmtpSink, TestApp, eventually, spawn_app, spawn_app_with};

use crate::support::{Answer, behind_proxy, delete, entry, finished, mailing_app, rows};

pub(crate) async fn upload(app: &TestApp, csv: Vec<u8>) -> reqwest::Response {
    let form = Form::new().part("file", Part::bytes(csv).file_name("users.csv"));
    app.post_admin("/api/upload-csv")
        .multipart(form)
        .answer("upload")
        .await
}

pub(crate) async fn users(app: &TestApp, query: &str) -> Value {
    app.get_admin(&format!("/api/users{query}"))
        .answer_json("users")
        .await
}

/// The status of each row of an upload's report, in order.
fn row_statuses(report: &Value) -> Vec<&str> {
    report["results"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect()
}

#[tokio::test]
async fn csv_rows_are_created_updated_duplicate_or_invalid() {
    let app = spawn_app().await;
    let csv = "email,name\n\
               ada@example.test,Ada\n\
               bob@example.test,\"Robert'); DROP TABLE users;--\"\n\
               not-an-email,Nobody\n\
               ADA@example.test,Ada again\n\
               zoe@example.test,Zoë 🌸\n";
    let resp = upload(&app, csv.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let report: Value = resp.json().await.expect("json");
    assert_eq!(
        (
            report["created"].as_u64(),
            report["duplicate"].as_u64(),
            report["invalid"].as_u64()
        ),
        (Some(3), Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(
        row_statuses(&report),
        ["created", "created", "invalid", "duplicate", "created"]
    );
    assert_eq!(report["results"][2]["line"], 4);
    // Stored verbatim.
    let list = users(&app, "?q=drop%20table").await;
    assert_eq!(list["total"], 1);
    assert_eq!(
        list["users"][0]["full_name"],
        "Robert'); DROP TABLE users;--"
    );
    let list = users(&app, "?q=%F0%9F%8C%B8").await;
    assert_eq!(list["users"][0]["full_name"], "Zoë 🌸");
    assert_eq!(list["users"][0]["invitation"]["status"], "pending");
    // Again with a new name: updated.
    let resp = upload(
        &app,
        b"email,name\nbob@example.test,Bob\nada@example.test,Ada\n".to_vec(),
    )
    .await;
    let report: Value = resp.json().await.expect("json");
    assert_eq!(row_statuses(&report), ["updated", "duplicate"]);
    let page = users(&app, "?per_page=2&page=2").await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["users"].as_array().expect("users").len(), 1);
    // A search with a NUL matches nobody (Postgres refuses one in text: this was a 500).
    let none = users(&app, "?q=ada%00").await;
    assert_eq!(
        (
            none["total"].as_i64(),
            none["users"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn unreadable_csvs_import_nothing() {
    let app = spawn_app().await;
    for (csv, hint) in [
        (b"".to_vec(), "empty"),
        (b"name\nAda\n".to_vec(), "email"),
        (b"email\n\xff\xfe@x.y\n".to_vec(), "UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00".to_vec(), "UTF-8"),
        // A stray quote: csv would read every row after it into one name.
        (
            b"email,name\nq1@example.test,Ann\nq2@example.test,\"Bob\nq3@example.test,Cy\n"
                .to_vec(),
            "line 3 is not valid CSV",
        ),
    ] {
        let resp = upload(&app, csv).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{hint}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["code"], "invalid_csv");
        assert!(
            body["message"].as_str().expect("message").contains(hint),
            "{body}"
        );
    }
    assert_eq!(rows(&app, "users").await, 0);
}

#[tokio::test]
async fn a_hundred_thousand_rows_in_one_request() {
    let app = spawn_app_with(AppOptions {
        max_body_bytes: 10 * 1024 * 1024,
        ..AppOptions::default()
    })
    .await;
    let mut csv = String::from("email,name\n");
    for i in 0..100_000 {
        csv.push_str(&format!("member{i}@example.test,Member {i}\n"));
    }
    let resp = upload(&app, csv.into_bytes()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let report: Value = resp.json().await.expect("json");
    assert_eq!(report["created"], 100_000);
    assert_eq!(rows(&app, "invitations").await, 100_000);
}

#[tokio::test]
async fn oversized_chunked_uploads_get_413() {
    let app = spawn_app_with(AppOptions {
        max_body_bytes: 4096,
        ..AppOptions::default()
    })
    .await;
    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 1024]));
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let resp = app
        .post_admin("/api/upload-csv")
        .header("content-type", "multipart/form-data; boundary=x")
        .body(body)
        .answer("upload")
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "payload_too_large");
}

/// The invitation token in a mail's text part.
pub(crate) fn token_in(mail: &str) -> String {
    let (at, len) = ["Token: ", "token: ", "code: "]
        .iter()
        .find_map(|marker| mail.find(marker).map(|at| (at, marker.len())))
        .expect("a token in the mail");
    mail[at + len..]
        .split_whitespace()
        .next()
        .expect("token")
        .trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_')
        .to_owned()
}

/// The mails `sink` received for an address containing `to`, in order.
fn mails_for(sink: &SmtpSink, to: &str) -> Vec<ReceivedMail> {
    sink.messages()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.contains(to)))
        .collect()
}

#[tokio::test]
async fn invitations_are_mailed_verified_and_reissued() {
    let sink = SmtpSink::start().await;
    let app = mailing_app(&sink).await;
    upload(
        &app,
        b"email,name\nada@example.test,Ada\nbounce@example.test,Bounce\n".to_vec(),
    )
    .await;
    let resp = app.post_admin("/api/send-emails").answer("send").await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let batch: Value = resp.json().await.expect("json");
    assert_eq!(batch["queued"], 2);
    let status_url = batch["status_url"].as_str().expect("url").to_owned();
    let progress = eventually(
        Duration::from_secs(20),
        "the batch never finished",
        async || {
            let progress = app.get_admin(&status_url).answer_json("batch").await;
            (progress["finished"] == true).then_some(progress)
        },
    )
    .await;
    assert_eq!(
        (progress["sent"].as_i64(), progress["failed"].as_i64()),
        (Some(1), Some(1)),
        "{progress}"
    );
    // A second call queues nothing new for the invitee already mailed.
    let again = app.post_admin("/api/send-emails").answer_json("send").await;
    assert_eq!(
        again["queued"], 1,
        "only the failed invitee is retried: {again}"
    );

    let token = token_in(&mails_for(&sink, "ada@").first().expect("Ada's mail").data);
    let list = users(&app, "?q=ada").await;
    assert_eq!(list["users"][0]["invitation"]["status"], "sent");
    assert_eq!(list["users"][0]["last_email"]["status"], "sent");

    // Re-issue: the mailed token dies at once.
    let id = list["users"][0]["id"].as_i64().expect("id");
    let refresh = |id: String| {
        app.post_admin(&format!("/api/refresh-token/{id}"))
            .answer("refresh")
    };
    assert_eq!(refresh(id.to_string()).await.status(), StatusCode::OK);
    let verify = |token: String| {
        app.post_admin("/api/verify")
            .json(&json!({ "email": "Ada@example.test", "token": token }))
            .answer("verify")
    };
    assert_eq!(verify(token).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        refresh("999999".into()).await.status(),
        StatusCode::NOT_FOUND
    );
    // The new mail carries a new token that verifies.
    let new_token = eventually(
        Duration::from_secs(20),
        "no second mail to Ada",
        async || {
            let ada = mails_for(&sink, "ada@");
            (ada.len() == 2).then(|| token_in(&ada[1].data))
        },
    )
    .await;
    assert_eq!(verify(new_token).await.status(), StatusCode::OK);
    let list = users(&app, "?verified=true").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["users"][0]["invitation"]["status"], "verified");
}

pub(crate) async fn invitee_with_token(app: &TestApp, email: &str) -> (i64, String) {
    upload(app, format!("email\n{email}\n").into_bytes()).await;
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .expect("user");
    (user_id, app.db.invitation_token(user_id).await)
}

/// Issue 11, finding 3: five wrong tokens used to kill the invitee's token for good. Now the
/// failing source is locked out of that email for a while, the token lives on, and its owner
/// (from anywhere else) verifies at once. Fails on d37e806: the owner's token was dead.
#[tokio::test]
async fn wrong_tokens_lock_out_the_guesser_and_never_kill_the_token() {
    let app = spawn_app_with(AppOptions {
        trusted_proxies: behind_proxy(),
        ..AppOptions::default()
    })
    .await;
    let (_, token) = invitee_with_token(&app, "guess@example.test").await;
    let verify = |email: &str, token: &str, from: Option<&str>| {
        let req = app.post_admin("/api/verify");
        let req = match from {
            Some(from) => req.header("x-forwarded-for", from),
            None => req,
        };
        req.json(&json!({ "email": email, "token": token }))
            .answer("verify")
    };
    let stranger = Some("198.51.100.66");
    for _ in 0..5 {
        let resp = verify("guess@example.test", "wrong", stranger).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    // The guesser is locked out of this email, right token or not: guessing stops here.
    let resp = verify("guess@example.test", &token, stranger).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    // The owner, elsewhere, is not: the token was never consumed by the failures.
    let resp = verify("guess@example.test", &token, Some("203.0.113.5")).await;
    assert_eq!(resp.status(), StatusCode::OK, "the owner verifies");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["already_verified"], false);
    // Expired tokens say so.
    let (_, token) = invitee_with_token(&app, "late@example.test").await;
    sqlx::query("UPDATE one_time_tokens SET expires_at = now() - interval '1 minute'")
        .execute(&app.db.pool)
        .await
        .expect("expire");
    let resp = verify("late@example.test", &token, None).await;
    assert_eq!(resp.status(), StatusCode::GONE);
}

#[tokio::test]
async fn verify_discord_links_and_never_moves_an_account() {
    let app = spawn_app().await;
    let (ada, token) = invitee_with_token(&app, "ada@example.test").await;
    let (_, bob_token) = invitee_with_token(&app, "bob@example.test").await;
    let verify = async |email: &str, token: &str, discord_id: &str| {
        app.post_admin("/api/verify-discord")
            .json(&json!({ "email": email, "token": token, "discord_id": discord_id }))
            .answer("verify")
            .await
            .status()
    };
    let ada_discord = "123456789012345678";
    assert_eq!(
        verify("ada@example.test", &token, ada_discord).await,
        StatusCode::OK
    );
    let owner = store::identities::user_of_discord(&app.db.pool, ada_discord)
        .await
        .expect("query");
    assert_eq!(owner, Some(ada));
    // Verified at the gate too, by the job the bot's own `/verify` ends in: it grants the role
    // and lifts the gate, so the scheduled kick does not fire.
    let queued = app
        .producer
        .list("verify_member", Some(jobs::JobState::Pending), 0, 10)
        .await
        .expect("list");
    let payloads: Vec<_> = queued.iter().filter_map(|j| j.payload.clone()).collect();
    assert_eq!(
        payloads,
        [json!({
            "guild_id": null,
            "discord_user_id": 123_456_789_012_345_678_u64,
            "proof": { "kind": "rejoined" },
            "interaction": null,
        })],
        "one verify_member job for the verified member"
    );
    assert_eq!(
        verify("bob@example.test", &bob_token, ada_discord).await,
        StatusCode::CONFLICT
    );
    // Bob's token was not spent by the refusal.
    assert_eq!(
        verify("bob@example.test", &bob_token, "223456789012345678").await,
        StatusCode::OK
    );
    assert_eq!(
        verify("bob@example.test", "x", "not a number").await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn deleting_users_needs_confirmation_for_all() {
    let app = spawn_app().await;
    let (id, _) = invitee_with_token(&app, "gone@example.test").await;
    invitee_with_token(&app, "kept@example.test").await;
    let one = format!("/api/{id}");
    // In order: the user, then again (gone), then all without the exact confirmation.
    for (path, expected) in [
        (one.as_str(), StatusCode::OK),
        (&one, StatusCode::NOT_FOUND),
        ("/api/all", StatusCode::BAD_REQUEST),
        ("/api/all?confirm=delete", StatusCode::BAD_REQUEST),
    ] {
        let resp = app.delete_admin(path).answer("delete").await;
        assert_eq!(resp.status(), expected, "DELETE {path}");
    }
    assert_eq!(users(&app, "").await["total"], 1);
    let all = "/api/all?confirm=DELETE%20ALL%20USERS";
    let resp = app.delete_admin(all).answer("delete all").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(users(&app, "").await["total"], 0);
    let resp = delete(&app, all).answer("anonymous").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_tokens_are_created_used_listed_and_revoked() {
    let app = spawn_app().await;
    let create = |body: Value| app.post_admin("/api/tokens").json(&body).answer("create");
    let resp = create(json!({ "name": "CI dashboard — «prod» 'quoted'; --" })).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.expect("json");
    let token = created["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("cnc_"));
    let health = || {
        app.get("/api/admin/queues")
            .bearer_auth(&token)
            .answer("queues")
    };
    assert_eq!(health().await.status(), StatusCode::OK);
    let list = app.get_admin("/api/tokens").answer_json("list").await;
    assert_eq!(list[0]["name"], "CI dashboard — «prod» 'quoted'; --");
    assert!(list[0]["last_used_at"].is_string());
    assert!(list[0].get("token").is_none(), "never listed");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(&app.db.pool)
        .await
        .expect("hash");
    assert_eq!(stored, store::secret::digest(&token), "stored hashed");
    // A personal token is not an admin.
    let personal: Value = create(json!({ "name": "personal", "role": "personal_only" }))
        .await
        .json()
        .await
        .expect("json");
    let resp = app
        .get("/api/users")
        .bearer_auth(personal["token"].as_str().expect("token"))
        .answer("users")
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let id = created["id"].as_i64().expect("id");
    let resp = app
        .delete_admin(&format!("/api/tokens/{id}"))
        .answer("revoke")
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(health().await.status(), StatusCode::UNAUTHORIZED);
    let resp = create(json!({ "name": "", "expires_in_days": 0 })).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn limits_hold_per_address_and_across_replicas() {
    let limits = api::Limits {
        secret_attempts_per_ip: 5,
        failures_per_email_and_source: 3,
        window: Duration::from_secs(60),
        ..api::Limits::default()
    };
    // Behind a proxy on 127.0.0.1, which names the client in X-Forwarded-For.
    let first = spawn_app_with(AppOptions {
        limits,
        trusted_proxies: behind_proxy(),
        ..AppOptions::default()
    })
    .await;
    // A second replica of the same deployment: same Redis prefix, its own process state.
    let second = spawn_app_with(AppOptions {
        limits,
        trusted_proxies: behind_proxy(),
        redis_prefix: Some(first.redis.prefix.clone()),
        api_key: Some(first.api_key.clone()),
        ..AppOptions::default()
    })
    .await;
    let attempt = |app: &TestApp, email: &str, from: &str| {
        app.post_admin("/api/verify")
            .header("x-forwarded-for", from)
            .json(&json!({ "email": email, "token": "guess" }))
            .answer("verify")
    };
    let stranger = "198.51.100.1";
    // Wrong tokens for one email from one address, counted across both replicas, lock that
    // address out of that email.
    for app in [&first, &second, &first] {
        let resp = attempt(app, "target@example.test", stranger).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    let resp = attempt(&second, "target@example.test", stranger).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // Another address is not locked out of that email: failing never locks the owner out.
    let resp = attempt(&first, "target@example.test", "203.0.113.7").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Per address, whatever the email: 4 attempts so far, the 5th is allowed, the 6th not.
    let resp = attempt(&second, "other1@example.test", stranger).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = attempt(&first, "other2@example.test", stranger).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "too_many_attempts");
}

#[tokio::test]
async fn email_onboarding_mails_a_token_that_verifies() {
    let sink = SmtpSink::start().await;
    let app = mailing_app(&sink).await;
    let resp = app
        .post("/api/user/onboarding")
        .json(&json!({ "name": "Mail Person", "email": "mail@example.test", "communicationChannel": "email" }))
        .answer("onboarding")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mail = eventually(
        Duration::from_secs(20),
        "no verification mail",
        async || sink.messages().into_iter().next(),
    )
    .await;
    assert!(mail.data.contains("Verify your email"), "{}", mail.data);
    let resp = app
        .post_admin("/api/verify")
        .json(&json!({ "email": "mail@example.test", "token": token_in(&mail.data) }))
        .answer("verify")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(users(&app, "?verified=true").await["total"], 1);
}

/// The row of `queue` in the dashboard's list of queues.
async fn queue_row(app: &TestApp, queue: &str) -> Value {
    let queues = app
        .get_admin("/api/admin/queues")
        .answer_json("queues")
        .await;
    entry(&queues, "queue", queue).clone()
}

#[tokio::test]
async fn the_job_dashboard_api_lists_redacts_pauses_and_acts() {
    let app = crate::support::app_with_workers().await;
    let act = |path: &str, what: &'static str| app.post_admin(path).answer(what);
    let resp = act("/api/admin/queues/send_email/pause", "pause").await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // A fetcher already blocked in XREADGROUP sees the pause when its wait ends (the test
    // workers wait at most 100 ms): give each that long, three times over.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A paused queue keeps its jobs.
    let pushed = app
        .producer
        .push(&jobs::SendEmail {
            delivery_id: 424242,
        })
        .await
        .expect("push");
    let send_email = queue_row(&app, "send_email").await;
    assert_eq!(send_email["paused"], true);
    assert_eq!(send_email["waiting"], 1);
    assert_eq!(
        (&send_email["scheduled"], &send_email["retrying"]),
        (&json!(0), &json!(0))
    );
    let waiting = app
        .get_admin("/api/admin/queues/send_email/jobs")
        .answer_json("jobs")
        .await;
    assert_eq!(waiting[0]["id"], pushed.id().to_string());
    // Resumed, the job runs (its delivery does not exist: done with "gone").
    let resp = act("/api/admin/queues/send_email/resume", "resume").await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let done = finished(&app, "send_email", pushed.id(), "finished").await;
    assert_eq!(done.state, jobs::JobState::Done);
    assert_eq!(
        queue_row(&app, "send_email").await["finished_last_minute"],
        1,
        "throughput counts it"
    );

    // A dead job with a secret: shown redacted, retried, discarded.
    let secret = app
        .producer
        .push_with(
            &jobs::GenerateImage {
                prompt: "a fox".into(),
                channel_id: 1,
                requested_by: 5,
                reply_to: None,
                interaction: Some(jobs::InteractionRef {
                    sealed_token: "SEALED-SECRET".into(),
                }),
            },
            jobs::PushOptions::default().with_max_attempts(1),
        )
        .await
        .expect("push");
    // No bot token in tests: the job fails for good at once.
    finished(&app, "generate_image", secret.id(), "finished").await;
    let path = format!("/api/admin/queues/generate_image/jobs/{}", secret.id());
    let job = app.get_admin(&path).answer_json("job").await;
    assert!(
        matches!(job["state"].as_str(), Some("failed" | "dead")),
        "{job}"
    );
    assert!(!job.to_string().contains("SEALED-SECRET"), "{job}");
    assert!(
        job["error"]
            .as_str()
            .is_some_and(|e| e.contains("DISCORD_BOT_TOKEN")),
        "{job}"
    );
    let dead = app
        .get_admin("/api/admin/queues/generate_image/jobs?state=dead")
        .answer_json("dead")
        .await;
    assert_eq!(dead.as_array().expect("list").len(), 1);
    let resp = act(&format!("{path}/retry"), "retry").await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    finished(&app, "generate_image", secret.id(), "finished again").await;
    let resp = app.delete_admin(&path).answer("discard").await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for (req, what) in [
        (app.get_admin(&path), "gone"),
        (app.get_admin("/api/admin/queues/nope/jobs"), "404"),
    ] {
        assert_eq!(
            req.answer(what).await.status(),
            StatusCode::NOT_FOUND,
            "{what}"
        );
    }
    let resp = app.get("/api/admin/queues").answer("anonymous").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // The workers beside the app, by heartbeat.
    let workers = app
        .get_admin("/api/admin/workers")
        .answer_json("workers")
        .await;
    let send_email = entry(&workers, "queue", "send_email");
    assert_eq!(send_email["pid"], std::process::id());
    assert!(send_email["concurrency"].as_u64().is_some_and(|c| c > 0));
    // The event stream sends queue sizes (and needs credentials too).
    let anonymous = app.get("/api/admin/events").answer("anonymous").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let mut events = app.get_admin("/api/admin/events").answer("events").await;
    let content_type = events.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let chunk = events.chunk().await.expect("read").expect("an event");
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.starts_with("data: ["), "{text}");
    assert!(text.contains("\"queue\":\"send_email\""), "{text}");
}

#[tokio::test]
async fn job_search_matches_payload_fields_and_text_but_never_secrets() {
    let app = spawn_app().await;
    for user in [1, 2, 3] {
        app.producer
            .push(&jobs::SendDiscordDm {
                discord_user_id: user,
                guild_id: None,
                message: jobs::DmMessage::VerificationConfirmed,
            })
            .await
            .expect("push");
    }
    app.producer
        .push(&jobs::VerifyMember {
            guild_id: None,
            discord_user_id: 4,
            proof: jobs::MemberProof::Invitation {
                email: "zoe@example.test".into(),
                sealed_token: "sealed".into(),
            },
            interaction: None,
        })
        .await
        .expect("push");
    let search = async |queue: &str, q: &str, extra: &str| -> Vec<u64> {
        let found: Value = app
            .get_admin(&format!(
                "/api/admin/queues/{queue}/jobs?state=waiting{extra}"
            ))
            .query(&[("q", q)])
            .answer_json("search")
            .await;
        found
            .as_array()
            .expect("jobs")
            .iter()
            .map(|j| j["payload"]["discord_user_id"].as_u64().expect("user"))
            .collect()
    };
    assert_eq!(
        search("send_discord_dm", "discord_user_id=2", "").await,
        [2]
    );
    let mut all = search("send_discord_dm", "verification_confirmed", "").await;
    all.sort_unstable();
    assert_eq!(all, [1, 2, 3], "text, any case");
    let mut pages = Vec::new();
    for offset in 0..4 {
        let extra = format!("&limit=1&offset={offset}");
        pages.push(search("send_discord_dm", "VERIFICATION", &extra).await);
    }
    let mut paged: Vec<u64> = pages.iter().flatten().copied().collect();
    paged.sort_unstable();
    assert_eq!(
        paged,
        [1, 2, 3],
        "offset and limit count matches: {pages:?}"
    );
    assert!(pages[3].is_empty());
    assert_eq!(search("verify_member", "kind=invitation", "").await, [4]);
    assert!(
        search("verify_member", "zoe@example", "").await.is_empty(),
        "redacted values are not searchable"
    );
    assert!(
        search("verify_member", "email=zoe@example.test", "")
            .await
            .is_empty()
    );
}
