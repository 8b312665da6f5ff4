//! Token checks: the web's (`POST /api/verify`: email and token) and the bot's
//! (`POST /api/verify-discord`: the same and the member's Discord id, which it links), both
//! through [`verify_invitation`]: limits, the link checks, the token, the link.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::InvitationTags;
use crate::auth::AdminAuth;
use crate::error::{ErrorBody, Or500, body, retry_after};
use crate::limits;
use crate::responses::responses;
use crate::state::AppState;
use crate::text::Text;
use crate::validate::{DiscordId, Email};

/// `POST /api/verify`, `POST /api/verify-discord`.
#[derive(Debug)]
pub struct VerifyApi;

#[derive(Debug, Object)]
pub struct VerifyRequest {
    pub email: Text,
    /// The token from the invitation mail.
    pub token: Text,
}

#[derive(Debug, Object)]
pub struct VerifyDiscordRequest {
    pub email: Text,
    pub token: Text,
    /// The member's Discord user id (a snowflake, as a string).
    pub discord_id: Text,
}

#[derive(Debug, Object)]
pub struct VerifyResponse {
    pub success: bool,
    pub message: String,
    pub user_id: i64,
    /// True when the account was verified before this call.
    pub already_verified: bool,
}

responses! {
    pub enum VerifyResult {
        200 Ok(Json<VerifyResponse>),
        /// Malformed input (`invalid_request`), or the email and token do not match a live
        /// invitation or verification token (`invalid_token`). Wrong tokens never kill the right
        /// one; after `FAILURES_PER_EMAIL_AND_SOURCE` of them the caller is locked out of that
        /// email for a while (429).
        400 BadRequest(Json<ErrorBody>),
        @auth,
        /// The Discord account is linked to another user, or the user to another Discord account
        /// (`already_linked`).
        409 Conflict(Json<ErrorBody>),
        /// The token expired (`token_expired`): ask for a new one.
        410 Expired(Json<ErrorBody>),
        /// Too many attempts from this address or Discord account, or too many failed ones on
        /// this email from here (`too_many_attempts`); `Retry-After` says when to try again.
        429 TooMany(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
        @body,
    }
}

#[OpenApi(tag = "InvitationTags::Invitations")]
impl VerifyApi {
    /// Verify an invitee with their email and the token from the invitation mail.
    #[oai(path = "/verify", method = "post", operation_id = "verify")]
    async fn verify(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        request: Json<VerifyRequest>,
    ) -> poem::Result<VerifyResult> {
        let client = crate::client::ClientKey::of(req, &state.config().trusted_proxies);
        verify_invitation(&state, &request.email, &request.token, None, &client.0).await
    }

    /// The bot's verification (seed 003): email + token + the member's Discord id. Verifies
    /// the invitee and links the Discord account; a Discord account linked to someone else is
    /// never moved (409).
    #[oai(
        path = "/verify-discord",
        method = "post",
        operation_id = "verify_discord"
    )]
    async fn verify_discord(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        request: Json<VerifyDiscordRequest>,
    ) -> poem::Result<VerifyResult> {
        let discord_id = match DiscordId::parse(&request.discord_id) {
            Ok(id) => id.to_string(),
            Err(e) => return Ok(VerifyResult::BadRequest(body("invalid_request", e))),
        };
        let client = crate::client::ClientKey::of(req, &state.config().trusted_proxies);
        verify_invitation(
            &state,
            &request.email,
            &request.token,
            Some(&discord_id),
            &client.0,
        )
        .await
    }
}

