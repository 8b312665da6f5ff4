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

/// The value of cookie `name` the request carries: the `__Host-` one when `secure` (as it was
/// set), else the plain one. Never the other: a plain cookie can be planted by a sibling
/// subdomain or a plain-HTTP page, and must not stand in for one only we can set.
pub(crate) fn get(req: &Request, name: &str, secure: bool) -> Option<String> {
    let wanted = if secure {
        format!("{HOST_PREFIX}{name}")
    } else {
        name.to_owned()
    };
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == wanted)
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
    fn over_https_only_the_host_cookie_counts() {
        let req = Request::builder()
            .header(
                "cookie",
                "cnc_oauth=planted; a=1; __Host-cnc_oauth=xyz; b=2",
            )
            .finish();
        assert_eq!(get(&req, "cnc_oauth", true).as_deref(), Some("xyz"));
        let planted = Request::builder()
            .header("cookie", "cnc_oauth=planted")
            .finish();
        assert_eq!(
            get(&planted, "cnc_oauth", true),
            None,
            "a plain one never stands in"
        );
        assert_eq!(
            get(&planted, "cnc_oauth", false).as_deref(),
            Some("planted")
        );
        let req = Request::builder()
            .header("cookie", "xcnc_oauth=abc")
            .finish();
        assert_eq!(get(&req, "cnc_oauth", false), None);
    }
}
