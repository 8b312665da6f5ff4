//! The job board: apalis-board's prebuilt UI and the `/api/v1` it reads, on a port of its
//! own behind Basic authentication, answered from our queues in apalis-board's JSON shapes
//! with payloads redacted; and the UI itself rendering our data in headless Chromium.

use std::time::Duration;

use futures::StreamExt;
use poem::http::StatusCode;
use serde_json::Value;
use testkit::TestApp;

use crate::support::{Answer, entry, header};

fn board(app: &TestApp, path: &str) -> reqwest::RequestBuilder {
    app.client
        .get(format!("{}{path}", app.board_address))
        .basic_auth("admin", Some(&app.api_key))
}

async fn board_json(app: &TestApp, path: &str) -> Value {
    let resp = board(app, path).answer("board request").await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.expect("json")
}

fn stat<'a>(stats: &'a Value, title: &str) -> &'a str {
    stats
        .as_array()
        .expect("stats")
        .iter()
        .find(|s| s["title"] == title)
        .and_then(|s| s["value"].as_str())
        .unwrap_or_else(|| panic!("no {title} in {stats}"))
}

/// Pushes a DM job that will fail for good at once (no Discord in tests: a permanent error).
async fn push_failing_dm(app: &TestApp, user: u64) -> jobs::JobId {
    app.producer
        .push_with(
            &jobs::SendDiscordDm {
                discord_user_id: user,
                guild_id: None,
                message: jobs::DmMessage::VerificationConfirmed,
            },
            jobs::PushOptions::default().with_max_attempts(1),
        )
        .await
        .expect("push")
        .id()
        .clone()
}

/// [`push_failing_dm`], finished.
pub(crate) async fn failed_dm(app: &TestApp, user: u64) -> jobs::JobId {
    let id = push_failing_dm(app, user).await;
    let finished = crate::support::finished(app, "send_discord_dm", &id, "finished").await;
    assert_eq!(
        finished.state,
        jobs::JobState::Failed,
        "{finished:?} now {:?}",
        app.producer.status("send_discord_dm", &id).await
    );
    id
}

