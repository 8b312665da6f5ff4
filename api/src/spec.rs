//! The OpenAPI document as served and committed: poem-openapi's, made plain for client
//! generators and true to what poem-openapi does on the wire.
//!
//! - A property whose schema is a reference with a description, a default or a validator is
//!   written by poem-openapi as `allOf: [{$ref}, {those keys}]` with the keys again beside
//!   it; generators refuse that for an enum (openapi-python-client: "Cannot take allOf a
//!   non-object", and drops the schema and the operations that use it). It becomes
//!   `allOf: [{$ref}]` with the keys beside it.
//! - A property left out of `required` is `nullable`: poem-openapi writes `None` as `null`,
//!   and reads `null` as `None` (or as the field's default). A bare reference becomes
//!   `allOf: [{$ref}]` to carry it (OpenAPI 3.0 ignores keys beside `$ref`).
//! - A `text/event-stream` body's `schema` describes each event's data, as OpenAPI before
//!   3.2 has it (and fuzzers read it): poem-openapi writes an array of the events with
//!   `format: event-stream`. It becomes the event's schema.
//! - poem-openapi's `uint32`/`uint64` formats are not OpenAPI's: a fuzzer or generator sees
//!   a signed integer. They get `minimum: 0` (and `uint32` its maximum).
//! - A parameter a handler takes as optional only to answer its absence with its own error
//!   code ([`REQUIRED`]) is required: a request without it is refused.
//! - Every operation may answer 429 `too_many_requests` (the requests per minute of an
//!   address, or credentials after too many failed admin authentications, both in
//!   middleware): each operation that does not document a 429 of its own gets that one.

use serde_json::{Value, json};

/// (operation id, query parameter) taken as `Option` only to refuse its absence with the
/// handler's own code: `DELETE /api/all` answers `confirmation_required` without `confirm`.
const REQUIRED: &[(&str, &str)] = &[("delete_all_users", "confirm")];

/// The document as `/api/openapi.json` serves it.
pub(crate) fn json(doc: &Value) -> String {
    serde_json::to_string_pretty(doc).expect("a JSON value serializes")
}

/// The document as `/api/openapi.yaml` serves it.
pub(crate) fn yaml(doc: &Value) -> String {
    serde_yaml::to_string(doc).expect("a JSON value serializes as YAML")
}

/// [`tidy`]'s changes over poem-openapi's JSON document.
pub(crate) fn tidied(raw: &str) -> Value {
    let mut doc: Value = serde_json::from_str(raw).expect("poem-openapi writes JSON");
    tidy(&mut doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in operation.values_mut() {
                rate_limited(op);
                required(op);
            }
        }
    }
    doc
}

/// Applies the rules to every object schema and event stream in `doc`, wherever it stands.
fn tidy(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(stream) = map.get_mut("text/event-stream") {
                event_stream(stream);
            }
            unsigned(map);
            let required: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    plain_reference(property);
                    if !required.contains(name) {
                        nullable(property);
                    }
                }
            }
            for child in map.values_mut() {
                tidy(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// Marks the [`REQUIRED`] parameters of an operation required.
fn required(operation: &mut Value) {
    let id = operation["operationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap_or_default();
        if REQUIRED.contains(&(id.as_str(), name)) {
            parameter["required"] = Value::Bool(true);
        }
    }
}

/// Adds the middleware's 429 to an operation's responses unless it has one.
fn rate_limited(operation: &mut Value) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    responses.entry("429").or_insert_with(|| {
        json!({
            "description": "Too many requests from this address in a minute, or credentials \
                after too many failed admin authentications (`too_many_requests`); \
                `Retry-After` says when to try again.",
            "headers": { "RETRY-AFTER": {
                "required": true, "deprecated": false,
                "schema": { "type": "integer", "format": "uint64", "minimum": 0 },
            }},
            "content": { "application/json; charset=utf-8": {
                "schema": { "$ref": "#/components/schemas/ErrorBody" },
            }},
        })
    });
}

/// `{type: array, format: event-stream, items: E}` → one event: `{data: string, event,
/// id}`, the data being E as JSON (said in `x-data-schema`; OpenAPI 3.0 has no keyword
/// for a string's JSON content).
fn event_stream(media: &mut Value) {
    let Some(schema) = media.get_mut("schema") else {
        return;
    };
    if schema["format"] == "event-stream" && schema["type"] == "array" {
        let data = schema["items"].take();
        *schema = json!({
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": { "type": "string", "description": "The event's data, as JSON.", "x-data-schema": data },
                "event": { "type": "string" },
                "id": { "type": "string" },
                "retry": { "type": "integer" },
            },
        });
    }
}

