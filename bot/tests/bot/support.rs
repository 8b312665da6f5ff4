//! One world per test: database, Redis prefix, fake Discord and OpenAI, workers and the bot;
//! and the waits the tests share for what the bot and the workers did in it.

use std::time::Duration;

use testkit::discord::{FakeDiscord, Recorded, TOKEN};
use testkit::{FakeOpenAi, TestDb, TestRedis};
use tokio_util::sync::CancellationToken;

/// The secret both the bot and the workers seal with.
pub const SECRET: &str = "a-test-secret-key-of-32-bytes-ok";
pub const LOG_CHANNEL: u64 = 7001;
pub const FALLBACK_CHANNEL: u64 = 7002;
pub const WAIT: Duration = Duration::from_secs(20);

pub struct World {
    pub db: TestDb,
    pub redis: TestRedis,
    pub producer: jobs::Producer,
    pub discord: FakeDiscord,
    pub openai: FakeOpenAi,
    stop_workers: CancellationToken,
    stop_bot: CancellationToken,
    bot: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// What the bot runs with, for more bot processes ([`World::start_bot`]).
    bot_deps: bot::BotDeps,
    bot_settings: bot::BotSettings,
    /// Bot processes besides the first.
    more_bots: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub struct Options {
    pub verification_timeout: Duration,
    pub workers: bool,
    pub speech: bool,
    pub fallback_channel: bool,
    /// `RESPOND_TO_ALL_MESSAGES`.
    pub respond_to_all: bool,
    /// `BYPASS_AUTH`.
    pub bypass_auth: bool,
    /// The application's privileged intents are switched off at Discord: the bot cannot
    /// get ready (the world does not wait for it).
    pub privileged_intents_off: bool,
    /// The shards the bot runs.
    pub shards: bot::Shards,
    /// The shards Discord requires (a guild on each).
    pub discord_shards: u32,
    /// The sessions Discord lets the bot start (default: its 1,000 a day).
    pub session_starts: Option<u32>,
    /// The bot gets ready (the world waits for it); false for a bot that must stop.
    pub starts: bool,
}

impl Options {
    /// The defaults, with members given `timeout` to verify.
    pub fn verifying_within(timeout: Duration) -> Self {
        Self {
            verification_timeout: timeout,
            ..Self::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            verification_timeout: Duration::from_secs(300),
            workers: true,
            speech: true,
            fallback_channel: true,
            respond_to_all: false,
            bypass_auth: false,
            privileged_intents_off: false,
            shards: bot::Shards::ONE,
            discord_shards: 1,
            session_starts: None,
            starts: true,
        }
    }
}

impl World {
    pub async fn start(options: Options) -> Self {
        testkit::init_logging();
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let producer = redis.producer().await;
        let discord = FakeDiscord::start_sharded(options.discord_shards).await;
        discord.add_channel(LOG_CHANNEL);
        discord.add_channel(FALLBACK_CHANNEL);
        let openai = FakeOpenAi::start().await;
        let deps = bot::BotDeps {
            db: db.pool.clone(),
            producer: producer.clone(),
            sealer: store::secret::Sealer::provider_tokens(&store::secret::Secret::new(SECRET)),
        };
        let settings = bot::BotSettings {
            token: store::secret::Secret::new(TOKEN),
            proxy: Some(discord.url.clone()),
            respond_to_all_messages: options.respond_to_all,
            bypass_auth: options.bypass_auth,
            verification_timeout: options.verification_timeout,
            attempts_per_member: 10,
            attempts_window: Duration::from_secs(60),
            shards: options.shards,
        };
        let mut world = World {
            db,
            redis,
            producer,
            discord,
            openai,
            stop_workers: CancellationToken::new(),
            stop_bot: CancellationToken::new(),
            bot: None,
            bot_deps: deps.clone(),
            bot_settings: settings.clone(),
            more_bots: Vec::new(),
        };
        if options.workers {
            world.start_workers(&options);
        }
        if options.privileged_intents_off {
            world.discord.disable_privileged_intents();
        }
        if let Some(n) = options.session_starts {
            world.discord.limit_session_starts(n);
        }
        world.bot = Some(tokio::spawn(bot::run(
            deps,
            settings,
            world.stop_bot.clone(),
        )));
        // Without its intents the bot cannot get ready: the test waits for it to stop.
        if options.starts && !options.privileged_intents_off {
            world.wait_bot(options.shards).await;
        }
        world
    }

    /// Starts another bot process, running `shards`.
    pub async fn start_bot(&mut self, shards: bot::Shards) {
        let settings = bot::BotSettings {
            shards,
            ..self.bot_settings.clone()
        };
        let bot = bot::run(self.bot_deps.clone(), settings, self.stop_bot.clone());
        self.more_bots.push(tokio::spawn(bot));
        self.wait_bot(shards).await;
    }

    /// Waits until the sessions of `shards` are open, and (with shard 0) the commands are
    /// registered.
    async fn wait_bot(&self, shards: bot::Shards) {
        let open: Vec<[u32; 2]> = shards.ids().map(|shard| [shard, shards.count]).collect();
        self.discord.wait_shards(&open).await;
        if shards.first == 0 {
            self.discord.wait_ready().await;
        }
    }

    /// How the bot's run ended, within `WAIT`.
    pub async fn bot_exit(&mut self) -> anyhow::Result<()> {
        let bot = self.bot.take().expect("the bot runs");
        tokio::time::timeout(WAIT, bot)
            .await
            .expect("the bot stopped")
            .expect("the bot task did not panic")
    }

