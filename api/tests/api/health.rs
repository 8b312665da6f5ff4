//! Liveness, readiness and the detailed health check (who may read it, and how it names a
//! dependency that stops), `/metrics`, and the trace context a request hands to its jobs.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use testkit::{AppOptions, TcpProxy, spawn_app, spawn_app_with};

use crate::support::{Answer, app_with_workers, header};

async fn detailed(app: &testkit::TestApp) -> (StatusCode, Value) {
    let resp = app
        .get_admin("/api/health/detailed")
        .answer("request")
        .await;
    let status = resp.status();
    (status, resp.json().await.expect("JSON body"))
}

#[tokio::test]
async fn liveness_needs_nothing() {
    let app = spawn_app_with(AppOptions {
        // Nothing listens on port 1: the database is unreachable, liveness does not care.
        database_url: Some("postgres://postgres@127.0.0.1:1/none".into()),
        ..AppOptions::default()
    })
    .await;
    let resp = app.get("/api/health").answer("request").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.expect("JSON"),
        serde_json::json!({"status": "ok"})
    );
}

#[tokio::test]
async fn detailed_health_reports_every_dependency_up() {
    let app = app_with_workers().await;
    // The workers register with their first heartbeat.
    let body = testkit::eventually(
        Duration::from_secs(10),
        "the in-process workers never showed as live",
        async || {
            let (status, body) = detailed(&app).await;
            (status == StatusCode::OK).then_some(body)
        },
    )
    .await;
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["failing"], serde_json::json!([]));
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(body["checks"]["redis"]["status"], "up");
    assert_eq!(body["checks"]["migrations"]["status"], "up");
    let expected = store::migrate::latest_version();
    assert_eq!(body["checks"]["migrations"]["applied_version"], expected);
    assert_eq!(body["checks"]["migrations"]["expected_version"], expected);
    assert_eq!(body["build"]["version"], "test");
    assert!(body["timestamp"].is_string());

    let queues = &body["checks"]["queues"];
    assert_eq!(queues["status"], "up", "{body}");
    assert_eq!(queues["paused"], serde_json::json!([]));
    let listed: Vec<&str> = queues["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| q["queue"].as_str().expect("name"))
        .collect();
    assert_eq!(listed, jobs::QUEUES, "every queue, in order");
    let send_email = &queues["queues"][listed
        .iter()
        .position(|q| *q == "send_email")
        .expect("send_email")];
    for field in [
        "waiting",
        "running",
        "scheduled",
        "retrying",
        "dead",
        "oldest_age_seconds",
    ] {
        assert!(send_email[field].is_u64(), "{field}: {send_email}");
    }
    let workers = &body["checks"]["workers"];
    assert_eq!(workers["status"], "up", "{body}");
    assert_eq!(workers["live"], 1, "one process: {workers}");
    let beat = workers["last_heartbeat_ms"].as_u64().expect("a heartbeat");
    let now = chrono::Utc::now().timestamp_millis() as u64;
    assert!(now.abs_diff(beat) < 10_000, "recent: {beat} vs {now}");
}

#[tokio::test]
async fn detailed_health_says_when_no_worker_runs_and_which_queue_waits() {
    // The API alone: nothing takes the jobs it pushes.
    let app = spawn_app().await;
    let (status, body) = detailed(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failing"], serde_json::json!(["workers"]));
    let workers = &body["checks"]["workers"];
    assert_eq!(workers["live"], 0);
    assert!(workers["last_heartbeat_ms"].is_null());
    let error = workers["error"].as_str().expect("why");
    assert!(
        error.contains("no live worker") && error.contains("concierge worker"),
        "{error}"
    );
    assert_eq!(
        workers["queues_without_workers"]
            .as_array()
            .expect("list")
            .len(),
        jobs::QUEUES.len()
    );
    // A job waits: its queue is counted.
    let resp = app
        .post("/api/user/onboarding")
        .json(&serde_json::json!({ "name": "Waiting", "email": "waiting@example.test", "communicationChannel": "email" }))
        .answer("onboarding")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, body) = detailed(&app).await;
    let queues = body["checks"]["queues"]["queues"]
        .as_array()
        .expect("queues");
    let send_email = queues
        .iter()
        .find(|q| q["queue"] == "send_email")
        .expect("send_email");
    assert_eq!(send_email["waiting"], 1, "{send_email}");
}

