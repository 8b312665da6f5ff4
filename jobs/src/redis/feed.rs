//! The feed of every job that finishes in any queue of the deployment (the board's live
//! log): [`Producer::finished_announcements`].

use std::time::Duration;

use redis::AsyncCommands;

use super::connect::{Conn, Heard, RESUBSCRIBE_EVERY, Subscriptions};
use super::error::QueueError;
use super::keys::QueueKeys;
use super::producer::Producer;

impl Producer {
    /// Every job that finishes from now on in any queue of the deployment, as its queue
    /// announces it: `(queue, ids)`, the ids separated by spaces (one announcement per settle
    /// call). On one node, one pattern subscription; on a cluster, one sharded subscription
    /// per queue of the registry, read again every 10 s (and after a gap) so that a queue
    /// registered later is heard too. Ends when the subscription does.
    pub async fn finished_announcements(
        &self,
    ) -> Result<impl futures::Stream<Item = (String, String)> + Send + use<>, QueueError> {
        let (mut subscriptions, messages) = self.client().subscriber().await?;
        let feed = Feed {
            conn: self.connection(),
            prefix: self.prefix().to_owned(),
            cluster: self.client().is_cluster(),
        };
        if feed.cluster {
            feed.subscribe_registry(&mut subscriptions).await?;
        } else {
            subscriptions
                .subscribe_pattern(&format!("{}:{{*}}:results", self.prefix()))
                .await?;
        }
        let renewed = tokio::time::Instant::now();
        Ok(futures::stream::unfold(
            (feed, subscriptions, messages, renewed),
            |(feed, mut subscriptions, mut messages, mut renewed)| async move {
                loop {
                    if feed.cluster && renewed.elapsed() >= RESUBSCRIBE_EVERY {
                        renewed = tokio::time::Instant::now();
                        if let Err(e) = feed.subscribe_registry(&mut subscriptions).await {
                            tracing::debug!(error = %e, "renewing the finished-job feed failed");
                        }
                    }
                    let next = tokio::time::timeout(Duration::from_secs(1), messages.next());
                    match next.await {
                        Err(_) => continue,
                        Ok(None) => return None,
                        Ok(Some(Heard::Message { channel, payload })) => {
                            let Some(queue) = channel
                                .split_once('{')
                                .and_then(|(_, rest)| rest.split_once('}'))
                                .map(|(queue, _)| queue.to_owned())
                            else {
                                continue;
                            };
                            let state = (feed, subscriptions, messages, renewed);
                            return Some(((queue, payload), state));
                        }
                        // Subscribe everything again at once.
                        Ok(Some(Heard::Gap)) => {
                            renewed = renewed.checked_sub(RESUBSCRIBE_EVERY).unwrap_or(renewed);
                        }
                    }
                }
            },
        ))
    }
}
/// What [`Producer::finished_announcements`] needs to subscribe to the registry's queues.
struct Feed {
    conn: Conn,
    prefix: String,
    cluster: bool,
}

impl Feed {
    /// Subscribes to the results channel of every queue in the registry (subscribing again
    /// to one already subscribed changes nothing).
    async fn subscribe_registry(
        &self,
        subscriptions: &mut Subscriptions,
    ) -> Result<(), QueueError> {
        let queues: Vec<String> = self
            .conn
            .clone()
            .smembers(QueueKeys::registry(&self.prefix))
            .await?;
        let channels: Vec<String> = queues
            .iter()
            .map(|queue| QueueKeys::new(&self.prefix, queue).results())
            .collect();
        Ok(subscriptions.subscribe(&channels).await?)
    }
}
