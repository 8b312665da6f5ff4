//! Issue 15: the bot on several gateway shards, against a fake Discord that requires two
//! (a guild on each, events routed by `(guild_id >> 22) % 2`, DMs to shard 0): the gate,
//! chat and slash commands work in each guild, in one process running both shards or in two
//! processes running one each, each event answered once; too few shards, or too few session
//! starts left, stop the bot before it connects, saying why.

use serde_json::json;
use testkit::discord::{FakeDiscord, Guild};

use crate::support::{Options, WAIT, World};

fn sharded(shards: bot::Shards) -> Options {
    Options {
        discord_shards: 2,
        shards,
        ..Options::default()
    }
}

fn shard(n: u32) -> bot::Shards {
    bot::Shards::range(2, n, n).expect("a shard of two")
}

/// In `guild` (the `i`th): a new member gets the gate's DM, verifies and gets that guild's
/// role; a linked member's mention is answered in that guild's channel; an admin's
/// `/set_timeout` is answered and sets that guild's timeout.
async fn serves(world: &World, guild: &Guild, i: u64) {
    let member = 810 + i;
    let email = format!("member{i}@example.test");
    let token = world.invitee(&email).await;
    world.discord.member_joins_in(guild.id, member, false);
    let dm = FakeDiscord::dm_channel(member);
    world.wait_posts("the gate's instructions", dm, 1).await;
    world.dm(member, &format!("{email} {token}"));
    let grant = format!(
        "/guilds/{}/members/{member}/roles/{}",
        guild.id, guild.member_role
    );
    world
        .discord
        .wait_for("the guild's Member role", WAIT, |r| {
            r.iter()
                .any(|r| r.method == "PUT" && r.path == grant && r.refused.is_none())
        })
        .await;

    let chatter = 820 + i;
    world
        .linked_user(chatter, &format!("chatter{i}@example.test"))
        .await;
    world.discord.message(
        chatter,
        guild.general_channel,
        Some(guild.id),
        "hello there",
        true,
    );
    world
        .wait_posts("the reply in the guild's channel", guild.general_channel, 1)
        .await;

    let minutes = 10 + i;
    let admin = world.discord.slash_in(
        guild,
        830 + i,
        "set_timeout",
        json!([{ "name": "minutes", "type": 4, "value": minutes }]),
        "8",
    );
    world
        .slash_answer("the admin command's answer", &admin)
        .await;
    let settings = store::members::guild_settings(&world.db.pool, guild.id)
        .await
        .expect("settings");
    assert_eq!(
        settings.verification_timeout_seconds,
        Some(i32::try_from(minutes * 60).expect("seconds")),
        "the command set its own guild's timeout"
    );
}

/// Slash commands registered: once, by shard 0.
fn registrations(world: &World) -> usize {
    world
        .discord
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/commands"))
        .count()
}

/// Every guild's events reached one session of the bot: one reply in each channel, one
/// answer to each interaction (a second would be refused with 40060), no Identify refused
/// (an extra shard would be, with 4010).
fn each_event_answered_once(world: &World, guilds: &[Guild]) {
    for guild in guilds {
        assert_eq!(world.discord.posts(guild.general_channel).len(), 1);
    }
    let refused: Vec<_> = world
        .discord
        .refusals()
        .into_iter()
        .filter(|r| r.refused == Some(40060))
        .collect();
    assert!(
        refused.is_empty(),
        "an interaction answered twice: {refused:?}"
    );
    assert_eq!(world.discord.refused_identifies(), Vec::<u16>::new());
}

#[tokio::test]
async fn one_process_runs_both_shards_and_serves_each_guild() {
    let world = World::start(sharded(bot::Shards::all(2))).await;
    assert_eq!(world.discord.identified_shards(), [[0, 2], [1, 2]]);
    let guilds = world.discord.guilds();
    assert_eq!(guilds[1].shard(2), 1, "the second guild is shard 1's");
    for (i, guild) in (0..).zip(&guilds) {
        serves(&world, guild, i).await;
    }
    each_event_answered_once(&world, &guilds);
    assert_eq!(registrations(&world), 1);
    world.assert_every_message_mentions_nobody();
}

#[tokio::test]
async fn two_processes_run_one_shard_each() {
    let mut world = World::start(sharded(shard(0))).await;
    // Started as soon as the first is ready, the second process identifies within 5 s of
    // the first: Discord answers op 9, and serenity identifies again 5 s later.
    world.start_bot(shard(1)).await;
    assert_eq!(world.discord.identifies_too_soon(), 1);
    assert_eq!(
        world.discord.identified_shards(),
        [[0, 2], [1, 2]],
        "each process its own shard"
    );
    let guilds = world.discord.guilds();
    // Shard 1's process serves the second guild; shard 0's the first and the DMs.
    serves(&world, &guilds[1], 1).await;
    serves(&world, &guilds[0], 0).await;
    each_event_answered_once(&world, &guilds);
    assert_eq!(registrations(&world), 1, "only shard 0's process registers");
}

#[tokio::test]
async fn too_few_shards_stop_the_bot_with_the_setting_to_raise() {
    let mut world = World::start(Options {
        starts: false,
        ..sharded(bot::Shards::ONE)
    })
    .await;
    let ended = world.bot_exit().await;
    let error = format!(
        "{:#}",
        ended.expect_err("one shard cannot hold 2,501 guilds")
    );
    assert!(
        error.contains("about 2501 guilds")
            && error.contains("DISCORD_SHARD_COUNT is 1, it must be at least 2"),
        "{error}"
    );
    assert_eq!(world.discord.connections(), 0, "it never connected");
}

#[tokio::test]
async fn a_bot_that_would_spend_the_days_session_starts_does_not_connect() {
    let mut world = World::start(Options {
        session_starts: Some(1),
        starts: false,
        ..sharded(bot::Shards::all(2))
    })
    .await;
    let ended = world.bot_exit().await;
    let error = format!("{:#}", ended.expect_err("two sessions, one start left"));
    assert!(
        error.contains("start 1 more gateway sessions")
            && error.contains("shards 0-1 of 2 would start 2"),
        "{error}"
    );
    assert_eq!(world.discord.connections(), 0, "it never connected");
}
