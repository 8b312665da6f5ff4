//! The signed-in user: `GET /api/me`, and `POST /api/update_username`.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::SessionTags;
use crate::auth::UserJwt;
use crate::error::{ErrorBody, Or500, body, step_failed};
use crate::login_log::LoginEvent;
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Text;
use crate::validate::DisplayName;

/// `POST /api/update_username`, `GET /api/me`.
#[derive(Debug)]
pub struct ProfileApi;

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
pub struct UsernameRequest {
    /// 1 to 64 characters, no surrounding spaces or control characters; unique regardless of
    /// case.
    pub new_username: Text<1, 64>,
}

responses! {
    pub enum UsernameResult {
        200 Ok(Json<UserInfo>),
        /// The username is not acceptable (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        @signed_in,
        /// Someone else has it (`username_taken`).
        409 Conflict(Json<ErrorBody>),
        @body,
    }
}

responses! {
    pub enum MeResult {
        200 Ok(Json<UserInfo>),
        @signed_in,
    }
}

#[OpenApi(tag = "SessionTags::Sessions")]
impl ProfileApi {
    /// Change the signed-in user's username.
    #[oai(
        path = "/update_username",
        method = "post",
        operation_id = "update_username"
    )]
    async fn update_username(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: UserJwt,
        request: Json<UsernameRequest>,
    ) -> poem::Result<UsernameResult> {
        let user = auth.0;
        let username = match DisplayName::parse(&request.new_username, 64) {
            Ok(username) => username,
            Err(e) => {
                return Ok(UsernameResult::BadRequest(body(
                    "invalid_request",
                    format!("new_username {e}"),
                )));
            }
        };
        match store::users::set_username(state.db(), user.id, username.as_str())
            .await
            .or_500("setting the username")?
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
            .or_500("reading the renamed user")?
            .ok_or_else(|| step_failed("reading the renamed user", "it vanished"))?;
        let event = LoginEvent::UsernameChanged {
            to: username.as_str(),
        };
        crate::login_log::record(&state, req, user.id, &user.email, event).await;
        Ok(UsernameResult::Ok(Json(user.into())))
    }

    /// The signed-in user.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, auth: UserJwt) -> MeResult {
        MeResult::Ok(Json(auth.0.into()))
    }
}
