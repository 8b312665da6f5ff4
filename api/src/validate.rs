//! Text fields shared by several endpoints, parsed into types that hold only valid values: a
//! handler parses a field once and passes the parsed value on, so nothing after it can use the
//! raw text by mistake. Emails are parsed by [`Email`] (the store's type: it keys accounts on
//! the canonical form). Text is otherwise stored verbatim (Unicode, quotes and SQL
//! metacharacters included: every query is parameterised).

use std::fmt;

pub use store::email::Email;

/// A name or label shown to people: no control characters, no surrounding spaces, not empty,
/// at most as many characters as the field allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The text as it was sent, or why it is not acceptable (`must not be empty`, …: the
    /// caller puts the field's name in front).
    pub fn parse(value: &str, max_chars: usize) -> Result<Self, String> {
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
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A Discord snowflake: digits only (surrounding spaces ignored), positive, fits in 63 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscordId(i64);

impl DiscordId {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        let trimmed = value.trim();
        if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a Discord id is a number");
        }
        trimmed
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Self)
            .ok_or("the Discord id is out of range")
    }
}

/// In decimal, as Discord and the store write it.
impl fmt::Display for DiscordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        let name = DisplayName::parse("Zoë 'Robert'); DROP TABLE users;--", 200);
        assert_eq!(
            name.map(DisplayName::into_string).as_deref(),
            Ok("Zoë 'Robert'); DROP TABLE users;--")
        );
        assert!(DisplayName::parse(" padded", 200).is_err());
        assert!(DisplayName::parse("tab\there", 200).is_err());
        assert!(DisplayName::parse("", 200).is_err());
        assert!(DisplayName::parse(&"é".repeat(65), 64).is_err());
        assert!(DisplayName::parse(&"é".repeat(64), 64).is_ok());
    }

    #[test]
    fn discord_ids() {
        let parsed = |text: &str| DiscordId::parse(text).map(|id| id.to_string());
        assert_eq!(
            parsed("80351110224678912").as_deref(),
            Ok("80351110224678912")
        );
        assert_eq!(parsed(" 42 ").as_deref(), Ok("42"));
        assert!(DiscordId::parse("12a").is_err());
        assert!(DiscordId::parse("99999999999999999999").is_err());
        assert!(DiscordId::parse("0").is_err());
    }
}
