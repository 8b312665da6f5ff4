//! The dispatches a test scripts: messages, members joining, being screened and leaving,
//! slash commands, each logged in the session of the shard Discord sends it to.

use std::time::Instant;

use serde_json::{Value, json};

use super::json::{TIMESTAMP, bot_mention, member_json, message_json, now, user_json};
use super::{APPLICATION_ID, BOT_ID, FakeDiscord, GUILD_ID, Guild};

impl FakeDiscord {
    /// Discord knows `user` (and their DM channel) once an event shows them.
    fn seen(&self, user: u64, channel: Option<u64>) {
        self.with(|s| {
            s.users.insert(user);
            if let Some(channel) = channel {
                s.channels.insert(channel);
            }
        });
    }

    /// A user writes `content` in `channel` (a DM when `guild` is `None`); `mention` adds the
    /// bot's mention. Returns the message id.
    pub fn message(
        &self,
        user: u64,
        channel: u64,
        guild: Option<u64>,
        content: &str,
        mention: bool,
    ) -> u64 {
        let id = self.next_id();
        let content = if mention {
            format!("<@{BOT_ID}> {content}")
        } else {
            content.to_owned()
        };
        let mentions = if mention { bot_mention() } else { json!([]) };
        self.seen(user, Some(channel));
        let mut d = message_json(
            id,
            &channel.to_string(),
            user_json(user),
            &content,
            mentions,
            json!([]),
        );
        if let Some(guild) = guild {
            d["guild_id"] = json!(guild.to_string());
            d["member"] = json!({ "roles": [], "joined_at": TIMESTAMP, "deaf": false, "mute": false, "flags": 0 });
        }
        self.dispatch("MESSAGE_CREATE", d, guild);
        id
    }

    /// A message from another bot (the bot must ignore it).
    pub fn bot_message(&self, user: u64, channel: u64, content: &str) {
        let id = self.next_id();
        self.seen(user, Some(channel));
        let mut author = user_json(user);
        author["bot"] = json!(true);
        let d = message_json(
            id,
            &channel.to_string(),
            author,
            content,
            json!([]),
            json!([]),
        );
        self.dispatch("MESSAGE_CREATE", d, None);
    }

    /// `user` joins the guild (`pending`: membership screening not passed yet).
    pub fn member_joins(&self, user: u64, pending: bool) {
        self.member_joins_in(GUILD_ID, user, pending);
    }

    /// `user` joins `guild`.
    pub fn member_joins_in(&self, guild: u64, user: u64, pending: bool) {
        self.with(|s| {
            s.members.insert((guild, user));
            s.users.insert(user);
        });
        let mut d = member_json(user, &now(), pending);
        d["guild_id"] = json!(guild.to_string());
        self.dispatch("GUILD_MEMBER_ADD", d, Some(guild));
    }

    /// `user` passed membership screening.
    pub fn member_screened(&self, user: u64) {
        self.dispatch(
            "GUILD_MEMBER_UPDATE",
            json!({
                "guild_id": GUILD_ID.to_string(), "user": user_json(user), "roles": [],
                "joined_at": now(), "pending": false, "flags": 0,
            }),
            Some(GUILD_ID),
        );
    }

    /// `user` leaves the guild.
    pub fn member_leaves(&self, user: u64) {
        self.with(|s| s.members.remove(&(GUILD_ID, user)));
        self.dispatch(
            "GUILD_MEMBER_REMOVE",
            json!({ "guild_id": GUILD_ID.to_string(), "user": user_json(user) }),
            Some(GUILD_ID),
        );
    }

    /// `user` runs a slash command (in the guild with `permissions`, or in a DM when
    /// `permissions` is `None`). Returns the interaction token.
    pub fn slash(
        &self,
        user: u64,
        name: &str,
        options: Value,
        permissions: Option<&str>,
    ) -> String {
        let guild = Guild::on_shard(0);
        self.command(user, name, options, permissions.map(|p| (&guild, p)))
    }

    /// `user` runs a slash command in `guild`'s text channel with `permissions`. Returns the
    /// interaction token.
    pub fn slash_in(
        &self,
        guild: &Guild,
        user: u64,
        name: &str,
        options: Value,
        permissions: &str,
    ) -> String {
        self.command(user, name, options, Some((guild, permissions)))
    }

    /// A slash command's interaction, in a guild with the member's permissions or in a DM.
    fn command(
        &self,
        user: u64,
        name: &str,
        options: Value,
        place: Option<(&Guild, &str)>,
    ) -> String {
        let id = self.next_id();
        let permissions = place.map(|(_, p)| p);
        let token = format!("itoken-{id}");
        let dm = permissions.is_none().then(|| Self::dm_channel(user));
        self.seen(user, dm);
        self.with(|s| {
            s.interactions.insert(
                id.to_string(),
                super::Interaction {
                    token: token.clone(),
                    at: Instant::now(),
                    acked: false,
                },
            )
        });
        let mut resolved = json!({ "users": {}, "members": {} });
        if let Some(opts) = options.as_array() {
            for o in opts {
                if o["type"] == 6
                    && let Some(uid) = o["value"].as_str()
                {
                    let named: u64 = uid.parse().unwrap_or(1);
                    self.seen(named, None);
                    resolved["users"][uid] = user_json(named);
                }
            }
        }
        let mut d = json!({
            "id": id.to_string(), "application_id": APPLICATION_ID.to_string(), "type": 2,
            "token": token, "version": 1, "locale": "en-US", "entitlements": [],
            "attachment_size_limit": 8_388_608,
            "data": { "id": "7001", "name": name, "type": 1, "options": options, "resolved": resolved },
        });
        match place {
            Some((guild, p)) => {
                d["guild_id"] = json!(guild.id.to_string());
                d["channel_id"] = json!(guild.general_channel.to_string());
                d["member"] = member_json(user, TIMESTAMP, false);
                d["member"]["permissions"] = json!(p);
            }
            None => {
                d["channel_id"] = json!(Self::dm_channel(user).to_string());
                d["user"] = user_json(user);
            }
        }
        self.dispatch("INTERACTION_CREATE", d, place.map(|(g, _)| g.id));
        token
    }
}
