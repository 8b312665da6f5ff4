//! Waiting for what a fake server received, woken by the server on each arrival instead of
//! polling: the one loop behind the fakes' `wait_for`s.

use std::time::Duration;

use tokio::sync::Notify;

/// Runs `check` now and after each wake-up of `notify` until it returns `Ok`; after `timeout`
/// without one, returns `check`'s last `Err` (what arrived, for the caller's panic message).
pub(crate) async fn until<T, E>(
    notify: &Notify,
    timeout: Duration,
    check: impl Fn() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Registered before the check, so an arrival between the two still wakes us.
        let notified = notify.notified();
        let last = check();
        if last.is_ok() {
            return last;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return last;
        }
    }
}
