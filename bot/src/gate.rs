//! The verification gate (seed 003) and the attempts that pass it. A member who joins (or
//! passes membership screening) is recorded at the gate with a deadline, told by DM how to
//! verify, and kicked at the deadline unless verified; a member verified before gets the role
//! back at once. Members prove themselves with `email token` by DM, `/verify`, or `/login
//! <code>` (seed 001), each rate limited per Discord account and handed to the `verify_member`
//! job. A secret typed in a channel is voided and its owner mailed a fresh one; a linked member
//! whose email is not proven is mailed a code, the way back for links from before V2.

use chrono::Utc;
use jobs::ratelimit::Limit;
use jobs::{DmMessage, KickExpiredMember, MemberProof, PushOptions, VerifyMember};
use serenity::all::{GuildId, GuildMemberUpdateEvent, Member, User};

use crate::data::{Inner, is_bot};

impl Inner {
    /// A member joined the guild.
    pub async fn member_added(&self, member: Member) {
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
        self.gate(member.guild_id.get(), member.user.id.get()).await;
    }

    /// A member changed (`old` is serenity's cached copy, when it has one).
    pub async fn member_updated(&self, old: Option<Member>, event: GuildMemberUpdateEvent) {
        if is_bot(&event.user) || event.pending {
            return;
        }
        let guild = event.guild_id.get();
        let member = event.user.id.get();
        // Passed screening: pending before (cached), or no gate row yet for a recent joiner.
        let was_pending = old.is_some_and(|o| o.pending);
        let recent = (Utc::now() - *event.joined_at).num_hours() < 24;
        let known = store::members::gate(&self.deps.db, guild, member)
            .await
            .ok()
            .flatten();
        if was_pending || (recent && known.is_none()) {
            self.gate(guild, member).await;
        }
    }

    /// A member left the guild (or was kicked).
    pub async fn member_removed(&self, guild: GuildId, user: User) {
        if let Err(e) = store::members::left(&self.deps.db, guild.get(), user.id.get()).await {
            tracing::error!(error = %e, "cannot record a member leaving");
        }
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

    /// A member's verification attempt (`email token` by DM, or `/verify`).
    pub async fn verify_attempt(
        &self,
        member: u64,
        guild: Option<u64>,
        email: &str,
        token: &str,
        interaction: Option<jobs::InteractionRef>,
    ) -> bool {
        let proof = MemberProof::Invitation {
            email: email.to_owned(),
            sealed_token: self.deps.sealer.seal_text(token),
        };
        self.prove(member, guild, proof, interaction).await
    }

    /// A member's `/login <code>`.
    pub async fn login_attempt(
        &self,
        member: u64,
        code: &str,
        interaction: Option<jobs::InteractionRef>,
    ) -> bool {
        let proof = MemberProof::LoginCode {
            sealed_code: self.deps.sealer.seal_text(code),
        };
        self.prove(member, None, proof, interaction).await
    }

    /// Hands `member`'s proof to the `verify_member` job; the cache forgets the member first,
    /// since the proof may link or verify them.
    async fn prove(
        &self,
        member: u64,
        guild: Option<u64>,
        proof: MemberProof,
        interaction: Option<jobs::InteractionRef>,
    ) -> bool {
        self.members.forget(member);
        self.push(
            &VerifyMember {
                guild_id: guild,
                discord_user_id: member,
                proof,
                interaction,
            },
            PushOptions::default(),
        )
        .await
    }

    /// `/login <code>` typed as text (in a DM, message `message`): rate limited, and a
    /// member over the limit is told by DM to wait.
    pub async fn typed_login(&self, member: u64, message: u64, code: &str) {
        if self.attempt_allowed(member).await {
            self.login_attempt(member, code, None).await;
        } else {
            self.too_many_attempts(member, message).await;
        }
    }

    /// `email token` typed as text (in a DM, message `message`), limited as `typed_login`.
    pub async fn typed_verify(&self, member: u64, message: u64, email: &str, token: &str) {
        if self.attempt_allowed(member).await {
            self.verify_attempt(member, None, email, token, None).await;
        } else {
            self.too_many_attempts(member, message).await;
        }
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
    pub async fn mail_code(&self, member: u64, user_id: i64) {
        let once = Limit {
            scope: "bot-code-mail",
            max: 1,
            window: std::time::Duration::from_secs(3600),
        };
        if !self.hit(once, member).await {
            return;
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
    pub async fn secret_in_public(&self, member: u64, message: u64, text: &str) {
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
}
