//! Discord's objects as the fake writes them: every field Discord's OpenAPI description
//! requires of its answers (checked by a test against `schema`), and what serenity 0.12 reads.

use serde_json::{Value, json};

use super::{APPLICATION_ID, BOT_ID, Guild};

/// When every fixed object was created (joins and messages of the past).
pub(super) const TIMESTAMP: &str = "2024-01-01T00:00:00.000000+00:00";

pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

/// A user as other objects embed it (Discord's `UserResponse`).
fn some_user(id: u64, username: &str) -> Value {
    json!({ "id": id.to_string(), "username": username, "avatar": null, "discriminator": "0",
            "public_flags": 0, "flags": 0, "global_name": null, "primary_guild": null })
}

pub(super) fn user_json(user: u64) -> Value {
    some_user(user, &format!("user{user}"))
}

/// The bot as a message's author or mention.
fn bot_json() -> Value {
    let mut bot = some_user(BOT_ID, "concierge");
    bot["bot"] = json!(true);
    bot
}

/// The bot as the token's own user (`/users/@me`, READY: `UserPIIResponse`).
pub(super) fn bot_user_json() -> Value {
    let mut user = bot_json();
    user["mfa_enabled"] = json!(false);
    user["locale"] = json!("en-US");
    user
}

/// The bot's application (`GET /applications/@me`: `PrivateApplicationResponse`).
pub(super) fn application_json(guilds: u64) -> Value {
    json!({
        "id": APPLICATION_ID.to_string(), "name": "Concierge", "icon": null, "description": "",
        "type": null, "bot_public": false, "bot_require_code_grant": false,
        "verify_key": "0".repeat(64), "flags": 0, "flags_new": "0", "redirect_uris": [],
        "interactions_endpoint_url": null, "role_connections_verification_url": null,
        "owner": user_json(1), "approximate_guild_count": guilds,
        "approximate_user_install_count": 0, "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0, "team": null, "eligible_oauth2_scopes": [],
    })
}

/// `GET /gateway/bot` (`GatewayBotResponse`): the gateway's URL, the shards Discord
/// recommends, and how many sessions the bot may still start today (of 1,000, one Identify at
/// a time).
pub(super) fn gateway_bot_json(url: &str, shards: u32, remaining: u32) -> Value {
    json!({
        "url": url, "shards": shards,
        "session_start_limit": {
            "total": 1000, "remaining": remaining, "reset_after": 86_400_000, "max_concurrency": 1,
        },
    })
}

/// The DM channel with `user` (`PrivateChannelResponse`).
pub(super) fn dm_channel_json(user: u64) -> Value {
    json!({
        "id": super::FakeDiscord::dm_channel(user).to_string(), "type": 1, "flags": 0,
        "last_message_id": null, "recipients": [user_json(user)],
    })
}

/// A registered command (`ApplicationCommandResponse`): what was sent, with its ids.
pub(super) fn command_json(id: u64, mut sent: Value) -> Value {
    sent["id"] = json!(id.to_string());
    sent["application_id"] = json!(APPLICATION_ID.to_string());
    sent["version"] = json!("1");
    for (field, default) in [
        ("type", json!(1)),
        ("description", json!("")),
        ("default_member_permissions", Value::Null),
    ] {
        if sent.get(field).is_none() {
            sent[field] = default;
        }
    }
    sent
}

/// `user` as a guild member who joined at `joined_at` (`GuildMemberResponse`).
pub(super) fn member_json(user: u64, joined_at: &str, pending: bool) -> Value {
    json!({ "user": user_json(user), "roles": [], "joined_at": joined_at, "deaf": false,
            "mute": false, "flags": 0, "pending": pending, "avatar": null, "banner": null,
            "communication_disabled_until": null, "nick": null, "premium_since": null })
}

/// A message of `author` in `channel`.
pub(super) fn message_json(
    id: u64,
    channel: &str,
    author: Value,
    content: &str,
    mentions: Value,
    attachments: Value,
) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel, "author": author, "content": content,
        "timestamp": TIMESTAMP, "edited_timestamp": null, "tts": false, "mention_everyone": false,
        "mentions": mentions, "mention_roles": [], "attachments": attachments, "embeds": [],
        "pinned": false, "type": 0, "flags": 0, "components": [],
    })
}

/// A message's `mentions` when it mentions the bot.
pub(super) fn bot_mention() -> Value {
    json!([bot_json()])
}

/// The message the bot posted (or edited in): `body`'s content, `files` as attachments.
pub(super) fn posted_message_json(
    id: u64,
    channel: &str,
    body: &Value,
    files: &[(String, String, Vec<u8>)],
) -> Value {
    let attachments: Vec<Value> = files
        .iter()
        .enumerate()
        .map(|(i, (_, name, bytes))| {
            json!({ "id": (id * 10 + i as u64 + 1).to_string(), "filename": name, "size": bytes.len(),
                    "url": format!("https://cdn.test/{name}"), "proxy_url": format!("https://cdn.test/{name}") })
        })
        .collect();
    message_json(
        id,
        channel,
        bot_json(),
        body["content"].as_str().unwrap_or(""),
        json!([]),
        json!(attachments),
    )
}

/// The guild's roles, as Discord describes them (serenity 0.12 requires `colors`).
fn role_json(id: u64, name: &str, position: i32) -> Value {
    json!({ "id": id.to_string(), "name": name, "color": 0,
            "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
            "hoist": false, "managed": false, "mentionable": false, "permissions": "0",
            "position": position, "icon": null, "unicode_emoji": null, "flags": 0 })
}

/// `guild`'s `@everyone` (whose id is the guild's) and `Member`.
pub(super) fn roles_json(guild: &Guild) -> Value {
    json!([
        role_json(guild.id, "@everyone", 0),
        role_json(guild.member_role, "Member", 1)
    ])
}

/// `guild` as GUILD_CREATE carries it.
pub(super) fn guild_json(guild: &Guild) -> Value {
    json!({
        "id": guild.id.to_string(), "name": "Fake Guild", "icon": null,
        "owner_id": BOT_ID.to_string(),
        "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
        "mfa_level": 0, "premium_tier": 0, "nsfw_level": 0, "system_channel_flags": 0,
        "preferred_locale": "en-US", "premium_progress_bar_enabled": false,
        "features": [], "emojis": [], "stickers": [],
        "roles": roles_json(guild),
        "joined_at": TIMESTAMP, "large": false, "member_count": 1000,
        "voice_states": [], "members": [], "channels": [], "threads": [], "presences": [],
        "stage_instances": [], "guild_scheduled_events": [],
    })
}
