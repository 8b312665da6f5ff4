//! Admin API tokens (seed 004): created by an admin, shown once, stored hashed, listed with
//! their last use, revoked at once.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use crate::auth::AdminAuth;
use crate::error::{ErrorBody, Or500, body};
use crate::invitations::users::Role;
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Text;
use crate::validate::DisplayName;

#[derive(Debug, Tags)]
enum TokenTags {
    /// Admin API tokens (seed 004)
    Tokens,
}

#[derive(Debug)]
pub struct TokensApi;

#[derive(Debug, Object)]
pub struct CreateTokenRequest {
    /// What the token is for, 1 to 100 characters.
    pub name: Text<1, 100>,
    /// `admin` (default) or `personal_only`.
    pub role: Option<Role>,
    /// Lifetime in days (1 to 3650); absent: until revoked.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Object)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub name: String,
    /// The first characters, to tell tokens apart.
    pub token_prefix: String,
    pub role: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<store::api_tokens::ApiToken> for ApiTokenInfo {
    fn from(t: store::api_tokens::ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            token_prefix: t.token_prefix,
            role: t.role,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct CreatedToken {
    /// The token: shown this once, never again. Send it as `Authorization: Bearer <token>`.
    pub token: String,
    #[oai(flatten)]
    pub info: ApiTokenInfo,
}

responses! {
    pub enum CreateTokenResult {
        201 Created(Json<CreatedToken>),
        /// Invalid name or lifetime (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        @auth,
        @body,
    }
}

responses! {
    pub enum ListTokensResult {
        200 Ok(Json<Vec<ApiTokenInfo>>),
        @auth,
    }
}

responses! {
    pub enum RevokeTokenResult {
        /// Revoked; requests with it fail from now on.
        204 Revoked,
        @auth,
        /// No such live token.
        404 NotFound(Json<ErrorBody>),
        @bad_request,
    }
}

#[OpenApi(prefix_path = "/tokens", tag = "TokenTags::Tokens")]
impl TokensApi {
    /// Create an API token. The answer holds the token; it is never shown again.
    #[oai(path = "/", method = "post", operation_id = "create_api_token")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        request: Json<CreateTokenRequest>,
    ) -> poem::Result<CreateTokenResult> {
        let name = match DisplayName::parse(&request.name, 100) {
            Ok(name) => name,
            Err(e) => {
                return Ok(CreateTokenResult::BadRequest(body(
                    "invalid_request",
                    format!("name {e}"),
                )));
            }
        };
        let expires_at = match request.expires_in_days {
            Some(d) if d == 0 || d > 3650 => {
                return Ok(CreateTokenResult::BadRequest(body(
                    "invalid_request",
                    "expires_in_days is 1 to 3650",
                )));
            }
            Some(d) => Some(chrono::Utc::now() + chrono::Duration::days(i64::from(d))),
            None => None,
        };
        let role = request.role.unwrap_or(Role::Admin).as_str();
        let created = store::api_tokens::create(state.db(), name.as_str(), role, None, expires_at)
            .await
            .or_500("creating the API token")?;
        state
            .audit(
                &auth.admin().actor,
                "api_token_created",
                Some(&format!("api_token:{}", created.record.id)),
                serde_json::json!({ "name": created.record.name, "role": role }),
            )
            .await?;
        Ok(CreateTokenResult::Created(Json(CreatedToken {
            token: created.token,
            info: created.record.into(),
        })))
    }

    /// Every API token (never the secrets), newest first.
    #[oai(path = "/", method = "get", operation_id = "list_api_tokens")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> poem::Result<ListTokensResult> {
        let tokens = store::api_tokens::list(state.db())
            .await
            .or_500("listing API tokens")?;
        Ok(ListTokensResult::Ok(Json(
            tokens.into_iter().map(Into::into).collect(),
        )))
    }

    /// Revoke an API token.
    #[oai(path = "/:id", method = "delete", operation_id = "revoke_api_token")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        id: Path<i64>,
    ) -> poem::Result<RevokeTokenResult> {
        if !store::api_tokens::revoke(state.db(), id.0)
            .await
            .or_500("revoking the API token")?
        {
            return Ok(RevokeTokenResult::NotFound(body(
                "not_found",
                "no such live token",
            )));
        }
        state
            .audit(
                &auth.admin().actor,
                "api_token_revoked",
                Some(&format!("api_token:{}", id.0)),
                serde_json::Value::Null,
            )
            .await?;
        Ok(RevokeTokenResult::Revoked)
    }
}
