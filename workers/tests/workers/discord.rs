//! The fake Discord refuses what Discord refuses (its documented limits of a message, webhooks
//! of another application), so a handler that would be refused in production fails its tests
//! too; and our client never sends a message Discord would refuse for being empty, nor a part
//! of a long message twice however late it is retried.

use reqwest::StatusCode;
use serde_json::{Value, json};
use store::secret::Secret;
use testkit::FakeDiscord;
use testkit::discord::{APPLICATION_ID, BOT_ID, GENERAL_CHANNEL, TOKEN};
use workers::providers::discord::{Discord, DiscordError, DiscordSettings, File};

async fn post(discord: &FakeDiscord, body: Value) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/api/v10/channels/{GENERAL_CHANNEL}/messages",
            discord.url
        ))
        .header("authorization", format!("Bot {TOKEN}"))
        .json(&body)
        .send()
        .await
        .expect("the fake answers");
    let status = resp.status();
    (status, resp.json().await.expect("a JSON answer"))
}

#[tokio::test]
async fn the_fake_refuses_empty_and_oversized_messages_as_discord_does() {
    let discord = FakeDiscord::start().await;
    for (case, body, code) in [
        ("no content at all", json!({}), 50006),
        ("empty content", json!({ "content": "" }), 50006),
        (
            "empty content, empty embeds",
            json!({ "content": "", "embeds": [] }),
            50006,
        ),
        (
            "2,001 characters",
            json!({ "content": "é".repeat(2001) }),
            50035,
        ),
    ] {
        let (status, answer) = post(&discord, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {answer}");
        assert_eq!(answer["code"], code, "{case}: {answer}");
    }
    let (_, long) = post(&discord, json!({ "content": "x".repeat(2001) })).await;
    assert_eq!(
        long["errors"]["content"]["_errors"][0]["code"], "BASE_TYPE_MAX_LENGTH",
        "{long}"
    );
    assert_eq!(discord.refusals().len(), 5);
    assert!(
        discord.posts(GENERAL_CHANNEL).is_empty(),
        "refused: not posted"
    );

    // What Discord takes: 2,000 characters (counted as characters, not bytes), or an embed.
    for (case, body) in [
        ("2,000 characters", json!({ "content": "é".repeat(2000) })),
        ("an embed alone", json!({ "embeds": [{ "title": "t" }] })),
    ] {
        let (status, answer) = post(&discord, body).await;
        assert_eq!(status, StatusCode::OK, "{case}: {answer}");
    }
    assert_eq!(discord.posts(GENERAL_CHANNEL).len(), 2);
}

/// Our client, pointed at `fake`.
fn client(fake: &FakeDiscord) -> Discord {
    Discord::new(&DiscordSettings {
        token: Secret::new(TOKEN),
        proxy: Some(fake.url.clone()),
    })
}

#[tokio::test]
async fn our_client_never_sends_an_empty_message() {
    let fake = FakeDiscord::start().await;
    let db = testkit::TestDb::new().await;
    let discord = client(&fake);
    let refused = discord
        .post(&db.pool, GENERAL_CHANNEL, "empty", "", Vec::new())
        .await;
    assert!(
        matches!(refused, Err(DiscordError::Rejected(_))),
        "{refused:?}"
    );
    assert!(fake.requests().is_empty(), "nothing was sent");

    // A file alone is a message.
    let file = File {
        name: "a.png".into(),
        bytes: b"\x89PNG".to_vec(),
    };
    discord
        .post(&db.pool, GENERAL_CHANNEL, "file", "", vec![file])
        .await
        .expect("a file alone is posted");
    assert_eq!(fake.posts(GENERAL_CHANNEL).len(), 1);
    assert!(fake.refusals().is_empty());
}

/// Discord forgets a nonce after a few minutes: a retry that comes later must not post again
/// the parts of a long message that went out before it was cut off.
#[tokio::test]
async fn a_late_retry_of_a_long_post_posts_each_part_once() {
    let fake = FakeDiscord::start().await;
    let db = testkit::TestDb::new().await;
    let discord = client(&fake);
    let long = format!(
        "{}\n{}\n{}",
        "a".repeat(1900),
        "b".repeat(1900),
        "c".repeat(1900)
    );
    fake.fail_after_posts(1);
    let cut = discord
        .post(&db.pool, GENERAL_CHANNEL, "job-long", &long, Vec::new())
        .await;
    assert!(matches!(cut, Err(DiscordError::Transient(_))), "{cut:?}");
    assert_eq!(
        fake.posts(GENERAL_CHANNEL).len(),
        1,
        "the first part went out"
    );
    // Hours later: Discord no longer knows the nonces.
    fake.pass_time(std::time::Duration::from_secs(3600));
    discord
        .post(&db.pool, GENERAL_CHANNEL, "job-long", &long, Vec::new())
        .await
        .expect("the retry posts the rest");
    discord
        .post(&db.pool, GENERAL_CHANNEL, "job-long", &long, Vec::new())
        .await
        .expect("a third run posts nothing");
    let posts = fake.posts(GENERAL_CHANNEL);
    let firsts: Vec<char> = posts
        .iter()
        .map(|p| p.content().chars().next().expect("text"))
        .collect();
    assert_eq!(firsts, ['a', 'b', 'c'], "each part once, in order");
    let sent = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.refused.is_none())
        .count();
    assert_eq!(
        sent, 3,
        "the ledger, not the nonce, kept each part once: nothing re-sent"
    );
}

#[tokio::test]
async fn interaction_webhooks_answer_only_to_the_application_id() {
    let discord = FakeDiscord::start().await;
    // An interaction, acknowledged: its original answer may now be edited.
    let token = discord.slash(1, "ping", json!([]), Some("0"));
    let id = token.trim_start_matches("itoken-");
    let acked = reqwest::Client::new()
        .post(format!(
            "{}/api/v10/interactions/{id}/{token}/callback",
            discord.url
        ))
        .json(&json!({ "type": 5 }))
        .send()
        .await
        .expect("the fake answers");
    assert_eq!(acked.status(), StatusCode::NO_CONTENT);
    let edit = |app: u64| {
        reqwest::Client::new()
            .patch(format!(
                "{}/api/v10/webhooks/{app}/{token}/messages/@original",
                discord.url
            ))
            .json(&json!({ "content": "done" }))
            .send()
    };
    // The bot user's id is not the application's: such a webhook does not exist.
    let resp = edit(BOT_ID).await.expect("the fake answers");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let answer: Value = resp.json().await.expect("JSON");
    assert_eq!(answer["code"], 10015, "{answer}");
    let resp = edit(APPLICATION_ID).await.expect("the fake answers");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(discord.refusals().len(), 1);
}
