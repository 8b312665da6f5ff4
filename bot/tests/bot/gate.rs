//! Seed 003: the verification gate, its failure paths, and the admin commands.

use std::time::Duration;

use serde_json::json;
use testkit::discord::{FakeDiscord, GUILD_ID, MEMBER_ROLE_ID, Recorded};
use testkit::eventually;

use crate::support::{FALLBACK_CHANNEL, LOG_CHANNEL, Options, WAIT, World};

fn role_grant(user: u64) -> String {
    format!("/guilds/{GUILD_ID}/members/{user}/roles/{MEMBER_ROLE_ID}")
}

fn kick(user: u64) -> String {
    format!("/guilds/{GUILD_ID}/members/{user}")
}

/// How many of `requests` gave `user` the Member role.
fn grants(requests: &[Recorded], user: u64) -> usize {
    requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path == role_grant(user))
        .count()
}

/// How many of `requests` kicked `user`.
fn kicks(requests: &[Recorded], user: u64) -> usize {
    requests
        .iter()
        .filter(|r| r.method == "DELETE" && r.path == kick(user))
        .count()
}

fn granted(world: &World, user: u64) -> bool {
    grants(&world.discord.requests(), user) > 0
}

#[tokio::test]
async fn a_member_who_verifies_gets_the_role_and_is_never_kicked() {
    let world = World::start(Options::verifying_within(Duration::from_secs(3))).await;
    let token = world.invitee("joiner@example.test").await;
    joins_and_verifies(&world, 600, "joiner@example.test", &token).await;
    let dm = FakeDiscord::dm_channel(600);
    assert!(world.discord.posts(dm)[0].content().contains("verify"));
    world.wait_posts("the confirmation", dm, 2).await;
    assert!(world.discord.posts(dm)[1].content().contains("verified"));
    // Past the deadline: the scheduled kick finds the member verified.
    let kick_job = wait_kick_job(&world).await;
    assert_eq!(kick_job["outcome"], "not_needed");
    assert!(world.discord.is_member(600));
    assert_eq!(kicks(&world.discord.requests(), 600), 0);
}

/// A role grant that fails for now is retried until the member has the role: the gate is
/// passed only with it (before, the first attempt passed the gate, and the retry, finding no
/// guild pending, ended without the role).
#[tokio::test]
async fn a_role_grant_that_fails_for_now_is_retried_until_given() {
    let world = World::start(Options::default()).await;
    let token = world.invitee("retried@example.test").await;
    world.discord.fail_role_grants(1);
    world.discord.member_joins(605, false);
    let dm = FakeDiscord::dm_channel(605);
    world.wait_posts("the instructions", dm, 1).await;
    world.dm(605, &format!("retried@example.test {token}"));
    let requests = world
        .discord
        .wait_for("the role, on the second try", WAIT, |r| {
            r.iter()
                .any(|r| r.path == role_grant(605) && r.method == "PUT" && r.refused.is_none())
        })
        .await;
    let failed = requests
        .iter()
        .filter(|r| r.path == role_grant(605) && r.refused == Some(0))
        .count();
    assert_eq!(failed, 1, "the first grant failed");
    world.wait_posts("the confirmation", dm, 2).await;
    let pending: Vec<u64> = store::members::pending_guilds(&world.db.pool, 605)
        .await
        .expect("gate");
    assert!(
        pending.is_empty(),
        "the gate is passed once the role is given"
    );
}

/// The gate is passed as soon as the member proved who they are: while Discord refuses the
/// role (here for good), the deadline passes and the kick finds nothing to do.
#[tokio::test]
async fn a_verified_member_is_not_kicked_while_discord_refuses_the_role() {
    let world = World::start(Options::verifying_within(Duration::from_secs(3))).await;
    let token = world.invitee("patient@example.test").await;
    world.discord.fail_role_grants(u32::MAX);
    world.discord.member_joins(606, false);
    let dm = FakeDiscord::dm_channel(606);
    world.wait_posts("the instructions", dm, 1).await;
    world.dm(606, &format!("patient@example.test {token}"));
    let kick_job = wait_kick_job(&world).await;
    assert_eq!(kick_job["outcome"], "not_needed", "{kick_job}");
    assert!(world.discord.is_member(606));
    assert_eq!(kicks(&world.discord.requests(), 606), 0);
}

/// Issue 13: `/api/verify-discord` verifies as the bot does. A member waiting at the gate who
/// verifies on the web gets the Member role and is not kicked at the deadline (before, the API
/// verified inline and the scheduled kick still fired).
#[tokio::test]
async fn verifying_on_the_web_lifts_the_gate_and_gives_the_role() {
    let world = World::start(Options::verifying_within(Duration::from_secs(4))).await;
    let token = world.invitee("web@example.test").await;
    world.discord.member_joins(607, false);
    let dm = FakeDiscord::dm_channel(607);
    world.wait_posts("the instructions", dm, 1).await;
    let api = testkit::spawn_app_with(testkit::AppOptions {
        database_url: Some(world.db.url()),
        redis_prefix: Some(world.redis.prefix.clone()),
        ..testkit::AppOptions::default()
    })
    .await;
    let resp = api
        .post_admin("/api/verify-discord")
        .json(&json!({ "email": "web@example.test", "token": token, "discord_id": "607" }))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(resp.status().as_u16(), 200);
    world
        .discord
        .wait_for("the role", WAIT, |r| grants(r, 607) > 0)
        .await;
    let kick_job = wait_kick_job(&world).await;
    assert_eq!(kick_job["outcome"], "not_needed");
    assert!(world.discord.is_member(607));
    assert_eq!(kicks(&world.discord.requests(), 607), 0);
}

