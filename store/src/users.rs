//! People: onboarded on the web (seed 001), signed in with Google (seed 002), invited by CSV
//! (seed 003), with a role (seed 004). Email is unique regardless of case.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub full_name: Option<String>,
    pub username: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub personality: Option<String>,
    pub communication_channel: Option<String>,
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What `POST /api/user/onboarding` asks for.
#[derive(Debug, Clone)]
pub struct Onboarding<'a> {
    pub email: &'a str,
    pub full_name: &'a str,
    pub personality: Option<&'a str>,
    pub channel: &'a str,
}

/// The user an onboarding created or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onboarded {
    pub user_id: i64,
    /// A new `/login` code for the user (seed 001's fallback), in clear for the answer; `None`
    /// when the account was verified before this call: its details were left unchanged and
    /// no code was issued (onboarding is unauthenticated, so it must not rewrite a verified
    /// account, and a code for it goes only to its own mailbox).
    pub login_code: Option<String>,
}

/// Creates an unverified user, or updates the details of an existing one that nobody proved
/// and no admin invited, and issues it a `/login` code valid for `code_ttl` (see
/// [`issue_login_code`](crate::one_time_tokens::issue_login_code)). Onboarding is anonymous:
/// it never rewrites a verified account or an invitee's row (an admin imported it; a stranger
/// must not rename it), and it never moves, verifies or links anything.
///
/// The usual case, a new or unproved member, is one statement and one commit (the busiest
/// anonymous write there is); an invitee's row or a verified account takes two more.
pub async fn onboard(
    pool: &PgPool,
    o: &Onboarding<'_>,
    code_ttl: std::time::Duration,
) -> Result<Onboarded, sqlx::Error> {
    let (code, digest) = crate::one_time_tokens::new_login_code();
    let updated = sqlx::query_scalar!(
        r#"WITH member AS (
               INSERT INTO users (email, full_name, personality, communication_channel)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT ((lower(email))) DO UPDATE
                   SET full_name = EXCLUDED.full_name,
                       personality = EXCLUDED.personality,
                       communication_channel = EXCLUDED.communication_channel
                   WHERE NOT users.verified
                     AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.user_id = users.id)
               RETURNING id
           ), code AS (
               INSERT INTO one_time_tokens (purpose, token_hash, user_id, expires_at)
               SELECT 'login_code', $5, id, now() + make_interval(secs => $6) FROM member
               RETURNING user_id
           )
           SELECT user_id AS "user_id!" FROM code"#,
        o.email,
        o.full_name,
        o.personality,
        o.channel,
        digest,
        code_ttl.as_secs_f64(),
    )
    .fetch_optional(pool)
    .await?;
    if let Some(user_id) = updated {
        return Ok(Onboarded {
            user_id,
            login_code: Some(code),
        });
    }
    let row = sqlx::query!(
        "SELECT id, verified FROM users WHERE lower(email) = lower($1)",
        o.email
    )
    .fetch_one(pool)
    .await?;
    let login_code = if row.verified {
        None
    } else {
        Some(crate::one_time_tokens::issue_login_code(pool, row.id, code_ttl).await?)
    };
    Ok(Onboarded {
        user_id: row.id,
        login_code,
    })
}

/// Marks a user verified (keeping the first verification time), inside the caller's
/// transaction: a Discord link, a Google sign-in and an invitation token all verify.
pub async fn mark_verified(conn: &mut sqlx::PgConnection, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE users SET verified = TRUE, verified_at = COALESCE(verified_at, now())
           WHERE id = $1"#,
        user_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find(pool: &PgPool, id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"SELECT id, email, full_name, username, role, is_active, personality,
                  communication_channel, verified, verified_at, created_at
           FROM users WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await
}

pub async fn id_by_email(pool: &PgPool, email: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM users WHERE lower(email) = lower($1)",
        email.trim()
    )
    .fetch_optional(pool)
    .await
}

/// Why a username cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsernameChange {
    Changed,
    /// Another user has it (compared without case).
    Taken,
    NoSuchUser,
}

