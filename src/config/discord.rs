//! The `discord` section: the bot's token, the OAuth application that links accounts, the
//! endpoints (configurable for self-hosted gateways and test doubles) and the verification
//! gate. It converts into the workers' REST client and gate settings and the bot's settings.

use std::time::Duration;

use serde::Deserialize;
use store::secret::Secret;
use url::Url;

use super::error::{ConfigError, invalid};
use super::limits::LimitsConfig;
use super::oauth::{OAuthClient, Redirect, oauth_client};
use super::resolve::Resolver;

/// Discord: the bot, OAuth account linking and the verification gate.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// The bot's token. `DISCORD_BOT_TOKEN` (seed 001) or `DISCORD_TOKEN` (seed 003),
    /// `discord.bot_token`. Unset: `concierge all` runs without the bot.
    pub bot_token: Option<Secret>,
    /// OAuth application (seed 001): `DISCORD_CLIENT_ID`, `DISCORD_CLIENT_SECRET`,
    /// `DISCORD_REDIRECT_URI` (must match the application's settings exactly). All three or
    /// none; without them the callback answers `oauth_not_configured`.
    pub oauth: Option<OAuthClient>,
    /// Invite link returned by `GET /api/discord/invite`. `DISCORD_BOT_INVITE_URL`; unset, one
    /// is built from the client id.
    pub bot_invite_url: Option<Url>,
    /// Discord's REST base. `DISCORD_API_BASE_URL`; default `https://discord.com/api/v10`.
    pub api_base_url: Url,
    /// Where users are sent to authorize the application. `DISCORD_AUTHORIZE_URL`; default
    /// `https://discord.com/oauth2/authorize`.
    pub authorize_url: Url,
    /// Where the workers exchange codes for tokens. `DISCORD_TOKEN_URL`; default
    /// `https://discord.com/api/oauth2/token`.
    pub token_url: Url,
    /// Role granted after verification (seed 003). `MEMBER_ROLE_NAME`; default `Member`.
    pub member_role_name: String,
    /// Time a new member has to verify before being kicked, unless the guild set its own with
    /// `/set_timeout`. `VERIFICATION_TIMEOUT` in seconds (seed 003); default 300.
    pub verification_timeout: Duration,
    /// Answer every message, not only DMs and mentions. `RESPOND_TO_ALL_MESSAGES`; default
    /// false.
    pub respond_to_all_messages: bool,
    /// Testing only (seed 001): chat with linked members whose account is not verified;
    /// members who never linked still get the login instructions. `BYPASS_AUTH`; default
    /// false; logs a warning at start when on.
    pub bypass_auth: bool,
    /// Where verification DMs go when a member's DMs are closed (Discord error 50007), unless
    /// the guild has its own. `DISCORD_FALLBACK_CHANNEL_ID`, `discord.fallback_channel_id`.
    pub fallback_channel_id: Option<u64>,
    /// Where the bot reports what it could not do (missing permission, role above its own),
    /// unless the guild has its own. `DISCORD_LOG_CHANNEL_ID`, `discord.log_channel_id`.
    pub log_channel_id: Option<u64>,
    /// The gateway shards this bot process runs. `DISCORD_SHARD_COUNT`
    /// (`discord.shard_count`): how many shards the bot's guilds are split over, the same on
    /// every bot process; 1 to 1,000, default 1 (Discord requires one per 2,500 guilds).
    /// `DISCORD_SHARDS` (`discord.shards`): which of them this process runs, `first-last` or
    /// one number (`0-3`, `4`); default all.
    pub shards: bot::Shards,
}

/// The YAML section `discord`, every key optional; each key is described on the
/// [`DiscordConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDiscord {
    bot_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    bot_invite_url: Option<String>,
    api_base_url: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    member_role_name: Option<String>,
    verification_timeout: Option<u64>,
    respond_to_all_messages: Option<bool>,
    bypass_auth: Option<bool>,
    fallback_channel_id: Option<u64>,
    log_channel_id: Option<u64>,
    shard_count: Option<u32>,
    shards: Option<FileShards>,
}

