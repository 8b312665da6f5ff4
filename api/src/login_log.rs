//! Seed 002's login log: every sign-in, refresh, sign-out and username change is an audit row
//! (`audit_log`, action `login.…`, actor and target `user:<id>`, the client's address in
//! `detail`) and, unless `LOGIN_LOG_FILE` is `off`, a line of seed 002's `logs/login.log`:
//!
//! ```text
//! 2026-12-02 02:31:22,123 - Successful login for existing user: ada@example.com from 203.0.113.7
//! ```
//!
//! The seed's own messages are kept word for word (sign-in, new user, username change); it
//! wrote nothing on refresh or sign-out, whose lines are ours. Times are UTC. The file is
//! opened for each line in append mode (created readable by its owner only), so a rotated log
//! is followed without a restart, and a line is one `write` (appends of one write do not
//! interleave). Neither the row nor the line can fail the request (see [`record`]).

use std::net::IpAddr;
use std::path::Path;

use poem::Request;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::state::AppState;

/// What happened to a session.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoginEvent<'a> {
    /// Signed in with `provider`; `created`: the account was made by this sign-in.
    SignedIn { provider: &'a str, created: bool },
    /// A refresh token was traded for new tokens.
    Refreshed,
    /// A session was ended by `POST /api/logout`.
    SignedOut,
    /// The username changed to `to`.
    UsernameChanged { to: &'a str },
}

impl LoginEvent<'_> {
    /// The audit log's action.
    fn action(&self) -> &'static str {
        match self {
            LoginEvent::SignedIn { .. } => "login.signed_in",
            LoginEvent::Refreshed => "login.refreshed",
            LoginEvent::SignedOut => "login.signed_out",
            LoginEvent::UsernameChanged { .. } => "login.username_changed",
        }
    }

    /// The line's message, in seed 002's words where it had them.
    fn message(&self, email: &str, from: &str) -> String {
        match self {
            LoginEvent::SignedIn { created: false, .. } => {
                format!("Successful login for existing user: {email} from {from}")
            }
            LoginEvent::SignedIn { created: true, .. } => {
                format!("New user registered and logged in: {email} from {from}")
            }
            LoginEvent::Refreshed => format!("Tokens refreshed for user: {email} from {from}"),
            LoginEvent::SignedOut => format!("Logout for user: {email} from {from}"),
            LoginEvent::UsernameChanged { to } => {
                format!("Username updated for user {email} to {to} from {from}")
            }
        }
    }

    fn detail(&self, ip: Option<IpAddr>) -> serde_json::Value {
        let ip = ip.map(|ip| ip.to_string());
        match self {
            LoginEvent::SignedIn { provider, created } => {
                json!({ "ip": ip, "provider": provider, "new_user": created })
            }
            LoginEvent::UsernameChanged { to } => json!({ "ip": ip, "username": to }),
            LoginEvent::Refreshed | LoginEvent::SignedOut => json!({ "ip": ip }),
        }
    }
}

/// Records `event` of user `user_id` (whose address is `email`): the audit row, then the
/// file's line. Neither can fail the request: they come after what they record happened (a
/// rotated refresh token, issued tokens), and a client whose answer is lost to a failed
/// write would retry into a reuse and lose its session. A failure is logged as an error.
pub(crate) async fn record(
    state: &AppState,
    req: &Request,
    user_id: i64,
    email: &str,
    event: LoginEvent<'_>,
) {
    let ip = crate::client::address(req, &state.config().trusted_proxies);
    let who = format!("user:{user_id}");
    let detail = event.detail(ip);
    if let Err(e) = store::audit::record(state.db(), &who, event.action(), Some(&who), detail).await
    {
        tracing::error!(action = event.action(), error = %e, "cannot record the sign-in in the audit log");
    }
    if let Some(path) = &state.config().login_log_file {
        let from = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let line = format!(
            "{} - {}\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S,%3f"),
            clean(&event.message(email, &from))
        );
        if let Err(e) = append(path, &line).await {
            tracing::warn!(file = %path.display(), error = %e, "cannot write the login log (LOGIN_LOG_FILE)");
        }
    }
}

/// A value as it goes into a line: one line, read as written. Control characters, line and
/// paragraph separators (U+2028/9, which Python's `splitlines` splits on), bidirectional and
/// invisible format characters (which reorder or hide text in a viewer) become spaces: a
/// username must not forge the next line or disguise its own.
fn clean(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            let hidden = matches!(c,
                '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}' | '\u{061C}');
            if c.is_control() || hidden { ' ' } else { c }
        })
        .collect()
}

/// Appends `line` to `path`, creating the file and its directory when missing.
async fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let mut options = tokio::fs::OpenOptions::new();
    // It names people and their addresses: readable by its owner only.
    options.create(true).append(true).mode(0o600);
    let open = || options.open(path);
    let mut file = match open().await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir).await?;
            }
            open().await?
        }
        opened => opened?,
    };
    file.write_all(line.as_bytes()).await?;
    // tokio writes in the background; flushing waits for it, so a full disk is reported here.
    file.flush().await
}

#[cfg(test)]
mod tests {
    use super::{LoginEvent, clean};

    #[test]
    fn lines_keep_seed_002s_words_and_cannot_be_split() {
        let signed_in = LoginEvent::SignedIn {
            provider: "google",
            created: false,
        };
        assert_eq!(
            signed_in.message("ada@example.com", "203.0.113.7"),
            "Successful login for existing user: ada@example.com from 203.0.113.7"
        );
        let renamed = LoginEvent::UsernameChanged { to: "ada" };
        assert_eq!(
            renamed.message("ada@example.com", "::1"),
            "Username updated for user ada@example.com to ada from ::1"
        );
        assert_eq!(clean("x\n2026-01-01 - forged"), "x 2026-01-01 - forged");
        assert_eq!(clean("x\u{2028}y\u{202E}z"), "x y z");
    }
}
