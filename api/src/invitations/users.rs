//! The user list, and what an admin changes about users: a new invitation token (the old one
//! dies, the mail is re-sent), the deletion of one user or of every member.
//!
//! Two API structs: the spec lists the user list first and the changes last, after the other
//! invitation endpoints, and poem-openapi lists paths in the order the structs register.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use super::InvitationTags;
use crate::auth::AdminAuth;
use crate::error::{ErrorBody, Or500, body};
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Count;

/// The confirmation `DELETE /api/all` requires, typed exactly.
pub const DELETE_ALL_CONFIRMATION: &str = "DELETE ALL USERS";

/// [`DELETE_ALL_CONFIRMATION`] as the spec lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteAll;

impl crate::text::Fixed for DeleteAll {
    const TEXT: &'static str = DELETE_ALL_CONFIRMATION;
}

/// `GET /api/users`.
#[derive(Debug)]
pub struct UsersApi;

/// `POST /api/refresh-token/{id}`, `DELETE /api/all`, `DELETE /api/{id}`.
#[derive(Debug)]
pub struct UserChangesApi;

#[derive(Debug, Object)]
pub struct InvitationInfo {
    /// `pending`, `sent`, `failed`, `verified`, `expired`, `revoked`.
    pub status: String,
    pub token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The latest email to the user and how it went.
#[derive(Debug, Object)]
pub struct DeliveryInfo {
    /// `invitation`, `verification`, `link_confirmation`.
    pub kind: String,
    /// `queued`, `sent`, `retrying`, `failed`.
    pub status: String,
    pub last_error: Option<String>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Object)]
pub struct UserListItem {
    pub id: i64,
    pub email: String,
    pub full_name: Option<String>,
    pub username: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub verified: bool,
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The linked Discord account.
    pub discord_id: Option<String>,
    pub invitation: Option<InvitationInfo>,
    pub last_email: Option<DeliveryInfo>,
}

