//! Seed 001: who the bot answers, `/login`, chat replies with voice notes and images.

use serde_json::json;
use testkit::discord::{FakeDiscord, GENERAL_CHANNEL, GUILD_ID};

use crate::support::{Options, WAIT, World};

#[tokio::test]
async fn unlinked_users_get_login_instructions_and_nothing_else() {
    let world = World::start(Options::default()).await;
    let dm = FakeDiscord::dm_channel(500);
    world.discord.message(500, dm, None, "hello?", false);
    let requests = world
        .discord
        .wait_for("login instructions", WAIT, |r| {
            r.iter()
                .any(|r| r.path == format!("/channels/{dm}/messages"))
        })
        .await;
    let post = requests
        .iter()
        .find(|r| r.path == format!("/channels/{dm}/messages"))
        .expect("a DM");
    assert!(post.content().contains("/login"), "{}", post.content());
    assert!(
        post.content().contains("https://community.test"),
        "{}",
        post.content()
    );
    assert!(
        world.openai.requests().is_empty(),
        "no chat for unlinked users"
    );
}

#[tokio::test]
async fn a_linked_member_gets_a_reply_a_voice_note_and_an_image_in_the_channel() {
    let world = World::start(Options::default()).await;
    world.linked_user(501, "chatter@example.test").await;
    world
        .openai
        .reply_with("Foxes are great!\nIMAGE: a red fox in the snow");
    // Not mentioned in a guild channel: ignored. Mentioned: answered.
    world
        .discord
        .message(501, GENERAL_CHANNEL, Some(GUILD_ID), "ignored", false);
    world.discord.message(
        501,
        GENERAL_CHANNEL,
        Some(GUILD_ID),
        "tell me about foxes",
        true,
    );
    let requests = world
        .discord
        .wait_for("the reply and the image", WAIT, |_| {
            world.discord.posts(GENERAL_CHANNEL).len() >= 2
        })
        .await;
    let posts = world.discord.posts(GENERAL_CHANNEL);
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(posts[0].content(), "Foxes are great!");
    assert_eq!(posts[0].files.len(), 1, "a voice note");
    assert_eq!(posts[0].files[0].1, "voice-note.mp3");
    assert_eq!(posts[0].files[0].2, testkit::openai::VOICE_NOTE);
    assert!(posts[1].files[0].2.starts_with(b"\x89PNG"), "a real PNG");
    assert!(
        requests
            .iter()
            .any(|r| r.path == format!("/channels/{GENERAL_CHANNEL}/typing")),
        "typing while the reply is made"
    );
    let chat = &world.openai.requests()[0].1;
    assert_eq!(
        chat["messages"]
            .as_array()
            .expect("messages")
            .last()
            .expect("turn")["content"],
        "tell me about foxes"
    );
    assert!(
        chat["messages"][0]["content"]
            .as_str()
            .expect("system")
            .contains("cheerful")
    );
    // One trace from the Discord event through chat_reply into the image job it pushed.
    let trace_of = |queue: &'static str| {
        let producer = world.producer.clone();
        async move {
            // The post is seen before the job's outcome is recorded: wait for that.
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let done = producer
                    .list(queue, Some(jobs::JobState::Done), 0, 10)
                    .await
                    .expect("list");
                if let Some(job) = done.first() {
                    let trace = job.trace.clone().expect("a trace");
                    return trace.split('-').nth(1).expect("trace id").to_owned();
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{queue} never finished"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(
        trace_of("chat_reply").await,
        trace_of("generate_image").await
    );
    let turns: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_messages")
        .fetch_one(&world.db.pool)
        .await
        .expect("count");
    assert_eq!(turns, 2, "both turns stored");
}

#[tokio::test]
async fn a_reply_job_that_runs_twice_posts_once() {
    let world = World::start(Options::default()).await;
    let user = world.linked_user(502, "twice@example.test").await;
    world.openai.reply_with("only once");
    let dm = FakeDiscord::dm_channel(502);
    let message = world.discord.message(502, dm, None, "hi", false);
    world
        .discord
        .wait_for("the reply", WAIT, |_| !world.discord.posts(dm).is_empty())
        .await;
    // The same job again, as after a worker died between posting and recording the post:
    // the stored reply is posted again with the same nonce, and Discord drops it.
    // (First let the first run finish recording its post.)
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM job_effects WHERE idempotency_key LIKE 'chat_reply:%'",
        )
        .fetch_one(&world.db.pool)
        .await
        .expect("count");
        if recorded == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first run never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    sqlx::query("DELETE FROM job_effects WHERE idempotency_key LIKE 'chat_reply:%'")
        .execute(&world.db.pool)
        .await
        .expect("forget the effect");
    let again = world
        .producer
        .push(&jobs::ChatReply {
            user_id: user,
            channel_id: dm,
            message_id: message,
            guild_id: None,
        })
        .await
        .expect("push");
    let status = world
        .producer
        .wait("chat_reply", again.id(), WAIT)
        .await
        .expect("wait")
        .expect("finished");
    assert_eq!(status.state, jobs::JobState::Done);
    assert_eq!(
        world.discord.posts(dm).len(),
        1,
        "Discord dropped the duplicate by nonce"
    );
    let duplicates = world
        .discord
        .requests()
        .iter()
        .filter(|r| r.duplicate)
        .count();
    assert_eq!(
        duplicates, 1,
        "the second post carried the first one's nonce"
    );
    let chats = world
        .openai
        .requests()
        .into_iter()
        .filter(|(p, _)| p == "chat/completions")
        .count();
    assert_eq!(chats, 1, "the stored reply was reused, not asked for again");
    // Once recorded, a third run does nothing at all.
    let third = world
        .producer
        .push(&jobs::ChatReply {
            user_id: user,
            channel_id: dm,
            message_id: message,
            guild_id: None,
        })
        .await
        .expect("push");
    let status = world
        .producer
        .wait("chat_reply", third.id(), WAIT)
        .await
        .expect("wait")
        .expect("finished");
    assert_eq!(status.result.expect("result")["outcome"], "already_replied");
}

