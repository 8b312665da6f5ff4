//! Sign-in and sessions (seed 002): Google sign-in (an access token the client holds, or an
//! authorization code with PKCE), our access JWT plus an opaque refresh token, rotation with
//! reuse detection, logout, the profile and its username.
//!
//! Google is called by the `exchange_oauth_code` job; the request waits for it (bounded). When
//! the job outlives the wait the answer is 202 with the job id. Repeating a code sign-in joins
//! its job instead of starting another, and hands that job's tokens out once only (a replayed
//! code gets nothing); an access-token sign-in is simply checked again.

use std::time::Duration;

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use jobs::{ExchangeError, ExchangeOauthCode, ExchangeOutcome, Job, JobState, OauthGrant};
use jobs::{OauthProvider, PushOptions};

use crate::auth::UserJwt;
use crate::error::{ErrorBody, body, internal};
use crate::onboarding::{STATE_TTL, authorize_url};
use crate::responses::responses;
use crate::state::AppState;

/// A timed-out sign-in may be joined by repeating the request within this long.
const JOIN_WINDOW: Duration = Duration::from_secs(600);
/// Requests with one access token share one check this long.
const TOKEN_JOIN_WINDOW: Duration = Duration::from_secs(30);
/// The cookie binding a Google code flow to the browser that started it.
const BINDING_COOKIE: &str = "cnc_oauth";
const GOOGLE_SCOPE: &str = "openid email profile";

#[derive(Debug, Tags)]
enum SessionTags {
    /// Google sign-in and sessions (seed 002)
    Sessions,
}

#[derive(Debug)]
pub struct SessionsApi;

/// Either `access_token` (a Google access token issued to our client), or `code` and `state`
/// (from the authorization URL of `POST /api/login/google`).
#[derive(Debug, Object)]
pub struct LoginRequest {
    pub access_token: Option<String>,
    pub code: Option<String>,
    pub state: Option<String>,
}

/// The signed-in user (seed 002's `UserInfo`).
#[derive(Debug, Object)]
pub struct UserInfo {
    pub id: i64,
    /// Full name, else username, else email.
    pub name: String,
    pub email: String,
    pub username: Option<String>,
    pub picture: Option<String>,
    pub role: String,
    pub verified: bool,
}

