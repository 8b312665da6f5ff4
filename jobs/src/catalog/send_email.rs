use serde::{Deserialize, Serialize};

use crate::Job;

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
