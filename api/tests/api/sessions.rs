//! Seed 002: Google sign-in through the queue, our JWTs, refresh rotation with reuse
//! detection, logout, `me` and usernames.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::oauth::{Account, CLIENT_ID};
use testkit::{AppOptions, TestApp, spawn_app_with};

use crate::support::{Answer, LateWorkers, job_status, oauth_app, rows};

/// `POST /api/login` with `body`.
pub(crate) async fn post_login(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/api/login").json(&body).answer("login").await
}

pub(crate) async fn login(app: &TestApp, account: &Account) -> reqwest::Response {
    let token = app.fake_oauth().issue_access_token(account, CLIENT_ID);
    post_login(app, json!({ "access_token": token })).await
}

pub(crate) async fn signed_in(app: &TestApp, account: &Account) -> Value {
    let resp = login(app, account).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

/// `POST /api/login/google`: the answer and the binding cookie it set (`name=value`), as a
/// browser would keep it.
pub(crate) async fn google_start(app: &TestApp) -> (Value, String) {
    let resp = app.post("/api/login/google").answer("start").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    (resp.json().await.expect("json"), cookie)
}

/// The claims of one of our JWTs (no check: the test reads its own token).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("JSON")
}

pub(crate) async fn me(app: &TestApp, jwt: &str) -> reqwest::Response {
    app.get("/api/me").bearer_auth(jwt).answer("me").await
}

/// `POST /api/refresh` with `refresh_token`.
pub(crate) async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.post("/api/refresh")
        .json(&json!({ "refresh_token": refresh_token }))
        .answer("refresh")
        .await
}

/// What the browser brings back from Google for `authorization_url` (the fake signs in
/// whoever it was told to): the `code` and `state` to post to `/api/login`.
pub(crate) async fn authorized_code(app: &TestApp, authorization_url: &str) -> Value {
    let resp = app.client.get(authorization_url).answer("authorize").await;
    let landing =
        url::Url::parse(resp.headers()["location"].to_str().expect("ascii")).expect("url");
    let query: std::collections::HashMap<_, _> = landing.query_pairs().into_owned().collect();
    json!({ "code": query["code"], "state": query["state"] })
}

#[tokio::test]
async fn google_access_token_signs_in_and_me_answers() {
    let app = oauth_app().await;
    let account = Account::google("g-100", "ada@example.test", true);
    let body = signed_in(&app, &account).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["email"], "ada@example.test");
    let jwt = body["access_token"].as_str().expect("jwt");
    let resp = me(&app, jwt).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let profile: Value = resp.json().await.expect("json");
    assert_eq!(profile["email"], "ada@example.test");
    assert_eq!(profile["verified"], true);
    // Signing in again finds the same user (keyed on issuer + subject).
    let again = signed_in(&app, &account).await;
    assert_eq!(again["user"]["id"], body["user"]["id"]);
}

/// Seed 002's `.env` sets the Google client id and secret but no redirect URI: token sign-in
/// works, and the redirect flow says what it is missing.
#[tokio::test]
async fn google_without_a_redirect_uri_signs_in_with_tokens_only() {
    let app = spawn_app_with(AppOptions {
        workers: true,
        oauth: true,
        google_without_redirect: true,
        ..AppOptions::default()
    })
    .await;
    let account = Account::google("g-150", "seed2@example.test", true);
    let body = signed_in(&app, &account).await;
    assert_eq!(body["user"]["email"], "seed2@example.test");
    for (what, resp) in [
        ("start", app.post("/api/login/google").answer("start").await),
        (
            "code",
            post_login(&app, json!({ "code": "c", "state": "s" })).await,
        ),
    ] {
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        let error: Value = resp.json().await.expect("json");
        assert_eq!(error["code"], "oauth_not_configured", "{what}: {error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("GOOGLE_REDIRECT_URI")),
            "{what}: {error}"
        );
    }
}