impl From<store::users::User> for UserInfo {
    fn from(u: store::users::User) -> Self {
        Self {
            id: u.id,
            name: u
                .full_name
                .clone()
                .or(u.username.clone())
                .unwrap_or(u.email.clone()),
            email: u.email,
            username: u.username,
            picture: None,
            role: u.role,
            verified: u.verified,
        }
    }
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
        #[oai(status = 200)]
        Ok(Json<TokenResponse>),
        /// Google is slow: the sign-in continues in the background.
        #[oai(status = 202)]
        Pending(Json<PendingLogin>),
        /// Neither or both of `access_token` and `code`+`state` (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// The token, code or state is invalid, expired, replayed, or not issued to this client
        /// (`invalid_token`, `token_exchange_failed`), or the state was started in another browser
        /// (`state_not_bound`: the binding cookie of `POST /api/login/google` is missing).
        #[oai(status = 401)]
        Unauthorized(Json<ErrorBody>),
        /// Google does not vouch for the email (`email_not_verified`), or the account is
        /// deactivated (`account_disabled`).
        #[oai(status = 403)]
        Forbidden(Json<ErrorBody>),
        /// The account with this email is linked to another Google account (`already_linked`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
        /// Google could not be asked (`user_info_failed`, `server_error`).
        #[oai(status = 502)]
        BadGateway(Json<ErrorBody>),
        /// Google sign-in is not configured (`oauth_not_configured`).
        #[oai(status = 503)]
        Unavailable(Json<ErrorBody>),
        @body,
        /// Too many sign-ins from this address (`too_many_attempts`).
        #[oai(status = 429)]
        TooMany(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
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
        #[oai(status = 200)]
        Ok(Json<GoogleStart>, #[oai(header = "Set-Cookie")] String),
        /// `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`, `GOOGLE_REDIRECT_URI` are not all set.
        #[oai(status = 503)]
        Unavailable(Json<ErrorBody>),
        /// Too many sign-ins from this address (`too_many_attempts`).
        #[oai(status = 429)]
        TooMany(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    }
}

#[derive(Debug, Object)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Object)]
pub struct RefreshedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

responses! {
    pub enum RefreshResult {
        #[oai(status = 200)]
        Ok(Json<RefreshedTokens>),
        /// Unknown, expired or revoked (`invalid_refresh_token`), or already used: the whole
        /// session is now revoked (`refresh_token_reused`); sign in again.
        #[oai(status = 401)]
        Unauthorized(Json<ErrorBody>),
        @bad_request,
        @body,
    }
}

#[derive(Debug, Object)]
pub struct Done {
    pub success: bool,
    pub message: String,
}

#[derive(Debug, Object)]
pub struct UsernameRequest {
    /// 1 to 64 characters, no surrounding spaces or control characters; unique regardless of
    /// case.
    pub new_username: String,
}

responses! {
    pub enum UsernameResult {
        #[oai(status = 200)]
        Ok(Json<UserInfo>),
        /// The username is not acceptable (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        @signed_in,
        /// Someone else has it (`username_taken`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
        @body,
    }
}

responses! {
    pub enum LogoutResult {
        #[oai(status = 200)]
        Ok(Json<Done>),
        @bad_request,
        @body,
    }
}

responses! {
    pub enum MeResult {
        #[oai(status = 200)]
        Ok(Json<UserInfo>),
        @signed_in,
    }
}

#[OpenApi(tag = "SessionTags::Sessions")]
impl SessionsApi {
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
        let client = crate::client::ClientKey::of(req, &config.trusted_proxies);
        if let Some(wait) =
            crate::limits::check(&state, &[(config.limits.sign_in(), client.0.as_str())]).await?
        {
            let (b, after) = crate::limits::too_many(wait);
            return Ok(LoginResult::TooMany(b, after));
        }
        let r = request.0;
        let (job, options, claim_once) = match (r.access_token, r.code, r.state) {
            (Some(token), None, None) if !token.is_empty() && token.len() <= 4096 => {
                if config.google.is_none() {
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
                    return Ok(not_configured());
                };
                let db = state.db();
                let consumed = match store::one_time_tokens::consume_oauth_state(db, &st, "google")
                    .await
                    .map_err(internal)?
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
                    .map_err(internal)?,
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
            .map_err(internal)?;
        let id = pushed.id().clone();
        let status = match state
            .producer()
            .wait(ExchangeOauthCode::QUEUE, &id, config.job_wait)
            .await
        {
            Ok(status) => status,
            // This process has as many waiting requests as it may: answer at once.
            Err(jobs::QueueError::Busy) => return Ok(pending(&id)),
            Err(e) => return Err(internal(e)),
        };
        let Some(status) = status else {
            return Ok(pending(&id));
        };
        let outcome = match status.state {
            JobState::Done => status
                .result
                .and_then(|r| serde_json::from_value::<ExchangeOutcome>(r).ok()),
            JobState::Failed | JobState::Dead => None,
            _ => return Ok(pending(&id)),
        };
        match outcome {
            Some(ExchangeOutcome::SignedIn { user_id, .. }) => {
                if claim_once && !claim(&state, &id).await? {
                    return Ok(LoginResult::Unauthorized(body(
                        "invalid_token",
                        "this sign-in was already completed; start a new one",
                    )));
                }
                let Some(user) = store::users::find(state.db(), user_id)
                    .await
                    .map_err(internal)?
                else {
                    return Ok(LoginResult::Unauthorized(body(
                        "invalid_token",
                        "the account no longer exists",
                    )));
                };
                let tokens = issue_tokens(&state, user).await?;
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
            return Ok(GoogleStartResult::Unavailable(body(
                "oauth_not_configured",
                "Google sign-in is not configured",
            )));
        };
        let caller = crate::client::ClientKey::of(req, &config.trusted_proxies);
        if let Some(wait) =
            crate::limits::check(&state, &[(config.limits.sign_in(), caller.0.as_str())]).await?
        {
            let (b, after) = crate::limits::too_many(wait);
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
        .map_err(internal)?;
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

    /// Trade a refresh token for a new access token and the next refresh token. A refresh
    /// token works once: presenting it again revokes the whole session.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        request: Json<RefreshRequest>,
    ) -> poem::Result<RefreshResult> {
        let config = state.config();
        let rotation =
            store::sessions::rotate(state.db(), &request.refresh_token, config.refresh_ttl)
                .await
                .map_err(internal)?;
        match rotation {
            store::sessions::Rotation::Rotated(issued) => {
                let user = store::users::find(state.db(), issued.user_id)
                    .await
                    .map_err(internal)?;
                let role = user.map(|u| u.role).unwrap_or_default();
                let (access_token, expires_in) =
                    crate::jwt::issue(&config.jwt, issued.user_id, &role, issued.family_id);
                Ok(RefreshResult::Ok(Json(RefreshedTokens {
                    access_token,
                    refresh_token: issued.refresh_token,
                    token_type: "Bearer".into(),
                    expires_in,
                })))
            }
            store::sessions::Rotation::Reused => {
                tracing::warn!("refresh token reused; its session is revoked");
                Ok(RefreshResult::Unauthorized(body(
                    "refresh_token_reused",
                    "this refresh token was already used; the session is revoked, sign in again",
                )))
            }
            store::sessions::Rotation::Invalid => Ok(RefreshResult::Unauthorized(body(
                "invalid_refresh_token",
                "the refresh token is unknown, expired or revoked",
            ))),
        }
    }

    /// End the session of a refresh token (all its rotations). Always succeeds, so it tells
    /// nothing about tokens it does not know.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        request: Json<RefreshRequest>,
    ) -> poem::Result<LogoutResult> {
        store::sessions::revoke(state.db(), &request.refresh_token)
            .await
            .map_err(internal)?;
        Ok(LogoutResult::Ok(Json(Done {
            success: true,
            message: "signed out".into(),
        })))
    }

    /// Change the signed-in user's username.
    #[oai(
        path = "/update_username",
        method = "post",
        operation_id = "update_username"
    )]
    async fn update_username(
        &self,
        state: Data<&AppState>,
        auth: UserJwt,
        request: Json<UsernameRequest>,
    ) -> poem::Result<UsernameResult> {
        let user = auth.0;
        if let Err(e) = crate::validate::display_text(&request.new_username, 64) {
            return Ok(UsernameResult::BadRequest(body(
                "invalid_request",
                format!("new_username {e}"),
            )));
        }
        match store::users::set_username(state.db(), user.id, &request.new_username)
            .await
            .map_err(internal)?
        {
            store::users::UsernameChange::Changed => {}
            store::users::UsernameChange::Taken => {
                return Ok(UsernameResult::Conflict(body(
                    "username_taken",
                    "this username is taken",
                )));
            }
            store::users::UsernameChange::NoSuchUser => {
                return Ok(UsernameResult::Unauthorized(body(
                    "unauthorized",
                    "the account no longer exists",
                )));
            }
        }
        let user = store::users::find(state.db(), user.id)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("user vanished"))?;
        Ok(UsernameResult::Ok(Json(user.into())))
    }

    /// The signed-in user.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, auth: UserJwt) -> MeResult {
        MeResult::Ok(Json(auth.0.into()))
    }
}

fn not_configured() -> LoginResult {
    LoginResult::Unavailable(body(
        "oauth_not_configured",
        "Google sign-in is not configured",
    ))
}

fn pending(id: &jobs::JobId) -> LoginResult {
    LoginResult::Pending(Json(PendingLogin {
        job_id: id.to_string(),
        message: "Google is slow to answer; repeat the same request, or poll /api/jobs/{id}".into(),
    }))
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
        .map_err(internal)?;
    Ok(claimed.is_some())
}

async fn issue_tokens(state: &AppState, user: store::users::User) -> poem::Result<TokenResponse> {
    let config = state.config();
    let session = store::sessions::start(state.db(), user.id, config.refresh_ttl)
        .await
        .map_err(internal)?;
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
