//! Invitations (seed 003): invitees imported from CSV, their invitation mails in batches, and
//! the check of the token they type (on the web or through the bot).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::one_time_tokens::{self, Check};

/// One valid row of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: u32,
    pub email: String,
    pub full_name: Option<String>,
}

/// What an upload did with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOutcome {
    /// A new user and invitation.
    Created,
    /// An existing user: their name changed, or they got an invitation now.
    Updated,
    /// Already there as given, or an earlier row of this file has the same email.
    Duplicate,
}

/// Imports `rows` in one transaction: all or nothing. Returns each row's outcome and user id,
/// in the order given.
pub async fn import(
    pool: &PgPool,
    upload_id: Uuid,
    rows: &[ImportRow],
) -> Result<Vec<(RowOutcome, i64)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Emails are unique by Postgres's `lower()`: fold them with it (not Rust's, which differs
    // for a few letters), or two spellings of one key would collide inside one insert.
    let all: Vec<String> = rows.iter().map(|r| r.email.clone()).collect();
    let keys: Vec<String> = sqlx::query_scalar!(
        r#"SELECT lower(e) AS "key!" FROM unnest($1::text[]) WITH ORDINALITY AS t(e, n)
           ORDER BY n"#,
        &all
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let mut unique: Vec<&ImportRow> = Vec::new();
    for (i, (row, key)) in rows.iter().zip(&keys).enumerate() {
        first_of.entry(key.as_str()).or_insert_with(|| {
            unique.push(row);
            i
        });
    }
    let emails: Vec<String> = unique.iter().map(|r| r.email.clone()).collect();
    let names: Vec<Option<String>> = unique.iter().map(|r| r.full_name.clone()).collect();
    let lines: Vec<i32> = unique.iter().map(|r| r.line as i32).collect();

    // Existing users and whether they are invited, before this upload touches them.
    let before = sqlx::query!(
        r#"SELECT u.id, lower(u.email) AS "key!", u.full_name, i.id AS "invitation?"
           FROM users u LEFT JOIN invitations i ON i.user_id = u.id
           WHERE lower(u.email) = ANY (SELECT lower(e) FROM unnest($1::text[]) AS e)"#,
        &emails
    )
    .fetch_all(&mut *tx)
    .await?;
    let before: HashMap<String, (i64, Option<String>, bool)> = before
        .into_iter()
        .map(|r| (r.key, (r.id, r.full_name, r.invitation.is_some())))
        .collect();

    sqlx::query!(
        r#"INSERT INTO users (email, full_name, communication_channel)
           SELECT e, n, 'discord' FROM unnest($1::text[], $2::text[]) AS t(e, n)
           ON CONFLICT ((lower(email))) DO UPDATE
               SET full_name = COALESCE(EXCLUDED.full_name, users.full_name)
               WHERE EXCLUDED.full_name IS NOT NULL
                 AND EXCLUDED.full_name IS DISTINCT FROM users.full_name"#,
        &emails,
        &names as &[Option<String>],
    )
    .execute(&mut *tx)
    .await?;
    let ids = sqlx::query!(
        r#"SELECT u.id, lower(u.email) AS "key!"
           FROM users u
           WHERE lower(u.email) = ANY (SELECT lower(e) FROM unnest($1::text[]) AS e)"#,
        &emails
    )
    .fetch_all(&mut *tx)
    .await?;
    let ids: HashMap<String, i64> = ids.into_iter().map(|r| (r.key, r.id)).collect();
    let user_ids: Vec<i64> = rows
        .iter()
        .zip(&keys)
        .enumerate()
        .filter(|(i, (_, key))| first_of.get(key.as_str()) == Some(i))
        .map(|(_, (_, key))| ids.get(key).copied().unwrap_or_default())
        .collect();
    sqlx::query!(
        r#"INSERT INTO invitations (user_id, upload_id, upload_row)
           SELECT u, $2, l FROM unnest($1::bigint[], $3::int[]) AS t(u, l)
           ON CONFLICT (user_id) DO UPDATE
               SET upload_id = EXCLUDED.upload_id, upload_row = EXCLUDED.upload_row"#,
        &user_ids,
        upload_id,
        &lines,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let outcomes = rows
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, (row, key))| {
            let user_id = ids.get(key).copied().unwrap_or_default();
            let outcome = if first_of.get(key.as_str()) != Some(&i) {
                RowOutcome::Duplicate
            } else {
                match before.get(key) {
                    None => RowOutcome::Created,
                    Some((_, name, invited)) => {
                        let renamed = row.full_name.is_some() && row.full_name != *name;
                        if renamed || !invited {
                            RowOutcome::Updated
                        } else {
                            RowOutcome::Duplicate
                        }
                    }
                }
            };
            (outcome, user_id)
        })
        .collect();
    Ok(outcomes)
}

