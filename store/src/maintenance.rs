//! Housekeeping queries of the `sweep` job: what expired or grew old goes.

use std::time::Duration;

use sqlx::PgPool;

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Swept {
    pub one_time_tokens: u64,
    pub refresh_tokens: u64,
    pub job_effects: u64,
    /// Users nobody ever proved: onboarded (anonymously) but never verified, not invited,
    /// with no confirmed account, older than the sweep's grace.
    pub unproven_users: u64,
}

/// Most unproven users one sweep deletes; the next sweep takes the rest.
const UNPROVEN_PER_SWEEP: i64 = 1000;

/// Deletes single-use tokens and refresh tokens that expired more than `grace` ago (kept a
/// little while so a late click gets "expired", not "unknown"), idempotency records older
/// than `effects_ttl` (far longer than any job can be retried), and users created more than
/// `unproven_ttl` ago that nobody ever proved (anonymous onboardings whose mail was never
/// answered: nothing else would ever remove them).
pub async fn sweep(
    pool: &PgPool,
    grace: Duration,
    effects_ttl: Duration,
    unproven_ttl: Duration,
) -> Result<Swept, sqlx::Error> {
    // Each statement's text stays a literal, as `sqlx::query!` checks it at compile time.
    macro_rules! deleted {
        ($query:literal, $($arg:expr),+) => {
            sqlx::query!($query, $($arg),+).execute(pool).await?.rows_affected()
        };
    }
    let grace_s = grace.as_secs_f64();
    let one_time_tokens = deleted!(
        "DELETE FROM one_time_tokens WHERE expires_at < now() - make_interval(secs => $1)",
        grace_s
    );
    let refresh_tokens = deleted!(
        "DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)",
        grace_s
    );
    let job_effects = deleted!(
        "DELETE FROM job_effects WHERE created_at < now() - make_interval(secs => $1)",
        effects_ttl.as_secs_f64()
    );
    let unproven_users = deleted!(
        r#"DELETE FROM users WHERE id IN (
               SELECT u.id FROM users u
               WHERE NOT u.verified AND u.role = 'personal_only' AND u.is_active
                 AND u.created_at < now() - make_interval(secs => $1)
                 -- Not while a code of theirs is recent: an onboarding repeated, a mail sent.
                 AND NOT EXISTS (SELECT 1 FROM one_time_tokens t
                                 WHERE t.user_id = u.id
                                   AND t.created_at > now() - make_interval(secs => $1))
                 AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.user_id = u.id)
                 AND NOT EXISTS (SELECT 1 FROM identities d
                                 WHERE d.user_id = u.id AND d.confirmed_at IS NOT NULL)
                 AND NOT EXISTS (SELECT 1 FROM api_tokens t WHERE t.created_by = u.id)
               ORDER BY u.created_at LIMIT $2)"#,
        unproven_ttl.as_secs_f64(),
        UNPROVEN_PER_SWEEP
    );
    Ok(Swept {
        one_time_tokens,
        refresh_tokens,
        job_effects,
        unproven_users,
    })
}
