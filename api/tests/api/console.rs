//! The admin console in a real browser (issue 16): Debian's Chromium, headless, driven over the
//! DevTools protocol (`testkit::browser`) through each flow an admin follows: signing in and
//! out (key, API token, Google), users, the 100,000-row import, invitations, monitoring, API
//! tokens, and the job dashboard; with the keyboard where a person would use it, and on a
//! phone's viewport. No page may throw or break its Content-Security-Policy.
//!
//! With `CONCIERGE_SCREENSHOTS=<dir>`, the tests also save screenshots of the main pages there
//! (the README's come from `docs/screenshots`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::browser::{Browser, Page};
use testkit::oauth::Account;
use testkit::{AppOptions, SmtpSink, TestApp, eventually, spawn_app, spawn_app_with};

use crate::support::{Answer, app_with_workers, mailing_app};

/// A laptop's viewport.
const LAPTOP: (u32, u32) = (1280, 860);

async fn laptop(browser: &Browser) -> Page {
    browser.page(LAPTOP.0, LAPTOP.1, false).await
}

/// Saves a screenshot named `name` when `CONCIERGE_SCREENSHOTS` asks for them.
async fn screenshot(page: &Page, name: &str) {
    if let Some(dir) = std::env::var_os("CONCIERGE_SCREENSHOTS") {
        page.screenshot(&PathBuf::from(dir).join(format!("{name}.png")), false)
            .await;
    }
}

/// Signs in on the console's form with the admin key, typed, and submitted with Enter.
async fn sign_in_with_key(page: &Page, app: &TestApp) {
    page.goto(&format!("{}/admin", app.address)).await;
    page.wait_for("the sign-in form", "!!document.querySelector('#secret')")
        .await;
    page.fill("#secret", &app.api_key).await;
    page.press("Enter").await;
    page.wait_for("the users page", "document.title === 'Concierge · Users'")
        .await;
}

fn assert_no_errors(page: &Page) {
    let errors = page.errors();
    assert!(errors.is_empty(), "the page reported errors: {errors:#?}");
}

async fn stored(page: &Page) -> (Value, Value) {
    let s = page
        .eval(
            "[sessionStorage.getItem('concierge-admin'), localStorage.getItem('concierge-admin')]",
        )
        .await;
    (s[0].clone(), s[1].clone())
}

#[tokio::test]
async fn signing_in_keeps_nothing_beyond_the_tab_unless_asked_and_signing_out_forgets() {
    let app = spawn_app().await;
    let browser = Browser::launch().await;
    let page = laptop(&browser).await;

    page.goto(&format!("{}/admin", app.address)).await;
    page.wait_for("the sign-in form", "!!document.querySelector('#secret')")
        .await;
    screenshot(&page, "sign-in").await;
    page.fill("#secret", "not-the-key").await;
    page.press("Enter").await;
    page.wait_text("[role=alert]", "not an admin's").await;
    assert_eq!(
        stored(&page).await,
        (Value::Null, Value::Null),
        "a refused key is not kept"
    );

    // The admin key is never remembered beyond the tab, even when asked.
    page.click("#remember").await;
    page.fill("#secret", &app.api_key).await;
    page.press("Enter").await;
    page.wait_for("the users page", "document.title === 'Concierge · Users'")
        .await;
    let (session, local) = stored(&page).await;
    assert!(
        session
            .as_str()
            .is_some_and(|s| s.contains("\"kind\":\"key\"")),
        "{session}"
    );
    assert!(local.is_null(), "kept in the tab only: {local}");

    page.click("#sign-out").await;
    page.wait_for("the sign-in form", "!!document.querySelector('#secret')")
        .await;
    assert_eq!(stored(&page).await, (Value::Null, Value::Null));

    // An admin API token, remembered on this device on request.
    let token = app
        .post_admin("/api/tokens")
        .json(&json!({ "name": "console" }))
        .answer_json("token")
        .await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    page.eval("document.querySelector('#kind').value = 'token'")
        .await;
    page.fill("#secret", &token).await;
    page.click("#remember").await;
    page.click("button[type=submit]").await;
    page.wait_for("the users page", "document.title === 'Concierge · Users'")
        .await;
    let (session, local) = stored(&page).await;
    assert!(session.is_null());
    assert!(
        local
            .as_str()
            .is_some_and(|s| s.contains("\"kind\":\"token\"")),
        "{local}"
    );
    // The token's use shows on its page.
    page.click("a[href='#/tokens']").await;
    page.wait_text("td", "console").await;
    assert!(
        !page.text().await.contains(&token),
        "a token is never shown again"
    );
    page.click("#sign-out").await;
    page.wait_for("the sign-in form", "!!document.querySelector('#secret')")
        .await;
    assert_eq!(stored(&page).await, (Value::Null, Value::Null));
    assert_no_errors(&page);

    // The policy holds: markup that carries a script does not run it, and the page reports
    // the refusal (so `assert_no_errors` would see a page that tried).
    page.eval(
        "document.querySelector('main').append(Object.assign(document.createElement('script'),
           { textContent: 'window.ran = true' })); true",
    )
    .await;
    assert_eq!(page.eval("window.ran === undefined").await, json!(true));
    eventually(
        Duration::from_secs(10),
        "the refusal was not reported",
        async || (!page.errors().is_empty()).then_some(()),
    )
    .await;
}

