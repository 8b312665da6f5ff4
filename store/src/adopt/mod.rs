//! Adopting the database of the systems Concierge replaces (`concierge migrate --adopt`).
//!
//! Their tables sit in `public` under names ours use (`users`, `refresh_tokens`), so the first
//! migration cannot run beside them. Adoption moves everything found in `public` before the
//! first migration into the schema `legacy` (tables with their indexes, constraints and
//! sequences, every row kept; views, functions, types), migrates, then converts
//! `legacy.users` into ours, whichever seed's shape it has (the columns are looked up, not
//! assumed):
//!
//! - seed 004: `email`, `password_hash` (`''` is no password), `full_name`, `username` (absent
//!   in older databases), `role` (`admin`/`owner` become admins, anything else
//!   `personal_only`), `is_active`;
//! - seed 003: invitees with `name` and a `token` from `token_created_at`: a live token stays
//!   usable until its expiry (`TOKEN_EXPIRY_DAYS` after it was made), a used one is
//!   a verified invitation, an old one an expired invitation;
//! - seed 001: `discord_id` (or `discord_user_id`), `verified`, `selected_personality`,
//!   `communication_channel`: a verified user's Discord id is a confirmed link (as V2 treats
//!   links made before it), an unverified one's an unconfirmed link;
//! - seed 002: `google_id` is a Google identity, `name` the username (its
//!   `/api/update_username` changes it); its refresh tokens are not carried (users sign in
//!   again).
//!
//! Emails are canonicalised as every other address is; rows whose email only differs in case
//! are one user (the first, by legacy id, keeps its fields). What cannot be kept as it was (an
//! invalid email, a username that is empty, too long or taken, a Discord id taken by another
//! row) is listed in the report, and `legacy.concierge_users` maps every legacy id to its user
//! and says what became of the row. Everything happens in one transaction per step; the
//! import runs once (a second `--adopt` finds it done).

//!
//! # Layout
//! - this file: recognising a legacy database, setting its tables aside, the report
//! - `import.rs`: converting `legacy.users` into ours

mod import;

use std::fmt;

use sqlx::PgPool;

pub use self::import::import;

/// The schema the adopted tables are moved to.
pub const LEGACY_SCHEMA: &str = "legacy";

/// Tables only Concierge makes: found without a migration history, they are ours with their
/// history lost, never a replaced system's.
const OURS: &[&str] = &[
    "identities",
    "one_time_tokens",
    "member_verifications",
    "job_effects",
    "email_deliveries",
    "refresh_token_families",
];

/// What `public` holds before the first migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing, or a migrated database of ours.
    Nothing,
    /// Another application's tables: adoptable.
    Legacy(Vec<String>),
    /// Tables of ours without their migration history: refused (adopting them would take our
    /// own users for legacy ones).
    OursWithoutHistory(Vec<String>),
}

/// What `public` holds that no migration of ours made. Errors are errors: a database that
/// cannot be read is never taken for one that needs adopting.
pub async fn foreign_tables(pool: &PgPool) -> Result<Found, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let found = examine(&mut conn).await?;
    Ok(found)
}

async fn examine(conn: &mut sqlx::PgConnection) -> Result<Found, sqlx::Error> {
    let has_history: bool =
        sqlx::query_scalar("SELECT to_regclass('public.refinery_schema_history') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    if has_history {
        let applied: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM public.refinery_schema_history)")
                .fetch_one(&mut *conn)
                .await?;
        if applied {
            return Ok(Found::Nothing);
        }
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename <> 'refinery_schema_history' ORDER BY tablename",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(if tables.is_empty() {
        Found::Nothing
    } else if tables.iter().any(|t| OURS.contains(&t.as_str())) {
        Found::OursWithoutHistory(tables)
    } else {
        Found::Legacy(tables)
    })
}

