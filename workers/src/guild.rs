//! What the Discord handlers share: the deployment's gate settings, the guild's own overrides,
//! the member role, reports to the log channel, and mapping Discord errors to job outcomes.

use std::time::Duration;

use apalis_core::error::{AbortError, BoxDynError};

use crate::Deps;
use crate::providers::discord::{Discord, DiscordError};

/// The deployment's defaults for every guild (each guild may override them).
#[derive(Debug, Clone)]
pub struct GateSettings {
    /// `MEMBER_ROLE_NAME`.
    pub member_role_name: String,
    /// `VERIFICATION_TIMEOUT`.
    pub verification_timeout: Duration,
    pub fallback_channel_id: Option<u64>,
    pub log_channel_id: Option<u64>,
    /// Where people onboard (`WEB_APP_BASE_URL`), for login instructions.
    pub web_app_base_url: Option<String>,
    /// Wrong tokens one Discord account may send for one email per `failure_window` before it
    /// is locked out of that email until the window ends (`FAILURES_PER_EMAIL_AND_SOURCE`).
    pub failures_per_email: u32,
    pub failure_window: Duration,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            member_role_name: "Member".into(),
            verification_timeout: Duration::from_secs(300),
            fallback_channel_id: None,
            log_channel_id: None,
            web_app_base_url: None,
            failures_per_email: 5,
            failure_window: Duration::from_secs(15 * 60),
        }
    }
}

/// The Discord client, or a permanent failure when this deployment has no bot token.
pub fn discord(deps: &Deps) -> Result<&Discord, BoxDynError> {
    deps.discord.as_ref().ok_or_else(|| {
        AbortError::new(std::io::Error::other(
            "no Discord bot token is configured (DISCORD_BOT_TOKEN)",
        ))
        .into()
    })
}

/// A Discord failure as a job error: transient ones are retried, the rest abort (never
/// retried into Discord's invalid-request limit).
pub fn job_error(e: DiscordError) -> BoxDynError {
    if e.is_transient() {
        e.into()
    } else {
        AbortError::new(e).into()
    }
}

/// The guild's verification timeout.
pub async fn timeout(deps: &Deps, guild: u64) -> Result<Duration, sqlx::Error> {
    let settings = store::members::guild_settings(&deps.db, guild).await?;
    Ok(settings.verification_timeout(deps.gate.verification_timeout))
}

/// The id of the guild's member role, found by name once and remembered.
pub async fn member_role(deps: &Deps, guild: u64) -> Result<Option<u64>, BoxDynError> {
    let settings = store::members::guild_settings(&deps.db, guild).await?;
    if let Some(id) = settings.member_role_id {
        return Ok(Some(id as u64));
    }
    let name = settings
        .member_role_name
        .unwrap_or_else(|| deps.gate.member_role_name.clone());
    let found = discord(deps)?
        .role_named(guild, &name)
        .await
        .map_err(job_error)?;
    if let Some(id) = found {
        store::members::remember_role(&deps.db, guild, id).await?;
    }
    Ok(found)
}

/// Where DMs go when a member's DMs are closed.
pub async fn fallback_channel(deps: &Deps, guild: Option<u64>) -> Result<Option<u64>, sqlx::Error> {
    let own = match guild {
        Some(g) => store::members::guild_settings(&deps.db, g)
            .await?
            .fallback_channel_id
            .map(|c| c as u64),
        None => None,
    };
    Ok(own.or(deps.gate.fallback_channel_id))
}

/// Tells the guild's admins what the bot could not do (log channel), once per `key`. A report
/// that cannot be posted is only logged: reporting must not fail the job.
pub async fn report(deps: &Deps, guild: Option<u64>, key: &str, text: &str) {
    tracing::warn!(guild = ?guild, "{text}");
    let own = match guild {
        Some(g) => store::members::guild_settings(&deps.db, g)
            .await
            .ok()
            .and_then(|s| s.log_channel_id)
            .map(|c| c as u64),
        None => None,
    };
    let (Some(channel), Some(discord)) = (own.or(deps.gate.log_channel_id), deps.discord.as_ref())
    else {
        return;
    };
    if let Err(e) = discord
        .post(
            &deps.db,
            channel,
            &format!("report:{key}"),
            &format!("⚠️ {text}"),
            Vec::new(),
        )
        .await
    {
        tracing::warn!(error = %e, "cannot post to the log channel");
    }
}
