//! Google sign-in: `POST /api/login` with an access token or the code and state of the
//! authorization-code flow, which `POST /api/login/google` starts (with PKCE, the state bound to
//! the browser by a cookie). The `exchange_oauth_code` job asks Google; the request waits for
//! it (bounded), then issues our access JWT and a refresh token.

use std::time::Duration;

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use jobs::{ExchangeError, ExchangeOauthCode, ExchangeOutcome, Job, JobState, OauthGrant};
use jobs::{OauthProvider, PushOptions};

use super::SessionTags;
use super::profile::UserInfo;
use crate::error::{ErrorBody, Or500, body, step_failed};
use crate::login_log::LoginEvent;
use crate::onboarding::{STATE_TTL, authorize_url};
use crate::responses::{ErrorJson, responses};
use crate::state::AppState;
use crate::text::Text;

/// A timed-out sign-in may be joined by repeating the request within this long.
const JOIN_WINDOW: Duration = Duration::from_secs(600);
/// Requests with one access token share one check this long.
const TOKEN_JOIN_WINDOW: Duration = Duration::from_secs(30);
/// The cookie binding a Google code flow to the browser that started it.
const BINDING_COOKIE: &str = "cnc_oauth";
const GOOGLE_SCOPE: &str = "openid email profile";

/// `POST /api/login`, `POST /api/login/google`.
#[derive(Debug)]
pub struct GoogleApi;

/// Either `access_token` (a Google access token issued to our client), or `code` and `state`
/// (from the authorization URL of `POST /api/login/google`).
#[derive(Debug, Object)]
pub struct LoginRequest {
    pub access_token: Option<Text>,
    pub code: Option<Text>,
    pub state: Option<Text>,
}

#[derive(Debug, Object)]
pub struct TokenResponse {
    /// Our access token (JWT, HS256), for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque; single use: `POST /api/refresh` returns the next one.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    pub user: UserInfo,
}

#[derive(Debug, Object)]
pub struct PendingLogin {
    /// Poll `GET /api/jobs/{id}`, or repeat the same request to wait again.
    pub job_id: String,
    pub message: String,
}

