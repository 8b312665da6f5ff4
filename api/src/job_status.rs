//! `GET /api/jobs/{id}`: the progress of a sign-in whose job outlived the request's wait.
//! Public (the browser of the pending page polls it) and limited to `exchange_oauth_code`
//! jobs; it never shows payloads.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};

use jobs::{ExchangeOutcome, JobState, OauthProvider};

use crate::error::{ErrorBody, Or500, body};
use crate::exchange::{Destination, destination_of, exchange_status, job_of, outcome};
use crate::responses::responses;
use crate::state::AppState;

#[derive(Debug, Tags)]
enum JobTags {
    /// Progress of background work a request started
    Jobs,
}

#[derive(Debug)]
pub struct JobStatusApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Progress {
    /// Not finished; ask again in a second or two.
    Pending,
    Success,
    Error,
}

#[derive(Debug, Object)]
pub struct JobStatusResponse {
    pub id: String,
    /// The queue's state: `pending`, `scheduled`, `running`, `retrying`, `done`, `failed`,
    /// `dead`.
    pub state: String,
    pub progress: Progress,
    /// On success of a Discord link: the Discord name.
    pub username: Option<String>,
    /// On error: the code (seed 001's nine for Discord linking).
    pub error: Option<String>,
    /// On success of a Google sign-in: repeat `POST /api/login` with the same body to get the
    /// tokens.
    pub user_id: Option<i64>,
    /// For Discord linking, once finished: where the browser should go now (under
    /// `WEB_APP_BASE_URL` when that is set).
    pub redirect_url: Option<String>,
}

responses! {
    pub enum JobStatusResult {
        200 Ok(Json<JobStatusResponse>),
        /// No such sign-in job (or it finished long ago and was trimmed): `not_found`.
        404 NotFound(Json<ErrorBody>),
    }
}

#[OpenApi(tag = "JobTags::Jobs")]
impl JobStatusApi {
    /// Progress of a Discord link or Google sign-in that outlived the request.
    #[oai(path = "/jobs/:id", method = "get", operation_id = "job_status")]
    async fn status(
        &self,
        state: Data<&AppState>,
        id: Path<String>,
    ) -> poem::Result<JobStatusResult> {
        let Some(status) = exchange_status(&state, &id)
            .await
            .or_500("reading the sign-in job's status")?
        else {
            return Ok(JobStatusResult::NotFound(body("not_found", "no such job")));
        };
        let outcome = outcome(&status);
        let destination = destination_of(&status);
        let mut response = JobStatusResponse {
            id: status.id.to_string(),
            state: status.state.as_str().to_owned(),
            progress: Progress::Pending,
            username: None,
            error: None,
            user_id: None,
            redirect_url: None,
        };
        match (&outcome, status.state) {
            (Some(ExchangeOutcome::SignedIn { user_id, .. }), JobState::Done) => {
                response.progress = Progress::Success;
                response.user_id = Some(*user_id);
            }
            _ => match &destination {
                Some(Destination::Success { username, .. }) => {
                    response.progress = Progress::Success;
                    response.username = Some(username.clone());
                }
                Some(Destination::Error { code }) => {
                    response.progress = Progress::Error;
                    response.error = Some(match &outcome {
                        Some(ExchangeOutcome::Rejected { error }) => error.code().to_owned(),
                        _ => (*code).to_owned(),
                    });
                }
                _ => {}
            },
        }
        // Only Discord linking has pages to go to; a Google sign-in is answered by repeating
        // `POST /api/login`.
        let discord = job_of(&status).is_some_and(|job| job.provider == OauthProvider::Discord);
        if discord && response.progress != Progress::Pending {
            response.redirect_url =
                destination.map(|d| d.location(state.config().web_app_base_url.as_ref()));
        }
        Ok(JobStatusResult::Ok(Json(response)))
    }
}
