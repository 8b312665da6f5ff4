//! Sessions after sign-in: `POST /api/refresh` trades a refresh token for the next one (a
//! token presented twice revokes its whole session), `POST /api/logout` ends a session.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::SessionTags;
use crate::error::{ErrorBody, Or500, body};
use crate::login_log::LoginEvent;
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Text;

/// `POST /api/refresh`, `POST /api/logout`.
#[derive(Debug)]
pub struct RefreshApi;

#[derive(Debug, Object)]
pub struct RefreshRequest {
    pub refresh_token: Text,
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
        200 Ok(Json<RefreshedTokens>),
        /// Unknown, expired or revoked (`invalid_refresh_token`), or already used: the whole
        /// session is now revoked (`refresh_token_reused`); sign in again.
        401 Unauthorized(Json<ErrorBody>),
        @bad_request,
        @body,
    }
}

#[derive(Debug, Object)]
pub struct Done {
    pub success: bool,
    pub message: String,
}

responses! {
    pub enum LogoutResult {
        200 Ok(Json<Done>),
        @bad_request,
        @body,
    }
}

#[OpenApi(tag = "SessionTags::Sessions")]
impl RefreshApi {
    /// Trade a refresh token for a new access token and the next refresh token. A refresh
    /// token works once: presenting it again revokes the whole session.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        req: &Request,
        request: Json<RefreshRequest>,
    ) -> poem::Result<RefreshResult> {
        let config = state.config();
        let rotation =
            store::sessions::rotate(state.db(), &request.refresh_token, config.refresh_ttl)
                .await
                .or_500("rotating the refresh token")?;
        match rotation {
            store::sessions::Rotation::Rotated(issued) => {
                let user = store::users::find(state.db(), issued.user_id)
                    .await
                    .or_500("reading the session's user")?;
                let (access_token, expires_in) = crate::jwt::issue(
                    &config.jwt,
                    issued.user_id,
                    user.as_ref().map_or("", |u| u.role.as_str()),
                    issued.family_id,
                );
                if let Some(user) = &user {
                    let event = LoginEvent::Refreshed;
                    crate::login_log::record(&state, req, user.id, &user.email, event).await;
                }
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
        req: &Request,
        request: Json<RefreshRequest>,
    ) -> poem::Result<LogoutResult> {
        let ended = store::sessions::revoke(state.db(), &request.refresh_token)
            .await
            .or_500("revoking the session")?;
        if let Some(user_id) = ended {
            let user = store::users::find(state.db(), user_id)
                .await
                .or_500("reading the signed-out user")?;
            if let Some(user) = user {
                let event = LoginEvent::SignedOut;
                crate::login_log::record(&state, req, user.id, &user.email, event).await;
            }
        }
        Ok(LogoutResult::Ok(Json(Done {
            success: true,
            message: "signed out".into(),
        })))
    }
}
