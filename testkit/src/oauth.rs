//! A fake OAuth provider speaking real HTTP: Discord's and Google's endpoints in one server.
//!
//! - `GET /oauth2/authorize`: what the browser opens; logs in as the account chosen with
//!   [`FakeOAuth::login_as`] and redirects to `redirect_uri` with a code and the `state`.
//! - `POST /oauth2/token`: `authorization_code` (checks client, code, redirect URI and the PKCE
//!   verifier against the S256 challenge) and `refresh_token` grants.
//! - `GET /api/v10/users/@me`: Discord's profile shape (`id`, `username`, …); `email` and
//!   `verified` only when the grant's scope includes `email`, as Discord does.
//! - `GET /userinfo`: Google's (`sub`, `email_verified`, …).
//! - `POST /tokeninfo` (form `access_token`): Google's (`aud`, `azp`, `sub`…). Stricter than
//!   Google on purpose: a token in the URL (`GET ?access_token=`, which Google also takes) is
//!   refused with 400, because our rule is that no secret travels in a URL we build.
//!
//! Failures are injected per test ([`FakeOAuth::fail_token`], [`FakeOAuth::fail_userinfo`]…),
//! and every token request is counted, so tests can prove none was made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Form, Json, Query, Redirect};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

/// The client the fake accepts.
pub const CLIENT_ID: &str = "fake-client-id";
pub const CLIENT_SECRET: &str = "fake-client-secret";

/// An account at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Discord id, or Google subject.
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

impl Account {
    pub fn discord(id: &str, username: &str) -> Self {
        Self {
            id: id.into(),
            username: username.into(),
            email: Some(format!("{username}@discord.test")),
            email_verified: true,
        }
    }

    /// A Discord account whose verified email is `email` (Discord vouches for it).
    pub fn discord_with_email(id: &str, username: &str, email: &str) -> Self {
        Self {
            email: Some(email.into()),
            ..Self::discord(id, username)
        }
    }

    pub fn google(sub: &str, email: &str, verified: bool) -> Self {
        Self {
            id: sub.into(),
            username: email.split('@').next().unwrap_or(email).into(),
            email: Some(email.into()),
            email_verified: verified,
        }
    }
}

#[derive(Debug, Clone)]
struct Grant {
    account: Account,
    challenge: String,
    redirect_uri: String,
    /// The scope the authorization asked for (space-separated).
    scope: String,
    used: bool,
}

#[derive(Debug, Default)]
struct State {
    login_as: Option<Account>,
    codes: HashMap<String, Grant>,
    /// access token → (account, the client it was issued to, the granted scope)
    access: HashMap<String, (Account, String, String)>,
    /// refresh token → (account, the granted scope)
    refresh: HashMap<String, (Account, String)>,
    token_requests: u32,
    fail_token: Option<(u16, String)>,
    omit_access_token: bool,
    fail_userinfo: Option<u16>,
    omit_id: bool,
    /// Every authorize request's query, for assertions.
    authorize_queries: Vec<HashMap<String, String>>,
    /// Requests that carried an access token in their URL (refused).
    tokens_in_urls: u32,
}

/// A running fake provider. Stops when dropped.
#[derive(Debug, Clone)]
pub struct FakeOAuth {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    state: Arc<Mutex<State>>,
    _stop: Arc<StopOnDrop>,
}

/// Cancels its token when dropped: a fake server lives as long as its handles.
#[derive(Debug)]
pub(crate) struct StopOnDrop(pub(crate) CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Serves `app` on a free port of 127.0.0.1 until the returned guard is dropped.
pub(crate) async fn serve(
    app: impl poem::Endpoint + 'static,
    what: &str,
) -> (std::net::SocketAddr, StopOnDrop) {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap_or_else(|e| panic!("bind {what}: {e}"));
    let addr = *acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr())
        .unwrap_or_else(|| panic!("{what} has no address"));
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, async move { token.cancelled().await }, None)
            .await;
    });
    (addr, StopOnDrop(stop))
}

