//! Cross-cutting request handling: a request id on every request and every log line about it,
//! one access-log line per request, the per-address request limit, and the body size limit.

use std::time::Instant;

use futures::StreamExt;
use poem::http::{HeaderValue, StatusCode};
use poem::web::headers::{ContentLength, HeaderMapExt};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

use crate::error::{BodyTooLarge, into_json_error};

/// The header carrying the request id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the current request, available to handlers as `Data<&RequestId>`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Opens a `request` span (request id, method, path) around the whole request, so every log
/// line inside carries the id; logs one line when it ends; answers with `x-request-id`; and
/// turns every error into the JSON error body.
#[derive(Debug, Default)]
pub struct RequestContext;

impl<E: Endpoint> Middleware<E> for RequestContext {
    type Output = RequestContextEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestContextEndpoint { inner }
    }
}

#[derive(Debug)]
pub struct RequestContextEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RequestContextEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        // A caller's id is reused (to follow one action across services) only when it is
        // short and plain: it goes into logs verbatim.
        let id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            })
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        req.extensions_mut().insert(RequestId(id.clone()));
        let method = req.method().to_string();
        let route = route_label(req.uri().path());
        // The caller's W3C trace context, or a new trace: jobs pushed while answering carry it.
        let caller = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(jobs::trace::TraceParent::parse);
        // `otel.*` fields name the exported span (see jobs::trace).
        let span = tracing::info_span!(
            "request",
            trace_id = tracing::field::Empty,
            request_id = %id,
            method = %req.method(),
            path = %req.uri().path(),
            "otel.name" = %format_args!("{method} {route}"),
            "otel.kind" = "server",
            "otel.status_code" = tracing::field::Empty,
            "http.response.status_code" = tracing::field::Empty,
        );
        let trace = jobs::trace::start_span(&span, caller);
        async move {
            let started = Instant::now();
            let path = req.uri().path().to_owned();
            let mut resp = match jobs::trace::scope(trace, self.inner.call(req)).await {
                Ok(resp) => resp.into_response(),
                Err(err) => into_json_error(err),
            };
            if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
                if crate::routes::names_nothing(&path) {
                    resp = into_json_error(poem::Error::from_status(StatusCode::NOT_FOUND));
                } else if let Some(allow) = crate::routes::allowed(&path)
                    && let Ok(value) = HeaderValue::from_str(&allow)
                {
                    resp.headers_mut().insert(poem::http::header::ALLOW, value);
                }
            }
            if let Ok(value) = HeaderValue::from_str(&trace.to_string()) {
                resp.headers_mut().insert("traceparent", value);
            }
            if let Ok(value) = HeaderValue::from_str(&id) {
                resp.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            let status = resp.status().as_u16();
            let span = tracing::Span::current();
            span.record("http.response.status_code", status);
            if status >= 500 {
                span.record("otel.status_code", "error");
            }
            let elapsed = started.elapsed().as_secs_f64();
            let latency_ms = elapsed * 1000.0;
            let metrics = jobs::metrics::global();
            // Unknown paths share one label: a scanner must not grow the metric set.
            let route = if status == 404 {
                "unmatched".to_owned()
            } else {
                route
            };
            metrics
                .http_requests
                .get_or_create(&jobs::metrics::HttpLabels {
                    method: method.clone(),
                    route: route.clone(),
                    status,
                })
                .inc();
            metrics
                .http_duration
                .get_or_create(&jobs::metrics::RouteLabels { method, route })
                .observe(elapsed);
            if status >= 500 {
                tracing::warn!(status, latency_ms, "request finished");
            } else {
                tracing::info!(status, latency_ms, "request finished");
            }
            Ok(resp)
        }
        .instrument(span)
        .await
    }
}

/// The route of a path for metrics: ids, tokens and other variable segments become `:id`.
fn route_label(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| {
            let variable = segment.len() > 24
                || (!segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()))
                || segment.bytes().filter(|b| *b == b'-').count() >= 4;
            if variable { ":id" } else { segment }
        })
        .collect();
    segments.join("/")
}

/// Finds the client's address (see [`crate::client`]), keeps it for the handlers, and refuses
/// (429) an address over its requests per minute, and a request carrying an admin credential
/// from an address over its failed admin authentications (checked here, before any security scheme
/// runs: a scheme's refusal would be replaced by the next scheme's 401). The request limit
/// fails open: when Redis does not answer within a short while the request goes on (the
/// endpoint's own limits still hold), so a Redis outage cannot take down health checks. The
/// admin limit fails closed: a guess that cannot be counted is not let through.
#[derive(Debug, Default)]
pub struct Throttle;

