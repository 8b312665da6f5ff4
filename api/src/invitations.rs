//! Invitations (seed 003), all admin-only (`x-api-key` or an admin API token): the user list,
//! CSV upload, invitation mails in batches, token checks (web and bot), token re-issue and
//! deletion.
//!
//! Mails are never sent here: `POST /api/send-emails` records one delivery per invitee and
//! pushes one `send_email` job each, in bulk; `GET /api/batches/{id}` shows their progress.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{Enum, Multipart, Object, OpenApi, Tags};
use uuid::Uuid;

use crate::auth::AdminAuth;
use crate::error::{ErrorBody, body, internal};
use crate::limits;
use crate::responses::responses;
use crate::state::AppState;

/// Most rows one upload may have.
const MAX_ROWS: usize = 200_000;
/// The confirmation `DELETE /api/all` requires, typed exactly.
pub const DELETE_ALL_CONFIRMATION: &str = "DELETE ALL USERS";

#[derive(Debug, Tags)]
enum InvitationTags {
    /// Invitations and verification (seed 003)
    Invitations,
}

#[derive(Debug)]
pub struct InvitationsApi;

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
        #[oai(status = 200)]
        Ok(Json<UserPage>),
        /// A filter or page parameter is invalid (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
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

/// The CSV: a header row naming an `email` column, and optionally `name` (or `full_name`, or
/// `first_name` + `last_name`). UTF-8, comma-separated, up to 200,000 rows.
#[derive(Debug, Multipart)]
pub struct CsvUpload {
    pub file: Upload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RowStatus {
    Created,
    Updated,
    Duplicate,
    Invalid,
}

#[derive(Debug, Object)]
pub struct RowResult {
    /// Line in the file (the header is line 1).
    pub line: u32,
    pub email: String,
    pub status: RowStatus,
    /// Why the row is invalid.
    pub reason: Option<String>,
    pub user_id: Option<i64>,
}

#[derive(Debug, Object)]
pub struct UploadReport {
    pub upload_id: Uuid,
    pub rows: u32,
    pub created: u32,
    pub updated: u32,
    pub duplicate: u32,
    pub invalid: u32,
    /// One result per data row, in file order.
    pub results: Vec<RowResult>,
}

responses! {
    pub enum UploadResult {
        #[oai(status = 200)]
        Ok(Json<UploadReport>),
        /// The file is not a CSV we can read (`invalid_csv`): nothing was imported.
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        @auth,
        @body,
    }
}

#[derive(Debug, Object)]
pub struct BatchQueued {
    pub batch_id: Uuid,
    /// Mails queued (invitees already verified or with a mail on its way are skipped).
    pub queued: u32,
    /// `GET` this for progress.
    pub status_url: String,
}

responses! {
    pub enum SendEmailsResult {
        #[oai(status = 202)]
        Accepted(Json<BatchQueued>),
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        @auth,
    }
}

#[derive(Debug, Object)]
pub struct BatchStatus {
    pub batch_id: Uuid,
    pub requested_by: String,
    pub total: i32,
    pub queued: i64,
    pub sent: i64,
    pub retrying: i64,
    pub failed: i64,
    /// Every mail is sent or failed for good.
    pub finished: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

responses! {
    pub enum BatchResult {
        #[oai(status = 200)]
        Ok(Json<BatchStatus>),
        @auth,
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
        @bad_request,
    }
}

#[derive(Debug, Object)]
pub struct VerifyRequest {
    pub email: String,
    /// The token from the invitation mail.
    pub token: String,
}

#[derive(Debug, Object)]
pub struct VerifyDiscordRequest {
    pub email: String,
    pub token: String,
    /// The member's Discord user id (a snowflake, as a string).
    pub discord_id: String,
}

#[derive(Debug, Object)]
pub struct VerifyResponse {
    pub success: bool,
    pub message: String,
    pub user_id: i64,
    /// True when the account was verified before this call.
    pub already_verified: bool,
}

responses! {
    pub enum VerifyResult {
        #[oai(status = 200)]
        Ok(Json<VerifyResponse>),
        /// Malformed input (`invalid_request`), or the email and token do not match a live
        /// invitation or verification token (`invalid_token`). Wrong tokens never kill the right
        /// one; after `FAILURES_PER_EMAIL_AND_SOURCE` of them the caller is locked out of that
        /// email for a while (429).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        @auth,
        /// The Discord account is linked to another user, or the user to another Discord account
        /// (`already_linked`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
        /// The token expired (`token_expired`): ask for a new one.
        #[oai(status = 410)]
        Expired(Json<ErrorBody>),
        /// Too many attempts from this address or Discord account, or too many failed ones on
        /// this email from here (`too_many_attempts`); `Retry-After` says when to try again.
        #[oai(status = 429)]
        TooMany(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
        @body,
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
        #[oai(status = 200)]
        Ok(Json<Reissued>),
        @auth,
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
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
        #[oai(status = 200)]
        Ok(Json<Deleted>),
        @auth,
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
        @bad_request,
    }
}

responses! {
    pub enum DeleteAllResult {
        #[oai(status = 200)]
        Ok(Json<Deleted>),
        /// The confirmation is missing or wrong (`confirmation_required`): nothing was deleted.
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        @auth,
    }
}

#[OpenApi(tag = "InvitationTags::Invitations")]
impl InvitationsApi {
    /// Users, in id order, with their Discord link, invitation and latest email.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    async fn users(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Page number, from 1.
        #[oai(default = "default_page")]
        page: Query<u32>,
        /// Users per page, 1 to 500.
        #[oai(default = "default_per_page")]
        per_page: Query<u32>,
        verified: Query<Option<bool>>,
        role: Query<Option<Role>>,
        /// Invitation status.
        status: Query<Option<InvitationStatus>>,
        /// Part of the email or name, without case.
        q: Query<Option<String>>,
    ) -> poem::Result<UsersResult> {
        if page.0 == 0 || per_page.0 == 0 || per_page.0 > 500 {
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
        let offset = i64::from(page.0 - 1) * i64::from(per_page.0);
        let (users, total) = store::users::list(state.db(), &filter, i64::from(per_page.0), offset)
            .await
            .map_err(internal)?;
        Ok(UsersResult::Ok(Json(UserPage {
            users: users.into_iter().map(Into::into).collect(),
            page: page.0,
            per_page: per_page.0,
            total,
        })))
    }

    /// Import invitees from a CSV (multipart field `file`). All or nothing: a file that cannot
    /// be read imports nothing; rows with a bad email are reported `invalid` and skipped.
    #[oai(path = "/upload-csv", method = "post", operation_id = "upload_csv")]
    async fn upload_csv(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        upload: CsvUpload,
    ) -> poem::Result<UploadResult> {
        let bytes = match upload.file.into_vec().await {
            Ok(b) => b,
            Err(e) => {
                return Ok(UploadResult::BadRequest(body(
                    "invalid_csv",
                    format!("cannot read the file: {e}"),
                )));
            }
        };
        let parsed = match parse_csv(&bytes) {
            Ok(p) => p,
            Err(e) => return Ok(UploadResult::BadRequest(body("invalid_csv", e))),
        };
        let upload_id = Uuid::now_v7();
        let valid: Vec<store::invitations::ImportRow> = parsed
            .iter()
            .filter_map(|r| match r {
                Parsed::Valid(row) => Some(row.clone()),
                Parsed::Invalid { .. } => None,
            })
            .collect();
        let outcomes = store::invitations::import(state.db(), upload_id, &valid)
            .await
            .map_err(internal)?;
        let mut outcomes = outcomes.into_iter();
        let mut report = UploadReport {
            upload_id,
            rows: parsed.len() as u32,
            created: 0,
            updated: 0,
            duplicate: 0,
            invalid: 0,
            results: Vec::with_capacity(parsed.len()),
        };
        for row in parsed {
            let result = match row {
                Parsed::Valid(row) => {
                    let (outcome, user_id) = outcomes
                        .next()
                        .ok_or_else(|| internal("import returned fewer rows"))?;
                    let status = match outcome {
                        store::invitations::RowOutcome::Created => RowStatus::Created,
                        store::invitations::RowOutcome::Updated => RowStatus::Updated,
                        store::invitations::RowOutcome::Duplicate => RowStatus::Duplicate,
                    };
                    RowResult {
                        line: row.line,
                        email: row.email,
                        status,
                        reason: None,
                        user_id: Some(user_id),
                    }
                }
                Parsed::Invalid {
                    line,
                    email,
                    reason,
                } => RowResult {
                    line,
                    email,
                    status: RowStatus::Invalid,
                    reason: Some(reason),
                    user_id: None,
                },
            };
            match result.status {
                RowStatus::Created => report.created += 1,
                RowStatus::Updated => report.updated += 1,
                RowStatus::Duplicate => report.duplicate += 1,
                RowStatus::Invalid => report.invalid += 1,
            }
            report.results.push(result);
        }
        state
            .audit(
                &auth.admin().actor,
                "csv_uploaded",
                Some(&format!("upload:{upload_id}")),
                serde_json::json!({
                    "rows": report.rows, "created": report.created, "updated": report.updated,
                    "duplicate": report.duplicate, "invalid": report.invalid,
                }),
            )
            .await?;
        Ok(UploadResult::Ok(Json(report)))
    }

    /// Queue invitation mails: one `send_email` job per invitee who still needs one.
    #[oai(path = "/send-emails", method = "post", operation_id = "send_emails")]
    async fn send_emails(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// Only these users (repeat the parameter); absent: every invitee who still needs one.
        user_ids: Query<Vec<i64>>,
    ) -> poem::Result<SendEmailsResult> {
        let user_ids = Some(user_ids.0).filter(|ids| !ids.is_empty());
        if user_ids.as_ref().is_some_and(|ids| ids.len() > MAX_ROWS) {
            return Ok(SendEmailsResult::BadRequest(body(
                "invalid_request",
                format!("at most {MAX_ROWS} user_ids per call"),
            )));
        }
        let batch =
            store::invitations::queue_batch(state.db(), &auth.admin().actor, user_ids.as_deref())
                .await
                .map_err(internal)?;
        for chunk in batch.delivery_ids.chunks(1000) {
            let jobs: Vec<jobs::SendEmail> = chunk
                .iter()
                .map(|&delivery_id| jobs::SendEmail { delivery_id })
                .collect();
            // A repeated call queues nothing twice: deliveries on their way are skipped above,
            // and the handler records each sent mail under its delivery.
            state
                .producer()
                .push_bulk(&jobs, jobs::PushOptions::default())
                .await
                .map_err(internal)?;
        }
        tracing::info!(batch_id = %batch.batch_id, queued = batch.delivery_ids.len(), "invitation batch queued");
        Ok(SendEmailsResult::Accepted(Json(BatchQueued {
            batch_id: batch.batch_id,
            queued: batch.delivery_ids.len() as u32,
            status_url: format!("/api/batches/{}", batch.batch_id),
        })))
    }

    /// Progress of a `send-emails` batch.
    #[oai(path = "/batches/:id", method = "get", operation_id = "batch_status")]
    async fn batch(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        id: Path<Uuid>,
    ) -> poem::Result<BatchResult> {
        let Some(b) = store::invitations::batch_progress(state.db(), id.0)
            .await
            .map_err(internal)?
        else {
            return Ok(BatchResult::NotFound(body("not_found", "no such batch")));
        };
        Ok(BatchResult::Ok(Json(BatchStatus {
            batch_id: b.id,
            finished: b.queued == 0 && b.retrying == 0,
            requested_by: b.requested_by,
            total: b.total,
            queued: b.queued,
            sent: b.sent,
            retrying: b.retrying,
            failed: b.failed,
            created_at: b.created_at,
        })))
    }

    /// Verify an invitee with their email and the token from the invitation mail.
    #[oai(path = "/verify", method = "post", operation_id = "verify")]
    async fn verify(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        request: Json<VerifyRequest>,
    ) -> poem::Result<VerifyResult> {
        let client = crate::client::ClientKey::of(req, &state.config().trusted_proxies);
        verify_invitation(&state, &request.email, &request.token, None, &client.0).await
    }

    /// The bot's verification (seed 003): email + token + the member's Discord id. Verifies
    /// the invitee and links the Discord account; a Discord account linked to someone else is
    /// never moved (409).
    #[oai(
        path = "/verify-discord",
        method = "post",
        operation_id = "verify_discord"
    )]
    async fn verify_discord(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        request: Json<VerifyDiscordRequest>,
    ) -> poem::Result<VerifyResult> {
        let discord_id = match crate::validate::discord_id(&request.discord_id) {
            Ok(id) => id.to_string(),
            Err(e) => return Ok(VerifyResult::BadRequest(body("invalid_request", e))),
        };
        let client = crate::client::ClientKey::of(req, &state.config().trusted_proxies);
        verify_invitation(
            &state,
            &request.email,
            &request.token,
            Some(&discord_id),
            &client.0,
        )
        .await
    }

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
            .map_err(internal)?
        else {
            return Ok(ReissueResult::NotFound(body("not_found", "no such user")));
        };
        let pushed = state
            .producer()
            .push(&jobs::SendEmail { delivery_id })
            .await
            .map_err(internal)?;
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
        confirm: Query<Option<String>>,
    ) -> poem::Result<DeleteAllResult> {
        if confirm.0.as_deref() != Some(DELETE_ALL_CONFIRMATION) {
            return Ok(DeleteAllResult::BadRequest(body(
                "confirmation_required",
                format!(
                    "add ?confirm={DELETE_ALL_CONFIRMATION} (URL-encoded) to delete every user"
                ),
            )));
        }
        let deleted = store::users::delete_all_members(state.db())
            .await
            .map_err(internal)?;
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
            .map_err(internal)?
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

fn default_page() -> u32 {
    1
}

fn default_per_page() -> u32 {
    100
}

async fn verify_invitation(
    state: &AppState,
    email: &str,
    token: &str,
    discord_id: Option<&str>,
    client: &str,
) -> poem::Result<VerifyResult> {
    let Ok(email) = store::email::Email::parse(email) else {
        return Ok(VerifyResult::BadRequest(body(
            "invalid_request",
            "a valid email and a token are required",
        )));
    };
    if token.is_empty() || token.len() > 256 {
        return Ok(VerifyResult::BadRequest(body(
            "invalid_request",
            "a valid email and a token are required",
        )));
    }
    let l = &state.config().limits;
    // Who is trying: the Discord account when one is named (the caller is then a bot, whose
    // own address every member shares, so it must not count), else the client address (a
    // frontend in front of this endpoint is a proxy: list it in TRUSTED_PROXIES and send
    // X-Forwarded-For).
    let (attempts, source) = match discord_id {
        Some(d) => ((l.secret_discord(), d), format!("discord:{d}")),
        None => ((l.secret_ip(), client), format!("ip:{client}")),
    };
    if let Some(wait) = limits::check(state, &[attempts]).await? {
        let (b, after) = limits::too_many(wait);
        return Ok(VerifyResult::TooMany(b, after));
    }
    // Failures lock out the source that failed, for this email only.
    let failure_key = limits::failure_key(&email, &source);
    let failures = [(l.failures(), failure_key.as_str())];
    if let Some(wait) = limits::peek(state, &failures).await? {
        let (_, after) = limits::too_many(wait);
        return Ok(VerifyResult::TooMany(
            body(
                "too_many_attempts",
                format!(
                    "too many wrong tokens for this email from here; try again in {after} seconds"
                ),
            ),
            after,
        ));
    }
    let db = state.db();
    // Refuse before spending the token: a confirmed link is never moved between users.
    let owner = match discord_id {
        Some(d) => store::identities::discord_owner(db, d)
            .await
            .map_err(internal)?,
        None => None,
    };
    let invitee = store::users::id_by_email(db, email.as_str())
        .await
        .map_err(internal)?;
    if let Some(owner) = owner
        && owner.holds()
        && invitee != Some(owner.user_id)
    {
        return Ok(VerifyResult::Conflict(body(
            "already_linked",
            "this Discord account is linked to another user",
        )));
    }
    let outcome = store::invitations::verify(db, &email, token)
        .await
        .map_err(internal)?;
    let (user_id, already) = match outcome {
        store::invitations::Verification::Verified {
            user_id,
            was_verified,
        } => (user_id, was_verified),
        store::invitations::Verification::AlreadyVerified { user_id } => {
            // Without a live token nothing may be linked: only the same confirmed link is
            // acknowledged.
            return Ok(match (discord_id, owner) {
                (Some(_), Some(o)) if o.user_id == user_id && o.confirmed => {
                    VerifyResult::Ok(Json(VerifyResponse {
                        success: true,
                        message: "already verified".into(),
                        user_id,
                        already_verified: true,
                    }))
                }
                (Some(_), _) => VerifyResult::Conflict(body(
                    "already_linked",
                    "this account is verified and holds no live token to link another Discord \
                     account with; ask for a new invitation",
                )),
                (None, _) => VerifyResult::Ok(Json(VerifyResponse {
                    success: true,
                    message: "already verified".into(),
                    user_id,
                    already_verified: true,
                })),
            });
        }
        store::invitations::Verification::Invalid => {
            limits::check(state, &failures).await?;
            return Ok(VerifyResult::BadRequest(body(
                "invalid_token",
                "invalid email or token",
            )));
        }
        store::invitations::Verification::Expired => {
            return Ok(VerifyResult::Expired(body(
                "token_expired",
                "the token expired; ask for a new invitation",
            )));
        }
    };
    if let Some(d) = discord_id {
        let account = store::identities::ProviderAccount {
            subject: d.to_owned(),
            ..Default::default()
        };
        // The token was mailed to this address and typed for this Discord account: both are
        // proven, so the link is confirmed (and replaces an unconfirmed one).
        match store::identities::link_discord(
            db,
            user_id,
            &account,
            store::identities::LinkProof::EmailProven,
        )
        .await
        .map_err(internal)?
        {
            store::identities::DiscordLink::Linked { .. } => {}
            _ => {
                return Ok(VerifyResult::Conflict(body(
                    "already_linked",
                    "the Discord account or the user is linked elsewhere; nothing was moved",
                )));
            }
        }
    }
    state
        .audit(
            "api",
            "invitation_verified",
            Some(&format!("user:{user_id}")),
            serde_json::json!({ "discord_id": discord_id }),
        )
        .await?;
    Ok(VerifyResult::Ok(Json(VerifyResponse {
        success: true,
        message: "verified".into(),
        user_id,
        already_verified: already,
    })))
}

/// One data row of an upload.
#[derive(Debug, Clone)]
enum Parsed {
    Valid(store::invitations::ImportRow),
    Invalid {
        line: u32,
        email: String,
        reason: String,
    },
}

/// Reads the whole file or fails with a message naming the problem (and its line).
fn parse_csv(bytes: &[u8]) -> Result<Vec<Parsed>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the file is empty; it needs a header row with an `email` column".into());
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 text (invalid byte at offset {}); save it as CSV UTF-8",
            e.valid_up_to()
        )
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .iter()
        .map(|h| h.to_lowercase().replace([' ', '-'], "_"))
        .collect::<Vec<_>>();
    let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let Some(email_col) = column(&["email", "email_address", "e_mail"]) else {
        return Err(format!(
            "the header row has no `email` column (found: {})",
            headers.join(", ")
        ));
    };
    let name_col = column(&["name", "full_name", "fullname"]);
    let first_col = column(&["first_name", "firstname"]);
    let last_col = column(&["last_name", "lastname"]);
    let mut rows = Vec::new();
    let (mut seen_bytes, mut lines_before) = (0usize, 0usize);
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or_default();
            format!("line {line} is not valid CSV: {e}")
        })?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err(format!("the file has more than {MAX_ROWS} rows; split it"));
        }
        // csv's own line count skips blank lines; people count them.
        let mut byte = record
            .position()
            .map(|p| p.byte() as usize)
            .unwrap_or(seen_bytes);
        // A record's position includes the blank lines before it.
        while matches!(text.as_bytes().get(byte), Some(b'\n' | b'\r')) {
            byte += 1;
        }
        lines_before += text
            .get(seen_bytes..byte)
            .map(|t| t.matches('\n').count())
            .unwrap_or_default();
        seen_bytes = byte;
        let line = (lines_before + 1) as u32;
        let email = record.get(email_col).unwrap_or_default().to_owned();
        let full_name = match (name_col, first_col, last_col) {
            (Some(c), _, _) => record.get(c).map(str::to_owned),
            (None, first, last) => {
                let parts: Vec<&str> = [first, last]
                    .into_iter()
                    .flatten()
                    .filter_map(|c| record.get(c))
                    .filter(|s| !s.is_empty())
                    .collect();
                Some(parts.join(" "))
            }
        }
        .filter(|n| !n.is_empty());
        if email.is_empty() {
            rows.push(Parsed::Invalid {
                line,
                email,
                reason: "no email".into(),
            });
            continue;
        }
        let email = match store::email::Email::parse(&email) {
            Ok(canonical) => canonical.into_string(),
            Err(reason) => {
                rows.push(Parsed::Invalid {
                    line,
                    email,
                    reason: reason.to_string(),
                });
                continue;
            }
        };
        if let Some(n) = &full_name
            && let Err(e) = crate::validate::display_text(n, 200)
        {
            rows.push(Parsed::Invalid {
                line,
                email,
                reason: format!("name {e}"),
            });
            continue;
        }
        rows.push(Parsed::Valid(store::invitations::ImportRow {
            line,
            email,
            full_name,
        }));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(csv: &str) -> Vec<String> {
        parse_csv(csv.as_bytes())
            .expect("parses")
            .into_iter()
            .map(|r| match r {
                Parsed::Valid(r) => {
                    format!("{}:{}:{}", r.line, r.email, r.full_name.unwrap_or_default())
                }
                Parsed::Invalid { line, reason, .. } => format!("{line}:invalid:{reason}"),
            })
            .collect()
    }

    #[test]
    fn reads_names_in_several_shapes() {
        assert_eq!(
            statuses("Email,First Name,Last Name\na@b.co,Ada,Lovelace\n"),
            ["2:a@b.co:Ada Lovelace"]
        );
        assert_eq!(
            statuses("\u{feff}name,email\n\"Zoë, \"\"Z\"\"\",z@b.co\n\n"),
            ["2:z@b.co:Zoë, \"Z\""]
        );
    }

    #[test]
    fn bad_rows_are_reported_not_fatal() {
        let s = statuses("email\nnot-an-email\n\nok@b.co\n");
        assert_eq!(s.len(), 2);
        assert!(s[0].starts_with("2:invalid:"));
        assert_eq!(s[1], "4:ok@b.co:");
    }

    #[test]
    fn unreadable_files_fail_whole() {
        assert!(parse_csv(b"").expect_err("fails").contains("empty"));
        assert!(
            parse_csv(b"name\nx\n")
                .expect_err("fails")
                .contains("no `email` column")
        );
        assert!(
            parse_csv(b"email\n\xff\xfe\n")
                .expect_err("fails")
                .contains("UTF-8")
        );
    }
}
