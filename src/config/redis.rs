//! The `redis` section: where the job queues and rate-limit counters live, and the prefix
//! that lets several deployments (or tests) share one Redis.

use std::collections::HashMap;

use jobs::Job;
use serde::Deserialize;
use store::secret::Secret;
use url::Url;

use super::error::{ConfigError, invalid};
use super::resolve::Resolver;

/// Redis, which holds the job queues and rate-limit counters.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`, `redis.url`; default `redis://127.0.0.1:6379`. `rediss://` uses TLS. The
    /// URL may carry a password, so it is kept as a secret.
    pub url: Secret,
    /// Prepended to every key Concierge writes, so several deployments (or tests) can share one
    /// Redis. `REDIS_KEY_PREFIX`, `redis.key_prefix`; default `concierge`.
    pub key_prefix: String,
    /// A plain push (to run now, result not kept) writes the whole job into its stream entry,
    /// with no job hash: one `XADD`. Workers from before `8e4b4c8` cannot read such entries
    /// (they drop them), so while upgrading from such a version with old workers still
    /// running, set it to false on every process (workers push jobs too), and remove it once
    /// none is left. `REDIS_JOBS_IN_ENTRIES`, `redis.jobs_in_entries`; default true.
    pub jobs_in_entries: bool,
    /// A Redis Cluster instead of one node: some of its nodes as `host:port` (any reachable
    /// one finds the rest), comma-separated. Each takes the scheme (`rediss://` for TLS),
    /// user name and password of `REDIS_URL`, whose host is then not used; an item may also
    /// be a whole `redis://` or `rediss://` URL of its own. `REDIS_CLUSTER_NODES`,
    /// `redis.cluster_nodes` (a YAML list); default none (one node, `REDIS_URL`). Kept as
    /// secrets: a URL item may carry a password.
    pub cluster_nodes: Vec<Secret>,
    /// A push counts as made only once this many replicas of its node confirm it (`WAIT`),
    /// so a failover cannot lose it; a push they do not confirm in time fails as a push to
    /// an unreachable Redis does, though its jobs may still run. Each push call then waits
    /// for the replicas too. `REDIS_WAIT_REPLICAS`, `redis.wait_replicas`; default 0 (no
    /// wait: a failover may lose the last pushes the replica had not received), at most 5.
    pub wait_replicas: u32,
    /// Queues split into shards, and into how many: `QUEUE_SHARDS_<QUEUE>` (e.g.
    /// `QUEUE_SHARDS_SEND_EMAIL=4`), `redis.queue_shards: {send_email: 4}`; default 1 each
    /// (not split), at most 64. Shard 0 is the queue itself and shard `i` the queue
    /// `<queue>~<i>`, with its own hash tag: on a Redis Cluster one busy queue then uses
    /// several nodes. Every process that pushes must have the same setting (pushes spread
    /// over the shards; a job with an idempotency or order key goes to that key's shard);
    /// workers serve every shard in the registry, so lowering it loses nothing.
    /// `exchange_oauth_code`, whose results requests wait for, cannot be split.
    pub queue_shards: HashMap<String, usize>,
    /// How long a push waits for those replicas. `REDIS_WAIT_TIMEOUT_MS`,
    /// `redis.wait_timeout_ms`; default 1000, 1 to 5000 (under the 10 s any Redis
    /// command may take).
    pub wait_timeout: std::time::Duration,
}

impl RedisConfig {
    /// The Redis this configuration names: the cluster when `cluster_nodes` is set, else
    /// the node of `url`.
    pub fn client(&self) -> redis::RedisResult<jobs::redis::RedisClient> {
        if self.cluster_nodes.is_empty() {
            return jobs::redis::RedisClient::open(self.url.expose());
        }
        let urls: Vec<String> = self
            .cluster_nodes
            .iter()
            .map(|node| node_url(self.url.expose(), node.expose()))
            .collect();
        jobs::redis::RedisClient::cluster(&urls)
    }