responses! {
    pub enum LoginResult {
        200 Ok(Json<TokenResponse>),
        /// Google is slow: the sign-in continues in the background.
        202 Pending(Json<PendingLogin>),
        /// Neither or both of `access_token` and `code`+`state` (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        /// The token, code or state is invalid, expired, replayed, or not issued to this client
        /// (`invalid_token`, `token_exchange_failed`), or the state was started in another browser
        /// (`state_not_bound`: the binding cookie of `POST /api/login/google` is missing).
        401 Unauthorized(Json<ErrorBody>),
        /// Google does not vouch for the email (`email_not_verified`), or the account is
        /// deactivated (`account_disabled`).
        403 Forbidden(Json<ErrorBody>),
        /// The account with this email is linked to another Google account (`already_linked`).
        409 Conflict(Json<ErrorBody>),
        /// Google could not be asked (`user_info_failed`, `server_error`).
        502 BadGateway(Json<ErrorBody>),
        /// Google sign-in is not configured (`oauth_not_configured`).
        503 Unavailable(Json<ErrorBody>),
        @body,
        /// Too many sign-ins from this address (`too_many_attempts`).
        429 TooMany(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    }
}

#[derive(Debug, Object)]
pub struct GoogleStart {
    /// Send the user here; Google redirects to `GOOGLE_REDIRECT_URI` with `code` and `state`.
    pub authorization_url: String,
    pub state: String,
    /// Seconds the state stays valid.
    pub expires_in: u64,
}

responses! {
    pub enum GoogleStartResult {
        /// Also sets the HttpOnly cookie binding the state to this browser.
        200 Ok(Json<GoogleStart>, #[oai(header = "Set-Cookie")] String),
        /// `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`, `GOOGLE_REDIRECT_URI` are not all set.
        503 Unavailable(Json<ErrorBody>),
        /// Too many sign-ins from this address (`too_many_attempts`).
        429 TooMany(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    }
}

#[OpenApi(tag = "SessionTags::Sessions")]
impl GoogleApi {
    /// Sign in with Google: with an access token the client obtained for our client id, or
    /// with the `code` and `state` of the authorization-code flow started by
    /// `POST /api/login/google`. Answers our access token and a refresh token.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        request: Json<LoginRequest>,
    ) -> poem::Result<LoginResult> {
        let config = state.config();
        if let Some((b, after)) = crate::limits::sign_in(&state, req).await? {
            return Ok(LoginResult::TooMany(b, after));
        }
        let r = request.0;
        let (job, options, claim_once) = match (r.access_token, r.code, r.state) {
            (Some(token), None, None) if !token.is_empty() && token.len() <= 4096 => {
                if config.google_client_id.is_none() {
                    return Ok(not_configured());
                }
                let job = ExchangeOauthCode {
                    provider: OauthProvider::Google,
                    grant: OauthGrant::AccessToken {
                        sealed: state.sealer().seal_text(&token),
                    },
                };
                // The token itself is the credential: requests with one token share one job
                // (and its outcome for a short while) instead of each asking Google again.
                let key = format!("login:token:{}", hex_digest(&token));
                let options = PushOptions::idempotent(key).with_idempotency_ttl(TOKEN_JOIN_WINDOW);
                (job, options, false)
            }
            (None, Some(code), Some(st))
                if !code.is_empty() && code.len() <= 2048 && !st.is_empty() && st.len() <= 256 =>
            {
                let Some(google) = &config.google else {
                    return Ok(LoginResult::Unavailable(code_flow_not_configured(config)));
                };
                let db = state.db();
                let consumed = match store::one_time_tokens::consume_oauth_state(db, &st, "google")
                    .await
                    .or_500("consuming the Google OAuth state")?
                {
                    Some(s) => Some(s),
                    // A retry of a request whose job outlived the wait: join that job (its
                    // tokens are still handed out once only).
                    None => store::one_time_tokens::recently_consumed_oauth_state(
                        db,
                        &st,
                        "google",
                        JOIN_WINDOW,
                    )
                    .await
                    .or_500("looking up a recently consumed Google OAuth state")?,
                };
                let Some(consumed) =
                    consumed.filter(|s| s.redirect_uri == google.redirect_uri.as_str())
                else {
                    return Ok(LoginResult::Unauthorized(body(
                        "invalid_token",
                        "the state is invalid, expired or already used",
                    )));
                };
                // Only the browser that started the flow holds the cookie the state is bound
                // to: a link carrying someone else's code and state signs nobody in.
                let cookie = crate::cookies::get(req, BINDING_COOKIE, secure_cookie(google));
                if !consumed.bound_to(cookie.as_deref()) {
                    tracing::warn!("Google sign-in with a state bound to another browser");
                    return Ok(LoginResult::Unauthorized(body(
                        "state_not_bound",
                        "this sign-in was started in another browser; start again here",
                    )));
                }
                let job = ExchangeOauthCode {
                    provider: OauthProvider::Google,
                    grant: OauthGrant::Code {
                        state_id: consumed.id,
                        sealed_code: state.sealer().seal_text(&code),
                    },
                };
                let key = format!("login:state:{}", consumed.id);
                let options = PushOptions::idempotent(key).with_idempotency_ttl(JOIN_WINDOW);
                (job, options, true)
            }
            _ => {
                return Ok(LoginResult::BadRequest(body(
                    "invalid_request",
                    "send either access_token, or code and state",
                )));
            }
        };
        // A code's sign-in hands its tokens out once; a token's sign-in is its own proof.
        let pushed = state
            .producer()
            .push_with(&job, options)
            .await
            .or_500("pushing the sign-in job")?;
        let id = pushed.id().clone();
        let status = match state
            .producer()
            .wait(ExchangeOauthCode::QUEUE, &id, config.job_wait)
            .await
        {
            Ok(status) => status,
            // This process has as many waiting requests as it may: answer at once.
            // No look at why: at saturation, an answer must cost nothing more.
            Err(jobs::QueueError::Busy) => return Ok(slow(&id)),
            Err(e) => return Err(step_failed("waiting for the sign-in job", e)),
        };
        let Some(status) = status else {
            return Ok(pending(&state, &id, None).await);
        };
        let outcome = match status.state {
            JobState::Done => crate::exchange::outcome(&status),
            JobState::Failed | JobState::Dead => None,
            _ => return Ok(pending(&state, &id, Some(status.state)).await),
        };
        match outcome {
            Some(ExchangeOutcome::SignedIn { user_id, created }) => {
                if claim_once && !claim(&state, &id).await? {
                    return Ok(LoginResult::Unauthorized(body(
                        "invalid_token",
                        "this sign-in was already completed; start a new one",
                    )));
                }
                let Some(user) = store::users::find(state.db(), user_id)
                    .await
                    .or_500("reading the signed-in user")?
                else {
                    return Ok(LoginResult::Unauthorized(body(
                        "invalid_token",
                        "the account no longer exists",
                    )));
                };
                let (id, email) = (user.id, user.email.clone());
                let tokens = issue_tokens(&state, user).await?;
                let event = LoginEvent::SignedIn {
                    provider: "google",
                    created,
                };
                crate::login_log::record(&state, req, id, &email, event).await;
                Ok(LoginResult::Ok(Json(tokens)))
            }
            Some(ExchangeOutcome::Rejected { error }) => Ok(rejected(error)),
            _ => Ok(LoginResult::BadGateway(body(
                "server_error",
                "signing in with Google failed; try again",
            ))),
        }
    }

    /// Start the authorization-code flow with PKCE: the URL to send the user to. Google
    /// redirects to `GOOGLE_REDIRECT_URI` with `code` and `state`; post both to `/api/login`
    /// from the same browser: the state is bound to it by the HttpOnly cookie this answer
    /// sets (`SameSite=Strict`; `__Host-` and `Secure` when `GOOGLE_REDIRECT_URI` is https).
    #[oai(
        path = "/login/google",
        method = "post",
        operation_id = "login_google_start"
    )]
    async fn google_start(
        &self,
        state: Data<&AppState>,
        req: &Request,
    ) -> poem::Result<GoogleStartResult> {
        let config = state.config();
        let Some(client) = &config.google else {
            return Ok(GoogleStartResult::Unavailable(code_flow_not_configured(
                config,
            )));
        };
        if let Some((b, after)) = crate::limits::sign_in(&state, req).await? {
            return Ok(GoogleStartResult::TooMany(b, after));
        }
        let (verifier, challenge) = store::secret::pkce_pair();
        let binding = store::secret::generate(32);
        let token = store::one_time_tokens::issue_oauth_state(
            state.db(),
            &store::one_time_tokens::NewOauthState {
                user_id: None,
                provider: "google",
                redirect_uri: client.redirect_uri.as_str(),
                pkce_verifier: &verifier,
                browser_binding: Some(&binding),
                ttl: STATE_TTL,
            },
        )
        .await
        .or_500("issuing the Google OAuth state")?;
        let url = authorize_url(
            &config.google_authorize_url,
            client,
            GOOGLE_SCOPE,
            &token,
            &challenge,
        );
        let cookie =
            crate::cookies::set(BINDING_COOKIE, &binding, STATE_TTL, secure_cookie(client));
        Ok(GoogleStartResult::Ok(
            Json(GoogleStart {
                authorization_url: url,
                state: token,
                expires_in: STATE_TTL.as_secs(),
            }),
            cookie,
        ))
    }
}

