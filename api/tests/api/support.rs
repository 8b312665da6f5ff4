//! What the API's tests share: the apps they start, the workers they bring up late, a browser,
//! and the one way they send a request and read its answer.

use std::time::Duration;

use reqwest::{RequestBuilder, Response};
use serde_json::Value;
use testkit::{AppOptions, SmtpSink, TestApp, spawn_app_with};
use tokio_util::sync::CancellationToken;

/// Sending a request and reading its answer, with the step named in the panic when no answer
/// comes (the assertions on the answer stay in the test, at its own line).
pub(crate) trait Answer {
    /// The response to the request; `what` names the request should it fail.
    async fn answer(self, what: &str) -> Response;
    /// The response's JSON body.
    async fn answer_json(self, what: &str) -> Value;
}

impl Answer for RequestBuilder {
    async fn answer(self, what: &str) -> Response {
        self.send().await.expect(what)
    }

    async fn answer_json(self, what: &str) -> Value {
        self.answer(what).await.json().await.expect("json")
    }
}

/// The value of the response's header `name` (which it must have, in ASCII).
pub(crate) fn header<'a>(resp: &'a Response, name: &str) -> &'a str {
    resp.headers()[name].to_str().expect("ascii")
}

/// The entry of the JSON array `list` whose `field` is `value`.
pub(crate) fn entry<'a>(list: &'a Value, field: &str, value: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .find(|e| e[field] == value)
        .unwrap_or_else(|| panic!("no {field} {value} in {list}"))
}

/// `DELETE {address}{path}` without credentials ([`TestApp`] has the admin's only).
pub(crate) fn delete(app: &TestApp, path: &str) -> RequestBuilder {
    app.client.delete(format!("{}{path}", app.address))
}

/// The app with its workers running in-process.
pub async fn app_with_workers() -> TestApp {
    spawn_app_with(AppOptions {
        workers: true,
        ..AppOptions::default()
    })
    .await
}

/// The app with its workers, signing in against the fake OAuth provider.
pub(crate) async fn oauth_app() -> TestApp {
    spawn_app_with(AppOptions {
        workers: true,
        oauth: true,
        ..AppOptions::default()
    })
    .await
}

/// The app with its workers, mailing through `sink`.
pub(crate) async fn mailing_app(sink: &SmtpSink) -> TestApp {
    spawn_app_with(AppOptions {
        workers: true,
        smtp_port: Some(sink.port()),
        ..AppOptions::default()
    })
    .await
}

/// Behind a proxy on 127.0.0.1 that names the client in `X-Forwarded-For`, so one test can be
/// many callers.
pub(crate) fn behind_proxy() -> api::TrustedProxies {
    api::TrustedProxies::parse("127.0.0.1").expect("proxies")
}

/// `GET /api/jobs/{job_id}`: what the page polling for a job reads.
pub(crate) async fn job_status(app: &TestApp, job_id: &str) -> Value {
    app.get(&format!("/api/jobs/{job_id}"))
        .answer_json("status")
        .await
}

/// How many rows `table` holds (a name the test writes, never input).
pub(crate) async fn rows(app: &TestApp, table: &'static str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&app.db.pool)
        .await
        .expect("count")
}

/// Waits up to 20 s for job `id` of `queue` to finish; `what` names the job should it not.
pub(crate) async fn finished(
    app: &TestApp,
    queue: &str,
    id: &jobs::JobId,
    what: &str,
) -> jobs::JobStatus {
    app.producer
        .wait(queue, id, Duration::from_secs(20))
        .await
        .expect("wait")
        .expect(what)
}

/// Workers started after the app (which has none of its own), for a job that waited.
pub(crate) struct LateWorkers {
    /// Ends the workers.
    stop: CancellationToken,
    /// Their run, awaited on [`LateWorkers::stop`] so the test ends after they did.
    run: tokio::task::JoinHandle<()>,
}

impl LateWorkers {
    /// Workers against the app's database, Redis and fake provider; `discord_redirect` is the
    /// callback the Discord exchange names (the fake's own landing when `None`).
    pub(crate) fn start(app: &TestApp, discord_redirect: Option<url::Url>) -> Self {
        let deps = testkit::worker_deps(
            &app.db,
            &app.producer,
            &app.sealing_key,
            app.oauth.as_ref(),
            discord_redirect,
            workers::providers::smtp::Mailer::files(&app.mail_dir),
        );
        let stop = CancellationToken::new();
        let run = workers::run(deps, testkit::fast_workers(), stop.clone());
        // How the run ended is not what these tests look at: only that it has.
        let run = tokio::spawn(async move {
            let _ = run.await;
        });
        Self { stop, run }
    }

    /// Stops the workers and waits for them.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        let _ = self.run.await;
    }
}

/// Headless Chromium (Debian's package; `.ci/run` installs it) loads `url`, runs its scripts
/// for up to 10 s of virtual time, and gives the resulting DOM.
pub async fn rendered_dom(url: String) -> String {
    let chromium = testkit::browser::chromium();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1400,900",
                "--virtual-time-budget=10000",
                "--dump-dom",
                &url,
            ])
            .output()
    })
    .await
    .expect("joined")
    .expect("run chromium");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
