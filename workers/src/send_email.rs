//! `send_email`: render the delivery's mail (plain text + HTML, with Message-ID and Date),
//! send it, and record the delivery. Safe to run twice: a delivery already sent (its effect is
//! in `job_effects`) is not sent again. A permanent rejection (bad address) aborts without
//! retry; a transient one is retried by the queue.
//!
//! The one window left: the server accepted the mail and the worker died before recording it.
//! SMTP gives no way to make that atomic; the next attempt sends again (at least once).

use std::time::Duration;

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::data::Data;
use jobs::{Job, Lease, SendEmail};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart, header};
use serde::Serialize;

use crate::providers::smtp::MailError;
use crate::{Deps, Handler, Handles};

/// What an attempt did, stored as the job's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EmailOutcome {
    Sent {
        message_id: String,
    },
    /// Sent by an earlier run of this job.
    AlreadySent,
    /// Not sent: the address already got its hourly cap of mails that anonymous requests can
    /// cause (verification and link mails). Recorded on the delivery as failed.
    Capped,
    /// The delivery no longer exists (its user was deleted): nothing to do.
    Gone,
}

/// Settings of outgoing mail.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub mailer: crate::providers::smtp::Mailer,
    /// The From header.
    pub from: String,
    /// Name of the community in subjects and greetings.
    pub community: String,
    /// Lifetime of the tokens minted for invitations (`TOKEN_EXPIRY_DAYS`).
    pub invitation_ttl: Duration,
    /// Lifetime of email verification tokens.
    pub verification_ttl: Duration,
    /// Verification and link mails one mailbox may get per hour (`MAILS_PER_ADDRESS_PER_HOUR`):
    /// anyone can cause them, so they are capped per recipient.
    pub mails_per_address: u32,
    /// The same mails in all, per hour (`ANONYMOUS_MAILS_PER_HOUR`).
    pub anonymous_mails_per_hour: u32,
}

