//! `POST /api/user/onboarding` (seed 001): create or update an unverified user and hand back
//! how to link their Discord account: the OAuth URL (with `state` and PKCE S256) and, for the
//! bot's `/login` fallback, a short auth code.
//!
//! Onboarding is unauthenticated (seed 001's contract), so what it hands out proves nothing
//! about the email: a Discord account linked with its state or code is an unconfirmed link,
//! which grants no role, no chat and no verified state until the email is proven (Discord
//! vouching for the same verified address, or a token mailed to it and typed from that
//! Discord account). It never touches a verified account (409) or an invitee's row, never
//! kills codes handed out earlier, and is limited per address and per email, and its mails
//! per recipient.

use std::time::Duration;

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};
use url::Url;

use crate::error::{ErrorBody, Or500, body, retry_after};
use crate::limits;
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Text;
use crate::validate::{DisplayName, Email};

/// Lifetime of an OAuth `state` (the security rules cap it at 10 minutes).
pub(crate) const STATE_TTL: Duration = Duration::from_secs(600);
/// Lifetime of a `/login` code.
pub(crate) const LOGIN_CODE_TTL: Duration = Duration::from_secs(24 * 3600);
/// What we ask Discord for: the account's id and name, and its email with whether Discord
/// verified it (`email`): a verified Discord email equal to the onboarding's proves the
/// address, so the honest seed-001 flow verifies in one step.
pub(crate) const DISCORD_SCOPE: &str = "identify email";

#[derive(Debug, Tags)]
enum OnboardingTags {
    /// Web onboarding and Discord account linking (seed 001)
    Onboarding,
}

#[derive(Debug)]
pub struct OnboardingApi;

/// How the member wants to be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Channel {
    #[default]
    Discord,
    Email,
    Web,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Discord => "discord",
            Channel::Email => "email",
            Channel::Web => "web",
        }
    }
}

/// Seed 001's onboarding form.
#[derive(Debug, Object)]
pub struct OnboardingRequest {
    /// Full name, 1 to 200 characters.
    pub name: Text<1, 200>,
    pub email: Text,
    /// The chat personality the member picked (e.g. `loving`); up to 64 characters.
    #[oai(rename = "selectedPersonality")]
    pub selected_personality: Option<Text<1, 64>>,
    /// `discord` (default), `email` or `web`.
    #[oai(rename = "communicationChannel", default)]
    pub communication_channel: Channel,
}

#[derive(Debug, Object)]
pub struct OnboardingResponse {
    pub success: bool,
    pub user_id: i64,
    /// Discord's authorization page for this member (with `state` and PKCE); absent when
    /// Discord OAuth is not configured or the member chose another channel.
    pub verification_url: Option<String>,
    /// The `state` inside `verification_url`: single use, valid for `expires_in` seconds.
    pub verification_token: Option<String>,
    /// Fallback: DM the bot `/login <auth_code>` (valid 24 hours).
    pub auth_code: String,
    /// What to tell the member.
    pub instructions: String,
    /// Seconds `verification_token` stays valid.
    pub expires_in: u64,
}

