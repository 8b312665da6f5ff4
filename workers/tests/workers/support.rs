//! Running the worker runtime in-process around a test body.

use std::time::Duration;

use jobs::Producer;
use testkit::{TestDb, TestRedis};
use tokio_util::sync::CancellationToken;
use workers::providers::smtp::Mailer;
use workers::send_email::EmailSettings;

pub struct World {
    pub db: TestDb,
    /// Kept for its clean-up when the test ends.
    _redis: TestRedis,
    pub producer: Producer,
}

impl World {
    pub async fn new() -> Self {
        testkit::init_logging();
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let producer = Producer::connect(redis.client.clone(), &redis.prefix)
            .await
            .expect("producer");
        World {
            db,
            _redis: redis,
            producer,
        }
    }

    pub fn deps(&self, mailer: Mailer) -> workers::Deps {
        workers::Deps {
            producer: self.producer.clone(),
            db: self.db.pool.clone(),
            email: EmailSettings {
                mailer,
                from: "Concierge <noreply@concierge.test>".into(),
                community: "Rustaceans".into(),
                invitation_ttl: Duration::from_secs(7 * 86_400),
                verification_ttl: Duration::from_secs(86_400),
            },
        }
    }

    /// Runs the workers while `body` runs, then stops them gracefully.
    pub async fn with_workers<T>(&self, deps: workers::Deps, body: impl Future<Output = T>) -> T {
        let mut queue = jobs::QueueConfig {
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            idle_wait: Duration::from_millis(100),
            ..jobs::QueueConfig::default()
        };
        queue.heartbeat = Duration::from_millis(500);
        let settings = workers::WorkerSettings {
            queue,
            probe_queues: Vec::new(),
            grace: Duration::from_secs(5),
            ..workers::WorkerSettings::default()
        };
        let stop = CancellationToken::new();
        let run = workers::run(deps, settings, stop.clone());
        let body = async {
            let out = body.await;
            stop.cancel();
            out
        };
        let (ran, out) = tokio::join!(run, body);
        ran.expect("workers ran");
        out
    }
}
