//! Seed 001: who the bot answers, `/login`, chat replies with voice notes and images.

use serde_json::{Value, json};
use testkit::discord::{FakeDiscord, GENERAL_CHANNEL, GUILD_ID};
use testkit::eventually;

use crate::support::{Options, WAIT, World};

/// The chat completions the fake OpenAI was asked for, oldest first (their JSON bodies).
fn chat_requests(world: &World) -> Vec<Value> {
    world
        .openai
        .requests()
        .into_iter()
        .filter(|(p, _)| p == "chat/completions")
        .map(|(_, body)| body)
        .collect()
}

/// How many chat completions the fake OpenAI was asked for.
fn chats(world: &World) -> usize {
    chat_requests(world).len()
}

#[tokio::test]
async fn unlinked_users_get_login_instructions_and_nothing_else() {
    let world = World::start(Options::default()).await;
    let dm = FakeDiscord::dm_channel(500);
    world.dm(500, "hello?");
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
    assert_eq!(
        posts[0].content(),
        format!("Foxes are great!\n\n{}", workers::chat_reply::IMAGE_QUEUED),
        "the reply says the image is on its way"
    );
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
    let trace_of = async |queue: &'static str| {
        // The post is seen before the job's outcome is recorded: wait for that.
        let job = eventually(WAIT, &format!("{queue} never finished"), async || {
            let done = world
                .producer
                .list(queue, Some(jobs::JobState::Done), 0, 10)
                .await
                .expect("list");
            done.into_iter().next()
        })
        .await;
        let trace = job.trace.expect("a trace");
        trace.split('-').nth(1).expect("trace id").to_owned()
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
    world.assert_every_message_mentions_nobody();
}

#[tokio::test]
async fn an_answer_that_is_only_an_image_says_so_then_posts_the_image() {
    let world = World::start(Options::default()).await;
    world.linked_user(509, "painter@example.test").await;
    world.openai.reply_with("IMAGE: a lighthouse at dusk");
    world.discord.message(
        509,
        GENERAL_CHANNEL,
        Some(GUILD_ID),
        "draw me a lighthouse",
        true,
    );
    world
        .discord
        .wait_for("the queue message and the image", WAIT, |_| {
            world.discord.posts(GENERAL_CHANNEL).len() >= 2
        })
        .await;
    let posts = world.discord.posts(GENERAL_CHANNEL);
    assert_eq!(
        posts[0].content(),
        workers::chat_reply::IMAGE_QUEUED,
        "{posts:?}"
    );
    assert!(
        posts[1].files[0].2.starts_with(b"\x89PNG"),
        "then the image"
    );
    assert!(
        world.discord.refusals().is_empty(),
        "nothing Discord would refuse: {:?}",
        world.discord.refusals()
    );
}

#[tokio::test]
async fn respond_to_all_messages_answers_without_a_mention() {
    let world = World::start(Options {
        respond_to_all: true,
        ..Options::default()
    })
    .await;
    world.linked_user(510, "everywhere@example.test").await;
    world.openai.reply_with("Heard you.");
    world.discord.message(
        510,
        GENERAL_CHANNEL,
        Some(GUILD_ID),
        "no mention here",
        false,
    );
    world
        .wait_post_with(
            "the reply to an unmentioned message",
            GENERAL_CHANNEL,
            "Heard you.",
        )
        .await;
    let chat = &world.openai.requests()[0].1;
    assert_eq!(
        chat["messages"]
            .as_array()
            .expect("messages")
            .last()
            .expect("turn")["content"],
        "no mention here"
    );
}

#[tokio::test]
async fn bypass_auth_chats_with_unverified_members_but_not_with_strangers() {
    let world = World::start(Options {
        bypass_auth: true,
        ..Options::default()
    })
    .await;
    // Linked by a `/login` code: the email is not proven, the user not verified.
    let user = world.db.user("unproven@example.test").await;
    world
        .db
        .link_discord(user, "511", store::identities::LinkProof::AccountOnly)
        .await;
    world.openai.reply_with("Bypassed.");
    world.dm(511, "hello anyway");
    world
        .wait_post_with(
            "the bypassed reply",
            FakeDiscord::dm_channel(511),
            "Bypassed.",
        )
        .await;
    // Never linked: the login instructions, and no chat.
    world.dm(512, "hello from nowhere");
    world
        .wait_posts(
            "the stranger's instructions",
            FakeDiscord::dm_channel(512),
            1,
        )
        .await;
    let answer = world.discord.posts(FakeDiscord::dm_channel(512))[0].clone();
    assert!(answer.content().contains("/login"), "{}", answer.content());
    assert_eq!(chats(&world), 1, "only the linked member chatted");
}

