use reqwest::StatusCode;
use serde_json::Value;
use testkit::spawn_app;

#[tokio::test]
async fn the_served_spec_is_the_generated_one() {
    let app = spawn_app().await;
    let resp = app.get("/api/openapi.json").send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    assert_eq!(resp.text().await.expect("body"), api::spec_json());

    let resp = app.get("/api/openapi.yaml").send().await.expect("request");
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
        let resp = app.get(path).send().await.expect("request");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        let html = resp.text().await.expect("body");
        for external in ["src=\"http", "href=\"http", "fonts.googleapis.com", "cdn."] {
            assert!(!html.contains(external), "{path} loads {external}");
        }
        assert!(html.contains("Concierge API"), "{path} embeds the spec");
    }
    let resp = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(
        resp.headers()["location"],
        "/api/docs",
        "the root leads to the docs"
    );
}