/// Moves everything the replaced systems made in `public` to [`LEGACY_SCHEMA`]: tables (with
/// their indexes, constraints and sequences), views, other sequences, functions and types,
/// except what extensions own. One transaction, under the migrations' lock, after looking
/// again (a replica may have migrated meanwhile); it leaves a mark that an adoption is under
/// way, so a plain `migrate` refuses to go on until the import has run.
pub async fn set_aside(pool: &PgPool) -> Result<Found, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(crate::migrate::MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    let found = examine(&mut tx).await?;
    if !matches!(found, Found::Legacy(_)) {
        return Ok(found);
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {LEGACY_SCHEMA}; \
         CREATE TABLE IF NOT EXISTS {LEGACY_SCHEMA}.concierge_adoption \
             (started_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
         INSERT INTO {LEGACY_SCHEMA}.concierge_adoption DEFAULT VALUES"
    )))
    .execute(&mut *tx)
    .await?;
    let statements: Vec<String> = sqlx::query_scalar(MOVES)
        .bind(LEGACY_SCHEMA)
        .fetch_all(&mut *tx)
        .await?;
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(found)
}

/// The `ALTER … SET SCHEMA` of every object of `public` not owned by an extension nor by a
/// table (a table's sequences, indexes and row type move with it), identifiers quoted.
const MOVES: &str = r#"
WITH public_ns AS (SELECT oid FROM pg_namespace WHERE nspname = 'public'),
extension_owned AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
SELECT format('ALTER %s public.%I SET SCHEMA %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                             ELSE 'TABLE' END,
              c.relname, $1)
FROM pg_class c
WHERE c.relnamespace = (SELECT oid FROM public_ns)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND c.relname <> 'refinery_schema_history'
  AND c.oid NOT IN (SELECT objid FROM extension_owned)
  AND NOT (c.relkind = 'S' AND EXISTS (
        SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT format('ALTER %s public.%I(%s) SET SCHEMA %I',
              CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                             ELSE 'FUNCTION' END,
              p.proname, pg_get_function_identity_arguments(p.oid), $1)
FROM pg_proc p
WHERE p.pronamespace = (SELECT oid FROM public_ns)
  AND p.oid NOT IN (SELECT objid FROM extension_owned)
UNION ALL
SELECT format('ALTER TYPE public.%I SET SCHEMA %I', t.typname, $1)
FROM pg_type t
WHERE t.typnamespace = (SELECT oid FROM public_ns)
  AND t.typtype IN ('e', 'd', 'c', 'r')
  AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  AND t.oid NOT IN (SELECT objid FROM extension_owned)
"#;

/// An adoption was started (the legacy objects set aside) and its import has not run: a
/// plain migration must not serve this database yet.
pub async fn pending(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT to_regclass('legacy.concierge_adoption') IS NOT NULL \
         AND to_regclass('legacy.concierge_users') IS NULL",
    )
    .fetch_one(pool)
    .await
}

/// What the import did, for the operator.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Legacy user rows read.
    pub rows: u64,
    /// Users created.
    pub users: u64,
    /// Rows folded into an earlier row with the same email in another case: (legacy id, the
    /// legacy id it joined).
    pub merged: Vec<(i64, i64)>,
    /// Rows not imported: (legacy id, why).
    pub skipped: Vec<(i64, String)>,
    /// Rows imported with a field left out: (legacy id, what and why).
    pub changed: Vec<(i64, String)>,
    pub discord_links: u64,
    pub google_links: u64,
    /// Invitations: (still usable, verified, expired).
    pub invitations: (u64, u64, u64),
    /// The import had run before: nothing was done now.
    pub already_done: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.already_done {
            return f.write_str("the legacy users were imported before; nothing to do");
        }
        let (live, verified, expired) = self.invitations;
        write!(
            f,
            "{} legacy rows: {} users, {} merged (same email), {} skipped, {} changed; \
             {} Discord and {} Google links; invitations: {live} usable, {verified} verified, \
             {expired} expired",
            self.rows,
            self.users,
            self.merged.len(),
            self.skipped.len(),
            self.changed.len(),
            self.discord_links,
            self.google_links,
        )
    }
}