#[tokio::test]
async fn tokens_of_other_clients_and_unverified_emails_are_refused() {
    let app = oauth_app().await;
    let account = Account::google("g-200", "eve@example.test", true);
    let foreign = app
        .fake_oauth()
        .issue_access_token(&account, "someone-elses-client");
    for token in [foreign.as_str(), "not-a-token"] {
        let resp = post_login(&app, json!({ "access_token": token })).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{token}");
    }
    let unverified = Account::google("g-201", "unverified@example.test", false);
    let resp = login(&app, &unverified).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "email_not_verified");
    let resp = post_login(&app, json!({})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(rows(&app, "users").await, 0);
}

#[tokio::test]
async fn authorization_code_with_pkce_signs_in_once() {
    let app = oauth_app().await;
    let (start, cookie) = google_start(&app).await;
    let url = start["authorization_url"].as_str().expect("url");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    app.fake_oauth()
        .login_as(&Account::google("g-300", "code@example.test", true));
    let body = authorized_code(&app, url).await;
    assert_eq!(body["state"], start["state"]);
    let login = |what| {
        app.post("/api/login")
            .header("cookie", &cookie)
            .json(&body)
            .answer(what)
    };
    assert_eq!(login("login").await.status(), StatusCode::OK);
    // A replay gets nothing.
    assert_eq!(login("replay").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.fake_oauth().token_requests(), 1);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = oauth_app().await;
    let body = signed_in(&app, &Account::google("g-400", "rot@example.test", true)).await;
    let first = body["refresh_token"].as_str().expect("refresh").to_owned();
    let resp = refresh(&app, &first).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let rotated: Value = resp.json().await.expect("json");
    let second = rotated["refresh_token"].as_str().expect("next").to_owned();
    assert_ne!(first, second);
    assert_eq!(
        me(&app, rotated["access_token"].as_str().expect("jwt"))
            .await
            .status(),
        StatusCode::OK
    );
    // Reuse of the first: refused, and the whole family dies (the second too).
    let resp = refresh(&app, &first).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let err: Value = resp.json().await.expect("json");
    assert_eq!(err["code"], "refresh_token_reused");
    let resp = refresh(&app, &second).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn concurrent_refreshes_let_exactly_one_win() {
    let app = oauth_app().await;
    let body = signed_in(&app, &Account::google("g-500", "race@example.test", true)).await;
    let token = body["refresh_token"].as_str().expect("refresh").to_owned();
    let requests = (0..8).map(|_| {
        app.post("/api/refresh")
            .json(&json!({ "refresh_token": token }))
            .send()
    });
    let results = futures::future::join_all(requests).await;
    let ok = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == StatusCode::OK))
        .count();
    assert_eq!(ok, 1);
}

