//! OAuth providers: Discord (account linking, seed 001) and Google (sign-in, seed 002). Token
//! requests go through the `oauth2` crate (code + PKCE verifier, refresh); profiles are plain
//! JSON GETs. Every URL is configurable, so tests and self-hosted providers work.
//!
//! Errors are an enum the handlers branch on: [`OauthError::Rejected`] carries the code shown
//! to the user and must not be retried (the provider said no, or an authorization code was
//! spent); [`OauthError::Transient`] (network, 5xx, 429 before the code was accepted) may
//! succeed on the next attempt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs::ExchangeError;
use oauth2::basic::BasicClient;
use oauth2::{
    AsyncHttpClient, AuthType, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet,
    EndpointSet, HttpRequest, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    TokenResponse, TokenUrl,
};
use serde::Deserialize;
use store::secret::Secret;
use url::Url;

/// Longest an outside call may take; the job's own timeout is longer.
const HTTP_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum OauthError {
    #[error("rejected ({code}): {detail}", code = .0.code(), detail = .1)]
    Rejected(ExchangeError, String),
    #[error("temporarily failed: {0}")]
    Transient(String),
}

/// One registered OAuth client of ours.
#[derive(Debug, Clone)]
pub struct ProviderClient {
    pub client_id: String,
    pub client_secret: Secret,
    /// The registered redirect URI, if any (a Google client may have none: token sign-in
    /// only). A code is exchanged with the redirect URI its state recorded, not this one.
    pub redirect_uri: Option<Url>,
    pub token_url: Url,
}

/// Everything needed to talk to the providers.
#[derive(Debug, Clone)]
pub struct OauthSettings {
    /// `None` when `DISCORD_CLIENT_*` are not configured.
    pub discord: Option<ProviderClient>,
    /// Discord's REST base (`…/api/v10`), for `/users/@me`.
    pub discord_api_base: Url,
    pub google: Option<ProviderClient>,
    pub google_userinfo_url: Url,
    pub google_tokeninfo_url: Url,
}

/// Tokens a provider granted.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<Duration>,
    pub scopes: Option<String>,
}

/// The part of Discord's `/users/@me` we use.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscordUser {
    pub id: Option<String>,
    pub username: Option<String>,
    pub global_name: Option<String>,
    pub email: Option<String>,
    /// Whether Discord verified `email`.
    #[serde(default)]
    pub verified: bool,
}

/// The part of Google's userinfo we use.
#[derive(Debug, Clone, Deserialize)]
pub struct GoogleUser {
    pub sub: String,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: bool,
    pub name: Option<String>,
}

/// The part of Google's tokeninfo we use: who the token was issued to.
#[derive(Debug, Clone, Deserialize)]
struct TokenInfo {
    aud: Option<String>,
    azp: Option<String>,
    sub: Option<String>,
}

/// Google sends `email_verified` as a boolean in userinfo and as a string in tokeninfo.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    Ok(match B::deserialize(d)? {
        B::Bool(b) => b,
        B::Text(s) => s.eq_ignore_ascii_case("true"),
    })
}

type Client =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The HTTP side of the providers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Oauth {
    pub settings: Arc<OauthSettings>,
    http: reqwest::Client,
}

