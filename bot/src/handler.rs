//! The gateway events: messages (who the bot answers, seed 001), member joins, updates and
//! departures (the verification gate, seed 003), and slash commands (see `commands`).

use std::sync::Arc;

use chrono::Utc;
use jobs::ratelimit::{Decision, Limit, RateLimiter};
use jobs::{
    ChatReply, DmMessage, KickExpiredMember, MemberProof, PushOptions, SendDiscordDm, VerifyMember,
};
use serenity::all::{
    Context, EventHandler, GuildId, GuildMemberUpdateEvent, Interaction, Member, Message, Ready,
    User, UserId,
};
use serenity::async_trait;
use tracing::Instrument;

use crate::members::{Known, MemberCache};
use crate::{BotDeps, BotSettings};

pub struct Handler {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub deps: BotDeps,
    pub settings: BotSettings,
    pub members: MemberCache,
    pub limiter: RateLimiter,
}

impl Handler {
    pub fn new(deps: BotDeps, settings: BotSettings) -> Self {
        let limiter = RateLimiter::new(&deps.producer);
        Self {
            inner: Arc::new(Inner {
                deps,
                settings,
                members: MemberCache::default(),
                limiter,
            }),
        }
    }
}

impl Inner {
    /// Counts an attempt at a secret (code, token) by `member`; false when over the limit.
    pub async fn attempt_allowed(&self, member: u64) -> bool {
        let limit = Limit {
            scope: "discord",
            max: self.settings.attempts_per_member,
            window: self.settings.attempts_window,
        };
        match self.limiter.hit(&[(limit, &member.to_string())]).await {
            Ok(Decision::Allowed) => true,
            Ok(Decision::Limited { .. }) => false,
            Err(e) => {
                // Without Redis nothing can be pushed either; refuse rather than allow guessing.
                tracing::error!(error = %e, "rate limiter unavailable");
                false
            }
        }
    }