#[tokio::test]
async fn every_path_of_the_board_asks_for_an_admin_credential() {
    let app = testkit::spawn_app().await;
    // Without credentials, as the board's client would.
    let anonymous = |path: &str| app.client.get(format!("{}{path}", app.board_address));
    for path in [
        "/",
        "/queues/send_email",
        "/api/v1/queues",
        "/api/v1/events",
    ] {
        let resp = anonymous(path).answer("request").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = header(&resp, "www-authenticate");
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
        let resp = anonymous(path)
            .basic_auth("admin", Some("not-the-key"))
            .answer("request")
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // The x-api-key header of the main API is not how the board is entered.
    let resp = anonymous("/api/v1/queues")
        .header("x-api-key", &app.api_key)
        .answer("request")
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // An admin API token works as the password; a personal one is refused (and the browser
    // asked for another).
    let token = async |body: Value| {
        let created = app
            .post_admin("/api/tokens")
            .json(&body)
            .answer_json("token")
            .await;
        created["token"].as_str().expect("token").to_owned()
    };
    let overview = |token: &str| {
        anonymous("/api/v1/overview")
            .basic_auth("anyone", Some(token))
            .answer("request")
    };
    let admin = token(serde_json::json!({"name": "board"})).await;
    assert_eq!(overview(&admin).await.status(), StatusCode::OK);
    let personal = token(serde_json::json!({"name": "mine", "role": "personal_only"})).await;
    let resp = overview(&personal).await;
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "refused, and asked again"
    );
    assert!(resp.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn the_board_serves_its_embedded_ui() {
    let app = testkit::spawn_app().await;
    let resp = board(&app, "/").answer("index").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let kind = header(&resp, "content-type");
    assert!(kind.starts_with("text/html"), "{kind}");
    let index = resp.text().await.expect("text");
    assert!(index.contains("<title>Apalis Board</title>"), "{index}");
    // Every file the page loads is there, with the type a browser requires.
    let wasm = index
        .split(['\'', '"'])
        .find(|s| s.ends_with("_bg.wasm"))
        .expect("a wasm file in index.html")
        .to_owned();
    let resp = board(&app, &wasm).answer("wasm").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/wasm");
    let bytes = resp.bytes().await.expect("bytes");
    assert_eq!(&bytes[..4], b"\0asm");
    for ending in [".js", ".css"] {
        let file = index
            .split(['\'', '"'])
            .find(|s| s.starts_with('/') && s.ends_with(ending))
            .unwrap_or_else(|| panic!("a {ending} file in index.html"))
            .to_owned();
        let resp = board(&app, &file).answer("file").await;
        assert_eq!(resp.status(), StatusCode::OK, "{file}");
    }
    // The UI's own routes get the page; a missing file and an unknown API path do not.
    let resp = board(&app, "/queues/send_email/Failed")
        .answer("route")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("text"), index);
    for path in ["/missing.js", "/api/v1/nothing"] {
        let resp = board(&app, path).answer("missing").await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_board_api_answers_in_apalis_board_shapes_with_secrets_redacted() {
    let app = crate::support::app_with_workers().await;
    let dead = failed_dm(&app, 9).await;
    // A job carrying secrets, scheduled for later so it stays visible.
    let scheduled = app
        .producer
        .schedule(
            &jobs::VerifyMember {
                guild_id: Some(1),
                discord_user_id: 42,
                proof: jobs::MemberProof::Invitation {
                    email: "zoe@example.test".into(),
                    sealed_token: "c2VhbGVkLXNlY3JldA".into(),
                },
                interaction: None,
            },
            jobs::now_ms() + 3_600_000,
        )
        .await
        .expect("schedule");

    let queues = board_json(&app, "/api/v1/queues").await;
    let dm = entry(&queues, "name", "send_discord_dm");
    assert_eq!(stat(&dm["stats"], "FAILED_JOBS"), "1");
    assert_eq!(dm["activity"].as_array().expect("activity").len(), 7);
    assert!(
        !dm["workers"].as_array().expect("workers").is_empty(),
        "the in-process worker of the queue is listed: {dm}"
    );
    let overview = board_json(&app, "/api/v1/overview").await;
    assert_eq!(stat(&overview, "PENDING_JOBS"), "1");
    assert_eq!(stat(&overview, "FAILED_JOBS"), "1");
    assert_eq!(
        stat(
            &board_json(&app, "/api/v1/queues/verify_member/stats").await,
            "PENDING_JOBS"
        ),
        "1"
    );

    // The query strings the UI sends, verbatim.
    let failed = board_json(
        &app,
        "/api/v1/queues/send_discord_dm/tasks?&page=1&page_size=15&queue=send_discord_dm&status=Killed",
    )
    .await;
    let task = &failed.as_array().expect("tasks")[0];
    assert_eq!(task["ctx"]["task_id"], dead.as_str());
    assert_eq!(task["ctx"]["queue"], "send_discord_dm");
    assert_eq!(task["ctx"]["status"], "Killed", "aborted: apalis' Killed");
    assert_eq!(task["ctx"]["attempt"], 1);
    assert!(
        task["ctx"]["lock_by"]
            .as_str()
            .is_some_and(|w| w.ends_with("send_discord_dm")),
        "the worker that ran it: {task}"
    );
    assert_eq!(task["args"]["discord_user_id"], 9, "args decoded: {task}");

    let across = board_json(
        &app,
        "/api/v1/tasks?&page=1&page_size=15&queue=&status=Pending",
    )
    .await;
    let pending = &across.as_array().expect("tasks")[0];
    assert_eq!(pending["ctx"]["task_id"], scheduled.id().as_str());
    assert_eq!(pending["ctx"]["queue"], "verify_member");
    assert_eq!(pending["args"]["discord_user_id"], 42);
    assert_eq!(pending["args"]["proof"]["sealed_token"], "[redacted]");
    assert_eq!(pending["args"]["proof"]["email"], "[redacted]");

    let one = board_json(
        &app,
        &format!("/api/v1/queues/verify_member/tasks/{}", scheduled.id()),
    )
    .await;
    assert_eq!(one["ctx"]["task_id"], scheduled.id().as_str());
    assert_eq!(one["args"]["proof"]["sealed_token"], "[redacted]");
    let text = one.to_string();
    assert!(!text.contains("zoe@example.test") && !text.contains("c2VhbGVk"));

    let workers = board_json(&app, "/api/v1/workers").await;
    let workers = workers.as_array().expect("workers");
    assert!(workers.iter().any(|w| w["queue"] == "send_discord_dm"));
    let now = jobs::now_ms() / 1000;
    for w in workers {
        assert_eq!(w["backend"], "concierge-redis-streams");
        let beat = w["last_heartbeat"].as_u64().expect("seconds");
        assert!(now.abs_diff(beat) < 30, "{w}");
    }
    let queue_workers =
        board_json(&app, "/api/v1/queues/send_discord_dm/workers?sort=name:asc").await;
    assert!(
        queue_workers
            .as_array()
            .expect("workers")
            .iter()
            .all(|w| w["queue"] == "send_discord_dm")
    );

    // Unknown queues, tasks and statuses are client mistakes.
    for path in [
        "/api/v1/queues/nope/tasks?status=Done",
        "/api/v1/queues/send_email/tasks/not-an-id",
        &format!("/api/v1/queues/send_email/tasks/{}", uuid::Uuid::now_v7()),
        "/api/v1/queues/nope/stats",
    ] {
        let resp = board(&app, path).answer("request").await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["type"], "BackendError", "{body}");
    }
    let resp = board(&app, "/api/v1/tasks?status=Sleeping")
        .answer("request")
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_board_event_stream_announces_finished_jobs() {
    let app = crate::support::app_with_workers().await;
    let resp = board(&app, "/api/v1/events").answer("events").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let kind = header(&resp, "content-type");
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    // The stream opens with `retry:` once it is subscribed: push only then.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("retry:") {
            let chunk = body.next().await.expect("open stream").expect("chunk");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("subscribed within 10 s");
    let pushed = push_failing_dm(&app, 77).await;
    let entry = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            for line in seen.lines() {
                if let Some(data) = line.strip_prefix("data: ")
                    && let Ok(entry) = serde_json::from_str::<Value>(data)
                    && entry["span"]["name"] == "send_discord_dm"
                {
                    return entry;
                }
            }
            match body.next().await {
                Some(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk"))),
                None => panic!("the stream ended: {seen}"),
            }
        }
    })
    .await
    .expect("an entry within 20 s");
    assert_eq!(entry["span"]["task_id"], pushed.as_str());
    assert_eq!(entry["span"]["attempt"], 1);
    assert_eq!(entry["level"], "ERROR");
    assert_eq!(entry["fields"]["message"], "task.failed");
    assert!(entry["fields"]["done_in"].is_string());
    assert!(entry["timestamp"].is_string() && entry["target"].is_string());
}

/// The board in a real browser: headless Chromium loads apalis-board's wasm UI from our port
/// and renders our queues and one dead job from our `/api/v1`. Browsers send Basic
/// credentials they were given at the prompt with every request of the page; headless
/// Chromium cannot be given them (credentials in the URL break the page's `fetch`), so a
/// proxy in front of the board adds them, as the browser would (see [`testkit::AuthProxy`]
/// for why it ends the page's event stream early).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_renders_our_queues_and_jobs_in_headless_chromium() {
    let app = crate::support::app_with_workers().await;
    let dead = failed_dm(&app, 5).await;
    let proxy = testkit::AuthProxy::start(&app.board_address, "admin", &app.api_key).await;

    let render = |path: String| crate::support::rendered_dom(format!("{}{path}", proxy.url));
    // The overview: counters and a card per queue.
    let home = render("/".into()).await;
    assert!(home.contains("Failed Jobs"), "overview rendered: {home}");
    for queue in ["send_email", "send_discord_dm", "verify_member"] {
        assert!(home.contains(queue), "{queue} on the overview: {home}");
    }
    // A queue's aborted jobs (apalis' "Killed") list the job.
    let failed = render("/queues/send_discord_dm/Killed".into()).await;
    let short = &dead.as_str()[..8];
    assert!(failed.contains(short), "the dead job is listed: {failed}");
    // One job: its arguments and state.
    let one = render(format!("/queues/send_discord_dm/tasks/{dead}")).await;
    assert!(one.contains("discord_user_id"), "arguments shown: {one}");
    assert!(one.contains(dead.as_str()), "{one}");
    assert!(!one.contains(&app.api_key), "the key is not in the page");
}