    /// Starts (or restarts) the workers, pointed at the fakes.
    pub fn start_workers(&mut self, options: &Options) {
        self.stop_workers = CancellationToken::new();
        let mut deps = testkit::worker_deps(
            &self.db,
            &self.producer,
            SECRET,
            None,
            None,
            workers::providers::smtp::Mailer::files(
                std::env::temp_dir().join("concierge-unused-outbox"),
            ),
        );
        deps.discord = Some(workers::providers::discord::Discord::new(
            &workers::providers::discord::DiscordSettings {
                token: store::secret::Secret::new(TOKEN),
                proxy: Some(self.discord.url.clone()),
            },
        ));
        let api = |model: &str| workers::providers::ai::ApiSettings {
            base_url: url::Url::parse(&self.openai.base_url).expect("url"),
            model: model.into(),
            api_key: Some(store::secret::Secret::new("sk-test")),
        };
        deps.ai = workers::providers::ai::Ai::new(workers::providers::ai::AiSettings {
            chat: Some(api("gpt-test")),
            image: None,
            speech: options.speech.then(|| api("tts-test")),
            speech_voice: "alloy".into(),
            history_turns: 10,
        })
        .expect("ai");
        deps.gate = workers::guild::GateSettings {
            member_role_name: "Member".into(),
            verification_timeout: options.verification_timeout,
            fallback_channel_id: options.fallback_channel.then_some(FALLBACK_CHANNEL),
            log_channel_id: Some(LOG_CHANNEL),
            web_app_base_url: Some("https://community.test".into()),
            ..workers::guild::GateSettings::default()
        };
        tokio::spawn(workers::run(
            deps,
            testkit::fast_workers(),
            self.stop_workers.clone(),
        ));
    }

    /// A verified user linked to `discord_id`, with a personality.
    pub async fn linked_user(&self, discord_id: u64, email: &str) -> i64 {
        let user: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, personality, verified) VALUES ($1, 'cheerful', TRUE) RETURNING id",
        )
        .bind(email)
        .fetch_one(&self.db.pool)
        .await
        .expect("user");
        let proof = store::identities::LinkProof::EmailProven;
        self.db
            .link_discord(user, &discord_id.to_string(), proof)
            .await;
        user
    }

    /// An invitee with a live invitation token.
    pub async fn invitee(&self, email: &str) -> String {
        let user = self.db.user(email).await;
        sqlx::query("INSERT INTO invitations (user_id, status) VALUES ($1, 'sent')")
            .bind(user)
            .execute(&self.db.pool)
            .await
            .expect("invitation");
        self.db.invitation_token(user).await
    }
}

/// Waiting for what the bot and the workers did.
impl World {
    /// `user` writes `text` to the bot in their DM channel; the message's id.
    pub fn dm(&self, user: u64, text: &str) -> u64 {
        let channel = FakeDiscord::dm_channel(user);
        self.discord.message(user, channel, None, text, false)
    }

    /// Waits until `channel` has at least `n` posts.
    pub async fn wait_posts(&self, what: &str, channel: u64, n: usize) {
        self.discord
            .wait_for(what, WAIT, |_| self.discord.posts(channel).len() >= n)
            .await;
    }

    /// Waits for a post in `channel` that contains `text`.
    pub async fn wait_post_with(&self, what: &str, channel: u64, text: &str) {
        let has = |p: &Recorded| p.content().contains(text);
        self.discord
            .wait_for(what, WAIT, |_| self.discord.posts(channel).iter().any(has))
            .await;
    }

    /// The answer a slash command got (the edit of its deferred response), once it came.
    pub async fn slash_answer(&self, what: &str, interaction: &str) -> Recorded {
        let edit = format!(
            "/webhooks/{}/{interaction}/messages/@original",
            testkit::discord::APPLICATION_ID
        );
        let requests = self
            .discord
            .wait_for(what, WAIT, |r| r.iter().any(|r| r.path == edit))
            .await;
        requests.into_iter().find(|r| r.path == edit).expect("edit")
    }

    /// Every message the bot and the workers sent (posts, DMs, interaction answers and edits)
    /// says it pings nobody: without `allowed_mentions`, Discord pings whoever its text
    /// mentions, and that text is written by a model or a member.
    pub fn assert_every_message_mentions_nobody(&self) {
        let mut seen = 0;
        for r in self.discord.requests() {
            let post = r.method == "POST" && r.path.ends_with("/messages");
            let edit = r.method == "PATCH" && r.path.starts_with("/webhooks/");
            let mentions = if post || edit {
                &r.body["allowed_mentions"]
            } else if r.path.ends_with("/callback") && !r.body["data"]["content"].is_null() {
                &r.body["data"]["allowed_mentions"]
            } else {
                continue;
            };
            seen += 1;
            let none = |field: &str| mentions[field].as_array().is_some_and(Vec::is_empty);
            assert!(
                none("parse") && none("users") && none("roles"),
                "{} {} pings: {mentions}",
                r.method,
                r.path
            );
        }
        assert!(seen > 0, "no message was sent: the check proves nothing");
    }

    /// Waits for job `id` of `queue` to finish; its status.
    pub async fn finished(&self, queue: &str, id: &jobs::JobId) -> jobs::JobStatus {
        self.producer
            .wait(queue, id, WAIT)
            .await
            .expect("wait")
            .expect("finished")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop_bot.cancel();
        self.stop_workers.cancel();
        if let Some(bot) = self.bot.take() {
            bot.abort();
        }
        for bot in self.more_bots.drain(..) {
            bot.abort();
        }
    }
}
