//! The gateway events: messages (who the bot answers, seed 001), member joins, updates and
//! departures (handed to the gate, `gate`), and slash commands (handed to `commands`). Each
//! event runs in a trace of its own.

use std::sync::Arc;

use chrono::Utc;
use jobs::{ChatReply, DmMessage, PushOptions};
use serenity::all::{
    Context, EventHandler, GuildId, GuildMemberUpdateEvent, Interaction, Member, Message, Ready,
    User, UserId,
};
use serenity::async_trait;
use tracing::Instrument;

use crate::data::{Inner, is_bot};
use crate::members::Known;
use crate::{BotDeps, BotSettings};

/// serenity's event handler: a handle on the shared [`Inner`].
pub struct Handler {
    /// Shared by the events serenity runs concurrently.
    inner: Arc<Inner>,
}

impl Handler {
    pub fn new(deps: BotDeps, settings: BotSettings) -> Self {
        Self {
            inner: Arc::new(Inner::new(deps, settings)),
        }
    }
}

/// `email token`, as a member types it in a DM.
fn email_and_token(text: &str) -> Option<(&str, &str)> {
    let mut words = text.split_whitespace();
    let (a, b) = (words.next()?, words.next()?);
    if words.next().is_some() {
        return None;
    }
    if a.contains('@') {
        Some((a, b))
    } else if b.contains('@') {
        Some((b, a))
    } else {
        None
    }
}

/// The text without the bot's mention.
fn without_mention(text: &str, me: UserId) -> String {
    text.replace(&format!("<@{me}>"), "")
        .replace(&format!("<@!{me}>"), "")
        .trim()
        .to_owned()
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let guilds: Vec<u64> = ready.guilds.iter().map(|g| g.id.get()).collect();
        let shard = ready.shard.map_or([0, 1], |s| [s.id.0, s.total]);
        tracing::info!(
            user = %ready.user.name,
            shard = ?shard,
            guilds = ?guilds,
            intents = ?crate::intents(),
            "connected to Discord"
        );
        // Slash commands are the application's, not a shard's: the process running shard 0
        // registers them, once per session.
        if shard[0] == 0 {
            crate::commands::register(&ctx).await;
        }
    }

    async fn message(&self, ctx: Context, msg: Message) {
        traced("message", self.on_message(ctx, msg)).await;
    }

    async fn guild_member_addition(&self, _ctx: Context, member: Member) {
        traced("member_added", self.inner.member_added(member)).await;
    }

    async fn guild_member_update(
        &self,
        _ctx: Context,
        old: Option<Member>,
        _new: Option<Member>,
        event: GuildMemberUpdateEvent,
    ) {
        traced("member_updated", self.inner.member_updated(old, event)).await;
    }

    async fn guild_member_removal(
        &self,
        _ctx: Context,
        guild: GuildId,
        user: User,
        _member: Option<Member>,
    ) {
        traced("member_removed", self.inner.member_removed(guild, user)).await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        traced("interaction", self.on_interaction(ctx, interaction)).await;
    }
}

