//! Seed 001: onboarding, Discord OAuth linking through the queue, the nine error codes, the
//! pending path, and the bot's `/login` fallback, against the fake provider.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::oauth::Account;
use testkit::{AppOptions, TestApp, spawn_app_with};

use crate::support::{Answer, LateWorkers, finished, job_status, oauth_app};

pub(crate) async fn onboard(app: &TestApp, email: &str) -> Value {
    let resp = app
        .post("/api/user/onboarding")
        .json(&json!({
            "name": "Zoë O'Brien",
            "email": email,
            "selectedPersonality": "loving",
            "communicationChannel": "discord",
        }))
        .answer("onboarding")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

pub(crate) fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// What the browser does with an onboarding answer: open its `verification_url` (the fake
/// logs in and redirects back), then follow to our callback; returns the callback URL and
/// where the callback sends it.
pub(crate) async fn browse(app: &TestApp, onboarded: &Value) -> (String, String) {
    let verification_url = onboarded["verification_url"].as_str().expect("url");
    let resp = app.client.get(verification_url).answer("authorize").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let callback = location(&resp);
    let resp = app.client.get(&callback).answer("callback").await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    (callback.clone(), location(&resp))
}

pub(crate) fn error_code(location: &str) -> String {
    location
        .strip_prefix("/discord/error?error=")
        .unwrap_or_else(|| panic!("not an error redirect: {location}"))
        .to_owned()
}

#[tokio::test]
async fn onboarding_then_oauth_links_the_account() {
    let app = oauth_app().await;
    let body = onboard(&app, "zoe@example.test").await;
    assert_eq!(body["success"], true);
    let token = body["verification_token"].as_str().expect("token");
    assert!(token.len() >= 22, "≥ 128 bits of state");
    assert!(body["auth_code"].as_str().is_some_and(|c| c.len() >= 8));
    // Discord vouches for the same address (any case): seed 001's flow verifies in one step.
    app.fake_oauth().login_as(&Account::discord_with_email(
        "80351110224678912",
        "zoe_rs",
        "Zoe@Example.test",
    ));
    let (_, destination) = browse(&app, &body).await;
    assert_eq!(destination, "/discord/success?username=zoe_rs");

    let query = &app.fake_oauth().authorize_queries()[0];
    assert_eq!(query["state"], token);
    assert_eq!(
        query["scope"], "identify email",
        "the email scope is asked for"
    );
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        query["redirect_uri"],
        format!("{}/api/discord/callback", app.address)
    );
    let user_id = body["user_id"].as_i64().expect("user id");
    let row = sqlx::query_as::<_, (bool, String, Option<Vec<u8>>, bool)>(
        "SELECT u.verified, i.subject, i.access_token_enc, i.confirmed_at IS NOT NULL FROM users u
         JOIN identities i ON i.user_id = u.id AND i.provider = 'discord' WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_one(&app.db.pool)
    .await
    .expect("linked");
    assert!(row.0, "verified");
    assert!(row.3, "the link is confirmed");
    assert_eq!(row.1, "80351110224678912");
    let sealed = row.2.expect("provider token stored");
    assert!(
        !String::from_utf8_lossy(&sealed).contains("at-"),
        "sealed, not clear"
    );

    // The built-in success page shows the name, escaped.
    let page = app.get(&destination).answer("page").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("html").contains("zoe_rs"));
}

#[tokio::test]
async fn bad_states_never_reach_the_provider() {
    let app = oauth_app().await;
    let fake = app.fake_oauth().clone();
    let callback = |query: &str| format!("/api/discord/callback{query}");
    for (query, code) in [
        ("", "missing_params"),
        ("?code=abc", "missing_params"),
        ("?state=abc", "missing_params"),
        ("?code=abc&state=forged-state-value", "invalid_token"),
    ] {
        let resp = app.get(&callback(query)).answer("callback").await;
        assert_eq!(error_code(&location(&resp)), code, "{query}");
    }
    // Expired: a state whose time passed.
    let body = onboard(&app, "late@example.test").await;
    let token = body["verification_token"]
        .as_str()
        .expect("token")
        .to_owned();
    sqlx::query("UPDATE one_time_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'oauth_state'")
        .execute(&app.db.pool)
        .await
        .expect("expire");
    let resp = app
        .get(&callback(&format!("?code=abc&state={token}")))
        .answer("callback")
        .await;
    assert_eq!(error_code(&location(&resp)), "invalid_token");
    // Another provider's state: a Google sign-in state at Discord's callback.
    let google = app.post("/api/login/google").answer_json("start").await;
    let state = google["state"].as_str().expect("state");
    let resp = app
        .get(&callback(&format!("?code=abc&state={state}")))
        .answer("callback")
        .await;
    assert_eq!(error_code(&location(&resp)), "invalid_token");
    assert_eq!(fake.token_requests(), 0, "no token request for a bad state");

    // Replayed: the second use of a good state.
    let body = onboard(&app, "twice@example.test").await;
    fake.login_as(&Account::discord("1001", "twice"));
    let (callback_url, first) = browse(&app, &body).await;
    assert!(first.starts_with("/discord/success"), "{first}");
    let replay = app.client.get(&callback_url).answer("replay").await;
    assert_eq!(error_code(&location(&replay)), "invalid_token");
    assert_eq!(fake.token_requests(), 1);
}