    /// Where Redis is, without a password: `host:port` (or a socket's path) of `REDIS_URL`,
    /// or `cluster host:port,…`.
    pub fn display_target(&self) -> String {
        if self.cluster_nodes.is_empty() {
            return address(self.url.expose());
        }
        let nodes: Vec<String> = self
            .cluster_nodes
            .iter()
            .map(|node| match node.expose() {
                url if url.contains("://") => address(url),
                host_port => host_port.to_owned(),
            })
            .collect();
        format!("cluster {}", nodes.join(","))
    }

    /// The setting a failure to reach Redis is about.
    pub fn setting(&self) -> &'static str {
        if self.cluster_nodes.is_empty() {
            "REDIS_URL"
        } else {
            "REDIS_CLUSTER_NODES"
        }
    }
}

/// A cluster node's URL: `node` as given when it is a URL, else `REDIS_URL` with its host and
/// port replaced (scheme, user name and password kept; path and query dropped).
fn node_url(base: &str, node: &str) -> String {
    if node.contains("://") {
        return node.to_owned();
    }
    let Ok(base) = Url::parse(base) else {
        return format!("redis://{node}");
    };
    let scheme = match base.scheme() {
        "rediss" => "rediss",
        _ => "redis",
    };
    let credentials = match (base.username(), base.password()) {
        ("", None) => String::new(),
        (user, None) => format!("{user}@"),
        (user, Some(password)) => format!("{user}:{password}@"),
    };
    format!("{scheme}://{credentials}{node}")
}

/// Where a Redis URL points, without its password: `host:port`, or a socket's path.
pub fn address(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) if u.scheme().ends_with("unix") => u.path().to_owned(),
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port().unwrap_or(6379)
        ),
        Err(_) => "(an unreadable REDIS_URL)".to_owned(),
    }
}

/// The YAML section `redis`, every key optional; each key is described on the
/// [`RedisConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRedis {
    url: Option<String>,
    key_prefix: Option<String>,
    jobs_in_entries: Option<bool>,
    cluster_nodes: Option<Vec<String>>,
    wait_replicas: Option<u32>,
    wait_timeout_ms: Option<u64>,
    #[serde(default)]
    queue_shards: HashMap<String, usize>,
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileRedis) -> Result<RedisConfig, ConfigError> {
    let redis_url = r.string_or("REDIS_URL", f.url, "redis://127.0.0.1:6379");
    match Url::parse(&redis_url) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "unix" | "redis+unix") => {}
        // Never echo the URL: it may hold a password.
        _ => {
            return Err(invalid(
                "REDIS_URL (redis.url)",
                "expected a redis://, rediss:// or unix:// URL",
            ));
        }
    }
    let key_prefix = r.string_or("REDIS_KEY_PREFIX", f.key_prefix, "concierge");
    if key_prefix.contains(['{', '}', ' ']) {
        return Err(invalid(
            "REDIS_KEY_PREFIX (redis.key_prefix)",
            format!("must not contain braces or spaces, got {key_prefix:?}"),
        ));
    }
    let jobs_in_entries = r
        .bool(
            "REDIS_JOBS_IN_ENTRIES",
            "redis.jobs_in_entries",
            f.jobs_in_entries,
        )?
        .unwrap_or(true);
    let cluster_nodes = r
        .list("REDIS_CLUSTER_NODES", f.cluster_nodes)
        .unwrap_or_default();
    for node in &cluster_nodes {
        check_node(node)?;
    }
    // The cluster client signs in to every node with the first node's credentials.
    let credentials = |node: &String| {
        Url::parse(&node_url(&redis_url, node))
            .map(|u| (u.username().to_owned(), u.password().map(str::to_owned)))
            .ok()
    };
    if let Some(first) = cluster_nodes.first().map(credentials)
        && cluster_nodes.iter().any(|node| credentials(node) != first)
    {
        return Err(invalid(
            "REDIS_CLUSTER_NODES (redis.cluster_nodes)",
            "every node must take the same user name and password",
        ));
    }
    let wait_replicas = r.within(
        "REDIS_WAIT_REPLICAS",
        "redis.wait_replicas",
        f.wait_replicas,
        0,
        0..=5,
    )?;
    let wait_timeout_ms = r.within(
        "REDIS_WAIT_TIMEOUT_MS",
        "redis.wait_timeout_ms",
        f.wait_timeout_ms,
        1000,
        1..=5_000,
    )?;
    let queue_shards = queue_shards(r, f.queue_shards)?;
    Ok(RedisConfig {
        url: Secret::new(redis_url),
        queue_shards,
        wait_replicas,
        wait_timeout: std::time::Duration::from_millis(wait_timeout_ms),
        key_prefix,
        jobs_in_entries,
        cluster_nodes: cluster_nodes.into_iter().map(Secret::new).collect(),
    })
}

