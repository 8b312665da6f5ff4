//! Rows many tests start from (a user, a Discord link, an invitation token), written the one
//! way the API, bot and worker tests all need them.

use std::time::Duration;

use store::identities::{LinkProof, ProviderAccount};

use crate::TestDb;

impl TestDb {
    /// A user with nothing but `email` (every other column at the schema's default); its id.
    pub async fn user(&self, email: &str) -> i64 {
        sqlx::query_scalar("INSERT INTO users (email) VALUES ($1) RETURNING id")
            .bind(email)
            .fetch_one(&self.pool)
            .await
            .expect("user")
    }

    /// A live invitation token of `user` (for an hour; an earlier one is retired).
    pub async fn invitation_token(&self, user: i64) -> String {
        let (_, token) = store::one_time_tokens::issue(
            &self.pool,
            user,
            "invitation",
            Duration::from_secs(3600),
            store::one_time_tokens::Earlier::Retire,
        )
        .await
        .expect("token");
        token
    }

    /// Links the Discord account `subject` (no provider tokens) to `user`, proven by `proof`.
    pub async fn link_discord(&self, user: i64, subject: &str, proof: LinkProof) {
        let account = ProviderAccount {
            subject: subject.into(),
            ..ProviderAccount::default()
        };
        store::identities::link_discord(&self.pool, user, &account, proof)
            .await
            .expect("link");
    }
}