/// A batch of invitation mails just queued.
#[derive(Debug, Clone)]
pub struct QueuedBatch {
    pub batch_id: Uuid,
    /// The `email_deliveries` rows to push one `send_email` job for each.
    pub delivery_ids: Vec<i64>,
}

/// Queues one invitation mail for each invitee who is still to be invited (`pending` or
/// `failed`, unverified, no mail on its way), optionally only among `user_ids`.
pub async fn queue_batch(
    pool: &PgPool,
    requested_by: &str,
    user_ids: Option<&[i64]>,
) -> Result<QueuedBatch, sqlx::Error> {
    let batch_id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO email_batches (id, requested_by, total) VALUES ($1, $2, 0)",
        batch_id,
        requested_by
    )
    .execute(&mut *tx)
    .await?;
    // Locks the invitations so two concurrent calls do not both queue a mail for one invitee.
    let delivery_ids = sqlx::query_scalar!(
        r#"WITH due AS (
               SELECT i.user_id, u.email FROM invitations i JOIN users u ON u.id = i.user_id
               WHERE i.status IN ('pending', 'failed') AND NOT u.verified
                 AND ($1::bigint[] IS NULL OR i.user_id = ANY ($1))
                 AND NOT EXISTS (
                     SELECT 1 FROM email_deliveries d
                     WHERE d.user_id = i.user_id AND d.kind = 'invitation'
                       AND d.status IN ('queued', 'retrying'))
               ORDER BY i.user_id
               FOR UPDATE OF i SKIP LOCKED
           )
           INSERT INTO email_deliveries (user_id, batch_id, kind, to_address)
           SELECT user_id, $2, 'invitation', email FROM due
           RETURNING id"#,
        user_ids as Option<&[i64]>,
        batch_id
    )
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE email_batches SET total = $2 WHERE id = $1",
        batch_id,
        delivery_ids.len() as i32
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(QueuedBatch {
        batch_id,
        delivery_ids,
    })
}

