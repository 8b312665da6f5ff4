//! The admin console (`/admin`) and the job dashboard (`/dashboard`): static pages and small
//! ES modules, embedded in the binary, that call the documented API with the admin's
//! credentials, so they work offline and with no CDN.
//!
//! Why a small hand-written module and no template engine or build step: every screen is a
//! view of one or two JSON answers the API already documents (and tests), so rendering in
//! the browser adds no endpoint and no second source of truth; with no bundler, what is
//! served is what is committed and reviewed; and the pages can send the credentials as
//! headers (`x-api-key`, `Authorization`), never as cookies, so no request of another site
//! can act with them (no CSRF to defend against).
//!
//! # Layout
//! - `index.html`, `console.js`: the console (sign-in, users, import, invitations,
//!   monitoring, API tokens);
//! - `dashboard.html`, `dashboard.js`: the job dashboard;
//! - `common.js`: credentials, API calls, element building, the throughput chart;
//! - `console.css`: the look both share.
//!
//! Every page is served with a Content-Security-Policy that allows scripts, styles and
//! connections from this origin only: text from the API (a user's name, a CSV cell) can
//! never run, even if a page had a bug that put it into markup.

use poem::http::header;
use poem::{Endpoint, Response, Route, get};

const INDEX: &str = include_str!("index.html");
const DASHBOARD: &str = include_str!("dashboard.html");

/// The assets under `/admin/`: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("console.js"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("common.js"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("console.css"),
    ),
];

/// Scripts, styles and calls from this origin only; no frame may hold the pages.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `/admin`, its assets, and `/dashboard`, to be mounted at the root.
pub(crate) fn routes(route: Route) -> Route {
    let mut route = route
        .at("/admin", page("text/html; charset=utf-8", INDEX))
        .at("/admin/", page("text/html; charset=utf-8", INDEX))
        .at("/dashboard", page("text/html; charset=utf-8", DASHBOARD));
    for (name, content_type, body) in ASSETS {
        route = route.at(format!("/admin/{name}"), page(content_type, body));
    }
    route
}

fn page(content_type: &'static str, body: &'static str) -> impl Endpoint {
    get(poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .header(header::CONTENT_SECURITY_POLICY, CSP)
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            // The Google sign-in comes back with its code in the query: never sent onwards.
            .header(header::REFERRER_POLICY, "no-referrer")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(body)
    }))
}