/// Waits for the kick job of the (only) member and returns its result.
async fn wait_kick_job(world: &World) -> serde_json::Value {
    let done_key = world.producer.keys::<jobs::KickExpiredMember>().done();
    let id = eventually(WAIT, "no kick job finished", async || {
        let mut conn = world.producer.connection();
        let done: Vec<String> = redis::AsyncCommands::zrange(&mut conn, &done_key, 0, -1)
            .await
            .expect("done");
        done.into_iter().next()
    })
    .await;
    let status = world
        .producer
        .status("kick_expired_member", &jobs::JobId::from(id.as_str()))
        .await
        .expect("status")
        .expect("job");
    status.result.expect("result")
}

/// Runs the sweep (a second chance for lost kicks) once, to its end.
async fn sweep(world: &World, fired_at_ms: u64) {
    let sweep = world
        .producer
        .push(&jobs::Sweep { fired_at_ms })
        .await
        .expect("push");
    world.finished("sweep", sweep.id()).await;
}

#[tokio::test]
async fn a_member_who_does_not_verify_is_kicked_once() {
    let world = World::start(Options::verifying_within(Duration::from_secs(2))).await;
    world.discord.member_joins(601, false);
    world
        .discord
        .wait_for("the kick", WAIT, |r| kicks(r, 601) > 0)
        .await;
    assert!(!world.discord.is_member(601));
    // The sweep (a second chance for lost kicks) does not kick again.
    sweep(&world, 7).await;
    assert_eq!(kicks(&world.discord.requests(), 601), 1);
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
    eventually(WAIT, "the bot never recorded the member", async || {
        store::members::gate(&world.db.pool, GUILD_ID, 602)
            .await
            .expect("gate")
    })
    .await;
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
    sweep(&world, 8).await;
    world
        .discord
        .wait_for("the kick", WAIT, |r| kicks(r, 602) > 0)
        .await;
}

#[tokio::test]
async fn closed_dms_fall_back_to_the_channel() {
    let world = World::start(Options::default()).await;
    world.discord.close_dms(603);
    world.discord.member_joins(603, false);
    world
        .wait_posts("the fallback post", FALLBACK_CHANNEL, 1)
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
    world.wait_posts("the instructions", dm, 1).await;
    world.dm(604, &format!("noperm@example.test {token}"));
    world.wait_posts("the report", LOG_CHANNEL, 1).await;
    // Give a retry storm the chance to show itself: the job has settled as failed.
    eventually(WAIT, "the job never failed for good", async || {
        let depth = world.producer.depth("verify_member").await.expect("depth");
        (depth.dead == 1).then_some(())
    })
    .await;
    assert_eq!(
        grants(&world.discord.requests(), 604),
        1,
        "one attempt, no retries into Discord's invalid-request limit"
    );
    assert_eq!(world.discord.posts(LOG_CHANNEL).len(), 1);
    assert!(
        world.discord.posts(LOG_CHANNEL)[0]
            .content()
            .contains("Manage Roles")
    );
    // Reports to the log channel ping nobody either.
    world.assert_every_message_mentions_nobody();
}

#[tokio::test]
async fn admin_commands_are_refused_to_members_and_run_for_admins() {
    let world = World::start(Options::default()).await;
    let set_timeout = |user: u64, permissions: &str| {
        world.discord.slash(
            user,
            "set_timeout",
            json!([{ "name": "minutes", "type": 4, "value": 10 }]),
            Some(permissions),
        )
    };
    let refused = set_timeout(700, "0");
    let callback = format!("{refused}/callback");
    let requests = world
        .discord
        .wait_for("the refusal", WAIT, |r| {
            r.iter().any(|r| r.path.ends_with(&callback))
        })
        .await;
    let refusal = requests
        .iter()
        .find(|r| r.path.ends_with(&callback))
        .expect("callback");
    assert_eq!(refusal.body["type"], 4, "answered at once");
    assert!(
        refusal.body["data"]["content"]
            .as_str()
            .expect("text")
            .contains("admins")
    );
    let admin = set_timeout(701, "8");
    world.slash_answer("the answer", &admin).await;
    let settings = store::members::guild_settings(&world.db.pool, GUILD_ID)
        .await
        .expect("settings");
    assert_eq!(settings.verification_timeout_seconds, Some(600));
    // verification_status lists pending members.
    world.discord.member_joins(702, false);
    world
        .wait_posts("the gate", FakeDiscord::dm_channel(702), 1)
        .await;
    let status = world
        .discord
        .slash(701, "verification_status", json!([]), Some("32"));
    let answer = world.slash_answer("the status", &status).await;
    assert!(answer.content().contains("<@702>"), "{}", answer.content());
}

