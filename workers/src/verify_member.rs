//! `verify_member`: a member proves who they are (an email + a token mailed to it, an admin's
//! `/force_verify`, or a rejoin after verifying); the user is marked verified and the Discord
//! account's link to them confirmed (never moved from another user's confirmed link), the gate
//! is passed, the member role granted in the guild (or in every guild where they wait), and
//! the member told (in the slash command's response, else by DM).
//!
//! A `/login` code links the Discord account without verifying anyone: the code was handed to
//! whoever onboarded, so it proves nothing about the email. The link stays unconfirmed and the
//! user's address gets a code to send back from this Discord account.
//!
//! Wrong tokens never kill the right one: each counts against (email, this Discord account),
//! and past the limit this account is locked out of that email for a while.
//!
//! Safe to run twice: a spent token makes the second run see "already verified" for the same
//! link, role grants are idempotent, and the confirmation DM is pushed under the job's key.
//! Missing permissions or a role above the bot's are reported to the log channel and end the
//! job: retrying cannot fix them.

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::data::Data;
use jobs::ratelimit::{Decision, RateLimiter, failure_key, failure_limit};
use jobs::{DmMessage, Lease, MemberProof, PushOptions, SendDiscordDm, VerifyMember};
use serde::Serialize;
use store::identities::{DiscordLink, LinkProof, ProviderAccount};
use store::invitations::Verification;

use crate::guild::{discord, job_error, member_role, report};
use crate::{Deps, Handler, Handles};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum VerifyOutcome {
    Verified {
        user_id: Option<i64>,
        roles_granted: usize,
    },
    Refused {
        reason: String,
    },
    /// Linked by a `/login` code, unconfirmed: a code is on its way to the user's address.
    LinkedUnconfirmed {
        user_id: i64,
    },
}

/// What the proof established.
enum Checked {
    /// Verified; the user is `None` for a forced verification of someone without an account.
    Verified(Option<i64>),
    Refused(String),
    /// Linked without proving the email.
    Linked(i64),
}

#[tracing::instrument(skip_all, fields(job_id = %lease.job_id, member = job.discord_user_id))]
pub async fn handle(
    job: VerifyMember,
    lease: Data<Lease>,
    deps: Data<Deps>,
) -> Result<VerifyOutcome, BoxDynError> {
    let user_id = match check(&deps, &job, &lease).await? {
        Checked::Verified(user_id) => user_id,
        Checked::Refused(reason) => {
            tracing::info!(%reason, "verification refused");
            answer(&deps, &job, &lease, Answer::Refused(reason.clone())).await?;
            return Ok(VerifyOutcome::Refused { reason });
        }
        Checked::Linked(user_id) => {
            tracing::info!(user_id, "linked by a code; the email is still to be proven");
            answer(&deps, &job, &lease, Answer::CheckMail).await?;
            return Ok(VerifyOutcome::LinkedUnconfirmed { user_id });
        }
    };
    let guilds = match job.guild_id {
        Some(g) => vec![g],
        None => waiting_guilds(&deps, &lease, job.discord_user_id).await?,
    };
    let mut granted = 0;
    let mut refused = None;
    // The gate first, then the role: a member who proved who they are is never kicked, even
    // while Discord refuses the role for now (the retry, which finds the same guilds in the
    // ledger, grants it) or for good (no such role, no permission: reported).
    for guild in guilds {
        store::members::verified(&deps.db, guild, job.discord_user_id, user_id).await?;
        let Some(role) = member_role(&deps, guild).await? else {
            report(
                &deps,
                Some(guild),
                &format!("no-role:{}", lease.job_id),
                &format!(
                    "<@{}> is verified, but this server has no role named {:?} to give them",
                    job.discord_user_id, deps.gate.member_role_name
                ),
            )
            .await;
            continue;
        };
        match discord(&deps)?
            .add_role(guild, job.discord_user_id, role)
            .await
        {
            Ok(()) => granted += 1,
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(e) => {
                report(
                    &deps,
                    Some(guild),
                    &format!("role:{}", lease.job_id),
                    &format!(
                        "cannot give <@&{role}> to <@{}>: {e}. Check that the bot has Manage Roles and that its role is above <@&{role}>.",
                        job.discord_user_id
                    ),
                )
                .await;
                refused.get_or_insert(e);
            }
        }
    }
    // A role no retry can give ends the job (after every guild had its turn).
    if let Some(e) = refused {
        return Err(AbortError::new(e).into());
    }
    answer(&deps, &job, &lease, Answer::Verified).await?;
    Ok(VerifyOutcome::Verified {
        user_id,
        roles_granted: granted,
    })
}

