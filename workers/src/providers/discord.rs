//! Discord REST for the workers, over serenity's HTTP client: DMs, channel messages with files
//! (idempotent through Discord's `nonce` + `enforce_nonce`), typing, roles, kicks and
//! interaction responses. Tests point it at testkit's fake Discord (`proxy`, rate limiter off).
//!
//! Errors are an enum the handlers branch on: [`DiscordError::DmsClosed`] (50007) has a
//! fallback, [`DiscordError::Forbidden`] (missing permission, role hierarchy: 50013, 50001,
//! 403) and [`DiscordError::NotFound`] are final and must never be retried into Discord's
//! invalid-request limit; [`DiscordError::Transient`] (network, 5xx, 429) may be retried.

use std::sync::Arc;

use serenity::all::{
    ChannelId, CreateAllowedMentions, CreateAttachment, CreateMessage, EditInteractionResponse,
    GuildId, Nonce, RoleId, UserId,
};
use serenity::builder::Builder;
use serenity::http::{Http, HttpBuilder, HttpError};
use sha2::{Digest, Sha256};
use store::secret::Secret;

/// Discord's limit on a message's content.
pub const MESSAGE_LIMIT: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("the member does not accept direct messages (50007)")]
    DmsClosed,
    #[error("Discord refused: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("Discord failed for now: {0}")]
    Transient(String),
    #[error("Discord rejected the request: {0}")]
    Rejected(String),
}

impl From<serenity::Error> for DiscordError {
    fn from(e: serenity::Error) -> Self {
        let error = Self::classify(e);
        jobs::metrics::provider_call(
            "discord",
            if error.is_transient() {
                "transient"
            } else {
                "permanent"
            },
        );
        error
    }
}

impl DiscordError {
    fn classify(e: serenity::Error) -> Self {
        match &e {
            serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)) => {
                let status = resp.status_code.as_u16();
                let detail = format!("{status} {}: {}", resp.error.code, resp.error.message);
                match (status, resp.error.code) {
                    (_, 50007) => DiscordError::DmsClosed,
                    (403, _) | (_, 50013) | (_, 50001) => DiscordError::Forbidden(detail),
                    (404, _) => DiscordError::NotFound(detail),
                    (429, _) | (500..=599, _) => DiscordError::Transient(detail),
                    _ => DiscordError::Rejected(detail),
                }
            }
            serenity::Error::Io(_) => DiscordError::Transient(e.to_string()),
            // reqwest names the URL, and interaction webhooks carry their token in it.
            serenity::Error::Http(HttpError::Request(_)) => match e {
                serenity::Error::Http(HttpError::Request(re)) => {
                    DiscordError::Transient(re.without_url().to_string())
                }
                other => DiscordError::Transient(jobs::scrub::scrub(&other.to_string())),
            },
            _ => DiscordError::Rejected(jobs::scrub::scrub(&e.to_string())),
        }
    }
}

impl DiscordError {
    /// Whether another attempt could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DiscordError::Transient(_))
    }
}

/// A file to attach.
#[derive(Debug, Clone)]
pub struct File {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The workers' Discord client. Cheap to clone.
#[derive(Clone)]
pub struct Discord {
    http: Arc<Http>,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Discord")
    }
}

/// Where Discord is: the real one, or a fake (tests) at `proxy` with the rate limiter off.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    pub token: Secret,
    /// `http://127.0.0.1:<port>`: send every request there instead of discord.com (tests).
    pub proxy: Option<String>,
}

impl Discord {
    pub fn new(settings: &DiscordSettings) -> Self {
        let mut builder = HttpBuilder::new(settings.token.expose());
        if let Some(proxy) = &settings.proxy {
            // serenity applies the proxy only with its rate limiter off.
            builder = builder.proxy(proxy.clone()).ratelimiter_disabled(true);
        }
        Self {
            http: Arc::new(builder.build()),
        }
    }

    pub fn http(&self) -> &Arc<Http> {
        &self.http
    }

    /// Opens (or finds) the DM channel with `user`.
    pub async fn dm_channel(&self, user: u64) -> Result<ChannelId, DiscordError> {
        let channel = UserId::new(user).create_dm_channel(&*self.http).await?;
        ok(channel.id)
    }

    /// Posts `content` (split at Discord's limit) and `files` in `channel`, once per `key`
    /// however often it is called. Each part carries a nonce derived from `key` with
    /// `enforce_nonce` (Discord drops a repeat within a few minutes), and each posted part is
    /// recorded in `ledger` (`job_effects`), so a retry hours later posts only the parts that
    /// were not: at most the one part cut off between its post and its record can repeat, and
    /// only when the retry comes after Discord forgot its nonce.
    pub async fn post(
        &self,
        ledger: &store::Pool,
        channel: u64,
        key: &str,
        content: &str,
        files: Vec<File>,
    ) -> Result<(), DiscordError> {
        // Discord refuses a message with nothing to show (50006); refusing here says which
        // caller tried, where Discord's 400 would not.
        if content.is_empty() && files.is_empty() {
            return Err(DiscordError::Rejected(format!(
                "an empty message for channel {channel} ({key}): nothing to post"
            )));
        }
        let parts = split_message(content);
        let last = parts.len().saturating_sub(1);
        let mut files = Some(files);
        for (i, part) in parts.iter().enumerate() {
            let posted = format!("discord-post:{key}:{i}");
            if store::job_effects::done(ledger, &posted)
                .await
                .map_err(|e| DiscordError::Transient(format!("reading the post ledger: {e}")))?
            {
                continue;
            }
            let mut message = CreateMessage::new()
                .nonce(Nonce::String(nonce(key, i)))
                .enforce_nonce(true)
                .allowed_mentions(mention_nobody());
            if !part.is_empty() {
                message = message.content(part.clone());
            }
            if i == last
                && let Some(files) = files.take()
            {
                for f in files {
                    message = message.add_file(CreateAttachment::bytes(f.bytes, f.name));
                }
            }
            let sent = message
                .execute(&*self.http, (ChannelId::new(channel), None))
                .await?;
            jobs::metrics::provider_call("discord", "ok");
            let detail =
                serde_json::json!({ "channel": channel, "message_id": sent.id.get(), "part": i });
            store::job_effects::record(ledger, &posted, "discord", key, "posted", detail)
                .await
                .map_err(|e| DiscordError::Transient(format!("recording the post: {e}")))?;
        }
        Ok(())
    }

