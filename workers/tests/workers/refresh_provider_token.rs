//! `refresh_provider_token` and the sweep that pushes it, against the fake OAuth provider.

use std::time::Duration;

use jobs::{Job, RefreshProviderToken, Sweep};
use serde_json::Value;
use testkit::FakeOAuth;
use testkit::oauth::Account;
use workers::providers::smtp::Mailer;

use crate::support::World;

fn deps_with(world: &World, fake: &FakeOAuth) -> workers::Deps {
    testkit::worker_deps(
        &world.db,
        &world.producer,
        &"k".repeat(32),
        Some(fake),
        None,
        Mailer::files(std::env::temp_dir().join("concierge-unused-outbox")),
    )
}

/// A linked Discord identity whose access token expires in a minute; returns its id.
async fn expiring_identity(world: &World, deps: &workers::Deps, refresh_token: &str) -> i64 {
    let user = world.db.user("t@example.test").await;
    let account = store::identities::ProviderAccount {
        subject: "9009".into(),
        access_token_enc: Some(deps.sealer.seal("old-access")),
        refresh_token_enc: Some(deps.sealer.seal(refresh_token)),
        token_expires_at: Some(chrono::Utc::now() + chrono::Duration::seconds(60)),
        ..Default::default()
    };
    store::identities::link_discord(
        &world.db.pool,
        user,
        &account,
        store::identities::LinkProof::AccountOnly,
    )
    .await
    .expect("link");
    sqlx::query_scalar("SELECT id FROM identities")
        .fetch_one(&world.db.pool)
        .await
        .expect("identity")
}

/// A world with the fake provider beside it, the workers' dependencies pointed at that
/// provider, and an [`expiring_identity`] with `refresh_token` (one the provider issued when
/// `None`).
async fn expiring(refresh_token: Option<&str>) -> (World, FakeOAuth, workers::Deps, i64) {
    let world = World::new().await;
    let fake = FakeOAuth::start().await;
    let deps = deps_with(&world, &fake);
    let refresh = match refresh_token {
        Some(token) => token.to_owned(),
        None => fake.issue_refresh_token(&Account::discord("9009", "t")),
    };
    let identity = expiring_identity(&world, &deps, &refresh).await;
    (world, fake, deps, identity)
}

async fn run(world: &World, deps: workers::Deps, queue: &str, id: jobs::JobId) -> Value {
    world
        .with_workers(deps, async {
            let status = world.finished(queue, &id).await;
            status.result.expect("a result")
        })
        .await
}

#[tokio::test]
async fn the_sweep_refreshes_tokens_before_they_expire() {
    let (world, fake, deps, identity) = expiring(None).await;
    let swept = world
        .producer
        .push(&Sweep { fired_at_ms: 1 })
        .await
        .expect("push");
    world
        .with_workers(deps.clone(), async {
            let status = world.finished(Sweep::QUEUE, swept.id()).await;
            let result = status.result.expect("a result");
            assert_eq!(result["refreshes_pushed"], 1, "{result}");
            // The refresh the sweep pushed runs on its own queue.
            testkit::eventually(Duration::from_secs(20), "never refreshed", async || {
                let fresh: bool = sqlx::query_scalar(
                    "SELECT token_expires_at > now() + interval '1 day' FROM identities WHERE id = $1",
                )
                .bind(identity)
                .fetch_one(&world.db.pool)
                .await
                .expect("identity");
                fresh.then_some(())
            })
            .await;
        })
        .await;
    let (expires, sealed): (chrono::DateTime<chrono::Utc>, Vec<u8>) =
        sqlx::query_as("SELECT token_expires_at, access_token_enc FROM identities WHERE id = $1")
            .bind(identity)
            .fetch_one(&world.db.pool)
            .await
            .expect("identity");
    assert!(expires > chrono::Utc::now() + chrono::Duration::days(1));
    assert_ne!(deps.sealer.open(&sealed).expect("opens"), "old-access");
    assert_eq!(fake.token_requests(), 1, "refreshed once");
}

#[tokio::test]
async fn a_revoked_grant_is_forgotten() {
    let (world, _fake, deps, identity) = expiring(Some("rt-the-provider-forgot")).await;
    let job = world
        .producer
        .push(&RefreshProviderToken {
            identity_id: identity,
        })
        .await
        .expect("push");
    let result = run(&world, deps, RefreshProviderToken::QUEUE, job.id().clone()).await;
    assert_eq!(result["outcome"], "forgotten");
    let gone: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT refresh_token_enc FROM identities WHERE id = $1")
            .bind(identity)
            .fetch_one(&world.db.pool)
            .await
            .expect("identity");
    assert!(gone.is_none());
}

#[tokio::test]
async fn two_refreshes_of_one_grant_never_overlap() {
    let (world, fake, deps, identity) = expiring(None).await;
    let job = RefreshProviderToken {
        identity_id: identity,
    };
    let pushed = world
        .producer
        .push_bulk(
            &[job.clone(), job.clone(), job],
            jobs::PushOptions::default(),
        )
        .await
        .expect("push");
    let outcomes = world
        .with_workers(deps, async {
            let mut outcomes = Vec::new();
            for p in &pushed {
                let status = world.finished(RefreshProviderToken::QUEUE, p.id()).await;
                outcomes.push(status.result.expect("result")["outcome"].clone());
            }
            outcomes
        })
        .await;
    assert_eq!(
        outcomes.iter().filter(|o| *o == "refreshed").count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|o| o == "refreshed" || o == "not_due"),
        "{outcomes:?}"
    );
    assert_eq!(fake.token_requests(), 1);
}
