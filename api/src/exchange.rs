//! A sign-in's `exchange_oauth_code` job as the browser sees it: its status by id, its typed
//! payload and outcome, and, for Discord linking, the page it leads to. Shared by the Discord
//! callback, the built-in pending page, `GET /api/jobs/{id}` and Google's `POST /api/login`
//! (which reads the outcome).

use jobs::{ExchangeError, ExchangeOauthCode, ExchangeOutcome, Job, JobId, JobState};

use crate::state::AppState;

/// Where the browser goes after the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// Linked. `confirmed` false: Discord did not vouch for the user's own email, so a code is
    /// on its way to it; the page is told so with `verify=email`.
    Success {
        username: String,
        confirmed: bool,
    },
    Error {
        code: &'static str,
    },
    Pending {
        job_id: String,
    },
}

impl Destination {
    /// The `Location`: under `WEB_APP_BASE_URL`, or our built-in pages when unset.
    pub(crate) fn location(&self, base: Option<&url::Url>) -> String {
        let base = base
            .map(|b| b.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let page = match self {
            Destination::Success {
                username,
                confirmed,
            } => {
                query.append_pair("username", username);
                if !confirmed {
                    query.append_pair("verify", "email");
                }
                "success"
            }
            Destination::Error { code } => {
                query.append_pair("error", code);
                "error"
            }
            Destination::Pending { job_id } => {
                query.append_pair("job_id", job_id);
                "pending"
            }
        };
        let query = query.finish();
        format!("{base}/discord/{page}?{query}")
    }

    pub(crate) fn error(e: ExchangeError) -> Self {
        Destination::Error {
            code: e.discord_redirect_code(),
        }
    }
}

/// The destination a finished Discord exchange leads to; `None` while it runs.
pub(crate) fn destination_of(status: &jobs::JobStatus) -> Option<Destination> {
    match status.state {
        JobState::Done => Some(match outcome(status) {
            Some(ExchangeOutcome::Linked {
                username,
                confirmed,
                ..
            }) => Destination::Success {
                username,
                confirmed,
            },
            Some(ExchangeOutcome::Rejected { error }) => Destination::error(error),
            _ => Destination::error(ExchangeError::ServerError),
        }),
        // Every attempt failed on something transient: the provider or our store was down.
        JobState::Failed | JobState::Dead => Some(Destination::error(ExchangeError::ServerError)),
        _ => None,
    }
}

/// The status of an exchange job, for the pending page and `GET /api/jobs/{id}`.
pub(crate) async fn exchange_status(
    state: &AppState,
    id: &str,
) -> Result<Option<jobs::JobStatus>, jobs::QueueError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    // The exchange queue keeps its results, so each of its jobs has a hash from its push: an
    // id anyone may send costs one read, never a search of the stream.
    state
        .producer()
        .recorded_status(ExchangeOauthCode::QUEUE, &JobId::from(id))
        .await
}

/// What the exchange answered, once it is done: `None` while it runs, or when the result is
/// not an [`ExchangeOutcome`].
pub(crate) fn outcome(status: &jobs::JobStatus) -> Option<ExchangeOutcome> {
    status
        .result
        .clone()
        .and_then(|r| serde_json::from_value::<ExchangeOutcome>(r).ok())
}

/// The job the status is of, as it was pushed; `None` when there is no payload or it is not an
/// [`ExchangeOauthCode`].
pub(crate) fn job_of(status: &jobs::JobStatus) -> Option<ExchangeOauthCode> {
    status
        .payload
        .clone()
        .and_then(|p| serde_json::from_value::<ExchangeOauthCode>(p).ok())
}
