//! Adopting the database of the systems Concierge replaces (`concierge migrate --adopt`).
//!
//! Their tables sit in `public` under names ours use (`users`, `refresh_tokens`), so the first
//! migration cannot run beside them. Adoption moves every table found in `public` before the
//! first migration into the schema `legacy` (with its indexes, constraints and sequences,
//! every row kept), migrates, then converts `legacy.users` into ours, whichever seed's shape it
//! has (the columns are looked up, not assumed):
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

/// The tables in `public` that no migration of ours made: empty unless the database held
/// another application's tables before its first migration.
pub async fn foreign_tables(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    let migrated: bool = sqlx::query_scalar(
        "SELECT to_regclass('public.refinery_schema_history') IS NOT NULL \
         AND EXISTS (SELECT 1 FROM public.refinery_schema_history)",
    )
    .fetch_one(pool)
    .await
    .or_else(|_| Ok::<_, sqlx::Error>(false))?;
    if migrated {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename <> 'refinery_schema_history' ORDER BY tablename",
    )
    .fetch_all(pool)
    .await
}

/// Moves `tables` from `public` to [`LEGACY_SCHEMA`], in one transaction. Refuses (and moves
/// nothing) when `legacy` already holds a table of one of those names.
pub async fn set_aside(pool: &PgPool, tables: &[String]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {LEGACY_SCHEMA}"
    )))
    .execute(&mut *tx)
    .await?;
    for table in tables {
        let statement = format!(
            "ALTER TABLE public.{} SET SCHEMA {LEGACY_SCHEMA}",
            crate::pool::quote_ident(table)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
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
