//! `generate_image`: ask the image provider (or the built-in renderer) for a picture and post
//! it in the channel it was asked in, or into `/imagine`'s deferred response. The post's nonce
//! comes from the job, so a rerun does not post twice.

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::data::Data;
use jobs::{GenerateImage, Lease};
use serde::Serialize;

use crate::chat_reply::ai_error;
use crate::guild::{discord, job_error};
use crate::providers::discord::File;
use crate::{Deps, Handler, Handles};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageOutcome {
    pub bytes: usize,
}

#[tracing::instrument(skip_all, fields(job_id = %lease.job_id, channel = job.channel_id))]
pub async fn handle(
    job: GenerateImage,
    lease: Data<Lease>,
    deps: Data<Deps>,
) -> Result<ImageOutcome, BoxDynError> {
    let discord = discord(&deps)?;
    let png = deps.ai.image(&job.prompt).await.map_err(ai_error)?;
    let bytes = png.len();
    let file = File {
        name: "image.png".into(),
        bytes: png,
    };
    let caption: String = job.prompt.chars().take(200).collect();
    match &job.interaction {
        Some(interaction) => {
            let Ok(token) = deps.sealer.open_text(&interaction.sealed_token) else {
                return Err(AbortError::new(std::io::Error::other(
                    "the interaction token does not open",
                ))
                .into());
            };
            discord
                .edit_interaction(&token, &format!("🎨 {caption}"), vec![file])
                .await
                .map_err(job_error)?;
        }
        None => {
            let key = match job.reply_to {
                Some(message) => format!("image:{message}"),
                None => format!("image:{}", lease.job_id),
            };
            discord
                .post(
                    &deps.db,
                    job.channel_id,
                    &key,
                    &format!("🎨 {caption}"),
                    vec![file],
                )
                .await
                .map_err(job_error)?;
        }
    }
    Ok(ImageOutcome { bytes })
}

impl Handles for GenerateImage {
    type Outcome = ImageOutcome;
    const HANDLER: Handler<Self> = |job, lease, _, deps| Box::pin(handle(job, lease, deps));
}
