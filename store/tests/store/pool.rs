//! The pool: a connection the server closed while it sat idle is replaced, not handed to a
//! query.

use std::time::Duration;

use testkit::TestDb;

/// The pool's backend pid (one connection, so the same one each time it is idle).
async fn backend(pool: &sqlx::PgPool) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
        .expect("pg_backend_pid")
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced() {
    let db = TestDb::new().await;
    let mut settings = db.settings.clone();
    settings.max_connections = 1;
    let pool = store::connect(&settings);
    let first = backend(&pool).await;
    // A restart or an idle timeout, as the pool sees it: the server ends the session (and
    // the call returns once it has ended).
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 10000)")
        .bind(first)
        .fetch_one(&db.pool)
        .await
        .expect("terminate");
    assert!(ended);
    // Idle past the check: the next use finds the connection dead and opens another.
    tokio::time::sleep(store::pool::CHECK_AFTER_IDLE + Duration::from_millis(200)).await;
    let second = backend(&pool).await;
    assert_ne!(first, second, "the dead connection was replaced");
}
