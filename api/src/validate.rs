//! Checks of text fields shared by several endpoints (emails are parsed by
//! `store::email::Email`). Text is otherwise stored verbatim
//! (Unicode, quotes and SQL metacharacters included: every query is parameterised).

/// A name or label shown to people: no control characters, no surrounding spaces, not empty.
pub fn display_text(value: &str, max_chars: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.trim() != value {
        return Err("must not start or end with spaces".into());
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if value.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    Ok(())
}

/// A Discord snowflake: digits only, fits in 63 bits.
pub fn discord_id(value: &str) -> Result<i64, &'static str> {
    let trimmed = value.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a Discord id is a number");
    }
    trimmed
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or("the Discord id is out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_texts() {
        assert!(display_text("Zoë 'Robert'); DROP TABLE users;--", 200).is_ok());
        assert!(display_text(" padded", 200).is_err());
        assert!(display_text("tab\there", 200).is_err());
        assert!(display_text("", 200).is_err());
        assert!(display_text(&"é".repeat(65), 64).is_err());
    }

    #[test]
    fn discord_ids() {
        assert_eq!(discord_id("80351110224678912"), Ok(80351110224678912));
        assert!(discord_id("12a").is_err());
        assert!(discord_id("99999999999999999999").is_err());
        assert!(discord_id("0").is_err());
    }
}
