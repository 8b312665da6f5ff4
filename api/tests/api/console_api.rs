//! What the admin console reads and changes through the API (issue 16): one user's page and
//! its changes, the audit log with filters, a batch's mails with the reason of each failure,
//! jobs per minute, the oldest *waiting* job, and the console's pages and their headers.
//! Every admin operation of the spec refuses a stranger and a `personal_only` token.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{AppOptions, SmtpSink, TestApp, eventually, spawn_app, spawn_app_with};

use crate::invitations::{upload, users};
use crate::support::{Answer, app_with_workers, mailing_app};

fn patch(app: &TestApp, id: i64, body: Value) -> reqwest::RequestBuilder {
    app.client
        .patch(format!("{}/api/users/{id}", app.address))
        .header("x-api-key", &app.api_key)
        .json(&body)
}

#[tokio::test]
async fn a_users_page_shows_everything_and_an_admin_changes_role_active_and_username() {
    let app = spawn_app().await;
    let report: Value = upload(
        &app,
        b"email,name\nada@example.com,Ada\nbob@example.com,Bob\n".to_vec(),
    )
    .await
    .json()
    .await
    .expect("report");
    let ada = report["results"][0]["user_id"].as_i64().expect("ada");
    let bob = report["results"][1]["user_id"].as_i64().expect("bob");
    app.db
        .link_discord(
            ada,
            "80351110224678912",
            store::identities::LinkProof::AccountOnly,
        )
        .await;

    let page = app
        .get_admin(&format!("/api/users/{ada}"))
        .answer_json("ada's page")
        .await;
    assert_eq!(page["email"], "ada@example.com");
    assert_eq!(page["full_name"], "Ada");
    assert_eq!(page["accounts"][0]["provider"], "discord");
    assert_eq!(page["accounts"][0]["subject"], "80351110224678912");
    assert_eq!(page["invitation"]["status"], "pending");
    assert_eq!(page["invitation"]["upload_id"], report["upload_id"]);
    assert!(page["mails"].as_array().expect("mails").is_empty());

    let changed = patch(
        &app,
        ada,
        json!({ "role": "admin", "is_active": false, "username": "ada_l" }),
    )
    .answer_json("change ada")
    .await;
    assert_eq!(changed["role"], "admin");
    assert_eq!(changed["is_active"], false);
    assert_eq!(changed["username"], "ada_l");
    let trail = &changed["audit"][0];
    assert_eq!(trail["action"], "user_changed");
    assert_eq!(trail["actor"], "api_key");
    assert_eq!(trail["target"], format!("user:{ada}"));
    assert_eq!(trail["detail"]["after"]["username"], "ada_l");
    assert_eq!(trail["detail"]["before"]["role"], "personal_only");
    assert!(trail["detail"]["before"]["username"].is_null());

    // Search reaches the username and the Discord id (exactly), not only email and name.
    for q in ["ADA_L", "80351110224678912"] {
        let found = users(&app, &format!("?q={q}")).await;
        assert_eq!(found["total"], 1, "q={q}: {found}");
        assert_eq!(found["users"][0]["id"], ada);
    }
    assert_eq!(users(&app, "?q=8035111022467891").await["total"], 0);

    let taken = patch(&app, bob, json!({ "username": "Ada_L" }))
        .answer("taken")
        .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert_eq!(
        taken.json::<Value>().await.expect("body")["code"],
        "username_taken"
    );
    for (body, what) in [
        (json!({}), "nothing to change"),
        (json!({ "username": "" }), "an empty username"),
        (json!({ "username": "a\u{0}b" }), "a control character"),
        (json!({ "role": "owner" }), "an unknown role"),
        (json!({ "is_active": "no" }), "a string for a flag"),
    ] {
        let resp = patch(&app, bob, body).answer(what).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{what}");
    }
    let missing = patch(&app, 999_999, json!({ "is_active": true }))
        .answer("missing")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing = app.get_admin("/api/users/999999").answer("missing").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // The audit log, newest first, filtered exactly, paged by `before`.
    let all = app
        .get_admin("/api/audit?limit=1")
        .answer_json("audit")
        .await;
    assert_eq!(all["entries"][0]["action"], "user_changed");
    let older = all["next_before"].as_i64().expect("a next page");
    let next = app
        .get_admin(&format!("/api/audit?limit=1&before={older}"))
        .answer_json("older")
        .await;
    assert_eq!(next["entries"][0]["action"], "csv_uploaded");
    let filtered = app
        .get_admin("/api/audit?action=csv_uploaded")
        .answer_json("filtered")
        .await;
    assert_eq!(filtered["entries"].as_array().expect("entries").len(), 1);
    assert!(filtered["next_before"].is_null());
    let none = app
        .get_admin("/api/audit?actor=api_key%00")
        .answer_json("a NUL")
        .await;
    assert!(none["entries"].as_array().expect("entries").is_empty());

    // Deactivated, Ada's role change kept: she is listed as such.
    let listed = users(&app, "?role=admin").await;
    assert_eq!(listed["users"][0]["is_active"], false);

    // The last active admin cannot be demoted or deactivated, nor two at once.
    patch(&app, bob, json!({ "role": "admin" }))
        .answer_json("bob admin")
        .await;
    for body in [
        json!({ "is_active": false }),
        json!({ "role": "personal_only" }),
    ] {
        let resp = patch(&app, bob, body.clone()).answer("last admin").await;
        assert_eq!(resp.status(), StatusCode::CONFLICT, "{body}");
        assert_eq!(
            resp.json::<Value>().await.expect("body")["code"],
            "last_admin"
        );
    }
    patch(&app, ada, json!({ "is_active": true }))
        .answer_json("ada back")
        .await;
    let demoted = patch(&app, bob, json!({ "role": "personal_only" }))
        .answer_json("bob demoted")
        .await;
    assert_eq!(demoted["role"], "personal_only");
}

