//! Logging and trace export. Logs: `tracing` with human-readable lines by default and one
//! JSON object per line when `LOG_FORMAT=json`; spans carry the context (request id on API
//! requests; queue, job id and attempt on jobs), so every line inside them names it.
//!
//! Traces: when a collector is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`), the same spans are
//! exported over OTLP/HTTP (protobuf) by a batch processor on its own thread. The ids they get
//! are the ones [`jobs::trace`] hands on to pushed jobs, so a collector shows a request, the
//! jobs it caused and their follow-ups as one trace. Export never blocks a request or a job: a
//! full buffer drops spans, a collector that is down costs a logged error per failed batch.
//! Spans pass the same filter as logs (`RUST_LOG` / `LOG_LEVEL`): request and job spans are at
//! `info`, so a `warn` filter exports nothing.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LoggingConfig, TelemetryConfig};

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the last spans: short, so that the drain
/// (`SHUTDOWN_GRACE_SECONDS`) plus this stays within the containers' stop grace period.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// What [`init`] installed; [`Telemetry::shutdown`] sends the spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered (bounded by the export timeout). Call after the runtime's
    /// work is done, outside async code: it blocks.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            eprintln!("concierge: the last spans were not exported: {e}");
        }
    }
}

/// Installs the global subscriber: the log filter, the OpenTelemetry layer when a collector
/// is configured, and the log format. `role` (`api`, `worker`, ...) is recorded on every
/// exported span; `runtime` runs the exporter's HTTP requests. Call once.
pub fn init(
    logging: &LoggingConfig,
    telemetry: &TelemetryConfig,
    role: &str,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Telemetry> {
    // Validated when the configuration was loaded.
    let filter = EnvFilter::try_new(&logging.filter)?;
    let provider = telemetry
        .otlp_traces_url
        .as_ref()
        .map(|url| tracer_provider(url, telemetry, role, runtime))
        .transpose()?;
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("concierge"))
            .with_tracked_inactivity(false)
            .with_threads(false)
    });
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    match logging.format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init()?,
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()?,
    }
    if let Some(url) = &telemetry.otlp_traces_url {
        // The URL may carry credentials in its user part: only its origin is logged.
        tracing::info!(
            collector = %url.origin().ascii_serialization(),
            sample_ratio = telemetry.sample_ratio,
            "exporting traces over OTLP/HTTP"
        );
    }
    Ok(Telemetry { provider })
}

fn tracer_provider(
    url: &url::Url,
    config: &TelemetryConfig,
    role: &str,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<SdkTracerProvider> {
    let headers: HashMap<String, String> = config
        .otlp_headers
        .iter()
        .map(|(name, value)| (name.clone(), value.expose().to_owned()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(ExportClient {
            http: reqwest::Client::builder().timeout(EXPORT_TIMEOUT).build()?,
            runtime: runtime.clone(),
        })
        .with_endpoint(url.as_str())
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT)
        .with_headers(headers)
        .build()?;
    let resource = Resource::builder_empty()
        .with_service_name(config.service_name.clone())
        .with_attributes([
            KeyValue::new("concierge.role", role.to_owned()),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ])
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(resource)
        .build())
}

/// The exporter's HTTP client: our reqwest (rustls with ring). The batch processor runs on its
/// own thread without a Tokio reactor, so each request runs as a task on the application's
/// runtime and the processor waits for its answer. The task runs with no subscriber: whatever
/// the HTTP stack traces while exporting must not become spans of the next export.
#[derive(Debug)]
struct ExportClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let request = reqwest::Request::try_from(request)?;
        let export = async move {
            let response = http.execute(request).await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        let answer = self
            .runtime
            .spawn(export.with_subscriber(tracing::subscriber::NoSubscriber::default()));
        let (status, body) = answer.await??;
        Ok(Response::builder().status(status).body(body)?)
    }
}