/// `discord.shards`: one shard (`4`) or a range (`0-3`); anything else is refused when
/// resolved, naming the setting.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileShards {
    One(u32),
    Range(String),
    Other(serde_yaml::Value),
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileDiscord) -> Result<DiscordConfig, ConfigError> {
    let bot_token = r
        .string("DISCORD_BOT_TOKEN", f.bot_token)
        .or_else(|| r.string("DISCORD_TOKEN", None))
        .map(Secret::new);
    let oauth = oauth_client(
        r,
        "DISCORD",
        f.client_id,
        f.client_secret,
        f.redirect_uri,
        Redirect::Required,
    )?;
    let bot_invite_url = r.url(
        "DISCORD_BOT_INVITE_URL",
        "discord.bot_invite_url",
        f.bot_invite_url,
    )?;
    let api_base_url = r.url_or(
        "DISCORD_API_BASE_URL",
        "discord.api_base_url",
        f.api_base_url,
        "https://discord.com/api/v10",
    )?;
    let authorize_url = r.url_or(
        "DISCORD_AUTHORIZE_URL",
        "discord.authorize_url",
        f.authorize_url,
        "https://discord.com/oauth2/authorize",
    )?;
    let token_url = r.url_or(
        "DISCORD_TOKEN_URL",
        "discord.token_url",
        f.token_url,
        "https://discord.com/api/oauth2/token",
    )?;
    let member_role_name = r.string_or("MEMBER_ROLE_NAME", f.member_role_name, "Member");
    let timeout = r
        .parse(
            "VERIFICATION_TIMEOUT",
            "discord.verification_timeout",
            f.verification_timeout,
        )?
        .unwrap_or(300);
    if timeout == 0 {
        return Err(invalid(
            "VERIFICATION_TIMEOUT (discord.verification_timeout)",
            "must be at least 1 second",
        ));
    }
    Ok(DiscordConfig {
        bot_token,
        oauth,
        bot_invite_url,
        api_base_url,
        authorize_url,
        token_url,
        member_role_name,
        verification_timeout: Duration::from_secs(timeout),
        respond_to_all_messages: r
            .bool(
                "RESPOND_TO_ALL_MESSAGES",
                "discord.respond_to_all_messages",
                f.respond_to_all_messages,
            )?
            .unwrap_or(false),
        bypass_auth: r
            .bool("BYPASS_AUTH", "discord.bypass_auth", f.bypass_auth)?
            .unwrap_or(false),
        fallback_channel_id: r.parse(
            "DISCORD_FALLBACK_CHANNEL_ID",
            "discord.fallback_channel_id",
            f.fallback_channel_id,
        )?,
        log_channel_id: r.parse(
            "DISCORD_LOG_CHANNEL_ID",
            "discord.log_channel_id",
            f.log_channel_id,
        )?,
        shards: shards(
            r,
            f.shard_count,
            f.shards.map(|s| match s {
                FileShards::One(n) => n.to_string(),
                FileShards::Range(range) => range,
                FileShards::Other(other) => serde_yaml::to_string(&other)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            }),
        )?,
    })
}

/// The most shards a bot may be split over: far beyond the largest bots (Discord recommends
/// one per 1,000 guilds), low enough that a typo does not start thousands of sessions from
/// the day's 1,000.
const MAX_SHARDS: u32 = 1000;

/// `DISCORD_SHARD_COUNT` and `DISCORD_SHARDS`: a range within the count.
fn shards(
    r: &Resolver<'_>,
    count: Option<u32>,
    range: Option<String>,
) -> Result<bot::Shards, ConfigError> {
    let count = r.within(
        "DISCORD_SHARD_COUNT",
        "discord.shard_count",
        count,
        1,
        1..=MAX_SHARDS,
    )?;
    let Some(raw) = r.string("DISCORD_SHARDS", range) else {
        return Ok(bot::Shards::all(count));
    };
    let setting = "DISCORD_SHARDS (discord.shards)";
    let number = |part: &str| {
        let part = part.trim();
        let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        digits
            .then(|| part.parse::<u32>().ok())
            .flatten()
            .ok_or_else(|| {
                invalid(
                    setting,
                    format!("expected a shard or a range of shards such as 0-3, got {raw:?}"),
                )
            })
    };
    let (first, last) = match raw.split_once('-') {
        Some((first, last)) => (number(first)?, number(last)?),
        None => (number(&raw)?, number(&raw)?),
    };
    if first > last {
        return Err(invalid(
            setting,
            format!("{raw:?} names its first shard after its last"),
        ));
    }
    bot::Shards::range(count, first, last).ok_or_else(|| {
        invalid(
            setting,
            format!(
                "{raw:?} goes beyond the last shard, {} (DISCORD_SHARD_COUNT is {count})",
                count - 1
            ),
        )
    })
}

impl DiscordConfig {
    /// Discord REST: discord.com, or the host of `DISCORD_API_BASE_URL` when it points elsewhere
    /// (a self-hosted gateway or a test double).
    pub fn rest(&self, token: &Secret) -> workers::providers::discord::DiscordSettings {
        let base = &self.api_base_url;
        let proxy = (base.host_str() != Some("discord.com")).then(|| {
            let mut origin = base.origin().ascii_serialization();
            if origin == "null" {
                origin = base.as_str().trim_end_matches('/').to_owned();
            }
            origin
        });
        workers::providers::discord::DiscordSettings {
            token: token.clone(),
            proxy,
        }
    }