responses! {
    pub enum OnboardingResult {
        200 Ok(Json<OnboardingResponse>),
        /// A field is missing or invalid (`invalid_request`).
        400 BadRequest(Json<ErrorBody>),
        /// The email belongs to a verified account (`already_verified`); nothing was changed.
        409 AlreadyVerified(Json<ErrorBody>),
        @body,
        /// Too many onboardings from this address, or of this email, or too many mails to this
        /// inbox or in all this hour (`too_many_attempts`); `Retry-After` says when to try again.
        429 TooMany(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    }
}

#[OpenApi(tag = "OnboardingTags::Onboarding")]
impl OnboardingApi {
    /// Create or update an unverified user and start Discord account linking.
    #[oai(
        path = "/user/onboarding",
        method = "post",
        operation_id = "user_onboarding"
    )]
    async fn onboarding(
        &self,
        state: Data<&AppState>,
        req: &Request,
        request: Json<OnboardingRequest>,
    ) -> poem::Result<OnboardingResult> {
        let r = request.0;
        let invalid = |m: String| Ok(OnboardingResult::BadRequest(body("invalid_request", m)));
        let name = match DisplayName::parse(&r.name, 200) {
            Ok(name) => name,
            Err(e) => return invalid(format!("name {e}")),
        };
        let email = match Email::parse(&r.email) {
            Ok(email) => email,
            Err(e) => return invalid(e.to_string()),
        };
        let personality = match r
            .selected_personality
            .as_deref()
            .map(|p| DisplayName::parse(p, 64))
        {
            Some(Err(e)) => return invalid(format!("selectedPersonality {e}")),
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let config = state.config();
        let client = crate::client::ClientKey::of(req, &config.trusted_proxies);
        let l = &config.limits;
        let lowered = email.as_str().to_lowercase();
        let per_source = jobs::ratelimit::failure_key(email.as_str(), &client.0);
        // The caller's own budgets first: one over its own limit spends none of the email's,
        // which the owner of the address shares.
        let checks = [
            (l.onboarding_ip(), client.0.as_str()),
            (l.onboarding_email(), per_source.as_str()),
            (l.onboarding_email_total(), lowered.as_str()),
        ];
        // To this address exactly, then the shared caps (its inbox, all such mail): read in
        // the same round trip as the budgets are counted.
        let mailbox = email.mailbox_key();
        let caps = jobs::ratelimit::anonymous_mail_caps(
            l.mails_per_address,
            l.anonymous_mails_per_hour,
            &lowered,
            &mailbox,
        );
        let room = match limits::check_then_peek(&state, &checks, &caps).await? {
            Err((b, after)) => return Ok(OnboardingResult::TooMany(b, after)),
            Ok(peeked) => MailRoom::of(&peeked),
        };
        // An address that got its hourly cap of mails anyone can cause gets no new one: its
        // owner can use the code of any of them (they stay valid for a day). When the cap of
        // its inbox (aliases together) or of all such mail is what is reached, there is no
        // code to point at: try later.
        let mut mail_capped = false;
        if r.communication_channel == Channel::Email {
            match room {
                MailRoom::Free => {}
                MailRoom::AddressFull => mail_capped = true,
                MailRoom::Full(wait) => {
                    let after = retry_after(wait);
                    return Ok(OnboardingResult::TooMany(
                        body(
                            "too_many_attempts",
                            format!(
                                "we cannot mail this inbox again this hour; try again in {after} seconds"
                            ),
                        ),
                        after,
                    ));
                }
            }
        }
        let db = state.db();
        let onboarded = store::users::onboard(
            db,
            &store::users::Onboarding {
                email: email.as_str(),
                full_name: name.as_str(),
                personality: personality.as_ref().map(DisplayName::as_str),
                channel: r.communication_channel.as_str(),
            },
            LOGIN_CODE_TTL,
        )
        .await
        .or_500("recording the onboarding")?;
        let Some(auth_code) = onboarded.login_code else {
            // Its owner may still need to link (or re-prove) a Discord account: a verified
            // account without a link that holds gets a code mailed (to its own address,
            // within the caps), never one in this answer.
            let holds = store::identities::discord_of_user(db, onboarded.user_id)
                .await
                .or_500("reading the user's Discord link")?
                .is_some_and(|o| o.holds());
            let mailed = !holds && matches!(room, MailRoom::Free);
            if mailed {
                crate::discord::queue_verification_mail(&state, onboarded.user_id, email.as_str())
                    .await?;
            }
            return Ok(OnboardingResult::AlreadyVerified(body(
                "already_verified",
                if mailed {
                    "this email belongs to a verified account; sign in instead. To link a \
                     Discord account to it, send the bot the code we mailed to this address"
                } else {
                    "this email belongs to a verified account; sign in instead"
                },
            )));
        };
        let user_id = onboarded.user_id;
        let mut verification = None;
        if r.communication_channel == Channel::Discord
            && let Some(client) = &config.discord
        {
            let (verifier, challenge) = store::secret::pkce_pair();
            let token = store::one_time_tokens::issue_oauth_state(
                db,
                &store::one_time_tokens::NewOauthState {
                    user_id: Some(user_id),
                    provider: "discord",
                    redirect_uri: client.redirect_uri.as_str(),
                    pkce_verifier: &verifier,
                    browser_binding: None,
                    ttl: STATE_TTL,
                },
            )
            .await
            .or_500("issuing the Discord OAuth state")?;
            let url = authorize_url(
                &config.discord_authorize_url,
                client,
                DISCORD_SCOPE,
                &token,
                &challenge,
            );
            verification = Some((url, token));
        }
        if r.communication_channel == Channel::Email && !mail_capped {
            crate::discord::queue_verification_mail(&state, user_id, email.as_str()).await?;
        }
        let instructions = match (&verification, r.communication_channel) {
            (Some(_), _) => format!(
                "Open verification_url to link your Discord account (within {} minutes). \
                 If that does not work, send the bot `/login {auth_code}` in a direct message. \
                 If Discord does not confirm this email address, we mail you a code to finish.",
                STATE_TTL.as_secs() / 60
            ),
            (None, Channel::Discord) => format!(
                "Send the bot `/login {auth_code}` in a direct message to link your Discord account."
            ),
            (None, Channel::Email) if mail_capped => "We already sent this address verification \
                codes within the hour; the code in any of those emails works (for a day)."
                .into(),
            (None, Channel::Email) => {
                "We sent you an email with a verification code; it explains the next step.".into()
            }
            (None, Channel::Web) => format!(
                "You are registered. To chat on Discord later, send the bot `/login {auth_code}`."
            ),
        };
        let (verification_url, verification_token) = match verification {
            Some((url, token)) => (Some(url), Some(token)),
            None => (None, None),
        };
        Ok(OnboardingResult::Ok(Json(OnboardingResponse {
            success: true,
            user_id,
            verification_url,
            verification_token,
            auth_code,
            instructions,
            expires_in: STATE_TTL.as_secs(),
        })))
    }
}

/// Whether an address may get one more of the mails anyone can cause, this hour.
enum MailRoom {
    Free,
    /// This very address got its cap (the codes it got work for it).
    AddressFull,
    /// Its inbox (aliases together) or all such mail got its cap: until the window ends.
    Full(Duration),
}

impl MailRoom {
    /// From the waits of [`anonymous_mail_caps`](jobs::ratelimit::anonymous_mail_caps), in
    /// its order (`None` where a cap has room).
    fn of(caps: &[Option<Duration>]) -> Self {
        if caps.first().is_some_and(Option::is_some) {
            return MailRoom::AddressFull;
        }
        match caps.iter().skip(1).flatten().max() {
            Some(&wait) => MailRoom::Full(wait),
            None => MailRoom::Free,
        }
    }
}

/// The provider's authorization URL for the authorization-code flow with PKCE S256.
pub(crate) fn authorize_url(
    base: &Url,
    client: &crate::state::PublicClient,
    scope: &str,
    state: &str,
    challenge: &str,
) -> String {
    let mut url = base.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("scope", scope)
        .append_pair("redirect_uri", client.redirect_uri.as_str())
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "consent");
    url.into()
}
