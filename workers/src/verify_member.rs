//! `verify_member`: a member proves who they are (invitation email + token, a `/login` code,
//! an admin's `/force_verify`, or a rejoin after verifying); the user is marked verified and
//! linked to the Discord account (never moved from another user), the gate is passed, the
//! member role granted in the guild (or in every guild where they wait), and the member told
//! (in the slash command's response, else by DM).
//!
//! Safe to run twice: a spent token makes the second run see "already verified" for the same
//! link, role grants are idempotent, and the confirmation DM is pushed under the job's key.
//! Missing permissions or a role above the bot's are reported to the log channel and end the
//! job: retrying cannot fix them.

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::data::Data;
use jobs::{DmMessage, Lease, MemberProof, PushOptions, SendDiscordDm, VerifyMember};
use serde::Serialize;
use store::identities::{DiscordLink, ProviderAccount};
use store::invitations::Verification;

use crate::Deps;
use crate::guild::{discord, job_error, member_role, report};

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
}

#[tracing::instrument(skip_all, fields(job_id = %lease.job_id, member = job.discord_user_id))]
pub async fn handle(
    job: VerifyMember,
    lease: Data<Lease>,
    deps: Data<Deps>,
) -> Result<VerifyOutcome, BoxDynError> {
    let checked = check(&deps, &job).await?;
    let (user_id, reply) = match checked {
        Ok(user_id) => (user_id, None),
        Err(reason) => {
            tracing::info!(%reason, "verification refused");
            (None, Some(reason))
        }
    };
    if let Some(reason) = reply {
        answer(&deps, &job, &lease, Err(reason.clone())).await?;
        return Ok(VerifyOutcome::Refused { reason });
    }
    let guilds = match job.guild_id {
        Some(g) => vec![g],
        None => store::members::pending_guilds(&deps.db, job.discord_user_id).await?,
    };
    let mut granted = 0;
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
                return Err(AbortError::new(e).into());
            }
        }
    }
    answer(&deps, &job, &lease, Ok(())).await?;
    Ok(VerifyOutcome::Verified {
        user_id,
        roles_granted: granted,
    })
}

/// Checks the proof: `Ok(Ok(user))` verified (the user is `None` for a forced verification of
/// someone without an account), `Ok(Err(reason))` refused.
async fn check(
    deps: &Deps,
    job: &VerifyMember,
) -> Result<Result<Option<i64>, String>, BoxDynError> {
    let db = &deps.db;
    let discord_id = job.discord_user_id.to_string();
    let owner = store::identities::user_of_discord(db, &discord_id).await?;
    let link = |user_id: i64| async move {
        let account = ProviderAccount {
            subject: job.discord_user_id.to_string(),
            ..Default::default()
        };
        store::identities::link_discord(db, user_id, &account).await
    };
    Ok(match &job.proof {
        MemberProof::Invitation {
            email,
            sealed_token,
        } => {
            let Ok(token) = deps.sealer.open_text(sealed_token) else {
                return Ok(Err("this verification request expired; try again".into()));
            };
            let invitee = store::users::id_by_email(db, email).await?;
            if owner.is_some() && owner != invitee {
                return Ok(Err(
                    "this Discord account is linked to another member".into()
                ));
            }
            match store::invitations::verify(db, email, &token).await? {
                Verification::Verified { user_id } => match link(user_id).await? {
                    DiscordLink::Linked { .. } => Ok(Some(user_id)),
                    _ => Err("your account is linked to another Discord account".into()),
                },
                Verification::AlreadyVerified { user_id } if owner == Some(user_id) => {
                    Ok(Some(user_id))
                }
                Verification::AlreadyVerified { .. } => {
                    Err("this email is already verified with another Discord account".into())
                }
                Verification::Invalid { .. } => {
                    Err("the email and token do not match a live invitation".into())
                }
                Verification::Expired => {
                    Err("your token expired; ask an admin for a new invitation".into())
                }
            }
        }
        MemberProof::LoginCode { sealed_code } => {
            let Ok(code) = deps.sealer.open_text(sealed_code) else {
                return Ok(Err("this login request expired; try again".into()));
            };
            if owner.is_some() {
                return Ok(Err("this Discord account is already linked".into()));
            }
            match store::one_time_tokens::redeem_login_code(db, &code).await? {
                None => Err("no live code like this; codes work once, within 24 hours".into()),
                Some(user_id) => match link(user_id).await? {
                    DiscordLink::Linked { .. } => Ok(Some(user_id)),
                    _ => Err("your account is linked to another Discord account".into()),
                },
            }
        }
        MemberProof::Forced { .. } => Ok(owner),
        MemberProof::Rejoined => match store::users::by_discord(db, job.discord_user_id).await? {
            Some(m) if m.verified && m.is_active => Ok(Some(m.user_id)),
            _ => Err("not verified".into()),
        },
    })
}

/// Tells the member: in the deferred slash-command response, else by DM.
async fn answer(
    deps: &Deps,
    job: &VerifyMember,
    lease: &Lease,
    result: Result<(), String>,
) -> Result<(), BoxDynError> {
    if matches!(job.proof, MemberProof::Rejoined) {
        return Ok(());
    }
    if let Some(interaction) = &job.interaction {
        let Ok(token) = deps.sealer.open_text(&interaction.sealed_token) else {
            return Ok(());
        };
        let text = match &result {
            Ok(()) => "✅ You're verified.".to_owned(),
            Err(reason) => format!("❌ {reason}"),
        };
        return discord(deps)?
            .edit_interaction(&token, &text, Vec::new())
            .await
            .map_err(job_error);
    }
    let message = match result {
        Ok(()) => DmMessage::VerificationConfirmed,
        Err(reason) => DmMessage::VerificationFailed { reason },
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
