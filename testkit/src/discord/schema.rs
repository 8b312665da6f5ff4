//! Discord's published OpenAPI description (the vendored subset in `testkit/spec/`) and a
//! validator for the JSON Schema it is written in: the fake checks every request body against
//! its operation's schema, and a test checks the fake's answers against theirs.
//!
//! The validator knows the keywords the subset uses (`type` with `null` unions, `properties`,
//! `required`, `items`, `enum`, `const`, `oneOf`/`anyOf`/`allOf` beside their siblings,
//! lengths, bounds on 64-bit integers, item counts, uniqueness, `maxProperties`,
//! `additionalProperties`, `pattern` and the `snowflake`/`int32`/`int64` formats); keywords it
//! does not know are ignored, never guessed at. `oneOf` is read as "at least one": the spec's
//! unions overlap (a callback's `anyOf` is marked `x-discord-union: oneOf`) and Discord accepts
//! what any branch describes. A snowflake may be a JSON integer as well as a string: Discord
//! answers with strings and takes both; so may a permission bit set be a string of digits
//! (Discord's documentation writes them as strings, the spec as integers).

use std::sync::LazyLock;

use serde_json::{Map, Value};

/// The vendored subset (see `testkit/spec/README.md` for its commit).
static SPEC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../spec/discord-openapi-subset.json"))
        .expect("the vendored Discord spec is JSON")
});

/// The request body schema of `method path` (a path as the spec writes it, e.g.
/// `/channels/{channel_id}/messages`) for `content_type` (`application/json` or
/// `multipart/form-data`); `None` when the operation takes no such body.
pub(crate) fn request(method: &str, path: &str, content_type: &str) -> Option<&'static Value> {
    let operation = &SPEC["paths"][path][method.to_ascii_lowercase()];
    let schema = &operation["requestBody"]["content"][content_type]["schema"];
    (!schema.is_null()).then_some(schema)
}

/// The schema of the `status` answer of `method path`.
#[cfg(test)]
pub(crate) fn response(method: &str, path: &str, status: u16) -> Option<&'static Value> {
    let operation = &SPEC["paths"][path][method.to_ascii_lowercase()];
    let schema =
        &operation["responses"][status.to_string()]["content"]["application/json"]["schema"];
    (!schema.is_null()).then_some(schema)
}

/// What in `value` does not match `schema`: one line per mismatch, naming where (`content`,
/// `attachments.0.id`); empty when it matches.
pub(crate) fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, value, "", &mut errors);
    errors
}

fn resolve(schema: &Value) -> &Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            let target = SPEC.pointer(pointer).unwrap_or(&Value::Null);
            resolve(target)
        }
        None => schema,
    }
}

fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

/// The value as a wide integer, when it is one (the spec's bounds pass 2^53).
fn wide(value: &Value) -> Option<i128> {
    value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
}

fn is_snowflake(text: &str) -> bool {
    text == "0"
        || (!text.is_empty()
            && !text.starts_with('0')
            && text.len() <= 20
            && text.bytes().all(|b| b.is_ascii_digit())
            && text.parse::<u64>().is_ok())
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let schema = resolve(schema);
    let Some(rules) = schema.as_object() else {
        return;
    };
    let here = || {
        if path.is_empty() {
            "the body".to_owned()
        } else {
            path.to_owned()
        }
    };
    // Discord writes ids as strings and takes them as JSON integers too (serenity sends an
    // attachment's `id` as `0`): a snowflake may be either.
    let snowflake = rules.get("format").and_then(Value::as_str) == Some("snowflake");
    if snowflake && value.is_u64() {
        return;
    }
    if let Some(kind) = rules.get("type") {
        let names: Vec<&str> = match kind {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|n| type_matches(n, value)) {
            errors.push(format!(
                "{}: expected {}, got {value}",
                here(),
                names.join(" or ")
            ));
            return;
        }
    }
    if let Some(expected) = rules.get("const")
        && expected != value
    {
        errors.push(format!("{}: must be {expected}, got {value}", here()));
    }
    if let Some(allowed) = rules.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!(
            "{}: {value} is not one of {}",
            here(),
            Value::from(allowed.clone())
        ));
    }
    for union in ["oneOf", "anyOf"] {
        if let Some(branches) = rules.get(union).and_then(Value::as_array) {
            let mut why = Vec::new();
            let fits = branches.iter().any(|branch| {
                let mut branch_errors = Vec::new();
                check(branch, value, path, &mut branch_errors);
                why.extend(branch_errors.iter().take(2).cloned());
                branch_errors.is_empty()
            });
            if !fits {
                errors.push(format!(
                    "{}: matches none of its {} forms ({})",
                    here(),
                    branches.len(),
                    why.join("; ")
                ));
            }
        }
    }
    if let Some(all) = rules.get("allOf").and_then(Value::as_array) {
        for part in all {
            check(part, value, path, errors);
        }
    }
    match value {
        Value::String(text) => check_string(rules, text, &here(), errors),
        Value::Number(_) => check_number(rules, value, &here(), errors),
        Value::Array(items) => check_array(rules, items, path, errors),
        Value::Object(fields) => check_object(rules, fields, path, errors),
        _ => {}
    }
}

