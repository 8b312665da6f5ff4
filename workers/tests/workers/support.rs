//! Running the worker runtime in-process around a test body.

use std::time::Duration;

use jobs::Producer;
use testkit::{TestDb, TestRedis};
use tokio_util::sync::CancellationToken;
use workers::providers::smtp::Mailer;

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
        let producer = redis.producer().await;
        World {
            db,
            _redis: redis,
            producer,
        }
    }

    pub fn deps(&self, mailer: Mailer) -> workers::Deps {
        testkit::worker_deps(
            &self.db,
            &self.producer,
            &"k".repeat(32),
            None,
            None,
            mailer,
        )
    }

    /// Waits up to 20 s for job `id` of `queue` to finish; its status.
    pub async fn finished(&self, queue: &str, id: &jobs::JobId) -> jobs::JobStatus {
        self.producer
            .wait(queue, id, Duration::from_secs(20))
            .await
            .expect("wait")
            .expect("finished")
    }

    /// Runs the workers while `body` runs, then stops them gracefully.
    pub async fn with_workers<T>(&self, deps: workers::Deps, body: impl Future<Output = T>) -> T {
        let settings = testkit::fast_workers();
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
