//! Invitation mails in batches: `POST /api/send-emails` records one delivery per invitee who
//! still needs a mail and pushes one `send_email` job each, in bulk; `GET /api/batches/{id}`
//! shows their progress.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::{InvitationTags, MAX_ROWS};
use crate::auth::AdminAuth;
use crate::error::{ErrorBody, Or500, body};
use crate::responses::responses;
use crate::state::AppState;

/// `POST /api/send-emails`, `GET /api/batches/{id}`.
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
}