fn check_string(rules: &Map<String, Value>, text: &str, here: &str, errors: &mut Vec<String>) {
    let length = text.chars().count() as u64;
    if let Some(max) = rules.get("maxLength").and_then(Value::as_u64)
        && length > max
    {
        errors.push(format!("{here}: {length} characters, at most {max}"));
    }
    if let Some(min) = rules.get("minLength").and_then(Value::as_u64)
        && length < min
    {
        errors.push(format!("{here}: {length} characters, at least {min}"));
    }
    let snowflake = rules.get("format").and_then(Value::as_str) == Some("snowflake")
        || rules.get("pattern").and_then(Value::as_str) == Some("^(0|[1-9][0-9]*)$");
    if snowflake && !is_snowflake(text) {
        errors.push(format!("{here}: {text:?} is not a snowflake"));
    }
}

fn check_number(rules: &Map<String, Value>, value: &Value, here: &str, errors: &mut Vec<String>) {
    let number = wide(value);
    let bound = |key: &str| rules.get(key).and_then(wide);
    if let (Some(n), Some(max)) = (number, bound("maximum"))
        && n > max
    {
        errors.push(format!("{here}: {n} is above {max}"));
    }
    if let (Some(n), Some(min)) = (number, bound("minimum"))
        && n < min
    {
        errors.push(format!("{here}: {n} is below {min}"));
    }
    let range = match rules.get("format").and_then(Value::as_str) {
        Some("int32") => Some((i128::from(i32::MIN), i128::from(i32::MAX))),
        Some("int64") => Some((i128::from(i64::MIN), i128::from(i64::MAX))),
        _ => None,
    };
    if let Some((low, high)) = range {
        match number {
            Some(n) if (low..=high).contains(&n) => {}
            _ => errors.push(format!("{here}: {value} is not a {}", rules["format"])),
        }
    }
}

fn check_array(rules: &Map<String, Value>, items: &[Value], path: &str, errors: &mut Vec<String>) {
    let here = if path.is_empty() { "the body" } else { path };
    let count = items.len() as u64;
    if let Some(max) = rules.get("maxItems").and_then(Value::as_u64)
        && count > max
    {
        errors.push(format!("{here}: {count} items, at most {max}"));
    }
    if let Some(min) = rules.get("minItems").and_then(Value::as_u64)
        && count < min
    {
        errors.push(format!("{here}: {count} items, at least {min}"));
    }
    if rules.get("uniqueItems") == Some(&Value::Bool(true)) {
        for (i, item) in items.iter().enumerate() {
            if items[..i].contains(item) {
                errors.push(format!("{here}: {item} appears twice"));
            }
        }
    }
    if let Some(item_schema) = rules.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &at(path, &i.to_string()), errors);
        }
    }
}

fn check_object(
    rules: &Map<String, Value>,
    fields: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<String>,
) {
    let here = if path.is_empty() { "the body" } else { path };
    if let Some(required) = rules.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                errors.push(format!("{here}: {name} is required"));
            }
        }
    }
    if let Some(max) = rules.get("maxProperties").and_then(Value::as_u64)
        && fields.len() as u64 > max
    {
        errors.push(format!("{here}: {} fields, at most {max}", fields.len()));
    }
    let properties = rules.get("properties").and_then(Value::as_object);
    for (name, field) in fields {
        // A permission bit set is "serialized into a string" (Discord's documentation), where
        // the spec writes an integer: both are taken.
        if name.ends_with("permissions")
            && field
                .as_str()
                .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        match properties.and_then(|p| p.get(name)) {
            Some(field_schema) => check(field_schema, field, &at(path, name), errors),
            None => match rules.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    errors.push(format!("{here}: unknown field {name}"));
                }
                Some(extra @ Value::Object(_)) => check(extra, field, &at(path, name), errors),
                _ => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{request, validate};

    fn message(body: serde_json::Value) -> Vec<String> {
        let schema = request(
            "POST",
            "/channels/{channel_id}/messages",
            "application/json",
        )
        .expect("the spec describes message posts");
        validate(schema, &body)
    }

    #[test]
    fn message_bodies_are_checked_against_the_spec() {
        assert_eq!(
            message(
                json!({ "content": "hi", "nonce": "abc", "enforce_nonce": true,
                            "allowed_mentions": { "parse": [] } })
            ),
            Vec::<String>::new()
        );
        let wrong = [
            (json!({ "content": 5 }), "content"),
            (json!({ "nonce": "x".repeat(26) }), "nonce"),
            (
                json!({ "allowed_mentions": { "parse": ["nobody"] } }),
                "allowed_mentions.parse.0",
            ),
            (
                json!({ "allowed_mentions": { "users": ["12x"] } }),
                "allowed_mentions.users.0",
            ),
            (
                json!({ "attachments": [{ "filename": "a.png" }] }),
                "id is required",
            ),
            (json!({ "embeds": vec![json!({}); 11] }), "embeds"),
            (json!({ "tts": "yes" }), "tts"),
        ];
        for (body, named) in wrong {
            let errors = message(body.clone());
            assert!(
                errors.iter().any(|e| e.contains(named)),
                "{body} refused naming {named}: {errors:?}"
            );
        }
    }
}
