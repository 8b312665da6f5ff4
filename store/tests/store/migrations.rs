//! The migrations: the schema they build is the one the code's queries expect, replicas run
//! them once, upgrades from every frozen snapshot in `fixtures/` keep every row, and emails
//! stay unique whatever their case.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sqlx::{Executor, PgPool};
use testkit::TestDb;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Tables of the application schema (refinery's history table aside).
async fn tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
           AND table_name <> 'refinery_schema_history'
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("list tables")
}

/// Every row of every table, as JSON, in a stable order.
async fn snapshot(pool: &PgPool) -> BTreeMap<String, Vec<Value>> {
    let mut all = BTreeMap::new();
    for table in tables(pool).await {
        let rows: Vec<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT to_jsonb(t) FROM {table} t ORDER BY to_jsonb(t)::text"
        )))
        .fetch_all(pool)
        .await
        .expect("read table");
        all.insert(table, rows);
    }
    all
}

fn fixture(version: i32) -> String {
    let path = workspace().join(format!("store/tests/store/fixtures/V{version}.sql"));
    std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: every schema version needs fixture rows for the upgrade test",
            path.display()
        )
    })
}

#[tokio::test]
async fn migrations_build_the_schema_from_nothing_and_rerun_as_a_no_op() {
    let db = TestDb::empty().await;
    assert_eq!(
        store::migrate::applied_version(&db.pool)
            .await
            .expect("query"),
        None
    );
    let applied = store::migrate::run(&db.pool, None).await.expect("migrate");
    assert_eq!(applied, store::migrate::embedded());
    assert_eq!(
        store::migrate::applied_version(&db.pool)
            .await
            .expect("query"),
        Some(store::migrate::latest_version())
    );
    let again = store::migrate::run(&db.pool, None)
        .await
        .expect("migrate again");
    assert!(again.is_empty(), "nothing left to apply");
}

#[tokio::test]
async fn replicas_migrating_at_once_apply_each_migration_once() {
    let db = TestDb::empty().await;
    let runs = futures::future::join_all((0..4).map(|_| store::migrate::run(&db.pool, None))).await;
    let mut applied = 0;
    for run in runs {
        applied += run.expect("every replica succeeds").len();
    }
    assert_eq!(applied, store::migrate::embedded().len());
}

