//! Converting `legacy.users` into ours, whichever seed's shape it has (see `super`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use super::{LEGACY_SCHEMA, Report};
use crate::email::Email;
use crate::identities::{DISCORD_ISSUER, GOOGLE_ISSUER};

/// One legacy row, read whatever its table's shape.
struct LegacyUser {
    id: i64,
    full_name: Option<String>,
    username: Option<String>,
    password_hash: Option<String>,
    role: Option<String>,
    is_active: Option<bool>,
    verified: Option<bool>,
    personality: Option<String>,
    channel: Option<String>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    discord_id: Option<String>,
    google_id: Option<String>,
    token: Option<String>,
    token_created_at: Option<DateTime<Utc>>,
}

/// Converts `legacy.users` into ours (see the module's text), once. `invitation_ttl`: how long
/// a legacy invitation token lives after it was made. Without `legacy.users`, nothing to do.
pub async fn import(pool: &PgPool, invitation_ttl: Duration) -> Result<Report, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let columns: HashMap<String, String> = sqlx::query(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = 'users'",
    )
    .bind(LEGACY_SCHEMA)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| (row.get(0), row.get(1)))
    .collect();
    if !columns.contains_key("id") || !columns.contains_key("email") {
        return Ok(Report::default());
    }
    let done: bool = sqlx::query_scalar("SELECT to_regclass('legacy.concierge_users') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await?;
    if done {
        return Ok(Report {
            already_done: true,
            ..Report::default()
        });
    }
    sqlx::raw_sql(
        "CREATE TABLE legacy.concierge_users (
            legacy_id BIGINT PRIMARY KEY,
            user_id   BIGINT REFERENCES public.users (id) ON DELETE SET NULL,
            outcome   TEXT NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await?;

    let text = |names: &[&str]| pick(&columns, names, "::text");
    // Seed 002's `name` is what its `/api/update_username` changes: a username. Elsewhere
    // (seeds 001 and 003) `name` is the person's name.
    let names_are_usernames =
        columns.contains_key("google_id") && !columns.contains_key("username");
    let (full_name_columns, username_columns): (&[&str], &[&str]) = if names_are_usernames {
        (&["full_name"], &["name"])
    } else {
        (&["full_name", "name"], &["username"])
    };
    let flag = |names: &[&str]| pick(&columns, names, "::boolean");
    let select = format!(
        "SELECT id::bigint, email::text, {full_name} AS full_name, {username} AS username, \
         {password} AS password_hash, {role} AS role, {active} AS is_active, \
         {verified} AS verified, {personality} AS personality, {channel} AS channel, \
         {created} AS created_at, {updated} AS updated_at, {discord} AS discord_id, \
         {google} AS google_id, {token} AS token, {token_created} AS token_created_at \
         FROM legacy.users ORDER BY id",
        full_name = text(full_name_columns),
        username = text(username_columns),
        password = text(&["password_hash"]),
        role = text(&["role"]),
        active = flag(&["is_active"]),
        verified = flag(&["verified", "is_verified"]),
        personality = text(&["selected_personality", "personality"]),
        channel = text(&["communication_channel"]),
        created = time(&columns, "created_at"),
        updated = time(&columns, "updated_at"),
        discord = text(&["discord_id", "discord_user_id"]),
        google = text(&["google_id"]),
        token = text(&["token"]),
        token_created = time(&columns, "token_created_at"),
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(select))
        .fetch_all(&mut *tx)
        .await?;
    let mut report = Report::default();
    // lower(email) → (legacy id, user id); lower(username); Discord and Google ids taken.
    let mut by_email: HashMap<String, (i64, i64)> = HashMap::new();
    let mut usernames: HashSet<String> = HashSet::new();
    let mut discord_ids: HashSet<String> = HashSet::new();
    let mut google_ids: HashSet<String> = HashSet::new();
    let now = Utc::now();
    // Rows whose addresses are one mailbox but for case: each claims it, and the old systems
    // could not tell which was its owner; none of them brings a credential along.
    // Each row's address, parsed once.
    let emails: Vec<Option<Result<Email, crate::email::InvalidEmail>>> = rows
        .iter()
        .map(|row| {
            row.get::<Option<String>, _>("email")
                .as_deref()
                .map(Email::parse)
        })
        .collect();
    let mut claimants: HashMap<String, Vec<i64>> = HashMap::new();
    for (row, email) in rows.iter().zip(&emails) {
        if let Some(Ok(email)) = email {
            claimants
                .entry(email.as_str().to_lowercase())
                .or_default()
                .push(row.get("id"));
        }
    }
    for (row, email) in rows.into_iter().zip(emails) {
        report.rows += 1;
        let legacy = LegacyUser {
            id: row.get("id"),
            full_name: row.get("full_name"),
            username: row.get("username"),
            password_hash: row.get("password_hash"),
            role: row.get("role"),
            is_active: row.get("is_active"),
            verified: row.get("verified"),
            personality: row.get("personality"),
            channel: row.get("channel"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            discord_id: row.get("discord_id"),
            google_id: row.get("google_id"),
            token: row.get("token"),
            token_created_at: row.get("token_created_at"),
        };
        let id = legacy.id;
        let email = match email {
            Some(Ok(email)) => email,
            Some(Err(e)) => {
                report.skipped.push((id, format!("email: {e}")));
                map(&mut tx, id, None, "skipped: invalid email").await?;
                continue;
            }
            None => {
                report.skipped.push((id, "no email".into()));
                map(&mut tx, id, None, "skipped: no email").await?;
                continue;
            }
        };
        let key = email.as_str().to_lowercase();
        if let Some(&(first, user_id)) = by_email.get(&key) {
            report.merged.push((id, first));
            for (provider, subject) in [
                ("Discord", &legacy.discord_id),
                ("Google", &legacy.google_id),
            ] {
                if let Some(subject) = subject {
                    report.changed.push((
                        id,
                        format!(
                            "merged into legacy user {first}; its {provider} id {subject} left out"
                        ),
                    ));
                }
            }
            let outcome = format!("merged into legacy user {first} (same email)");
            map(&mut tx, id, Some(user_id), &outcome).await?;
            continue;
        }
        let others: Vec<i64> = claimants
            .get(&key)
            .map(|ids| ids.iter().copied().filter(|other| *other != id).collect())
            .unwrap_or_default();
        let contested = !others.is_empty();
        if contested {
            report.changed.push((
                id,
                format!(
                    "shares its email with legacy rows {others:?}: imported without its \
                     password, role, verification, links and invitation (each row claims the \
                     address; decide by hand who owns it)"
                ),
            ));
        }
        let username = match legacy.username.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) if name.chars().any(char::is_control) => {
                report
                    .changed
                    .push((id, "username left out: it holds control characters".into()));
                None
            }
            Some(name) if name.chars().count() > 64 => {
                report
                    .changed
                    .push((id, "username left out: longer than 64 characters".into()));
                None
            }
            Some(name) if !usernames.insert(name.to_lowercase()) => {
                report.changed.push((
                    id,
                    format!("username {name:?} left out: an earlier row has it"),
                ));
                None
            }
            Some(name) => Some(name.to_owned()),
        };
        let role = match legacy
            .role
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            _ if contested => "personal_only",
            Some("admin" | "owner") => "admin",
            None | Some("personal_only" | "user" | "") => "personal_only",
            Some(other) => {
                report
                    .changed
                    .push((id, format!("role {other:?} became personal_only")));
                "personal_only"
            }
        };
        let channel = legacy
            .channel
            .as_deref()
            .map(str::to_ascii_lowercase)
            .filter(|c| matches!(c.as_str(), "discord" | "email" | "web"));
        let token_expires = legacy.token_created_at.and_then(|at| {
            chrono::Duration::from_std(invitation_ttl)
                .ok()
                .map(|d| at + d)
        });
        let invited = legacy
            .token
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty());
        let verified = legacy.verified.unwrap_or(false) && !contested;
        let (discord_id, google_id, token) = if contested {
            (None, None, None)
        } else {
            (legacy.discord_id, legacy.google_id, legacy.token)
        };
        let password = legacy.password_hash.filter(|h| !h.is_empty() && !contested);
        let created = legacy.created_at.unwrap_or(now);
        let updated = legacy.updated_at.unwrap_or(created);
        let verified_at = verified.then_some(updated);
        // A row the schema refuses (a username or address another row has under Postgres'
        // own `lower()`, a length a CHECK refuses) is skipped alone, not the whole import.
        sqlx::raw_sql("SAVEPOINT legacy_row")
            .execute(&mut *tx)
            .await?;
        let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, full_name, username, role, is_active, \
             personality, communication_channel, verified, verified_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(email.as_str())
        .bind(password)
        .bind(legacy.full_name.filter(|n| !n.trim().is_empty()))
        .bind(&username)
        .bind(role)
        .bind(legacy.is_active.unwrap_or(true))
        .bind(legacy.personality.filter(|p| !p.trim().is_empty()))
        .bind(channel.or_else(|| invited.then(|| "discord".to_owned())))
        .bind(verified)
        .bind(verified_at)
        .bind(created)
        .bind(updated)
        .fetch_one(&mut *tx)
        .await;
        let user_id = match inserted {
            Ok(user_id) => {
                sqlx::raw_sql("RELEASE SAVEPOINT legacy_row")
                    .execute(&mut *tx)
                    .await?;
                user_id
            }
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("23505" | "23514")) =>
            {
                sqlx::raw_sql("ROLLBACK TO SAVEPOINT legacy_row")
                    .execute(&mut *tx)
                    .await?;
                let why = format!("refused by the schema: {}", e.message());
                map(&mut tx, id, None, &format!("skipped: {why}")).await?;
                report.skipped.push((id, why));
                continue;
            }
            Err(e) => return Err(e),
        };
        report.users += 1;
        by_email.insert(key, (id, user_id));
        let mut outcome = String::from("imported");

        if let Some(subject) = discord_id.map(|d| d.trim().to_owned())
            && !subject.is_empty()
        {
            let snowflake = subject
                .parse::<i64>()
                .is_ok_and(|n| n > 0 && n.to_string() == subject);
            if !snowflake || !discord_ids.insert(subject.clone()) {
                report.changed.push((
                    id,
                    format!("Discord id {subject:?} left out: not an id, or an earlier row's"),
                ));
            } else {
                link(
                    &mut tx,
                    user_id,
                    "discord",
                    DISCORD_ISSUER,
                    &subject,
                    verified,
                    created,
                )
                .await?;
                report.discord_links += 1;
                outcome.push_str(", Discord link");
            }
        }
        if let Some(subject) = google_id
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            if !google_ids.insert(subject.to_owned()) {
                report.changed.push((
                    id,
                    format!("Google id {subject:?} left out: an earlier row's"),
                ));
            } else {
                link(
                    &mut tx,
                    user_id,
                    "google",
                    GOOGLE_ISSUER,
                    subject,
                    true,
                    created,
                )
                .await?;
                report.google_links += 1;
                outcome.push_str(", Google link");
            }
        }
        if let Some(token) = token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let expires = token_expires.unwrap_or(created);
            let status = if verified {
                report.invitations.1 += 1;
                "verified"
            } else if expires > now {
                report.invitations.0 += 1;
                "sent"
            } else {
                report.invitations.2 += 1;
                "expired"
            };
            // A used token is kept consumed (a second use answers "already verified"); an
            // expired one is not carried (the sweep would delete it), its invitation says so.
            let token_id: Option<i64> = if status == "expired" {
                None
            } else {
                Some(
                    sqlx::query_scalar(
                        "INSERT INTO one_time_tokens (purpose, token_hash, user_id, expires_at, \
                         consumed_at, created_at) VALUES ('invitation', $1, $2, $3, $4, $5) \
                         RETURNING id",
                    )
                    .bind(crate::secret::digest(token))
                    .bind(user_id)
                    .bind(expires)
                    .bind(verified_at)
                    .bind(legacy.token_created_at.unwrap_or(created))
                    .fetch_one(&mut *tx)
                    .await?,
                )
            };
            sqlx::query(
                "INSERT INTO invitations (user_id, token_id, status, token_expires_at, \
                 verified_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(user_id)
            .bind(token_id)
            .bind(status)
            .bind(expires)
            .bind(verified_at)
            .bind(created)
            .bind(updated)
            .execute(&mut *tx)
            .await?;
            outcome.push_str(&format!(", invitation {status}"));
        }
        map(&mut tx, id, Some(user_id), &outcome).await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// The first of `names` that the table has, cast with `cast`; `NULL` when it has none.
