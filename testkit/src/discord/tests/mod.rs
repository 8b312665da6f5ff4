//! The fake refuses what Discord refuses, each with Discord's answer, so the strictness the
//! bot and workers are tested against cannot quietly go; and what it answers carries every
//! field Discord's OpenAPI description requires.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::json::{
    application_json, bot_user_json, command_json, dm_channel_json, gateway_bot_json, member_json,
    posted_message_json, roles_json,
};
use super::{
    APPLICATION_ID, FakeDiscord, GENERAL_CHANNEL, GUILD_ID, MEMBER_ROLE_ID, TOKEN, schema,
};

struct Call {
    discord: FakeDiscord,
    client: reqwest::Client,
}

impl Call {
    async fn new() -> Self {
        Self {
            discord: FakeDiscord::start().await,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v10{path}", self.discord.url)
    }

    fn bot(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("authorization", format!("Bot {TOKEN}"))
    }

    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.bot(reqwest::Method::POST, path).json(&body)
    }

    /// The status and Discord's error code of an answer.
    async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = request.send().await.expect("the fake answers");
        let status = resp.status();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }
}

const GENERAL: &str = "/channels/4002/messages";

async fn refused(request: reqwest::RequestBuilder, status: StatusCode, code: u32) -> Value {
    let (got, body) = Call::answer(request).await;
    assert_eq!((got, &body["code"]), (status, &json!(code)), "{body}");
    body
}

#[tokio::test]
async fn requests_without_the_bots_token_are_refused() {
    let call = Call::new().await;
    let hello = json!({ "content": "hi" });
    let bare = call.client.post(call.url(GENERAL)).json(&hello);
    refused(bare, StatusCode::UNAUTHORIZED, 40001).await;
    let wrong = call
        .client
        .post(call.url(GENERAL))
        .header("authorization", "Bot someone-else")
        .json(&hello);
    refused(wrong, StatusCode::UNAUTHORIZED, 40001).await;
    let bearer = call
        .client
        .get(call.url("/users/@me"))
        .header("authorization", format!("Bearer {TOKEN}"));
    refused(bearer, StatusCode::UNAUTHORIZED, 40001).await;
    let (status, _) = Call::answer(call.post(GENERAL, hello)).await;
    assert_eq!(status, StatusCode::OK, "with the token it is taken");
    assert_eq!(call.discord.refusals().len(), 3);
}

#[tokio::test]
async fn bodies_that_are_not_json_or_break_the_spec_are_refused() {
    let call = Call::new().await;
    let text = call
        .bot(reqwest::Method::POST, GENERAL)
        .header("content-type", "text/plain")
        .body("hi");
    refused(text, StatusCode::BAD_REQUEST, 50109).await;
    let broken = call
        .bot(reqwest::Method::POST, GENERAL)
        .header("content-type", "application/json")
        .body("{\"content\": ");
    refused(broken, StatusCode::BAD_REQUEST, 50109).await;
    for (body, named) in [
        (json!({ "content": "hi", "nonce": "n".repeat(26) }), "nonce"),
        (
            json!({ "content": "hi", "allowed_mentions": { "parse": ["all"] } }),
            "allowed_mentions",
        ),
        (json!({ "content": "hi", "tts": "no" }), "tts"),
        (json!({ "content": ["hi"] }), "content"),
    ] {
        let answer = refused(
            call.post(GENERAL, body.clone()),
            StatusCode::BAD_REQUEST,
            50035,
        )
        .await;
        assert!(
            answer["errors"].to_string().contains(named),
            "{body}: {answer}"
        );
    }
    let recipient = json!({ "recipient_id": "12x" });
    refused(
        call.post("/users/@me/channels", recipient),
        StatusCode::BAD_REQUEST,
        50035,
    )
    .await;
}

#[tokio::test]
async fn messages_follow_discords_rules() {
    let call = Call::new().await;
    refused(
        call.post(GENERAL, json!({})),
        StatusCode::BAD_REQUEST,
        50006,
    )
    .await;
    refused(
        call.post(GENERAL, json!({ "content": "" })),
        StatusCode::BAD_REQUEST,
        50006,
    )
    .await;
    let long = json!({ "content": "x".repeat(2001) });
    refused(call.post(GENERAL, long), StatusCode::BAD_REQUEST, 50035).await;
    let (status, _) =
        Call::answer(call.post(GENERAL, json!({ "content": "x".repeat(2000) }))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "2,000 characters is the limit, not over it"
    );

    // A file must be described by an attachment of its number.
    let upload = |payload: Value, field: &str| {
        let form = reqwest::multipart::Form::new()
            .text("payload_json", payload.to_string())
            .part(
                field.to_owned(),
                reqwest::multipart::Part::bytes(b"PNG".to_vec()).file_name("a.png"),
            );
        call.bot(reqwest::Method::POST, GENERAL).multipart(form)
    };
    let stray = upload(json!({ "content": "see" }), "files[0]");
    refused(stray, StatusCode::BAD_REQUEST, 50035).await;
    let mismatched = upload(
        json!({ "attachments": [{ "id": "1", "filename": "a.png" }] }),
        "files[0]",
    );
    refused(mismatched, StatusCode::BAD_REQUEST, 50035).await;
    let described = upload(
        json!({ "attachments": [{ "id": "0", "filename": "a.png" }] }),
        "files[0]",
    );
    let (status, message) = Call::answer(described).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["attachments"][0]["filename"], "a.png");
}

