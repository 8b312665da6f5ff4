//! Adopting the replaced systems' databases (`store::adopt`), each built from the model its
//! seed describes (`fixtures/legacy/`, with where each column comes from): the first migration
//! cannot run beside their tables; set aside, migrated and imported, every legacy row is kept
//! and every user arrives in our shape.

use std::time::Duration;

use sqlx::{Executor, PgPool, Row};
use testkit::TestDb;

const WEEK: Duration = Duration::from_secs(7 * 86_400);

/// A database holding seed `name`'s tables and rows, nothing of ours.
async fn legacy(name: &str) -> TestDb {
    let path = format!(
        "{}/tests/store/fixtures/legacy/seed_{name}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let sql = std::fs::read_to_string(&path).expect("fixture");
    let db = TestDb::empty().await;
    db.pool
        .execute(sqlx::AssertSqlSafe(sql))
        .await
        .unwrap_or_else(|e| panic!("load {path}: {e}"));
    db
}

/// Sets the legacy tables aside, migrates and imports: what `concierge migrate --adopt` does.
async fn adopt(pool: &PgPool) -> store::adopt::Report {
    let found = store::adopt::foreign_tables(pool).await.expect("tables");
    assert!(
        matches!(found, store::adopt::Found::Legacy(_)),
        "a legacy database is recognised: {found:?}"
    );
    let refused = store::migrate::run(pool, None).await;
    assert!(
        refused.is_err(),
        "the first migration cannot run beside the legacy tables"
    );
    store::adopt::set_aside(pool).await.expect("set aside");
    assert!(
        store::adopt::pending(pool).await.expect("mark"),
        "under way"
    );
    store::migrate::run(pool, None).await.expect("migrate");
    let report = store::adopt::import(pool, WEEK).await.expect("import");
    assert!(!store::adopt::pending(pool).await.expect("mark"), "done");
    let again = store::adopt::import(pool, WEEK).await.expect("again");
    assert!(again.already_done, "the import runs once");
    report
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// (email, full_name, username, role, is_active, verified, has a password) of every user.
async fn users(
    pool: &PgPool,
) -> Vec<(
    String,
    Option<String>,
    Option<String>,
    String,
    bool,
    bool,
    bool,
)> {
    sqlx::query(
        "SELECT email, full_name, username, role, is_active, verified, password_hash IS NOT NULL \
         FROM users ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("users")
    .into_iter()
    .map(|r| {
        (
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
        )
    })
    .collect()
}

/// Every legacy row is still there, and mapped to what became of it.
async fn assert_kept(pool: &PgPool, rows: i64) {
    assert_eq!(count(pool, "SELECT count(*) FROM legacy.users").await, rows);
    assert_eq!(
        count(pool, "SELECT count(*) FROM legacy.concierge_users").await,
        rows
    );
}

fn owned(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[tokio::test]
async fn seed_004_without_usernames_is_adopted() {
    let db = legacy("004a").await;
    let report = adopt(&db.pool).await;
    assert_eq!((report.rows, report.users), (5, 4), "{report}");
    assert_eq!(
        report.merged,
        [(4, 3)],
        "Ada@Example.com joins ada@example.com"
    );
    // The owner's role is kept; a role with no equivalent is named; the two rows that claim
    // one address bring no credential (either may be the squatter).
    assert!(
        report
            .changed
            .iter()
            .any(|(id, what)| *id == 3 && what.contains("shares its email with legacy rows [4]")),
        "{:?}",
        report.changed
    );
    assert_eq!(
        users(&db.pool).await,
        [
            (
                "Owner@paiid.example".into(),
                owned("Sam Owner"),
                None,
                "admin".into(),
                true,
                false,
                true
            ),
            (
                "legacy.trader@example.com".into(),
                owned("legacy.trader@example.com"),
                None,
                "personal_only".into(),
                true,
                false,
                true
            ),
            (
                "ada@example.com".into(),
                owned("Ada Lovelace"),
                None,
                "personal_only".into(),
                true,
                false,
                false
            ),
            (
                "mvp-user@example.com".into(),
                None,
                None,
                "personal_only".into(),
                false,
                false,
                false
            ),
        ]
    );
    assert_kept(&db.pool, 5).await;
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM legacy.user_sessions").await,
        2
    );
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM legacy.activity_log").await,
        2
    );
    // The times were UTC without a zone, and stay the same instants.
    let created: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT created_at FROM users WHERE role = 'admin'")
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!(created.to_rfc3339(), "2025-10-13T02:30:00+00:00");
}

#[tokio::test]
async fn seed_004_with_usernames_is_adopted() {
    let db = legacy("004b").await;
    let report = adopt(&db.pool).await;
    assert_eq!((report.rows, report.users), (5, 4), "{report}");
    assert_eq!(report.merged, [(3, 2)], "kim@ joins Kim@");
    let usernames: Vec<Option<String>> = users(&db.pool).await.into_iter().map(|u| u.2).collect();
    assert_eq!(
        usernames,
        [owned("sam"), owned("Kim"), None, None],
        "an empty username is none"
    );
    assert_kept(&db.pool, 5).await;
}

#[tokio::test]
async fn seed_003s_invitees_keep_their_tokens() {
    let db = legacy("003").await;
    let report = adopt(&db.pool).await;
    assert_eq!((report.rows, report.users), (5, 5), "{report}");
    assert_eq!(report.invitations, (3, 1, 1), "usable, verified, expired");
    let statuses: Vec<(String, String)> = sqlx::query(
        "SELECT u.email, i.status FROM invitations i JOIN users u ON u.id = i.user_id ORDER BY u.id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("rows")
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(
        statuses,
        [
            ("priya.sharma@example.edu".to_owned(), "sent".to_owned()),
            ("arjun.rao@example.edu".into(), "expired".into()),
            ("meera.iyer@example.edu".into(), "verified".into()),
            ("rahul.nair@example.edu".into(), "sent".into()),
            ("zoe.muller@example.edu".into(), "sent".into()),
        ]
    );
    let verify = async |email: &str, token: &str| {
        let email = store::email::Email::parse(email).expect("email");
        store::invitations::verify(&db.pool, &email, token)
            .await
            .expect("verify")
    };
    // A live legacy token verifies its invitee, once, as a token we issued would.
    assert!(matches!(
        verify("priya.sharma@example.edu", "K7Q2ZD").await,
        store::invitations::Verification::Verified { .. }
    ));
    assert!(matches!(
        verify("priya.sharma@example.edu", "K7Q2ZD").await,
        store::invitations::Verification::AlreadyVerified { .. }
    ));
    // An expired one does not; a used one's invitee stays verified.
    assert!(matches!(
        verify("arjun.rao@example.edu", "9XM4PL").await,
        store::invitations::Verification::Invalid
    ));
    assert!(matches!(
        verify("meera.iyer@example.edu", "B3TT8R").await,
        store::invitations::Verification::AlreadyVerified { .. }
    ));
    let (name, channel): (String, String) = sqlx::query_as(
        "SELECT full_name, communication_channel FROM users WHERE email = 'zoe.muller@example.edu'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert_eq!((name.as_str(), channel.as_str()), ("Zoë Müller", "discord"));
    assert_kept(&db.pool, 5).await;
}

#[tokio::test]
async fn seed_001s_discord_ids_become_links() {
    let db = legacy("001").await;
    let report = adopt(&db.pool).await;
    assert_eq!(
        (report.rows, report.users, report.discord_links),
        (5, 5, 3),
        "{report}"
    );
    let links: Vec<(String, String, bool)> = sqlx::query(
        "SELECT u.email, i.subject, i.confirmed_at IS NOT NULL FROM identities i \
         JOIN users u ON u.id = i.user_id WHERE i.provider = 'discord' ORDER BY u.id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("rows")
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    assert_eq!(
        links,
        [
            (
                "ada@example.com".to_owned(),
                "80351110224678912".to_owned(),
                true
            ),
            (
                "lin.wei@example.com".into(),
                "1190000000000000001".into(),
                true
            ),
            // Unverified: the link is kept, but does not pass the gate until proven.
            (
                "no-name@example.com".into(),
                "999999999999999999".into(),
                false
            ),
        ]
    );
    let found = store::identities::discord_owner(&db.pool, "80351110224678912")
        .await
        .expect("lookup");
    assert!(found.is_some(), "the bot finds the member by Discord id");
    let emails: Vec<String> = users(&db.pool).await.into_iter().map(|u| u.0).collect();
    assert!(
        emails.contains(&"Maria.Garcia@example.com".to_owned()),
        "{emails:?}"
    );
    let personality: Option<String> =
        sqlx::query_scalar("SELECT personality FROM users WHERE email = 'john@example.com'")
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!(personality.as_deref(), Some("loving"));
    assert_kept(&db.pool, 5).await;
}

#[tokio::test]
async fn seed_002s_google_accounts_are_kept() {
    let db = legacy("002").await;
    let report = adopt(&db.pool).await;
    // Sous.Chef@ and sous.chef@ are two Google accounts claiming one address: neither link
    // is kept (either could be a squatter's), and both are named for an admin.
    assert_eq!(
        (report.rows, report.users, report.google_links),
        (3, 2, 1),
        "{report}"
    );
    assert_eq!(report.merged, [(3, 2)]);
    for (legacy_id, named) in [(2, "shares its email"), (3, "Google id")] {
        assert!(
            report
                .changed
                .iter()
                .any(|(id, what)| *id == legacy_id && what.contains(named)),
            "{legacy_id}: {named} in {:?}",
            report.changed
        );
    }
    let usernames: Vec<Option<String>> = users(&db.pool).await.into_iter().map(|u| u.2).collect();
    assert_eq!(usernames, [owned("chef.one"), owned("SousChef")]);
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM legacy.refresh_tokens").await,
        3
    );
    assert_kept(&db.pool, 3).await;
}

#[tokio::test]
async fn a_database_of_ours_is_never_taken_for_a_legacy_one() {
    let db = TestDb::new().await;
    let found = store::adopt::foreign_tables(&db.pool)
        .await
        .expect("tables");
    assert_eq!(found, store::adopt::Found::Nothing);
    let empty = TestDb::empty().await;
    let found = store::adopt::foreign_tables(&empty.pool)
        .await
        .expect("tables");
    assert_eq!(found, store::adopt::Found::Nothing);
    // Our tables with their history lost are refused, not adopted.
    db.pool
        .execute("DELETE FROM refinery_schema_history")
        .await
        .expect("lose the history");
    let found = store::adopt::foreign_tables(&db.pool)
        .await
        .expect("tables");
    assert!(
        matches!(found, store::adopt::Found::OursWithoutHistory(_)),
        "{found:?}"
    );
    assert_eq!(
        store::adopt::set_aside(&db.pool).await.expect("looked"),
        found,
        "nothing was moved"
    );
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM public.users").await,
        0
    );
}

/// Seed databases may hold functions and views too: a legacy `set_updated_at()` (the name of
/// our trigger function) moves aside with the tables, so the first migration runs.
#[tokio::test]
async fn legacy_functions_and_views_move_aside_too() {
    let db = legacy("004b").await;
    db.pool
        .execute(
            "CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$; \
             CREATE VIEW active_users AS SELECT id, email FROM users WHERE is_active; \
             CREATE TYPE plan AS ENUM ('free', 'pro')",
        )
        .await
        .expect("legacy objects");
    let report = adopt(&db.pool).await;
    assert_eq!(report.rows, 5);
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM legacy.active_users").await,
        4,
        "the view moved with its table"
    );
}

/// A row the schema refuses is skipped alone: names that are distinct to Rust's lowercasing
/// but one to Postgres' `lower()` (the final sigma) cannot roll the whole import back.
#[tokio::test]
async fn a_row_the_schema_refuses_is_skipped_not_the_import() {
    let db = legacy("004b").await;
    db.pool
        .execute(
            "INSERT INTO users (id, email, password_hash, username, role, is_active, created_at, \
             updated_at, preferences) VALUES \
             (6, 'odysseus@example.com', '', 'ΟΔΥΣΣΕΥΣ', 'personal_only', true, now(), now(), '{}'), \
             (7, 'other@example.com', '', 'οδυσσευσ', 'personal_only', true, now(), now(), '{}')",
        )
        .await
        .expect("two legacy rows");
    let report = adopt(&db.pool).await;
    assert_eq!(report.rows, 7);
    assert_eq!(
        report.users + report.merged.len() as u64 + report.skipped.len() as u64,
        7,
        "every row is accounted for: {report}"
    );
    assert_kept(&db.pool, 7).await;
}