    pub async fn typing(&self, channel: u64) -> Result<(), DiscordError> {
        self.http.broadcast_typing(ChannelId::new(channel)).await?;
        ok(())
    }

    /// The id of the guild's role called `name` (case-insensitive).
    pub async fn role_named(&self, guild: u64, name: &str) -> Result<Option<u64>, DiscordError> {
        let roles = GuildId::new(guild).roles(&*self.http).await?;
        Ok(roles
            .values()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .map(|r| r.id.get()))
    }

    pub async fn add_role(&self, guild: u64, user: u64, role: u64) -> Result<(), DiscordError> {
        self.http
            .add_member_role(
                GuildId::new(guild),
                UserId::new(user),
                RoleId::new(role),
                Some("verified by Concierge"),
            )
            .await?;
        ok(())
    }

    /// Whether `user` is a member of `guild` now.
    pub async fn is_member(&self, guild: u64, user: u64) -> Result<bool, DiscordError> {
        match self
            .http
            .get_member(GuildId::new(guild), UserId::new(user))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match DiscordError::from(e) {
                DiscordError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    pub async fn kick(&self, guild: u64, user: u64, reason: &str) -> Result<(), DiscordError> {
        self.http
            .kick_member(GuildId::new(guild), UserId::new(user), Some(reason))
            .await?;
        ok(())
    }

    /// Interaction webhooks are addressed by the application id, which the bot learns from
    /// READY; the workers ask once, from `GET /applications/@me` (the bot user's id is not
    /// promised to equal it, and a wrong one makes every interaction edit a 404).
    async fn ensure_application_id(&self) -> Result<(), DiscordError> {
        if self.http.application_id().is_none() {
            let application = self.http.get_current_application_info().await?;
            self.http.set_application_id(application.id);
        }
        Ok(())
    }

    /// Replaces a deferred interaction response (the bot deferred within Discord's 3 s).
    pub async fn edit_interaction(
        &self,
        token: &str,
        content: &str,
        files: Vec<File>,
    ) -> Result<(), DiscordError> {
        self.ensure_application_id().await?;
        let mut edit = EditInteractionResponse::new()
            .content(truncate(content))
            .allowed_mentions(mention_nobody());
        for f in files {
            edit = edit.new_attachment(CreateAttachment::bytes(f.bytes, f.name));
        }
        edit.execute(&*self.http, token).await?;
        ok(())
    }
}

/// Who a post may ping: nobody. Replies and reports carry text a model or a member wrote, and
/// an `@everyone` or a role mention in it must not notify anyone; sent on every post, since
/// without it Discord pings whoever the text mentions.
pub fn mention_nobody() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// Counts a successful call (failures are counted where they are classified).
fn ok<T>(value: T) -> Result<T, DiscordError> {
    jobs::metrics::provider_call("discord", "ok");
    Ok(value)
}

/// A nonce of at most 25 characters (Discord's limit), the same for the same key and part.
fn nonce(key: &str, part: usize) -> String {
    let digest = Sha256::digest(format!("{key}:{part}").as_bytes());
    digest
        .iter()
        .take(13)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..25]
        .to_owned()
}

fn truncate(content: &str) -> String {
    if content.chars().count() <= MESSAGE_LIMIT {
        content.to_owned()
    } else {
        let mut s: String = content.chars().take(MESSAGE_LIMIT - 1).collect();
        s.push('…');
        s
    }
}

/// Splits text into parts of at most 2,000 characters, at a line break or space where one is
/// near the limit. Empty text gives one empty part (for a message that is only files).
pub fn split_message(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > MESSAGE_LIMIT {
        let window = &rest[..MESSAGE_LIMIT];
        let cut = window
            .iter()
            .rposition(|c| *c == '\n')
            .or_else(|| window.iter().rposition(|c| c.is_whitespace()))
            .filter(|&i| i > MESSAGE_LIMIT / 2)
            .map_or(MESSAGE_LIMIT, |i| i + 1);
        parts.push(rest[..cut].iter().collect::<String>().trim_end().to_owned());
        rest = rest[cut..].to_vec();
    }
    parts.push(rest.into_iter().collect());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_replies_split_under_the_limit_at_spaces() {
        let text = "word ".repeat(1000);
        let parts = split_message(&text);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MESSAGE_LIMIT));
        assert!(
            parts.iter().all(|p| !p.ends_with("wor")),
            "cut between words"
        );
        assert_eq!(parts.concat().replace(' ', ""), text.replace(' ', ""));
        assert_eq!(split_message("short"), ["short"]);
        assert_eq!(split_message(&"é".repeat(2500)).len(), 2);
    }

    #[test]
    fn nonces_are_short_and_stable() {
        assert_eq!(nonce("job-1", 0).len(), 25);
        assert_eq!(nonce("job-1", 0), nonce("job-1", 0));
        assert_ne!(nonce("job-1", 0), nonce("job-1", 1));
    }
}