/// Every query of the code (its compile-time data in `.sqlx/`) still describes the same
/// against a database built by the migrations alone: same parameter and column types, same
/// nullability. The offline build proves every query of the code has its data in `.sqlx/`.
#[tokio::test]
async fn the_codes_queries_match_the_migrated_schema() {
    let db = TestDb::empty().await;
    store::migrate::run(&db.pool, None).await.expect("migrate");
    let dir = workspace().join(".sqlx");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect(".sqlx exists") {
        let path = entry.expect("entry").path();
        let data: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        let query = data["query"].as_str().expect("query text").to_owned();
        let described = db
            .pool
            .describe(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(
                query.clone(),
            )))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "query of {} no longer prepares: {e}\n{query}",
                    path.display()
                )
            });
        let mut described = serde_json::to_value(&described).expect("serialize");
        let mut committed = data["describe"].clone();
        // A column whose nullability the code states itself (`"name?"`, `"name!"`) does not
        // rely on the inferred one, which for outer joins depends on the query plan (and so on
        // table statistics): leave it out of the comparison.
        for d in [&mut described, &mut committed] {
            let overridden: Vec<usize> = d["columns"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .enumerate()
                        .filter(|(_, c)| {
                            c["name"]
                                .as_str()
                                .is_some_and(|n| n.ends_with('?') || n.ends_with('!'))
                        })
                        .map(|(i, _)| i)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(nullable) = d["nullable"].as_array_mut() {
                for i in overridden {
                    if let Some(n) = nullable.get_mut(i) {
                        *n = Value::Null;
                    }
                }
            }
        }
        assert_eq!(
            described,
            committed,
            "{} describes differently against the migrated schema:\n{query}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked > 0, "found no query data in {}", dir.display());
}

/// Columns a migration drops on purpose, as `(version, table, column)`: every other column of
/// the previous schema must survive an upgrade with its values.
const DELIBERATE_DROPS: &[(i32, &str, &str)] = &[];

/// Each migration from the second on, applied to a database at the previous version holding
/// rows in every table, keeps every row and every value of the columns that remain.
#[tokio::test]
async fn upgrades_keep_every_row() {
    let versions: Vec<i32> = store::migrate::embedded()
        .iter()
        .map(|m| m.version)
        .collect();
    for pair in versions.windows(2) {
        let (previous, next) = (pair[0], pair[1]);
        let db = TestDb::empty().await;
        store::migrate::run(&db.pool, Some(previous))
            .await
            .expect("migrate to previous");
        db.pool
            .execute(sqlx::AssertSqlSafe(fixture(previous)))
            .await
            .expect("load fixture");
        let before = snapshot(&db.pool).await;
        store::migrate::run(&db.pool, Some(next))
            .await
            .expect("upgrade");
        let after = snapshot(&db.pool).await;
        for (table, rows) in &before {
            let now = after.get(table).unwrap_or_else(|| {
                panic!("V{next} dropped table {table} and its {} rows", rows.len())
            });
            assert_eq!(
                rows.len(),
                now.len(),
                "V{next} changed the row count of {table}"
            );
            for (old, new) in rows.iter().zip(now) {
                for (column, value) in old.as_object().expect("row object") {
                    match new.get(column) {
                        Some(new_value) => {
                            assert_eq!(value, new_value, "V{next} changed {table}.{column}")
                        }
                        None => assert!(
                            DELIBERATE_DROPS.contains(&(next, table.as_str(), column.as_str())),
                            "V{next} dropped {table}.{column} and its values; list it in DELIBERATE_DROPS if meant"
                        ),
                    }
                }
            }
        }
    }
}

/// The newest fixture fills every table of the newest schema, so the next migration's upgrade
/// test starts from real rows everywhere.
#[tokio::test]
async fn the_newest_fixture_covers_every_table() {
    let db = TestDb::empty().await;
    store::migrate::run(&db.pool, None).await.expect("migrate");
    db.pool
        .execute(sqlx::AssertSqlSafe(fixture(
            store::migrate::latest_version(),
        )))
        .await
        .expect("the fixture loads into the newest schema");
    let snapshot = snapshot(&db.pool).await;
    let empty: Vec<&String> = snapshot
        .iter()
        .filter(|(_, rows)| rows.is_empty())
        .map(|(t, _)| t)
        .collect();
    assert!(empty.is_empty(), "tables without fixture rows: {empty:?}");
}

/// Every foreign key has an index that leads with its column and covers every row (not a
/// partial one): deleting a referenced row (a user, a token) then finds its referencing rows
/// through it instead of scanning their whole table once per deleted row.
#[tokio::test]
async fn every_foreign_key_has_an_index() {
    let db = TestDb::empty().await;
    store::migrate::run(&db.pool, None).await.expect("migrate");
    let unindexed: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, a.attname::text
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND NOT EXISTS (
             SELECT 1 FROM pg_index i
             WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1] AND i.indpred IS NULL
               AND i.indisvalid)
         ORDER BY 1, 2",
    )
    .fetch_all(&db.pool)
    .await
    .expect("foreign keys");
    assert!(
        unindexed.is_empty(),
        "foreign keys without an index leading with their column: {unindexed:?}"
    );
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case() {
    let db = TestDb::new().await;
    sqlx::query("INSERT INTO users (email) VALUES ('Ada@Example.com')")
        .execute(&db.pool)
        .await
        .expect("insert");
    let err = sqlx::query("INSERT INTO users (email) VALUES ('ada@example.COM')")
        .execute(&db.pool)
        .await
        .expect_err("duplicate");
    let db_err = err.as_database_error().expect("database error");
    assert_eq!(db_err.constraint(), Some("users_email_key"));
    sqlx::query("INSERT INTO users (email, password_hash, username) VALUES ('b@example.com', NULL, NULL), ('c@example.com', NULL, NULL)")
        .execute(&db.pool)
        .await
        .expect("password_hash and username are nullable, and NULL usernames do not collide");
}
