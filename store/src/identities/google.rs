//! Google sign-in: a Google account is found by issuer + subject, or linked to the user
//! with its verified email, or made a new user.

use sqlx::PgPool;

use super::{GOOGLE_ISSUER, ProviderAccount};

/// What signing in with Google did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoogleSignIn {
    /// Signed in as `user_id`; `created` when the account was made now.
    User { user_id: i64, created: bool },
    /// Google does not vouch for the email, and no account is linked to this Google subject.
    EmailNotVerified,
    /// The user with this email is linked to a different Google account.
    UserHasOther,
    /// The account is deactivated.
    Disabled,
}

/// Finds the user of a Google account (by issuer + subject), or links it to the user with its
/// verified email, or creates that user.
pub async fn sign_in_google(
    pool: &PgPool,
    account: &ProviderAccount,
    full_name: Option<&str>,
) -> Result<GoogleSignIn, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let linked = sqlx::query!(
        r#"SELECT i.id, i.user_id, u.is_active FROM identities i JOIN users u ON u.id = i.user_id
           WHERE i.provider = 'google' AND i.issuer = $1 AND i.subject = $2"#,
        GOOGLE_ISSUER,
        account.subject
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (user_id, created) = if let Some(row) = linked {
        if !row.is_active {
            return Ok(GoogleSignIn::Disabled);
        }
        sqlx::query!(
            r#"UPDATE identities
               SET provider_username = COALESCE($2, provider_username),
                   email = COALESCE($3, email), email_verified = $4,
                   access_token_enc = COALESCE($5, access_token_enc),
                   refresh_token_enc = COALESCE($6, refresh_token_enc),
                   token_expires_at = COALESCE($7, token_expires_at),
                   scopes = COALESCE($8, scopes), last_login_at = now()
               WHERE id = $1"#,
            row.id,
            account.username,
            account.email.as_deref().filter(|_| account.email_verified),
            account.email_verified,
            account.access_token_enc,
            account.refresh_token_enc,
            account.token_expires_at,
            account.scopes,
        )
        .execute(&mut *tx)
        .await?;
        (row.user_id, false)
    } else {
        let Some(email) = account.email.as_deref().filter(|_| account.email_verified) else {
            return Ok(GoogleSignIn::EmailNotVerified);
        };
        let existing = sqlx::query!(
            "SELECT id, is_active FROM users WHERE lower(email) = lower($1) FOR UPDATE",
            email
        )
        .fetch_optional(&mut *tx)
        .await?;
        let (user_id, created) = match existing {
            Some(u) if !u.is_active => return Ok(GoogleSignIn::Disabled),
            Some(u) => (u.id, false),
            None => {
                let id = sqlx::query_scalar!(
                    r#"INSERT INTO users (email, full_name, communication_channel, verified, verified_at)
                       VALUES ($1, $2, 'web', TRUE, now())
                       ON CONFLICT ((lower(email))) DO NOTHING RETURNING id"#,
                    email,
                    full_name
                )
                .fetch_optional(&mut *tx)
                .await?;
                match id {
                    Some(id) => (id, true),
                    // Created concurrently: the caller's retry finds it.
                    None => return Err(sqlx::Error::RowNotFound),
                }
            }
        };
        let inserted = sqlx::query!(
            r#"INSERT INTO identities (user_id, provider, issuer, subject, provider_username, email,
                                       email_verified, access_token_enc, refresh_token_enc,
                                       token_expires_at, scopes, last_login_at, confirmed_at)
               VALUES ($1, 'google', $2, $3, $4, $5, TRUE, $6, $7, $8, $9, now(), now())"#,
            user_id,
            GOOGLE_ISSUER,
            account.subject,
            account.username,
            email,
            account.access_token_enc,
            account.refresh_token_enc,
            account.token_expires_at,
            account.scopes,
        )
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if crate::is_unique_violation(&e, "identities_user_provider_key") => {
                return Ok(GoogleSignIn::UserHasOther);
            }
            Err(e) => return Err(e),
        }
        // Google vouched for the email: that verifies the account.
        crate::users::mark_verified(&mut tx, user_id).await?;
        (user_id, created)
    };
    tx.commit().await?;
    Ok(GoogleSignIn::User { user_id, created })
}
