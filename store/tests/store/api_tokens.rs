//! API tokens: stored as digests, and authenticating only while live.

use chrono::{Duration, Utc};
use store::api_tokens;
use testkit::TestDb;

/// The live token `token` authenticates as, if any.
async fn authenticated(db: &TestDb, token: &str) -> Option<api_tokens::ApiToken> {
    api_tokens::authenticate(&db.pool, token)
        .await
        .expect("query")
}

#[tokio::test]
async fn tokens_are_stored_hashed_and_authenticate_while_live() {
    let db = TestDb::new().await;
    let created = api_tokens::create(&db.pool, "deploy bot", "admin", None, None)
        .await
        .expect("create");
    assert!(created.token.starts_with(api_tokens::TOKEN_PREFIX));
    assert!(created.token.starts_with(&created.record.token_prefix));

    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE id = $1")
        .bind(created.record.id)
        .fetch_one(&db.pool)
        .await
        .expect("row");
    assert_eq!(
        stored,
        store::secret::digest(&created.token),
        "only the digest is stored"
    );
    let plain: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE token_prefix = $1 OR name = $1")
            .bind(&created.token)
            .fetch_one(&db.pool)
            .await
            .expect("count");
    assert_eq!(plain, 0);

    let found = authenticated(&db, &created.token).await.expect("live");
    assert_eq!(found.id, created.record.id);
    assert!(
        found.last_used_at.is_none(),
        "the use being authenticated is recorded after it"
    );
    let again = authenticated(&db, &created.token).await.expect("live");
    assert!(again.last_used_at.is_some());

    assert!(authenticated(&db, "cnc_wrong").await.is_none());
    assert!(authenticated(&db, "wrong").await.is_none());

    let expired = api_tokens::create(
        &db.pool,
        "old",
        "admin",
        None,
        Some(Utc::now() - Duration::seconds(1)),
    )
    .await
    .expect("create");
    assert!(authenticated(&db, &expired.token).await.is_none());

    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1")
        .bind(created.record.id)
        .execute(&db.pool)
        .await
        .expect("revoke");
    assert!(authenticated(&db, &created.token).await.is_none());
}
