//! Seed 003: the verification gate, its failure paths, and the admin commands.

use std::time::Duration;

use serde_json::json;
use testkit::discord::{FakeDiscord, GUILD_ID, MEMBER_ROLE_ID};

use crate::support::{FALLBACK_CHANNEL, LOG_CHANNEL, Options, WAIT, World};

fn role_grant(user: u64) -> String {
    format!("/guilds/{GUILD_ID}/members/{user}/roles/{MEMBER_ROLE_ID}")
}

fn kick(user: u64) -> String {
    format!("/guilds/{GUILD_ID}/members/{user}")
}

#[tokio::test]
async fn a_member_who_verifies_gets_the_role_and_is_never_kicked() {
    let world = World::start(Options {
        verification_timeout: Duration::from_secs(3),
        ..Options::default()
    })
    .await;
    let token = world.invitee("joiner@example.test").await;
    world.discord.member_joins(600, false);
    let dm = FakeDiscord::dm_channel(600);
    world
        .discord
        .wait_for("the instructions", WAIT, |_| {
            !world.discord.posts(dm).is_empty()
        })
        .await;
    assert!(world.discord.posts(dm)[0].content().contains("verify"));
    world.discord.message(
        600,
        dm,
        None,
        &format!("joiner@example.test {token}"),
        false,
    );
    world
        .discord
        .wait_for("the role", WAIT, |r| {
            r.iter()
                .any(|r| r.method == "PUT" && r.path == role_grant(600))
        })
        .await;
    world
        .discord
        .wait_for("the confirmation", WAIT, |_| {
            world.discord.posts(dm).len() >= 2
        })
        .await;
    assert!(world.discord.posts(dm)[1].content().contains("verified"));
    // Past the deadline: the scheduled kick finds the member verified.
    let kick_job = wait_kick_job(&world).await;
    assert_eq!(kick_job["outcome"], "not_needed");
    assert!(world.discord.is_member(600));
    assert!(
        !world
            .discord
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path == kick(600))
    );
}

