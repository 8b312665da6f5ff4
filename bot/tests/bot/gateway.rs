//! The gateway as Discord runs it: the fake closes an Identify asking for privileged intents
//! the application may not use (4014), refuses a RESUME with op 9 when told, replays on RESUME
//! what was dispatched while the bot was away, and compresses payloads for a client that asks.

use testkit::discord::FakeDiscord;

use crate::support::{Options, WAIT, World};

#[tokio::test]
async fn disallowed_intents_stop_the_bot_with_a_reason() {
    let mut world = World::start(Options {
        privileged_intents_off: true,
        ..Options::default()
    })
    .await;
    let ended = world.bot_exit().await;
    let error = ended.expect_err("the bot cannot run without its intents");
    let text = format!("{error:#}").to_lowercase();
    assert!(text.contains("intent"), "says it is the intents: {text}");
    assert!(
        world
            .discord
            .requests()
            .iter()
            .all(|r| !r.path.ends_with("/commands")),
        "it never got ready"
    );
}

#[tokio::test]
async fn a_message_sent_while_the_bot_was_away_is_replayed_and_answered() {
    let world = World::start(Options::default()).await;
    world.linked_user(520, "away@example.test").await;
    world.discord.hold_resumes();
    world.discord.drop_connection().await;
    // Dispatched while the bot cannot be connected: only the RESUME's replay can deliver it.
    world.dm(520, "are you there?");
    world.discord.release_resumes();
    let dm = FakeDiscord::dm_channel(520);
    world
        .wait_posts("the reply to the replayed message", dm, 1)
        .await;
    let (_, _, replayed, _) = world.discord.gateway_counts();
    assert!(replayed >= 1, "the message came by the RESUME's replay");
    assert_eq!(world.discord.connections(), 2);
}

#[tokio::test]
async fn an_invalid_session_makes_the_bot_identify_again() {
    let world = World::start(Options::default()).await;
    world.linked_user(521, "fresh@example.test").await;
    world.discord.invalidate_next_resume();
    world.discord.drop_connection().await;
    testkit::eventually(WAIT, "the bot never identified again", async || {
        let (identifies, _, _, invalidated) = world.discord.gateway_counts();
        (identifies >= 2 && invalidated == 1).then_some(())
    })
    .await;
    let dm = FakeDiscord::dm_channel(521);
    world.dm(521, "after a new session");
    world
        .wait_posts("the reply in the new session", dm, 1)
        .await;
}

#[tokio::test]
async fn the_bot_asks_for_compressed_payloads_and_reads_them() {
    let world = World::start(Options::default()).await;
    let identify = world.discord.identify().expect("identified");
    assert_eq!(
        identify["compress"], true,
        "serenity asks for payload compression"
    );
    let (_, compressed, _, _) = world.discord.gateway_counts();
    assert!(
        compressed >= 2,
        "READY and GUILD_CREATE came compressed, and were read"
    );
    world.linked_user(522, "zlib@example.test").await;
    world.dm(522, "compressed?");
    world
        .wait_posts(
            "the reply to a compressed message",
            FakeDiscord::dm_channel(522),
            1,
        )
        .await;
}
