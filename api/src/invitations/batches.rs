//! Invitation mails in batches: `POST /api/send-emails` records one delivery per invitee who
//! still needs a mail and pushes one `send_email` job each, in bulk; `GET /api/batches/{id}`
//! shows their progress.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::{InvitationTags, MAX_ROWS};
use crate::auth::AdminAuth;
use crate::error::{ErrorBody, Or500, body};
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Count;

/// `POST /api/send-emails`, `GET /api/batches/{id}`, `GET /api/batches`,
/// `GET /api/batches/{id}/mails`.
#[derive(Debug)]
pub struct BatchesApi;

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
        202 Accepted(Json<BatchQueued>),
        400 BadRequest(Json<ErrorBody>),
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
        200 Ok(Json<BatchStatus>),
        @auth,
        404 NotFound(Json<ErrorBody>),
        @bad_request,
    }
}

impl From<store::invitations::BatchProgress> for BatchStatus {
    fn from(b: store::invitations::BatchProgress) -> Self {
        Self {
            batch_id: b.id,
            finished: b.queued == 0 && b.retrying == 0,
            requested_by: b.requested_by,
            total: b.total,
            queued: b.queued,
            sent: b.sent,
            retrying: b.retrying,
            failed: b.failed,
            created_at: b.created_at,
        }
    }
}

responses! {
    pub enum BatchesResult {
        200 Ok(Json<Vec<BatchStatus>>),
        /// `limit` is not 1 to 100 (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        @auth,
    }
}

/// A delivery's status, to filter a batch's mails by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Queued,
    Sent,
    Retrying,
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One mail of a batch.
#[derive(Debug, Object)]
pub struct BatchMail {
    pub delivery_id: i64,
    /// The invitee; null once they were deleted.
    pub user_id: Option<i64>,
    pub email: String,
    /// `queued`, `sent`, `retrying`, `failed`.
    pub status: String,
    pub attempts: i32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Object)]
pub struct BatchMails {
    pub mails: Vec<BatchMail>,
    /// Pass as `after` for the next page; null on the last one.
    pub next_after: Option<i64>,
}

responses! {
    pub enum BatchMailsResult {
        200 Ok(Json<BatchMails>),
        /// `limit` is not 1 to 1,000 (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        @auth,
        /// No such batch (`not_found`).
        404 NotFound(Json<ErrorBody>),
    }
}

#[OpenApi(tag = "InvitationTags::Invitations")]
impl BatchesApi {
    /// Queue invitation mails: one `send_email` job per invitee who still needs one.
    #[oai(path = "/send-emails", method = "post", operation_id = "send_emails")]
    async fn send_emails(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// Only these users (repeat the parameter); absent: every invitee who still needs one.
        user_ids: Query<Option<Vec<i64>>>,
    ) -> poem::Result<SendEmailsResult> {
        let user_ids = user_ids.0.filter(|ids| !ids.is_empty());
        if user_ids.as_ref().is_some_and(|ids| ids.len() > MAX_ROWS) {
            return Ok(SendEmailsResult::BadRequest(body(
                "invalid_request",
                format!("at most {MAX_ROWS} user_ids per call"),
            )));
        }
        let batch =
            store::invitations::queue_batch(state.db(), &auth.admin().actor, user_ids.as_deref())
                .await
                .or_500("recording the mail batch")?;
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
                .or_500("pushing the batch's send_email jobs")?;
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
            .or_500("reading the batch's progress")?
        else {
            return Ok(BatchResult::NotFound(body("not_found", "no such batch")));
        };
        Ok(BatchResult::Ok(Json(b.into())))
    }

    /// The newest batches, newest first, with their progress.
    #[oai(path = "/batches", method = "get", operation_id = "list_batches")]
    async fn batches(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// 1 to 100.
        #[oai(default = "default_batches")]
        limit: Query<Count<1, 100>>,
    ) -> poem::Result<BatchesResult> {
        if limit.0.0 == 0 || limit.0.0 > 100 {
            return Ok(BatchesResult::BadRequest(body(
                "invalid_request",
                "limit is 1 to 100",
            )));
        }
        let batches = store::invitations::recent_batches(state.db(), i64::from(limit.0.0))
            .await
            .or_500("listing the batches")?;
        Ok(BatchesResult::Ok(Json(
            batches.into_iter().map(Into::into).collect(),
        )))
    }

    /// A batch's mails in the order they were queued, with their status and the reason of
    /// a failure; `status=failed` lists the ones to resend.
    #[oai(
        path = "/batches/:id/mails",
        method = "get",
        operation_id = "batch_mails"
    )]
    async fn mails(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        id: Path<Uuid>,
        status: Query<Option<DeliveryStatus>>,
        /// Only mails after this delivery id: the `next_after` of the previous page.
        #[oai(default)]
        after: Query<i64>,
        /// 1 to 1,000.
        #[oai(default = "default_mails")]
        limit: Query<Count<1, 1000>>,
    ) -> poem::Result<BatchMailsResult> {
        let limit = limit.0.0;
        if limit == 0 || limit > 1000 {
            return Ok(BatchMailsResult::BadRequest(body(
                "invalid_request",
                "limit is 1 to 1000",
            )));
        }
        if !store::invitations::batch_exists(state.db(), id.0)
            .await
            .or_500("reading the batch")?
        {
            return Ok(BatchMailsResult::NotFound(body(
                "not_found",
                "no such batch",
            )));
        }
        let mails = store::invitations::batch_deliveries(
            state.db(),
            id.0,
            status.0.map(DeliveryStatus::as_str),
            after.0,
            i64::from(limit),
        )
        .await
        .or_500("listing the batch's mails")?;
        let next_after = (mails.len() == limit as usize)
            .then(|| mails.last().map(|m| m.delivery_id))
            .flatten();
        Ok(BatchMailsResult::Ok(Json(BatchMails {
            mails: mails
                .into_iter()
                .map(|m| BatchMail {
                    delivery_id: m.delivery_id,
                    user_id: m.user_id,
                    email: m.to_address,
                    status: m.status,
                    attempts: m.attempts,
                    last_error: m.last_error,
                    sent_at: m.sent_at,
                })
                .collect(),
            next_after,
        })))
    }
}

fn default_batches() -> Count<1, 100> {
    Count(20)
}

fn default_mails() -> Count<1, 1000> {
    Count(100)
}
