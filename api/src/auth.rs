//! Who may call what. Three security schemes, as in the seeds:
//! - `ApiKey`: the `x-api-key` header holding the admin key `SECRET_KEY` (seed 003);
//! - `ApiToken`: `Authorization: Bearer cnc_…`, an admin-created API token (seed 004);
//! - `BearerJWT`: `Authorization: Bearer <jwt>`, the access token of a signed-in user
//!   (seed 002), for the user endpoints.
//!
//! Admin endpoints take [`AdminAuth`]: either of the first two; the `ApiToken` scheme also
//! accepts the access JWT of an active user with role `admin` (seed 004's role-based access).
//!
//! Failed admin authentication is counted here per client address (shared across replicas);
//! an address over `ADMIN_FAILURES_PER_IP` in the window is refused with 429 by
//! [`crate::middleware::Throttle`] before any credential it sends is looked at, right key or
//! not, until the window ends. Below that, a right key works at once (no delay is added), and
//! a right key from any other address is never affected.

use std::collections::HashMap;

use poem::Request;
use poem::http::{Method, StatusCode};
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::registry::{MetaApi, Registry};
use poem_openapi::{ApiExtractor, OpenApi, SecurityScheme};

use crate::state::AppState;

/// An authenticated administrator, and how they proved it (for logs and the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// `api_key`, or `api_token:<id>`.
    pub actor: String,
}

/// The admin API key of seed 003, sent as `x-api-key`.
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "ApiKey",
    ty = "api_key",
    key_name = "x-api-key",
    key_in = "header",
    checker = "check_api_key"
)]
pub struct AdminApiKey(pub Admin);

/// An admin API token (seed 004), sent as `Authorization: Bearer cnc_…`; the access JWT of a
/// user whose role is `admin` is accepted in its place.
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "ApiToken",
    ty = "bearer",
    bearer_format = "opaque",
    checker = "check_api_token"
)]
pub struct AdminApiToken(pub Admin);

/// Admin endpoints accept either the API key or an admin API token.
#[derive(Debug, SecurityScheme)]
pub enum AdminAuth {
    ApiKey(AdminApiKey),
    ApiToken(AdminApiToken),
}

impl AdminAuth {
    pub fn admin(&self) -> &Admin {
        match self {
            AdminAuth::ApiKey(AdminApiKey(a)) | AdminAuth::ApiToken(AdminApiToken(a)) => a,
        }
    }
}

/// A user's access JWT (seed 002), sent as `Authorization: Bearer <jwt>`.
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "BearerJWT",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_jwt"
)]
pub struct UserJwt(pub store::users::User);

/// A valid access token of an active user in a live session. The user and the session are
/// re-read, so deactivation, logout and a revoked session take effect at once, not when the
/// token expires.
async fn check_jwt(req: &Request, bearer: Bearer) -> poem::Result<store::users::User> {
    let state = state(req)?;
    let claims = crate::jwt::verify(&state.config().jwt, &bearer.token).map_err(|e| {
        tracing::debug!(error = %e, "access token refused");
        unauthorized()
    })?;
    let user_id: i64 = claims.sub.parse().map_err(|_| unauthorized())?;
    let session: uuid::Uuid = claims.sid.parse().map_err(|_| unauthorized())?;
    match store::sessions::live_user(state.db(), user_id, session).await {
        Ok(Some(user)) if user.is_active => Ok(user),
        Ok(_) => Err(unauthorized()),
        Err(e) => {
            tracing::error!(error = %e, "cannot load the user of an access token");
            Err(credentials_unchecked(e))
        }
    }
}

/// A database failure while checking credentials: 503 with `Retry-After` when the database
/// cannot be reached, else an internal error.
fn credentials_unchecked(e: store::StoreError) -> poem::Error {
    if store::is_unavailable(&e) {
        crate::error::database_unavailable("checking credentials", e)
    } else {
        crate::error::step_failed("checking credentials", e)
    }
}

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn unauthorized() -> poem::Error {
    poem::Error::from_status(StatusCode::UNAUTHORIZED)
}

async fn check_api_key(req: &Request, key: ApiKey) -> poem::Result<Admin> {
    let state = state(req)?;
    let checked = admin_key(state, &key.key);
    if checked.is_err() {
        failed(req, state).await;
    }
    checked
}