/// `QUEUE_SHARDS_<QUEUE>` over `redis.queue_shards`, each 1 to 64, never for a queue whose
/// results are waited for.
fn queue_shards(
    r: &Resolver<'_>,
    file: HashMap<String, usize>,
) -> Result<HashMap<String, usize>, ConfigError> {
    let mut shards: HashMap<String, (String, String)> = file
        .into_iter()
        .map(|(queue, n)| {
            let setting = format!("redis.queue_shards.{queue}");
            (queue, (setting, n.to_string()))
        })
        .collect();
    for (name, value) in r.env.iter() {
        if let Some(queue) = name.strip_prefix("QUEUE_SHARDS_") {
            shards.insert(queue.to_ascii_lowercase(), (name.clone(), value.clone()));
        }
    }
    let mut out = HashMap::new();
    for (queue, (setting, value)) in shards {
        let n = value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=jobs::redis::MAX_SHARDS).contains(n))
            .ok_or_else(|| {
                invalid(
                    &setting,
                    format!("expected a number from 1 to 64, got {value:?}"),
                )
            })?;
        if queue.is_empty() || queue.contains(['~', '{', '}', ' ']) {
            return Err(invalid(&setting, format!("not a queue name: {queue:?}")));
        }
        if n > 1 && queue == jobs::ExchangeOauthCode::QUEUE {
            return Err(invalid(
                &setting,
                "requests wait for this queue's results; it cannot be split",
            ));
        }
        out.insert(queue, n);
    }
    Ok(out)
}

/// A cluster node is `host:port` or a `redis://`/`rediss://` URL; never echoed whole, as a
/// URL may hold a password.
fn check_node(node: &str) -> Result<(), ConfigError> {
    let setting = "REDIS_CLUSTER_NODES (redis.cluster_nodes)";
    if node.contains("://") {
        return match Url::parse(node) {
            Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host_str().is_some() => Ok(()),
            _ => Err(invalid(
                setting,
                "an item with a scheme must be a redis:// or rediss:// URL with a host",
            )),
        };
    }
    match node.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && !host.contains(['/', '@', ' '])
                && port.parse::<u16>().is_ok_and(|p| p > 0) =>
        {
            Ok(())
        }
        // An item with an `@` may be a password with its scheme forgotten: never echoed.
        _ if node.contains('@') => Err(invalid(
            setting,
            "expected host:port items (credentials belong in a redis:// URL or REDIS_URL)",
        )),
        _ => Err(invalid(
            setting,
            format!("expected host:port items, got {node:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{address, node_url};

    #[test]
    fn a_redis_address_never_shows_the_password() {
        assert_eq!(
            address("redis://:hunter2@cache.internal:6380/0"),
            "cache.internal:6380"
        );
        assert_eq!(address("rediss://user:pw@10.0.0.1"), "10.0.0.1:6379");
        assert_eq!(address("redis+unix:///run/redis.sock"), "/run/redis.sock");
    }

    #[test]
    fn a_cluster_node_takes_the_scheme_and_credentials_of_the_url() {
        let base = "rediss://app:s3cret@ignored.example:6380/2?protocol=resp3";
        assert_eq!(
            node_url(base, "10.0.0.5:7000"),
            "rediss://app:s3cret@10.0.0.5:7000"
        );
        assert_eq!(
            node_url("redis://:pw@x", "node-1:7001"),
            "redis://:pw@node-1:7001"
        );
        assert_eq!(node_url("redis://127.0.0.1:6379", "h:1"), "redis://h:1");
        assert_eq!(
            node_url(base, "redis://other@h:2"),
            "redis://other@h:2",
            "a whole URL is used as given"
        );
    }
}
