//! Outgoing mail: a pooled SMTP client (STARTTLS, implicit TLS, or plain for a local sink), or
//! `.eml` files in a directory when no server is configured.
//!
//! Errors are a thiserror enum the handler branches on: a permanent rejection (5xx: bad
//! address, relay denied) must not be retried; everything else (4xx, connection, TLS, timeout)
//! may succeed later.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use store::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server refused for good (5xx), or the message cannot be built: do not retry.
    #[error("permanently rejected: {0}")]
    Permanent(String),
    /// Might work later: 4xx, connection refused, TLS or timeout.
    #[error("temporarily failed: {0}")]
    Transient(String),
}

/// How to reach the SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: SmtpTls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    /// Only for a sink on a trusted network (tests, a local relay).
    None,
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Each message written as `<dir>/<name>.eml`.
    Files(PathBuf),
}

impl Mailer {
    pub fn smtp(settings: &SmtpSettings) -> Result<Self, MailError> {
        let builder = match settings.tls {
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
            }
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                &settings.host,
            )),
        }
        .map_err(|e| MailError::Permanent(format!("SMTP_HOST {:?}: {e}", settings.host)))?;
        let mut builder = builder
            .port(settings.port)
            .timeout(Some(Duration::from_secs(15)))
            .pool_config(
                PoolConfig::new()
                    .max_size(8)
                    .idle_timeout(Duration::from_secs(60)),
            );
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Mailer::Smtp(builder.build()))
    }

    pub fn files(dir: impl Into<PathBuf>) -> Self {
        Mailer::Files(dir.into())
    }

    /// Sends (or writes) `message`; `name` names the file in file mode.
    pub async fn send(&self, message: &Message, name: &str) -> Result<(), MailError> {
        match self {
            Mailer::Smtp(transport) => {
                let sent = transport
                    .send(message.clone())
                    .await
                    .map(drop)
                    .map_err(|e| {
                        if e.is_permanent() {
                            MailError::Permanent(e.to_string())
                        } else {
                            MailError::Transient(e.to_string())
                        }
                    });
                let outcome = match &sent {
                    Ok(()) => "ok",
                    Err(MailError::Permanent(_)) => "permanent",
                    Err(MailError::Transient(_)) => "transient",
                };
                jobs::metrics::provider_call("smtp", outcome);
                sent
            }
            Mailer::Files(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    MailError::Transient(format!("cannot create {}: {e}", dir.display()))
                })?;
                let path = dir.join(format!("{name}.eml"));
                // Write aside and rename: a reader never sees half a message.
                let partial = dir.join(format!(".{name}.eml.partial"));
                tokio::fs::write(&partial, message.formatted())
                    .await
                    .map_err(|e| {
                        MailError::Transient(format!("cannot write {}: {e}", partial.display()))
                    })?;
                tokio::fs::rename(&partial, &path).await.map_err(|e| {
                    MailError::Transient(format!("cannot write {}: {e}", path.display()))
                })
            }
        }
    }
}