/// Longest the request limit may hold a request up.
const THROTTLE_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

impl<E: Endpoint> Middleware<E> for Throttle {
    type Output = ThrottleEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ThrottleEndpoint { inner }
    }
}

#[derive(Debug)]
pub struct ThrottleEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for ThrottleEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let Some(state) = req.data::<crate::state::AppState>().cloned() else {
            return self.inner.call(req).await;
        };
        let key = crate::client::ClientKey::of(&req, &state.config().trusted_proxies);
        req.extensions_mut().insert(key.clone());
        let limit = state.config().limits.requests();
        let checks = [(limit, key.0.as_str())];
        match tokio::time::timeout(THROTTLE_WAIT, state.limiter().hit(&checks)).await {
            Ok(Ok(jobs::ratelimit::Decision::Limited { retry_after })) => {
                tracing::warn!(client = %key.0, "request limit reached");
                return Err(crate::error::TooManyRequests::error(retry_after));
            }
            Ok(Ok(jobs::ratelimit::Decision::Allowed)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "request limit unavailable; letting through"),
            Err(_) => tracing::warn!("request limit slow to answer; letting through"),
        }
        if carries_admin_credential(&req) {
            let limit = state.config().limits.admin_failures();
            match state.limiter().peek(&[(limit, key.0.as_str())]).await {
                Ok(jobs::ratelimit::Decision::Allowed) => {}
                Ok(jobs::ratelimit::Decision::Limited { retry_after }) => {
                    tracing::warn!(client = %key.0, "admin authentication throttled");
                    return Err(crate::error::TooManyRequests::error(retry_after));
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot check the admin authentication limit");
                    return Err(poem::Error::from_string(
                        "cannot check credentials right now",
                        StatusCode::SERVICE_UNAVAILABLE,
                    ));
                }
            }
        }
        self.inner.call(req).await
    }
}

/// Whether the request carries what admin authentication checks and a guesser would send: the
/// API key, an API token (`Bearer cnc_…`) or the board's Basic password. A user's access JWT
/// is not one: signed-in users behind an address that failed admin authentication are not
/// refused for it.
fn carries_admin_credential(req: &Request) -> bool {
    if req.headers().contains_key("x-api-key") {
        return true;
    }
    req.headers()
        .get_all(poem::http::header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            let v = v.trim_start();
            let basic = v.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("basic "));
            let token = v
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
                && v[7..]
                    .trim_start()
                    .starts_with(store::api_tokens::TOKEN_PREFIX);
            basic || token
        })
}

/// Refuses bodies over `max_bytes` with 413: at once when `Content-Length` says so, and while
/// reading when a chunked body grows past it.
#[derive(Debug)]
pub struct BodyLimit {
    pub max_bytes: usize,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

#[derive(Debug)]
pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let limit = self.max_bytes;
        match req.headers().typed_get::<ContentLength>() {
            Some(ContentLength(len)) if len > limit as u64 => {
                return Err(poem::Error::new(
                    BodyTooLarge { limit },
                    StatusCode::PAYLOAD_TOO_LARGE,
                ));
            }
            Some(_) => {}
            None => {
                let mut seen = 0usize;
                // Parsers (multipart, JSON) report a cut stream as their own error and lose
                // ours; the flag lets the answer still be 413.
                let exceeded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let flag = exceeded.clone();
                let stream = req.take_body().into_bytes_stream().map(move |chunk| {
                    let chunk = chunk?;
                    seen += chunk.len();
                    if seen > limit {
                        flag.store(true, std::sync::atomic::Ordering::Relaxed);
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            BodyTooLarge { limit },
                        ));
                    }
                    Ok(chunk)
                });
                req.set_body(Body::from_bytes_stream(stream));
                let result = self.inner.call(req).await;
                if exceeded.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(poem::Error::new(
                        BodyTooLarge { limit },
                        StatusCode::PAYLOAD_TOO_LARGE,
                    ));
                }
                return result;
            }
        }
        self.inner.call(req).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn routes_hide_ids() {
        assert_eq!(super::route_label("/api/users"), "/api/users");
        assert_eq!(super::route_label("/api/42"), "/api/:id");
        assert_eq!(
            super::route_label("/api/batches/0194a0a2-7b1c-7d3e-8f00-123456789abc"),
            "/api/batches/:id"
        );
        assert_eq!(super::route_label("/api/tokens/7"), "/api/tokens/:id");
    }
}