impl FakeOAuth {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let app = Route::new()
            .at("/oauth2/authorize", get(authorize))
            .at("/oauth2/token", post(token_endpoint))
            .at("/api/v10/users/@me", get(discord_me))
            .at("/userinfo", get(google_userinfo))
            .at("/tokeninfo", get(tokeninfo_in_url).post(google_tokeninfo))
            .data(state.clone());
        let (addr, stop) = serve(app, "fake OAuth").await;
        Self {
            url: format!("http://{addr}"),
            state,
            _stop: Arc::new(stop),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().expect("fake OAuth state");
        f(&mut state)
    }

    /// The account the next authorization logs in as.
    pub fn login_as(&self, account: &Account) {
        self.with(|s| s.login_as = Some(account.clone()));
    }

    /// A Google access token for `account`, issued to `client_id` (as if the client had
    /// signed in with Google itself).
    pub fn issue_access_token(&self, account: &Account, client_id: &str) -> String {
        let token = format!("ya29.{}", uuid::Uuid::new_v4().simple());
        self.with(|s| {
            s.access.insert(
                token.clone(),
                (
                    account.clone(),
                    client_id.to_owned(),
                    "openid email profile".to_owned(),
                ),
            )
        });
        token
    }

    /// Token requests received so far.
    pub fn token_requests(&self) -> u32 {
        self.with(|s| s.token_requests)
    }

    /// The token endpoint answers `status` with `body` from now on.
    pub fn fail_token(&self, status: u16, body: &str) {
        self.with(|s| s.fail_token = Some((status, body.to_owned())));
    }

    /// The token endpoint answers 200 without an `access_token`.
    pub fn omit_access_token(&self) {
        self.with(|s| s.omit_access_token = true);
    }

    /// The profile endpoints answer `status`.
    pub fn fail_userinfo(&self, status: u16) {
        self.with(|s| s.fail_userinfo = Some(status));
    }

    /// Discord's profile comes without an `id`.
    pub fn omit_id(&self) {
        self.with(|s| s.omit_id = true);
    }

    /// The queries of the authorize requests received.
    pub fn authorize_queries(&self) -> Vec<HashMap<String, String>> {
        self.with(|s| s.authorize_queries.clone())
    }

    /// Requests that put an access token in the URL (each was refused).
    pub fn tokens_in_urls(&self) -> u32 {
        self.with(|s| s.tokens_in_urls)
    }

    /// Forgets every refresh token, as a provider does when the user revokes the app.
    pub fn revoke_refresh_tokens(&self) {
        self.with(|s| s.refresh.clear());
    }

    /// A refresh token the provider accepts for `account` (as if granted earlier).
    pub fn issue_refresh_token(&self, account: &Account) -> String {
        let token = format!("rt-{}", uuid::Uuid::new_v4().simple());
        self.with(|s| {
            s.refresh
                .insert(token.clone(), (account.clone(), "identify".to_owned()))
        });
        token
    }
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

#[handler]
fn authorize(
    Query(q): Query<HashMap<String, String>>,
    state: Data<&Arc<Mutex<State>>>,
) -> Response {
    let mut s = state.lock().expect("state");
    s.authorize_queries.push(q.clone());
    let (Some(redirect_uri), Some(challenge)) = (q.get("redirect_uri"), q.get("code_challenge"))
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || q.get("response_type").map(String::as_str) != Some("code")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let Some(account) = s.login_as.clone() else {
        return oauth_error(StatusCode::BAD_REQUEST, "access_denied");
    };
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    s.codes.insert(
        code.clone(),
        Grant {
            account,
            challenge: challenge.clone(),
            redirect_uri: redirect_uri.clone(),
            scope: q.get("scope").cloned().unwrap_or_default(),
            used: false,
        },
    );
    let mut target = url::Url::parse(redirect_uri).expect("redirect_uri");
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", q.get("state").map(String::as_str).unwrap_or(""));
    Redirect::see_other(target.as_str()).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[handler]
fn token_endpoint(
    Form(form): Form<TokenForm>,
    state: Data<&Arc<Mutex<State>>>,
    req: &Request,
) -> Response {
    let mut s = state.lock().expect("state");
    s.token_requests += 1;
    if let Some((status, body)) = s.fail_token.clone() {
        return Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .content_type(if body.starts_with('{') {
                "application/json"
            } else {
                "text/html"
            })
            .body(body);
    }
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client_ok = (form.client_id.as_deref() == Some(CLIENT_ID)
        && form.client_secret.as_deref() == Some(CLIENT_SECRET))
        || basic.is_some_and(|b| {
            b == format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            )
        });
    if !client_ok {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let (account, scope) = match form.grant_type.as_str() {
        "authorization_code" => {
            let Some(grant) = form.code.as_deref().and_then(|c| s.codes.get_mut(c)) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = form.code_verifier.unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if grant.used
                || form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str())
                || challenge != grant.challenge
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            grant.used = true;
            (grant.account.clone(), grant.scope.clone())
        }
        "refresh_token" => {
            let Some(account) = form
                .refresh_token
                .as_deref()
                .and_then(|t| s.refresh.remove(t))
            else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            account
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    if s.omit_access_token {
        return Json(serde_json::json!({ "token_type": "Bearer" })).into_response();
    }
    let access = format!("at-{}", uuid::Uuid::new_v4().simple());
    let refresh = format!("rt-{}", uuid::Uuid::new_v4().simple());
    s.access.insert(
        access.clone(),
        (account.clone(), CLIENT_ID.to_owned(), scope.clone()),
    );
    s.refresh.insert(refresh.clone(), (account, scope.clone()));
    Json(serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 604800,
        "refresh_token": refresh,
        "scope": scope,
    }))
    .into_response()
}

/// The account behind the request's Bearer token (with the client and the granted scope), or
/// the response to send instead.
fn bearer_account(req: &Request, s: &State) -> Result<(Account, String, String), Box<Response>> {
    if let Some(status) = s.fail_userinfo {
        return Err(Box::new(oauth_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "unavailable",
        )));
    }
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| s.access.get(t).cloned())
        .ok_or_else(|| Box::new(oauth_error(StatusCode::UNAUTHORIZED, "invalid_token")))
}