#[tokio::test]
async fn google_sign_in_admits_admins_and_refuses_everyone_else() {
    let app = spawn_app_with(AppOptions {
        workers: true,
        oauth: true,
        google_redirect_to_app: Some("/admin"),
        ..AppOptions::default()
    })
    .await;
    let oauth = app.oauth.as_ref().expect("fake Google");
    let admin = app.db.user("root@example.com").await;
    sqlx::query("UPDATE users SET role = 'admin' WHERE id = $1")
        .bind(admin)
        .execute(&app.db.pool)
        .await
        .expect("make admin");
    let browser = Browser::launch().await;
    let page = laptop(&browser).await;

    oauth.login_as(&Account::google("g-member", "member@example.com", true));
    page.goto(&format!("{}/admin", app.address)).await;
    page.click("#google").await;
    page.wait_text("[role=alert]", "member@example.com is not an admin")
        .await;
    assert_eq!(stored(&page).await, (Value::Null, Value::Null));
    assert!(
        !page
            .eval("location.href")
            .await
            .as_str()
            .unwrap_or_default()
            .contains("code="),
        "the code leaves the address bar"
    );

    // Remembered on this device: a second tab is signed in too.
    oauth.login_as(&Account::google("g-root", "root@example.com", true));
    page.click("#remember").await;
    page.click("#google").await;
    page.wait_for("the users page", "document.title === 'Concierge · Users'")
        .await;
    let (_, local) = stored(&page).await;
    assert!(
        local
            .as_str()
            .is_some_and(|s| s.contains("\"kind\":\"jwt\"")),
        "{local}"
    );
    page.wait_text("#user-count", "2 users").await;
    let other = laptop(&browser).await;
    other.goto(&format!("{}/admin", app.address)).await;
    other.wait_text("#user-count", "2 users").await;

    // The access token is refused (as an expired one is): both tabs call at once, and the
    // session is refreshed once, not once per tab (its refresh token presented twice would
    // end it).
    page.eval(
        "const c = JSON.parse(localStorage.getItem('concierge-admin'));
         c.value = c.value.slice(0, -4) + (c.value.endsWith('AAAA') ? 'BBBB' : 'AAAA');
         localStorage.setItem('concierge-admin', JSON.stringify(c)); true",
    )
    .await;
    let call = "import('/admin/common.js').then((m) => Promise.all([
           m.api('GET', '/api/users?per_page=1'), m.api('GET', '/api/tokens')]))
         .then((answers) => answers.length)";
    let (first, second) = tokio::join!(page.eval(call), other.eval(call));
    assert_eq!(
        (first, second),
        (json!(2), json!(2)),
        "every call of both tabs answered"
    );
    let (rotations, reason): (i64, Option<String>) = sqlx::query_as(
        "SELECT count(t.*), f.revoked_reason FROM refresh_token_families f
         JOIN refresh_tokens t ON t.family_id = f.id
         WHERE f.user_id = $1 AND t.used_at IS NOT NULL GROUP BY f.revoked_reason",
    )
    .bind(admin)
    .fetch_one(&app.db.pool)
    .await
    .expect("family");
    assert_eq!((rotations, reason), (1, None), "one refresh, no reuse");
    // Signing out ends the session at the API too: its refresh token no longer works.
    let (_, local) = stored(&page).await;
    let refresh = serde_json::from_str::<Value>(local.as_str().expect("remembered"))
        .expect("credentials")["refresh"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    page.click("#sign-out").await;
    page.wait_for("the sign-in form", "!!document.querySelector('#secret')")
        .await;
    eventually(
        Duration::from_secs(10),
        "the session outlived sign-out",
        async || {
            let reason: Option<String> = sqlx::query_scalar(
                "SELECT revoked_reason FROM refresh_token_families WHERE user_id = $1",
            )
            .bind(admin)
            .fetch_one(&app.db.pool)
            .await
            .expect("family");
            (reason.as_deref() == Some("logout")).then_some(())
        },
    )
    .await;
    let resp = app
        .post("/api/refresh")
        .json(&json!({ "refresh_token": refresh }))
        .answer("refresh")
        .await;
    assert_eq!(resp.status(), 401);
    assert_no_errors(&page);
}

