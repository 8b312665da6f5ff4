//! Errors as clients see them: JSON `{"code": "...", "message": "..."}` with a stable,
//! machine-readable `code` and a human `message`, for every status this API answers with.
//!
//! Handlers return typed `ApiResponse` enums so that each expected 4xx is documented in the
//! spec. Everything else (unknown routes, wrong methods, unparsable bodies, failed
//! authentication, oversized bodies, internal failures) arrives here as a `poem::Error` and is
//! rewritten by [`into_json_error`]. Internal errors are logged with the request id and never
//! shown.

use poem::Response;
use poem::http::StatusCode;
use poem_openapi::Object;
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Clone, Object, Serialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`, `unauthorized`, `payload_too_large`.
    pub code: String,
    /// What went wrong, for a human.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Marks a body stream that was cut because it outgrew the configured limit.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than the limit of {limit} bytes")]
pub struct BodyTooLarge {
    pub limit: usize,
}

/// A request refused by a rate limit: 429 with `Retry-After`, from code that has no typed
/// response to answer with (middleware, security-scheme checkers).
#[derive(Debug, thiserror::Error)]
#[error("too many requests; try again in {retry_after} seconds")]
pub struct TooManyRequests {
    /// Whole seconds, at least one.
    pub retry_after: u64,
}

impl TooManyRequests {
    pub(crate) fn error(wait: std::time::Duration) -> poem::Error {
        poem::Error::new(
            TooManyRequests {
                retry_after: retry_after(wait),
            },
            StatusCode::TOO_MANY_REQUESTS,
        )
    }
}

/// Seconds for `Retry-After`: whole, at least one.
pub(crate) fn retry_after(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// The code clients branch on for a status we produce without a handler-specific code.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal_error",
    }
}

/// Turns any error that reached the top of the app into a JSON error response.
pub fn into_json_error(err: poem::Error) -> Response {
    // Typed `ApiResponse` errors from handlers are already documented JSON: keep them.
    if err.is_from_response() {
        return err.into_response();
    }
    if let Some(limit) = body_too_large(&err) {
        let body = ErrorBody::new(
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        );
        return json(StatusCode::PAYLOAD_TOO_LARGE, &body);
    }
    if let Some(limited) = err.downcast_ref::<TooManyRequests>() {
        let body = ErrorBody::new("too_many_requests", limited.to_string());
        let mut resp = json(StatusCode::TOO_MANY_REQUESTS, &body);
        if let Ok(value) = poem::http::HeaderValue::from_str(&limited.retry_after.to_string()) {
            resp.headers_mut().insert("retry-after", value);
        }
        return resp;
    }
    if let Some(down) = err.downcast_ref::<DatabaseUnavailable>() {
        tracing::warn!(error = %down, "request failed: the database is unavailable");
        let body = ErrorBody::new(
            "service_unavailable",
            "the database is unavailable; try again in a few seconds",
        );
        let mut resp = json(StatusCode::SERVICE_UNAVAILABLE, &body);
        resp.headers_mut().insert(
            "retry-after",
            poem::http::HeaderValue::from(DATABASE_RETRY_AFTER_SECONDS),
        );
        return resp;
    }
    let status = err.status();
    let message = match status {
        StatusCode::NOT_FOUND => "no such endpoint; the API is described at /api/docs".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => {
            "this path does not accept that method; the API is described at /api/docs".to_owned()
        }
        StatusCode::UNAUTHORIZED => {
            "missing or invalid credentials: send x-api-key or Authorization: Bearer".to_owned()
        }
        s if s.is_server_error() => {
            tracing::error!(error = %err, status = s.as_u16(), "request failed");
            "internal error; the request id in the x-request-id header identifies it in the logs"
                .to_owned()
        }
        // Client mistakes: poem's message describes the input (which parameter, which field).
        _ => err.to_string(),
    };
    json(status, &ErrorBody::new(code_for(status), message))
}

fn body_too_large(err: &poem::Error) -> Option<usize> {
    if let Some(e) = err.downcast_ref::<BodyTooLarge>() {
        return Some(e.limit);
    }
    let read = err.downcast_ref::<poem::error::ReadBodyError>()?;
    match read {
        poem::error::ReadBodyError::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<BodyTooLarge>())
            .map(|e| e.limit),
        _ => None,
    }
}

pub(crate) fn json(status: StatusCode, body: &ErrorBody) -> Response {
    // Serializing two strings cannot fail.
    let text = serde_json::to_string(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(text)
}

/// The failure of an I/O step (a query, a push, a Redis call) as an internal error (500),
/// logged by [`into_json_error`] with the request id under a message that names the step:
/// `reading the user: <error>`, so a logged 500 says which step failed. Clients see only
/// "internal error" and the request id.
pub(crate) trait Or500<T> {
    /// `step` says what was being done, as a gerund phrase: `"listing users"`.
    fn or_500(self, step: &str) -> poem::Result<T>;
}

impl<T, E: std::fmt::Display + 'static> Or500<T> for Result<T, E> {
    /// A database that cannot be reached is 503 with `Retry-After`, not 500: the request was
    /// fine, and may be sent again shortly.
    fn or_500(self, step: &str) -> poem::Result<T> {
        self.map_err(|e| {
            let any: &dyn std::any::Any = &e;
            match any.downcast_ref::<store::StoreError>() {
                Some(db) if store::is_unavailable(db) => database_unavailable(step, db),
                _ => step_failed(step, e),
            }
        })
    }
}

/// The database did not answer while `step`: 503 with `Retry-After`, the step and the error
/// only in the log.
pub(crate) fn database_unavailable(
    step: impl std::fmt::Display,
    e: impl std::fmt::Display,
) -> poem::Error {
    poem::Error::new(
        DatabaseUnavailable(format!("{step}: {e}")),
        StatusCode::SERVICE_UNAVAILABLE,
    )
}

/// What [`database_unavailable`] carries to [`into_json_error`].
#[derive(Debug)]
struct DatabaseUnavailable(String);

impl std::fmt::Display for DatabaseUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the database is unavailable: {}", self.0)
    }
}

impl std::error::Error for DatabaseUnavailable {}

/// How long a client is told to wait when the database is unavailable.
const DATABASE_RETRY_AFTER_SECONDS: u32 = 5;

/// [`Or500::or_500`]'s error, for a step whose failure is not a `Result` at hand.
pub(crate) fn step_failed(step: impl std::fmt::Display, e: impl std::fmt::Display) -> poem::Error {
    poem::Error::from_string(format!("{step}: {e}"), StatusCode::INTERNAL_SERVER_ERROR)
}

/// A documented error body.
pub(crate) fn body(
    code: &str,
    message: impl Into<String>,
) -> poem_openapi::payload::Json<ErrorBody> {
    poem_openapi::payload::Json(ErrorBody::new(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_step_is_named_in_the_log_not_to_the_client() {
        let err = Err::<(), _>("connection refused")
            .or_500("listing users")
            .expect_err("fails");
        assert_eq!(err.to_string(), "listing users: connection refused");
        let resp = into_json_error(err);
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = resp.into_body().into_string().await.expect("body");
        assert!(!text.contains("listing users"), "{text}");
        assert!(text.contains("internal error"), "{text}");
    }
}
