use reqwest::StatusCode;
use serde_json::Value;
use testkit::spawn_app;

async fn error_body(resp: reqwest::Response) -> Value {
    let content_type = resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
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
    for path in ["/api/nope/deeper", "/nope", "/api/health/detailed/extra"] {
        let resp = app.get(path).send().await.expect("request");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_body(resp).await["code"], "not_found");
    }
}

#[tokio::test]
async fn wrong_method_gets_json_405() {
    let app = spawn_app().await;
    let resp = app
        .client
        .delete(format!("{}/api/health", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_body(resp).await["code"], "method_not_allowed");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    // The test app's limit is 64 KiB.
    let app = spawn_app().await;
    let resp = app
        .post("/api/health")
        .body(vec![b'x'; 65 * 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = error_body(resp).await;
    assert_eq!(body["code"], "payload_too_large");
    assert!(
        body["message"].as_str().expect("message").contains("65536"),
        "{body}"
    );

    // Within the limit, the same request is judged on its merits (wrong method).
    let resp = app
        .post("/api/health")
        .body(vec![b'x'; 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let resp = app.get("/api/health").send().await.expect("request");
    let id = resp.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let resp = app
        .get("/api/nope/deeper")
        .header("x-request-id", "trace-42.a")
        .send()
        .await
        .expect("request");
    assert_eq!(
        resp.headers()["x-request-id"],
        "trace-42.a",
        "a caller's plain id is kept"
    );

    let resp = app
        .get("/api/health")
        .header("x-request-id", "evil\tid with spaces")
        .send()
        .await
        .expect("request");
    assert_ne!(
        resp.headers()["x-request-id"],
        "evil\tid with spaces",
        "unsafe ids are replaced"
    );
}