#[tokio::test]
async fn ids_that_name_nothing_are_refused() {
    let call = Call::new().await;
    let hi = json!({ "content": "hi" });
    refused(
        call.post("/channels/4003/messages", hi.clone()),
        StatusCode::NOT_FOUND,
        10003,
    )
    .await;
    // A DM channel exists once opened, for a user Discord knows.
    let dm = format!("/channels/{}/messages", FakeDiscord::dm_channel(77));
    refused(call.post(&dm, hi.clone()), StatusCode::NOT_FOUND, 10003).await;
    let open = || call.post("/users/@me/channels", json!({ "recipient_id": "77" }));
    refused(open(), StatusCode::NOT_FOUND, 10013).await;
    call.discord.member_joins(77, false);
    let (status, channel) = Call::answer(open()).await;
    assert_eq!(status, StatusCode::OK, "{channel}");
    let (status, _) = Call::answer(call.post(&dm, hi)).await;
    assert_eq!(status, StatusCode::OK);

    let put = |path: &str| call.bot(reqwest::Method::PUT, path);
    let member_role =
        |guild: u64, user: u64, role: u64| format!("/guilds/{guild}/members/{user}/roles/{role}");
    refused(
        put(&member_role(201, 77, MEMBER_ROLE_ID)),
        StatusCode::NOT_FOUND,
        10004,
    )
    .await;
    refused(
        put(&member_role(GUILD_ID, 77, 902)),
        StatusCode::NOT_FOUND,
        10011,
    )
    .await;
    refused(
        put(&member_role(GUILD_ID, 78, MEMBER_ROLE_ID)),
        StatusCode::NOT_FOUND,
        10007,
    )
    .await;
    let (status, _) = Call::answer(put(&member_role(GUILD_ID, 77, MEMBER_ROLE_ID))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let get = |path: &str| call.bot(reqwest::Method::GET, path);
    refused(get("/guilds/201/roles"), StatusCode::NOT_FOUND, 10004).await;
    refused(
        get(&format!("/guilds/{GUILD_ID}/members/78")),
        StatusCode::NOT_FOUND,
        10007,
    )
    .await;
    let commands = format!("/applications/{}/commands", APPLICATION_ID + 1);
    refused(
        call.bot(reqwest::Method::PUT, &commands).json(&json!([])),
        StatusCode::NOT_FOUND,
        10002,
    )
    .await;
}

#[tokio::test]
async fn interactions_are_answered_once_within_their_deadlines() {
    let call = Call::new().await;
    let answer = |id: &str, token: &str| {
        call.client
            .post(call.url(&format!("/interactions/{id}/{token}/callback")))
            .json(&json!({ "type": 5 }))
    };
    let edit = |app: u64, token: &str| {
        call.client
            .patch(call.url(&format!("/webhooks/{app}/{token}/messages/@original")))
            .json(&json!({ "content": "done" }))
    };
    let token = call.discord.slash(80, "ping", json!([]), Some("0"));
    let id = token.trim_start_matches("itoken-").to_owned();
    refused(answer(&id, "itoken-0"), StatusCode::NOT_FOUND, 10062).await;
    refused(edit(APPLICATION_ID, &token), StatusCode::NOT_FOUND, 10008).await;
    let (status, _) = Call::answer(answer(&id, &token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "the first answer, in time");
    refused(answer(&id, &token), StatusCode::BAD_REQUEST, 40060).await;
    refused(
        edit(APPLICATION_ID + 1, &token),
        StatusCode::NOT_FOUND,
        10015,
    )
    .await;
    refused(
        edit(APPLICATION_ID, "itoken-0"),
        StatusCode::NOT_FOUND,
        10015,
    )
    .await;
    let (status, edited) = Call::answer(edit(APPLICATION_ID, &token)).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    call.discord.pass_time(Duration::from_secs(15 * 60 + 1));
    refused(
        edit(APPLICATION_ID, &token),
        StatusCode::UNAUTHORIZED,
        50027,
    )
    .await;

    // An interaction not answered within 3 s is gone.
    let late = call.discord.slash(80, "ping", json!([]), Some("0"));
    let late_id = late.trim_start_matches("itoken-").to_owned();
    call.discord.pass_time(Duration::from_secs(4));
    refused(answer(&late_id, &late), StatusCode::NOT_FOUND, 10062).await;
}

#[tokio::test]
async fn nonces_deduplicate_for_a_few_minutes_per_author() {
    let call = Call::new().await;
    call.discord.member_joins(81, false);
    let Call { client: _, .. } = &call;
    let once = |channel: u64| {
        call.post(
            &format!("/channels/{channel}/messages"),
            json!({ "content": "once", "nonce": "n-1", "enforce_nonce": true }),
        )
    };
    let (_, first) = Call::answer(once(GENERAL_CHANNEL)).await;
    let (_, again) = Call::answer(once(GENERAL_CHANNEL)).await;
    assert_eq!(
        first["id"], again["id"],
        "the same message, not a second one"
    );
    Call::answer(call.post("/users/@me/channels", json!({ "recipient_id": "81" }))).await;
    let (_, elsewhere) = Call::answer(once(FakeDiscord::dm_channel(81))).await;
    assert_eq!(
        first["id"], elsewhere["id"],
        "a nonce is the author's, whichever channel: the first message comes back"
    );
    assert_eq!(call.discord.posts(GENERAL_CHANNEL).len(), 1);
    call.discord.pass_time(super::rest::NONCE_WINDOW);
    let (_, later) = Call::answer(once(GENERAL_CHANNEL)).await;
    assert_ne!(
        first["id"], later["id"],
        "past the window, the nonce is forgotten"
    );
    assert_eq!(call.discord.posts(GENERAL_CHANNEL).len(), 2);
}

#[tokio::test]
async fn rate_limits_carry_discords_headers() {
    let call = Call::new().await;
    call.discord.rate_limit_posts(1);
    let resp = call
        .post(GENERAL, json!({ "content": "hi" }))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    for header in [
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-reset-after",
        "x-ratelimit-bucket",
        "x-ratelimit-scope",
    ] {
        assert!(
            resp.headers().contains_key(header),
            "{header}: {:?}",
            resp.headers()
        );
    }
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    let body: Value = resp.json().await.expect("json");
    assert!(body["retry_after"].is_number());
    let ok = call
        .post(GENERAL, json!({ "content": "hi" }))
        .send()
        .await
        .expect("answer");
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers().contains_key("x-ratelimit-bucket"));
}

#[test]
fn the_fakes_answers_carry_what_the_spec_requires() {
    let message = posted_message_json(
        10,
        "4002",
        &json!({ "content": "hi" }),
        &[("files[0]".into(), "a.png".into(), b"PNG".to_vec())],
    );
    let answers = [
        ("POST", "/channels/{channel_id}/messages", message.clone()),
        (
            "PATCH",
            "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
            message,
        ),
        ("POST", "/users/@me/channels", dm_channel_json(77)),
        (
            "GET",
            "/guilds/{guild_id}/members/{user_id}",
            member_json(77, "2024-01-01T00:00:00+00:00", false),
        ),
        (
            "GET",
            "/guilds/{guild_id}/roles",
            roles_json(&super::Guild::on_shard(0)),
        ),
        ("GET", "/users/@me", bot_user_json()),
        (
            "GET",
            "/gateway/bot",
            gateway_bot_json("wss://gateway.test", 2, 999),
        ),
        ("GET", "/applications/@me", application_json(2501)),
        ("GET", "/oauth2/applications/@me", application_json(1)),
        (
            "PUT",
            "/applications/{application_id}/commands",
            json!([command_json(
                7000,
                json!({ "name": "ping", "description": "Ping" })
            )]),
        ),
    ];
    for (method, path, answer) in answers {
        let expected = schema::response(method, path, 200).expect("the spec describes it");
        let errors = schema::validate(expected, &answer);
        assert!(errors.is_empty(), "{method} {path}: {errors:#?}");
    }
    // And the check is real: a message without its id is not one.
    let expected = schema::response("POST", "/channels/{channel_id}/messages", 200).expect("spec");
    let mut broken = posted_message_json(10, "4002", &json!({ "content": "hi" }), &[]);
    broken.as_object_mut().expect("object").remove("id");
    assert!(!schema::validate(expected, &broken).is_empty());
}

mod gateway;