/// Waits for the kick job of the (only) member and returns its result.
async fn wait_kick_job(world: &World) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut conn = world.producer.connection();
        let done: Vec<String> = redis::AsyncCommands::zrange(
            &mut conn,
            world.producer.keys::<jobs::KickExpiredMember>().done(),
            0,
            -1,
        )
        .await
        .expect("done");
        if let Some(id) = done.first() {
            let status = world
                .producer
                .status("kick_expired_member", &jobs::JobId::from(id.as_str()))
                .await
                .expect("status")
                .expect("job");
            return status.result.expect("result");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no kick job finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_member_who_does_not_verify_is_kicked_once() {
    let world = World::start(Options {
        verification_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    world.discord.member_joins(601, false);
    world
        .discord
        .wait_for("the kick", WAIT, |r| {
            r.iter()
                .any(|r| r.method == "DELETE" && r.path == kick(601))
        })
        .await;
    assert!(!world.discord.is_member(601));
    // The sweep (a second chance for lost kicks) does not kick again.
    let sweep = world
        .producer
        .push(&jobs::Sweep { fired_at_ms: 7 })
        .await
        .expect("push");
    world
        .producer
        .wait("sweep", sweep.id(), WAIT)
        .await
        .expect("wait")
        .expect("done");
    let kicks = world
        .discord
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path == kick(601))
        .count();
    assert_eq!(kicks, 1);
}

#[tokio::test]
async fn a_kick_missed_while_workers_were_down_is_made_by_the_sweep() {
    let mut world = World::start(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    world.discord.member_joins(602, false);
    // The scheduled kick is lost (Redis flushed while everything was down).
    let deadline = tokio::time::Instant::now() + WAIT;
    while store::members::gate(&world.db.pool, GUILD_ID, 602)
        .await
        .expect("gate")
        .is_none()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot never recorded the member"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query("UPDATE member_verifications SET deadline = now() - interval '1 second'")
        .execute(&world.db.pool)
        .await
        .expect("past the deadline");
    let mut conn = world.producer.connection();
    let keys: Vec<String> =
        redis::AsyncCommands::keys(&mut conn, format!("{}:*", world.redis.prefix))
            .await
            .expect("keys");
    for key in keys {
        let _: () = redis::AsyncCommands::del(&mut conn, key)
            .await
            .expect("del");
    }
    world.start_workers(&Options::default());
    let sweep = world
        .producer
        .push(&jobs::Sweep { fired_at_ms: 8 })
        .await
        .expect("push");
    world
        .producer
        .wait("sweep", sweep.id(), WAIT)
        .await
        .expect("wait")
        .expect("done");
    world
        .discord
        .wait_for("the kick", WAIT, |r| {
            r.iter()
                .any(|r| r.method == "DELETE" && r.path == kick(602))
        })
        .await;
}

#[tokio::test]
async fn closed_dms_fall_back_to_the_channel() {
    let world = World::start(Options::default()).await;
    world.discord.close_dms(603);
    world.discord.member_joins(603, false);
    world
        .discord
        .wait_for("the fallback post", WAIT, |_| {
            !world.discord.posts(FALLBACK_CHANNEL).is_empty()
        })
        .await;
    let post = &world.discord.posts(FALLBACK_CHANNEL)[0];
    assert!(post.content().starts_with("<@603>"), "{}", post.content());
}

#[tokio::test]
async fn a_missing_permission_is_reported_once_and_not_retried() {
    let world = World::start(Options::default()).await;
    let token = world.invitee("noperm@example.test").await;
    world.discord.forbid_roles();
    world.discord.member_joins(604, false);
    let dm = FakeDiscord::dm_channel(604);
    world
        .discord
        .wait_for("the instructions", WAIT, |_| {
            !world.discord.posts(dm).is_empty()
        })
        .await;
    world.discord.message(
        604,
        dm,
        None,
        &format!("noperm@example.test {token}"),
        false,
    );
    world
        .discord
        .wait_for("the report", WAIT, |_| {
            !world.discord.posts(LOG_CHANNEL).is_empty()
        })
        .await;
    // Give a retry storm the chance to show itself: the job has settled as failed.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let dead = world
            .producer
            .depth("verify_member")
            .await
            .expect("depth")
            .dead;
        if dead == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job never failed for good"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let grants = world
        .discord
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == role_grant(604))
        .count();
    assert_eq!(
        grants, 1,
        "one attempt, no retries into Discord's invalid-request limit"
    );
    assert_eq!(world.discord.posts(LOG_CHANNEL).len(), 1);
    assert!(
        world.discord.posts(LOG_CHANNEL)[0]
            .content()
            .contains("Manage Roles")
    );
}

#[tokio::test]
async fn admin_commands_are_refused_to_members_and_run_for_admins() {
    let world = World::start(Options::default()).await;
    let refused = world.discord.slash(
        700,
        "set_timeout",
        json!([{ "name": "minutes", "type": 4, "value": 10 }]),
        Some("0"),
    );
    let requests = world
        .discord
        .wait_for("the refusal", WAIT, |r| {
            r.iter()
                .any(|r| r.path.ends_with(&format!("{refused}/callback")))
        })
        .await;
    let refusal = requests
        .iter()
        .find(|r| r.path.ends_with(&format!("{refused}/callback")))
        .expect("callback");
    assert_eq!(refusal.body["type"], 4, "answered at once");
    assert!(
        refusal.body["data"]["content"]
            .as_str()
            .expect("text")
            .contains("admins")
    );
    let admin = world.discord.slash(
        701,
        "set_timeout",
        json!([{ "name": "minutes", "type": 4, "value": 10 }]),
        Some("8"),
    );
    let edit = format!("/webhooks/100/{admin}/messages/@original");
    world
        .discord
        .wait_for("the answer", WAIT, |r| r.iter().any(|r| r.path == edit))
        .await;
    let settings = store::members::guild_settings(&world.db.pool, GUILD_ID)
        .await
        .expect("settings");
    assert_eq!(settings.verification_timeout_seconds, Some(600));
    // verification_status lists pending members.
    world.discord.member_joins(702, false);
    world
        .discord
        .wait_for("the gate", WAIT, |_| {
            !world.discord.posts(FakeDiscord::dm_channel(702)).is_empty()
        })
        .await;
    let status = world
        .discord
        .slash(701, "verification_status", json!([]), Some("32"));
    let edit = format!("/webhooks/100/{status}/messages/@original");
    let requests = world
        .discord
        .wait_for("the status", WAIT, |r| r.iter().any(|r| r.path == edit))
        .await;
    let answer = requests.iter().find(|r| r.path == edit).expect("edit");
    assert!(answer.content().contains("<@702>"), "{}", answer.content());
}

/// Waits until the store's gate of `member` satisfies `done`.
async fn gate_until(
    world: &World,
    member: u64,
    done: impl Fn(&store::members::Gate) -> bool,
) -> store::members::Gate {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(gate) = store::members::gate(&world.db.pool, GUILD_ID, member)
            .await
            .expect("gate")
            && done(&gate)
        {
            return gate;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gate never got there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn screening_first_then_verify_by_slash_and_a_rejoin_restores_the_role() {
    let world = World::start(Options::default()).await;
    let token = world.invitee("screen@example.test").await;
    world.discord.member_joins(610, true);
    world.discord.member_screened(610);
    let dm = FakeDiscord::dm_channel(610);
    world
        .discord
        .wait_for("the instructions", WAIT, |_| {
            !world.discord.posts(dm).is_empty()
        })
        .await;
    let interaction = world.discord.slash(
        610,
        "verify",
        json!([{ "name": "email", "type": 3, "value": "screen@example.test" },
               { "name": "token", "type": 3, "value": token }]),
        Some("0"),
    );
    let edit = format!("/webhooks/100/{interaction}/messages/@original");
    let requests = world
        .discord
        .wait_for("the answer and the role", WAIT, |r| {
            r.iter().any(|r| r.path == edit)
                && r.iter()
                    .any(|r| r.method == "PUT" && r.path == role_grant(610))
        })
        .await;
    let answer = requests.iter().find(|r| r.path == edit).expect("edit");
    assert!(
        answer.content().contains("verified"),
        "{}",
        answer.content()
    );
    // Leaves and comes back: the role is given back at once, without new instructions.
    world.discord.member_leaves(610);
    gate_until(&world, 610, |g| !g.in_guild).await;
    world.discord.member_joins(610, false);
    world
        .discord
        .wait_for("the role again", WAIT, |r| {
            r.iter()
                .filter(|r| r.method == "PUT" && r.path == role_grant(610))
                .count()
                == 2
        })
        .await;
    assert_eq!(world.discord.posts(dm).len(), 1, "one set of instructions");
}

#[tokio::test]
async fn leaving_and_rejoining_does_not_reset_the_deadline() {
    let world = World::start(Options::default()).await;
    world.discord.member_joins(611, false);
    let first = gate_until(&world, 611, |g| g.in_guild).await;
    world.discord.member_leaves(611);
    gate_until(&world, 611, |g| !g.in_guild).await;
    world.discord.member_joins(611, false);
    let again = gate_until(&world, 611, |g| g.in_guild).await;
    assert_eq!(again.deadline, first.deadline);
    assert_eq!(again.status, "pending");
}

#[tokio::test]
async fn force_verify_gives_the_role() {
    let world = World::start(Options::default()).await;
    world.discord.member_joins(612, false);
    gate_until(&world, 612, |g| g.in_guild).await;
    let admin = world.discord.slash(
        701,
        "force_verify",
        json!([{ "name": "user", "type": 6, "value": "612" }]),
        Some("8"),
    );
    let edit = format!("/webhooks/100/{admin}/messages/@original");
    world
        .discord
        .wait_for("the role and the answer", WAIT, |r| {
            r.iter().any(|r| r.path == edit)
                && r.iter()
                    .any(|r| r.method == "PUT" && r.path == role_grant(612))
        })
        .await;
    gate_until(&world, 612, |g| g.status == "verified").await;
}

/// The answer a slash command got (the edit of its deferred response), once it came.
async fn slash_answer(world: &World, interaction: &str) -> String {
    let edit = format!("/webhooks/100/{interaction}/messages/@original");
    let requests = world
        .discord
        .wait_for("the answer", WAIT, |r| r.iter().any(|r| r.path == edit))
        .await;
    requests
        .iter()
        .find(|r| r.path == edit)
        .expect("edit")
        .content()
        .to_owned()
}

/// `user` joins, gets the gate's DM, answers it with `email token`, and gets the role.
async fn joins_and_verifies(world: &World, user: u64, email: &str, token: &str) {
    world.discord.member_joins(user, false);
    let dm = FakeDiscord::dm_channel(user);
    world
        .discord
        .wait_for("the instructions", WAIT, |_| {
            !world.discord.posts(dm).is_empty()
        })
        .await;
    world
        .discord
        .message(user, dm, None, &format!("{email} {token}"), false);
    world
        .discord
        .wait_for("the role", WAIT, |_| granted(world, user))
        .await;
}

fn granted(world: &World, user: u64) -> bool {
    world
        .discord
        .requests()
        .iter()
        .any(|r| r.method == "PUT" && r.path == role_grant(user))
}

/// Issue 11, finding 1, at the gate. d37e806: a stranger who onboarded with an invitee's
/// address got a `/login` code for the invitee's row; `/login` from the stranger's Discord
/// account verified that row and the Member role followed, and the real invitee was refused
/// ("already verified with another Discord account") and kicked at the deadline.
#[tokio::test]
async fn a_strangers_login_code_gives_no_role_and_the_invitee_still_gets_in() {
    let world = World::start(Options {
        verification_timeout: Duration::from_secs(4),
        ..Options::default()
    })
    .await;
    let token = world.invitee("ivy@example.test").await;
    // What anonymous onboarding hands out for the invitee's row.
    let onboarded = store::users::onboard(
        &world.db.pool,
        &store::users::Onboarding {
            email: "ivy@example.test",
            full_name: "Mallory",
            personality: None,
            channel: "discord",
        },
    )
    .await
    .expect("onboard");
    let code = store::one_time_tokens::issue_login_code(
        &world.db.pool,
        onboarded.user_id,
        Duration::from_secs(600),
    )
    .await
    .expect("code");
    let (stranger, invitee) = (620, 621);
    world.discord.member_joins(stranger, false);
    gate_until(&world, stranger, |g| g.in_guild).await;
    let interaction = world.discord.slash(
        stranger,
        "login",
        json!([{ "name": "code", "type": 3, "value": code }]),
        Some("0"),
    );
    let answer = slash_answer(&world, &interaction).await;
    assert!(
        answer.contains("/verify"),
        "told to finish by mail: {answer}"
    );
    // The invitee joins and answers the gate's DM with their own token.
    joins_and_verifies(&world, invitee, "ivy@example.test", &token).await;
    // The stranger never got the role, is linked to nobody, and is kicked at the deadline.
    world
        .discord
        .wait_for("the stranger's kick", WAIT, |r| {
            r.iter()
                .any(|r| r.method == "DELETE" && r.path == kick(stranger))
        })
        .await;
    assert!(!granted(&world, stranger));
    assert!(world.discord.is_member(invitee), "the invitee stays");
    let owner = store::identities::user_of_discord(&world.db.pool, &stranger.to_string())
        .await
        .expect("query");
    assert_eq!(owner, None);
}

/// Issue 11, finding 3. d37e806: five `/verify email:victim token:x` from any Discord account
/// (or DMs) consumed the invitee's token for good.
#[tokio::test]
async fn a_stranger_failing_on_an_invitees_email_never_stops_the_invitee() {
    let world = World::start(Options::default()).await;
    let token = world.invitee("vic@example.test").await;
    let stranger = 630;
    let guess = |n: u32| {
        world.discord.slash(
            stranger,
            "verify",
            json!([{ "name": "email", "type": 3, "value": "vic@example.test" },
                   { "name": "token", "type": 3, "value": format!("guess{n}") }]),
            None,
        )
    };
    for n in 0..5 {
        let answer = slash_answer(&world, &guess(n)).await;
        assert!(answer.contains("do not match"), "{answer}");
    }
    // Locked out of this email, right token or not.
    let locked = world.discord.slash(
        stranger,
        "verify",
        json!([{ "name": "email", "type": 3, "value": "vic@example.test" },
               { "name": "token", "type": 3, "value": token }]),
        None,
    );
    let answer = slash_answer(&world, &locked).await;
    assert!(answer.contains("too many wrong tokens"), "{answer}");
    // The invitee, from their own account, verifies at once.
    let invitee = 631;
    joins_and_verifies(&world, invitee, "vic@example.test", &token).await;
}

/// Review of issue 11: a token typed in a channel (mentioning the bot or not) is never used:
/// everyone there read it. It is voided, its owner gets a fresh invitation by mail, and the
/// member is told by DM to use DMs.
#[tokio::test]
async fn a_token_typed_in_a_channel_is_voided_and_a_fresh_one_mailed() {
    let world = World::start(Options::default()).await;
    let token = world.invitee("loud@example.test").await;
    let member = 640;
    world.discord.member_joins(member, false);
    gate_until(&world, member, |g| g.in_guild).await;
    world.discord.message(
        member,
        testkit::discord::GENERAL_CHANNEL,
        Some(GUILD_ID),
        &format!("/verify loud@example.test {token}"),
        false,
    );
    let dm = FakeDiscord::dm_channel(member);
    world
        .discord
        .wait_for("the warning", WAIT, |_| {
            world
                .discord
                .posts(dm)
                .iter()
                .any(|p| p.content().contains("no longer works"))
        })
        .await;
    let reissued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM email_deliveries d JOIN users u ON u.id = d.user_id
         WHERE u.email = 'loud@example.test' AND d.kind = 'invitation'",
    )
    .fetch_one(&world.db.pool)
    .await
    .expect("deliveries");
    assert_eq!(reissued, 1, "a fresh invitation is on its way");
    // A reader who copied it gets nothing, and neither does the member with the old token.
    world.discord.message(
        641,
        FakeDiscord::dm_channel(641),
        None,
        &format!("/verify loud@example.test {token}"),
        false,
    );
    world
        .discord
        .wait_for("the reader's refusal", WAIT, |_| {
            world
                .discord
                .posts(FakeDiscord::dm_channel(641))
                .iter()
                .any(|p| p.content().contains("do not match"))
        })
        .await;
    assert!(!granted(&world, member));
    assert!(!granted(&world, 641));
}