pub async fn set_username(
    pool: &PgPool,
    id: i64,
    username: &str,
) -> Result<UsernameChange, sqlx::Error> {
    let result = sqlx::query!("UPDATE users SET username = $2 WHERE id = $1", id, username)
        .execute(pool)
        .await;
    match result {
        Ok(done) if done.rows_affected() == 1 => Ok(UsernameChange::Changed),
        Ok(_) => Ok(UsernameChange::NoSuchUser),
        Err(e) if crate::is_unique_violation(&e, "users_username_key") => Ok(UsernameChange::Taken),
        Err(e) => Err(e),
    }
}

/// What an admin changes about a user (`PATCH /api/users/{id}`); `None` leaves it.
#[derive(Debug, Clone, Default)]
pub struct UserChange<'a> {
    pub role: Option<&'a str>,
    pub is_active: Option<bool>,
    pub username: Option<&'a str>,
}

/// A user's role, active flag and username, before or after a change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Standing {
    pub role: String,
    pub is_active: bool,
    pub username: Option<String>,
}

/// What came of a [`UserChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Applied and audited, with the values before and after.
    Changed {
        before: Standing,
        after: Standing,
    },
    /// Another user has the username (compared without case): nothing changed.
    UsernameTaken,
    /// The user is the last active admin and the change would leave none: nothing changed.
    LastAdmin,
    NoSuchUser,
}

/// Applies `change` to user `id` and records it in the audit log as `actor`'s, with the values
/// before and after, in one transaction: a change is never left unaudited. Refuses to demote
/// or deactivate the last active admin (the admin key still works, but admins who sign in
/// with Google would all be locked out).
pub async fn update(
    pool: &PgPool,
    id: i64,
    change: &UserChange<'_>,
    actor: &str,
) -> Result<ChangeOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(before) = sqlx::query_as!(
        Standing,
        "SELECT role, is_active, username FROM users WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(ChangeOutcome::NoSuchUser);
    };
    let stays_admin = change.role.unwrap_or(&before.role) == "admin"
        && change.is_active.unwrap_or(before.is_active);
    if before.role == "admin" && before.is_active && !stays_admin {
        // Locks the other admins' rows too, so two admins demoting each other at once cannot
        // both pass this check.
        let others = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM (
                   SELECT id FROM users
                   WHERE role = 'admin' AND is_active AND id <> $1 FOR UPDATE) a"#,
            id
        )
        .fetch_one(&mut *tx)
        .await?;
        if others == 0 {
            return Ok(ChangeOutcome::LastAdmin);
        }
    }
    let updated = sqlx::query_as!(
        Standing,
        r#"UPDATE users SET role = COALESCE($2, role), is_active = COALESCE($3, is_active),
                            username = COALESCE($4, username)
           WHERE id = $1
           RETURNING role, is_active, username"#,
        id,
        change.role,
        change.is_active,
        change.username,
    )
    .fetch_one(&mut *tx)
    .await;
    let after = match updated {
        Ok(after) => after,
        Err(e) if crate::is_unique_violation(&e, "users_username_key") => {
            return Ok(ChangeOutcome::UsernameTaken);
        }
        Err(e) => return Err(e),
    };
    crate::audit::record(
        &mut *tx,
        actor,
        "user_changed",
        Some(&format!("user:{id}")),
        serde_json::json!({ "before": before, "after": after }),
    )
    .await?;
    tx.commit().await?;
    Ok(ChangeOutcome::Changed { before, after })
}

/// Filters of `GET /api/users`; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub verified: Option<bool>,
    pub role: Option<String>,
    pub invitation_status: Option<String>,
    /// Substring of the email, the name or the username, without case, or a linked Discord
    /// id exactly.
    pub search: Option<String>,
}

/// One line of the user list: the user, their Discord link, invitation and latest email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: i64,
    pub email: String,
    pub full_name: Option<String>,
    pub username: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub discord_id: Option<String>,
    pub invitation_status: Option<String>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub email_kind: Option<String>,
    pub email_status: Option<String>,
    pub email_error: Option<String>,
    pub email_sent_at: Option<DateTime<Utc>>,
}