async fn verify_invitation(
    state: &AppState,
    email: &str,
    token: &str,
    discord_id: Option<&str>,
    client: &str,
) -> poem::Result<VerifyResult> {
    let Ok(email) = Email::parse(email) else {
        return Ok(VerifyResult::BadRequest(body(
            "invalid_request",
            "a valid email and a token are required",
        )));
    };
    if token.is_empty() || token.len() > 256 {
        return Ok(VerifyResult::BadRequest(body(
            "invalid_request",
            "a valid email and a token are required",
        )));
    }
    let l = &state.config().limits;
    // Who is trying: the Discord account when one is named (the caller is then a bot, whose
    // own address every member shares, so it must not count), else the client address (a
    // frontend in front of this endpoint is a proxy: list it in TRUSTED_PROXIES and send
    // X-Forwarded-For).
    let (attempts, source) = match discord_id {
        Some(d) => ((l.secret_discord(), d), format!("discord:{d}")),
        None => ((l.secret_ip(), client), format!("ip:{client}")),
    };
    if let Some((b, after)) = limits::check(state, &[attempts]).await? {
        return Ok(VerifyResult::TooMany(b, after));
    }
    // Failures lock out the source that failed, for this email only.
    let failure_key = limits::failure_key(&email, &source);
    let failures = [(l.failures(), failure_key.as_str())];
    if let Some(wait) = limits::peek(state, &failures).await? {
        let after = retry_after(wait);
        return Ok(VerifyResult::TooMany(
            body(
                "too_many_attempts",
                format!(
                    "too many wrong tokens for this email from here; try again in {after} seconds"
                ),
            ),
            after,
        ));
    }
    let db = state.db();
    // Refuse before spending the token: a confirmed link is never moved between users.
    let owner = match discord_id {
        Some(d) => store::identities::discord_owner(db, d)
            .await
            .or_500("reading the Discord account's owner")?,
        None => None,
    };
    let invitee = store::users::id_by_email(db, email.as_str())
        .await
        .or_500("looking up the invitee by email")?;
    if let Some(owner) = owner
        && owner.holds()
        && invitee != Some(owner.user_id)
    {
        return Ok(VerifyResult::Conflict(body(
            "already_linked",
            "this Discord account is linked to another user",
        )));
    }
    let outcome = store::invitations::verify(db, &email, token)
        .await
        .or_500("checking the invitation token")?;
    let (user_id, already) = match outcome {
        store::invitations::Verification::Verified {
            user_id,
            was_verified,
        } => (user_id, was_verified),
        store::invitations::Verification::AlreadyVerified { user_id } => {
            // Without a live token nothing may be linked: only the same confirmed link is
            // acknowledged.
            return Ok(match (discord_id, owner) {
                (Some(d), Some(o)) if o.user_id == user_id && o.confirmed => {
                    // A retry after a push that failed: the gate must still be lifted.
                    lift_gate(state, d).await?;
                    VerifyResult::Ok(Json(VerifyResponse {
                        success: true,
                        message: "already verified".into(),
                        user_id,
                        already_verified: true,
                    }))
                }
                (Some(_), _) => VerifyResult::Conflict(body(
                    "already_linked",
                    "this account is verified and holds no live token to link another Discord \
                     account with; ask for a new invitation",
                )),
                (None, _) => VerifyResult::Ok(Json(VerifyResponse {
                    success: true,
                    message: "already verified".into(),
                    user_id,
                    already_verified: true,
                })),
            });
        }
        store::invitations::Verification::Invalid => {
            limits::check(state, &failures).await?;
            return Ok(VerifyResult::BadRequest(body(
                "invalid_token",
                "invalid email or token",
            )));
        }
        store::invitations::Verification::Expired => {
            return Ok(VerifyResult::Expired(body(
                "token_expired",
                "the token expired; ask for a new invitation",
            )));
        }
    };
    if let Some(d) = discord_id {
        let account = store::identities::ProviderAccount {
            subject: d.to_owned(),
            ..Default::default()
        };
        // The token was mailed to this address and typed for this Discord account: both are
        // proven, so the link is confirmed (and replaces an unconfirmed one).
        match store::identities::link_discord(
            db,
            user_id,
            &account,
            store::identities::LinkProof::EmailProven,
        )
        .await
        .or_500("linking the Discord account")?
        {
            store::identities::DiscordLink::Linked { .. } => {}
            _ => {
                return Ok(VerifyResult::Conflict(body(
                    "already_linked",
                    "the Discord account or the user is linked elsewhere; nothing was moved",
                )));
            }
        }
        lift_gate(state, d).await?;
    }
    state
        .audit(
            "api",
            "invitation_verified",
            Some(&format!("user:{user_id}")),
            serde_json::json!({ "discord_id": discord_id }),
        )
        .await?;
    Ok(VerifyResult::Ok(Json(VerifyResponse {
        success: true,
        message: "verified".into(),
        user_id,
        already_verified: already,
    })))
}

/// A member verified here (an external bot's call) is verified at the gate too, as through
/// the bot's own `/verify`: `verify_member` grants the Member role in every guild where they
/// wait and lifts the gate, so the scheduled kick finds nothing to do. Quietly: the caller
/// answers the member.
async fn lift_gate(state: &AppState, discord_id: &str) -> poem::Result<()> {
    let Ok(discord_user_id) = discord_id.parse::<u64>() else {
        return Ok(());
    };
    // No idempotency key: a second push grants nothing twice (the job re-reads who is pending,
    // role grants are idempotent), and a key would keep a retry from lifting the gate after a
    // job that failed.
    state
        .producer()
        .push(&jobs::VerifyMember {
            guild_id: None,
            discord_user_id,
            proof: jobs::MemberProof::Rejoined,
            interaction: None,
        })
        .await
        .or_500("pushing the verify_member job that lifts the gate")?;
    Ok(())
}
