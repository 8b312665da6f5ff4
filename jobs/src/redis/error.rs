//! The one error type of queue operations, for producers, workers and introspection alike.

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cannot encode or decode a job payload: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("unexpected reply from Redis: {0}")]
    Protocol(String),
    /// This process already waits for as many job results as it may (see `results`): the
    /// caller answers without waiting (e.g. with the job id to poll).
    #[error("too many requests are waiting for job results in this process")]
    Busy,
    /// A push was written but fewer replicas than asked for confirmed it in time
    /// ([`crate::Producer::with_wait_replicas`]): the jobs may run, or be lost with their
    /// node. Push again with the same idempotency key to be sure.
    #[error("the push reached {acknowledged} of {wanted} replicas in time")]
    NotReplicated { acknowledged: u32, wanted: u32 },
}

impl QueueError {
    /// The same error for another caller that shared the failed call (a coalesced push): a
    /// Redis error as it was, anything else by its message.
    pub(crate) fn shared(&self) -> Self {
        match self {
            Self::Redis(e) => Self::Redis(e.clone()),
            Self::Busy => Self::Busy,
            Self::NotReplicated {
                acknowledged,
                wanted,
            } => Self::NotReplicated {
                acknowledged: *acknowledged,
                wanted: *wanted,
            },
            other => Self::Protocol(other.to_string()),
        }
    }
}
