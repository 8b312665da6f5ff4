//! Issue 11: the gate, tried by a hostile stranger. Each test is one finding of the issue's
//! review of d37e806, written as the attack; each failed there and holds now (the note on each
//! says what d37e806 did).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::oauth::{Account, CLIENT_ID};
use testkit::{AppOptions, TestApp, spawn_app_with};

use crate::discord::{browse, onboard};
use crate::invitations::{invitee_with_token, upload};
use crate::sessions::{authorized_code, google_start, logout, me, post_login, refresh, signed_in};
use crate::support::{Answer, behind_proxy};

async fn linked_app(limits: api::Limits) -> TestApp {
    spawn_app_with(AppOptions {
        workers: true,
        oauth: true,
        limits,
        trusted_proxies: behind_proxy(),
        ..AppOptions::default()
    })
    .await
}

fn onboarding(app: &TestApp, from: &str, body: Value) -> reqwest::RequestBuilder {
    app.post("/api/user/onboarding")
        .header("x-forwarded-for", from)
        .json(&body)
}

/// (verified, Discord subject, link confirmed) of a user.
async fn gate_state(app: &TestApp, user_id: i64) -> (bool, Option<String>, bool) {
    sqlx::query_as(
        "SELECT u.verified, i.subject, COALESCE(i.confirmed_at IS NOT NULL, FALSE)
         FROM users u LEFT JOIN identities i ON i.user_id = u.id AND i.provider = 'discord'
         WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_one(&app.db.pool)
    .await
    .expect("user")
}

/// The mails written so far to `to` (the workers write `.eml` files without SMTP).
fn mails_to(app: &TestApp, to: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(&app.mail_dir) else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains(&format!("To: {to}")))
        .collect()
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let failure = format!("{what} did not happen");
    testkit::eventually(Duration::from_secs(20), &failure, async || {
        check().await.then_some(())
    })
    .await;
}

/// Finding 1. d37e806: the stranger's Discord link verified the invitee's row, the Member
/// role followed, and the invitee was refused ("already verified with another Discord
/// account").
#[tokio::test]
async fn a_stranger_onboarding_with_an_invitees_email_never_takes_their_place() {
    let app = linked_app(api::Limits::default()).await;
    let (invitee, token) = invitee_with_token(&app, "ivy@example.test").await;
    // The stranger onboards with the invitee's address (in another case) and links their
    // own Discord account with what the answer hands out.
    let resp = onboarding(
        &app,
        "198.51.100.9",
        json!({ "name": "Mallory", "email": "IVY@example.test", "communicationChannel": "discord" }),
    )
    .answer("onboarding")
    .await;
    assert_eq!(resp.status(), StatusCode::OK, "seed 001's answer is kept");
    let answer: Value = resp.json().await.expect("json");
    app.fake_oauth()
        .login_as(&Account::discord("9001", "mallory"));
    let (_, destination) = browse(&app, &answer).await;
    assert_eq!(
        destination,
        "/discord/success?username=mallory&verify=email"
    );
    // …and the bot's fallback with the code: still nothing proven.
    let resp = app
        .post_admin("/api/discord/login")
        .json(&json!({ "discord_id": "9001", "code": answer["auth_code"] }))
        .answer("login code")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        gate_state(&app, invitee).await,
        (false, Some("9001".into()), false),
        "linked, unconfirmed, nobody verified"
    );
    let name: Option<String> = sqlx::query_scalar("SELECT full_name FROM users WHERE id = $1")
        .bind(invitee)
        .fetch_one(&app.db.pool)
        .await
        .expect("name");
    assert_eq!(name, None, "an invitee's row is not renamed by a stranger");
    // The code that would confirm the link goes to the invitee's mailbox, not to the stranger.
    eventually("a verification mail to the invitee", async || {
        mails_to(&app, "ivy@example.test")
            .iter()
            .any(|m| m.contains("Verify your email"))
    })
    .await;
    // The invitee verifies from their own Discord account: confirmed, and the stranger's
    // unconfirmed link is gone.
    let resp = app
        .post_admin("/api/verify-discord")
        .json(&json!({ "email": "ivy@example.test", "token": token, "discord_id": "9002" }))
        .answer("verify")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        gate_state(&app, invitee).await,
        (true, Some("9002".into()), true)
    );
    let member = store::users::by_discord(&app.db.pool, 9001)
        .await
        .expect("query");
    assert_eq!(member, None, "the stranger's account is linked to nobody");
}

