//! An OAuth client registration, as Discord and Google both have one: three settings that
//! are set together or not at all (Google's redirect URI may be left out: seed 002 signs in
//! with tokens), checked here once for both providers. It converts into
//! the API's public half (no secret) and the workers' full client.

use store::secret::Secret;
use url::Url;

use super::error::{ConfigError, invalid};
use super::resolve::{Resolver, http_url};

/// An OAuth client registration.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// The application's id, public (it appears in authorization URLs).
    pub client_id: String,
    /// The application's secret, for the code exchange; only the workers hold it.
    pub client_secret: Secret,
    /// Where the provider sends the user back; it must match the application's settings.
    /// Always set for Discord; `None` for a Google client without the redirect flow.
    pub redirect_uri: Option<Url>,
}

/// Whether a provider's client needs its redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Redirect {
    /// Discord: the link is always made through its authorization page.
    Required,
    /// Google: only the redirect flow needs it; token sign-in works without.
    Optional,
}

/// An OAuth client from its three settings, `<PROVIDER>_CLIENT_ID`, `<PROVIDER>_CLIENT_SECRET`
/// and `<PROVIDER>_REDIRECT_URI` (YAML keys `client_id`, `client_secret`, `redirect_uri` of the
/// provider's section): all of them or none when `needs` is [`Redirect::Required`]; with
/// [`Redirect::Optional`] the id and the secret together or neither, the redirect URI besides.
pub(super) fn oauth_client(
    r: &Resolver<'_>,
    provider: &str,
    id: Option<String>,
    secret: Option<String>,
    redirect: Option<String>,
    needs: Redirect,
) -> Result<Option<OAuthClient>, ConfigError> {
    let section = provider.to_ascii_lowercase();
    let yaml_key = |env: &str| {
        format!(
            "{env} ({section}.{})",
            env.split_once('_')
                .map_or("", |(_, k)| k)
                .to_ascii_lowercase()
        )
    };
    let [id_env, secret_env, redirect_env] =
        ["CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI"].map(|name| format!("{provider}_{name}"));
    let values = [
        (id_env.as_str(), r.string(&id_env, id)),
        (secret_env.as_str(), r.string(&secret_env, secret)),
        (redirect_env.as_str(), r.string(&redirect_env, redirect)),
    ];
    if values.iter().all(|(_, v)| v.is_none()) {
        return Ok(None);
    }
    let needed = match needs {
        Redirect::Required => &values[..],
        Redirect::Optional => &values[..2],
    };
    if let Some((missing, _)) = needed.iter().find(|(_, v)| v.is_none()) {
        let present: Vec<&str> = values
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| *n)
            .collect();
        return Err(invalid(
            &yaml_key(missing),
            format!(
                "missing; it is required when {} {} set",
                present.join(" and "),
                if present.len() > 1 { "are" } else { "is" }
            ),
        ));
    }
    let [
        (_, Some(client_id)),
        (_, Some(client_secret)),
        (_, redirect_uri),
    ] = values
    else {
        unreachable!("the client id and secret were checked to be present")
    };
    let redirect_uri = redirect_uri
        .map(|uri| http_url(&yaml_key(&redirect_env), &uri))
        .transpose()?;
    Ok(Some(OAuthClient {
        client_id,
        client_secret: Secret::new(client_secret),
        redirect_uri,
    }))
}

impl OAuthClient {
    /// What the API may show of it (no secret), for its authorize URLs: `None` without a
    /// redirect URI.
    pub fn public(&self) -> Option<api::PublicClient> {
        Some(api::PublicClient {
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone()?,
        })
    }

    /// The workers' client, which exchanges codes at `token_url`.
    pub fn provider(&self, token_url: &Url) -> workers::providers::oauth::ProviderClient {
        workers::providers::oauth::ProviderClient {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            redirect_uri: self.redirect_uri.clone(),
            token_url: token_url.clone(),
        }
    }
}