/// The event handlers proper; each runs in a trace of its own (see `jobs::trace`), which the
/// jobs it pushes carry.
impl Handler {
    async fn on_message(&self, ctx: Context, msg: Message) {
        let me = ctx.cache.current_user().id;
        if is_bot(&msg.author) || msg.author.id == me {
            return;
        }
        let inner = &self.inner;
        let member = msg.author.id.get();
        let is_dm = msg.guild_id.is_none();
        let mentioned = msg.mentions.iter().any(|u| u.id == me);
        let text = without_mention(&msg.content, me);
        // A secret typed in a channel (`/login <code>`, `/verify <email> <code>`), mentioning
        // the bot or not, is never used: everyone there read it. It is voided, its owner gets
        // a fresh one by mail, and the member is told to use DMs.
        if !is_dm && (text.starts_with("/login") || text.starts_with("/verify")) {
            inner.secret_in_public(member, msg.id.get(), &text).await;
            return;
        }
        // Seed 001's text fallback: `/login <code>`.
        if let Some(code) = text.strip_prefix("/login") {
            let code = code.trim();
            if code.is_empty() {
                return;
            }
            inner.typed_login(member, msg.id.get(), code).await;
            return;
        }
        // `/verify email token` typed as text (the code of a verification mail, or an
        // invitation's token).
        if let Some(rest) = text.strip_prefix("/verify") {
            if let Some((email, token)) = email_and_token(rest) {
                inner.typed_verify(member, msg.id.get(), email, token).await;
            }
            return;
        }
        // Seed 003: a member answers the gate's DM with `email token`.
        if is_dm
            && let Some((email, token)) = email_and_token(&text)
            && store::members::pending_guilds(&inner.deps.db, member)
                .await
                .is_ok_and(|g| !g.is_empty())
        {
            inner.typed_verify(member, msg.id.get(), email, token).await;
            return;
        }
        if !(is_dm || mentioned || inner.settings.respond_to_all_messages) || text.is_empty() {
            return;
        }
        let known = match inner.members.lookup(&inner.deps.db, member).await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "cannot look up a member");
                return;
            }
        };
        let user_id = match known {
            Known::Verified(id) => id,
            Known::Unverified(id) if inner.settings.bypass_auth => id,
            known => {
                // One reminder per member and hour is enough. A linked account whose email is
                // not proven is told how to finish, not how to start.
                let hour = Utc::now().timestamp() / 3600;
                let message = match known {
                    Known::Unverified(user_id) => {
                        inner.mail_code(member, user_id).await;
                        DmMessage::VerifyEmailInstructions
                    }
                    _ => DmMessage::LoginInstructions,
                };
                inner
                    .dm(
                        member,
                        msg.guild_id.map(GuildId::get),
                        message,
                        format!("login-help:{member}:{hour}"),
                    )
                    .await;
                return;
            }
        };
        let stored = store::chat_messages::record(
            &inner.deps.db,
            user_id,
            msg.channel_id.get(),
            msg.id.get(),
            "user",
            &text,
        )
        .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, "cannot store a chat message");
            return;
        }
        inner
            .push(
                &ChatReply {
                    user_id,
                    channel_id: msg.channel_id.get(),
                    message_id: msg.id.get(),
                    guild_id: msg.guild_id.map(GuildId::get),
                },
                PushOptions::idempotent(format!("chat:{}", msg.id)),
            )
            .await;
    }

    async fn on_interaction(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Command(command) = interaction {
            crate::commands::run(&self.inner, &ctx, &command).await;
        }
    }
}

/// Runs the handling of one gateway event in its own span and a new trace, so the jobs it
/// pushes (and theirs) share one trace id.
async fn traced(event: &'static str, handling: impl Future<Output = ()>) {
    let span = tracing::info_span!(
        "discord_event",
        event,
        trace_id = tracing::field::Empty,
        "otel.name" = %format_args!("discord {event}"),
        "otel.kind" = "server",
    );
    let trace = jobs::trace::start_span(&span, None);
    jobs::trace::scope(trace, handling).instrument(span).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_and_token_in_either_order() {
        assert_eq!(email_and_token("a@b.co TOKEN"), Some(("a@b.co", "TOKEN")));
        assert_eq!(email_and_token("TOKEN a@b.co"), Some(("a@b.co", "TOKEN")));
        assert_eq!(email_and_token("hello there"), None);
        assert_eq!(email_and_token("a@b.co"), None);
        assert_eq!(email_and_token("a@b.co x y"), None);
    }

    #[test]
    fn mentions_are_stripped() {
        let me = UserId::new(100);
        assert_eq!(without_mention("<@100> hi", me), "hi");
        assert_eq!(without_mention("hi <@!100>", me), "hi");
    }
}
