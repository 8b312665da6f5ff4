//! Discord links: what proves what, and the races between links of one account.

use store::identities::{DiscordLink, LinkProof, ProviderAccount, link_discord};
use testkit::TestDb;

fn account(subject: &str) -> ProviderAccount {
    ProviderAccount {
        subject: subject.into(),
        ..Default::default()
    }
}

/// Links the Discord account `subject` to `user` with `proof`: the outcome.
async fn link(db: &TestDb, user: i64, subject: &str, proof: LinkProof) -> DiscordLink {
    link_discord(&db.pool, user, &account(subject), proof)
        .await
        .expect("link")
}

/// (owner, confirmed) of a Discord account's link.
async fn link_of(db: &TestDb, subject: &str) -> Option<(i64, bool)> {
    store::identities::discord_owner(&db.pool, subject)
        .await
        .expect("owner")
        .map(|o| (o.user_id, o.confirmed))
}

/// Review of issue 11: two links of one Discord account at once (a stranger's `/login` code
/// for a victim's row, and the same account proving the stranger's own email) must never
/// leave a confirmed link on the victim's row. Without a lock per account, the second upsert
/// found the first one's fresh row by its subject and confirmed it.
#[tokio::test]
async fn concurrent_links_of_one_account_never_confirm_it_on_someone_elses_row() {
    let db = TestDb::new().await;
    for round in 0..25 {
        let victim = db.user(&format!("victim{round}@example.test")).await;
        let stranger = db.user(&format!("stranger{round}@example.test")).await;
        let subject = format!("77{round:04}");
        let discord = account(&subject);
        let (a, b) = tokio::join!(
            link_discord(&db.pool, victim, &discord, LinkProof::AccountOnly),
            link_discord(&db.pool, stranger, &discord, LinkProof::EmailProven),
        );
        let (a, b) = (a.expect("link"), b.expect("link"));
        assert!(
            matches!(
                b,
                DiscordLink::Linked {
                    confirmed: true,
                    ..
                }
            ),
            "the proven link wins: {b:?}"
        );
        assert!(
            matches!(
                a,
                DiscordLink::Linked {
                    confirmed: false,
                    ..
                } | DiscordLink::TakenByOther
            ),
            "{a:?}"
        );
        assert_eq!(link_of(&db, &subject).await, Some((stranger, true)));
        let verified: bool = sqlx::query_scalar("SELECT verified FROM users WHERE id = $1")
            .bind(victim)
            .fetch_one(&db.pool)
            .await
            .expect("victim");
        assert!(!verified, "round {round}: the victim's row proves nothing");
    }
}

#[tokio::test]
async fn unconfirmed_links_give_way_and_confirmed_ones_never_move() {
    let db = TestDb::new().await;
    let owner = db.user("owner@example.test").await;
    let other = db.user("other@example.test").await;
    // A stranger's unconfirmed link on the owner's row is replaced by the owner's proof.
    let first = link(&db, owner, "1", LinkProof::AccountOnly).await;
    assert!(matches!(
        first,
        DiscordLink::Linked {
            confirmed: false,
            ..
        }
    ));
    let proven = link(&db, owner, "2", LinkProof::EmailProven).await;
    assert!(matches!(
        proven,
        DiscordLink::Linked {
            confirmed: true,
            new: true,
            ..
        }
    ));
    assert_eq!(link_of(&db, "1").await, None);
    assert_eq!(link_of(&db, "2").await, Some((owner, true)));
    // Now confirmed: nobody replaces or takes it.
    for (user, subject, proof) in [
        (owner, "3", LinkProof::EmailProven),
        (other, "2", LinkProof::EmailProven),
        (other, "2", LinkProof::AccountOnly),
    ] {
        let refused = link(&db, user, subject, proof).await;
        assert!(
            matches!(
                refused,
                DiscordLink::UserHasOther | DiscordLink::TakenByOther
            ),
            "{refused:?}"
        );
    }
    assert_eq!(link_of(&db, "2").await, Some((owner, true)));
    // An unconfirmed link elsewhere is taken back by its Discord account.
    link(&db, other, "4", LinkProof::AccountOnly).await;
    let third = db.user("third@example.test").await;
    let taken = link(&db, third, "4", LinkProof::AccountOnly).await;
    assert_eq!(
        taken,
        DiscordLink::Linked {
            new: true,
            confirmed: false,
            detached: Some(other)
        }
    );
}

