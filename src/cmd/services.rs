//! Are PostgreSQL and Redis there? `concierge all` asks before it starts anything: when either
//! does not answer, one line says which, where it looked, and the two ways to get them. The
//! roles that run alone say what they are waiting for while Redis takes its time.

use std::time::Duration;

use anyhow::Context;
use concierge::config::Config;

/// Said whenever a service is missing: the two ways a newcomer gets both.
pub(crate) const HOW_TO_GET_THEM: &str = "start them on this machine with `scripts/services` \
     (it installs PostgreSQL and Redis where missing), or run everything in containers with \
     `docker compose -f docker/compose.yaml up`";

/// How long a service may take to answer one connection before it counts as not there.
const PATIENCE: Duration = Duration::from_secs(3);

/// Fails with one line naming each service that does not answer. A service that answers and
/// refuses (a wrong password, a missing database) passes here: the step that uses it reports
/// that in its own words.
pub(crate) async fn require(config: &Config) -> anyhow::Result<()> {
    let (postgres, redis) = tokio::join!(postgres_silence(config), redis_silence(config));
    let mut missing = Vec::new();
    if let Some(why) = postgres {
        let target = config.database.settings.display_target();
        missing.push(format!("PostgreSQL at {target} (DATABASE_URL: {why})"));
    }
    if let Some(why) = redis {
        let (address, setting) = (config.redis.display_target(), config.redis.setting());
        missing.push(format!("Redis at {address} ({setting}: {why})"));
    }
    if missing.is_empty() {
        return Ok(());
    }
    let verb = if missing.len() == 1 {
        "which is"
    } else {
        "which are"
    };
    anyhow::bail!(
        "Concierge needs {}, {verb} not answering; {HOW_TO_GET_THEM}",
        missing.join(" and ")
    )
}

/// Why Postgres does not answer, or `None` when it does (even with a refusal).
async fn postgres_silence(config: &Config) -> Option<String> {
    let reach = store::reach_server(&config.database.settings);
    match tokio::time::timeout(PATIENCE, reach).await {
        Err(_) => Some(format!("no answer in {} s", PATIENCE.as_secs())),
        Ok(Err(store::StoreError::Io(e))) => Some(e.to_string()),
        Ok(_) => None,
    }
}

/// Why Redis does not answer a PING, or `None` when it does (even with a refusal).
async fn redis_silence(config: &Config) -> Option<String> {
    let client = config.redis.client().ok()?;
    let ping = async {
        let mut conn = client.dedicated(PATIENCE).await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await
    };
    match tokio::time::timeout(PATIENCE, ping).await {
        Err(_) => Some(format!("no answer in {} s", PATIENCE.as_secs())),
        Ok(Err(e)) if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() => {
            Some(e.to_string())
        }
        Ok(_) => None,
    }
}

/// The job queues' producer, over its own Redis connection (one node, or the cluster of
/// `REDIS_CLUSTER_NODES`); says what it waits for when Redis takes longer than a second.
pub(crate) async fn producer(config: &Config) -> anyhow::Result<jobs::Producer> {
    let (target, setting) = (config.redis.display_target(), config.redis.setting());
    let client = config
        .redis
        .client()
        .with_context(|| format!("{setting} does not name a usable Redis"))?;
    let redis = &config.redis;
    let connect = async move {
        jobs::Producer::connect(client, &redis.key_prefix)
            .await?
            .with_jobs_in_entries(redis.jobs_in_entries)
            .with_wait_replicas(redis.wait_replicas, redis.wait_timeout)
            .await?
            .with_shards(redis.queue_shards.clone())
            .await
    };
    tokio::pin!(connect);
    let connected = tokio::select! {
        connected = &mut connect => connected,
        () = tokio::time::sleep(Duration::from_secs(1)) => {
            tracing::warn!(redis = %target, "waiting for Redis ({setting}) to answer");
            connect.await
        }
    };
    connected
        .with_context(|| format!("cannot reach Redis at {target} ({setting}); {HOW_TO_GET_THEM}"))
}
