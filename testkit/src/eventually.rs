//! Polling for state no fake announces (rows in the database, a job's recorded outcome, files
//! the workers write): the one deadline loop behind the tests' waits for it.

use std::time::Duration;

/// How long [`eventually`] sleeps between two looks: short beside the waits it serves, long
/// enough not to load the database it asks.
const EVERY: Duration = Duration::from_millis(50);

/// Runs `check` until it gives `Some`, and gives that; panics with `failure` once `within` has
/// passed without one (a test's own words for what never happened).
pub async fn eventually<T>(
    within: Duration,
    failure: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{failure} (waited {within:?})"
        );
        tokio::time::sleep(EVERY).await;
    }
}
