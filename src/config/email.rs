//! The `email` section: the sender, the community's name in every mail, and where mails go:
//! an SMTP relay (SendGrid's when only its key is set) or, with none configured, `.eml` files
//! under the data directory. It converts into the workers' [`EmailSettings`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use store::secret::Secret;
use workers::providers::smtp::{MailError, Mailer, SmtpSettings, SmtpTls};
use workers::send_email::EmailSettings;

use super::error::{ConfigError, invalid};
use super::limits::LimitsConfig;
use super::resolve::Resolver;

/// Outgoing email.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// The From address. `SMTP_FROM` or `SENDGRID_FROM_EMAIL` (seed 003), `email.from`;
    /// default `Concierge <concierge@localhost>`.
    pub from: String,
    /// The community's name in subjects and greetings. `COMMUNITY_NAME`,
    /// `email.community_name`; default `the community`.
    pub community_name: String,
    /// Where the mails go: an SMTP relay, or files when none is configured.
    pub transport: EmailTransport,
}

/// Where emails go.
#[derive(Debug, Clone)]
pub enum EmailTransport {
    /// No SMTP server configured: each email is written to `<DATA_DIR>/outbox/*.eml`.
    Files {
        /// `<DATA_DIR>/outbox`.
        dir: PathBuf,
    },
    /// An SMTP relay. `SMTP_HOST`, `SMTP_PORT` (default 587, or 465 with `tls`),
    /// `SMTP_USERNAME`, `SMTP_PASSWORD`, `SMTP_TLS` (`starttls` default, `tls`, or `none` for a
    /// local sink). `SENDGRID_API_KEY` alone selects SendGrid's relay (`smtp.sendgrid.net`,
    /// user `apikey`, the key as password).
    Smtp(SmtpSettings),
}

/// The YAML section `email`, every key optional; each key is described on the
/// [`EmailConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileEmail {
    from: Option<String>,
    community_name: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    smtp_tls: Option<String>,
    sendgrid_api_key: Option<String>,
}

/// `data_dir` holds the outbox when no relay is configured.
pub(super) fn resolve(
    r: &Resolver<'_>,
    f: FileEmail,
    data_dir: &Path,
) -> Result<EmailConfig, ConfigError> {
    let from = r
        .string("SMTP_FROM", f.from)
        .or_else(|| r.string("SENDGRID_FROM_EMAIL", None))
        .unwrap_or_else(|| "Concierge <concierge@localhost>".into());
    if !from.contains('@') {
        return Err(invalid(
            "SMTP_FROM (email.from)",
            format!("expected an email address, got {from:?}"),
        ));
    }
    let tls = match r
        .string("SMTP_TLS", f.smtp_tls)
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") | Some("implicit") => SmtpTls::Implicit,
        Some("none") | Some("off") => SmtpTls::None,
        Some(other) => {
            return Err(invalid(
                "SMTP_TLS (email.smtp_tls)",
                format!("expected starttls, tls or none; got {other:?}"),
            ));
        }
    };
    let sendgrid_key = r.string("SENDGRID_API_KEY", f.sendgrid_api_key);
    let host = r.string("SMTP_HOST", f.smtp_host);
    let port = r.parse("SMTP_PORT", "email.smtp_port", f.smtp_port)?;
    let username = r.string("SMTP_USERNAME", f.smtp_username);
    let password = r.string("SMTP_PASSWORD", f.smtp_password);
    let transport = match (host, sendgrid_key) {
        (Some(host), _) => {
            if username.is_some() != password.is_some() {
                return Err(invalid(
                    "SMTP_PASSWORD (email.smtp_password)",
                    "SMTP_USERNAME and SMTP_PASSWORD must be set together",
                ));
            }
            EmailTransport::Smtp(SmtpSettings {
                host,
                port: port.unwrap_or(if tls == SmtpTls::Implicit { 465 } else { 587 }),
                username,
                password: password.map(Secret::new),
                tls,
            })
        }
        (None, Some(key)) => EmailTransport::Smtp(SmtpSettings {
            host: "smtp.sendgrid.net".into(),
            port: port.unwrap_or(587),
            username: Some("apikey".into()),
            password: Some(Secret::new(key)),
            tls,
        }),
        (None, None) => EmailTransport::Files {
            dir: data_dir.join("outbox"),
        },
    };
    let community_name = r.string_or("COMMUNITY_NAME", f.community_name, "the community");
    Ok(EmailConfig {
        from,
        community_name,
        transport,
    })
}

impl EmailConfig {
    /// The workers' mail settings: this section, the lifetime of invitation tokens (said in
    /// the invitation mail) and the caps of mails anyone can cause.
    pub fn settings(
        &self,
        invitation_ttl: Duration,
        limits: &LimitsConfig,
    ) -> Result<EmailSettings, MailError> {
        let mailer = match &self.transport {
            EmailTransport::Files { dir } => {
                tracing::info!(dir = %dir.display(), "emails are written as .eml files (no SMTP_HOST)");
                Mailer::files(dir)
            }
            EmailTransport::Smtp(settings) => Mailer::smtp(settings)?,
        };
        Ok(EmailSettings {
            mailer,
            from: self.from.clone(),
            community: self.community_name.clone(),
            invitation_ttl,
            verification_ttl: Duration::from_secs(24 * 3600),
            mails_per_address: limits.mails_per_address_per_hour,
            anonymous_mails_per_hour: limits.anonymous_mails_per_hour,
        })
    }
}