/// The guilds where the member waits at the gate, as the job's first run found them: kept in
/// the ledger, so a retry (after the gate was passed and a role grant failed for now) grants
/// the same guilds' roles instead of finding none pending.
async fn waiting_guilds(deps: &Deps, lease: &Lease, member: u64) -> Result<Vec<u64>, BoxDynError> {
    let key = format!("verify-guilds:{}", lease.job_id);
    if let Some(detail) = store::job_effects::detail(&deps.db, &key).await? {
        return Ok(serde_json::from_value(detail["guilds"].clone())?);
    }
    let guilds = store::members::pending_guilds(&deps.db, member).await?;
    let detail = serde_json::json!({ "guilds": guilds });
    store::job_effects::record(
        &deps.db,
        &key,
        "verify_member",
        &lease.job_id.to_string(),
        "gate",
        detail,
    )
    .await?;
    Ok(guilds)
}

impl Handles for VerifyMember {
    type Outcome = VerifyOutcome;
    const HANDLER: Handler<Self> = |job, lease, _, deps| Box::pin(handle(job, lease, deps));
}

/// Checks the proof.
async fn check(deps: &Deps, job: &VerifyMember, lease: &Lease) -> Result<Checked, BoxDynError> {
    let db = &deps.db;
    let discord_id = job.discord_user_id.to_string();
    let owner = store::identities::discord_owner(db, &discord_id).await?;
    let link = |user_id: i64, proof: LinkProof| {
        let discord_id = discord_id.clone();
        async move {
            let account = ProviderAccount {
                subject: discord_id,
                ..Default::default()
            };
            store::identities::link_discord(db, user_id, &account, proof).await
        }
    };
    Ok(match &job.proof {
        MemberProof::Invitation {
            email,
            sealed_token,
        } => {
            let Ok(token) = deps.sealer.open_text(sealed_token) else {
                return Ok(Checked::Refused(
                    "this verification request expired; try again".into(),
                ));
            };
            let Ok(email) = store::email::Email::parse(email) else {
                return Ok(Checked::Refused("that is not a valid email address".into()));
            };
            let limiter = RateLimiter::new(&deps.producer);
            let limit = failure_limit(deps.gate.failures_per_email, deps.gate.failure_window);
            let key = failure_key(email.as_str(), &format!("discord:{discord_id}"));
            if let Decision::Limited { retry_after } = limiter.peek(&[(limit, &key)]).await? {
                return Ok(Checked::Refused(format!(
                    "too many wrong tokens for this email from your account; try again in {} minutes",
                    retry_after.as_secs().div_ceil(60).max(1)
                )));
            }
            let invitee = store::users::id_by_email(db, email.as_str()).await?;
            if owner.is_some_and(|o| o.holds() && Some(o.user_id) != invitee) {
                return Ok(Checked::Refused(
                    "this Discord account is linked to another member".into(),
                ));
            }
            match store::invitations::verify(db, &email, &token).await? {
                Verification::Verified { user_id, .. } => {
                    match link(user_id, LinkProof::EmailProven).await? {
                        DiscordLink::Linked { .. } => Checked::Verified(Some(user_id)),
                        _ => Checked::Refused(
                            "your account is linked to another Discord account".into(),
                        ),
                    }
                }
                Verification::AlreadyVerified { user_id }
                    if owner.is_some_and(|o| o.user_id == user_id && o.confirmed) =>
                {
                    Checked::Verified(Some(user_id))
                }
                Verification::AlreadyVerified { .. } => Checked::Refused(
                    "this email is already verified and holds no live code for another Discord \
                     account; ask an admin for a new invitation"
                        .into(),
                ),
                Verification::Invalid => {
                    limiter.hit(&[(limit, &key)]).await?;
                    Checked::Refused("the email and token do not match a live invitation".into())
                }
                Verification::Expired => {
                    Checked::Refused("your token expired; ask an admin for a new invitation".into())
                }
            }
        }
        MemberProof::LoginCode { sealed_code } => {
            let Ok(code) = deps.sealer.open_text(sealed_code) else {
                return Ok(Checked::Refused(
                    "this login request expired; try again".into(),
                ));
            };
            if owner.is_some_and(|o| o.confirmed) {
                return Ok(Checked::Refused(
                    "this Discord account is already linked".into(),
                ));
            }
            match store::one_time_tokens::redeem_login_code(db, &code).await? {
                None => Checked::Refused(
                    "no live code like this; codes work once, within 24 hours".into(),
                ),
                Some(user_id) => match link(user_id, LinkProof::AccountOnly).await? {
                    DiscordLink::Linked {
                        confirmed: true, ..
                    } => Checked::Verified(Some(user_id)),
                    DiscordLink::Linked { .. } => {
                        if let Some(user) = store::users::find(db, user_id).await? {
                            crate::send_email::queue_verification(deps, &user, &lease.job_id)
                                .await?;
                        }
                        Checked::Linked(user_id)
                    }
                    _ => {
                        Checked::Refused("your account is linked to another Discord account".into())
                    }
                },
            }
        }
        // An admin vouches for the member at the gate, not for anyone's email: the role is
        // granted, but no link is confirmed and no user verified.
        MemberProof::Forced { .. } => {
            Checked::Verified(owner.filter(|o| o.confirmed).map(|o| o.user_id))
        }
        MemberProof::Rejoined => match store::users::by_discord(db, job.discord_user_id).await? {
            Some(m) if m.verified && m.is_active => Checked::Verified(Some(m.user_id)),
            _ => Checked::Refused("not verified".into()),
        },
    })
}

