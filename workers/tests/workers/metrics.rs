//! A worker process's `/metrics`: job outcomes, latencies, heartbeats and queue sizes.

use jobs::{Job, Probe};
use workers::providers::smtp::Mailer;

use crate::support::World;

#[tokio::test]
async fn a_worker_serves_job_and_queue_metrics() {
    let world = World::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut settings = testkit::fast_workers();
    settings.probe_queues = vec![Probe::QUEUE.to_owned()];
    settings.metrics_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let deps = world.deps(Mailer::files(
        std::env::temp_dir().join("concierge-unused-outbox"),
    ));
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(workers::run(deps, settings, stop.clone()));
    let pushed = world
        .producer
        .push(&Probe {
            run_id: "metrics".into(),
            seq: 1,
            enqueued_at_ms: jobs::now_ms(),
            work_ms: 0,
            padding: String::new(),
        })
        .await
        .expect("push");
    world.finished(Probe::QUEUE, pushed.id()).await;
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"concierge_job_outcomes_total{queue="probe",outcome="done",attempt="1"}"#),
        "{text}"
    );
    assert!(text.contains(r#"concierge_job_run_seconds_count{queue="probe"}"#));
    assert!(text.contains(r#"concierge_job_start_latency_seconds_bucket{le="#));
    assert!(text.contains(r#"concierge_worker_heartbeat_timestamp_seconds{queue="probe"}"#));
    assert!(text.contains(r#"concierge_queue_jobs{queue="probe",state="running"}"#));
    let health = reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .expect("health");
    assert!(health.status().is_success());
    stop.cancel();
    running.await.expect("joined").expect("workers ran");
}