/// A page of users in id order, and how many match in all.
pub async fn list(
    pool: &PgPool,
    filter: &UserFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<UserSummary>, i64), sqlx::Error> {
    let pattern = filter.search.as_deref().map(like_pattern);
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!"
           FROM users u LEFT JOIN invitations i ON i.user_id = u.id
           LEFT JOIN identities d ON d.user_id = u.id AND d.provider = 'discord'
           WHERE ($1::bool IS NULL OR u.verified = $1)
             AND ($2::text IS NULL OR u.role = $2)
             AND ($3::text IS NULL OR i.status = $3)
             AND ($4::text IS NULL OR u.email ILIKE $4 OR u.full_name ILIKE $4
                  OR u.username ILIKE $4 OR d.subject = $5)"#,
        filter.verified,
        filter.role,
        filter.invitation_status,
        pattern,
        filter.search,
    )
    .fetch_one(pool)
    .await?;
    let users = sqlx::query_as!(
        UserSummary,
        r#"SELECT u.id, u.email, u.full_name, u.username, u.role, u.is_active, u.verified,
                  u.verified_at, u.created_at,
                  d.subject AS "discord_id?", i.status AS "invitation_status?",
                  i.token_expires_at AS "token_expires_at?",
                  e.kind AS "email_kind?", e.status AS "email_status?",
                  e.last_error AS "email_error?", e.sent_at AS "email_sent_at?"
           FROM users u
           LEFT JOIN identities d ON d.user_id = u.id AND d.provider = 'discord'
           LEFT JOIN invitations i ON i.user_id = u.id
           LEFT JOIN LATERAL (
               SELECT kind, status, last_error, sent_at FROM email_deliveries
               WHERE user_id = u.id ORDER BY created_at DESC, id DESC LIMIT 1
           ) e ON TRUE
           WHERE ($1::bool IS NULL OR u.verified = $1)
             AND ($2::text IS NULL OR u.role = $2)
             AND ($3::text IS NULL OR i.status = $3)
             AND ($4::text IS NULL OR u.email ILIKE $4 OR u.full_name ILIKE $4
                  OR u.username ILIKE $4 OR d.subject = $7)
           ORDER BY u.id
           LIMIT $5 OFFSET $6"#,
        filter.verified,
        filter.role,
        filter.invitation_status,
        pattern,
        limit,
        offset,
        filter.search,
    )
    .fetch_all(pool)
    .await?;
    Ok((users, total))
}

/// `%text%` with LIKE's metacharacters in `text` taken literally.
fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Deletes one user and everything that hangs off them. False when there was none.
pub async fn delete(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!("DELETE FROM users WHERE id = $1", id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes every user who is not an admin (seed 003's `DELETE /api/all`). Returns how many.
pub async fn delete_all_members(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!("DELETE FROM users WHERE role <> 'admin'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_take_metacharacters_literally() {
        assert_eq!(super::like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}

/// The user linked to a Discord account, with their chosen personality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordMember {
    pub user_id: i64,
    /// The user proved their email and this very link is confirmed: what the gate, chat and a
    /// restored role require. A link nothing confirmed is `false` here even for a verified
    /// user (someone else's Discord account may have been linked to their row).
    pub verified: bool,
    pub is_active: bool,
    pub personality: Option<String>,
}

pub async fn by_discord(
    pool: &PgPool,
    discord_id: u64,
) -> Result<Option<DiscordMember>, sqlx::Error> {
    sqlx::query_as!(
        DiscordMember,
        r#"SELECT u.id AS user_id, (u.verified AND i.confirmed_at IS NOT NULL) AS "verified!",
                  u.is_active, u.personality
           FROM identities i JOIN users u ON u.id = i.user_id
           WHERE i.provider = 'discord' AND i.subject = $1"#,
        discord_id.to_string()
    )
    .fetch_optional(pool)
    .await
}
