//! Access tokens: JWTs signed with HS256 under `JWT_SECRET`. The algorithm is pinned (a token
//! claiming `none` or any other algorithm is refused), `exp iat iss aud sub sid` are required,
//! and expiry is checked with a small explicit leeway for clock skew. `sid` names the session
//! (the refresh-token family): the API checks it is live on every request, so logging out or a
//! detected refresh-token reuse ends the access tokens of that session at once, not at `exp`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use store::secret::Secret;

/// Our issuer and audience: tokens of other services (or other deployments' audiences) fail.
pub const ISSUER: &str = "concierge";
pub const AUDIENCE: &str = "concierge-api";
/// Clock skew tolerated on `exp`.
pub const LEEWAY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub secret: Secret,
    /// Lifetime of an access token.
    pub ttl: Duration,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    /// The user's role when the token was issued; access checks re-read the user.
    pub role: String,
    /// The session (refresh-token family) the token belongs to.
    pub sid: String,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid access token: {0}")]
pub struct InvalidToken(String);

/// Signs an access token for `user_id` in session `session`; returns it and its lifetime in
/// seconds.
pub fn issue(
    settings: &JwtSettings,
    user_id: i64,
    role: &str,
    session: uuid::Uuid,
) -> (String, u64) {
    let now = jobs::now_ms() / 1000;
    let ttl = settings.ttl.as_secs().max(1);
    let claims = Claims {
        sub: user_id.to_string(),
        iat: now,
        exp: now + ttl,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        role: role.into(),
        sid: session.to_string(),
    };
    let key = EncodingKey::from_secret(settings.secret.expose().as_bytes());
    // HS256 over serializable claims cannot fail.
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap_or_default();
    (token, ttl)
}

/// Verifies signature, algorithm, issuer, audience and expiry; returns the claims.
pub fn verify(settings: &JwtSettings, token: &str) -> Result<Claims, InvalidToken> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub", "sid"]);
    validation.leeway = LEEWAY.as_secs();
    validation.validate_exp = true;
    let key = DecodingKey::from_secret(settings.secret.expose().as_bytes());
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| InvalidToken(e.to_string()))
}

/// Whether `token` carries our signature, whatever its claims (expired, revoked session,
/// another role): a token we issued is not a guess, so its refusal is not a failed
/// authentication to throttle.
pub fn signed_by_us(settings: &JwtSettings, token: &str) -> bool {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims::<&str>(&[]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    let key = DecodingKey::from_secret(settings.secret.expose().as_bytes());
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JwtSettings {
        JwtSettings {
            secret: Secret::new("s".repeat(32)),
            ttl: Duration::from_secs(60),
        }
    }

    #[test]
    fn issued_tokens_verify() {
        let (token, ttl) = issue(&settings(), 42, "personal_only", uuid::Uuid::nil());
        assert_eq!(ttl, 60);
        let claims = verify(&settings(), &token).expect("valid");
        assert_eq!(claims.sub, "42");
        assert_eq!(claims.aud, AUDIENCE);
    }

    #[test]
    fn expired_tokens_are_still_ours_and_forgeries_are_not() {
        let expired = JwtSettings {
            ttl: Duration::from_secs(1),
            ..settings()
        };
        let (token, _) = issue(&expired, 42, "admin", uuid::Uuid::nil());
        assert!(signed_by_us(&settings(), &token));
        let other = JwtSettings {
            secret: Secret::new("t".repeat(32)),
            ..settings()
        };
        assert!(!signed_by_us(&other, &token));
        assert!(!signed_by_us(&settings(), "not.a.jwt"));
    }

    #[test]
    fn other_keys_fail() {
        let (token, _) = issue(&settings(), 42, "admin", uuid::Uuid::nil());
        let other = JwtSettings {
            secret: Secret::new("t".repeat(32)),
            ..settings()
        };
        assert!(verify(&other, &token).is_err());
    }
}
