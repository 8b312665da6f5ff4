//! Integration tests of the HTTP API: the app in-process on a free port, against real
//! Postgres and Redis (see `testkit`).

mod attacks;
mod board;
mod discord;
mod docs;
mod errors;
mod health;
mod invitations;
mod sessions;

/// The app with its workers running in-process.
pub async fn app_with_workers() -> testkit::TestApp {
    testkit::spawn_app_with(testkit::AppOptions {
        workers: true,
        ..testkit::AppOptions::default()
    })
    .await
}

/// Headless Chromium (Debian's package; `.ci/run` installs it) loads `url`, runs its scripts
/// for up to 10 s of virtual time, and gives the resulting DOM.
pub async fn rendered_dom(url: String) -> String {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("Chromium is needed for this test: apt-get install chromium (.ci/run does)");
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
