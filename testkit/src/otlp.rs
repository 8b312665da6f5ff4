//! A fake OpenTelemetry collector: OTLP/HTTP with protobuf bodies (`POST /v1/traces`, an
//! `ExportTraceServiceRequest`, answered with an empty `ExportTraceServiceResponse`), as an
//! OTLP exporter talks to a real collector. Received spans are flattened for assertions;
//! [`FakeCollector::wait_for`] is woken by each export, no polling.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{EndpointExt, Request, Response, Route, handler, post};
use prost::Message;
use tokio::sync::Notify;

use crate::oauth::{StopOnDrop, serve};

/// One exported span, ids in lowercase hex (empty parent for a root span).
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// `SPAN_KIND_*` number: 2 server, 5 consumer.
    pub kind: i32,
    /// Status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
    /// The span's attributes, values as text.
    pub attributes: BTreeMap<String, String>,
    /// The exporting process's resource attributes (`service.name`, ...).
    pub resource: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    spans: Vec<ExportedSpan>,
    /// Request headers of every export, names lowercase.
    headers: Vec<BTreeMap<String, String>>,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct FakeCollector {
    /// Base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it.
    pub url: String,
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    _stop: Arc<StopOnDrop>,
}

impl FakeCollector {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let notify = Arc::new(Notify::new());
        let app = Route::new()
            .at("/v1/traces", post(export))
            .data(state.clone())
            .data(notify.clone());
        let (addr, stop) = serve(app, "fake OTLP collector").await;
        Self {
            url: format!("http://{addr}"),
            state,
            notify,
            _stop: Arc::new(stop),
        }
    }

    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.state.lock().expect("collector state").spans.clone()
    }

    /// Headers of each export request so far.
    pub fn export_headers(&self) -> Vec<BTreeMap<String, String>> {
        self.state.lock().expect("collector state").headers.clone()
    }

    /// Waits until `done` holds for the spans received so far; panics with what arrived.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[ExportedSpan]) -> bool,
    ) -> Vec<ExportedSpan> {
        let waited = crate::wait::until(&self.notify, timeout, || {
            let spans = self.spans();
            if done(&spans) { Ok(spans) } else { Err(spans) }
        });
        match waited.await {
            Ok(spans) => spans,
            Err(spans) => {
                let seen: Vec<String> = spans
                    .iter()
                    .map(|s| {
                        format!(
                            "{} trace={} span={} parent={}",
                            s.name, s.trace_id, s.span_id, s.parent_span_id
                        )
                    })
                    .collect();
                panic!("timed out waiting for {what}; spans:\n{}", seen.join("\n"));
            }
        }
    }
}

#[handler]
async fn export(
    req: &Request,
    body: poem::Body,
    state: Data<&Arc<Mutex<State>>>,
    notify: Data<&Arc<Notify>>,
) -> Response {
    let is_protobuf = req
        .content_type()
        .is_some_and(|t| t.starts_with("application/x-protobuf"));
    if !is_protobuf {
        return Response::builder()
            .status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .finish();
    }
    let Ok(bytes) = body.into_bytes().await else {
        return Response::builder().status(StatusCode::BAD_REQUEST).finish();
    };
    let Ok(request) = ExportTraceServiceRequest::decode(bytes) else {
        return Response::builder().status(StatusCode::BAD_REQUEST).finish();
    };
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(ExportedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: span.kind,
                    status: span.status.map_or(0, |s| s.code),
                    attributes: attributes(&span.attributes),
                    resource: resource.clone(),
                });
            }
        }
    }
    {
        let mut state = state.lock().expect("collector state");
        state.spans.extend(spans);
        state.headers.push(headers);
    }
    notify.notify_waiters();
    Response::builder()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceResponse::default().encode_to_vec())
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(text).unwrap_or_default(),
            )
        })
        .collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