pub async fn handle(
    job: SendEmail,
    lease: Data<Lease>,
    deps: Data<Deps>,
) -> Result<EmailOutcome, BoxDynError> {
    let db = &deps.db;
    let Some(delivery) = store::email_deliveries::find(db, job.delivery_id).await? else {
        return Ok(EmailOutcome::Gone);
    };
    let effect_key = format!("{}:{}", SendEmail::QUEUE, delivery.id);
    if delivery.status == "sent" || store::job_effects::done(db, &effect_key).await? {
        return Ok(EmailOutcome::AlreadySent);
    }
    let settings = &deps.email;
    // Mails anyone can cause (a stranger onboarding or linking with this address) are capped
    // per recipient, and never carry text the requester chose (the name).
    let anonymous = matches!(delivery.kind.as_str(), "verification" | "link_confirmation");
    if anonymous && let Some(cap) = capped(&deps, &delivery).await? {
        store::email_deliveries::mark_failed(
            db,
            delivery.id,
            &format!("not sent: {cap}"),
            true,
            lease.job_id.as_str(),
        )
        .await?;
        tracing::info!(delivery_id = delivery.id, kind = %delivery.kind, cap, "mail capped");
        return Ok(EmailOutcome::Capped);
    }
    let name = match (&delivery.full_name, anonymous) {
        (Some(name), false) => name.clone(),
        _ => "there".to_owned(),
    };
    let mut vars = vec![
        ("community", settings.community.clone()),
        ("name", name),
        ("email", delivery.to_address.clone()),
    ];
    // The invitation row to update once the mail is out: (user, token, token expiry).
    let mut invitation = None;
    let template = match delivery.kind.as_str() {
        kind @ ("invitation" | "verification") => {
            let Some(user_id) = delivery.user_id else {
                return Err(AbortError::new(std::io::Error::other(format!(
                    "{kind} mail without a user"
                )))
                .into());
            };
            // A fresh invitation token retires the previous one (an admin re-sent it); a
            // verification code leaves earlier ones alive (anyone can cause this mail, and it
            // must not kill the code its owner already holds).
            let (purpose, ttl, template, earlier) = if kind == "invitation" {
                (
                    "invitation",
                    settings.invitation_ttl,
                    INVITATION,
                    store::one_time_tokens::Earlier::Retire,
                )
            } else {
                (
                    "email_verification",
                    settings.verification_ttl,
                    VERIFICATION,
                    store::one_time_tokens::Earlier::Keep,
                )
            };
            let (token_id, token) =
                store::one_time_tokens::issue(db, user_id, purpose, ttl, earlier).await?;
            if kind == "invitation" {
                let expires = chrono::Utc::now()
                    + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7));
                invitation = Some((user_id, token_id, expires));
            }
            vars.push(("token", token));
            vars.push(("days", (ttl.as_secs().div_ceil(86_400)).to_string()));
            template
        }
        "link_confirmation" => LINK_CONFIRMATION,
        other => {
            return Err(AbortError::new(std::io::Error::other(format!(
                "unknown kind of mail {other:?}"
            )))
            .into());
        }
    };
    // A message that cannot be built fails like a permanent rejection: same record, no retry.
    let file_name = format!("{}-{}", delivery.id, lease.job_id);
    let sent = match build(settings, &delivery.to_address, template, &vars) {
        Ok((message, message_id)) => settings
            .mailer
            .send(&message, &file_name)
            .await
            .map(|()| message_id),
        Err(e) => Err(e),
    };
    match sent {
        Ok(message_id) => {
            store::job_effects::record(
                db,
                &effect_key,
                SendEmail::QUEUE,
                lease.job_id.as_str(),
                "email_sent",
                serde_json::json!({ "message_id": message_id }),
            )
            .await?;
            store::email_deliveries::mark_sent(db, delivery.id, &message_id, lease.job_id.as_str())
                .await?;
            if let Some((user_id, token_id, expires)) = invitation {
                store::invitations::mark_sent(db, user_id, token_id, expires).await?;
            }
            tracing::info!(delivery_id = delivery.id, kind = %delivery.kind, "email sent");
            Ok(EmailOutcome::Sent { message_id })
        }
        Err(e) => {
            let permanent = matches!(e, MailError::Permanent(_));
            let last = permanent || lease.attempt >= lease.max_attempts;
            store::email_deliveries::mark_failed(
                db,
                delivery.id,
                &e.to_string(),
                last,
                lease.job_id.as_str(),
            )
            .await?;
            if let (true, Some((user_id, ..))) = (last, invitation) {
                store::invitations::mark_failed(db, user_id).await?;
            }
            if permanent {
                Err(AbortError::new(e).into())
            } else {
                Err(e.into())
            }
        }
    }
}

impl Handles for SendEmail {
    type Outcome = EmailOutcome;
    const HANDLER: Handler<Self> = |job, lease, _, deps| Box::pin(handle(job, lease, deps));
}

/// Which hourly cap of mails anyone can cause keeps this delivery from going out, if any:
/// per address (exactly as stored), per inbox (its aliases together), and in all. A delivery
/// is charged once, however often its job is retried.
async fn capped(
    deps: &Deps,
    delivery: &store::email_deliveries::DeliveryToSend,
) -> Result<Option<&'static str>, BoxDynError> {
    use jobs::ratelimit::{Decision, anonymous_mail_caps};
    let charged = format!("mail-cap:{}", delivery.id);
    if store::job_effects::done(&deps.db, &charged).await? {
        return Ok(None);
    }
    let settings = &deps.email;
    let address = delivery.to_address.to_lowercase();
    let mailbox = store::email::Email::parse(&delivery.to_address)
        .map(|e| e.mailbox_key())
        .unwrap_or_else(|_| address.clone());
    let caps = anonymous_mail_caps(
        settings.mails_per_address,
        settings.anonymous_mails_per_hour,
        &address,
        &mailbox,
    );
    let reasons = [
        "this address already got its hourly cap of verification mails",
        "this inbox (with its aliases) already got its hourly cap of verification mails",
        "the hourly cap of verification mails in all was reached",
    ];
    let limiter = jobs::ratelimit::RateLimiter::new(&deps.producer);
    for (cap, why) in caps.iter().zip(reasons) {
        if let Decision::Limited { .. } = limiter.peek(std::slice::from_ref(cap)).await? {
            return Ok(Some(why));
        }
    }
    limiter.hit(&caps).await?;
    store::job_effects::record(
        &deps.db,
        &charged,
        SendEmail::QUEUE,
        "",
        "mail_cap_charged",
        serde_json::Value::Null,
    )
    .await?;
    Ok(None)
}

