//! Errors outside the handlers (unknown routes, wrong methods, bodies over the limit) answer
//! in the API's JSON error shape, and every response carries a request id.

use reqwest::StatusCode;
use serde_json::Value;
use testkit::spawn_app;

use crate::support::{Answer, delete, header};

async fn error_body(resp: reqwest::Response) -> Value {
    let kind = header(&resp, "content-type");
    assert!(kind.starts_with("application/json"), "{kind}");
    let body: Value = resp.json().await.expect("JSON error body");
    assert!(
        body["code"].is_string() && body["message"].is_string(),
        "{body}"
    );
    body
}

#[tokio::test]
async fn unknown_routes_get_json_404() {
    let app = spawn_app().await;
    // `/api/nope` and `/api/tokens/abc` fit the shape of `DELETE /api/{id}` and
    // `DELETE /api/tokens/{id}`, whose ids are numbers: they name nothing, so 404, not 405.
    for path in [
        "/api/nope/deeper",
        "/nope",
        "/api/health/detailed/extra",
        "/api/nope",
        "/api/tokens/abc",
    ] {
        let resp = app.get(path).answer("request").await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_body(resp).await["code"], "not_found");
    }
}

#[tokio::test]
async fn wrong_method_gets_json_405() {
    let app = spawn_app().await;
    let resp = delete(&app, "/api/health").answer("request").await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    // RFC 9110: a 405 says which methods the path takes.
    assert_eq!(header(&resp, "allow"), "GET, HEAD");
    assert_eq!(error_body(resp).await["code"], "method_not_allowed");
    // A path a route takes, with a method it does not: still 405.
    let resp = app.get("/api/12").answer("request").await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "GET /api/12");
    assert_eq!(header(&resp, "allow"), "DELETE");
    let resp = app.get("/api/user/onboarding").answer("request").await;
    assert_eq!(header(&resp, "allow"), "POST");
}

/// A field the spec calls a string takes only a JSON string: poem-openapi alone would read
/// `false` as "false" and `12` as "12".
#[tokio::test]
async fn a_string_field_refuses_numbers_and_booleans() {
    let app = spawn_app().await;
    for bad in [serde_json::json!(false), serde_json::json!(12)] {
        let resp = app
            .post("/api/refresh")
            .json(&serde_json::json!({ "refresh_token": bad }))
            .answer("refresh")
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_body(resp).await["code"], "bad_request", "{bad}");
        let resp = app
            .post("/api/user/onboarding")
            .json(&serde_json::json!({ "name": bad, "email": "ada@example.test" }))
            .answer("onboarding")
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    // The test app's limit is 64 KiB.
    let app = spawn_app().await;
    let post = |bytes: usize| {
        app.post("/api/health")
            .body(vec![b'x'; bytes])
            .answer("request")
    };
    let resp = post(65 * 1024).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = error_body(resp).await;
    assert_eq!(body["code"], "payload_too_large");
    assert!(
        body["message"].as_str().expect("message").contains("65536"),
        "{body}"
    );

    // Within the limit, the same request is judged on its merits (wrong method).
    let resp = post(1024).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let resp = app.get("/api/health").answer("request").await;
    let id = header(&resp, "x-request-id");
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let with_id =
        |path: &str, id: &'static str| app.get(path).header("x-request-id", id).answer("request");
    let resp = with_id("/api/nope/deeper", "trace-42.a").await;
    assert_eq!(
        resp.headers()["x-request-id"],
        "trace-42.a",
        "a caller's plain id is kept"
    );

    let resp = with_id("/api/health", "evil\tid with spaces").await;
    assert_ne!(
        resp.headers()["x-request-id"],
        "evil\tid with spaces",
        "unsafe ids are replaced"
    );
}
