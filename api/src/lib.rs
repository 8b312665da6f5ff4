//! The HTTP API: poem + poem-openapi. Handlers validate, read or write small rows, and (from
//! the job queue on) enqueue jobs; they never call an outside service.
//!
//! # Layout
//! - [`app`] builds the whole HTTP application from an [`AppState`]; [`spec_json`] and
//!   [`spec_yaml`] give the OpenAPI document without running anything.
//! - `state`: [`AppState`] (what every handler shares) and the settings the API is built
//!   from ([`ApiConfig`], [`Limits`], [`HttpSettings`], [`BuildInfo`], [`PublicClient`]).
//! - `health`: `GET /api/health`, `GET /api/health/ready`, `GET /api/health/detailed`.
//! - `docs`: the spec at `/api/openapi.json` and `/api/openapi.yaml`, Swagger UI at
//!   `/api/docs`, ReDoc at `/api/redoc`, all embedded (no CDN).
//! - `admin`: the job dashboard's API (queues, workers, jobs, retry, discard, replay,
//!   pause, throughput per minute, an event stream).
//! - `console`: the admin console at `/admin` and the job dashboard at `/dashboard`: static
//!   pages and ES modules embedded in the binary that call the documented API.
//! - [`board`] (in `admin`): apalis-board's prebuilt UI and its `/api/v1`, served on a port of
//!   its own.
//! - `onboarding`: `POST /api/user/onboarding` (seed 001).
//! - `discord`: the bot invite link, the OAuth callback, the bot's `/login` fallback (seed 001).
//! - `exchange`: a sign-in's exchange job by id, its typed payload and outcome, and the page a
//!   Discord link leads to (shared by the callback, the pending page, `job_status` and Google's
//!   login).
//! - `pages`: built-in success, error and pending pages when there is no `WEB_APP_BASE_URL`.
//! - `job_status`: `GET /api/jobs/{id}` for a sign-in that outlived the wait.
//! - `sessions`: Google sign-in, refresh, logout, `me`, `update_username` (seed 002), one API
//!   struct per file.
//! - `invitations`: users, CSV upload, invitation mails, verification (seed 003), one API
//!   struct per file.
//! - `tokens`: admin API tokens (seed 004).
//! - `audit`: `GET /api/audit`, the audit log with filters.
//! - [`auth`]: the security schemes (`x-api-key`, Bearer API token, Bearer JWT), and the
//!   throttling of failed admin authentication.
//! - [`client`]: the caller's address behind trusted proxies, as limits count it.
//! - `limits`: what an anonymous or hostile caller may cost (429 with `Retry-After`).
//! - `login_log`: seed 002's login log: sign-ins, refreshes, sign-outs and username changes as
//!   audit rows and `LOGIN_LOG_FILE` lines.
//! - [`jwt`]: the access tokens we issue.
//! - [`error`]: the JSON error body and the mapping of every error to it; `.or_500("step")`
//!   names the failed step of a 500 in the log.
//! - `responses`: `responses!`, which writes the response enums and the variants they share
//!   (401/403, 400, 413/415) in one place.
//! - `validate`: text fields parsed into `DisplayName`, `DiscordId`, `Email`.
//! - `cookies`: the cookies the API sets and reads (the Google flow's browser binding).
//! - [`middleware`]: request id, access log, body size limit.
//! - `routes`: which `/api/` paths exist (from the spec), so a path no route takes is 404, not 405.

mod admin;
mod audit;
pub mod auth;
pub mod client;
mod console;
mod cookies;
mod discord;
pub mod error;
mod exchange;
mod health;
mod invitations;
mod job_status;
pub mod jwt;
mod limits;
mod login_log;
pub mod middleware;
mod onboarding;
mod pages;
mod responses;
mod routes;
mod sessions;
mod spec;
mod state;
mod text;
mod tokens;
mod validate;

use poem::endpoint::make_sync;
use poem::middleware::{AddData, SetHeader};
use poem::web::Redirect;
use poem::{Endpoint, EndpointExt, Response, Route, get};
use poem_openapi::OpenApiService;