    /// Pushes a job, logging a failure (an event handler has nobody to return an error to).
    pub async fn push<J: jobs::Job>(&self, job: &J, options: PushOptions) -> bool {
        match self.deps.producer.push_with(job, options).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(queue = J::QUEUE, error = %e, "cannot push a job");
                false
            }
        }
    }

    /// A member's verification attempt (`email token` by DM, or `/verify`).
    pub async fn verify_attempt(
        &self,
        member: u64,
        guild: Option<u64>,
        email: &str,
        token: &str,
        interaction: Option<jobs::InteractionRef>,
    ) -> bool {
        self.members.forget(member);
        self.push(
            &VerifyMember {
                guild_id: guild,
                discord_user_id: member,
                proof: MemberProof::Invitation {
                    email: email.to_owned(),
                    sealed_token: self.deps.sealer.seal_text(token),
                },
                interaction,
            },
            PushOptions::default(),
        )
        .await
    }

    /// A member's `/login <code>`.
    pub async fn login_attempt(
        &self,
        member: u64,
        code: &str,
        interaction: Option<jobs::InteractionRef>,
    ) -> bool {
        self.members.forget(member);
        self.push(
            &VerifyMember {
                guild_id: None,
                discord_user_id: member,
                proof: MemberProof::LoginCode {
                    sealed_code: self.deps.sealer.seal_text(code),
                },
                interaction,
            },
            PushOptions::default(),
        )
        .await
    }

    /// Tells a member who guessed too often to wait (by DM).
    async fn too_many_attempts(&self, member: u64, message: u64) {
        let reason = "too many attempts; wait a few minutes".to_owned();
        self.dm(
            member,
            None,
            DmMessage::VerificationFailed { reason },
            format!("limited:{message}"),
        )
        .await;
    }

    /// Mails the user of a linked but unconfirmed (or unproven) account a verification code,
    /// at most once an hour per Discord account (the `send_email` worker's caps hold too):
    /// the way back for a member whose link needs proving, such as a link from before V2.
    /// The code goes to the user's own address, so it helps only whoever reads that mailbox.
    async fn mail_code(&self, member: u64, user_id: i64) {
        let once = Limit {
            scope: "bot-code-mail",
            max: 1,
            window: std::time::Duration::from_secs(3600),
        };
        match self.limiter.hit(&[(once, &member.to_string())]).await {
            Ok(Decision::Allowed) => {}
            Ok(Decision::Limited { .. }) => return,
            Err(e) => {
                tracing::error!(error = %e, "rate limiter unavailable");
                return;
            }
        }
        let db = &self.deps.db;
        let user = match store::users::find(db, user_id).await {
            Ok(Some(user)) => user,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a user");
                return;
            }
        };
        match store::email_deliveries::queue(db, Some(user_id), "verification", &user.email, None)
            .await
        {
            Ok(delivery_id) => {
                self.push(&jobs::SendEmail { delivery_id }, PushOptions::default())
                    .await;
            }
            Err(e) => tracing::error!(error = %e, "cannot queue a verification mail"),
        }
    }

    /// A secret typed in a channel: voids whatever live token it is (whatever email was
    /// typed with it), mails its owner a fresh one (an invitation again, or a new code), and
    /// tells the member to use DMs.
    async fn secret_in_public(&self, member: u64, message: u64, text: &str) {
        let words: Vec<&str> = text.split_whitespace().skip(1).collect();
        let db = &self.deps.db;
        for word in words.iter().filter(|w| !w.contains('@')) {
            match store::one_time_tokens::void_exposed(db, word).await {
                Ok(Some((user_id, purpose))) => {
                    tracing::warn!(user_id, %purpose, "a token typed in a channel was voided");
                    self.mail_fresh(user_id, &purpose).await;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot void an exposed token"),
            }
        }
        self.dm(
            member,
            None,
            DmMessage::SecretInPublic,
            format!("secret-in-public:{message}"),
        )
        .await;
    }

    /// After a voided token: a new invitation, or a new verification code, by mail.
    async fn mail_fresh(&self, user_id: i64, purpose: &str) {
        let db = &self.deps.db;
        let delivery = match purpose {
            "invitation" => store::invitations::reissue(db, user_id).await,
            "email_verification" => match store::users::find(db, user_id).await {
                Ok(Some(user)) => store::email_deliveries::queue(
                    db,
                    Some(user_id),
                    "verification",
                    &user.email,
                    None,
                )
                .await
                .map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            },
            // A `/login` code: its owner onboards again for a new one.
            _ => Ok(None),
        };
        match delivery {
            Ok(Some(delivery_id)) => {
                self.push(&jobs::SendEmail { delivery_id }, PushOptions::default())
                    .await;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot mail a fresh token"),
        }
    }

    /// Sends `message` to `member` by DM (through the queue).
    async fn dm(&self, member: u64, guild: Option<u64>, message: DmMessage, key: String) {
        self.push(
            &SendDiscordDm {
                discord_user_id: member,
                guild_id: guild,
                message,
            },
            PushOptions::idempotent(key),
        )
        .await;
    }

    /// A member is at the gate of `guild` (joined, or passed membership screening).
    async fn gate(&self, guild: u64, member: u64) {
        let db = &self.deps.db;
        let timeout = match store::members::guild_settings(db, guild).await {
            Ok(s) => s.verification_timeout(self.settings.verification_timeout),
            Err(e) => {
                tracing::error!(error = %e, "cannot read guild settings");
                return;
            }
        };
        let gate = match store::members::joined(db, guild, member, timeout).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "cannot record a member at the gate");
                return;
            }
        };
        let linked = store::users::by_discord(db, member).await.ok().flatten();
        let proof = match (&linked, gate.status.as_str()) {
            (Some(m), _) if m.verified && m.is_active => Some(MemberProof::Rejoined),
            (_, "verified") => Some(MemberProof::Forced { by: 0 }),
            _ => None,
        };
        if let Some(proof) = proof {
            // Verified before: the role comes back at once.
            self.push(
                &VerifyMember {
                    guild_id: Some(guild),
                    discord_user_id: member,
                    proof,
                    interaction: None,
                },
                PushOptions::default(),
            )
            .await;
            return;
        }
        let deadline_ms = gate.deadline.timestamp_millis();
        tracing::info!(guild, member, deadline = %gate.deadline, "member at the verification gate");
        self.dm(
            member,
            Some(guild),
            DmMessage::VerificationInstructions {
                deadline: gate.deadline.timestamp(),
            },
            format!("gate-dm:{guild}:{member}:{deadline_ms}"),
        )
        .await;
        let kick = KickExpiredMember {
            guild_id: guild,
            discord_user_id: member,
        };
        let key = kick.key(deadline_ms);
        self.push(
            &kick,
            PushOptions::at(deadline_ms.max(0) as u64).with_idempotency_key(key),
        )
        .await;
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