/// Counts a failed admin authentication of the request's address.
async fn failed(req: &Request, state: &AppState) {
    let config = state.config();
    let client = crate::client::ClientKey::of(req, &config.trusted_proxies);
    let limit = config.limits.admin_failures();
    if let Err(e) = state.limiter().hit(&[(limit, client.0.as_str())]).await {
        tracing::error!(error = %e, "cannot count a failed admin authentication");
    }
}

/// The admin key (`SECRET_KEY`), compared in constant time.
fn admin_key(state: &AppState, key: &str) -> poem::Result<Admin> {
    // Digests first: equal lengths, so the comparison reveals nothing about the key's length.
    let presented = store::secret::digest(key);
    let expected = store::secret::digest(state.secret_key().expose());
    if store::secret::constant_time_eq(&presented, &expected) {
        Ok(Admin {
            actor: "api_key".into(),
        })
    } else {
        Err(unauthorized())
    }
}

/// Any admin credential given as one secret (the job board's Basic-auth password): the admin
/// key, an admin API token, or an admin's access JWT.
pub(crate) async fn admin_secret(req: &Request, secret: &str) -> poem::Result<Admin> {
    let state = state(req)?;
    match admin_key(state, secret) {
        Ok(admin) => Ok(admin),
        Err(_) => {
            let bearer = Bearer {
                token: secret.to_owned(),
            };
            api_token(req, state, bearer).await
        }
    }
}

/// An admin API token, or (role-based access, seed 004) the access JWT of an active user whose
/// role is `admin`: a JWT of any other role is 403.
async fn check_api_token(req: &Request, bearer: Bearer) -> poem::Result<Admin> {
    let state = state(req)?;
    api_token(req, state, bearer).await
}

/// [`check_api_token`], counting the failure when the credential is a guess: a wrong or
/// unknown API token, or a "JWT" we did not sign. A JWT we signed that no longer works
/// (expired, its session ended: a dashboard left open) is not a guess.
async fn api_token(req: &Request, state: &AppState, bearer: Bearer) -> poem::Result<Admin> {
    let ours = !bearer.token.starts_with(store::api_tokens::TOKEN_PREFIX)
        && crate::jwt::signed_by_us(&state.config().jwt, &bearer.token);
    let checked = api_token_unthrottled(req, state, bearer).await;
    if !ours
        && checked
            .as_ref()
            .is_err_and(|e| e.status() == StatusCode::UNAUTHORIZED)
    {
        failed(req, state).await;
    }
    checked
}

async fn api_token_unthrottled(
    req: &Request,
    state: &AppState,
    bearer: Bearer,
) -> poem::Result<Admin> {
    if !bearer.token.starts_with(store::api_tokens::TOKEN_PREFIX) {
        let user = check_jwt(req, bearer).await?;
        return if user.role == "admin" {
            Ok(Admin {
                actor: format!("user:{}", user.id),
            })
        } else {
            Err(poem::Error::from_status(StatusCode::FORBIDDEN))
        };
    }
    match store::api_tokens::authenticate(state.db(), &bearer.token).await {
        Ok(Some(token)) if token.role == "admin" => Ok(Admin {
            actor: format!("api_token:{}", token.id),
        }),
        Ok(Some(_)) => Err(poem::Error::from_status(StatusCode::FORBIDDEN)),
        Ok(None) => Err(unauthorized()),
        Err(e) => {
            tracing::error!(error = %e, "cannot check an API token");
            Err(credentials_unchecked(e))
        }
    }
}

/// Puts every security scheme into the spec, including those that no endpoint of this build
/// uses yet, so clients can rely on their names.
#[derive(Debug)]
pub(crate) struct SecuritySchemes;

impl OpenApi for SecuritySchemes {
    fn meta() -> Vec<MetaApi> {
        Vec::new()
    }

    fn register(registry: &mut Registry) {
        <AdminApiKey as ApiExtractor>::register(registry);
        <AdminApiToken as ApiExtractor>::register(registry);
        <UserJwt as ApiExtractor>::register(registry);
    }

    fn add_routes(
        self,
        _: &mut HashMap<String, HashMap<Method, poem::endpoint::BoxEndpoint<'static>>>,
    ) {
    }
}