/// Every form control of the page has a label a screen reader reads.
async fn assert_labelled(page: &Page) {
    let unlabelled = page
        .eval(
            "[...document.querySelectorAll('main input, main select, dialog input')]
               .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
               .map((e) => e.outerHTML)",
        )
        .await;
    assert_eq!(unlabelled, json!([]), "controls without a label");
}

/// The page fits a phone's width: nothing to scroll sideways but the tables' own boxes.
async fn assert_fits(page: &Page) {
    let fits = page
        .eval("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, json!(true), "the page is wider than the screen");
}

async fn upload_csv(app: &TestApp, csv: &str) -> Value {
    crate::invitations::upload(app, csv.as_bytes().to_vec())
        .await
        .json()
        .await
        .expect("report")
}

#[tokio::test]
async fn an_admin_finds_pages_changes_reissues_and_deletes_users() {
    let app = spawn_app().await;
    let mut csv = String::from("email,name\n");
    for i in 0..60 {
        csv.push_str(&format!("user{i:02}@example.com,User {i:02}\n"));
    }
    let report = upload_csv(&app, &csv).await;
    let id = |i: usize| report["results"][i]["user_id"].as_i64().expect("id");
    app.db
        .link_discord(
            id(7),
            "80351110224678912",
            store::identities::LinkProof::AccountOnly,
        )
        .await;
    let browser = Browser::launch().await;
    let page = laptop(&browser).await;
    sign_in_with_key(&page, &app).await;
    page.wait_text("#user-count", "60 users · page 1 of 2")
        .await;
    assert_labelled(&page).await;
    screenshot(&page, "users").await;

    // Search, with the keyboard only: the section opens with the focus on its main region,
    // and Tab reaches the search box first.
    page.press("Tab").await;
    assert_eq!(page.focused().await, "q");
    page.type_text("user 1").await;
    page.press("Enter").await;
    page.wait_text("#user-count", "10 users").await;
    page.fill("#q", "80351110224678912").await;
    page.press("Enter").await;
    page.wait_text("#user-count", "1 user ·").await;
    assert!(page.text().await.contains("user07@example.com"));
    page.fill("#q", "").await;
    page.press("Enter").await;
    page.wait_text("#user-count", "60 users · page 1 of 2")
        .await;
    page.click("a[rel=next]").await;
    page.wait_text("#user-count", "page 2 of 2").await;
    assert!(page.text().await.contains("user59@example.com"));

    // One user's page: change role, active and username.
    page.goto(&format!("{}/admin#/users/{}", app.address, id(7)))
        .await;
    page.wait_text("h2", "user07@example.com").await;
    assert!(
        page.text().await.contains("80351110224678912"),
        "the Discord link is shown"
    );
    assert_labelled(&page).await;
    page.eval("document.querySelector('#role').value = 'admin'")
        .await;
    page.click("#active").await;
    page.fill("#username", "seven").await;
    page.click("#save-user").await;
    page.wait_text("td", "user_changed").await;
    screenshot(&page, "user").await;
    let (role, active, username): (String, bool, Option<String>) =
        sqlx::query_as("SELECT role, is_active, username FROM users WHERE id = $1")
            .bind(id(7))
            .fetch_one(&app.db.pool)
            .await
            .expect("user");
    assert_eq!(
        (role.as_str(), active, username.as_deref()),
        ("admin", false, Some("seven"))
    );

    // A new invitation token: the old one dies, a mail is queued.
    let before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM email_deliveries WHERE user_id = $1")
            .bind(id(8))
            .fetch_one(&app.db.pool)
            .await
            .expect("count");
    page.goto(&format!("{}/admin#/users/{}", app.address, id(8)))
        .await;
    page.wait_text("h2", "user08@example.com").await;
    page.click("#reissue").await;
    page.wait_text("td", "invitation_token_reissued").await;
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM email_deliveries WHERE user_id = $1")
        .bind(id(8))
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(after, before + 1, "the invitation mail is queued again");

    // Delete one (the browser's confirmation is accepted), then all behind the typed phrase.
    page.click("#delete-user").await;
    page.wait_for("the users list", "document.title === 'Concierge · Users'")
        .await;
    page.wait_text("#user-count", "59 users").await;
    page.click("#delete-all").await;
    page.wait_for("the dialog", "!!document.querySelector('dialog[open]')")
        .await;
    // Escape closes it; it opens again with the focus in its one field.
    assert_eq!(page.focused().await, "confirm-all");
    page.press("Escape").await;
    page.wait_for("the dialog to close", "!document.querySelector('dialog')")
        .await;
    page.click("#delete-all").await;
    page.wait_for("the dialog", "!!document.querySelector('dialog[open]')")
        .await;
    assert_labelled(&page).await;
    page.fill("#confirm-all", "delete all users").await;
    page.click("#confirm-delete-all").await;
    page.wait_text("dialog [role=alert]", "Type DELETE ALL USERS exactly")
        .await;
    assert_eq!(
        crate::support::rows(&app, "users").await,
        59,
        "nothing deleted yet"
    );
    page.fill("#confirm-all", "DELETE ALL USERS").await;
    page.click("#confirm-delete-all").await;
    // User 7 was made an admin above: admins are kept.
    page.wait_text("#user-count", "1 user ·").await;
    assert_eq!(crate::support::rows(&app, "users").await, 1);
    assert_no_errors(&page);

    // On a phone.
    let phone = browser.page(390, 844, true).await;
    sign_in_with_key(&phone, &app).await;
    assert_fits(&phone).await;
    screenshot(&phone, "users-phone").await;
    assert_no_errors(&phone);
}

/// Watches what `#stage` says while an import runs, to tell afterwards that progress was shown.
const WATCH_STAGES: &str = "window.stages = []; new MutationObserver(() => {
      const s = document.querySelector('#stage');
      if (s && window.stages[window.stages.length - 1] !== s.textContent) window.stages.push(s.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true }); true";

