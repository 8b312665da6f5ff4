//! The `google` section: Google sign-in (seed 002), its OAuth client and its endpoints, each
//! configurable for tests and self-hosted providers.

use serde::Deserialize;
use url::Url;

use super::error::ConfigError;
use super::oauth::{OAuthClient, Redirect, oauth_client};
use super::resolve::Resolver;

/// Google sign-in (seed 002).
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// `GOOGLE_CLIENT_ID` and `GOOGLE_CLIENT_SECRET` together or neither (seed 002's `.env`
    /// sets just these: sign-in with tokens); `GOOGLE_REDIRECT_URI` besides turns on the
    /// redirect (authorization-code) sign-in, `POST /api/login/google`; the admin console's
    /// Google sign-in needs it to be the console's address (`https://<host>/admin`).
    pub oauth: Option<OAuthClient>,
    /// Where users are sent to sign in. `GOOGLE_AUTHORIZE_URL`; default
    /// `https://accounts.google.com/o/oauth2/v2/auth`.
    pub authorize_url: Url,
    /// Where the workers exchange codes for tokens. `GOOGLE_TOKEN_URL`; default
    /// `https://oauth2.googleapis.com/token`.
    pub token_url: Url,
    /// Who the token's user is. `GOOGLE_USERINFO_URL`; default
    /// `https://openidconnect.googleapis.com/v1/userinfo`.
    pub userinfo_url: Url,
    /// Whether an ID token is Google's and ours. `GOOGLE_TOKENINFO_URL`; default
    /// `https://oauth2.googleapis.com/tokeninfo`.
    pub tokeninfo_url: Url,
}

/// The YAML section `google`, every key optional; each key is described on the
/// [`GoogleConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileGoogle {
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    tokeninfo_url: Option<String>,
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileGoogle) -> Result<GoogleConfig, ConfigError> {
    let oauth = oauth_client(
        r,
        "GOOGLE",
        f.client_id,
        f.client_secret,
        f.redirect_uri,
        Redirect::Optional,
    )?;
    Ok(GoogleConfig {
        oauth,
        authorize_url: r.url_or(
            "GOOGLE_AUTHORIZE_URL",
            "google.authorize_url",
            f.authorize_url,
            "https://accounts.google.com/o/oauth2/v2/auth",
        )?,
        token_url: r.url_or(
            "GOOGLE_TOKEN_URL",
            "google.token_url",
            f.token_url,
            "https://oauth2.googleapis.com/token",
        )?,
        userinfo_url: r.url_or(
            "GOOGLE_USERINFO_URL",
            "google.userinfo_url",
            f.userinfo_url,
            "https://openidconnect.googleapis.com/v1/userinfo",
        )?,
        tokeninfo_url: r.url_or(
            "GOOGLE_TOKENINFO_URL",
            "google.tokeninfo_url",
            f.tokeninfo_url,
            "https://oauth2.googleapis.com/tokeninfo",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::testing::section;

    #[test]
    fn a_complete_oauth_client_is_read() {
        let c = section(
            &[
                ("GOOGLE_CLIENT_ID", "g"),
                ("GOOGLE_CLIENT_SECRET", "s3cr3t"),
                (
                    "GOOGLE_REDIRECT_URI",
                    "http://localhost:8000/api/google/callback",
                ),
            ],
            "",
            resolve,
        )
        .expect("valid");
        let oauth = c.oauth.expect("configured");
        assert_eq!(oauth.client_id, "g");
        assert!(oauth.public().is_some(), "the redirect flow is on");
    }

    /// Seed 002's `.env` sets the client id and secret, no redirect URI: it starts, with
    /// token sign-in and without the redirect flow.
    #[test]
    fn the_redirect_uri_is_needed_only_by_the_redirect_flow() {
        let c = section(
            &[
                ("GOOGLE_CLIENT_ID", "g"),
                ("GOOGLE_CLIENT_SECRET", "s3cr3t"),
            ],
            "",
            resolve,
        )
        .expect("seed 002's two settings are enough");
        let oauth = c.oauth.expect("configured");
        assert_eq!(oauth.client_id, "g");
        assert!(oauth.redirect_uri.is_none());
        assert!(oauth.public().is_none(), "no redirect flow without its URI");
        // The id without the secret is still an error that names what is missing.
        let error = section(&[("GOOGLE_CLIENT_ID", "g")], "", resolve)
            .expect_err("the secret is missing")
            .to_string();
        assert!(error.contains("GOOGLE_CLIENT_SECRET"), "{error}");
    }
}