impl Oauth {
    pub fn new(settings: OauthSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            // Token endpoints must answer, not redirect (RFC 6749 §5): following a redirect
            // could send the client secret elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("concierge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            settings: Arc::new(settings),
            http,
        })
    }

    fn client(provider: &ProviderClient) -> Client {
        BasicClient::new(ClientId::new(provider.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                provider.client_secret.expose().to_owned(),
            ))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::from_url(provider.token_url.clone()))
    }

    /// Exchanges an authorization code, proving possession of the PKCE verifier and naming
    /// the redirect URI the code was issued for.
    pub async fn exchange_code(
        &self,
        provider: &ProviderClient,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Tokens, OauthError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| {
            OauthError::Rejected(ExchangeError::InvalidToken, format!("redirect URI: {e}"))
        })?;
        let (http, status) = self.recording_client();
        let result = Self::client(provider)
            .set_redirect_uri(redirect)
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&http)
            .await;
        token_result(result, &status)
    }

    /// Trades a refresh token for fresh tokens.
    pub async fn refresh(
        &self,
        provider: &ProviderClient,
        refresh_token: &str,
    ) -> Result<Tokens, OauthError> {
        let (http, status) = self.recording_client();
        let token = RefreshToken::new(refresh_token.to_owned());
        let result = Self::client(provider)
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await;
        token_result(result, &status)
    }

    /// A client that remembers the status of the last response: `oauth2` reports a 5xx with
    /// an HTML body and a 200 without `access_token` both as parse errors, and the two need
    /// different handling.
    fn recording_client(&self) -> (RecordingClient, Arc<Mutex<Option<u16>>>) {
        let status: Arc<Mutex<Option<u16>>> = Arc::default();
        let client = RecordingClient {
            http: self.http.clone(),
            status: status.clone(),
        };
        (client, status)
    }

    /// Discord's `/users/@me` for `access_token`. Called after the code was spent, so every
    /// failure is final (`user_info_failed`): a retry could not exchange the code again.
    pub async fn discord_user(&self, access_token: &str) -> Result<DiscordUser, OauthError> {
        let url = join(&self.settings.discord_api_base, "users/@me");
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| rejected(ExchangeError::UserInfoFailed, http_error(e)))?;
        if !response.status().is_success() {
            return Err(OauthError::Rejected(
                ExchangeError::UserInfoFailed,
                format!("Discord answered {}", response.status()),
            ));
        }
        response
            .json::<DiscordUser>()
            .await
            .map_err(|e| rejected(ExchangeError::UserInfoFailed, http_error(e)))
    }

    /// Checks that a Google access token was issued to our client (`aud`/`azp`), so a token
    /// obtained by another application cannot sign in here. Returns its subject. The token
    /// goes in the POST body (Google's tokeninfo takes it there too), never in a URL: URLs end
    /// up in error messages, proxies' logs and traces.
    pub async fn google_token_audience(
        &self,
        provider: &ProviderClient,
        access_token: &str,
    ) -> Result<Option<String>, OauthError> {
        let response = self
            .http
            .post(self.settings.google_tokeninfo_url.clone())
            .form(&[("access_token", access_token)])
            .send()
            .await
            .map_err(|e| OauthError::Transient(http_error(e)))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(OauthError::Transient(format!(
                "tokeninfo answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(OauthError::Rejected(
                ExchangeError::InvalidToken,
                format!("tokeninfo answered {status}"),
            ));
        }
        let info: TokenInfo = response
            .json()
            .await
            .map_err(|e| rejected(ExchangeError::InvalidToken, http_error(e)))?;
        let ours = [info.aud.as_deref(), info.azp.as_deref()]
            .into_iter()
            .flatten()
            .any(|a| a == provider.client_id);
        if !ours {
            return Err(OauthError::Rejected(
                ExchangeError::InvalidToken,
                "the token was issued to another client".into(),
            ));
        }
        Ok(info.sub)
    }

    /// Google's userinfo for `access_token`. `spent_code` says whether a code was spent to get
    /// the token (then a failure is final); a client's own token may be tried again.
    pub async fn google_user(
        &self,
        access_token: &str,
        spent_code: bool,
    ) -> Result<GoogleUser, OauthError> {
        let fail = |detail: String| {
            if spent_code {
                OauthError::Rejected(ExchangeError::UserInfoFailed, detail)
            } else {
                OauthError::Transient(detail)
            }
        };
        let response = self
            .http
            .get(self.settings.google_userinfo_url.clone())
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| fail(http_error(e)))?;
        let status = response.status();
        if status.as_u16() == 401 {
            return Err(OauthError::Rejected(
                ExchangeError::InvalidToken,
                "userinfo refused the token".into(),
            ));
        }
        if !status.is_success() {
            return Err(fail(format!("userinfo answered {status}")));
        }
        response
            .json::<GoogleUser>()
            .await
            .map_err(|e| rejected(ExchangeError::UserInfoFailed, http_error(e)))
    }
}

