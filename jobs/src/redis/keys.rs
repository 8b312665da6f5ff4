//! The Redis keys of one queue, and the name of the consumer group that reads its stream.

/// The consumer group every worker of a queue joins.
pub const GROUP: &str = "workers";

/// The queue holding shard `index` of `queue` (see [`crate::Producer::with_shards`]): the
/// queue itself for shard 0, so a queue split later keeps its jobs where they are, else
/// `<queue>~<index>`, a hash tag (and so a Redis Cluster slot) of its own.
pub fn shard_name(queue: &str, index: usize) -> String {
    match index {
        0 => queue.to_owned(),
        i => format!("{queue}~{i}"),
    }
}

/// The queue a queue name is a shard of, and which: `send_email~2` → `("send_email", 2)`,
/// `send_email` → `("send_email", 0)`.
pub fn shard_of(name: &str) -> (&str, usize) {
    match name.rsplit_once('~') {
        Some((queue, index)) if !queue.is_empty() => match index.parse::<usize>() {
            Ok(i) if i > 0 && i < 1_000 && index == i.to_string() => (queue, i),
            _ => (name, 0),
        },
        _ => (name, 0),
    }
}

/// Keys of one queue under a deployment's prefix. Every key is `<prefix>:{<queue>}:…`, so all
/// of them hash to one Redis Cluster slot and Lua scripts may touch them together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKeys {
    pub prefix: String,
    pub queue: String,
    /// `<prefix>:{<queue>}`
    pub base: String,
}

impl QueueKeys {
    pub fn new(prefix: &str, queue: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            queue: queue.to_owned(),
            base: format!("{prefix}:{{{queue}}}"),
        }
    }

    /// The stream of runnable jobs (entries hold the job id; for a job without a hash also
    /// its payload, attempt budget, push time and trace).
    pub fn stream(&self) -> String {
        format!("{}:stream", self.base)
    }

    /// Delayed jobs and retry backoffs: job id scored by due time (ms).
    pub fn delayed(&self) -> String {
        format!("{}:delayed", self.base)
    }

    /// The dead-letter set: job id scored by when it died (ms).
    pub fn dead(&self) -> String {
        format!("{}:dead", self.base)
    }

    /// Recently finished jobs: job id scored by completion time (ms), trimmed.
    pub fn done(&self) -> String {
        format!("{}:done", self.base)
    }

    /// Outcomes counted per minute within one hour (`<minute>:<outcome>` → count, minutes
    /// and hours since the UNIX epoch), kept three hours: `settle.lua` writes them.
    pub fn minutes(&self, hour: u64) -> String {
        format!("{}:minutes:{hour}", self.base)
    }

    /// The hash of one job: payload, state, attempts, result, timings.
    pub fn job(&self, id: &str) -> String {
        format!("{}:job:{id}", self.base)
    }

    /// Ids of jobs without a hash (`push.lua`) that an admin discarded while they waited:
    /// the fetcher (and `claim.lua` on a take-over) acknowledges and skips them.
    pub fn discarded(&self) -> String {
        format!("{}:discarded", self.base)
    }

    /// Live workers: consumer name scored by last heartbeat (ms).
    pub fn workers(&self) -> String {
        format!("{}:workers", self.base)
    }

    /// One worker's description (host, pid, concurrency), expiring with its heartbeats.
    pub fn worker(&self, consumer: &str) -> String {
        format!("{}:worker:{consumer}", self.base)
    }

    /// The members of the delayed set that are retries waiting for their backoff (scored by
    /// the same due time), so a dashboard can tell them from scheduled pushes.
    pub fn retrying(&self) -> String {
        format!("{}:retrying", self.base)
    }

    /// Present while an admin has paused the queue (`promote.lua` reports it to fetchers).
    pub fn paused(&self) -> String {
        format!("{}:paused", self.base)
    }

    /// Pub/sub channel announcing each job that reached a final state.
    pub fn results(&self) -> String {
        format!("{}:results", self.base)
    }

    /// The deployment-wide set of queue names (outside any hash tag).
    pub fn registry(prefix: &str) -> String {
        format!("{prefix}:queues")
    }
}

#[cfg(test)]
mod tests {
    use super::{shard_name, shard_of};

    #[test]
    fn a_shard_name_says_its_queue_and_index_and_shard_zero_is_the_queue() {
        assert_eq!(shard_name("send_email", 0), "send_email");
        assert_eq!(shard_name("send_email", 3), "send_email~3");
        for i in 0..20 {
            assert_eq!(shard_of(&shard_name("send_email", i)), ("send_email", i));
        }
        for plain in [
            "send_email",
            "a~0",
            "a~01",
            "a~x",
            "~2",
            "a~",
            "a~18446744073709551615",
        ] {
            assert_eq!(shard_of(plain), (plain, 0), "{plain}");
        }
    }
}