#[tokio::test]
async fn a_conversation_sends_its_earlier_turns_with_each_message() {
    let world = World::start(Options::default()).await;
    world.linked_user(513, "talker@example.test").await;
    let dm = FakeDiscord::dm_channel(513);
    world.openai.reply_with("First answer.");
    world.dm(513, "first question");
    world
        .wait_post_with("the first answer", dm, "First answer.")
        .await;
    world.openai.reply_with("Second answer.");
    world.dm(513, "second question");
    world
        .wait_post_with("the second answer", dm, "Second answer.")
        .await;
    let requests = chat_requests(&world);
    let turns: Vec<(String, String)> = requests[1]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .skip(1) // the system prompt
        .map(|t| {
            (
                t["role"].as_str().unwrap_or("").to_owned(),
                t["content"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("user", "first question"),
        ("assistant", "First answer."),
        ("user", "second question"),
    ]
    .map(|(r, c)| (r.to_owned(), c.to_owned()));
    assert_eq!(
        turns, expected,
        "the history, oldest first, then the new message"
    );
}

#[tokio::test]
async fn a_reply_job_that_runs_twice_posts_once() {
    let world = World::start(Options::default()).await;
    let user = world.linked_user(502, "twice@example.test").await;
    world.openai.reply_with("only once");
    let dm = FakeDiscord::dm_channel(502);
    let message = world.dm(502, "hi");
    world.wait_posts("the reply", dm, 1).await;
    // The same job again, as after a worker died between posting the reply and recording
    // it: the post's own record (per part) keeps it from going out again; and had the worker
    // died before that record too, the same nonce makes Discord drop it.
    // (First let the first run finish recording its post.)
    eventually(WAIT, "the first run never finished", async || {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM job_effects WHERE idempotency_key LIKE 'chat_reply:%'",
        )
        .fetch_one(&world.db.pool)
        .await
        .expect("count");
        (recorded == 1).then_some(())
    })
    .await;
    let forget = async |pattern: &str| {
        sqlx::query("DELETE FROM job_effects WHERE idempotency_key LIKE $1")
            .bind(pattern)
            .execute(&world.db.pool)
            .await
            .expect("forget the effect");
    };
    forget("chat_reply:%").await;
    let reply = async || {
        let job = jobs::ChatReply {
            user_id: user,
            channel_id: dm,
            message_id: message,
            guild_id: None,
        };
        let pushed = world.producer.push(&job).await.expect("push");
        world.finished("chat_reply", pushed.id()).await
    };
    let posts_sent = || {
        world
            .discord
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
            .count()
    };
    let status = reply().await;
    assert_eq!(status.state, jobs::JobState::Done);
    assert_eq!(posts_sent(), 1, "the recorded part was not sent again");
    forget("chat_reply:%").await;
    forget("discord-post:%").await;
    let status = reply().await;
    assert_eq!(status.state, jobs::JobState::Done);
    assert_eq!(posts_sent(), 2, "with no record at all, it is sent again…");
    assert_eq!(
        world.discord.posts(dm).len(),
        1,
        "…and Discord drops the duplicate by nonce"
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
    assert_eq!(
        chats(&world),
        1,
        "the stored reply was reused, not asked for again"
    );
    // Once recorded, a third run does nothing at all.
    let status = reply().await;
    assert_eq!(status.result.expect("result")["outcome"], "already_replied");
}

#[tokio::test]
async fn other_bots_are_ignored() {
    let world = World::start(Options::default()).await;
    world.linked_user(503, "human@example.test").await;
    let dm = FakeDiscord::dm_channel(503);
    world.discord.bot_message(503, dm, "beep");
    world.dm(503, "a human now");
    world.wait_posts("the reply to the human", dm, 1).await;
    assert_eq!(chats(&world), 1);
}

#[tokio::test]
async fn login_codes_link_the_account_once() {
    let world = World::start(Options::default()).await;
    let user = world.db.user("code@example.test").await;
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
    let answer = world.slash_answer("the login answer", &token).await;
    let requests = world.discord.requests();
    let answered_at = requests
        .iter()
        .position(|r| r.path == answer.path)
        .expect("edit");
    // A code proves the Discord account, not the email: linked, and told to finish with the
    // code mailed to the address.
    assert!(
        answer.content().contains("linked") && answer.content().contains("/verify"),
        "{}",
        answer.content()
    );
    assert!(
        requests[..answered_at]
            .iter()
            .any(|r| r.path.contains("/callback")),
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
    world.dm(504, &format!("/verify code@example.test {mailed}"));
    world
        .wait_post_with("the confirmation", dm504, "verified")
        .await;
    let owner = store::identities::discord_owner(&world.db.pool, "504")
        .await
        .expect("query")
        .expect("linked");
    assert_eq!((owner.user_id, owner.confirmed), (user, true));
    // The code works once, and by text too: a second use is refused.
    world.dm(505, &format!("/login {code}"));
    let dm = FakeDiscord::dm_channel(505);
    world.wait_posts("the refusal", dm, 1).await;
    let refusal = &world.discord.posts(dm)[0];
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
    let answer = world.slash_answer("the image", &token).await;
    assert!(answer.files[0].2.starts_with(b"\x89PNG"));
    world.assert_every_message_mentions_nobody();
}

#[tokio::test]
async fn the_bot_identifies_with_the_intents_it_needs() {
    let world = World::start(Options::default()).await;
    let identify = world.discord.identify().expect("identified");
    let intents = identify["intents"].as_u64().expect("intents");
    // Discord's bit for each intent (docs: Gateway › List of Intents), and why the bot needs it.
    let needed = [
        (0, "GUILDS: guilds, channels and roles"),
        (
            1,
            "GUILD_MEMBERS (privileged): joins and leaves, for the gate",
        ),
        (9, "GUILD_MESSAGES: mentions and RESPOND_TO_ALL_MESSAGES"),
        (12, "DIRECT_MESSAGES: chat and the text commands in DMs"),
        (
            15,
            "MESSAGE_CONTENT (privileged): the text of what members write",
        ),
    ];
    for (bit, why) in needed {
        assert_ne!(intents & (1 << bit), 0, "missing {why}");
    }
    let all: u64 = needed.iter().map(|(bit, _)| 1 << bit).sum();
    assert_eq!(
        intents,
        all,
        "only the intents it needs (extra bits: {:#b})",
        intents & !all
    );
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
    world.dm(507, "hello");
    world.wait_posts("the reply", dm, 1).await;
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
    world.dm(508, "still there?");
    world.wait_posts("the reply", dm, 1).await;
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
    world.assert_every_message_mentions_nobody();
}

/// Review of issue 11: a member whose link needs proving (a `/login` link, or one from before
/// V2) is mailed a code when they talk to the bot, once an hour, and told how to finish.
#[tokio::test]
async fn a_linked_member_the_bot_will_not_chat_with_is_mailed_a_code_once_an_hour() {
    let world = World::start(Options::default()).await;
    let user = world.db.user("half@example.test").await;
    let proof = store::identities::LinkProof::AccountOnly;
    world.db.link_discord(user, "650", proof).await;
    let dm = FakeDiscord::dm_channel(650);
    for n in 0..2 {
        world.dm(650, &format!("hello {n}"));
    }
    world
        .wait_post_with("the instructions", dm, "/verify")
        .await;
    let mailed = eventually(WAIT, "no code was mailed", async || {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM email_deliveries WHERE user_id = $1 AND kind = 'verification'",
        )
        .bind(user)
        .fetch_one(&world.db.pool)
        .await
        .expect("deliveries");
        (n > 0).then_some(n)
    })
    .await;
    assert_eq!(mailed, 1, "one code for two messages");
}