/// What to tell the member.
enum Answer {
    Verified,
    CheckMail,
    Refused(String),
}

/// The answer to a `/login` that linked without verifying.
pub(crate) const CHECK_MAIL: &str = "🔗 Your Discord account is linked. To be verified, send me \
    `/verify <your email> <code>` with the code we just mailed you.";

/// Tells the member: in the deferred slash-command response, else by DM.
async fn answer(
    deps: &Deps,
    job: &VerifyMember,
    lease: &Lease,
    result: Answer,
) -> Result<(), BoxDynError> {
    if matches!(job.proof, MemberProof::Rejoined) {
        return Ok(());
    }
    if let Some(interaction) = &job.interaction {
        let Ok(token) = deps.sealer.open_text(&interaction.sealed_token) else {
            return Ok(());
        };
        let text = match &result {
            Answer::Verified => "✅ You're verified.".to_owned(),
            Answer::CheckMail => CHECK_MAIL.to_owned(),
            Answer::Refused(reason) => format!("❌ {reason}"),
        };
        return discord(deps)?
            .edit_interaction(&token, &text, Vec::new())
            .await
            .map_err(job_error);
    }
    let message = match result {
        Answer::Verified => DmMessage::VerificationConfirmed,
        Answer::CheckMail => DmMessage::CheckMail,
        Answer::Refused(reason) => DmMessage::VerificationFailed { reason },
    };
    deps.producer
        .push_with(
            &SendDiscordDm {
                discord_user_id: job.discord_user_id,
                guild_id: job.guild_id,
                message,
            },
            PushOptions::idempotent(format!("verify-dm:{}", lease.job_id)),
        )
        .await?;
    Ok(())
}