/// Finding 5, Discord. d37e806: a victim who opened the attacker's `verification_url` had
/// their Discord account bound to the attacker's row for good, and their own link later
/// failed (`verification_failed`).
#[tokio::test]
async fn a_linking_csrf_binds_nothing_for_good() {
    let app = linked_app(api::Limits::default()).await;
    let attacker = onboard(&app, "attacker@example.test").await;
    let victim = Account::discord_with_email("9100", "victim", "victim@example.test");
    app.fake_oauth().login_as(&victim);
    let (_, destination) = browse(&app, &attacker).await;
    assert!(destination.ends_with("&verify=email"), "{destination}");
    let attacker_id = attacker["user_id"].as_i64().expect("id");
    assert_eq!(
        gate_state(&app, attacker_id).await,
        (false, Some("9100".into()), false),
        "the attacker's row proves nothing"
    );
    // The victim links their own registration: Discord vouches for their address.
    let own = onboard(&app, "victim@example.test").await;
    let (_, destination) = browse(&app, &own).await;
    assert_eq!(destination, "/discord/success?username=victim");
    let own_id = own["user_id"].as_i64().expect("id");
    assert_eq!(
        gate_state(&app, own_id).await,
        (true, Some("9100".into()), true)
    );
    assert_eq!(gate_state(&app, attacker_id).await, (false, None, false));
}

/// Finding 5, Google. d37e806: posting another browser's code and state signed the victim in
/// as the attacker.
#[tokio::test]
async fn a_google_sign_in_is_bound_to_the_browser_that_started_it() {
    let app = linked_app(api::Limits::default()).await;
    let (attacker_start, _attacker_cookie) = google_start(&app).await;
    let cookie = app.post("/api/login/google").answer("start").await;
    let set_cookie = cookie.headers()["set-cookie"].to_str().expect("ascii");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let victim_cookie = set_cookie.split(';').next().expect("pair").to_owned();
    app.fake_oauth()
        .login_as(&Account::google("g-evil", "attacker@example.test", true));
    let authorization_url = attacker_start["authorization_url"].as_str().expect("url");
    let body = authorized_code(&app, authorization_url).await;
    // The victim's browser, with no binding cookie or its own: refused, and no exchange.
    for cookie in [None, Some(victim_cookie.as_str())] {
        let mut req = app.post("/api/login").json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let resp = req.answer("login").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let err: Value = resp.json().await.expect("json");
        assert!(
            matches!(
                err["code"].as_str(),
                Some("state_not_bound" | "invalid_token")
            ),
            "{err}"
        );
    }
    assert_eq!(
        app.fake_oauth().token_requests(),
        0,
        "the code was never spent"
    );
}