/// Onboards `email`, changes the OAuth state it was given with `tamper` (an `UPDATE` of the
/// state's row), and lets `account` sign in at the provider: where the callback then sends
/// the browser.
async fn browse_tampered(
    app: &TestApp,
    email: &str,
    tamper: &'static str,
    account: &Account,
) -> String {
    let body = onboard(app, email).await;
    sqlx::query(tamper)
        .execute(&app.db.pool)
        .await
        .expect("tamper");
    app.fake_oauth().login_as(account);
    browse(app, &body).await.1
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused_by_the_provider() {
    let app = oauth_app().await;
    let destination = browse_tampered(
        &app,
        "pkce@example.test",
        "UPDATE one_time_tokens SET pkce_verifier = 'x' || pkce_verifier WHERE purpose = 'oauth_state'",
        &Account::discord("2002", "pkce"),
    )
    .await;
    assert_eq!(error_code(&destination), "token_exchange_failed");
}

#[tokio::test]
async fn provider_failures_map_to_seed_codes() {
    type Setup = fn(&testkit::FakeOAuth);
    let cases: [(Setup, &str); 4] = [
        (
            |f| f.fail_token(400, r#"{"error":"invalid_grant"}"#),
            "token_exchange_failed",
        ),
        (|f| f.omit_access_token(), "no_access_token"),
        (|f| f.fail_userinfo(401), "user_info_failed"),
        (|f| f.omit_id(), "no_discord_id"),
    ];
    for (setup, expected) in cases {
        let app = oauth_app().await;
        let body = onboard(&app, "fail@example.test").await;
        let fake = app.fake_oauth();
        fake.login_as(&Account::discord("3003", "fail"));
        setup(fake);
        let (_, destination) = browse(&app, &body).await;
        assert_eq!(error_code(&destination), expected);
        let verified: bool = sqlx::query_scalar("SELECT verified FROM users")
            .fetch_one(&app.db.pool)
            .await
            .expect("user");
        assert!(!verified, "{expected}: not verified");
    }
}

#[tokio::test]
async fn a_discord_account_is_never_moved_to_another_user() {
    let app = oauth_app().await;
    let fake = app.fake_oauth();
    // Discord vouches for the first user's address: a confirmed link.
    let account = Account::discord_with_email("4004", "owner", "first@example.test");
    fake.login_as(&account);
    let first = onboard(&app, "first@example.test").await;
    let (_, ok) = browse(&app, &first).await;
    assert!(ok.starts_with("/discord/success"));
    let second = onboard(&app, "second@example.test").await;
    let (_, refused) = browse(&app, &second).await;
    assert_eq!(error_code(&refused), "verification_failed");
    let owner: i64 = sqlx::query_scalar(
        "SELECT user_id FROM identities WHERE provider = 'discord' AND subject = '4004'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("identity");
    assert_eq!(owner, first["user_id"].as_i64().expect("id"));
    // The bot's fallback refuses too.
    let resp = app
        .post_admin("/api/discord/login")
        .json(&json!({ "discord_id": "4004", "code": second["auth_code"] }))
        .answer("login code")
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    // And onboarding does not hand out credentials for a verified account.
    let resp = app
        .post("/api/user/onboarding")
        .json(&json!({ "name": "Mallory", "email": "FIRST@example.test" }))
        .answer("onboarding")
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_slow_exchange_redirects_to_pending_then_finishes() {
    // No workers: the job waits in the queue.
    let app = spawn_app_with(AppOptions {
        oauth: true,
        job_wait: Duration::from_millis(300),
        web_app_base_url: Some("https://app.example.test/community/".into()),
        ..AppOptions::default()
    })
    .await;
    let body = onboard(&app, "slow@example.test").await;
    app.fake_oauth().login_as(&Account::discord_with_email(
        "5005",
        "slow",
        "slow@example.test",
    ));
    let (_, destination) = browse(&app, &body).await;
    let job_id = destination
        .strip_prefix("https://app.example.test/community/discord/pending?job_id=")
        .unwrap_or_else(|| panic!("pending redirect under the base URL: {destination}"))
        .to_owned();
    assert_eq!(job_status(&app, &job_id).await["progress"], "pending");
    let pending_page = format!("/discord/pending?job_id={job_id}");
    let page = app.get(&pending_page).answer("page").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("http-equiv=\"refresh\"")
    );

    // A worker comes up and finishes the job; the pending page now redirects.
    let callback = format!("{}/api/discord/callback", app.address);
    let workers = LateWorkers::start(&app, Some(url::Url::parse(&callback).expect("url")));
    let job = jobs::JobId::from(job_id.as_str());
    let done = finished(&app, "exchange_oauth_code", &job, "finished").await;
    assert_eq!(done.state, jobs::JobState::Done);
    let status = job_status(&app, &job_id).await;
    assert_eq!(status["progress"], "success");
    assert_eq!(status["username"], "slow");
    let page = app.get(&pending_page).answer("page").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/discord/success?username=slow");
    workers.stop().await;
}

#[tokio::test]
async fn without_oauth_configuration_the_callback_says_so() {
    let app = testkit::spawn_app().await;
    let resp = app
        .get("/api/discord/callback?code=a&state=b")
        .answer("callback")
        .await;
    assert_eq!(error_code(&location(&resp)), "oauth_not_configured");
    let resp = app.get("/api/discord/invite").answer("invite").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Onboarding still works, with the /login fallback.
    let body = onboard(&app, "noauth@example.test").await;
    assert!(body["verification_url"].is_null());
    assert!(
        body["instructions"]
            .as_str()
            .expect("text")
            .contains("/login")
    );
}

#[tokio::test]
async fn invite_url_has_the_bot_permissions() {
    let app = oauth_app().await;
    let body = app.get("/api/discord/invite").answer_json("invite").await;
    let url = body["invite_url"].as_str().expect("url");
    assert!(url.contains("client_id=fake-client-id"), "{url}");
    assert!(url.contains("permissions=268536834"), "{url}");
}

#[tokio::test]
async fn login_codes_link_once_and_are_rate_limited_per_discord_id() {
    let app = oauth_app().await;
    let body = onboard(&app, "code@example.test").await;
    let code = body["auth_code"].as_str().expect("code").to_lowercase();
    let login = async |discord_id: &str, code: &str| {
        app.post_admin("/api/discord/login")
            .json(&json!({ "discord_id": discord_id, "code": code }))
            .answer("login")
            .await
            .status()
    };
    for attempt in 0..10 {
        let wrong = format!("WRONG{attempt}");
        assert_eq!(login("6006", &wrong).await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        login("6006", &code).await,
        StatusCode::TOO_MANY_REQUESTS,
        "limited even with the right code"
    );
    // Another Discord account is not limited, and the code (case-insensitive) works once.
    assert_eq!(login("7007", &code).await, StatusCode::OK);
    assert_eq!(login("7008", &code).await, StatusCode::BAD_REQUEST);
    let resp = app
        .post("/api/discord/login")
        .json(&json!({ "discord_id": "7009", "code": code }))
        .answer("login")
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "admin only");
}

#[tokio::test]
async fn a_state_bound_to_another_redirect_uri_is_refused() {
    let app = oauth_app().await;
    let destination = browse_tampered(
        &app,
        "moved@example.test",
        "UPDATE one_time_tokens SET redirect_uri = 'https://elsewhere.example/cb' WHERE purpose = 'oauth_state'",
        &Account::discord("8008", "moved"),
    )
    .await;
    assert_eq!(error_code(&destination), "invalid_token");
    assert_eq!(app.fake_oauth().token_requests(), 0);
}

#[tokio::test]
async fn onboarding_stores_text_verbatim_and_rejects_bad_input() {
    let app = oauth_app().await;
    let onboarding = || app.post("/api/user/onboarding");
    let name = "Zoë 'O''Brien'); DROP TABLE users;--";
    let resp = onboarding()
        .json(&json!({
            "name": name,
            "email": "verbatim@example.test",
            "selectedPersonality": "愛情 💖 %_\\",
        }))
        .answer("onboarding")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let row: (String, String, String) = sqlx::query_as(
        "SELECT full_name, personality, communication_channel FROM users WHERE email = 'verbatim@example.test'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("user");
    assert_eq!(
        row,
        (
            name.to_owned(),
            "愛情 💖 %_\\".to_owned(),
            "discord".to_owned()
        )
    );
    for bad in [
        json!({ "name": "", "email": "a@b.co" }),
        json!({ "name": "A", "email": "not-an-email" }),
        json!({ "name": "A", "email": "a@b.co", "communicationChannel": "pigeon" }),
        json!({ "email": "a@b.co" }),
    ] {
        let resp = onboarding().json(&bad).answer("onboarding").await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = resp.json().await.expect("json error");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    for (content_type, body, expected) in [
        ("application/json", "{not json", StatusCode::BAD_REQUEST),
        ("text/plain", "name=x", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let resp = onboarding()
            .header("content-type", content_type)
            .body(body)
            .answer("onboarding")
            .await;
        assert_eq!(resp.status(), expected, "{content_type}: {body}");
    }
}
