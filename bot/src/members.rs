//! From Discord account to user, on every message: a bounded in-memory cache in front of the
//! store. Positive answers live a minute, negative ones ten seconds (so a member who just
//! linked is recognised quickly); at capacity the oldest entries go.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CAPACITY: usize = 10_000;
const FOUND_TTL: Duration = Duration::from_secs(60);
const MISSING_TTL: Duration = Duration::from_secs(10);

/// What the bot knows of a Discord account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Linked to this user by a confirmed link, the user verified and active.
    Verified(i64),
    /// Linked, but the email is not proven, the link not confirmed, or the user deactivated.
    Unverified(i64),
    /// Not linked.
    Unlinked,
}

#[derive(Debug, Default)]
pub struct MemberCache {
    entries: Mutex<HashMap<u64, (Instant, Known)>>,
}

impl MemberCache {
    pub async fn lookup(
        &self,
        db: &store::Pool,
        discord_id: u64,
    ) -> Result<Known, store::StoreError> {
        if let Ok(entries) = self.entries.lock()
            && let Some((at, known)) = entries.get(&discord_id)
        {
            let ttl = if *known == Known::Unlinked {
                MISSING_TTL
            } else {
                FOUND_TTL
            };
            if at.elapsed() < ttl {
                return Ok(*known);
            }
        }
        let known = match store::users::by_discord(db, discord_id).await? {
            Some(m) if m.verified && m.is_active => Known::Verified(m.user_id),
            Some(m) => Known::Unverified(m.user_id),
            None => Known::Unlinked,
        };
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                // Drop the oldest tenth in one go rather than one entry per insert.
                let mut by_age: Vec<(u64, Instant)> =
                    entries.iter().map(|(k, (at, _))| (*k, *at)).collect();
                by_age.sort_by_key(|(_, at)| *at);
                for (k, _) in by_age.into_iter().take(CAPACITY / 10) {
                    entries.remove(&k);
                }
            }
            entries.insert(discord_id, (Instant::now(), known));
        }
        Ok(known)
    }

    /// Forgets an account (after it was linked or verified).
    pub fn forget(&self, discord_id: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&discord_id);
        }
    }
}
