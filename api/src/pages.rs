//! Built-in `/discord/success`, `/discord/error` and `/discord/pending` pages, so the linking
//! flow works without a frontend (no `WEB_APP_BASE_URL`). Plain HTML, no scripts: the pending
//! page reloads itself every two seconds and redirects once the job finished.

use std::collections::HashMap;

use poem::http::StatusCode;
use poem::web::{Data, Html, Query, Redirect};
use poem::{IntoResponse, Response, handler};

use crate::exchange::{Destination, destination_of, exchange_status};
use crate::state::AppState;

/// The pages run no script and load nothing: their one inline style is all they may use.
pub(crate) const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn page(title: &str, message: &str, refresh: bool) -> Html<String> {
    let refresh = if refresh {
        r#"<meta http-equiv="refresh" content="2">"#
    } else {
        ""
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;\
         margin:4rem auto;padding:0 1rem;line-height:1.5}}</style></head>\
         <body><h1>{title}</h1><p>{message}</p></body></html>",
        title = escape(title),
        message = escape(message),
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[handler]
pub(crate) fn success(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let name = q.get("username").map(String::as_str).unwrap_or("");
    let hello = if name.is_empty() {
        String::new()
    } else {
        format!(", {name}")
    };
    // `verify=email`: Discord did not vouch for the registration's address, so the link
    // counts once its owner sends the bot the code we mailed.
    if q.get("verify").map(String::as_str) == Some("email") {
        return page(
            "Discord account linked",
            &format!(
                "Your Discord account is linked{hello}. One step left: we mailed a code to the \
                 address you registered with; send it to the bot from this Discord account \
                 (`/verify <email> <code>`) and you are verified."
            ),
            false,
        );
    }
    page(
        "Discord account linked",
        &format!("You are verified{hello}. You can go back to Discord and talk to the bot."),
        false,
    )
}

/// What each of seed 001's codes means to the member.
fn explain(code: &str) -> &'static str {
    match code {
        "missing_params" => {
            "The link from Discord was incomplete. Start again from the onboarding page."
        }
        "invalid_token" => {
            "This verification link is invalid, expired or already used. Start again from the onboarding page."
        }
        "oauth_not_configured" => {
            "Discord sign-in is not set up on this server yet. Use the /login code instead."
        }
        "token_exchange_failed" => "Discord did not accept the sign-in. Please try again.",
        "no_access_token" => "Discord did not grant access. Please try again.",
        "user_info_failed" => "We could not read your Discord profile. Please try again.",
        "no_discord_id" => "Discord did not tell us your account id. Please try again.",
        "verification_failed" => {
            "This Discord account cannot be linked to your registration (it may belong to someone else)."
        }
        _ => "Something went wrong on our side. Please try again in a few minutes.",
    }
}

#[handler]
pub(crate) fn error(Query(q): Query<HashMap<String, String>>) -> Response {
    let code = q.get("error").map(String::as_str).unwrap_or("server_error");
    page("Discord linking failed", explain(code), false)
        .with_status(StatusCode::OK)
        .into_response()
}

#[handler]
pub(crate) async fn pending(
    state: Data<&AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let id = q.get("job_id").map(String::as_str).unwrap_or("");
    let destination = match exchange_status(&state, id).await {
        Ok(Some(status)) => destination_of(&status),
        Ok(None) => Some(Destination::Error {
            code: "invalid_token",
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a job's status");
            None
        }
    };
    match destination {
        Some(d) => Redirect::see_other(d.location(None)).into_response(),
        None => page(
            "Linking your Discord account…",
            "Discord answered and we are finishing the link. This page updates by itself.",
            true,
        )
        .into_response(),
    }
}
