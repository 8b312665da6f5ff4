//! Which paths under `/api/` exist, read from the spec itself: poem answers 405 for any path
//! that fits a route's shape (`/api/{id}` fits `/api/nope`), but a path whose parameters a route
//! cannot take names nothing, and a caller should hear 404 for it, as for any unknown path.

use std::sync::LazyLock;

/// One path of the spec, split into segments (a parameter segment knows whether it must be a
/// whole number), and the methods it takes.
#[derive(Debug)]
struct Template(Vec<Segment>, Vec<String>);

#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Text,
    Integer,
}

/// The API's own pages beside the spec's operations.
const PAGES: &[&str] = &[
    "/api/openapi.json",
    "/api/openapi.yaml",
    "/api/docs",
    "/api/redoc",
];

static TEMPLATES: LazyLock<Vec<Template>> = LazyLock::new(|| templates(&crate::spec_json()));

fn templates(spec: &str) -> Vec<Template> {
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
    let get = || vec!["GET".to_owned(), "HEAD".to_owned()];
    let mut out: Vec<Template> = PAGES
        .iter()
        .map(|p| template(p, |_| false, get()))
        .collect();
    if let Some(paths) = spec["paths"].as_object() {
        for (path, operations) in paths {
            let integer = |name: &str| {
                operations.as_object().into_iter().flatten().any(|(_, op)| {
                    op["parameters"].as_array().into_iter().flatten().any(|p| {
                        p["in"] == "path" && p["name"] == name && p["schema"]["type"] == "integer"
                    })
                })
            };
            let mut methods: Vec<String> = operations
                .as_object()
                .into_iter()
                .flatten()
                .map(|(method, _)| method.to_ascii_uppercase())
                .collect();
            // poem answers HEAD wherever it answers GET.
            if methods.iter().any(|m| m == "GET") {
                methods.push("HEAD".to_owned());
            }
            out.push(template(path, integer, methods));
        }
    }
    out
}

fn template(path: &str, integer: impl Fn(&str) -> bool, methods: Vec<String>) -> Template {
    Template(
        path.split('/')
            .map(
                |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if integer(name) => Segment::Integer,
                    Some(_) => Segment::Text,
                    None => Segment::Literal(segment.to_owned()),
                },
            )
            .collect(),
        methods,
    )
}

impl Template {
    fn takes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        segments.len() == self.0.len()
            && self.0.iter().zip(segments).all(|(want, got)| match want {
                Segment::Literal(literal) => literal == got,
                Segment::Text => !got.is_empty(),
                Segment::Integer => got.parse::<i64>().is_ok(),
            })
    }
}

/// Whether a 405 for `path` should rather be a 404: the path is under `/api/` and no route of
/// the spec takes it, whatever the method.
pub(crate) fn names_nothing(path: &str) -> bool {
    path.starts_with("/api/") && !TEMPLATES.iter().any(|t| t.takes(path))
}

/// The methods `path` takes, for a 405's `Allow` (RFC 9110 §15.5.6): those of every route of
/// the spec that takes it (a literal route and a parameter route may both), in a fixed order.
pub(crate) fn allowed(path: &str) -> Option<String> {
    const ORDER: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let methods: Vec<&str> = ORDER
        .into_iter()
        .filter(|m| {
            TEMPLATES
                .iter()
                .filter(|t| t.takes(path))
                .any(|t| t.1.iter().any(|have| have == m))
        })
        .collect();
    (!methods.is_empty()).then(|| methods.join(", "))
}

#[cfg(test)]
mod tests {
    use super::names_nothing;

    #[test]
    fn a_405_names_the_methods_its_path_takes() {
        assert_eq!(
            super::allowed("/api/admin/queues/send_email/jobs/abc").as_deref(),
            Some("GET, HEAD, DELETE")
        );
        assert_eq!(
            super::allowed("/api/openapi.json").as_deref(),
            Some("GET, HEAD")
        );
        assert_eq!(
            super::allowed("/api/user/onboarding").as_deref(),
            Some("POST")
        );
        assert_eq!(super::allowed("/api/nope/nope/nope"), None);
    }

    #[test]
    fn a_path_no_route_takes_names_nothing() {
        for path in [
            "/api/nope",
            "/api/tokens/abc",
            "/api/batches/x/y",
            "/api/12x",
        ] {
            assert!(names_nothing(path), "{path}");
        }
        for path in [
            "/api/health",
            "/api/12",
            "/api/tokens/7",
            "/api/admin/queues/send_email/jobs/abc",
            "/api/docs",
            "/dashboard",
        ] {
            assert!(!names_nothing(path), "{path}");
        }
    }
}