#[tokio::test]
async fn other_bots_are_ignored() {
    let world = World::start(Options::default()).await;
    world.linked_user(503, "human@example.test").await;
    let dm = FakeDiscord::dm_channel(503);
    world.discord.bot_message(503, dm, "beep");
    world.discord.message(503, dm, None, "a human now", false);
    world
        .discord
        .wait_for("the reply to the human", WAIT, |_| {
            !world.discord.posts(dm).is_empty()
        })
        .await;
    let chats = world
        .openai
        .requests()
        .into_iter()
        .filter(|(p, _)| p == "chat/completions")
        .count();
    assert_eq!(chats, 1);
}

#[tokio::test]
async fn login_codes_link_the_account_once() {
    let world = World::start(Options::default()).await;
    let user: i64 =
        sqlx::query_scalar("INSERT INTO users (email) VALUES ('code@example.test') RETURNING id")
            .fetch_one(&world.db.pool)
            .await
            .expect("user");
    let code = store::one_time_tokens::issue_login_code(
        &world.db.pool,
        user,
        std::time::Duration::from_secs(600),
    )
    .await
    .expect("code");
    let token = world.discord.slash(
        504,
        "login",
        json!([{ "name": "code", "type": 3, "value": code }]),
        None,
    );
    let edit = format!("/webhooks/100/{token}/messages/@original");
    let requests = world
        .discord
        .wait_for("the login answer", WAIT, |r| {
            r.iter().any(|r| r.path == edit)
        })
        .await;
    let answer = requests.iter().find(|r| r.path == edit).expect("edit");
    // A code proves the Discord account, not the email: linked, and told to finish with the
    // code mailed to the address.
    assert!(
        answer.content().contains("linked") && answer.content().contains("/verify"),
        "{}",
        answer.content()
    );
    assert!(
        requests.iter().any(|r| r.path.contains("/callback")),
        "deferred first"
    );
    let owner = store::identities::discord_owner(&world.db.pool, "504")
        .await
        .expect("query")
        .expect("linked");
    assert_eq!((owner.user_id, owner.confirmed), (user, false));
    // The code mailed to the address, typed from this Discord account, confirms the link.
    let (_, mailed) = store::one_time_tokens::issue(
        &world.db.pool,
        user,
        "email_verification",
        std::time::Duration::from_secs(600),
        store::one_time_tokens::Earlier::Keep,
    )
    .await
    .expect("verification code");
    let dm504 = FakeDiscord::dm_channel(504);
    world.discord.message(
        504,
        dm504,
        None,
        &format!("/verify code@example.test {mailed}"),
        false,
    );
    world
        .discord
        .wait_for("the confirmation", WAIT, |_| {
            world
                .discord
                .posts(dm504)
                .iter()
                .any(|p| p.content().contains("verified"))
        })
        .await;
    let owner = store::identities::discord_owner(&world.db.pool, "504")
        .await
        .expect("query")
        .expect("linked");
    assert_eq!((owner.user_id, owner.confirmed), (user, true));
    // The code works once, and by text too: a second use is refused.
    world.discord.message(
        505,
        FakeDiscord::dm_channel(505),
        None,
        &format!("/login {code}"),
        false,
    );
    let dm = FakeDiscord::dm_channel(505);
    let requests = world
        .discord
        .wait_for("the refusal", WAIT, |_| !world.discord.posts(dm).is_empty())
        .await;
    let refusal = requests
        .iter()
        .find(|r| r.path == format!("/channels/{dm}/messages"))
        .expect("DM");
    assert!(
        refusal.content().contains("failed"),
        "{}",
        refusal.content()
    );
}

