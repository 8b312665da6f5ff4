//! Email addresses as we accept and store them: one mailbox, parsed by `email_address` (RFC
//! 5322 addr-spec with RFC 6531's UTF-8), in one canonical form so that one mailbox is one
//! account.
//!
//! Refused: display names and angle brackets (`Ada <a@x.com>`, `<a@x.com>`), lists
//! (`a@x.com,b@y.com`), quoted local parts, domain literals (`a@[127.0.0.1]`), domains without
//! a dot, and anything over 254 bytes. Canonical: surrounding spaces trimmed, the local part
//! in Unicode NFC (case kept: it is the mailbox owner's), the domain lowercased and in its
//! IDNA ASCII form (`exämple.org` and `xn--exmple-cua.org` are one domain). Every address
//! accepted here is one lettre can send to (a test holds the two parsers together).

use std::fmt;

use email_address::{EmailAddress, Options};
use unicode_normalization::UnicodeNormalization;

/// RFC 5321's limit on a forward path, which every address we mail must fit.
const MAX_LEN: usize = 254;

/// A parsed, canonical email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a text is not an address we accept; the message is safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEmail(&'static str);

impl Email {
    pub fn parse(text: &str) -> Result<Self, InvalidEmail> {
        let text: String = text.trim().nfc().collect();
        let text = text.as_str();
        if text.is_empty() {
            return Err(InvalidEmail("the email is empty"));
        }
        if text.len() > MAX_LEN {
            return Err(InvalidEmail("the email is longer than 254 characters"));
        }
        if text.contains(['<', '>', ',', ';']) || text.chars().any(char::is_whitespace) {
            return Err(InvalidEmail(
                "the email must be one bare address (no name, brackets, lists or spaces)",
            ));
        }
        let options = Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        let parsed = EmailAddress::parse_with_options(text, options)
            .map_err(|_| InvalidEmail("the email is not a valid address"))?;
        let local = parsed.local_part();
        if local.starts_with('"') {
            return Err(InvalidEmail("quoted local parts (\"…\"@) are not accepted"));
        }
        let domain = idna::domain_to_ascii(parsed.domain())
            .map_err(|_| InvalidEmail("the domain after @ is not a valid domain name"))?;
        if domain.is_empty() || !domain.contains('.') {
            return Err(InvalidEmail("the domain after @ is not a domain name"));
        }
        let canonical = format!("{local}@{}", domain.to_ascii_lowercase());
        if canonical.len() > MAX_LEN {
            return Err(InvalidEmail("the email is longer than 254 characters"));
        }
        Ok(Self(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// What counts as one mailbox for caps on mail: lowercase, without a `+tag`, and for Gmail
    /// without dots (`a.b+x@gmail.com` and `ab@googlemail.com` reach one inbox). Not an
    /// identity: accounts stay keyed by the canonical address.
    pub fn mailbox_key(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((self.0.as_str(), ""));
        let local = local.split('+').next().unwrap_or(local).to_lowercase();
        match domain {
            "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
            _ => format!("{local}@{domain}"),
        }
    }

    /// The part after `@` (canonical, ASCII).
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mailbox_one_form() {
        let e = |s: &str| Email::parse(s).map(Email::into_string);
        assert_eq!(e("  Ada@Example.ORG "), Ok("Ada@example.org".into()));
        assert_eq!(
            e("o'brien+tag@exämple.org"),
            Ok("o'brien+tag@xn--exmple-cua.org".into())
        );
        assert_eq!(
            e("o'brien+tag@xn--exmple-cua.org"),
            e("o'brien+tag@EXÄMPLE.org")
        );
        // NFC: "é" precomposed and decomposed are one local part.
        assert_eq!(e("re\u{301}my@x.fr"), e("r\u{e9}my@x.fr"));
    }

    #[test]
    fn one_inbox_is_one_mailbox_key() {
        let key = |s: &str| Email::parse(s).expect("address").mailbox_key();
        assert_eq!(key("Ada.L+news@GMail.com"), key("adal@googlemail.com"));
        assert_eq!(key("ada+1@example.org"), key("Ada+2@example.org"));
        assert_ne!(
            key("ada@example.org"),
            key("a.da@example.org"),
            "dots count elsewhere"
        );
    }

    #[test]
    fn anything_but_one_bare_address_is_refused() {
        for bad in [
            "",
            "a",
            "a@",
            "@b.co",
            "a b@c.de",
            "a@b",
            "a@.b.c",
            "a@b..c",
            "a@x.com,b@evil.test",
            "a@x.com;b@evil.test",
            "x@x.com>",
            "<x@x.com>",
            "Ada <x@x.com>",
            "\"a@b\"@x.com",
            "\"ab\"@x.com",
            "a@[127.0.0.1]",
            "a@b.c\u{0}",
            "a\r\n@b.co",
            &format!("{}@x.com", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(250)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
