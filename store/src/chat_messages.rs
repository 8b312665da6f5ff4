//! Conversation turns of the bot's chats. A turn is keyed by the Discord message it answers
//! (`discord_message_id`, `role`), so a `chat_reply` that runs twice stores one reply.

use sqlx::PgPool;

/// Stores a turn; returns false when that message's turn of that role was already stored.
pub async fn record(
    pool: &PgPool,
    user_id: i64,
    channel_id: u64,
    discord_message_id: u64,
    role: &str,
    content: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"INSERT INTO chat_messages (user_id, channel_id, discord_message_id, role, content)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (discord_message_id, role) WHERE discord_message_id IS NOT NULL DO NOTHING"#,
        user_id,
        channel_id as i64,
        discord_message_id as i64,
        role,
        content
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The stored turn of `role` for a Discord message.
pub async fn turn(
    pool: &PgPool,
    discord_message_id: u64,
    role: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT content FROM chat_messages WHERE discord_message_id = $1 AND role = $2",
        discord_message_id as i64,
        role
    )
    .fetch_optional(pool)
    .await
}

/// The user's last `limit` turns before (and including) `up_to_message`, oldest first.
pub async fn history(
    pool: &PgPool,
    user_id: i64,
    up_to_message: u64,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut rows = sqlx::query!(
        r#"SELECT role, content FROM chat_messages
           WHERE user_id = $1
             AND id <= COALESCE((SELECT max(id) FROM chat_messages
                                 WHERE discord_message_id = $2 AND role = 'user'), 0)
           ORDER BY id DESC LIMIT $3"#,
        user_id,
        up_to_message as i64,
        limit
    )
    .fetch_all(pool)
    .await?;
    rows.reverse();
    Ok(rows.into_iter().map(|r| (r.role, r.content)).collect())
}
