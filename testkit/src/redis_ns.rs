//! One Redis key prefix per test.

/// A key prefix of its own on the shared Redis; every key under it is deleted on drop.
#[derive(Debug)]
pub struct TestRedis {
    pub url: String,
    pub client: redis::Client,
    /// Unique to this test, e.g. `test:6f1c…`; pass it wherever the code takes a key prefix.
    pub prefix: String,
}

impl TestRedis {
    pub async fn new() -> Self {
        let url = crate::redis_url();
        let client =
            redis::Client::open(url.as_str()).expect("CONCIERGE_TEST_REDIS_URL is a Redis URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| {
                panic!("tests need Redis at {url} (start it, or run .ci/run): {e}")
            });
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .expect("PING");
        let prefix = format!("test:{}", uuid::Uuid::new_v4().simple());
        TestRedis {
            url,
            client,
            prefix,
        }
    }

    /// A producer of jobs under this test's prefix.
    pub async fn producer(&self) -> jobs::Producer {
        jobs::Producer::connect(self.client.clone(), &self.prefix)
            .await
            .expect("producer")
    }

    /// A multiplexed connection to the test Redis.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        self.client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis connection")
    }

    /// Keys currently under this test's prefix.
    pub fn keys(&self) -> Vec<String> {
        let Ok(mut conn) = self.client.get_connection() else {
            return Vec::new();
        };
        let pattern = format!("{}*", self.prefix);
        redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter::<String>(&mut conn)
            .map(|iter| iter.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let keys = self.keys();
        if keys.is_empty() {
            return;
        }
        if let Ok(mut conn) = self.client.get_connection() {
            for chunk in keys.chunks(500) {
                let _: Result<i64, _> = redis::cmd("UNLINK").arg(chunk).query(&mut conn);
            }
        }
    }
}
