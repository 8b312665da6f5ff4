//! Discord (seed 001): the bot invite link, the OAuth callback, and the bot's `/login <code>`
//! fallback.
//!
//! The callback consumes the `state` (once, unexpired, Discord's, bound to the configured
//! redirect URI) before anything reaches Discord, pushes `exchange_oauth_code`, and waits for
//! it (bounded, woken by the result). It always answers with a redirect to
//! `{WEB_APP_BASE_URL}/discord/success?username=…`, `/discord/error?error=<code>` with one of
//! seed 001's nine codes, or `/discord/pending?job_id=…` when the job outlives the wait.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use jobs::{ExchangeError, ExchangeOauthCode, Job, OauthGrant, OauthProvider};

use crate::auth::AdminAuth;
use crate::error::{ErrorBody, Or500, body};
use crate::exchange::{Destination, destination_of};
use crate::limits;
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Text;
use crate::validate::DiscordId;

#[derive(Debug, Tags)]
enum DiscordTags {
    /// Discord account linking (seed 001)
    Discord,
}

#[derive(Debug)]
pub struct DiscordApi;

/// Permissions the bot needs: Manage Roles, Kick Members, View Channels, Send Messages,
/// Attach Files, Read Message History.
const BOT_PERMISSIONS: u64 = 0x1000_0000 | 0x2 | 0x400 | 0x800 | 0x8000 | 0x1_0000;

#[derive(Debug, Object)]
pub struct InviteResponse {
    /// Adds the bot to a server, with the permissions it needs.
    pub invite_url: String,
}

responses! {
    pub enum InviteResult {
        200 Ok(Json<InviteResponse>),
        /// Neither `DISCORD_BOT_INVITE_URL` nor `DISCORD_CLIENT_ID` is configured
        /// (`oauth_not_configured`).
        503 NotConfigured(Json<ErrorBody>),
    }
}