const NOT_CONFIGURED: &str = "Google sign-in is not configured";

fn not_configured() -> LoginResult {
    LoginResult::Unavailable(body("oauth_not_configured", NOT_CONFIGURED))
}

/// Why the redirect (authorization-code) flow is off, for both of its endpoints: Google is
/// not configured at all, or it has no redirect URI (seed 002's `.env` sets only the client
/// id and secret, and signs in with tokens).
fn code_flow_not_configured(config: &crate::state::ApiConfig) -> ErrorJson {
    let message = if config.google_client_id.is_none() {
        NOT_CONFIGURED
    } else {
        "Google sign-in with a code is not configured: set GOOGLE_REDIRECT_URI (sign-in with \
         an access token works without it)"
    };
    body("oauth_not_configured", message)
}

/// The sign-in is still queued or running after the wait: 202 with its id, and what it waits
/// for, in words that are true (a paused queue, no worker, or Google taking its time).
async fn pending(state: &AppState, id: &jobs::JobId, job: Option<JobState>) -> LoginResult {
    match why_pending(state, job).await {
        Some(reason) => LoginResult::Pending(Json(PendingLogin {
            job_id: id.to_string(),
            message: format!("{reason}; repeat the same request later, or poll /api/jobs/{{id}}"),
        })),
        None => slow(id),
    }
}

