//! The few cookies the API sets: a random secret binding an OAuth flow to the browser that
//! started it. Always `HttpOnly` (scripts cannot read it) and `SameSite=Strict` (other sites'
//! pages cannot send it); over HTTPS also `Secure` with the `__Host-` prefix (no subdomain or
//! plain-HTTP page can set or overwrite it).

use std::time::Duration;

use poem::Request;

const HOST_PREFIX: &str = "__Host-";

/// The `Set-Cookie` value for `name=value`, living `max_age`.
pub(crate) fn set(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    let (prefix, secure_attr) = if secure {
        (HOST_PREFIX, "; Secure")
    } else {
        ("", "")
    };
    format!(
        "{prefix}{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure_attr}",
        max_age.as_secs()
    )
}

/// The value of cookie `name` (with or without the `__Host-` prefix) the request carries.
pub(crate) fn get(req: &Request, name: &str) -> Option<String> {
    let prefixed = format!("{HOST_PREFIX}{name}");
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == prefixed || *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_and_strict_and_host_bound_over_https() {
        let plain = set("cnc_oauth", "v", Duration::from_secs(600), false);
        assert_eq!(
            plain,
            "cnc_oauth=v; Path=/; Max-Age=600; HttpOnly; SameSite=Strict"
        );
        let secure = set("cnc_oauth", "v", Duration::from_secs(600), true);
        assert!(secure.starts_with("__Host-cnc_oauth=v; Path=/;"));
        assert!(secure.ends_with("; Secure"));
    }

    #[test]
    fn either_form_of_the_name_is_read() {
        let req = Request::builder()
            .header("cookie", "a=1; __Host-cnc_oauth=xyz; b=2")
            .finish();
        assert_eq!(get(&req, "cnc_oauth").as_deref(), Some("xyz"));
        let req = Request::builder()
            .header("cookie", "cnc_oauth=abc")
            .finish();
        assert_eq!(get(&req, "cnc_oauth").as_deref(), Some("abc"));
        let req = Request::builder()
            .header("cookie", "xcnc_oauth=abc")
            .finish();
        assert_eq!(get(&req, "cnc_oauth"), None);
    }
}