responses! {
    pub enum CallbackResult {
        /// To the success, error or pending page.
        302 Redirect(#[oai(header = "Location")] String),
        /// Too many sign-ins from this address (`too_many_attempts`): no redirect.
        429 TooMany(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    }
}

/// The bot's `/login <code>` fallback: links a Discord account to the code's user.
#[derive(Debug, Object)]
pub struct LoginCodeRequest {
    /// The Discord user id (a snowflake, as a string).
    pub discord_id: Text,
    /// The code from the onboarding answer; case and dashes do not matter.
    pub code: Text,
}

#[derive(Debug, Object)]
pub struct LinkedResponse {
    pub success: bool,
    pub user_id: i64,
    pub message: String,
}

responses! {
    pub enum LoginCodeResult {
        200 Ok(Json<LinkedResponse>),
        /// Malformed Discord id or code (`invalid_request`), or no live code like it
        /// (`invalid_code`).
        400 BadRequest(Json<ErrorBody>),
        @auth,
        /// The Discord account is linked to another user, or the user to another Discord account
        /// (`already_linked`); nothing was moved.
        409 Conflict(Json<ErrorBody>),
        /// Too many attempts for this Discord account (`too_many_attempts`).
        429 TooMany(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
        @body,
    }
}

#[OpenApi(prefix_path = "/discord", tag = "DiscordTags::Discord")]
impl DiscordApi {
    /// The link that adds the bot to a Discord server.
    #[oai(path = "/invite", method = "get", operation_id = "discord_invite")]
    async fn invite(&self, state: Data<&AppState>) -> InviteResult {
        let config = state.config();
        if let Some(url) = &config.discord_invite_url {
            return InviteResult::Ok(Json(InviteResponse {
                invite_url: url.to_string(),
            }));
        }
        let Some(client) = &config.discord else {
            return InviteResult::NotConfigured(body(
                "oauth_not_configured",
                "set DISCORD_BOT_INVITE_URL or DISCORD_CLIENT_ID",
            ));
        };
        let mut url = config.discord_authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &client.client_id)
            .append_pair("permissions", &BOT_PERMISSIONS.to_string())
            .append_pair("scope", "bot applications.commands");
        InviteResult::Ok(Json(InviteResponse {
            invite_url: url.into(),
        }))
    }

    /// Discord's OAuth redirect target. Always redirects: to
    /// `{WEB_APP_BASE_URL}/discord/success?username=…`, to `/discord/error?error=<code>`
    /// (`missing_params`, `invalid_token`, `oauth_not_configured`, `token_exchange_failed`,
    /// `no_access_token`, `user_info_failed`, `no_discord_id`, `verification_failed`,
    /// `server_error`), or to `/discord/pending?job_id=…` when linking takes longer than the
    /// wait (poll `GET /api/jobs/{id}`).
    #[oai(path = "/callback", method = "get", operation_id = "discord_callback")]
    async fn callback(
        &self,
        state: Data<&AppState>,
        req: &Request,
        code: Query<Option<String>>,
        #[oai(name = "state")] oauth_state: Query<Option<String>>,
    ) -> poem::Result<CallbackResult> {
        if let Some((b, after)) = limits::sign_in(&state, req).await? {
            return Ok(CallbackResult::TooMany(b, after));
        }
        let destination = callback_destination(&state, code.0, oauth_state.0).await;
        Ok(CallbackResult::Redirect(
            destination.location(state.config().web_app_base_url.as_ref()),
        ))
    }

    /// The bot's fallback (seed 001): link the Discord account of a member who sent
    /// `/login <code>`. Admin credentials (the bot's). Limited per Discord account.
    #[oai(path = "/login", method = "post", operation_id = "discord_login_code")]
    async fn login_code(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        request: Json<LoginCodeRequest>,
    ) -> poem::Result<LoginCodeResult> {
        let discord_id = match DiscordId::parse(&request.discord_id) {
            Ok(id) => id.to_string(),
            Err(e) => return Ok(LoginCodeResult::BadRequest(body("invalid_request", e))),
        };
        let code = store::one_time_tokens::normalize_code(&request.code);
        if code.is_empty() || code.len() > 64 {
            return Ok(LoginCodeResult::BadRequest(body(
                "invalid_request",
                "the code is empty or too long",
            )));
        }
        // Counted per Discord account only: the caller is a bot, and its address is every
        // member's.
        let l = &state.config().limits;
        if let Some((b, after)) =
            limits::check(&state, &[(l.secret_discord(), &discord_id)]).await?
        {
            return Ok(LoginCodeResult::TooMany(b, after));
        }
        let db = state.db();
        if let Some(owner) = store::identities::discord_owner(db, &discord_id)
            .await
            .or_500("reading the Discord account's owner")?
            .filter(|o| o.confirmed)
        {
            return Ok(LoginCodeResult::Conflict(body(
                "already_linked",
                format!(
                    "this Discord account is already linked (user {})",
                    owner.user_id
                ),
            )));
        }
        let Some(user_id) = store::one_time_tokens::redeem_login_code(db, &code)
            .await
            .or_500("redeeming the login code")?
        else {
            return Ok(LoginCodeResult::BadRequest(body(
                "invalid_code",
                "no live code like this; codes expire after 24 hours and work once",
            )));
        };
        let account = store::identities::ProviderAccount {
            subject: discord_id.clone(),
            ..Default::default()
        };
        // A code is handed to whoever onboards: it proves the Discord account, not the email.
        let link = store::identities::link_discord(
            db,
            user_id,
            &account,
            store::identities::LinkProof::AccountOnly,
        )
        .await
        .or_500("linking the Discord account")?;
        match link {
            store::identities::DiscordLink::Linked { confirmed, .. } => {
                state
                    .audit(
                        &auth.admin().actor,
                        "discord_linked_by_code",
                        Some(&format!("user:{user_id}")),
                        serde_json::json!({ "discord_id": discord_id, "confirmed": confirmed }),
                    )
                    .await?;
                if !confirmed
                    && let Some(user) = store::users::find(db, user_id)
                        .await
                        .or_500("reading the linked user")?
                {
                    queue_verification_mail(&state, user_id, &user.email).await?;
                }
                Ok(LoginCodeResult::Ok(Json(LinkedResponse {
                    success: true,
                    user_id,
                    message: if confirmed {
                        "Discord account linked; the member is verified".into()
                    } else {
                        "Discord account linked; to be verified the member sends the bot the \
                         code mailed to their address"
                            .into()
                    },
                })))
            }
            store::identities::DiscordLink::NoSuchUser => Ok(LoginCodeResult::BadRequest(body(
                "invalid_code",
                "the code's account no longer exists",
            ))),
            _ => Ok(LoginCodeResult::Conflict(body(
                "already_linked",
                "the account is linked to another Discord account; nothing was changed",
            ))),
        }
    }
}

/// Mails `email` (the address of `user_id`) a verification code, within the per-address
/// hourly cap the `send_email` worker enforces: after an unconfirmed link (to type into the
/// bot from the linked Discord account), and for an email onboarding.
pub(crate) async fn queue_verification_mail(
    state: &AppState,
    user_id: i64,
    email: &str,
) -> poem::Result<()> {
    let delivery =
        store::email_deliveries::queue(state.db(), Some(user_id), "verification", email, None)
            .await
            .or_500("recording the verification mail")?;
    state
        .producer()
        .push(&jobs::SendEmail {
            delivery_id: delivery,
        })
        .await
        .or_500("pushing the verification mail's send_email job")?;
    Ok(())
}

/// Where the callback sends the browser: consumes the state, pushes the exchange and waits
/// for it (bounded).
async fn callback_destination(
    state: &AppState,
    code: Option<String>,
    oauth_state: Option<String>,
) -> Destination {
    let (Some(code), Some(oauth_state)) = (
        code.filter(|c| !c.is_empty()),
        oauth_state.filter(|s| !s.is_empty()),
    ) else {
        return Destination::error(ExchangeError::MissingParams);
    };
    let Some(client) = &state.config().discord else {
        return Destination::error(ExchangeError::OauthNotConfigured);
    };
    if code.len() > 2048 || oauth_state.len() > 256 {
        return Destination::error(ExchangeError::InvalidToken);
    }
    let consumed = match store::one_time_tokens::consume_oauth_state(
        state.db(),
        &oauth_state,
        "discord",
    )
    .await
    {
        Ok(Some(s)) => s,
        Ok(None) => return Destination::error(ExchangeError::InvalidToken),
        Err(e) => {
            tracing::error!(error = %e, "cannot consume an OAuth state");
            return Destination::error(ExchangeError::ServerError);
        }
    };
    // The state is bound to the redirect URI it was issued for; a reconfigured URI makes it
    // useless rather than sending the code to a URI the provider will reject.
    if consumed.redirect_uri != client.redirect_uri.as_str() || consumed.user_id.is_none() {
        return Destination::error(ExchangeError::InvalidToken);
    }
    let job = ExchangeOauthCode {
        provider: OauthProvider::Discord,
        grant: OauthGrant::Code {
            state_id: consumed.id,
            sealed_code: state.sealer().seal_text(&code),
        },
    };
    let pushed = match state.producer().push(&job).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot push exchange_oauth_code");
            return Destination::error(ExchangeError::ServerError);
        }
    };
    let id = pushed.id().clone();
    match state
        .producer()
        .wait(ExchangeOauthCode::QUEUE, &id, state.config().job_wait)
        .await
    {
        Ok(Some(status)) => destination_of(&status).unwrap_or(Destination::Pending {
            job_id: id.to_string(),
        }),
        Ok(None) => Destination::Pending {
            job_id: id.to_string(),
        },
        Err(e) => {
            tracing::warn!(error = %e, job_id = %id, "cannot wait for the exchange; sending to pending");
            Destination::Pending {
                job_id: id.to_string(),
            }
        }
    }
}