/// Bounds for poem-openapi's unsigned formats, and an integer's bounds written as integers
/// (poem-openapi writes `500.0`).
fn unsigned(schema: &mut serde_json::Map<String, Value>) {
    if schema.get("type").and_then(Value::as_str) != Some("integer") {
        return;
    }
    for bound in ["minimum", "maximum"] {
        if let Some(n) = schema.get(bound).and_then(Value::as_f64)
            && n.fract() == 0.0
            && n.abs() < 9.0e15
        {
            schema.insert(bound.into(), json!(n as i64));
        }
    }
    let max = match schema.get("format").and_then(Value::as_str) {
        Some("uint32") => Some(u32::MAX),
        Some("uint64" | "uint16" | "uint8") => None,
        _ => return,
    };
    schema.entry("minimum").or_insert(json!(0));
    if let Some(max) = max {
        schema.entry("maximum").or_insert(json!(max));
    }
}

/// `allOf: [{$ref}, {keys}]` → `allOf: [{$ref}]` (the keys already stand beside it).
fn plain_reference(property: &mut Value) {
    let Some(all_of) = property.get_mut("allOf").and_then(Value::as_array_mut) else {
        return;
    };
    if all_of.len() > 1 && all_of[0].get("$ref").is_some() {
        all_of.truncate(1);
    }
}

/// Marks `property` as taking `null`, wrapping a bare reference so the mark counts.
fn nullable(property: &mut Value) {
    let Value::Object(map) = property else { return };
    if let Some(reference) = map.remove("$ref") {
        map.insert("allOf".into(), json!([{ "$ref": reference }]));
    }
    let typed = map.contains_key("type") || map.contains_key("allOf");
    if typed {
        map.insert("nullable".into(), Value::Bool(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_lose_their_copied_keys_and_optional_fields_take_null() {
        let raw = json!({ "components": { "schemas": { "Request": {
            "type": "object",
            "required": ["role", "name"],
            "properties": {
                "role": { "allOf": [{ "$ref": "#/c/Role" }, { "description": "d" }], "description": "d" },
                "name": { "type": "string" },
                "channel": { "allOf": [{ "$ref": "#/c/Channel" }, { "default": "x" }], "default": "x" },
                "invitation": { "$ref": "#/c/Invitation" },
                "note": { "type": "string", "maxLength": 3 },
                "payload": {},
            },
        }}}});
        let doc = tidied(&raw.to_string());
        let p = &doc["components"]["schemas"]["Request"]["properties"];
        assert_eq!(
            p["role"],
            json!({ "allOf": [{ "$ref": "#/c/Role" }], "description": "d" })
        );
        assert_eq!(
            p["name"],
            json!({ "type": "string" }),
            "required: not nullable"
        );
        assert_eq!(
            p["channel"],
            json!({ "allOf": [{ "$ref": "#/c/Channel" }], "default": "x", "nullable": true })
        );
        assert_eq!(
            p["invitation"],
            json!({ "allOf": [{ "$ref": "#/c/Invitation" }], "nullable": true })
        );
        assert_eq!(
            p["note"],
            json!({ "type": "string", "maxLength": 3, "nullable": true })
        );
        assert_eq!(p["payload"], json!({}), "any value already takes null");
    }

    #[test]
    fn an_event_streams_schema_is_its_events() {
        let raw = json!({ "content": { "text/event-stream": { "schema": {
            "type": "array", "format": "event-stream", "items": { "$ref": "#/c/Event" },
        }}}});
        let event = &tidied(&raw.to_string())["content"]["text/event-stream"]["schema"];
        assert_eq!(event["required"], json!(["data"]));
        assert_eq!(event["properties"]["data"]["type"], "string");
        assert_eq!(
            event["properties"]["data"]["x-data-schema"],
            json!({ "$ref": "#/c/Event" })
        );
    }
}
