//! Trace export: `concierge all` with a collector configured sends the span of an HTTP request
//! and the span of the job that request pushed as one trace, continuing the caller's
//! `traceparent`, to an OTLP/HTTP collector (testkit's fake decodes the real protobuf).
//!
//! Multi-threaded runtimes: waiting for the process to exit blocks a thread, and the fake
//! collector must go on answering meanwhile.

use std::time::Duration;

use serde_json::json;
use testkit::TestDb;
use testkit::otlp::FakeCollector;

use crate::cli::{Cli, Running, get, header, start_serving_with};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// `concierge <command>` against `db`, exporting its spans to `collector`, with `more`
/// settings; and the address it listens on.
fn serve_exporting(
    cli: &Cli,
    command: &str,
    db: &TestDb,
    collector: &FakeCollector,
    more: &[(&str, &str)],
) -> (Running, String) {
    let mut env = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str())];
    env.extend_from_slice(more);
    start_serving_with(cli, command, db, &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_and_the_job_it_pushed_reach_the_collector_as_one_trace() {
    let collector = FakeCollector::start().await;
    let cli = Cli::new();
    // From the configuration file: the exporter must get the headers from us (it would read
    // the environment variable by itself).
    std::fs::write(
        cli.dir.join("config.yml"),
        "telemetry:\n  otlp_headers: x-collector-key=s3cret%20value\n",
    )
    .expect("config.yml");
    let db = TestDb::new().await;
    let service = [("OTEL_SERVICE_NAME", "concierge-test")];
    let (mut all, address) = serve_exporting(&cli, "all", &db, &collector, &service);

    let resp = reqwest::Client::new()
        .post(format!("http://{address}/api/user/onboarding"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&json!({
            "name": "Ada",
            "email": "ada@example.test",
            "selectedPersonality": "loving",
            "communicationChannel": "email",
        }))
        .send()
        .await
        .expect("onboarding");
    assert_eq!(resp.status(), 200);
    // The answer names the request's own span in the caller's trace.
    let answered = header(&resp, "traceparent");
    let parts: Vec<&str> = answered.split('-').collect();
    assert_eq!(parts.len(), 4, "{answered}");
    assert_eq!(parts[1], CALLER_TRACE);
    let request_span = parts[2].to_owned();
    assert_ne!(request_span, CALLER_SPAN);

    let spans = collector
        .wait_for(
            "the send_email job span",
            Duration::from_secs(30),
            |spans| spans.iter().any(|s| s.name == "job send_email"),
        )
        .await;
    let request = spans
        .iter()
        .find(|s| s.span_id == request_span)
        .unwrap_or_else(|| panic!("no span {request_span} among {spans:#?}"));
    assert_eq!(request.name, "POST /api/user/onboarding");
    assert_eq!(request.trace_id, CALLER_TRACE);
    assert_eq!(request.parent_span_id, CALLER_SPAN);
    assert_eq!(request.kind, 2, "server");
    assert_eq!(request.attributes["http.response.status_code"], "200");
    assert_eq!(request.resource["service.name"], "concierge-test");
    assert_eq!(request.resource["concierge.role"], "all");

    let job = spans
        .iter()
        .find(|s| s.name == "job send_email")
        .expect("job span");
    assert_eq!(job.trace_id, CALLER_TRACE, "the job continues the trace");
    assert_eq!(
        job.parent_span_id, request_span,
        "the job is a child of the request that pushed it"
    );
    assert_eq!(job.kind, 5, "consumer");
    assert_eq!(job.attributes["queue"], "send_email");
    assert_eq!(job.attributes["trace_id"], CALLER_TRACE);
    assert!(!job.attributes["job_id"].is_empty());

    let headers = collector.export_headers();
    assert!(
        headers
            .iter()
            .all(|h| h.get("x-collector-key").map(String::as_str) == Some("s3cret value")),
        "{headers:?}"
    );

    all.signal("TERM");
    assert_eq!(all.wait_exit(Duration::from_secs(20)), 0);
    assert!(
        !all.seen.iter().any(|l| l.contains("s3cret")),
        "the collector's key is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_still_buffered_are_sent_on_shutdown() {
    let collector = FakeCollector::start().await;
    let cli = Cli::new();
    let db = TestDb::new().await;
    // The SDK's own setting: no scheduled export before the shutdown.
    let no_schedule = [("OTEL_BSP_SCHEDULE_DELAY", "600000")];
    let (mut api, address) = serve_exporting(&cli, "api", &db, &collector, &no_schedule);
    let resp = get(&address, "/api/health").await;
    assert_eq!(resp.status(), 200);
    // Nothing is exported on schedule (above); SIGTERM must send what is buffered.
    api.signal("TERM");
    assert_eq!(api.wait_exit(Duration::from_secs(20)), 0);
    let spans = collector.spans();
    assert!(
        spans.iter().any(|s| s.name == "GET /api/health"
            && s.parent_span_id.is_empty()
            && s.resource["concierge.role"] == "api"),
        "{spans:#?}"
    );
}