/// The sign-in runs and Google takes its time.
fn slow(id: &jobs::JobId) -> LoginResult {
    LoginResult::Pending(Json(PendingLogin {
        job_id: id.to_string(),
        message: "Google is slow to answer; repeat the same request, or poll /api/jobs/{id}".into(),
    }))
}

/// Why a sign-in has not started, when it is not Google: its queue is paused, or no worker
/// takes it. `None` when it runs (or either cannot be read: the answer stays the generic one).
async fn why_pending(state: &AppState, job: Option<JobState>) -> Option<&'static str> {
    if matches!(job, Some(JobState::Running | JobState::Retrying)) {
        return None;
    }
    let producer = state.producer();
    if producer
        .is_paused(ExchangeOauthCode::QUEUE)
        .await
        .unwrap_or(false)
    {
        return Some("sign-ins are paused by an administrator (queue exchange_oauth_code)");
    }
    let lease = state.config().job_lease;
    match producer.workers(ExchangeOauthCode::QUEUE, lease).await {
        Ok(workers) if workers.is_empty() => {
            Some("no worker is running to take sign-ins (queue exchange_oauth_code)")
        }
        _ => None,
    }
}

fn rejected(error: ExchangeError) -> LoginResult {
    let message = match error {
        ExchangeError::EmailNotVerified => "Google has not verified this account's email",
        ExchangeError::AccountDisabled => "this account is deactivated",
        ExchangeError::AlreadyLinked => {
            "the account with this email is linked to another Google account"
        }
        ExchangeError::OauthNotConfigured => "Google sign-in is not configured",
        ExchangeError::UserInfoFailed => "Google did not return the profile",
        _ => "Google did not accept the token or code",
    };
    let b = body(error.code(), message);
    match error {
        ExchangeError::EmailNotVerified | ExchangeError::AccountDisabled => {
            LoginResult::Forbidden(b)
        }
        ExchangeError::AlreadyLinked => LoginResult::Conflict(b),
        ExchangeError::OauthNotConfigured => LoginResult::Unavailable(b),
        ExchangeError::UserInfoFailed | ExchangeError::ServerError => LoginResult::BadGateway(b),
        _ => LoginResult::Unauthorized(b),
    }
}

/// Whether the binding cookie is `Secure` with the `__Host-` prefix: a deployment decision,
/// read from configuration (Google sends the browser back to an `https` redirect URI), never
/// from a request, so setting and reading it always agree.
fn secure_cookie(client: &crate::state::PublicClient) -> bool {
    client.redirect_uri.scheme() == "https"
}

/// A secret's SHA-256 in hex: a key that names it without holding it.
fn hex_digest(secret: &str) -> String {
    store::secret::digest(secret)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Hands out the tokens of a sign-in job once: a second claim (a replay) fails.
async fn claim(state: &AppState, id: &jobs::JobId) -> poem::Result<bool> {
    let key = format!("{}:login-claim:{id}", state.producer().prefix());
    let claimed: Option<String> = redis::cmd("SET")
        .arg(&key)
        .arg(1)
        .arg("NX")
        .arg("EX")
        .arg(JOIN_WINDOW.as_secs() * 2)
        .query_async(&mut state.producer().connection())
        .await
        .or_500("claiming the sign-in's tokens")?;
    Ok(claimed.is_some())
}

async fn issue_tokens(state: &AppState, user: store::users::User) -> poem::Result<TokenResponse> {
    let config = state.config();
    let session = store::sessions::start(state.db(), user.id, config.refresh_ttl)
        .await
        .or_500("starting the session")?;
    let (access_token, expires_in) =
        crate::jwt::issue(&config.jwt, user.id, &user.role, session.family_id);
    Ok(TokenResponse {
        access_token,
        refresh_token: session.refresh_token,
        token_type: "Bearer".into(),
        expires_in,
        user: user.into(),
    })
}