pub use admin::board;
pub use client::TrustedProxies;
pub use health::{CheckStatus, DetailedHealth, OverallStatus};
pub use state::{ApiConfig, AppState, BuildInfo, HttpSettings, Limits, PublicClient};

/// Every endpoint of the spec, in the order the spec lists them: poem-openapi orders paths by
/// registration, so this order is part of the committed spec.
fn service() -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(
        (
            health::HealthApi,
            onboarding::OnboardingApi,
            discord::DiscordApi,
            job_status::JobStatusApi,
            (
                sessions::google::GoogleApi,
                sessions::refresh::RefreshApi,
                sessions::profile::ProfileApi,
            ),
            (
                invitations::users::UsersApi,
                invitations::user_page::UserPageApi,
                invitations::upload::UploadApi,
                invitations::batches::BatchesApi,
                invitations::verify::VerifyApi,
                invitations::users::UserChangesApi,
            ),
            tokens::TokensApi,
            audit::AuditApi,
            admin::AdminJobsApi,
            auth::SecuritySchemes,
        ),
        "Concierge API",
        env!("CARGO_PKG_VERSION"),
    )
    .url_prefix("/api")
    .description(
        "Onboarding, account linking, invitations and the job dashboard of Concierge. \
         Every error is JSON `{\"code\", \"message\"}`; every response carries `x-request-id`. \
         Any endpoint may answer 429 (`too_many_requests`, with `Retry-After`) when the \
         caller's address exceeds its requests per minute, or sends credentials after too \
         many failed admin authentications; endpoints with limits of their own document \
         their 429 (`too_many_attempts`).",
    )
}

/// The OpenAPI document as JSON, exactly as served at `/api/openapi.json` (poem-openapi's,
/// tidied by `spec`).
pub fn spec_json() -> String {
    spec::json(&spec::tidied(&service().spec()))
}

/// The OpenAPI document as YAML, exactly as served at `/api/openapi.yaml`.
pub fn spec_yaml() -> String {
    spec::yaml(&spec::tidied(&service().spec()))
}

/// The whole HTTP application.
pub fn app(state: AppState, settings: HttpSettings) -> impl Endpoint<Output = Response> {
    let service = service();
    let raw = service.spec();
    let doc = spec::tidied(&raw);
    let (json, yaml) = (spec::json(&doc), spec::yaml(&doc));
    // The pages embed poem-openapi's document: they get the tidied one instead. ReDoc's
    // pulls fonts from Google; the page works (with system fonts) without them, and nothing
    // here may depend on a CDN.
    let redoc = strip_external_fonts(&service.redoc_html().replace(&raw, &json));
    let swagger = service.swagger_ui_html().replace(&raw, &json);
    let route = Route::new()
        .at("/", get(make_sync(|_| Redirect::see_other("/api/docs"))))
        .at("/api/openapi.json", fixed("application/json", json))
        .at("/api/openapi.yaml", fixed("application/yaml", yaml))
        .at("/api/docs", fixed("text/html; charset=utf-8", swagger))
        .at("/api/redoc", fixed("text/html; charset=utf-8", redoc))
        .at("/metrics", get(metrics));
    console::routes(route)
        .nest(
            "/discord",
            Route::new()
                .at("/success", get(pages::success))
                .at("/error", get(pages::error))
                .at("/pending", get(pages::pending))
                .with(
                    SetHeader::new()
                        .overriding(poem::http::header::CONTENT_SECURITY_POLICY, pages::POLICY),
                ),
        )
        .nest("/api", service)
        .with(middleware::BodyLimit {
            max_bytes: settings.max_body_bytes,
        })
        .with(middleware::Throttle)
        .with(AddData::new(state))
        .with(middleware::RequestContext)
}

/// Prometheus metrics of this process and the queues (see `jobs::metrics`). Unauthenticated,
/// like most exporters: counts and latencies only; keep the port off the public internet or
/// filter `/metrics` at the proxy.
#[poem::handler]
async fn metrics(state: poem::web::Data<&AppState>) -> Response {
    let text = jobs::metrics::render(Some(state.producer())).await;
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
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
