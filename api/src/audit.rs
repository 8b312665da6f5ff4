//! `GET /api/audit`: the audit log, newest first, with filters, for the admin console.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use crate::auth::AdminAuth;
use crate::error::{ErrorBody, Or500, body};
use crate::invitations::user_page::AuditEntry;
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Count;

#[derive(Debug, Tags)]
enum AuditTags {
    /// Audit log: who did what (admin)
    Audit,
}

/// `GET /api/audit`.
#[derive(Debug)]
pub struct AuditApi;

#[derive(Debug, Object)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page; null on the last one.
    pub next_before: Option<i64>,
}

responses! {
    pub enum AuditResult {
        200 Ok(Json<AuditPage>),
        /// A parameter is invalid (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        @auth,
    }
}

#[OpenApi(tag = "AuditTags::Audit")]
impl AuditApi {
    /// The audit log, newest first: admin actions, sign-ins, verifications, revocations.
    #[oai(path = "/audit", method = "get", operation_id = "audit_log")]
    // poem-openapi takes each query parameter as an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Only this actor, exactly (`api_key`, `api_token:3`, `user:7`, `job:send_email`).
        actor: Query<Option<String>>,
        /// Only this action, exactly (`user_deleted`, `csv_uploaded`…).
        action: Query<Option<String>>,
        /// Only this target, exactly (`user:7`, `upload:<id>`…).
        target: Query<Option<String>>,
        /// Only rows older than this id: the `next_before` of the previous page.
        before: Query<Option<i64>>,
        /// Rows per page, 1 to 500.
        #[oai(default = "default_limit")]
        limit: Query<Count<1, 500>>,
    ) -> poem::Result<AuditResult> {
        let limit = limit.0.0;
        if limit == 0 || limit > 500 {
            return Ok(AuditResult::BadRequest(body(
                "invalid_request",
                "limit is 1 to 500",
            )));
        }
        // Postgres refuses a NUL in text; no row holds one.
        let exact = |q: Query<Option<String>>| q.0.filter(|s| !s.is_empty());
        let filter = store::audit::Filter {
            actor: exact(actor),
            action: exact(action),
            target: exact(target),
            before: before.0,
        };
        let nul = [&filter.actor, &filter.action, &filter.target]
            .into_iter()
            .flatten()
            .any(|s| s.contains('\0'));
        let entries = if nul {
            Vec::new()
        } else {
            store::audit::list(state.db(), &filter, i64::from(limit))
                .await
                .or_500("reading the audit log")?
        };
        let next_before = (entries.len() == limit as usize)
            .then(|| entries.last().map(|e| e.id))
            .flatten();
        Ok(AuditResult::Ok(Json(AuditPage {
            entries: entries.into_iter().map(Into::into).collect(),
            next_before,
        })))
    }
}

fn default_limit() -> Count<1, 500> {
    Count(100)
}