/// Waits until the store's gate of `member` satisfies `done`.
async fn gate_until(
    world: &World,
    member: u64,
    done: impl Fn(&store::members::Gate) -> bool,
) -> store::members::Gate {
    eventually(WAIT, "the gate never got there", async || {
        store::members::gate(&world.db.pool, GUILD_ID, member)
            .await
            .expect("gate")
            .filter(&done)
    })
    .await
}

#[tokio::test]
async fn screening_first_then_verify_by_slash_and_a_rejoin_restores_the_role() {
    let world = World::start(Options::default()).await;
    let token = world.invitee("screen@example.test").await;
    world.discord.member_joins(610, true);
    world.discord.member_screened(610);
    let dm = FakeDiscord::dm_channel(610);
    world.wait_posts("the instructions", dm, 1).await;
    let interaction = world.discord.slash(
        610,
        "verify",
        json!([{ "name": "email", "type": 3, "value": "screen@example.test" },
               { "name": "token", "type": 3, "value": token }]),
        Some("0"),
    );
    let answer = world
        .slash_answer("the answer and the role", &interaction)
        .await;
    world
        .discord
        .wait_for("the answer and the role", WAIT, |r| grants(r, 610) > 0)
        .await;
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
        .wait_for("the role again", WAIT, |r| grants(r, 610) == 2)
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
    world.slash_answer("the role and the answer", &admin).await;
    world
        .discord
        .wait_for("the role and the answer", WAIT, |r| grants(r, 612) > 0)
        .await;
    gate_until(&world, 612, |g| g.status == "verified").await;
}

/// `user` joins, gets the gate's DM, answers it with `email token`, and gets the role.
async fn joins_and_verifies(world: &World, user: u64, email: &str, token: &str) {
    world.discord.member_joins(user, false);
    let dm = FakeDiscord::dm_channel(user);
    world.wait_posts("the instructions", dm, 1).await;
    world.dm(user, &format!("{email} {token}"));
    world
        .discord
        .wait_for("the role", WAIT, |r| grants(r, user) > 0)
        .await;
}

/// Issue 11, finding 1, at the gate. d37e806: a stranger who onboarded with an invitee's
/// address got a `/login` code for the invitee's row; `/login` from the stranger's Discord
/// account verified that row and the Member role followed, and the real invitee was refused
/// ("already verified with another Discord account") and kicked at the deadline.
#[tokio::test]
async fn a_strangers_login_code_gives_no_role_and_the_invitee_still_gets_in() {
    let world = World::start(Options::verifying_within(Duration::from_secs(4))).await;
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
        Duration::from_secs(600),
    )
    .await
    .expect("onboard");
    let code = onboarded.login_code.expect("a code for the invitee's row");
    let (stranger, invitee) = (620, 621);
    world.discord.member_joins(stranger, false);
    gate_until(&world, stranger, |g| g.in_guild).await;
    let interaction = world.discord.slash(
        stranger,
        "login",
        json!([{ "name": "code", "type": 3, "value": code }]),
        Some("0"),
    );
    let answer = world.slash_answer("the answer", &interaction).await;
    assert!(
        answer.content().contains("/verify"),
        "told to finish by mail: {}",
        answer.content()
    );
    // The invitee joins and answers the gate's DM with their own token.
    joins_and_verifies(&world, invitee, "ivy@example.test", &token).await;
    // The stranger never got the role, is linked to nobody, and is kicked at the deadline.
    world
        .discord
        .wait_for("the stranger's kick", WAIT, |r| kicks(r, stranger) > 0)
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
    let verify = |token: &str| {
        world.discord.slash(
            stranger,
            "verify",
            json!([{ "name": "email", "type": 3, "value": "vic@example.test" },
                   { "name": "token", "type": 3, "value": token }]),
            None,
        )
    };
    for n in 0..5 {
        let guess = verify(&format!("guess{n}"));
        let answer = world.slash_answer("the answer", &guess).await;
        assert!(
            answer.content().contains("do not match"),
            "{}",
            answer.content()
        );
    }
    // Locked out of this email, right token or not.
    let locked = verify(&token);
    let answer = world.slash_answer("the answer", &locked).await;
    assert!(
        answer.content().contains("too many wrong tokens"),
        "{}",
        answer.content()
    );
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
        .wait_post_with("the warning", dm, "no longer works")
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
    world.dm(641, &format!("/verify loud@example.test {token}"));
    let reader = FakeDiscord::dm_channel(641);
    world
        .wait_post_with("the reader's refusal", reader, "do not match")
        .await;
    assert!(!granted(&world, member));
    assert!(!granted(&world, 641));
}
