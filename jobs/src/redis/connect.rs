//! Where the queue's Redis is, one node or a Redis Cluster, and the connections each part of
//! a process opens to it ([`RedisClient`], [`Conn`]).
//!
//! On a cluster every command and script goes to the node serving its key's slot (every key
//! of a queue shares the hash tag `{<queue>}`, so a script or pipeline of one queue is one
//! slot), and the connection follows `MOVED`/`ASK` and a failover by itself. Pipelines must
//! not mix queues: the cluster refuses commands of two slots in one (`CROSSSLOT`).
//!
//! Results are announced with `SPUBLISH` on a cluster (a sharded channel lives on the node of
//! its slot, not broadcast to every node) and `PUBLISH` on one node; subscriptions follow
//! ([`Subscriptions`], [`Announcements`]).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection, PubSubSink};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, PushInfo, PushKind, RedisFuture, RedisResult, Value};
use tokio::sync::mpsc;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a command on a shared connection may take before it fails.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Redis a deployment uses: one node (`REDIS_URL`) or a cluster (`REDIS_CLUSTER_NODES`).
/// Cheap to clone; opens connections, it holds none.
#[derive(Clone)]
pub struct RedisClient(Target);

#[derive(Clone)]
enum Target {
    Node(Box<redis::Client>),
    Cluster(Box<ClusterClients>),
}

#[derive(Clone)]
struct ClusterClients {
    /// Commands and scripts, RESP2.
    commands: ClusterClient,
    /// Sharded subscriptions, which a cluster connection carries only on RESP3.
    pushes: ClusterClient,
}

impl std::fmt::Debug for RedisClient {
    /// Never the URLs: they may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Target::Node(_) => "RedisClient(node)",
            Target::Cluster(_) => "RedisClient(cluster)",
        })
    }
}

impl From<redis::Client> for RedisClient {
    fn from(client: redis::Client) -> Self {
        Self(Target::Node(Box::new(client)))
    }
}

impl RedisClient {
    /// One node at `url` (`redis://`, `rediss://`, `unix://`).
    pub fn open(url: &str) -> RedisResult<Self> {
        Ok(redis::Client::open(url)?.into())
    }

    /// A cluster reached through any of `nodes` (URLs, each with the credentials and TLS
    /// every node takes); the rest of the cluster is discovered from them.
    pub fn cluster(nodes: &[String]) -> RedisResult<Self> {
        let builder = || {
            ClusterClientBuilder::new(nodes.to_vec())
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
        };
        Ok(Self(Target::Cluster(Box::new(ClusterClients {
            commands: builder().build()?,
            pushes: builder()
                .use_protocol(redis::ProtocolVersion::RESP3)
                .build()?,
        }))))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.0, Target::Cluster(_))
    }

    /// The connection a process shares between its tasks: it reconnects by itself (on a
    /// cluster, also follows slot moves and failovers), and a command fails after 10 s.
    pub async fn shared(&self) -> RedisResult<Conn> {
        match &self.0 {
            Target::Node(client) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT));
                Ok(Conn::Managed(
                    client.get_connection_manager_with_config(config).await?,
                ))
            }
            Target::Cluster(clients) => Ok(Conn::Cluster(
                clients.commands.get_async_connection().await?,
            )),
        }
    }

    /// A connection of its own, for a blocking command (`XREADGROUP … BLOCK`) that would
    /// stall everything else on a shared one; a command fails after `response_timeout`.
    pub async fn dedicated(&self, response_timeout: Duration) -> RedisResult<Conn> {
        match &self.0 {
            Target::Node(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(response_timeout));
                Ok(Conn::Multiplexed(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Target::Cluster(clients) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(response_timeout);
                Ok(Conn::Cluster(
                    clients
                        .commands
                        .get_async_connection_with_config(config)
                        .await?,
                ))
            }
        }
    }

    /// A subscription connection: where to subscribe, and what arrives.
    pub(crate) async fn subscriber(&self) -> RedisResult<(Subscriptions, Announcements)> {
        match &self.0 {
            Target::Node(client) => {
                let (sink, stream) = client.get_async_pubsub().await?.split();
                Ok((Subscriptions::Node(sink), Announcements::Node(stream)))
            }
            Target::Cluster(clients) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT)
                    .set_push_sender(tx);
                let conn = clients
                    .pushes
                    .get_async_connection_with_config(config)
                    .await?;
                Ok((Subscriptions::Cluster(conn), Announcements::Cluster(rx)))
            }
        }
    }
}