/// Finding 7. d37e806: an access token kept working until `exp` (60 minutes) after logout
/// and after refresh-token reuse revoked its session.
#[tokio::test]
async fn logout_and_a_revoked_session_end_access_tokens_at_once() {
    let app = linked_app(api::Limits::default()).await;
    let account = Account::google("g-out", "out@example.test", true);
    let session = signed_in(&app, &account).await;
    let jwt = session["access_token"].as_str().expect("jwt");
    assert_eq!(me(&app, jwt).await.status(), StatusCode::OK);
    let resp = logout(&app, session["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(me(&app, jwt).await.status(), StatusCode::UNAUTHORIZED);
    // Reuse of a rotated refresh token revokes the family: its access tokens die too.
    let session = signed_in(&app, &account).await;
    let first = session["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let rotated: Value = refresh(&app, &first).await.json().await.expect("json");
    let fresh = rotated["access_token"].as_str().expect("jwt");
    assert_eq!(me(&app, fresh).await.status(), StatusCode::OK);
    let resp = refresh(&app, &first).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    for token in [fresh, session["access_token"].as_str().expect("jwt")] {
        assert_eq!(me(&app, token).await.status(), StatusCode::UNAUTHORIZED);
    }
}

/// Finding 8. d37e806: admin credentials could be guessed at any speed.
#[tokio::test]
async fn failed_admin_authentication_is_throttled_per_address() {
    let app = linked_app(api::Limits {
        admin_failures_per_ip: 3,
        ..api::Limits::default()
    })
    .await;
    let users = |from: &str, key: &str| {
        app.get("/api/users")
            .header("x-forwarded-for", from)
            .header("x-api-key", key)
            .answer("users")
    };
    let guesser = "198.51.100.20";
    // A right key works at once, also after a failure or two.
    assert_eq!(users(guesser, &app.api_key).await.status(), StatusCode::OK);
    for _ in 0..3 {
        let resp = users(guesser, "guess-guess-guess").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // Over the limit: refused before anything is looked at, whatever the credential.
    let resp = users(guesser, &app.api_key).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    let resp = app
        .get("/api/users")
        .header("x-forwarded-for", guesser)
        .bearer_auth("cnc_guess")
        .answer("users")
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "API tokens share it"
    );
    let resp = app
        .client
        .get(format!("{}/api/v1/queues", app.board_address))
        .header("x-forwarded-for", guesser)
        .basic_auth("admin", Some(&app.api_key))
        .answer("board")
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the board shares it"
    );
    // The right key from anywhere else is not affected.
    let resp = users("203.0.113.20", &app.api_key).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // Nor is a signed-in user behind the guesser's address (a shared NAT): their access token
    // is not an admin credential.
    let token = app.fake_oauth().issue_access_token(
        &Account::google("g-nat", "nat@example.test", true),
        CLIENT_ID,
    );
    let session = app
        .post("/api/login")
        .header("x-forwarded-for", guesser)
        .json(&json!({ "access_token": token }))
        .answer_json("login")
        .await;
    let resp = app
        .get("/api/me")
        .header("x-forwarded-for", guesser)
        .bearer_auth(session["access_token"].as_str().expect("jwt"))
        .answer("me")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Finding 2 (onboarding). d37e806: no limit at all; any address could be mailed without end.
/// And the review of the fix: a stranger spending the limits must not lock the owner out.
#[tokio::test]
async fn onboarding_is_limited_per_address_per_email_and_its_mails_per_mailbox() {
    let app = linked_app(api::Limits {
        onboardings_per_ip: 4,
        onboardings_per_email: 2,
        onboardings_per_email_total: 6,
        mails_per_address: 2,
        ..api::Limits::default()
    })
    .await;
    let person = |email: &str, channel: &str| json!({ "name": "Someone", "email": email, "communicationChannel": channel });
    let onboard_from = |from: &'static str, email: &'static str, channel: &'static str| {
        onboarding(&app, from, person(email, channel)).answer("onboarding")
    };
    // Mails to one address: two go out, then no more this hour; the onboarding still
    // answers, pointing at the codes already mailed (they work for this address).
    for from in ["198.51.100.1", "198.51.100.2"] {
        let resp = onboard_from(from, "target@example.test", "email").await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    eventually("two mails to the address", async || {
        mails_to(&app, "target@example.test").len() == 2
    })
    .await;
    let resp = onboard_from("198.51.100.3", "target@example.test", "email").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.expect("json");
    assert!(
        answer["instructions"]
            .as_str()
            .is_some_and(|i| i.contains("already sent")),
        "{answer}"
    );
    // Aliases of the inbox (+tags) are other accounts but one inbox: it gets three times
    // the per-address cap in all, then nothing, and the answer says to try later.
    for (from, alias) in [
        ("198.51.100.4", "target+a@example.test"),
        ("198.51.100.5", "target+b@example.test"),
        ("198.51.100.6", "target+c@example.test"),
        ("198.51.100.7", "target+d@example.test"),
    ] {
        let resp = onboard_from(from, alias, "email").await;
        assert_eq!(resp.status(), StatusCode::OK);
        eventually("the alias's mail", async || {
            !mails_to(&app, alias).is_empty()
        })
        .await;
    }
    let resp = onboard_from("198.51.100.8", "target+e@example.test", "email").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    // Per email from one address: the third from .3 is refused; the owner elsewhere is not.
    let resp = onboard_from("198.51.100.3", "target@example.test", "discord").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = onboard_from("198.51.100.3", "target@example.test", "discord").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    // A refused attempt spends nothing of the email's shared budget: 4 of 6 are used.
    for _ in 0..5 {
        let resp = onboard_from("198.51.100.3", "target@example.test", "web").await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    for from in ["203.0.113.50", "203.0.113.51"] {
        let resp = onboard_from(from, "target@example.test", "discord").await;
        assert_eq!(resp.status(), StatusCode::OK, "the owner onboards");
    }
    // Only many addresses together reach the email's total.
    let resp = onboard_from("203.0.113.52", "target@example.test", "discord").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Per address, whatever the emails: the 5th from one address is refused.
    for email in [
        "p0@example.test",
        "p1@example.test",
        "p2@example.test",
        "p3@example.test",
    ] {
        let resp = onboard_from("203.0.113.1", email, "web").await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = onboard_from("203.0.113.1", "p9@example.test", "web").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Six mails reached the inbox in all, and they carry no text the requester chose.
    let mails: Vec<String> = [
        "target@example.test",
        "target+a@example.test",
        "target+b@example.test",
        "target+c@example.test",
        "target+d@example.test",
        "target+e@example.test",
    ]
    .iter()
    .flat_map(|to| mails_to(&app, to))
    .collect();
    assert_eq!(mails.len(), 6);
    for mail in mails {
        assert!(
            !mail.contains("Someone"),
            "the requester's name is not mailed"
        );
    }
}

/// Finding 2 (sign-in). d37e806: each junk `access_token` pushed a job and held the request
/// up to 10 s, without limit.
#[tokio::test]
async fn junk_sign_ins_share_a_job_per_token_and_are_limited_per_address() {
    // No workers: the exchanges stay queued.
    let app = spawn_app_with(AppOptions {
        oauth: true,
        job_wait: Duration::from_millis(300),
        trusted_proxies: behind_proxy(),
        limits: api::Limits {
            sign_ins_per_ip: 5,
            ..api::Limits::default()
        },
        ..AppOptions::default()
    })
    .await;
    let login = |token: &str, from: &str| {
        app.post("/api/login")
            .header("x-forwarded-for", from)
            .json(&json!({ "access_token": token }))
            .answer("login")
    };
    let (a, b) = tokio::join!(
        login("junk-1", "198.51.100.1"),
        login("junk-1", "198.51.100.2")
    );
    let (a, b): (Value, Value) = (a.json().await.expect("json"), b.json().await.expect("json"));
    assert_eq!(a["job_id"], b["job_id"], "one job for one token");
    let depth = app
        .producer
        .depth("exchange_oauth_code")
        .await
        .expect("depth");
    assert_eq!(depth.waiting, 1);
    for n in 0..5 {
        let resp = login(&format!("junk-x{n}"), "203.0.113.9").await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
    let resp = login("junk-y", "203.0.113.9").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    // The Discord callback counts against the same budget.
    let resp = app
        .get("/api/discord/callback?code=x&state=y")
        .header("x-forwarded-for", "203.0.113.9")
        .answer("callback")
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Finding 2 (waiters). Beyond its maximum of waiting requests the API answers at once with
/// the job id instead of holding one more request open.
#[tokio::test]
async fn a_full_waiting_room_answers_with_the_job_at_once() {
    let app = spawn_app_with(AppOptions {
        oauth: true,
        job_wait: Duration::from_secs(3),
        max_waiters: 1,
        ..AppOptions::default()
    })
    .await;
    let login = |token: &'static str| {
        let req = app
            .post("/api/login")
            .json(&json!({ "access_token": token }));
        async move {
            let started = Instant::now();
            let resp = req.answer("login").await;
            (resp.status(), started.elapsed())
        }
    };
    let ((a, a_took), (b, b_took)) = tokio::join!(login("wait-a"), login("wait-b"));
    assert_eq!((a, b), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    let (quick, slow) = if a_took < b_took {
        (a_took, b_took)
    } else {
        (b_took, a_took)
    };
    assert!(slow >= Duration::from_secs(2), "one waited: {slow:?}");
    assert!(
        quick < Duration::from_secs(1),
        "the other was answered at once: {quick:?}"
    );
}

/// Finding 9. d37e806: lists and bracketed addresses were accepted (the first two then
/// dead-lettered a mail job with an ERROR line, the last mailed `x@x.com` as a second
/// account), and one mailbox spelled two ways made two accounts.
#[tokio::test]
async fn an_email_is_one_bare_address_in_one_canonical_form() {
    let app = linked_app(api::Limits::default()).await;
    for bad in [
        "a@x.com,b@evil.test",
        "x@x.com>",
        "<x@x.com>",
        "Ada <x@x.com>",
        "x@x.com\nBcc: y@evil.test",
    ] {
        let resp = app
            .post("/api/user/onboarding")
            .json(&json!({ "name": "A", "email": bad }))
            .answer("onboarding")
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    let csv = "email\n\"a@x.com,b@evil.test\"\nx@x.com>\n<x@x.com>\nok@x.com\n";
    let report: Value = upload(&app, csv.as_bytes().to_vec())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (report["invalid"].as_u64(), report["created"].as_u64()),
        (Some(3), Some(1))
    );
    // One mailbox, two spellings of its domain: one account, stored in ASCII form.
    let first = onboard(&app, "Ada@EXÄMPLE.org").await;
    let second = onboard(&app, "ada@xn--exmple-cua.org").await;
    assert_eq!(first["user_id"], second["user_id"]);
    let stored: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(first["user_id"].as_i64().expect("id"))
        .fetch_one(&app.db.pool)
        .await
        .expect("email");
    assert_eq!(stored, "Ada@xn--exmple-cua.org");
}

/// Finding 10. d37e806: the limit counted the TCP peer: behind a proxy every user shared one
/// bucket, and each IPv6 /128 was its own.
#[tokio::test]
async fn limits_count_the_client_behind_trusted_proxies_and_ipv6_per_64() {
    let limits = api::Limits {
        onboardings_per_ip: 2,
        ..api::Limits::default()
    };
    let person = |n: u32| json!({ "name": "N", "email": format!("n{n}@example.test") });
    // Not a trusted proxy: a forged X-Forwarded-For buys nothing.
    let direct = spawn_app_with(AppOptions {
        limits,
        ..AppOptions::default()
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..3 {
        let resp = onboarding(&direct, &format!("10.0.0.{n}"), person(n))
            .answer("onboarding")
            .await;
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    // Behind a trusted proxy: each client its own bucket; an IPv6 /64 one bucket.
    let proxied = spawn_app_with(AppOptions {
        limits,
        trusted_proxies: behind_proxy(),
        ..AppOptions::default()
    })
    .await;
    let mut statuses = Vec::new();
    for (n, from) in [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "2001:db8:5:6::1",
        "2001:db8:5:6:ffff::2",
        "2001:db8:5:6:aaaa::3",
        "2001:db8:5:7::1",
    ]
    .iter()
    .enumerate()
    {
        let resp = onboarding(&proxied, from, person(n as u32 + 10))
            .answer("onboarding")
            .await;
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 200]);
}

/// Finding 4 (the provider call). d37e806 sent the Google access token in the tokeninfo URL.
#[tokio::test]
async fn google_access_tokens_never_travel_in_a_url() {
    let app = linked_app(api::Limits::default()).await;
    let account = Account::google("g-url", "url@example.test", true);
    let token = app.fake_oauth().issue_access_token(&account, CLIENT_ID);
    let resp = post_login(&app, json!({ "access_token": token })).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.fake_oauth().tokens_in_urls(), 0);
    // The fake refuses a token in the URL, so a regression cannot pass quietly.
    let resp = app
        .client
        .get(format!(
            "{}/tokeninfo?access_token={token}",
            app.fake_oauth().url
        ))
        .answer("tokeninfo")
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.fake_oauth().tokens_in_urls(), 1);
}

/// Review of the fix: through an external bot (`/api/verify-discord`, admin credentials) every
/// member shares the bot's address, so failures must count per Discord account there, or one
/// stranger's wrong tokens lock every member out of the email.
#[tokio::test]
async fn a_bots_members_do_not_share_its_address() {
    let app = linked_app(api::Limits::default()).await;
    let (_, token) = invitee_with_token(&app, "shared@example.test").await;
    let verify = |token: &str, discord: &str| {
        app.post_admin("/api/verify-discord")
            .json(&json!({ "email": "shared@example.test", "token": token, "discord_id": discord }))
            .answer("verify")
    };
    for _ in 0..5 {
        let resp = verify("wrong", "9301").await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    let resp = verify(&token, "9301").await;
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser is locked out"
    );
    let resp = verify(&token, "9302").await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "the owner, through the same bot, is not"
    );
}

/// Review of the fix: a verified account whose Discord link is missing or needs proving has a
/// way back: onboarding its address answers 409 as before and mails it a code to send the
/// bot (to its own mailbox, within the caps). One whose link holds gets no mail.
#[tokio::test]
async fn onboarding_a_verified_address_mails_it_a_code_when_its_link_needs_one() {
    let app = linked_app(api::Limits::default()).await;
    signed_in(&app, &Account::google("g-back", "back@example.test", true)).await;
    let resp = onboard_raw(&app, "back@example.test").await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("code we mailed")),
        "{body}"
    );
    eventually("a code for the verified address", async || {
        mails_to(&app, "back@example.test")
            .iter()
            .any(|m| m.contains("Verify your email"))
    })
    .await;
    // With a link that holds, nothing is mailed.
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'back@example.test'")
        .fetch_one(&app.db.pool)
        .await
        .expect("user");
    store::identities::link_discord(
        &app.db.pool,
        user,
        &store::identities::ProviderAccount {
            subject: "9400".into(),
            ..Default::default()
        },
        store::identities::LinkProof::EmailProven,
    )
    .await
    .expect("link");
    let resp = onboard_raw(&app, "back@example.test").await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await.expect("json");
    assert!(
        !body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("mailed"),
        "{body}"
    );
}

async fn onboard_raw(app: &TestApp, email: &str) -> reqwest::Response {
    app.post("/api/user/onboarding")
        .json(&json!({ "name": "Back", "email": email }))
        .answer("onboarding")
        .await
}

/// Finding 2: every endpoint an anonymous caller reaches is limited per client address, the
/// cheap ones too (docs, health, metrics, static pages): one budget per minute, 429 with
/// `Retry-After`, counted per client behind a trusted proxy.
#[tokio::test]
async fn every_endpoint_is_limited_per_client_address() {
    let app = spawn_app_with(AppOptions {
        trusted_proxies: behind_proxy(),
        limits: api::Limits {
            requests_per_ip: 5,
            ..api::Limits::default()
        },
        ..AppOptions::default()
    })
    .await;
    let get = |path: &'static str, from: &'static str| {
        app.get(path)
            .header("x-forwarded-for", from)
            .answer("request")
    };
    for path in [
        "/api/health",
        "/api/openapi.json",
        "/metrics",
        "/discord/success?username=x",
        "/api/discord/invite",
    ] {
        let resp = get(path, "198.51.100.30").await;
        assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    let resp = get("/api/docs", "198.51.100.30").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "too_many_requests");
    let resp = get("/api/docs", "198.51.100.31").await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "another client has its own budget"
    );
}
