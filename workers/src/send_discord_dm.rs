//! `send_discord_dm`: DM a member (instructions, confirmations). When their DMs are closed
//! (Discord error 50007) the message goes to the guild's fallback channel with a mention; with
//! no fallback channel, or when posting is forbidden, the failure is reported to the log
//! channel and the job ends (never retried into Discord's invalid-request limit). The post
//! carries a nonce from the job id, so a job that runs twice posts once.

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::data::Data;
use jobs::{DmMessage, Lease, SendDiscordDm};
use serde::Serialize;

use crate::guild::{discord, fallback_channel, job_error, report};
use crate::providers::discord::DiscordError;
use crate::{Deps, Handler, Handles};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DmOutcome {
    Sent,
    /// DMs closed: posted in the fallback channel instead.
    Fallback {
        channel_id: u64,
    },
}

/// The text of each message.
pub fn text(deps: &Deps, message: &DmMessage) -> String {
    match message {
        DmMessage::VerificationInstructions { deadline } => format!(
            "Welcome! To stay in the server, verify before <t:{deadline}:t> (<t:{deadline}:R>): \
             reply here with your email address and the token from your invitation mail, e.g. \
             `you@example.com AbC123…`, or use `/verify`."
        ),
        DmMessage::VerificationConfirmed => {
            "You're verified. Welcome in! The member role is yours.".into()
        }
        DmMessage::VerificationFailed { reason } => format!("Verification failed: {reason}"),
        DmMessage::CheckMail => crate::verify_member::CHECK_MAIL.into(),
        DmMessage::VerifyEmailInstructions => "Your Discord account is linked, but your email is \
            not verified yet, so I cannot chat with you. Send me `/verify <your email> <code>` \
            with the code we mailed you (or the token from your invitation)."
            .into(),
        DmMessage::SecretInPublic => "You typed a code or token in a channel, where everyone \
            can read it, so it no longer works: a new invitation or code is on its way to your \
            email (for a `/login` code, sign up again). Send codes and tokens to me here, in a \
            direct message."
            .into(),
        DmMessage::LoginInstructions => {
            let web = deps
                .gate
                .web_app_base_url
                .as_deref()
                .map(|u| format!(" Sign up at {u} to link it,", u = u.trim_end_matches('/')))
                .unwrap_or_default();
            format!(
                "I only chat with members whose Discord account is linked.{web} or send me \
                 `/login <auth_code>` with the code you got when you signed up."
            )
        }
    }
}

#[tracing::instrument(skip_all, fields(job_id = %lease.job_id, user = job.discord_user_id))]
pub async fn handle(
    job: SendDiscordDm,
    lease: Data<Lease>,
    deps: Data<Deps>,
) -> Result<DmOutcome, BoxDynError> {
    let discord = discord(&deps)?;
    let content = text(&deps, &job.message);
    let key = format!("dm:{}", lease.job_id);
    let sent = async {
        let channel = discord.dm_channel(job.discord_user_id).await?;
        discord
            .post(&deps.db, channel.get(), &key, &content, Vec::new())
            .await
    }
    .await;
    match sent {
        Ok(()) => Ok(DmOutcome::Sent),
        Err(DiscordError::DmsClosed) => {
            let Some(channel) = fallback_channel(&deps, job.guild_id).await? else {
                report(
                    &deps,
                    job.guild_id,
                    &key,
                    &format!(
                        "<@{}> does not accept DMs and no fallback channel is set; they did not get: {content}",
                        job.discord_user_id
                    ),
                )
                .await;
                return Err(AbortError::new(DiscordError::DmsClosed).into());
            };
            let mention = format!("<@{}> {content}", job.discord_user_id);
            match discord
                .post(
                    &deps.db,
                    channel,
                    &format!("fallback:{key}"),
                    &mention,
                    Vec::new(),
                )
                .await
            {
                Ok(()) => Ok(DmOutcome::Fallback {
                    channel_id: channel,
                }),
                Err(e) => {
                    let text = format!("cannot post in the fallback channel <#{channel}>: {e}");
                    Err(failure(&deps, job.guild_id, &key, text, e).await)
                }
            }
        }
        Err(e) => {
            let text = format!("cannot DM <@{}>: {e}", job.discord_user_id);
            Err(failure(&deps, job.guild_id, &key, text, e).await)
        }
    }
}

/// The job's error for a post that failed; one that trying again cannot fix is also reported
/// (`text`) in the guild's log channel.
async fn failure(
    deps: &Deps,
    guild: Option<u64>,
    key: &str,
    text: String,
    e: DiscordError,
) -> BoxDynError {
    if !e.is_transient() {
        report(deps, guild, key, &text).await;
    }
    job_error(e)
}

impl Handles for SendDiscordDm {
    type Outcome = DmOutcome;
    const HANDLER: Handler<Self> = |job, lease, _, deps| Box::pin(handle(job, lease, deps));
}