/// `POST /api/logout` with `refresh_token`.
pub(crate) async fn logout(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.post("/api/logout")
        .json(&json!({ "refresh_token": refresh_token }))
        .answer("logout")
        .await
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = oauth_app().await;
    let body = signed_in(&app, &Account::google("g-600", "bye@example.test", true)).await;
    let token = body["refresh_token"].as_str().expect("refresh");
    let resp = logout(&app, token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        refresh(&app, token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

fn forge(header: Value, claims: Value, key: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    if key.is_empty() {
        return format!("{h}.{c}.");
    }
    let k = jsonwebtoken::EncodingKey::from_secret(key);
    let claims: serde_json::Map<String, Value> = serde_json::from_value(claims).expect("map");
    jsonwebtoken::encode(
        &serde_json::from_value(header).expect("header"),
        &claims,
        &k,
    )
    .expect("encode")
}

#[tokio::test]
async fn forged_and_stale_jwts_are_refused() {
    let app = oauth_app().await;
    let body = signed_in(&app, &Account::google("g-700", "jwt@example.test", true)).await;
    let id = body["user"]["id"].to_string();
    let sid = claims_of(body["access_token"].as_str().expect("jwt"))["sid"].clone();
    let now = jobs::now_ms() / 1000;
    let claims = |aud: &str, exp: u64| json!({ "sub": id, "iat": now, "exp": exp, "iss": "concierge", "aud": aud, "role": "admin", "sid": sid });
    let hs256 = json!({ "alg": "HS256", "typ": "JWT" });
    let key = app.jwt_secret.as_bytes();
    let good = forge(hs256.clone(), claims("concierge-api", now + 60), key);
    assert_eq!(
        me(&app, &good).await.status(),
        StatusCode::OK,
        "the forger knows the format"
    );
    let cases = [
        (
            "alg none",
            forge(
                json!({ "alg": "none", "typ": "JWT" }),
                claims("concierge-api", now + 60),
                b"",
            ),
        ),
        (
            "wrong key",
            forge(
                hs256.clone(),
                claims("concierge-api", now + 60),
                b"another key of 32 bytes........",
            ),
        ),
        (
            "wrong audience",
            forge(hs256.clone(), claims("elsewhere", now + 60), key),
        ),
        (
            "expired beyond leeway",
            forge(hs256.clone(), claims("concierge-api", now - 120), key),
        ),
        (
            "no sub",
            forge(
                hs256.clone(),
                json!({ "iat": now, "exp": now + 60, "iss": "concierge", "aud": "concierge-api" }),
                key,
            ),
        ),
        ("garbage", "a.b.c".to_owned()),
    ];
    for (name, token) in cases {
        assert_eq!(
            me(&app, &token).await.status(),
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
    // Within the leeway still passes.
    let skewed = forge(hs256, claims("concierge-api", now - 5), key);
    assert_eq!(me(&app, &skewed).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn usernames_are_unique_and_stored_verbatim() {
    let app = oauth_app().await;
    let a = signed_in(&app, &Account::google("g-800", "a@example.test", true)).await;
    let b = signed_in(&app, &Account::google("g-801", "b@example.test", true)).await;
    let update = |name: &str| {
        app.post("/api/update_username")
            .json(&json!({ "new_username": name }))
    };
    let set = |jwt: &Value, name: &str| {
        update(name)
            .bearer_auth(jwt["access_token"].as_str().expect("jwt"))
            .answer("set")
    };
    let name = "Zoë'); DROP TABLE users;--";
    let resp = set(&a, name).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["username"], name);
    let resp = set(&b, &name.to_uppercase()).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = set(&b, " padded").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = update("x").answer("anonymous").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_role_users_may_use_admin_endpoints_with_their_jwt() {
    let app = oauth_app().await;
    let body = signed_in(&app, &Account::google("g-900", "boss@example.test", true)).await;
    let jwt = body["access_token"].as_str().expect("jwt").to_owned();
    let id = body["user"]["id"].as_i64().expect("id");
    let users = async || {
        app.get("/api/users")
            .bearer_auth(&jwt)
            .answer("users")
            .await
            .status()
    };
    assert_eq!(users().await, StatusCode::FORBIDDEN, "personal_only");
    sqlx::query("UPDATE users SET role = 'admin' WHERE id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .expect("promote");
    assert_eq!(users().await, StatusCode::OK);
    sqlx::query("UPDATE users SET is_active = FALSE WHERE id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .expect("deactivate");
    assert_eq!(users().await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(&app, &jwt).await.status(),
        StatusCode::UNAUTHORIZED,
        "deactivation is immediate"
    );
}

#[tokio::test]
async fn a_slow_code_sign_in_answers_202_and_is_joined_by_repeating_it() {
    // No workers at first: the exchange waits in the queue.
    let app = spawn_app_with(AppOptions {
        oauth: true,
        job_wait: std::time::Duration::from_millis(300),
        ..AppOptions::default()
    })
    .await;
    let (start, cookie) = google_start(&app).await;
    app.fake_oauth()
        .login_as(&Account::google("g-950", "slow@example.test", true));
    let body = authorized_code(&app, start["authorization_url"].as_str().expect("url")).await;
    let login = || {
        app.post("/api/login")
            .header("cookie", &cookie)
            .json(&body)
            .answer("login")
    };
    let resp = login().await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let pending: Value = resp.json().await.expect("json");
    let job_id = pending["job_id"].as_str().expect("job id").to_owned();
    assert_eq!(job_status(&app, &job_id).await["progress"], "pending");
    let message = pending["message"].as_str().expect("message");
    assert!(
        message.contains("no worker is running"),
        "no worker takes it, and the answer says so: {message}"
    );

    let workers = LateWorkers::start(&app, None);
    // Repeating the request joins the same job (no second exchange) and gets the tokens…
    let mut resp = login().await;
    for _ in 0..60 {
        if resp.status() != StatusCode::ACCEPTED {
            break;
        }
        // Each repeat waits up to job_wait for the job: no busy loop.
        resp = login().await;
    }
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    assert_eq!(tokens["user"]["email"], "slow@example.test");
    // …once.
    assert_eq!(login().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.fake_oauth().token_requests(), 1);
    let status = job_status(&app, &job_id).await;
    assert_eq!(status["progress"], "success");
    assert!(
        status["redirect_url"].is_null(),
        "no pages for a Google sign-in"
    );
    workers.stop().await;
}

/// Seed 002's `logs/login.log`: each sign-in, refresh, sign-out and username change is an audit
/// row and a line in the seed's format, in order; a second logout of the same session is not a
/// second sign-out.
#[tokio::test]
async fn sessions_are_audited_and_written_to_the_login_log() {
    let dir = std::env::temp_dir().join(format!("login-log-{}", uuid::Uuid::new_v4()));
    let file = dir.join("logs/login.log");
    let app = spawn_app_with(AppOptions {
        workers: true,
        oauth: true,
        login_log_file: Some(file.clone()),
        ..AppOptions::default()
    })
    .await;
    let account = Account::google("g-log", "logged@example.test", true);
    let first = signed_in(&app, &account).await;
    let user_id = first["user"]["id"].as_i64().expect("id");
    let refresh_token = first["refresh_token"].as_str().expect("refresh token");
    let resp = refresh(&app, refresh_token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let rotated: Value = resp.json().await.expect("json");
    let resp = app
        .post("/api/update_username")
        .bearer_auth(first["access_token"].as_str().expect("jwt"))
        .json(&json!({ "new_username": "logger" }))
        .answer("rename")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let again = signed_in(&app, &account).await;
    assert_eq!(again["user"]["id"], user_id);
    let logout = |token: String| {
        app.post("/api/logout")
            .json(&json!({ "refresh_token": token }))
            .answer("logout")
    };
    let token = rotated["refresh_token"].as_str().expect("token").to_owned();
    assert_eq!(logout(token.clone()).await.status(), StatusCode::OK);
    assert_eq!(logout(token).await.status(), StatusCode::OK);

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target = $1 ORDER BY id")
            .bind(format!("user:{user_id}"))
            .fetch_all(&app.db.pool)
            .await
            .expect("rows");
    assert_eq!(
        actions,
        [
            "login.signed_in",
            "login.refreshed",
            "login.username_changed",
            "login.signed_in",
            "login.signed_out"
        ]
    );
    let detail: Value = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'login.signed_in' ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("row");
    assert_eq!(
        detail,
        json!({ "ip": "127.0.0.1", "provider": "google", "new_user": true })
    );

    let log = std::fs::read_to_string(&file).expect("the log file and its directory are made");
    let messages: Vec<&str> = log
        .lines()
        .map(|line| {
            let (at, message) = line.split_once(" - ").expect("`<time> - <message>`");
            assert!(
                chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S,%3f").is_ok(),
                "seed 002's asctime: {at}"
            );
            message
        })
        .collect();
    assert_eq!(
        messages,
        [
            "New user registered and logged in: logged@example.test from 127.0.0.1",
            "Tokens refreshed for user: logged@example.test from 127.0.0.1",
            "Username updated for user logged@example.test to logger from 127.0.0.1",
            "Successful login for existing user: logged@example.test from 127.0.0.1",
            "Logout for user: logged@example.test from 127.0.0.1",
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