impl From<store::users::UserSummary> for UserListItem {
    fn from(u: store::users::UserSummary) -> Self {
        Self {
            id: u.id,
            email: u.email,
            full_name: u.full_name,
            username: u.username,
            role: u.role,
            is_active: u.is_active,
            verified: u.verified,
            verified_at: u.verified_at,
            created_at: u.created_at,
            discord_id: u.discord_id,
            invitation: u.invitation_status.map(|status| InvitationInfo {
                status,
                token_expires_at: u.token_expires_at,
            }),
            last_email: match (u.email_kind, u.email_status) {
                (Some(kind), Some(status)) => Some(DeliveryInfo {
                    kind,
                    status,
                    last_error: u.email_error,
                    sent_at: u.email_sent_at,
                }),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Object)]
pub struct UserPage {
    pub users: Vec<UserListItem>,
    pub page: u32,
    pub per_page: u32,
    /// Users matching the filters, on all pages.
    pub total: i64,
}

responses! {
    pub enum UsersResult {
        200 Ok(Json<UserPage>),
        /// A filter or page parameter is invalid (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        @auth,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Sent,
    Failed,
    Verified,
    Expired,
    Revoked,
}

impl InvitationStatus {
    fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Sent => "sent",
            InvitationStatus::Failed => "failed",
            InvitationStatus::Verified => "verified",
            InvitationStatus::Expired => "expired",
            InvitationStatus::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Role {
    Admin,
    PersonalOnly,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::PersonalOnly => "personal_only",
        }
    }
}

#[derive(Debug, Object)]
pub struct Reissued {
    pub success: bool,
    pub message: String,
    pub user_id: i64,
    /// The queued invitation mail.
    pub delivery_id: i64,
    pub job_id: String,
}

responses! {
    pub enum ReissueResult {
        200 Ok(Json<Reissued>),
        @auth,
        404 NotFound(Json<ErrorBody>),
        @bad_request,
    }
}

#[derive(Debug, Object)]
pub struct Deleted {
    pub success: bool,
    pub deleted: u64,
    pub message: String,
}

responses! {
    pub enum DeleteResult {
        200 Ok(Json<Deleted>),
        @auth,
        404 NotFound(Json<ErrorBody>),
        @bad_request,
    }
}

responses! {
    pub enum DeleteAllResult {
        200 Ok(Json<Deleted>),
        /// The confirmation is missing or wrong (`confirmation_required`): nothing was deleted.
        400 BadRequest(Json<ErrorBody>),
        @auth,
    }
}

#[OpenApi(tag = "InvitationTags::Invitations")]
impl UsersApi {
    /// Users, in id order, with their Discord link, invitation and latest email.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    async fn users(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Page number, from 1.
        #[oai(default = "default_page")]
        page: Query<Count<1, { u32::MAX }>>,
        /// Users per page, 1 to 500.
        #[oai(default = "default_per_page")]
        per_page: Query<Count<1, 500>>,
        verified: Query<Option<bool>>,
        role: Query<Option<Role>>,
        /// Invitation status.
        status: Query<Option<InvitationStatus>>,
        /// Part of the email, name or username, without case, or a linked Discord id
        /// exactly.
        q: Query<Option<String>>,
    ) -> poem::Result<UsersResult> {
        if page.0.0 == 0 || per_page.0.0 == 0 || per_page.0.0 > 500 {
            return Ok(UsersResult::BadRequest(body(
                "invalid_request",
                "page starts at 1; per_page is 1 to 500",
            )));
        }
        let filter = store::users::UserFilter {
            verified: verified.0,
            role: role.0.map(|r| r.as_str().to_owned()),
            invitation_status: status.0.map(|s| s.as_str().to_owned()),
            search: q.0.filter(|s| !s.is_empty()),
        };
        // No user's text holds a NUL, and Postgres refuses one in a query: nothing matches.
        if filter.search.as_deref().is_some_and(|q| q.contains('\0')) {
            return Ok(UsersResult::Ok(Json(UserPage {
                users: Vec::new(),
                page: page.0.0,
                per_page: per_page.0.0,
                total: 0,
            })));
        }
        let offset = i64::from(page.0.0 - 1) * i64::from(per_page.0.0);
        let (users, total) =
            store::users::list(state.db(), &filter, i64::from(per_page.0.0), offset)
                .await
                .or_500("listing users")?;
        Ok(UsersResult::Ok(Json(UserPage {
            users: users.into_iter().map(Into::into).collect(),
            page: page.0.0,
            per_page: per_page.0.0,
            total,
        })))
    }
}

#[OpenApi(tag = "InvitationTags::Invitations")]
impl UserChangesApi {
    /// Issue a new invitation token to a user: the old one dies now, the mail is re-sent.
    #[oai(
        path = "/refresh-token/:id",
        method = "post",
        operation_id = "refresh_invitation_token"
    )]
    async fn refresh_token(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        id: Path<i64>,
    ) -> poem::Result<ReissueResult> {
        let Some(delivery_id) = store::invitations::reissue(state.db(), id.0)
            .await
            .or_500("re-issuing the invitation token")?
        else {
            return Ok(ReissueResult::NotFound(body("not_found", "no such user")));
        };
        let pushed = state
            .producer()
            .push(&jobs::SendEmail { delivery_id })
            .await
            .or_500("pushing the invitation mail")?;
        state
            .audit(
                &auth.admin().actor,
                "invitation_token_reissued",
                Some(&format!("user:{}", id.0)),
                serde_json::json!({ "delivery_id": delivery_id }),
            )
            .await?;
        Ok(ReissueResult::Ok(Json(Reissued {
            success: true,
            message: "the old token is revoked; a new invitation mail is on its way".into(),
            user_id: id.0,
            delivery_id,
            job_id: pushed.id().to_string(),
        })))
    }

    /// Delete every user except admins. Requires `confirm=DELETE ALL USERS`.
    #[oai(path = "/all", method = "delete", operation_id = "delete_all_users")]
    async fn delete_all(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// Must be exactly `DELETE ALL USERS`.
        confirm: Query<Option<crate::text::Phrase<DeleteAll>>>,
    ) -> poem::Result<DeleteAllResult> {
        if !confirm.0.is_some_and(|c| c.is_given()) {
            return Ok(DeleteAllResult::BadRequest(body(
                "confirmation_required",
                format!(
                    "add ?confirm={DELETE_ALL_CONFIRMATION} (URL-encoded) to delete every user"
                ),
            )));
        }
        let deleted = store::users::delete_all_members(state.db())
            .await
            .or_500("deleting every member")?;
        state
            .audit(
                &auth.admin().actor,
                "all_users_deleted",
                None,
                serde_json::json!({ "deleted": deleted }),
            )
            .await?;
        Ok(DeleteAllResult::Ok(Json(Deleted {
            success: true,
            deleted,
            message: format!("{deleted} users deleted (admins are kept)"),
        })))
    }

    /// Delete one user and everything about them.
    #[oai(path = "/:id", method = "delete", operation_id = "delete_user")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        id: Path<i64>,
    ) -> poem::Result<DeleteResult> {
        if !store::users::delete(state.db(), id.0)
            .await
            .or_500("deleting the user")?
        {
            return Ok(DeleteResult::NotFound(body("not_found", "no such user")));
        }
        state
            .audit(
                &auth.admin().actor,
                "user_deleted",
                Some(&format!("user:{}", id.0)),
                serde_json::Value::Null,
            )
            .await?;
        Ok(DeleteResult::Ok(Json(Deleted {
            success: true,
            deleted: 1,
            message: "user deleted".into(),
        })))
    }
}

fn default_page() -> Count<1, { u32::MAX }> {
    Count(1)
}

fn default_per_page() -> Count<1, 500> {
    Count(100)
}