fn pick(columns: &HashMap<String, String>, names: &[&str], cast: &str) -> String {
    names
        .iter()
        .find(|n| columns.contains_key(**n))
        .map_or_else(|| format!("NULL{cast}"), |n| format!("{n}{cast}"))
}

/// A time column as `timestamptz`: one without a zone was written in UTC (`utcnow`, or the
/// server's clock), so it is read as UTC.
fn time(columns: &HashMap<String, String>, name: &str) -> String {
    match columns.get(name).map(String::as_str) {
        Some("timestamp without time zone") => format!("({name} AT TIME ZONE 'UTC')"),
        Some("timestamp with time zone") => name.to_owned(),
        Some("date") => format!("({name}::timestamp AT TIME ZONE 'UTC')"),
        _ => "NULL::timestamptz".to_owned(),
    }
}

/// Records what became of legacy row `legacy_id`.
async fn map(
    tx: &mut sqlx::PgConnection,
    legacy_id: i64,
    user_id: Option<i64>,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO legacy.concierge_users (legacy_id, user_id, outcome) VALUES ($1, $2, $3)",
    )
    .bind(legacy_id)
    .bind(user_id)
    .bind(outcome)
    .execute(tx)
    .await?;
    Ok(())
}

/// A provider account of `user_id`; `confirmed`: the legacy system vouched for the link (its
/// user was verified), confirmed as V2 confirms the links made before it.
async fn link(
    tx: &mut sqlx::PgConnection,
    user_id: i64,
    provider: &str,
    issuer: &str,
    subject: &str,
    confirmed: bool,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO identities (user_id, provider, issuer, subject, created_at, updated_at, \
         confirmed_at, confirmed_before_v2) VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
    )
    .bind(user_id)
    .bind(provider)
    .bind(issuer)
    .bind(subject)
    .bind(at)
    .bind(confirmed.then_some(at))
    .bind(confirmed && provider == "discord")
    .execute(tx)
    .await?;
    Ok(())
}