/// How far a batch got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchProgress {
    pub id: Uuid,
    pub requested_by: String,
    pub total: i32,
    pub queued: i64,
    pub sent: i64,
    pub retrying: i64,
    pub failed: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn batch_progress(pool: &PgPool, id: Uuid) -> Result<Option<BatchProgress>, sqlx::Error> {
    sqlx::query_as!(
        BatchProgress,
        r#"SELECT b.id, b.requested_by, b.total, b.created_at,
                  count(d.id) FILTER (WHERE d.status = 'queued') AS "queued!",
                  count(d.id) FILTER (WHERE d.status = 'sent') AS "sent!",
                  count(d.id) FILTER (WHERE d.status = 'retrying') AS "retrying!",
                  count(d.id) FILTER (WHERE d.status = 'failed') AS "failed!"
           FROM email_batches b LEFT JOIN email_deliveries d ON d.batch_id = b.id
           WHERE b.id = $1
           GROUP BY b.id"#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// Records that an invitation mail carrying token `token_id` went out.
pub async fn mark_sent(
    pool: &PgPool,
    user_id: i64,
    token_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE invitations SET status = 'sent', token_id = $2, token_expires_at = $3
           WHERE user_id = $1 AND status IN ('pending', 'failed', 'sent', 'expired')"#,
        user_id,
        token_id,
        expires_at
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records that the invitation mail could not be delivered.
pub async fn mark_failed(pool: &PgPool, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE invitations SET status = 'failed' WHERE user_id = $1 AND status IN ('pending', 'sent')",
        user_id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// `POST /api/refresh-token/{id}`: the invitee's current token dies now and a new invitation
/// mail is queued (its job mints the new token). `None` when there is no such user.
pub async fn reissue(pool: &PgPool, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
    let email = sqlx::query_scalar!("SELECT email FROM users WHERE id = $1", user_id)
        .fetch_optional(pool)
        .await?;
    let Some(email) = email else {
        return Ok(None);
    };
    one_time_tokens::retire(pool, user_id, "invitation").await?;
    sqlx::query!(
        r#"INSERT INTO invitations (user_id) VALUES ($1)
           ON CONFLICT (user_id) DO UPDATE
               SET status = CASE WHEN invitations.status = 'verified' THEN 'verified'
                                 ELSE 'pending' END,
                   token_id = NULL, token_expires_at = NULL"#,
        user_id
    )
    .execute(pool)
    .await?;
    let delivery =
        crate::email_deliveries::queue(pool, Some(user_id), "invitation", &email, None).await?;
    Ok(Some(delivery))
}

/// The outcome of checking an email and the token mailed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The token was right and is spent: the user is verified (`was_verified`: already before
    /// this call, e.g. by Google; the token still proves the mailbox to a Discord link).
    Verified { user_id: i64, was_verified: bool },
    /// The user is verified and holds no live token: nothing was checked.
    AlreadyVerified { user_id: i64 },
    /// Unknown email, wrong token, or no live token: indistinguishable on purpose.
    Invalid,
    /// The token was right but expired.
    Expired,
}

/// Checks an email and a token mailed to it (an invitation's, or a verification mail's); on
/// success consumes the token and marks the user (and invitation) verified.
pub async fn verify(
    pool: &PgPool,
    email: &crate::email::Email,
    token: &str,
) -> Result<Verification, sqlx::Error> {
    let user = sqlx::query!(
        "SELECT id, verified FROM users WHERE lower(email) = lower($1)",
        email.as_str()
    )
    .fetch_optional(pool)
    .await?;
    let Some(user) = user else {
        return Ok(Verification::Invalid);
    };
    // Invitees hold an invitation token; people who onboarded or linked an account hold
    // verification tokens. Either proves the mailbox.
    let invitation = one_time_tokens::check(pool, user.id, "invitation", token).await?;
    let check = match invitation {
        Check::Valid { .. } => invitation,
        _ => {
            let mailed = one_time_tokens::check(pool, user.id, "email_verification", token).await?;
            match (invitation, mailed) {
                (_, Check::Valid { .. }) => mailed,
                (Check::Expired, _) | (_, Check::Expired) => Check::Expired,
                (Check::NoToken, Check::NoToken) => Check::NoToken,
                _ => Check::Wrong,
            }
        }
    };
    match check {
        Check::Valid { .. } => {
            let mut tx = pool.begin().await?;
            crate::users::mark_verified(&mut tx, user.id).await?;
            sqlx::query!(
                r#"UPDATE invitations SET status = 'verified', verified_at = COALESCE(verified_at, now())
                   WHERE user_id = $1"#,
                user.id
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Verification::Verified {
                user_id: user.id,
                was_verified: user.verified,
            })
        }
        Check::NoToken if user.verified => Ok(Verification::AlreadyVerified { user_id: user.id }),
        Check::Expired => Ok(Verification::Expired),
        Check::Wrong | Check::NoToken => Ok(Verification::Invalid),
    }
}

/// One mail of a batch, with its invitee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDelivery {
    pub delivery_id: i64,
    pub user_id: Option<i64>,
    pub to_address: String,
    /// `queued`, `sent`, `retrying`, `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Whether batch `id` exists (without counting its mails, as [`batch_progress`] does).
pub async fn batch_exists(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM email_batches WHERE id = $1) AS "exists!""#,
        id
    )
    .fetch_one(pool)
    .await
}

/// The mails of batch `id`, optionally only those in `status`, in delivery order from
/// `after` (a delivery id; the next page of a listing), at most `limit`.
pub async fn batch_deliveries(
    pool: &PgPool,
    id: Uuid,
    status: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<BatchDelivery>, sqlx::Error> {
    sqlx::query_as!(
        BatchDelivery,
        r#"SELECT id AS delivery_id, user_id, to_address, status, attempts, last_error, sent_at
           FROM email_deliveries
           WHERE batch_id = $1 AND ($2::text IS NULL OR status = $2) AND id > $3
           ORDER BY id
           LIMIT $4"#,
        id,
        status,
        after,
        limit
    )
    .fetch_all(pool)
    .await
}

/// The newest `limit` batches, newest first, with their progress.
pub async fn recent_batches(pool: &PgPool, limit: i64) -> Result<Vec<BatchProgress>, sqlx::Error> {
    sqlx::query_as!(
        BatchProgress,
        r#"SELECT b.id, b.requested_by, b.total, b.created_at,
                  count(d.id) FILTER (WHERE d.status = 'queued') AS "queued!",
                  count(d.id) FILTER (WHERE d.status = 'sent') AS "sent!",
                  count(d.id) FILTER (WHERE d.status = 'retrying') AS "retrying!",
                  count(d.id) FILTER (WHERE d.status = 'failed') AS "failed!"
           FROM (SELECT * FROM email_batches ORDER BY created_at DESC, id DESC LIMIT $1) b
           LEFT JOIN email_deliveries d ON d.batch_id = b.id
           GROUP BY b.id, b.requested_by, b.total, b.created_at
           ORDER BY b.created_at DESC, b.id DESC"#,
        limit
    )
    .fetch_all(pool)
    .await
}
