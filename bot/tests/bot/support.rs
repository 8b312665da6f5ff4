//! One world per test: database, Redis prefix, fake Discord and OpenAI, workers and the bot.

use std::time::Duration;

use testkit::discord::{FakeDiscord, TOKEN};
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
}

pub struct Options {
    pub verification_timeout: Duration,
    pub workers: bool,
    pub speech: bool,
    pub fallback_channel: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            verification_timeout: Duration::from_secs(300),
            workers: true,
            speech: true,
            fallback_channel: true,
        }
    }
}

impl World {
    pub async fn start(options: Options) -> Self {
        testkit::init_logging();
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let producer = jobs::Producer::connect(redis.client.clone(), &redis.prefix)
            .await
            .expect("producer");
        let discord = FakeDiscord::start().await;
        let openai = FakeOpenAi::start().await;
        let mut world = World {
            db,
            redis,
            producer,
            discord,
            openai,
            stop_workers: CancellationToken::new(),
            stop_bot: CancellationToken::new(),
            bot: None,
        };
        if options.workers {
            world.start_workers(&options);
        }
        let deps = bot::BotDeps {
            db: world.db.pool.clone(),
            producer: world.producer.clone(),
            sealer: store::secret::Sealer::provider_tokens(&store::secret::Secret::new(SECRET)),
        };
        let settings = bot::BotSettings {
            token: store::secret::Secret::new(TOKEN),
            proxy: Some(world.discord.url.clone()),
            respond_to_all_messages: false,
            bypass_auth: false,
            verification_timeout: options.verification_timeout,
            attempts_per_member: 10,
            attempts_window: Duration::from_secs(60),
        };
        world.bot = Some(tokio::spawn(bot::run(
            deps,
            settings,
            world.stop_bot.clone(),
        )));
        world.discord.wait_ready().await;
        world
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
        let account = store::identities::ProviderAccount {
            subject: discord_id.to_string(),
            ..Default::default()
        };
        store::identities::link_discord(
            &self.db.pool,
            user,
            &account,
            store::identities::LinkProof::EmailProven,
        )
        .await
        .expect("link");
        user
    }

    /// An invitee with a live invitation token.
    pub async fn invitee(&self, email: &str) -> String {
        let user: i64 = sqlx::query_scalar("INSERT INTO users (email) VALUES ($1) RETURNING id")
            .bind(email)
            .fetch_one(&self.db.pool)
            .await
            .expect("user");
        sqlx::query("INSERT INTO invitations (user_id, status) VALUES ($1, 'sent')")
            .bind(user)
            .execute(&self.db.pool)
            .await
            .expect("invitation");
        let (_, token) = store::one_time_tokens::issue(
            &self.db.pool,
            user,
            "invitation",
            Duration::from_secs(3600),
            store::one_time_tokens::Earlier::Retire,
        )
        .await
        .expect("token");
        token
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop_bot.cancel();
        self.stop_workers.cancel();
        if let Some(bot) = self.bot.take() {
            bot.abort();
        }
    }
}
