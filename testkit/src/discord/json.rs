//! Discord's objects as the fake writes them: the fields serenity 0.12 requires, and no more.

use serde_json::{Value, json};

use super::{BOT_ID, GUILD_ID, MEMBER_ROLE_ID};

/// When every fixed object was created (joins and messages of the past).
pub(super) const TIMESTAMP: &str = "2024-01-01T00:00:00.000000+00:00";

pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

pub(super) fn user_json(user: u64) -> Value {
    json!({ "id": user.to_string(), "username": format!("user{user}"), "avatar": null, "discriminator": "0" })
}

/// The bot as a message's author or mention.
fn bot_json() -> Value {
    json!({ "id": BOT_ID.to_string(), "username": "concierge", "bot": true, "avatar": null })
}

/// The bot as a user (`/users/@me`, READY).
pub(super) fn bot_user_json() -> Value {
    let mut user = bot_json();
    user["discriminator"] = json!("0");
    user
}

/// `user` as a guild member who joined at `joined_at`.
pub(super) fn member_json(user: u64, joined_at: &str, pending: bool) -> Value {
    json!({ "user": user_json(user), "roles": [], "joined_at": joined_at, "deaf": false,
            "mute": false, "flags": 0, "pending": pending })
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
        "pinned": false, "type": 0,
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
    json!({ "id": id.to_string(), "name": name, "color": 0, "colors": { "primary_color": 0 },
            "hoist": false, "managed": false, "mentionable": false, "permissions": "0",
            "position": position })
}

/// `@everyone` and `Member`.
pub(super) fn roles_json() -> Value {
    json!([
        role_json(GUILD_ID, "@everyone", 0),
        role_json(MEMBER_ROLE_ID, "Member", 1)
    ])
}

pub(super) fn guild() -> Value {
    json!({
        "id": GUILD_ID.to_string(), "name": "Fake Guild", "icon": null,
        "owner_id": BOT_ID.to_string(),
        "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
        "mfa_level": 0, "premium_tier": 0, "nsfw_level": 0, "system_channel_flags": 0,
        "preferred_locale": "en-US", "premium_progress_bar_enabled": false,
        "features": [], "emojis": [], "stickers": [],
        "roles": roles_json(),
        "joined_at": TIMESTAMP, "large": false, "member_count": 1000,
        "voice_states": [], "members": [], "channels": [], "threads": [], "presences": [],
        "stage_instances": [], "guild_scheduled_events": [],
    })
}