#[tokio::test]
async fn a_paused_sign_in_queue_is_named_by_health_and_by_the_sign_in() {
    // Paused before any worker runs: a fetcher already blocked in a read would take one more
    // job before it notices a pause (within the idle wait), which is not what this tests.
    let app = spawn_app_with(AppOptions {
        oauth: true,
        job_wait: Duration::from_millis(300),
        ..AppOptions::default()
    })
    .await;
    let resp = app
        .post_admin("/api/admin/queues/exchange_oauth_code/pause")
        .answer("pause")
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let workers = crate::support::LateWorkers::start(&app, None);

    let account = testkit::oauth::Account::google("g-paused", "paused@example.test", true);
    let resp = crate::sessions::login(&app, &account).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let pending: Value = resp.json().await.expect("json");
    let message = pending["message"].as_str().expect("message");
    assert!(
        message.contains("paused by an administrator") && message.contains("exchange_oauth_code"),
        "says what is really wrong, not that Google is slow: {message}"
    );
    assert!(!message.contains("Google is slow"), "{message}");

    let body = testkit::eventually(
        Duration::from_secs(10),
        "health never named the paused queue alone",
        async || {
            let (status, body) = detailed(&app).await;
            (status == StatusCode::SERVICE_UNAVAILABLE
                && body["failing"] == serde_json::json!(["queues"]))
            .then_some(body)
        },
    )
    .await;
    let queues = &body["checks"]["queues"];
    assert_eq!(queues["status"], "down");
    assert_eq!(queues["paused"], serde_json::json!(["exchange_oauth_code"]));
    let error = queues["error"].as_str().expect("why");
    assert!(
        error.contains("exchange_oauth_code") && error.contains("sign-ins"),
        "{error}"
    );

    let resp = app
        .post_admin("/api/admin/queues/exchange_oauth_code/resume")
        .answer("resume")
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // Resumed: the workers notice at their next wake-up, and sign-ins go through.
    testkit::eventually(
        Duration::from_secs(10),
        "sign-ins never went through after the resume",
        async || {
            let resp = crate::sessions::login(&app, &account).await;
            (resp.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
    workers.stop().await;
}

#[tokio::test]
async fn detailed_health_requires_an_admin() {
    let app = spawn_app().await;
    let detailed = || app.get("/api/health/detailed");
    let resp = detailed().answer("request").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["code"], "unauthorized");

    let resp = detailed()
        .header("x-api-key", format!("{}x", app.api_key))
        .answer("request")
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "a wrong key is refused"
    );

    // Seed 004: a Bearer API token works too, while it is live and an admin's.
    let admin = store::api_tokens::create(&app.db.pool, "ci", "admin", None, None)
        .await
        .expect("token");
    let bearer = async |token: &str| {
        detailed()
            .bearer_auth(token)
            .answer("request")
            .await
            .status()
    };
    // Let in: 503, not 401 (no worker runs beside this app, so health is not all up).
    assert_eq!(bearer(&admin.token).await, StatusCode::SERVICE_UNAVAILABLE);
    let last_used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_tokens WHERE id = $1")
            .bind(admin.record.id)
            .fetch_one(&app.db.pool)
            .await
            .expect("row");
    assert!(last_used.is_some(), "use of a token is recorded");

    let user = store::api_tokens::create(&app.db.pool, "user", "personal_only", None, None)
        .await
        .expect("token");
    assert_eq!(bearer(&user.token).await, StatusCode::FORBIDDEN);

    let expired = store::api_tokens::create(
        &app.db.pool,
        "old",
        "admin",
        None,
        Some(chrono::Utc::now() - chrono::Duration::minutes(1)),
    )
    .await
    .expect("token");
    assert_eq!(bearer(&expired.token).await, StatusCode::UNAUTHORIZED);

    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1")
        .bind(admin.record.id)
        .execute(&app.db.pool)
        .await
        .expect("revoke");
    for token in [admin.token.as_str(), "cnc_not-a-token"] {
        assert_eq!(bearer(token).await, StatusCode::UNAUTHORIZED, "{token}");
    }
}

#[tokio::test]
async fn detailed_health_names_postgres_when_it_stops() {
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let db = testkit::TestDb::new().await;
    let app = spawn_app_with(AppOptions {
        database_url: Some(format!("postgres://postgres@{}/{}", proxy.addr, db.name)),
        ..AppOptions::default()
    })
    .await;
    let (_, body) = detailed(&app).await;
    // No worker runs here, so only the workers are down at first.
    assert_eq!(
        body["failing"],
        serde_json::json!(["workers"]),
        "through the proxy first: {body}"
    );

    proxy.stop();
    let started = std::time::Instant::now();
    let (status, body) = detailed(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert!(body["checks"]["database"]["error"].is_string());
    assert_eq!(body["checks"]["redis"]["status"], "up");
    let failing = body["failing"].as_array().expect("array");
    assert!(failing.contains(&"database".into()), "{body}");
    assert!(!failing.contains(&"redis".into()), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the check timeout"
    );
}

#[tokio::test]
async fn detailed_health_names_redis_when_it_stops() {
    let proxy = TcpProxy::start("127.0.0.1:6379").await;
    let app = spawn_app_with(AppOptions {
        redis_url: Some(format!("redis://{}", proxy.addr)),
        ..AppOptions::default()
    })
    .await;
    let (_, body) = detailed(&app).await;
    assert_eq!(body["failing"], serde_json::json!(["workers"]), "{body}");

    proxy.stop();
    let (status, body) = detailed(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body["failing"],
        serde_json::json!(["redis"]),
        "the queues and workers are not checked, not called down"
    );
    assert_eq!(body["checks"]["redis"]["status"], "down");
    assert_eq!(body["checks"]["database"]["status"], "up");
    for check in ["queues", "workers"] {
        assert_eq!(body["checks"][check]["status"], "unknown", "{body}");
    }
}

#[tokio::test]
async fn detailed_health_names_unreachable_hosts() {
    let app = spawn_app_with(AppOptions {
        database_url: Some("postgres://postgres@127.0.0.1:1/none".into()),
        redis_url: Some("redis://127.0.0.1:1".into()),
        ..AppOptions::default()
    })
    .await;
    let (status, body) = detailed(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body["failing"],
        serde_json::json!(["database", "redis", "migrations"])
    );
}

#[tokio::test]
async fn detailed_health_names_a_schema_behind_the_build() {
    let app = spawn_app_with(AppOptions {
        unmigrated: true,
        ..AppOptions::default()
    })
    .await;
    let (status, body) = detailed(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // No worker runs beside this app either.
    assert_eq!(
        body["failing"],
        serde_json::json!(["migrations", "workers"])
    );
    assert!(body["checks"]["migrations"]["applied_version"].is_null());
    assert!(
        body["checks"]["migrations"]["error"]
            .as_str()
            .expect("reason")
            .contains("concierge migrate"),
        "{body}"
    );
}

#[tokio::test]
async fn readiness_is_unauthenticated_and_names_what_is_down() {
    let app = spawn_app().await;
    let resp = app.get("/api/health/ready").answer("ready").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["status"], "ready");

    let down = spawn_app_with(AppOptions {
        redis_url: Some("redis://127.0.0.1:1".into()),
        ..AppOptions::default()
    })
    .await;
    let resp = down.get("/api/health/ready").answer("ready").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["failing"], serde_json::json!(["redis"]));
    // Liveness does not care.
    let resp = down.get("/api/health").answer("live").await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_show_the_queues() {
    let app = spawn_app().await;
    app.get("/api/health").answer("health").await;
    app.get("/api/nope/at/all").answer("404").await;
    let resp = app.get("/metrics").answer("metrics").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let kind = header(&resp, "content-type");
    assert!(kind.starts_with("text/plain"), "{kind}");
    let text = resp.text().await.expect("text");
    assert!(
        text.contains(
            r#"concierge_http_requests_total{method="GET",route="/api/health",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404""#),
        "unknown paths share a label"
    );
    assert!(!text.contains("/api/nope"), "no label per unknown path");
    assert!(text.contains("concierge_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"concierge_queue_jobs{queue="send_email",state="waiting"}"#));
    assert!(text.contains(r#"concierge_queue_oldest_age_seconds{queue="probe"}"#));
}

#[tokio::test]
async fn a_requests_trace_context_travels_into_its_jobs() {
    let app = spawn_app().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = app
        .post("/api/user/onboarding")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&serde_json::json!({ "name": "Traced", "email": "traced@example.test", "communicationChannel": "email" }))
        .answer("onboarding")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answered = header(&resp, "traceparent");
    assert!(
        answered.starts_with(&format!("00-{trace_id}-")),
        "{answered}"
    );
    // No workers here: the verification mail's job waits, stamped with the trace.
    let jobs = app
        .get_admin("/api/admin/queues/send_email/jobs")
        .answer_json("jobs")
        .await;
    let trace = jobs[0]["trace"].as_str().expect("a trace on the job");
    assert!(trace.starts_with(&format!("00-{trace_id}-")), "{trace}");
    // Without a header, a new trace starts.
    let resp = app.get("/api/health").answer("health").await;
    let fresh = header(&resp, "traceparent");
    assert!(!fresh.contains(trace_id));
}

/// Issue 15: Postgres away for 30 s. Every onboarding sent meanwhile is answered 503 with
/// `Retry-After` within the pool's acquire timeout (1 s here), never a 500 and never a hang. A
/// mail job pushed during the outage (Redis is up) fails on its database reads for the whole
/// outage, is postponed each time without spending its 8 attempts (which would last about
/// 2 minutes, but a job allowed 5 would die in 15 s), and is sent once Postgres is back, as are
/// the mails of the onboardings after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_second_postgres_outage_answers_503_and_loses_no_job() {
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let db = testkit::TestDb::new().await;
    let app = spawn_app_with(AppOptions {
        database_url: Some(format!("postgres://postgres@{}/{}", proxy.addr, db.name)),
        workers: true,
        // Room for the onboardings the test sends from one address.
        limits: api::Limits {
            onboardings_per_ip: 100,
            onboardings_per_email: 100,
            onboardings_per_email_total: 100,
            ..api::Limits::default()
        },
        ..AppOptions::default()
    })
    .await;
    let onboard = |email: &str| {
        app.post("/api/user/onboarding")
            .json(&serde_json::json!({
                "name": "Someone", "email": email, "communicationChannel": "email",
            }))
            .send()
    };
    let mails_to = |to: &str| {
        std::fs::read_dir(&app.mail_dir)
            .map(|dir| {
                dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .filter(|m| m.contains(&format!("To: {to}")))
                    .count()
            })
            .unwrap_or(0)
    };
    let resp = onboard("before@example.test").await.expect("onboarding");
    assert_eq!(resp.status(), StatusCode::OK);
    // A second mail for that member, recorded straight in the database (not through the
    // proxy), its job pushed once Postgres is away.
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind("before@example.test")
        .fetch_one(&db.pool)
        .await
        .expect("user");
    let delivery = store::email_deliveries::queue(
        &db.pool,
        Some(user),
        "verification",
        "before@example.test",
        None,
    )
    .await
    .expect("delivery");
    proxy.pause();
    app.producer
        .push(&jobs::SendEmail {
            delivery_id: delivery,
        })
        .await
        .expect("push while Postgres is away");
    let outage = std::time::Instant::now();
    let mut refused = 0;
    while outage.elapsed() < Duration::from_secs(30) {
        let asked = std::time::Instant::now();
        let resp = onboard("during@example.test").await.expect("an answer");
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["code"], "service_unavailable", "{body}");
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "answered in {:?}",
            asked.elapsed()
        );
        refused += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The mail job was postponed, not retried: the day's counters of its queue say so.
    let day = jobs::now_ms() / 86_400_000;
    let counters = format!("{}:{{send_email}}:daily:{day}", app.redis.prefix);
    let postponed: Option<u64> =
        redis::AsyncCommands::hget(&mut app.redis.connection().await, &counters, "postpone")
            .await
            .expect("counters");
    let all: std::collections::HashMap<String, String> =
        redis::AsyncCommands::hgetall(&mut app.redis.connection().await, &counters)
            .await
            .expect("counters");
    assert!(
        postponed.unwrap_or(0) >= 2,
        "postponed {postponed:?} times: {all:?} in {counters}"
    );
    proxy.resume().await;
    let resp = onboard("after@example.test").await.expect("onboarding");
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "served again once Postgres is back"
    );
    testkit::eventually(Duration::from_secs(30), "every mail sent", async || {
        (mails_to("before@example.test") == 2 && mails_to("after@example.test") == 1).then_some(())
    })
    .await;
    assert!(refused >= 8, "{refused} refusals over the outage");
    assert_eq!(
        mails_to("during@example.test"),
        0,
        "refused onboardings sent nothing"
    );
}