fn is_bot(user: &User) -> bool {
    user.bot || user.system
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let guilds: Vec<u64> = ready.guilds.iter().map(|g| g.id.get()).collect();
        tracing::info!(
            user = %ready.user.name,
            guilds = ?guilds,
            intents = ?crate::intents(),
            "connected to Discord"
        );
        crate::commands::register(&ctx).await;
    }

    async fn message(&self, ctx: Context, msg: Message) {
        traced("message", self.on_message(ctx, msg)).await;
    }

    async fn guild_member_addition(&self, ctx: Context, member: Member) {
        traced("member_added", self.on_member_added(ctx, member)).await;
    }

    async fn guild_member_update(
        &self,
        ctx: Context,
        old: Option<Member>,
        new: Option<Member>,
        event: GuildMemberUpdateEvent,
    ) {
        traced(
            "member_updated",
            self.on_member_updated(ctx, old, new, event),
        )
        .await;
    }

    async fn guild_member_removal(
        &self,
        ctx: Context,
        guild: GuildId,
        user: User,
        member: Option<Member>,
    ) {
        traced(
            "member_removed",
            self.on_member_removed(ctx, guild, user, member),
        )
        .await;
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
            if inner.attempt_allowed(member).await {
                inner.login_attempt(member, code, None).await;
            } else {
                inner.too_many_attempts(member, msg.id.get()).await;
            }
            return;
        }
        // `/verify email token` typed as text (the code of a verification mail, or an
        // invitation's token).
        if let Some(rest) = text.strip_prefix("/verify") {
            if let Some((email, token)) = email_and_token(rest) {
                if inner.attempt_allowed(member).await {
                    inner.verify_attempt(member, None, email, token, None).await;
                } else {
                    inner.too_many_attempts(member, msg.id.get()).await;
                }
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
            if inner.attempt_allowed(member).await {
                inner.verify_attempt(member, None, email, token, None).await;
            } else {
                inner.too_many_attempts(member, msg.id.get()).await;
            }
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

    async fn on_member_added(&self, _ctx: Context, member: Member) {
        if is_bot(&member.user) {
            return;
        }
        if member.pending {
            // Membership screening first; the gate starts when it is passed (member update).
            tracing::info!(
                member = member.user.id.get(),
                "member joined, pending screening"
            );
            return;
        }
        self.inner
            .gate(member.guild_id.get(), member.user.id.get())
            .await;
    }

    async fn on_member_updated(
        &self,
        _ctx: Context,
        old: Option<Member>,
        _new: Option<Member>,
        event: GuildMemberUpdateEvent,
    ) {
        if is_bot(&event.user) || event.pending {
            return;
        }
        let guild = event.guild_id.get();
        let member = event.user.id.get();
        // Passed screening: pending before (cached), or no gate row yet for a recent joiner.
        let was_pending = old.is_some_and(|o| o.pending);
        let recent = (Utc::now() - *event.joined_at).num_hours() < 24;
        let known = store::members::gate(&self.inner.deps.db, guild, member)
            .await
            .ok()
            .flatten();
        if was_pending || (recent && known.is_none()) {
            self.inner.gate(guild, member).await;
        }
    }

    async fn on_member_removed(
        &self,
        _ctx: Context,
        guild: GuildId,
        user: User,
        _member: Option<Member>,
    ) {
        if let Err(e) = store::members::left(&self.inner.deps.db, guild.get(), user.id.get()).await
        {
            tracing::error!(error = %e, "cannot record a member leaving");
        }
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