    /// The bot's settings: this section, logging in with `token`, and the limit of secret
    /// attempts per member.
    pub fn bot(&self, token: &Secret, limits: &LimitsConfig) -> bot::BotSettings {
        bot::BotSettings {
            token: token.clone(),
            proxy: self.rest(token).proxy,
            respond_to_all_messages: self.respond_to_all_messages,
            bypass_auth: self.bypass_auth,
            verification_timeout: self.verification_timeout,
            attempts_per_member: limits.secret_attempts_per_discord_id,
            attempts_window: limits.window,
            shards: self.shards,
        }
    }

    /// The workers' verification gate: this section, the web frontend its messages link to,
    /// and the lock-out after wrong tokens.
    pub fn gate(
        &self,
        web_app_base_url: Option<&Url>,
        limits: &LimitsConfig,
    ) -> workers::guild::GateSettings {
        workers::guild::GateSettings {
            member_role_name: self.member_role_name.clone(),
            verification_timeout: self.verification_timeout,
            fallback_channel_id: self.fallback_channel_id,
            log_channel_id: self.log_channel_id,
            web_app_base_url: web_app_base_url.map(|u| u.to_string()),
            failures_per_email: limits.failures_per_email_and_source,
            failure_window: limits.window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::testing::{error, section};

    #[test]
    fn incomplete_oauth_client_names_the_missing_setting() {
        let e = error(
            &[
                ("DISCORD_CLIENT_ID", "123"),
                ("DISCORD_REDIRECT_URI", "http://localhost/cb"),
            ],
            resolve,
        );
        assert_eq!(
            e,
            "invalid setting DISCORD_CLIENT_SECRET (discord.client_secret): missing; it is required when DISCORD_CLIENT_ID and DISCORD_REDIRECT_URI are set"
        );
    }

    fn shards_of(env: &[(&str, &str)]) -> bot::Shards {
        section(env, "", resolve).expect("valid").shards
    }

    #[test]
    fn shards_default_to_all_of_the_count() {
        assert_eq!(shards_of(&[]), bot::Shards::ONE);
        assert_eq!(
            shards_of(&[("DISCORD_SHARD_COUNT", "4")]),
            bot::Shards::all(4)
        );
        assert_eq!(
            shards_of(&[("DISCORD_SHARD_COUNT", "4"), ("DISCORD_SHARDS", "2-3")]),
            bot::Shards::range(4, 2, 3).expect("range")
        );
        assert_eq!(
            shards_of(&[("DISCORD_SHARD_COUNT", "4"), ("DISCORD_SHARDS", " 1 ")]),
            bot::Shards::range(4, 1, 1).expect("one shard")
        );
        let e = section(&[], "shard_count: 2\nshards: -1", resolve).expect_err("refused");
        assert!(
            e.to_string()
                .starts_with("invalid setting DISCORD_SHARDS (discord.shards): expected a shard"),
            "{e}"
        );
        for (yaml, first) in [
            ("shard_count: 2\nshards: 1", 1),
            ("shard_count: 2\nshards: 0-0", 0),
        ] {
            let shards = section(&[], yaml, resolve).expect("valid").shards;
            assert_eq!(
                shards,
                bot::Shards::range(2, first, first).expect("range"),
                "{yaml}"
            );
        }
    }

    #[test]
    fn shard_ranges_outside_the_count_are_refused() {
        for (count, why) in [("0", "got 0"), ("1001", "got 1001"), ("two", "got \"two\"")] {
            let e = error(&[("DISCORD_SHARD_COUNT", count)], resolve);
            assert!(
                e.starts_with("invalid setting DISCORD_SHARD_COUNT (discord.shard_count): ")
                    && e.contains(why),
                "{e}"
            );
        }
        for (range, why) in [
            (
                "2-4",
                "\"2-4\" goes beyond the last shard, 3 (DISCORD_SHARD_COUNT is 4)",
            ),
            ("4", "\"4\" goes beyond the last shard, 3"),
            ("3-1", "\"3-1\" names its first shard after its last"),
            (
                "+1",
                "expected a shard or a range of shards such as 0-3, got \"+1\"",
            ),
            (
                "1-",
                "expected a shard or a range of shards such as 0-3, got \"1-\"",
            ),
            (
                "all",
                "expected a shard or a range of shards such as 0-3, got \"all\"",
            ),
            (
                "-1",
                "expected a shard or a range of shards such as 0-3, got \"-1\"",
            ),
        ] {
            let e = error(
                &[("DISCORD_SHARD_COUNT", "4"), ("DISCORD_SHARDS", range)],
                resolve,
            );
            assert!(
                e.starts_with("invalid setting DISCORD_SHARDS (discord.shards): "),
                "{e}"
            );
            assert!(e.contains(why), "{range}: {e}");
        }
    }
}
