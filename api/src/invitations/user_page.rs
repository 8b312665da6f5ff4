//! One user, as the admin console shows and changes them: `GET /api/users/{id}` (the person,
//! linked accounts, invitation, latest mails, audit trail) and `PATCH /api/users/{id}` (role,
//! active, username).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::InvitationTags;
use super::users::Role;
use crate::auth::AdminAuth;
use crate::error::{ErrorBody, Or500, body};
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Text;
use crate::validate::DisplayName;

/// `GET /api/users/{id}`, `PATCH /api/users/{id}`.
#[derive(Debug)]
pub struct UserPageApi;

/// An account at an OAuth provider linked to the user.
#[derive(Debug, Object)]
pub struct LinkedAccount {
    /// `discord` or `google`.
    pub provider: String,
    /// The provider's id of the account (the Discord id, the Google subject).
    pub subject: String,
    pub provider_username: Option<String>,
    pub email: Option<String>,
    /// The provider vouches for `email`.
    pub email_verified: bool,
    /// When the link was confirmed; an unconfirmed Discord link grants nothing.
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The user's invitation.
#[derive(Debug, Object)]
pub struct InvitationDetail {
    /// `pending`, `sent`, `failed`, `verified`, `expired`, `revoked`.
    pub status: String,
    pub token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The upload that created or last updated it, and its line there.
    pub upload_id: Option<uuid::Uuid>,
    pub upload_row: Option<i32>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One mail to the user.
#[derive(Debug, Object)]
pub struct MailView {
    pub id: i64,
    /// `invitation`, `verification`, `link_confirmation`.
    pub kind: String,
    /// `queued`, `sent`, `retrying`, `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One row of the audit log.
#[derive(Debug, Object)]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who: `api_key`, `api_token:<id>`, `user:<id>`, `job:<queue>`…
    pub actor: String,
    pub action: String,
    /// What it was done to: `user:<id>`, `upload:<id>`, `token:<id>`…
    pub target: Option<String>,
    pub detail: Option<serde_json::Value>,
}

impl From<store::audit::Entry> for AuditEntry {
    fn from(e: store::audit::Entry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
        }
    }
}

/// Everything about one user.
#[derive(Debug, Object)]
pub struct UserDetail {
    pub id: i64,
    pub email: String,
    pub full_name: Option<String>,
    pub username: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub verified: bool,
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
    pub personality: Option<String>,
    pub communication_channel: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub accounts: Vec<LinkedAccount>,
    pub invitation: Option<InvitationDetail>,
    /// The newest 20 mails, newest first.
    pub mails: Vec<MailView>,
    /// The newest 50 audit rows about the user, newest first.
    pub audit: Vec<AuditEntry>,
}

impl From<store::user_page::UserPage> for UserDetail {
    fn from(p: store::user_page::UserPage) -> Self {
        let u = p.user;
        Self {
            id: u.id,
            email: u.email,
            full_name: u.full_name,
            username: u.username,
            role: u.role,
            is_active: u.is_active,
            verified: u.verified,
            verified_at: u.verified_at,
            personality: u.personality,
            communication_channel: u.communication_channel,
            created_at: u.created_at,
            accounts: p
                .accounts
                .into_iter()
                .map(|a| LinkedAccount {
                    provider: a.provider,
                    subject: a.subject,
                    provider_username: a.provider_username,
                    email: a.email,
                    email_verified: a.email_verified,
                    confirmed_at: a.confirmed_at,
                    last_login_at: a.last_login_at,
                    created_at: a.created_at,
                })
                .collect(),
            invitation: p.invitation.map(|i| InvitationDetail {
                status: i.status,
                token_expires_at: i.token_expires_at,
                verified_at: i.verified_at,
                upload_id: i.upload_id,
                upload_row: i.upload_row,
                created_at: i.created_at,
            }),
            mails: p
                .mails
                .into_iter()
                .map(|m| MailView {
                    id: m.id,
                    kind: m.kind,
                    status: m.status,
                    attempts: m.attempts,
                    last_error: m.last_error,
                    sent_at: m.sent_at,
                    created_at: m.created_at,
                })
                .collect(),
            audit: p.audit.into_iter().map(Into::into).collect(),
        }
    }
}

responses! {
    pub enum UserDetailResult {
        200 Ok(Json<Box<UserDetail>>),
        @auth,
        /// No such user (`not_found`).
        404 NotFound(Json<ErrorBody>),
        @bad_request,
    }
}

/// What to change; absent (or null) fields are left as they are.
#[derive(Debug, Object)]
pub struct UserUpdate {
    pub role: Option<Role>,
    /// An inactive user cannot sign in, and their access tokens stop working at once.
    pub is_active: Option<bool>,
    /// 1 to 64 characters, unique without case. A username cannot be removed, only changed.
    pub username: Option<Text<1, 64>>,
}

responses! {
    pub enum UpdateUserResult {
        /// The user as they are now.
        200 Ok(Json<Box<UserDetail>>),
        /// Nothing to change, or the username is not acceptable (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        @auth,
        /// No such user (`not_found`).
        404 NotFound(Json<ErrorBody>),
        /// Someone else has the username (`username_taken`), or the change would leave no
        /// active admin (`last_admin`): nothing changed.
        409 Conflict(Json<ErrorBody>),
        @body,
    }
}

#[OpenApi(tag = "InvitationTags::Invitations")]
impl UserPageApi {
    /// One user: identity, linked accounts, invitation, latest mails and audit trail.
    #[oai(path = "/users/:id", method = "get", operation_id = "get_user")]
    async fn user(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        id: Path<i64>,
    ) -> poem::Result<UserDetailResult> {
        Ok(match read(&state, id.0).await? {
            Some(detail) => UserDetailResult::Ok(Json(Box::new(detail))),
            None => UserDetailResult::NotFound(body("not_found", "no such user")),
        })
    }

