use serde::{Deserialize, Serialize};

use crate::Job;

/// Refresh the stored provider tokens of `identities.id` before they expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshProviderToken {
    pub identity_id: i64,
}

impl Job for RefreshProviderToken {
    const QUEUE: &'static str = "refresh_provider_token";
}