#[tokio::test]
async fn a_batch_lists_its_mails_with_the_reason_of_each_failure() {
    let sink = SmtpSink::start().await;
    let app = mailing_app(&sink).await;
    upload(
        &app,
        b"email\nok@example.com\nbounce@example.com\n".to_vec(),
    )
    .await;
    let queued = app.post_admin("/api/send-emails").answer_json("send").await;
    let batch = queued["batch_id"].as_str().expect("batch id").to_owned();
    let finished = eventually(
        Duration::from_secs(30),
        "the batch never finished",
        async || {
            let b = app
                .get_admin(&format!("/api/batches/{batch}"))
                .answer_json("batch")
                .await;
            (b["finished"] == true).then_some(b)
        },
    )
    .await;
    assert_eq!(
        (finished["sent"].as_i64(), finished["failed"].as_i64()),
        (Some(1), Some(1))
    );

    let failed = app
        .get_admin(&format!("/api/batches/{batch}/mails?status=failed"))
        .answer_json("failed mails")
        .await;
    let mails = failed["mails"].as_array().expect("mails");
    assert_eq!(mails.len(), 1, "{failed}");
    assert_eq!(mails[0]["email"], "bounce@example.com");
    let reason = mails[0]["last_error"].as_str().expect("a reason");
    assert!(
        reason.contains("550"),
        "the server's refusal is the reason: {reason}"
    );
    let all = app
        .get_admin(&format!("/api/batches/{batch}/mails?limit=1"))
        .answer_json("first page")
        .await;
    assert_eq!(all["mails"].as_array().map(Vec::len), Some(1));
    let after = all["next_after"].as_i64().expect("a next page");
    let rest = app
        .get_admin(&format!("/api/batches/{batch}/mails?limit=1&after={after}"))
        .answer_json("second page")
        .await;
    assert_eq!(rest["mails"][0]["email"], "bounce@example.com");

    let recent = app.get_admin("/api/batches").answer_json("batches").await;
    assert_eq!(recent[0]["batch_id"], batch.as_str());
    let missing = app
        .get_admin(&format!("/api/batches/{}/mails", uuid::Uuid::new_v4()))
        .answer("missing")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for bad in ["limit=0", "limit=1001"] {
        let resp = app
            .get_admin(&format!("/api/batches/{batch}/mails?{bad}"))
            .answer(bad)
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

fn queue_row(queues: &Value, name: &str) -> Value {
    queues
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["queue"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {queues}"))
}

/// The dashboard's "oldest waiting" is the age of a job no worker has claimed: none in an
/// empty queue, an age once one waits (no worker runs here).
#[tokio::test]
async fn oldest_waiting_is_shown_only_when_a_job_waits() {
    let app = spawn_app().await;
    let queues = app
        .get_admin("/api/admin/queues")
        .answer_json("queues")
        .await;
    assert!(
        queue_row(&queues, "send_email")["oldest_waiting_seconds"].is_null(),
        "{queues}"
    );
    app.producer
        .push(&jobs::SendEmail { delivery_id: 1 })
        .await
        .expect("push");
    let queues = app
        .get_admin("/api/admin/queues")
        .answer_json("queues")
        .await;
    let row = queue_row(&queues, "send_email");
    assert_eq!(row["waiting"], 1, "{row}");
    assert!(row["oldest_waiting_seconds"].is_u64(), "{row}");
    assert!(queue_row(&queues, "chat_reply")["oldest_waiting_seconds"].is_null());
}

/// Jobs done are counted in their minute, for the last hour's chart; once done, nothing waits.
#[tokio::test]
async fn jobs_per_minute_count_the_jobs_done() {
    let app = app_with_workers().await;
    // The missing delivery is nothing to do: the job is done.
    app.producer
        .push(&jobs::SendEmail { delivery_id: 1 })
        .await
        .expect("push");
    let minutes = eventually(Duration::from_secs(30), "no job counted", async || {
        let t = app
            .get_admin("/api/admin/throughput?queue=send_email&minutes=2")
            .answer_json("throughput")
            .await;
        let done: u64 = t["minutes"]
            .as_array()
            .expect("minutes")
            .iter()
            .map(|m| m["done"].as_u64().unwrap_or(0))
            .sum();
        (done == 1).then_some(t)
    })
    .await;
    assert_eq!(minutes["minutes"].as_array().map(Vec::len), Some(2));
    let queues = app
        .get_admin("/api/admin/queues")
        .answer_json("queues")
        .await;
    assert!(
        queue_row(&queues, "send_email")["oldest_waiting_seconds"].is_null(),
        "{queues}"
    );
    let all = app
        .get_admin("/api/admin/throughput")
        .answer_json("all")
        .await;
    assert_eq!(all["minutes"].as_array().map(Vec::len), Some(60));
    assert!(all["queue"].is_null());
    let total: u64 = all["minutes"]
        .as_array()
        .expect("minutes")
        .iter()
        .map(|m| m["done"].as_u64().unwrap_or(0))
        .sum();
    assert!(total >= 1, "{all}");
    for bad in ["minutes=0", "minutes=121", "queue=nope"] {
        let resp = app
            .get_admin(&format!("/api/admin/throughput?{bad}"))
            .answer(bad)
            .await;
        assert!(resp.status().is_client_error(), "{bad}: {}", resp.status());
    }
}

/// Every operation behind the admin schemes, taken from the spec so that a new one cannot
/// forget them: a stranger hears 401, a `personal_only` token and a member's JWT 403, and
/// none of them changes anything.
#[tokio::test]
async fn every_admin_operation_refuses_strangers_and_personal_tokens() {
    // Every refusal here is a failed authentication from one address: past the default
    // limit, the throttle would answer 429 instead.
    let app = spawn_app_with(AppOptions {
        workers: true,
        oauth: true,
        limits: api::Limits {
            admin_failures_per_ip: 10_000,
            ..api::Limits::default()
        },
        ..AppOptions::default()
    })
    .await;
    let personal = store::api_tokens::create(&app.db.pool, "mine", "personal_only", None, None)
        .await
        .expect("token")
        .token;
    // A signed-in user who is no admin: their access JWT.
    let member = crate::sessions::signed_in(
        &app,
        &testkit::oauth::Account::google("g-member", "member@example.com", true),
    )
    .await["access_token"]
        .as_str()
        .expect("jwt")
        .to_owned();
    let user = app.db.user("kept@example.com").await;
    let spec: Value = serde_json::from_str(&api::spec_json()).expect("spec");
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let admin = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s.get("ApiKey").is_some()));
            if !admin {
                continue;
            }
            let id = if path.starts_with("/api/batches/") {
                uuid::Uuid::new_v4().to_string()
            } else {
                user.to_string()
            };
            let concrete = path.replace("{queue}", "send_email").replace("{id}", &id);
            let url = format!("{}{concrete}", app.address);
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            for (credential, want) in [
                (None, StatusCode::UNAUTHORIZED),
                (Some(&personal), StatusCode::FORBIDDEN),
                (Some(&member), StatusCode::FORBIDDEN),
            ] {
                let mut request = app.client.request(method.clone(), &url).json(&json!({}));
                if let Some(token) = credential {
                    request = request.bearer_auth(token);
                }
                let resp = request.answer(&concrete).await;
                assert_eq!(resp.status(), want, "{method} {path} with {credential:?}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} admin operations");
    let still = app
        .get_admin(&format!("/api/users/{user}"))
        .answer_json("kept")
        .await;
    assert_eq!(still["email"], "kept@example.com");
}

/// The pages and their modules are served by the binary with a policy that lets only this
/// origin's scripts run.
#[tokio::test]
async fn the_console_is_served_with_a_strict_content_security_policy() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/admin", "text/html"),
        ("/admin/", "text/html"),
        ("/dashboard", "text/html"),
        ("/admin/console.js", "text/javascript"),
        ("/admin/common.js", "text/javascript"),
        ("/admin/dashboard.js", "text/javascript"),
        ("/admin/console.css", "text/css"),
    ] {
        let resp = app.get(path).answer(path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        let csp = header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        // SVG's namespace is a name, not an address anything is loaded from.
        let body = resp
            .text()
            .await
            .expect("body")
            .replace("http://www.w3.org/2000/svg", "");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
    }
    let missing = app.get("/admin/nope.js").answer("missing").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