#[tokio::test]
async fn imagine_fills_the_deferred_response_with_a_png() {
    let world = World::start(Options::default()).await;
    let token = world.discord.slash(
        506,
        "imagine",
        json!([{ "name": "prompt", "type": 3, "value": "a lighthouse" }]),
        Some("0"),
    );
    let edit = format!("/webhooks/100/{token}/messages/@original");
    let requests = world
        .discord
        .wait_for("the image", WAIT, |r| r.iter().any(|r| r.path == edit))
        .await;
    let answer = requests.iter().find(|r| r.path == edit).expect("edit");
    assert!(answer.files[0].2.starts_with(b"\x89PNG"));
}

#[tokio::test]
async fn the_bot_identifies_with_the_intents_it_needs() {
    let world = World::start(Options::default()).await;
    let identify = world.discord.identify().expect("identified");
    let intents = identify["intents"].as_u64().expect("intents");
    assert_ne!(intents & (1 << 1), 0, "GUILD_MEMBERS for the gate");
    assert_ne!(intents & (1 << 15), 0, "MESSAGE_CONTENT for chat");
    assert_eq!(
        identify["token"],
        format!("Bot {}", testkit::discord::TOKEN)
    );
}

#[tokio::test]
async fn a_rate_limited_post_is_retried_and_posted_once() {
    let world = World::start(Options::default()).await;
    world.linked_user(507, "limited@example.test").await;
    world.openai.reply_with("after a pause");
    world.discord.rate_limit_posts(1);
    let dm = FakeDiscord::dm_channel(507);
    world.discord.message(507, dm, None, "hello", false);
    world
        .discord
        .wait_for("the reply", WAIT, |_| !world.discord.posts(dm).is_empty())
        .await;
    assert_eq!(world.discord.posts(dm).len(), 1);
    assert_eq!(world.discord.posts(dm)[0].content(), "after a pause");
}

#[tokio::test]
async fn after_a_reconnect_the_bot_resumes_and_keeps_answering() {
    let world = World::start(Options::default()).await;
    world.linked_user(508, "resume@example.test").await;
    world.discord.reconnect().await;
    assert_eq!(world.discord.connections(), 2);
    let dm = FakeDiscord::dm_channel(508);
    world.discord.message(508, dm, None, "still there?", false);
    world
        .discord
        .wait_for("the reply", WAIT, |_| !world.discord.posts(dm).is_empty())
        .await;
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_member() {
    let world = World::start(Options::default()).await;
    for i in 0..11 {
        world.discord.slash(
            509,
            "login",
            json!([{ "name": "code", "type": 3, "value": format!("WRONG{i}") }]),
            None,
        );
    }
    // Every interaction is answered at once: ten deferred, one refused.
    let callbacks = |r: &[testkit::discord::Recorded]| {
        r.iter()
            .filter(|r| r.path.ends_with("/callback"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let requests = world
        .discord
        .wait_for("eleven answers", WAIT, |r| callbacks(r).len() == 11)
        .await;
    let refused: Vec<_> = callbacks(&requests)
        .into_iter()
        .filter(|r| r.body["type"] == 4)
        .collect();
    assert_eq!(refused.len(), 1, "the eleventh attempt");
    assert!(
        refused[0].body["data"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("Too many attempts")),
        "{}",
        refused[0].body
    );
    assert_eq!(refused[0].body["data"]["flags"], 64, "ephemeral");
}

/// Review of issue 11: a member whose link needs proving (a `/login` link, or one from before
/// V2) is mailed a code when they talk to the bot, once an hour, and told how to finish.
#[tokio::test]
async fn a_linked_member_the_bot_will_not_chat_with_is_mailed_a_code_once_an_hour() {
    let world = World::start(Options::default()).await;
    let user: i64 =
        sqlx::query_scalar("INSERT INTO users (email) VALUES ('half@example.test') RETURNING id")
            .fetch_one(&world.db.pool)
            .await
            .expect("user");
    store::identities::link_discord(
        &world.db.pool,
        user,
        &store::identities::ProviderAccount {
            subject: "650".into(),
            ..Default::default()
        },
        store::identities::LinkProof::AccountOnly,
    )
    .await
    .expect("link");
    let dm = FakeDiscord::dm_channel(650);
    for n in 0..2 {
        world
            .discord
            .message(650, dm, None, &format!("hello {n}"), false);
    }
    world
        .discord
        .wait_for("the instructions", WAIT, |_| {
            world
                .discord
                .posts(dm)
                .iter()
                .any(|p| p.content().contains("/verify"))
        })
        .await;
    let deadline = std::time::Instant::now() + WAIT;
    let mailed = loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM email_deliveries WHERE user_id = $1 AND kind = 'verification'",
        )
        .bind(user)
        .fetch_one(&world.db.pool)
        .await
        .expect("deliveries");
        if n > 0 || std::time::Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(mailed, 1, "one code for two messages");
}
