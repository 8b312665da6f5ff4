//! The HTTP API: poem + poem-openapi. Handlers validate, read or write small rows, and (from
//! the job queue on) enqueue jobs; they never call an outside service.
//!
//! # Layout
//! - [`app`] builds the whole HTTP application from an [`AppState`]; [`spec_json`] and
//!   [`spec_yaml`] give the OpenAPI document without running anything.
//! - `health`: `GET /api/health`, `GET /api/health/detailed`.
//! - `docs`: the spec at `/api/openapi.json` and `/api/openapi.yaml`, Swagger UI at
//!   `/api/docs`, ReDoc at `/api/redoc`, all embedded (no CDN).
//! - [`auth`]: the security schemes (`x-api-key`, Bearer API token, Bearer JWT).
//! - [`error`]: the JSON error body and the mapping of every error to it.
//! - [`middleware`]: request id, access log, body size limit.

pub mod auth;
pub mod error;
mod health;
pub mod middleware;

use std::sync::Arc;

use poem::endpoint::make_sync;
use poem::middleware::AddData;
use poem::web::Redirect;
use poem::{Endpoint, EndpointExt, Response, Route, get};
use poem_openapi::{Object, OpenApiService};
use store::secret::Secret;

pub use health::{CheckStatus, DetailedHealth, OverallStatus};

/// What this build is, as reported by `/api/health/detailed`.
#[derive(Debug, Clone, Object)]
pub struct BuildInfo {
    /// Package version.
    pub version: String,
    /// Git commit the binary was built from, `unknown` outside a checkout.
    pub git_commit: String,
    /// `debug` or `release`.
    pub profile: String,
}

/// Everything a request handler may use. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: store::Pool,
    redis: redis::Client,
    secret_key: Secret,
    build: BuildInfo,
}

impl AppState {
    pub fn new(
        db: store::Pool,
        redis: redis::Client,
        secret_key: Secret,
        build: BuildInfo,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                redis,
                secret_key,
                build,
            }),
        }
    }

    pub fn db(&self) -> &store::Pool {
        &self.inner.db
    }

    pub fn redis(&self) -> &redis::Client {
        &self.inner.redis
    }

    pub(crate) fn secret_key(&self) -> &Secret {
        &self.inner.secret_key
    }

    pub(crate) fn build(&self) -> &BuildInfo {
        &self.inner.build
    }
}

/// Settings of the HTTP layer itself.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
}

type Apis = (health::HealthApi, auth::SecuritySchemes);

fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (health::HealthApi, auth::SecuritySchemes),
        "Concierge API",
        env!("CARGO_PKG_VERSION"),
    )
    .url_prefix("/api")
    .description(
        "Onboarding, account linking, invitations and the job dashboard of Concierge. \
         Every error is JSON `{\"code\", \"message\"}`; every response carries `x-request-id`.",
    )
}

/// The OpenAPI document as JSON, exactly as served at `/api/openapi.json`.
pub fn spec_json() -> String {
    service().spec()
}

/// The OpenAPI document as YAML, exactly as served at `/api/openapi.yaml`.
pub fn spec_yaml() -> String {
    service().spec_yaml()
}

/// The whole HTTP application.
pub fn app(state: AppState, settings: HttpSettings) -> impl Endpoint<Output = Response> {
    let service = service();
    let json = service.spec();
    let yaml = service.spec_yaml();
    // poem-openapi's ReDoc page pulls fonts from Google; the page works (with system fonts)
    // without them, and nothing here may depend on a CDN.
    let redoc = strip_external_fonts(&service.redoc_html());
    let swagger = service.swagger_ui_html();
    Route::new()
        .at("/", get(make_sync(|_| Redirect::see_other("/api/docs"))))
        .at("/api/openapi.json", fixed("application/json", json))
        .at("/api/openapi.yaml", fixed("application/yaml", yaml))
        .at("/api/docs", fixed("text/html; charset=utf-8", swagger))
        .at("/api/redoc", fixed("text/html; charset=utf-8", redoc))
        .nest("/api", service)
        .with(middleware::BodyLimit {
            max_bytes: settings.max_body_bytes,
        })
        .with(AddData::new(state))
        .with(middleware::RequestContext)
}

/// `GET` of a document computed once at start.
fn fixed(content_type: &'static str, body: String) -> impl Endpoint {
    get(make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .body(body.clone())
    }))
}

fn strip_external_fonts(html: &str) -> String {
    html.lines()
        .filter(|line| !line.contains("fonts.googleapis.com"))
        .collect::<Vec<_>>()
        .join("\n")
}
