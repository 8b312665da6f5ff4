//! Pushed by the API (`send_emails`, `refresh_invitation_token`, `discord_login_code`), the bot
//! (`mail_code`, `mail_fresh`) and workers (`exchange_oauth_code`'s link confirmation,
//! `send_email`'s verification mail) · handled by `workers/src/send_email.rs`.

use serde::{Deserialize, Serialize};

use crate::job::Job;

/// Render and send one email. The row `email_deliveries.id` holds the recipient, the kind of
/// mail and the user it concerns; the handler re-reads it, sends, and records the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendEmail {
    pub delivery_id: i64,
}

impl Job for SendEmail {
    const QUEUE: &'static str = "send_email";
    const MAX_ATTEMPTS: u32 = 8;
}
