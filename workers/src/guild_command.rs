//! `guild_command`: the admin slash commands of seed 003, answered by editing the response the
//! bot deferred (Discord's 3-second window). The bot checked the invoker's permission.

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::data::Data;
use jobs::{AdminCommand, GuildCommand, Lease, MemberProof, PushOptions, VerifyMember};
use serde::Serialize;

use crate::guild::{discord, job_error, timeout};
use crate::{Deps, Handler, Handles};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandOutcome {
    pub answer: String,
}

#[tracing::instrument(skip_all, fields(job_id = %lease.job_id, guild = job.guild_id))]
pub async fn handle(
    job: GuildCommand,
    lease: Data<Lease>,
    deps: Data<Deps>,
) -> Result<CommandOutcome, BoxDynError> {
    let db = &deps.db;
    let answer = match &job.command {
        AdminCommand::VerificationStatus => {
            let pending = store::members::pending(db, job.guild_id, 50).await?;
            let minutes = timeout(&deps, job.guild_id).await?.as_secs() / 60;
            if pending.is_empty() {
                format!("No member is waiting to verify. Timeout: {minutes} min.")
            } else {
                let lines: Vec<String> = pending
                    .iter()
                    .map(|(member, deadline)| {
                        format!("• <@{member}>: until <t:{}:t>", deadline.timestamp())
                    })
                    .collect();
                format!(
                    "{} waiting (timeout {minutes} min):\n{}",
                    pending.len(),
                    lines.join("\n")
                )
            }
        }
        AdminCommand::ForceVerify { discord_user_id } => {
            deps.producer
                .push_with(
                    &VerifyMember {
                        guild_id: Some(job.guild_id),
                        discord_user_id: *discord_user_id,
                        proof: MemberProof::Forced { by: job.invoker },
                        interaction: None,
                    },
                    PushOptions::idempotent(format!("force:{}", lease.job_id)),
                )
                .await?;
            store::audit::record(
                db,
                &format!("discord:{}", job.invoker),
                "member_force_verified",
                Some(&format!("discord:{discord_user_id}")),
                serde_json::json!({ "guild_id": job.guild_id }),
            )
            .await?;
            format!("<@{discord_user_id}> is verified; the member role is on its way.")
        }
        AdminCommand::SetTimeout { minutes } => {
            if *minutes == 0 || *minutes > 7 * 24 * 60 {
                "The timeout is 1 minute to 7 days.".to_owned()
            } else {
                store::members::set_timeout(db, job.guild_id, (*minutes * 60) as i32, job.invoker)
                    .await?;
                format!("New members now have {minutes} minutes to verify.")
            }
        }
    };
    let Ok(token) = deps.sealer.open_text(&job.interaction.sealed_token) else {
        return Err(
            AbortError::new(std::io::Error::other("the interaction token does not open")).into(),
        );
    };
    discord(&deps)?
        .edit_interaction(&token, &answer, Vec::new())
        .await
        .map_err(job_error)?;
    Ok(CommandOutcome { answer })
}

impl Handles for GuildCommand {
    type Outcome = CommandOutcome;
    const HANDLER: Handler<Self> = |job, lease, _, deps| Box::pin(handle(job, lease, deps));
}
