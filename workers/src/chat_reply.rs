//! `chat_reply`: answer a linked member's message. Loads the message (stored by the bot) and
//! recent history, shows typing, calls the chat provider with the member's personality, stores
//! the reply, posts it (split at 2,000 characters) with a voice note when a speech provider is
//! configured, and pushes `generate_image` when the reply asks for a picture (the reply then says
//! the image is on its way; an answer that is only a picture posts just that notice, never an
//! empty message, which Discord refuses).
//!
//! Safe to run twice: a reply once posted is recorded in `job_effects`, so a later run does
//! nothing; a run cut off between posting and recording finds the reply stored under the
//! message id (no second provider call) and posts it with the same nonce, which Discord drops.

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::data::Data;
use jobs::{ChatReply, GenerateImage, Job, Lease, PushOptions};
use serde::Serialize;

use crate::guild::{discord, job_error};
use crate::providers::ai::{AiError, ChatAnswer, Turn};
use crate::providers::discord::File;
use crate::{Deps, Handler, Handles};

/// Posted with a reply whose image is queued: the image follows in the channel.
pub const IMAGE_QUEUED: &str = "(An image is on its way; it will follow here.)";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChatOutcome {
    Replied {
        voice_note: bool,
        image: bool,
    },
    /// The message is gone (its user was deleted): nothing to do.
    Gone,
    /// An earlier run of this job posted the reply.
    AlreadyReplied,
}

#[tracing::instrument(skip_all, fields(message_id = job.message_id, user_id = job.user_id))]
pub async fn handle(
    job: ChatReply,
    lease: Data<Lease>,
    deps: Data<Deps>,
) -> Result<ChatOutcome, BoxDynError> {
    let db = &deps.db;
    let discord = discord(&deps)?;
    let Some(user_turn) = store::chat_messages::turn(db, job.message_id, "user").await? else {
        return Ok(ChatOutcome::Gone);
    };
    let effect = format!("chat_reply:{}", job.message_id);
    if store::job_effects::done(db, &effect).await? {
        return Ok(ChatOutcome::AlreadyReplied);
    }
    let stored = store::chat_messages::turn(db, job.message_id, "assistant").await?;
    let answer = match stored {
        Some(reply) => ChatAnswer::parse(&reply),
        None => {
            // Typing lasts ~10 s or until the reply is posted; a failure here is cosmetic.
            if let Err(e) = discord.typing(job.channel_id).await {
                tracing::debug!(error = %e, "typing indicator failed");
            }
            let personality = store::users::find(db, job.user_id)
                .await?
                .and_then(|u| u.personality);
            let history: Vec<Turn> = store::chat_messages::history(
                db,
                job.user_id,
                job.message_id,
                i64::from(deps.ai.settings.history_turns) + 1,
            )
            .await?
            .into_iter()
            .map(|(role, content)| Turn { role, content })
            .collect();
            let history = if history.is_empty() {
                vec![Turn {
                    role: "user".into(),
                    content: user_turn,
                }]
            } else {
                history
            };
            let answer = deps
                .ai
                .chat(personality.as_deref(), &history)
                .await
                .map_err(ai_error)?;
            // Stored with its image line, so a rerun pushes the same image.
            let raw = match &answer.image_prompt {
                Some(p) => format!(
                    "{}\n{} {p}",
                    answer.reply,
                    crate::providers::ai::IMAGE_MARKER
                ),
                None => answer.reply.clone(),
            };
            store::chat_messages::record(
                db,
                job.user_id,
                job.channel_id,
                job.message_id,
                "assistant",
                &raw,
            )
            .await?;
            answer
        }
    };
    let voice = if answer.reply.is_empty() {
        None
    } else {
        deps.ai.speech(&answer.reply).await.map_err(ai_error)?
    };
    let files = voice
        .iter()
        .map(|bytes| File {
            name: "voice-note.mp3".into(),
            bytes: bytes.clone(),
        })
        .collect();
    // Seed 001: a queued image is announced with the reply, and posted when it is made; an
    // answer that is only an image still says something (Discord refuses an empty message).
    let content = match (&answer.image_prompt, answer.reply.is_empty()) {
        (Some(_), true) => IMAGE_QUEUED.to_owned(),
        (Some(_), false) => format!("{}\n\n{IMAGE_QUEUED}", answer.reply),
        (None, _) => answer.reply.clone(),
    };
    discord
        .post(
            &deps.db,
            job.channel_id,
            &format!("chat:{}", job.message_id),
            &content,
            files,
        )
        .await
        .map_err(job_error)?;
    if let Some(prompt) = &answer.image_prompt {
        deps.producer
            .push_with(
                &GenerateImage {
                    prompt: prompt.clone(),
                    channel_id: job.channel_id,
                    requested_by: 0,
                    reply_to: Some(job.message_id),
                    interaction: None,
                },
                PushOptions::idempotent(format!("image:{}", job.message_id)),
            )
            .await?;
    }
    store::job_effects::record(
        db,
        &effect,
        ChatReply::QUEUE,
        lease.job_id.as_str(),
        "reply_posted",
        serde_json::json!({ "channel_id": job.channel_id }),
    )
    .await?;
    Ok(ChatOutcome::Replied {
        voice_note: voice.is_some(),
        image: answer.image_prompt.is_some(),
    })
}

impl Handles for ChatReply {
    type Outcome = ChatOutcome;
    const HANDLER: Handler<Self> = |job, lease, _, deps| Box::pin(handle(job, lease, deps));
}

pub(crate) fn ai_error(e: AiError) -> BoxDynError {
    match e {
        AiError::Permanent(_) => AbortError::new(e).into(),
        AiError::Transient(_) => e.into(),
    }
}
