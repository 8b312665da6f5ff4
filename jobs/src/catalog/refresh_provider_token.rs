//! Pushed by workers (`sweep`, for stored tokens about to expire) · handled by
//! `workers/src/refresh_provider_token.rs`.

use serde::{Deserialize, Serialize};

use crate::job::Job;

/// Refresh the stored provider tokens of `identities.id` before they expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshProviderToken {
    pub identity_id: i64,
}

impl Job for RefreshProviderToken {
    const QUEUE: &'static str = "refresh_provider_token";
}