/// Queues a verification mail to `user` (a code to send the bot from the Discord account
/// just linked, unconfirmed), once per job run (`job_id`), within the per-address cap.
pub(crate) async fn queue_verification(
    deps: &Deps,
    user: &store::users::User,
    job_id: &jobs::JobId,
) -> Result<(), BoxDynError> {
    let effect = format!("verification-mail:{job_id}");
    if store::job_effects::done(&deps.db, &effect).await? {
        return Ok(());
    }
    let delivery =
        store::email_deliveries::queue(&deps.db, Some(user.id), "verification", &user.email, None)
            .await?;
    deps.producer
        .push(&SendEmail {
            delivery_id: delivery,
        })
        .await?;
    store::job_effects::record(
        &deps.db,
        &effect,
        SendEmail::QUEUE,
        job_id.as_str(),
        "verification_mail_queued",
        serde_json::json!({ "delivery_id": delivery }),
    )
    .await?;
    Ok(())
}

/// A mail's templates: the text one starts with its subject line.
#[derive(Debug, Clone, Copy)]
struct Template {
    text: &'static str,
    html: &'static str,
}

const INVITATION: Template = Template {
    text: include_str!("../templates/email/invitation.txt"),
    html: include_str!("../templates/email/invitation.html"),
};
const VERIFICATION: Template = Template {
    text: include_str!("../templates/email/verification.txt"),
    html: include_str!("../templates/email/verification.html"),
};
const LINK_CONFIRMATION: Template = Template {
    text: include_str!("../templates/email/link_confirmation.txt"),
    html: include_str!("../templates/email/link_confirmation.html"),
};

fn fill(template: &str, vars: &[(&str, String)], escape: bool) -> String {
    let mut out = template.to_owned();
    for (key, value) in vars {
        let value = if escape {
            html_escape(value)
        } else {
            value.clone()
        };
        out = out.replace(&format!("{{{{{key}}}}}"), &value);
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Builds the message: multipart/alternative (text first), Message-ID on the From domain, Date.
fn build(
    settings: &EmailSettings,
    to: &str,
    template: Template,
    vars: &[(&str, String)],
) -> Result<(Message, String), MailError> {
    let from: Mailbox = settings.from.parse().map_err(|e| {
        MailError::Permanent(format!(
            "the From address {:?} is invalid: {e}",
            settings.from
        ))
    })?;
    // A bare address only: a stored `Name <x@y>` must never be read as a mailbox.
    let to: lettre::Address = to.parse().map_err(|e| {
        MailError::Permanent(format!("the recipient {to:?} is not a valid address: {e}"))
    })?;
    let to = Mailbox::new(None, to);
    let text = fill(template.text, vars, false);
    let (subject, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let html = fill(template.html, vars, true);
    let message_id = format!("<{}@{}>", uuid::Uuid::new_v4(), from.email.domain());
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject.trim())
        .message_id(Some(message_id.clone()))
        .date_now()
        .header(header::MIME_VERSION_1_0)
        .multipart(MultiPart::alternative_plain_html(
            body.trim_start().to_owned(),
            html,
        ))
        .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))?;
    Ok((message, message_id))
}

#[cfg(test)]
mod tests {
    /// What `store::email::Email` accepts is exactly what gets stored and mailed: lettre must
    /// be able to send to every such address, or a mail would dead-letter (and anyone could
    /// fill the dead-letter set by onboarding with it).
    #[test]
    fn every_address_we_accept_is_one_lettre_sends_to() {
        for text in [
            "a@b.co",
            "Ada.Lovelace+tag@example.org",
            "o'brien@exämple.org",
            "rémy@x.fr",
            "用户@例子.广告",
            "x_y-z!#$%&*=?^`{|}~@sub.domain.example",
            "1234567890123456789012345678901234567890123456789012345678901234@x.io",
        ] {
            let email = store::email::Email::parse(text)
                .unwrap_or_else(|e| panic!("{text:?} is an address: {e}"));
            assert!(
                email.as_str().parse::<lettre::Address>().is_ok(),
                "lettre refuses {:?} (from {text:?})",
                email.as_str()
            );
        }
    }
}
