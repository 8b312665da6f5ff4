//! Interactions and the application's commands: an interaction's first answer (once, within
//! 3 s), its original answer edited through the application's webhook (15 minutes), and the
//! bulk registration of the application's commands.

use poem::http::StatusCode;
use poem::web::{Data, Json, Path};
use poem::{IntoResponse, Request, Response, handler};
use serde_json::Value;

use super::json::command_json;
use super::rest::{CALLBACK_DEADLINE, TOKEN_LIFETIME, admit, refused_message};
use super::rules::{posted, record, refuse, refuse_with, unknown};
use super::{APPLICATION_ID, GENERAL_CHANNEL, Shared};

/// An interaction's first answer: within 3 s of it, once (10062 Unknown interaction after
/// that or for an interaction that never was; 40060 for a second answer).
#[handler]
pub(super) async fn callback(
    req: &Request,
    Path((id, token)): Path<(String, String)>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let incoming = admit!(
        shared,
        req,
        body,
        "/interactions/{interaction_id}/{interaction_token}/callback"
    );
    let verdict = {
        let mut s = shared.state.lock().expect("state");
        match s.interactions.get_mut(&id) {
            Some(i) if i.token == token && i.at.elapsed() <= CALLBACK_DEADLINE && !i.acked => {
                i.acked = true;
                None
            }
            Some(i) if i.token == token && i.acked => Some(40060),
            _ => Some(10062),
        }
    };
    match verdict {
        None => {
            record(&shared, req, incoming.json, incoming.files, false);
            StatusCode::NO_CONTENT.into_response()
        }
        Some(40060) => {
            let message = "Interaction has already been acknowledged.";
            refuse(
                &shared,
                req,
                incoming,
                StatusCode::BAD_REQUEST,
                40060,
                message,
            )
        }
        Some(code) => unknown(&shared, req, incoming, code, "interaction"),
    }
}

/// The answer of an acknowledged interaction, edited through its application's webhook and
/// the interaction's token, for 15 minutes (10015 Unknown Webhook for another application or a
/// token that never was, 50027 once expired, 10008 Unknown Message before the first answer).
#[handler]
pub(super) async fn edit_original(
    req: &Request,
    Path((app, token)): Path<(String, String)>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let incoming = admit!(
        shared,
        req,
        body,
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
    );
    let problem = {
        let s = shared.state.lock().expect("state");
        match s.interactions.values().find(|i| i.token == token) {
            _ if app != APPLICATION_ID.to_string() => Some((10015, "Unknown Webhook")),
            None => Some((10015, "Unknown Webhook")),
            Some(i) if i.at.elapsed() > TOKEN_LIFETIME => Some((50027, "Invalid Webhook Token")),
            Some(i) if !i.acked => Some((10008, "Unknown Message")),
            Some(_) => None,
        }
    };
    if let Some((code, message)) = problem {
        let status = if code == 50027 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::NOT_FOUND
        };
        return refuse(&shared, req, incoming, status, code, message);
    }
    if let Some((code, answer)) = refused_message(&incoming.json, &incoming.files) {
        return refuse_with(&shared, req, incoming, code, answer);
    }
    let id = shared.state.lock().expect("state").next_id();
    posted(&shared, req, incoming, id, GENERAL_CHANNEL, false)
}

#[handler]
pub(super) async fn commands(
    req: &Request,
    Path(app): Path<String>,
    body: poem::Body,
    shared: Data<&Shared>,
) -> Response {
    let incoming = admit!(shared, req, body, "/applications/{application_id}/commands");
    if app != APPLICATION_ID.to_string() {
        return unknown(&shared, req, incoming, 10002, "Application");
    }
    let echoed: Vec<Value> = incoming
        .json
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| command_json(7000 + i as u64, c))
        .collect();
    record(&shared, req, incoming.json, Vec::new(), false);
    Json(Value::Array(echoed)).into_response()
}