    /// Change a user's role, active flag or username. Recorded in the audit log with the
    /// values before and after, in the same transaction.
    #[oai(path = "/users/:id", method = "patch", operation_id = "update_user")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        id: Path<i64>,
        change: Json<UserUpdate>,
    ) -> poem::Result<UpdateUserResult> {
        let change = change.0;
        let username = match change
            .username
            .as_deref()
            .map(|u| DisplayName::parse(u, 64))
        {
            None => None,
            Some(Ok(name)) => Some(name),
            Some(Err(e)) => {
                return Ok(UpdateUserResult::BadRequest(body(
                    "invalid_request",
                    format!("username {e}"),
                )));
            }
        };
        if change.role.is_none() && change.is_active.is_none() && username.is_none() {
            return Ok(UpdateUserResult::BadRequest(body(
                "invalid_request",
                "give at least one of role, is_active, username",
            )));
        }
        let wanted = store::users::UserChange {
            role: change.role.map(Role::as_str),
            is_active: change.is_active,
            username: username.as_ref().map(|u| u.as_str()),
        };
        match store::users::update(state.db(), id.0, &wanted, &auth.admin().actor)
            .await
            .or_500("changing the user")?
        {
            store::users::ChangeOutcome::Changed { .. } => {}
            store::users::ChangeOutcome::NoSuchUser => {
                return Ok(UpdateUserResult::NotFound(body(
                    "not_found",
                    "no such user",
                )));
            }
            store::users::ChangeOutcome::UsernameTaken => {
                return Ok(UpdateUserResult::Conflict(body(
                    "username_taken",
                    "another user has this username",
                )));
            }
            store::users::ChangeOutcome::LastAdmin => {
                return Ok(UpdateUserResult::Conflict(body(
                    "last_admin",
                    "this is the last active admin: make another user an admin first",
                )));
            }
        }
        Ok(match read(&state, id.0).await? {
            Some(detail) => UpdateUserResult::Ok(Json(Box::new(detail))),
            // Deleted between the change and this read.
            None => UpdateUserResult::NotFound(body("not_found", "no such user")),
        })
    }
}

async fn read(state: &AppState, id: i64) -> poem::Result<Option<UserDetail>> {
    Ok(store::user_page::read(state.db(), id)
        .await
        .or_500("reading the user's page")?
        .map(Into::into))
}
