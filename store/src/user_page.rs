//! One user's page in the admin console: the person, their linked accounts, their invitation,
//! their latest mails and what was done to them, read in one go.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::users::User;

/// An account at an OAuth provider linked to the user (tokens are never read here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    /// `discord` or `google`.
    pub provider: String,
    /// The provider's id of the account (a Discord id, a Google subject).
    pub subject: String,
    pub provider_username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    /// When the link was confirmed (Discord): a link nothing confirmed grants nothing.
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The user's invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// `pending`, `sent`, `failed`, `verified`, `expired`, `revoked`.
    pub status: String,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub upload_id: Option<uuid::Uuid>,
    pub upload_row: Option<i32>,
    pub created_at: DateTime<Utc>,
}

/// One mail to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Everything the console shows about one user.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub user: User,
    pub accounts: Vec<LinkedAccount>,
    pub invitation: Option<Invitation>,
    /// The newest 20 mails, newest first.
    pub mails: Vec<Mail>,
    /// The newest 50 audit rows about the user (target `user:<id>`), newest first.
    pub audit: Vec<crate::audit::Entry>,
}

/// User `id`'s page, `None` when there is no such user.
pub async fn read(pool: &PgPool, id: i64) -> Result<Option<UserPage>, sqlx::Error> {
    let Some(user) = crate::users::find(pool, id).await? else {
        return Ok(None);
    };
    let accounts = sqlx::query_as!(
        LinkedAccount,
        r#"SELECT provider, subject, provider_username, email, email_verified, confirmed_at,
                  last_login_at, created_at
           FROM identities WHERE user_id = $1 ORDER BY provider"#,
        id
    )
    .fetch_all(pool)
    .await?;
    let invitation = sqlx::query_as!(
        Invitation,
        r#"SELECT status, token_expires_at, verified_at, upload_id, upload_row, created_at
           FROM invitations WHERE user_id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?;
    let mails = sqlx::query_as!(
        Mail,
        r#"SELECT id, kind, status, attempts, last_error, sent_at, created_at
           FROM email_deliveries WHERE user_id = $1
           ORDER BY created_at DESC, id DESC LIMIT 20"#,
        id
    )
    .fetch_all(pool)
    .await?;
    let audit = crate::audit::list(
        pool,
        &crate::audit::Filter {
            target: Some(format!("user:{id}")),
            ..Default::default()
        },
        50,
    )
    .await?;
    Ok(Some(UserPage {
        user,
        accounts,
        invitation,
        mails,
        audit,
    }))
}