/// V2's migration: links of verified users stay confirmed (they are members), marked as
/// confirmed by the migration, and give way to a later proof; the pattern of the attack V2
/// closes (an invitee verified by a link while the invitation was never used) stays
/// unconfirmed.
#[tokio::test]
async fn links_from_before_v2_stay_members_but_give_way_to_a_proof() {
    let db = TestDb::empty().await;
    store::migrate::run(&db.pool, Some(1)).await.expect("V1");
    sqlx::raw_sql(
        "INSERT INTO users (id, email, verified) OVERRIDING SYSTEM VALUE VALUES
           (1, 'member@example.test', TRUE),
           (2, 'invitee@example.test', TRUE),
           (3, 'stranger@example.test', TRUE);
         INSERT INTO invitations (user_id, status) VALUES (2, 'sent');
         INSERT INTO identities (user_id, provider, issuer, subject) VALUES
           (1, 'discord', 'https://discord.com', '100'),
           (2, 'discord', 'https://discord.com', '200'),
           (3, 'discord', 'https://discord.com', '300');
         INSERT INTO users (id, email, verified) OVERRIDING SYSTEM VALUE VALUES
           (4, 'vouched@example.test', TRUE);
         INSERT INTO invitations (user_id, status) VALUES (4, 'sent');
         INSERT INTO identities (user_id, provider, issuer, subject, email, email_verified)
           VALUES (4, 'discord', 'https://discord.com', '400', 'Vouched@example.test', TRUE);
         SELECT setval(pg_get_serial_sequence('users', 'id'), 4);",
    )
    .execute(&db.pool)
    .await
    .expect("V1 rows");
    store::migrate::run(&db.pool, None).await.expect("upgrade");
    let member = store::users::by_discord(&db.pool, 100)
        .await
        .expect("q")
        .expect("linked");
    assert!(member.verified, "a member stays a member");
    let taken = store::users::by_discord(&db.pool, 200)
        .await
        .expect("q")
        .expect("linked");
    assert!(
        !taken.verified,
        "an invitee's row taken by a link is not trusted"
    );
    // Discord vouched for the user's own address then: confirmed like a link made today.
    let vouched = store::identities::discord_owner(&db.pool, "400")
        .await
        .expect("q")
        .expect("linked");
    assert!(vouched.holds(), "{vouched:?}");
    // The member's own proof from another Discord account replaces the migrated link…
    let proven = link(&db, 1, "101", LinkProof::EmailProven).await;
    assert!(
        matches!(
            proven,
            DiscordLink::Linked {
                confirmed: true,
                ..
            }
        ),
        "{proven:?}"
    );
    assert_eq!(link_of(&db, "100").await, None);
    // …and once proven, it holds like any other.
    let again = link(&db, 1, "102", LinkProof::EmailProven).await;
    assert_eq!(again, DiscordLink::UserHasOther);
    // A migrated link is taken back by its Discord account proving its own email elsewhere,
    // and never by a mere code.
    let own = db.user("victim@example.test").await;
    let code = link(&db, own, "300", LinkProof::AccountOnly).await;
    assert_eq!(code, DiscordLink::TakenByOther);
    // Nor by Discord vouching through a redirect: a linking CSRF could have caused that.
    let vouched = link(&db, own, "300", LinkProof::ProviderVouched).await;
    assert_eq!(vouched, DiscordLink::TakenByOther);
    let proof = link(&db, own, "300", LinkProof::EmailProven).await;
    assert!(
        matches!(
            proof,
            DiscordLink::Linked {
                confirmed: true,
                detached: Some(3),
                ..
            }
        ),
        "{proof:?}"
    );
}

/// Review of issue 11: two links that cross (S1 to U1 while S1 sits unconfirmed on U2, and
/// S2 to U2 while S2 sits unconfirmed on U1) lock the same two rows; taken in opposite orders
/// they deadlocked, and Postgres aborted one.
#[tokio::test]
async fn crossing_links_do_not_deadlock() {
    let db = TestDb::new().await;
    for round in 0..20 {
        let u1 = db.user(&format!("u1-{round}@example.test")).await;
        let u2 = db.user(&format!("u2-{round}@example.test")).await;
        let (s1, s2) = (
            account(&format!("81{round:04}")),
            account(&format!("82{round:04}")),
        );
        link_discord(&db.pool, u2, &s1, LinkProof::AccountOnly)
            .await
            .expect("setup");
        link_discord(&db.pool, u1, &s2, LinkProof::AccountOnly)
            .await
            .expect("setup");
        let (a, b) = tokio::join!(
            link_discord(&db.pool, u1, &s1, LinkProof::AccountOnly),
            link_discord(&db.pool, u2, &s2, LinkProof::AccountOnly),
        );
        a.expect("no deadlock");
        b.expect("no deadlock");
    }
}
