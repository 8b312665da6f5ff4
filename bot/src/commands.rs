//! Slash commands. Every one answers within Discord's three seconds: the bot defers (or
//! refuses at once), and the job it pushes edits the deferred response.
//!
//! - `/login code` (seed 001's fallback) and `/verify email token` (seed 003): ephemeral,
//!   rate limited per member, the secret sealed into the job.
//! - `/imagine prompt`: the image arrives in the response when it is ready.
//! - `/verification_status`, `/force_verify user`, `/set_timeout minutes`: guild admins only
//!   (Manage Server or Administrator), hidden from others by default and checked again here.

use jobs::{AdminCommand, GenerateImage, GuildCommand, InteractionRef, PushOptions};
use serenity::all::{
    CommandInteraction, CommandOptionType, Context, CreateCommand, CreateCommandOption,
    CreateInteractionResponse, CreateInteractionResponseMessage, Permissions, ResolvedValue,
};

use crate::data::Inner;

/// The commands, registered globally at start.
fn definitions() -> Vec<CreateCommand> {
    let admin = Permissions::MANAGE_GUILD;
    vec![
        CreateCommand::new("login")
            .description("Link your Discord account with the code from your sign-up")
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "code", "Your auth code")
                    .required(true),
            ),
        CreateCommand::new("verify")
            .description("Verify with your invitation's email and token")
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "email", "Your email")
                    .required(true),
            )
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "token",
                    "The token from the mail",
                )
                .required(true),
            ),
        CreateCommand::new("imagine")
            .description("Draw a picture")
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "prompt", "What to draw")
                    .required(true),
            ),
        CreateCommand::new("verification_status")
            .description("Members who still have to verify")
            .default_member_permissions(admin)
            .dm_permission(false),
        CreateCommand::new("force_verify")
            .description("Verify a member by hand")
            .default_member_permissions(admin)
            .dm_permission(false)
            .add_option(
                CreateCommandOption::new(CommandOptionType::User, "user", "The member")
                    .required(true),
            ),
        CreateCommand::new("set_timeout")
            .description("Minutes new members have to verify")
            .default_member_permissions(admin)
            .dm_permission(false)
            .add_option(
                CreateCommandOption::new(CommandOptionType::Integer, "minutes", "1 to 10080")
                    .required(true)
                    .min_int_value(1)
                    .max_int_value(10_080),
            ),
    ]
}

pub async fn register(ctx: &Context) {
    match serenity::all::Command::set_global_commands(&ctx.http, definitions()).await {
        Ok(commands) => tracing::info!(count = commands.len(), "slash commands registered"),
        Err(e) => tracing::error!(error = %e, "cannot register slash commands"),
    }
}

async fn reply_now(ctx: &Context, command: &CommandInteraction, text: &str) {
    let response = CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true)
            // Pings nobody, whatever the text holds (the workers' posts do the same).
            .allowed_mentions(serenity::all::CreateAllowedMentions::new()),
    );
    if let Err(e) = command.create_response(&ctx.http, response).await {
        tracing::warn!(error = %e, "cannot answer an interaction");
    }
}

fn string<'a>(command: &'a CommandInteraction, name: &str) -> Option<&'a str> {
    command
        .data
        .options()
        .into_iter()
        .find_map(|o| match o.value {
            ResolvedValue::String(s) if o.name == name => Some(s),
            _ => None,
        })
}

pub async fn run(inner: &Inner, ctx: &Context, command: &CommandInteraction) {
    let member = command.user.id.get();
    let guild = command.guild_id.map(|g| g.get());
    let name = command.data.name.as_str();
    let admin_only = matches!(name, "verification_status" | "force_verify" | "set_timeout");
    if admin_only {
        let allowed = command
            .member
            .as_ref()
            .and_then(|m| m.permissions)
            .is_some_and(|p| {
                p.contains(Permissions::ADMINISTRATOR) || p.contains(Permissions::MANAGE_GUILD)
            });
        if !allowed || guild.is_none() {
            reply_now(ctx, command, "Only server admins can use this command.").await;
            return;
        }
    }
    let secret = matches!(name, "login" | "verify");
    if secret && !inner.attempt_allowed(member).await {
        reply_now(ctx, command, "Too many attempts; wait a few minutes.").await;
        return;
    }
    let deferred = if name == "imagine" {
        command.defer(&ctx.http).await
    } else {
        command.defer_ephemeral(&ctx.http).await
    };
    if let Err(e) = deferred {
        tracing::warn!(error = %e, command = name, "cannot defer an interaction");
        return;
    }
    let interaction = InteractionRef {
        sealed_token: inner.deps.sealer.seal_text(&command.token),
    };
    let pushed = match name {
        "login" => match string(command, "code") {
            Some(code) => inner.login_attempt(member, code, Some(interaction)).await,
            None => false,
        },
        "verify" => match (string(command, "email"), string(command, "token")) {
            (Some(email), Some(token)) => {
                inner
                    .verify_attempt(member, guild, email, token, Some(interaction))
                    .await
            }
            _ => false,
        },
        "imagine" => match string(command, "prompt") {
            Some(prompt) => {
                inner
                    .push(
                        &GenerateImage {
                            prompt: prompt.to_owned(),
                            channel_id: command.channel_id.get(),
                            requested_by: member,
                            reply_to: None,
                            interaction: Some(interaction),
                        },
                        PushOptions::default(),
                    )
                    .await
            }
            None => false,
        },
        _ => {
            let admin_command = match name {
                "verification_status" => Some(AdminCommand::VerificationStatus),
                "force_verify" => command
                    .data
                    .options()
                    .into_iter()
                    .find_map(|o| match o.value {
                        ResolvedValue::User(user, _) => Some(AdminCommand::ForceVerify {
                            discord_user_id: user.id.get(),
                        }),
                        _ => None,
                    }),
                "set_timeout" => command
                    .data
                    .options()
                    .into_iter()
                    .find_map(|o| match o.value {
                        ResolvedValue::Integer(minutes) => Some(AdminCommand::SetTimeout {
                            minutes: minutes.clamp(0, i64::from(u32::MAX)) as u32,
                        }),
                        _ => None,
                    }),
                _ => None,
            };
            match (admin_command, guild) {
                (Some(admin_command), Some(guild)) => {
                    inner
                        .push(
                            &GuildCommand {
                                guild_id: guild,
                                invoker: member,
                                command: admin_command,
                                interaction,
                            },
                            PushOptions::default(),
                        )
                        .await
                }
                _ => false,
            }
        }
    };
    if !pushed {
        tracing::warn!(command = name, "interaction not handled");
    }
}