/// A connection to the deployment's Redis, of whichever kind [`RedisClient`] opened.
#[derive(Clone)]
pub enum Conn {
    /// One node, reconnecting by itself.
    Managed(ConnectionManager),
    /// One node, its own connection (blocking reads).
    Multiplexed(MultiplexedConnection),
    /// A cluster: a connection to each node, commands routed by slot.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Managed(_) => "Conn(managed)",
            Conn::Multiplexed(_) => "Conn(multiplexed)",
            Conn::Cluster(_) => "Conn(cluster)",
        })
    }
}

impl Conn {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Runs `cmd`, which names no key (`INFO`, `CLIENT KILL`, `MEMORY STATS`), on the master
    /// serving `key`'s slot; on one node, on it.
    pub async fn on_node_of<T: redis::FromRedisValue>(
        &mut self,
        key: &str,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
        match self {
            Conn::Cluster(c) => {
                let route = Route::with_key(key, SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                Ok(redis::from_redis_value(
                    c.route_command(cmd.clone(), routing).await?,
                )?)
            }
            other => cmd.query_async(other).await,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Managed(c) => c.req_packed_command(cmd),
            Conn::Multiplexed(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Managed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Managed(c) => c.get_db(),
            Conn::Multiplexed(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// How often a long-lived subscriber on a cluster subscribes again to everything it wants (a
/// cluster connection may have lost a channel to a node that left for good; subscribing
/// again where it did not changes nothing).
pub(crate) const RESUBSCRIBE_EVERY: Duration = Duration::from_secs(10);

/// Where a subscriber subscribes (cheap to clone, usable while [`Announcements`] is read).
#[derive(Clone)]
pub(crate) enum Subscriptions {
    Node(PubSubSink),
    /// Sharded: each channel on the node of its slot, subscribed again by the connection
    /// after a reconnect or a failover.
    Cluster(ClusterConnection),
}

impl Subscriptions {
    pub(crate) async fn subscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        match self {
            Subscriptions::Node(sink) => sink.subscribe(channels).await,
            // One at a time: channels of different slots live on different nodes.
            Subscriptions::Cluster(conn) => {
                for channel in channels {
                    conn.ssubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }
}

impl Subscriptions {
    /// Every channel matching `pattern`, on one node; a cluster has no sharded patterns, so
    /// there the caller subscribes to each channel.
    pub(crate) async fn subscribe_pattern(&mut self, pattern: &str) -> RedisResult<()> {
        match self {
            Subscriptions::Node(sink) => sink.psubscribe(pattern).await,
            Subscriptions::Cluster(_) => Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "a cluster has no sharded pattern subscriptions",
            ))),
        }
    }
}

/// What a subscription brings.
pub(crate) enum Heard {
    /// A message on a subscribed channel.
    Message { channel: String, payload: String },
    /// Messages may have been missed and a subscription lost (a node's connection dropped,
    /// or the server unsubscribed a channel whose slot moved): subscribe again, then whoever
    /// waits should read again.
    Gap,
}

/// The messages of a subscription, in order.
pub(crate) enum Announcements {
    Node(redis::aio::PubSubStream),
    Cluster(mpsc::UnboundedReceiver<PushInfo>),
}

impl Announcements {
    /// The next message or gap; `None` once the subscription has ended for good (on one
    /// node, when its connection closed: open another).
    pub(crate) async fn next(&mut self) -> Option<Heard> {
        match self {
            Announcements::Node(stream) => {
                use futures::StreamExt;
                loop {
                    let message = stream.next().await?;
                    if let Ok(payload) = message.get_payload::<String>() {
                        return Some(Heard::Message {
                            channel: message.get_channel_name().to_owned(),
                            payload,
                        });
                    }
                }
            }
            Announcements::Cluster(rx) => loop {
                let push = rx.recv().await?;
                match push.kind {
                    PushKind::SMessage | PushKind::Message => {
                        if let [channel, payload] = push.data.as_slice()
                            && let (Ok(channel), Ok(payload)) = (
                                redis::from_redis_value_ref::<String>(channel),
                                redis::from_redis_value_ref::<String>(payload),
                            )
                        {
                            return Some(Heard::Message { channel, payload });
                        }
                    }
                    // A node's connection dropped, or the server took a channel away (its
                    // slot moved): the connection's own resubscription may not cover it.
                    // (Confirmations of subscribing are not gaps.)
                    PushKind::Disconnection | PushKind::SUnsubscribe => {
                        return Some(Heard::Gap);
                    }
                    _ => {}
                }
            },
        }
    }
}
