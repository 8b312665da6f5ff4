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
        assert!(
            html.contains(&api::spec_json()),
            "{path} embeds the tidied spec, not poem-openapi's"
        );
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

/// The spec as client generators and fuzzers read it (issue 16): no `allOf` a generator
/// refuses, every field that may come back `null` says so, the limits the handlers enforce,
/// the "every invitee" call without `user_ids`, a 429 on every operation.
#[tokio::test]
async fn the_spec_says_what_the_server_does() {
    let spec: Value = serde_json::from_str(&api::spec_json()).expect("spec");
    fn walk(v: &Value, seen: &mut Vec<String>, at: &str) {
        match v {
            Value::Object(map) => {
                if map
                    .get("allOf")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.len() > 1)
                {
                    seen.push(at.to_owned());
                }
                for (k, child) in map {
                    walk(child, seen, &format!("{at}/{k}"));
                }
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, seen, at)),
            _ => {}
        }
    }
    let mut combined = Vec::new();
    walk(&spec, &mut combined, "");
    assert!(
        combined.is_empty(),
        "allOf of several schemas: {combined:?}"
    );

    let schemas = &spec["components"]["schemas"];
    for (schema, field) in [
        ("UserListItem", "discord_id"),
        ("UserListItem", "invitation"),
        ("UserInfo", "picture"),
        ("ApiTokenInfo", "expires_at"),
        ("DependencyCheck", "error"),
        ("OnboardingResponse", "verification_url"),
        ("OnboardingResponse", "verification_token"),
        ("RowResult", "reason"),
        ("RowResult", "user_id"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["nullable"], true,
            "{schema}.{field}"
        );
    }
    let onboarding = &schemas["OnboardingRequest"]["properties"]["name"];
    assert_eq!(
        (&onboarding["minLength"], &onboarding["maxLength"]),
        (&Value::from(1), &Value::from(200))
    );
    let parameter = |path: &str, method: &str, name: &str| {
        spec["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{method} {path} has {name}"))
    };
    assert_eq!(
        parameter("/api/users", "get", "per_page")["schema"]["maximum"],
        500
    );
    let user_ids = parameter("/api/send-emails", "post", "user_ids");
    assert_eq!(user_ids["required"], false, "absent: every invitee");
    for (path, operations) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            assert!(
                operation["responses"]["429"].is_object(),
                "{method} {path}: 429"
            );
            assert!(
                operation["operationId"].is_string(),
                "{method} {path}: an id"
            );
        }
    }
}