async fn count(page: &Page, status: &str) -> Value {
    page.eval(&format!(
        "Number(document.querySelector('[data-count={status}] strong').textContent)"
    ))
    .await
}

#[tokio::test]
async fn a_100k_row_import_previews_shows_progress_reports_every_row_and_downloads_safely() {
    // The binary's default body limit (server.max_body_bytes): the file is 3.4 MB.
    let app = spawn_app_with(AppOptions {
        max_body_bytes: 10 * 1024 * 1024,
        ..AppOptions::default()
    })
    .await;
    upload_csv(
        &app,
        "email,name\nold1@example.com,Old One\nold2@example.com,Old Two\n",
    )
    .await;
    let dir = std::env::temp_dir().join(format!("concierge-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut csv = String::from("Email,First Name,Last Name\n");
    for i in 0..100_000 {
        csv.push_str(&match i {
            10 => "old1@example.com,Old,Renamed\n".to_owned(),
            11 => "old2@example.com,Old,Two\n".to_owned(),
            20 => "m0@example.com,First0,Last0\n".to_owned(),
            30 => "not-an-email,Not,Valid\n".to_owned(),
            31 => "=1+2,Formula,Row\n".to_owned(),
            32 => "+1,Plus,Row\n".to_owned(),
            33 => "-2,Minus,Row\n".to_owned(),
            34 => "@SUM(1),At,Row\n".to_owned(),
            _ => format!("m{i}@example.com,First{i},Last{i}\n"),
        });
    }
    let file = dir.join("invitees.csv");
    std::fs::write(&file, &csv).expect("csv");

    let browser = Browser::launch().await;
    let page = laptop(&browser).await;
    sign_in_with_key(&page, &app).await;
    page.click("a[href='#/import']").await;
    page.wait_for("the import page", "!!document.querySelector('#csv-file')")
        .await;
    assert_labelled(&page).await;
    page.pick_file("#csv-file", &file).await;
    page.wait_text("#preview-summary", "about 100000 rows")
        .await;
    page.wait_text(
        "#preview-summary",
        "Columns recognised: email, first name, last name",
    )
    .await;
    page.wait_text("#preview th", "First Name → first name")
        .await;
    page.eval(WATCH_STAGES).await;
    page.click("#import").await;
    page.wait_text("#stage", "Imported in").await;
    let stages = page.eval("window.stages").await;
    let stages: Vec<&str> = stages
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(stages.contains(&"Uploading…"), "{stages:?}");
    assert!(
        stages
            .iter()
            .any(|s| s.starts_with("Importing invitees.csv")),
        "{stages:?}"
    );
    assert_eq!(
        page.eval("document.querySelector('#upload-progress').value")
            .await,
        json!(100)
    );
    for (status, want) in [
        ("rows", 100_000),
        ("created", 99_992),
        ("updated", 1),
        ("duplicate", 2),
        ("invalid", 5),
    ] {
        assert_eq!(count(&page, status).await, json!(want), "{status}");
    }
    screenshot(&page, "import").await;
    page.wait_text("#results-page", "page 1 of 1000 (100000 rows)")
        .await;
    page.eval("const f = document.querySelector('#result-filter'); f.value = 'invalid'; f.dispatchEvent(new Event('change')); true")
        .await;
    page.wait_text("#results-page", "(5 rows)").await;
    let text = page.text().await;
    assert!(
        text.contains("not-an-email") && text.contains("=1+2"),
        "{text}"
    );

    page.click("#download").await;
    let downloaded = std::fs::read_to_string(page.downloaded().await).expect("download");
    let lines: Vec<&str> = downloaded.lines().collect();
    assert_eq!(lines.len(), 100_001, "a header and every row");
    assert_eq!(lines[0], r#""line","email","status","reason","user_id""#);
    for (line, cell) in [(33, "=1+2"), (34, "+1"), (35, "-2"), (36, "@SUM(1)")] {
        let row = lines[line - 1];
        assert!(
            row.starts_with(&format!(r#""{line}","'{cell}","invalid","#)),
            "a formula is written as text: {row}"
        );
    }
    assert!(
        ["=", "+", "-", "@"]
            .iter()
            .all(|c| !downloaded.contains(&format!(",\"{c}"))),
        "no cell starts a formula"
    );
    assert_eq!(crate::support::rows(&app, "users").await, 99_994);

    // A stray quote: nothing is imported, and the answer says where.
    let bad = dir.join("stray-quote.csv");
    std::fs::write(
        &bad,
        "email,name\nq1@example.com,Al\nq2@example.com,\"Bob\nq3@example.com,Cy\n",
    )
    .expect("csv");
    page.pick_file("#csv-file", &bad).await;
    page.wait_text("#preview-summary", "stray-quote.csv").await;
    page.click("#import").await;
    page.wait_text("[role=alert]", "Nothing was imported").await;
    page.wait_text("[role=alert]", "line 3").await;
    assert_eq!(crate::support::rows(&app, "users").await, 99_994);
    assert_no_errors(&page);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn invitations_are_sent_watched_and_the_failed_ones_resent() {
    let sink = SmtpSink::start().await;
    let app = mailing_app(&sink).await;
    upload_csv(
        &app,
        "email,name\nok1@example.com,One\nbounce@example.com,Bounce\nok2@example.com,Two\n",
    )
    .await;
    let browser = Browser::launch().await;
    let page = laptop(&browser).await;
    sign_in_with_key(&page, &app).await;
    page.click("a[href='#/invitations']").await;
    page.wait_text("main p", "3 invitees pending").await;
    page.wait_text("main p.muted", "No batch yet").await;
    assert_eq!(
        page.eval("document.querySelector('main [role=alert]').textContent")
            .await,
        json!(""),
        "no batch watched, none asked for"
    );
    assert_labelled(&page).await;
    page.click("input[aria-label='Select ok1@example.com']")
        .await;
    page.click("input[aria-label='Select bounce@example.com']")
        .await;
    page.click("#send-selected").await;
    page.wait_text("#batch-counts", "finished").await;
    page.wait_text(
        "#batch-counts",
        "2 mails: 0 queued, 1 sent, 0 being retried, 1 failed",
    )
    .await;
    page.wait_text("#batch td", "550").await;
    screenshot(&page, "invitations").await;
    assert_eq!(
        sink.messages()
            .iter()
            .map(|m| m.to.join(","))
            .collect::<Vec<_>>(),
        ["ok1@example.com"]
    );

    page.click("#resend-failed").await;
    page.wait_text(
        "#batch-counts",
        "1 mails: 0 queued, 0 sent, 0 being retried, 1 failed — finished",
    )
    .await;
    let batches: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT batch_id) FROM email_deliveries WHERE to_address = 'bounce@example.com'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("batches");
    assert_eq!(
        batches, 2,
        "the failed mail was queued again, in a batch of its own"
    );

    page.click("#send-all").await;
    page.wait_text("#batch-counts", "2 mails").await;
    page.wait_text("#batch-counts", "finished").await;
    eventually(
        Duration::from_secs(10),
        "ok2 never got its mail",
        async || {
            sink.messages()
                .iter()
                .any(|m| m.to == ["ok2@example.com"])
                .then_some(())
        },
    )
    .await;
    page.wait_text("main td", "bounce@example.com").await;
    assert_no_errors(&page);
}

#[tokio::test]
async fn monitoring_shows_health_jobs_per_minute_and_the_audit_log_and_tokens_are_managed() {
    let app = app_with_workers().await;
    upload_csv(&app, "email\na@example.com\n").await;
    app.producer
        .push(&jobs::SendEmail { delivery_id: 1 })
        .await
        .expect("push");
    let browser = Browser::launch().await;
    let page = laptop(&browser).await;
    sign_in_with_key(&page, &app).await;
    page.click("a[href='#/monitoring']").await;
    page.wait_text("[data-check=database] strong", "up").await;
    page.wait_text("[data-check=redis] strong", "up").await;
    page.wait_for("the chart", "!!document.querySelector('#throughput svg')")
        .await;
    // The job pushed above is done and drawn; the chart refreshes every 10 s.
    page.wait_text("#throughput .legend", "1 done").await;
    assert_eq!(
        page.eval("document.querySelectorAll('#throughput rect.done').length")
            .await,
        json!(60),
        "a bar per minute"
    );
    page.wait_text("td", "csv_uploaded").await;
    assert_labelled(&page).await;
    screenshot(&page, "monitoring").await;
    page.fill("#audit-action", "no_such_action").await;
    page.press("Enter").await;
    page.wait_text("main p.muted", "Nothing recorded").await;

    // API tokens: created and shown once, listed with their last use, revoked.
    page.click("a[href='#/tokens']").await;
    page.fill("#token-name", "deploy bot").await;
    page.press("Enter").await;
    let token = page
        .wait_for(
            "the new token",
            "document.querySelector('#new-token')?.textContent",
        )
        .await;
    let token = token.as_str().expect("token").to_owned();
    assert!(token.starts_with("cnc_"), "{token}");
    page.wait_text("td", "deploy bot").await;
    assert_eq!(
        page.eval("document.querySelector('td[data-label=\"Last used\"]').textContent")
            .await,
        json!("never"),
        "not used yet"
    );
    screenshot(&page, "tokens").await;
    let used = app
        .get("/api/users")
        .bearer_auth(&token)
        .answer("use the token")
        .await;
    assert_eq!(used.status(), 200);
    page.goto(&format!("{}/admin#/monitoring", app.address))
        .await;
    page.goto(&format!("{}/admin#/tokens", app.address)).await;
    page.wait_for(
        "the token's last use",
        "[...document.querySelectorAll('td[data-label=\"Last used\"]')].some((td) => td.textContent !== 'never')",
    )
    .await;
    assert!(!page.text().await.contains(&token), "shown once only");
    page.click("button[aria-label='Revoke deploy bot']").await;
    page.wait_text("td[data-label=State]", "revoked").await;
    assert_eq!(
        page.eval("document.querySelectorAll('button[aria-label=\"Revoke deploy bot\"]').length")
            .await,
        json!(0),
        "a revoked token cannot be revoked again"
    );
    let refused = app
        .get("/api/users")
        .bearer_auth(&token)
        .answer("a revoked token")
        .await;
    assert_eq!(refused.status(), 401);
    assert_no_errors(&page);
}

#[tokio::test]
async fn the_job_dashboard_shares_the_look_and_shows_oldest_waiting_only_when_a_job_waits() {
    let app = spawn_app().await;
    let browser = Browser::launch().await;
    let page = laptop(&browser).await;
    // Signed in on the console, the dashboard needs no second sign-in.
    sign_in_with_key(&page, &app).await;
    page.click("a[href='/dashboard']").await;
    page.wait_for(
        "the queues",
        "!!document.querySelector('tr[data-queue=send_email]')",
    )
    .await;
    let oldest = "document.querySelector('tr[data-queue=send_email] .oldest-waiting').textContent";
    assert_eq!(page.eval(oldest).await, json!("—"), "nothing waits");
    assert_eq!(
        page.eval("getComputedStyle(document.querySelector('header.top')).backgroundColor")
            .await,
        json!("rgb(29, 35, 48)"),
        "the console's stylesheet"
    );
    app.producer
        .push(&jobs::SendEmail { delivery_id: 1 })
        .await
        .expect("push");
    // The queues arrive every two seconds on the event stream.
    page.wait_for(
        "an age for the waiting job",
        &format!("{oldest}.endsWith(' s')"),
    )
    .await;
    page.wait_for("the chart", "!!document.querySelector('#throughput svg')")
        .await;
    assert_labelled(&page).await;
    screenshot(&page, "dashboard").await;
    assert_no_errors(&page);
}

/// Every section on a phone: it fits the screen's width, and its controls are labelled.
#[tokio::test]
async fn every_section_fits_a_phone() {
    let app = app_with_workers().await;
    upload_csv(
        &app,
        "email,name\nphone@example.com,A Rather Long Name For A Small Screen\n",
    )
    .await;
    let browser = Browser::launch().await;
    let phone = browser.page(390, 844, true).await;
    sign_in_with_key(&phone, &app).await;
    for (section, ready) in [
        ("#/users/1", "#reissue"),
        ("#/import", "#csv-file"),
        ("#/invitations", "#send-all"),
        ("#/monitoring", "#throughput svg"),
        ("#/tokens", "#token-name"),
    ] {
        phone.goto(&format!("{}/admin{section}", app.address)).await;
        phone
            .wait_for(
                section,
                &format!("!!document.querySelector({})", json!(ready)),
            )
            .await;
        assert_fits(&phone).await;
        assert_labelled(&phone).await;
    }
    // Leaving a section before its answer came: the answer is not drawn over the next one.
    phone.goto(&format!("{}/admin#/users/1", app.address)).await;
    phone
        .goto(&format!("{}/admin#/monitoring", app.address))
        .await;
    phone
        .wait_for("monitoring", "!!document.querySelector('#throughput svg')")
        .await;
    assert_eq!(
        phone.eval("document.title").await,
        json!("Concierge · Monitoring")
    );
    phone.goto(&format!("{}/dashboard", app.address)).await;
    phone
        .wait_for(
            "the dashboard",
            "!!document.querySelector('#throughput svg')",
        )
        .await;
    assert_fits(&phone).await;
    screenshot(&phone, "dashboard-phone").await;
    assert_no_errors(&phone);
}