/// See [`Oauth::recording_client`].
struct RecordingClient {
    http: reqwest::Client,
    status: Arc<Mutex<Option<u16>>>,
}

impl<'c> AsyncHttpClient<'c> for RecordingClient {
    type Error = oauth2::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<oauth2::HttpResponse, Self::Error>> + Send + Sync + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.http.call(request).await?;
            if let Ok(mut s) = self.status.lock() {
                *s = Some(response.status().as_u16());
            }
            Ok(response)
        })
    }
}

/// An HTTP error as text, without the URL it was for (reqwest puts it in the message).
pub(crate) fn http_error(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

fn rejected(code: ExchangeError, e: impl std::fmt::Display) -> OauthError {
    OauthError::Rejected(code, e.to_string())
}

/// `base` + `path`, whether or not `base` ends with a slash.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty();
        segments.extend(path.split('/'));
    }
    url
}

fn token_result(
    result: Result<
        oauth2::basic::BasicTokenResponse,
        RequestTokenError<
            oauth2::HttpClientError<reqwest::Error>,
            oauth2::basic::BasicErrorResponse,
        >,
    >,
    status: &Mutex<Option<u16>>,
) -> Result<Tokens, OauthError> {
    let status = status.lock().ok().and_then(|s| *s);
    match result {
        Ok(token) => Ok(Tokens {
            access_token: token.access_token().secret().clone(),
            refresh_token: token.refresh_token().map(|t| t.secret().clone()),
            expires_in: token.expires_in(),
            scopes: token
                .scopes()
                .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
        }),
        // The provider said no (invalid_grant: a wrong, spent or foreign code; bad verifier).
        Err(RequestTokenError::ServerResponse(e)) => Err(OauthError::Rejected(
            ExchangeError::TokenExchangeFailed,
            e.to_string(),
        )),
        Err(RequestTokenError::Request(e)) => Err(OauthError::Transient(match e {
            oauth2::HttpClientError::Reqwest(e) => http_error(*e),
            other => other.to_string(),
        })),
        Err(e) => match status {
            Some(s) if s >= 500 || s == 429 => Err(OauthError::Transient(format!(
                "token endpoint answered {s}"
            ))),
            // A 200 whose body is no token response: no access token.
            Some(200) => Err(OauthError::Rejected(
                ExchangeError::NoAccessToken,
                e.to_string(),
            )),
            _ => Err(OauthError::Rejected(
                ExchangeError::TokenExchangeFailed,
                e.to_string(),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_handles_trailing_slashes() {
        let a = Url::parse("https://discord.com/api/v10").expect("url");
        let b = Url::parse("https://discord.com/api/v10/").expect("url");
        assert_eq!(
            join(&a, "users/@me").as_str(),
            "https://discord.com/api/v10/users/@me"
        );
        assert_eq!(
            join(&b, "users/@me").as_str(),
            "https://discord.com/api/v10/users/@me"
        );
    }

    #[test]
    fn google_email_verified_is_read_as_bool_or_string() {
        let a: GoogleUser =
            serde_json::from_str(r#"{"sub":"1","email_verified":"true"}"#).expect("json");
        let b: GoogleUser =
            serde_json::from_str(r#"{"sub":"1","email_verified":false}"#).expect("json");
        let c: GoogleUser = serde_json::from_str(r#"{"sub":"1"}"#).expect("json");
        assert!(a.email_verified);
        assert!(!b.email_verified);
        assert!(!c.email_verified);
    }
}
