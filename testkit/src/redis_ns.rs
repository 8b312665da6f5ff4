//! One Redis key prefix per test, on one node or (with `CONCIERGE_TEST_REDIS_CLUSTER`) a
//! Redis Cluster.

use redis::AsyncCommands;

/// A key prefix of its own on the shared Redis; every key under it is deleted on drop.
#[derive(Debug)]
pub struct TestRedis {
    /// The node's URL (on a cluster run, only the scheme the nodes are reached with).
    pub url: String,
    /// One node or the cluster, as the code under test is given it.
    pub client: jobs::redis::RedisClient,
    /// Unique to this test, e.g. `test:6f1c…`; pass it wherever the code takes a key prefix.
    pub prefix: String,
}

impl TestRedis {
    pub async fn new() -> Self {
        let url = crate::redis_url();
        let client = crate::redis_client();
        let mut conn = client.shared().await.unwrap_or_else(|e| {
            panic!(
                "tests need Redis at {} (start it, or run .ci/run): {e}",
                where_(&url)
            )
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

    /// Whether the tests run on a cluster.
    pub fn is_cluster(&self) -> bool {
        self.client.is_cluster()
    }

    /// A producer of jobs under this test's prefix.
    pub async fn producer(&self) -> jobs::Producer {
        jobs::Producer::connect(self.client.clone(), &self.prefix)
            .await
            .expect("producer")
    }

    /// A connection to the test Redis (on a cluster, routed by slot).
    pub async fn connection(&self) -> jobs::redis::Conn {
        self.client.shared().await.expect("Redis connection")
    }

    /// Keys currently under this test's prefix (on a cluster, on every master).
    pub async fn keys(&self) -> Vec<String> {
        keys_under(&self.prefix).await
    }
}

/// Keys under `prefix` on the test node, or on every master of the test cluster.
async fn keys_under(prefix: &str) -> Vec<String> {
    let pattern = format!("{prefix}*");
    let mut keys = Vec::new();
    for node in masters().await {
        let Ok(client) = redis::Client::open(node.as_str()) else {
            continue;
        };
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            continue;
        };
        if let Ok(mut iter) = conn.scan_match::<_, String>(&pattern).await {
            while let Some(key) = futures::StreamExt::next(&mut iter).await {
                keys.extend(key.ok());
            }
        }
    }
    keys
}

fn where_(url: &str) -> String {
    match crate::redis_cluster_nodes() {
        Some(nodes) => format!("cluster {}", nodes.join(",")),
        None => url.to_owned(),
    }
}

/// The URLs of the nodes holding writable keys: the test node, or the cluster's masters
/// among `CONCIERGE_TEST_REDIS_CLUSTER`'s nodes.
async fn masters() -> Vec<String> {
    let Some(nodes) = crate::redis_cluster_nodes() else {
        return vec![crate::redis_url()];
    };
    let mut masters = Vec::new();
    for node in nodes {
        let url = format!("redis://{node}");
        let Ok(client) = redis::Client::open(url.as_str()) else {
            continue;
        };
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            continue;
        };
        let role: Result<Vec<redis::Value>, _> = redis::cmd("ROLE").query_async(&mut conn).await;
        if let Ok(role) = role
            && matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master")
        {
            masters.push(url);
        }
    }
    masters
}

impl Drop for TestRedis {
    /// Deletes the test's keys one by one (on a cluster, keys of different slots cannot go
    /// in one command), on a runtime of its own: a test's runtime may be gone or busy.
    fn drop(&mut self) {
        let client = self.client.clone();
        let prefix = self.prefix.clone();
        crate::finish_on_own_runtime(async move {
            let keys = keys_under(&prefix).await;
            let Ok(mut conn) = client.shared().await else {
                return;
            };
            for key in keys {
                let _: Result<i64, _> = conn.unlink(&key).await;
            }
        });
    }
}