#[handler]
fn discord_me(req: &Request, state: Data<&Arc<Mutex<State>>>) -> Response {
    let s = state.lock().expect("state");
    match bearer_account(req, &s) {
        Ok((a, _, scope)) => {
            let mut body = serde_json::json!({
                "id": a.id, "username": a.username, "global_name": a.username,
                "discriminator": "0", "avatar": null,
            });
            // Discord answers email and verified only to grants with the `email` scope.
            if scope.split_whitespace().any(|s| s == "email")
                && let Some(map) = body.as_object_mut()
            {
                map.insert("email".into(), serde_json::json!(a.email));
                map.insert("verified".into(), serde_json::json!(a.email_verified));
            }
            if s.omit_id
                && let Some(map) = body.as_object_mut()
            {
                map.remove("id");
            }
            Json(body).into_response()
        }
        Err(r) => *r,
    }
}

#[handler]
fn google_userinfo(req: &Request, state: Data<&Arc<Mutex<State>>>) -> Response {
    let s = state.lock().expect("state");
    match bearer_account(req, &s) {
        Ok((a, _, _)) => Json(serde_json::json!({
            "sub": a.id, "email": a.email, "email_verified": a.email_verified,
            "name": a.username, "picture": "https://example.test/p.png",
        }))
        .into_response(),
        Err(r) => *r,
    }
}

#[derive(Debug, Deserialize)]
struct TokenInfoForm {
    access_token: Option<String>,
}

/// `GET /tokeninfo?access_token=…`: refused (see the module), and remembered.
#[handler]
fn tokeninfo_in_url(state: Data<&Arc<Mutex<State>>>) -> Response {
    state.lock().expect("state").tokens_in_urls += 1;
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error_description": "send the access token in the body" })),
    )
        .into_response()
}

#[handler]
fn google_tokeninfo(
    req: &Request,
    Form(form): Form<TokenInfoForm>,
    state: Data<&Arc<Mutex<State>>>,
) -> Response {
    let mut s = state.lock().expect("state");
    if req
        .uri()
        .query()
        .is_some_and(|q| q.contains("access_token"))
    {
        s.tokens_in_urls += 1;
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error_description": "send the access token in the body" })),
        )
            .into_response();
    }
    match form.access_token.as_deref().and_then(|t| s.access.get(t)) {
        Some((a, aud, _)) => Json(serde_json::json!({
            "aud": aud, "azp": aud, "sub": a.id, "expires_in": "3599",
            "email": a.email, "email_verified": if a.email_verified { "true" } else { "false" },
        }))
        .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error_description": "Invalid Value" })),
        )
            .into_response(),
    }
}
