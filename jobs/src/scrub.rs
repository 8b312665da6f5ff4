//! The last line of defence for error texts that leave a handler: before an error is stored
//! with its job (Redis, the dashboard, the board), logged or exported in a span, anything in
//! it that looks like a credential is cut out. Providers already keep secrets out of what they
//! report (tokens travel in bodies and headers, never in URLs we build; HTTP errors are
//! reported without their URL); this catches what a library puts in a message anyway.
//!
//! Cut: the query and the userinfo of every URL (`?access_token=…`, `user:pass@`), the token
//! segment of Discord webhook paths (`/webhooks/<id>/<token>`, an interaction's credential),
//! and the word after `Bearer` or `Basic`.

const REDACTED: &str = "[redacted]";

/// `text` with credentials cut out (see the module).
pub fn scrub(text: &str) -> String {
    let text = scrub_urls(text);
    scrub_auth_words(&text)
}

/// Where a URL-ish token ends.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')' | ']' | '`' | ',')
}

fn scrub_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: letters just before `://`.
        let scheme_start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(at, |(i, _)| i);
        out.push_str(&rest[..scheme_start]);
        let url_start = scheme_start;
        let body_start = at + 3;
        let end = rest[body_start..]
            .find(ends_url)
            .map_or(rest.len(), |i| body_start + i);
        out.push_str(&scrub_url(&rest[url_start..end], body_start - url_start));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// One URL; `body` is where the part after `scheme://` starts.
fn scrub_url(url: &str, body: usize) -> String {
    let (scheme, after) = url.split_at(body);
    let (without_fragment, fragment) = match after.find('#') {
        Some(i) => (&after[..i], Some(REDACTED)),
        None => (after, None),
    };
    let (before_query, has_query) = match without_fragment.find('?') {
        Some(i) => (&without_fragment[..i], true),
        None => (without_fragment, false),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let authority = match authority.rfind('@') {
        Some(i) => format!("{REDACTED}@{}", &authority[i + 1..]),
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}{authority}{}", scrub_webhook_path(path));
    if has_query {
        out.push('?');
        out.push_str(REDACTED);
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// `/…/webhooks/<id>/<token>/…`: the token goes.
fn scrub_webhook_path(path: &str) -> String {
    let mut segments: Vec<&str> = path.split('/').collect();
    if let Some(i) = segments.iter().position(|s| *s == "webhooks")
        && let Some(token) = segments.get_mut(i + 2)
        && !token.is_empty()
    {
        *token = REDACTED;
    }
    segments.join("/")
}

fn scrub_auth_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut words = text.split_inclusive(char::is_whitespace).peekable();
    while let Some(word) = words.next() {
        out.push_str(word);
        let bare = word.trim_end();
        if (bare.eq_ignore_ascii_case("bearer") || bare.eq_ignore_ascii_case("basic"))
            && let Some(next) = words.next()
        {
            let trailing = &next[next.trim_end().len()..];
            out.push_str(REDACTED);
            out.push_str(trailing);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn urls_lose_their_queries_and_credentials() {
        assert_eq!(
            scrub(
                "error sending request for url (https://oauth2.googleapis.com/tokeninfo?access_token=ya29.SECRET): timed out"
            ),
            "error sending request for url (https://oauth2.googleapis.com/tokeninfo?[redacted]): timed out"
        );
        assert_eq!(
            scrub("redis://:hunter2@cache:6379/0 refused"),
            "redis://[redacted]@cache:6379/0 refused"
        );
        assert_eq!(
            scrub(
                "POST https://discord.com/api/v10/webhooks/123/aW50ZXJhY3Rpb24.SECRET/messages/@original failed"
            ),
            "POST https://discord.com/api/v10/webhooks/123/[redacted]/messages/@original failed"
        );
        assert_eq!(
            scrub("see https://x.test/a#token=SECRET"),
            "see https://x.test/a#[redacted]"
        );
    }

    #[test]
    fn authorization_words_lose_their_value() {
        assert_eq!(
            scrub("sent Authorization: Bearer ya29.SECRET and failed"),
            "sent Authorization: Bearer [redacted] and failed"
        );
        assert_eq!(scrub("Basic dXNlcjpwYXNz"), "Basic [redacted]");
    }

    #[test]
    fn plain_text_is_unchanged() {
        for text in [
            "the recipient \"a@b.c\" is not a valid address",
            "connection refused",
            "",
            "Redis: Moved: 7594 127.0.0.1:7101",
        ] {
            assert_eq!(scrub(text), text);
        }
    }
}
