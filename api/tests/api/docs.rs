//! The spec and the docs pages: served as generated, self-contained, every error documented;
//! and the admin dashboard rendered in headless Chromium.

use reqwest::StatusCode;
use serde_json::Value;
use testkit::spawn_app;

use crate::support::{Answer, header};

#[tokio::test]
async fn the_served_spec_is_the_generated_one() {
    let app = spawn_app().await;
    let resp = app.get("/api/openapi.json").answer("request").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let kind = header(&resp, "content-type");
    assert!(kind.starts_with("application/json"), "{kind}");
    assert_eq!(resp.text().await.expect("body"), api::spec_json());

    let resp = app.get("/api/openapi.yaml").answer("request").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("body"), api::spec_yaml());
}

#[tokio::test]
async fn the_spec_defines_every_security_scheme_and_documents_errors() {
    let spec: Value = serde_json::from_str(&api::spec_json()).expect("spec is JSON");
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["ApiKey"]["type"], "apiKey");
    assert_eq!(schemes["ApiKey"]["name"], "x-api-key");
    assert_eq!(schemes["ApiKey"]["in"], "header");
    assert_eq!(schemes["ApiToken"]["scheme"], "bearer");
    assert_eq!(schemes["BearerJWT"]["scheme"], "bearer");
    assert_eq!(schemes["BearerJWT"]["bearerFormat"], "JWT");
    let detailed = &spec["paths"]["/api/health/detailed"]["get"];
    for status in ["200", "401", "403", "503"] {
        assert!(
            detailed["responses"][status].is_object(),
            "{status} documented"
        );
    }
    assert!(spec["paths"]["/api/health"]["get"].is_object());
}

#[tokio::test]
async fn docs_pages_are_self_contained() {
    let app = spawn_app().await;
    for path in ["/api/docs", "/api/redoc"] {
        let resp = app.get(path).answer("request").await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let kind = header(&resp, "content-type");
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        let html = resp.text().await.expect("body");
        for external in ["src=\"http", "href=\"http", "fonts.googleapis.com", "cdn."] {
            assert!(!html.contains(external), "{path} loads {external}");
        }
        assert!(html.contains("Concierge API"), "{path} embeds the spec");
    }
    let resp = app
        .client
        .get(format!("{}/", app.address))
        .answer("request")
        .await;
    assert_eq!(
        resp.headers()["location"],
        "/api/docs",
        "the root leads to the docs"
    );
}

/// The spec tells the truth about errors: an operation with a body documents 400, 413 and 415;
/// one behind credentials documents 401; a path parameter brings 400.
#[test]
fn every_operation_documents_its_client_errors() {
    let spec: Value = serde_json::from_str(&api::spec_json()).expect("spec");
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let responses = op["responses"].as_object().expect("responses");
            let has = |status: &str| responses.contains_key(status);
            let name = format!("{method} {path}");
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(has(status), "{name} does not document {status}");
                }
            }
            if op.get("security").is_some() {
                assert!(has("401"), "{name} does not document 401");
            }
            let path_params = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
            if path_params && method != "get" || path.contains("batches") {
                assert!(has("400"), "{name} does not document 400");
            }
            checked += 1;
        }
    }
    assert!(checked >= 25, "{checked} operations");
}

/// The dashboard in a real browser: headless Chromium (Debian's package; `.ci/run` installs
/// it) loads the page with the admin key, runs its script against the API, and the DOM shows
/// the queues, a paused queue, and a dead job.
#[tokio::test]
async fn the_dashboard_renders_in_headless_chromium() {
    let app = crate::support::app_with_workers().await;
    app.post_admin("/api/admin/queues/chat_reply/pause")
        .answer("pause")
        .await;
    let dead = crate::board::failed_dm(&app, 9).await;
    let address = app.address.clone();
    let dom =
        crate::support::rendered_dom(format!("{}/dashboard#key={}", app.address, app.api_key))
            .await;
    assert!(
        dom.contains("data-queue=\"send_email\""),
        "queues rendered from {address}: {dom}"
    );
    assert!(dom.contains("paused"), "the paused queue is shown");
    assert!(
        dom.contains("replay dead"),
        "the dead job's queue offers a replay"
    );
    assert!(dom.contains(dead.as_str()), "the dead job is listed");
    assert!(
        !dom.contains(&app.api_key),
        "the key is not left in the page"
    );
}
