//! Request fields whose schema tells the truth.
//!
//! - [`Text`]: a JSON string field that takes only a JSON string. poem-openapi's `String`
//!   also takes `12` and `false` (as "12" and "false"), which the spec, saying `string`,
//!   does not allow and a client sending them has got wrong.
//! - `Text<MIN, MAX>` and [`Count<MIN, MAX>`] also write into the spec the bounds their
//!   handler enforces (`minLength`/`maxLength` in characters, `minimum`/`maximum`). The
//!   handler checks them, with its own error code and message: these types only parse.

use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

/// What every string type here shares of poem-openapi's `Type`: a required `string` whose
/// raw value is its `String` (field 0).
macro_rules! string_type {
    () => {
        const IS_REQUIRED: bool = true;

        type RawValueType = String;

        type RawElementValueType = String;

        fn name() -> Cow<'static, str> {
            "string".into()
        }

        fn as_raw_value(&self) -> Option<&String> {
            Some(&self.0)
        }

        fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
            Box::new(self.as_raw_value().into_iter())
        }
    };
}

/// A string in a request body: only a JSON string parses. `MIN` and `MAX` (0: none) are the
/// length in characters its handler allows, for the spec.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Text<const MIN: usize = 0, const MAX: usize = 0>(pub String);

impl<const MIN: usize, const MAX: usize> Deref for Text<MIN, MAX> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize> std::fmt::Debug for Text<MIN, MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<const MIN: usize, const MAX: usize> From<&str> for Text<MIN, MAX> {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl<const MIN: usize, const MAX: usize> Type for Text<MIN, MAX> {
    string_type!();

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.min_length = (MIN > 0).then_some(MIN);
        schema.max_length = (MAX > 0).then_some(MAX);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const MIN: usize, const MAX: usize> ParseFromJSON for Text<MIN, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => Ok(Self(s)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<const MIN: usize, const MAX: usize> ToJSON for Text<MIN, MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// The one phrase a [`Phrase`] parameter takes.
pub trait Fixed: Send + Sync + 'static {
    const TEXT: &'static str;
}

/// A query parameter that must be one exact phrase (a confirmation): the spec lists it as
/// the one value; any text parses, and the handler refuses the wrong one with its own code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase<F>(pub String, std::marker::PhantomData<F>);

impl<F: Fixed> Phrase<F> {
    /// Whether the caller sent the phrase.
    pub fn is_given(&self) -> bool {
        self.0 == F::TEXT
    }
}

impl<F: Fixed> Type for Phrase<F> {
    string_type!();

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.enum_items = vec![Value::from(F::TEXT)];
        MetaSchemaRef::Inline(Box::new(schema))
    }
}

impl<F: Fixed> ParseFromParameter for Phrase<F> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self(value.to_owned(), std::marker::PhantomData))
    }
}

/// A whole number in a query string, `MIN` to `MAX` as its handler allows, for the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count<const MIN: u32, const MAX: u32>(pub u32);

impl<const MIN: u32, const MAX: u32> Type for Count<MIN, MAX> {
    const IS_REQUIRED: bool = true;

    type RawValueType = u32;

    type RawElementValueType = u32;

    fn name() -> Cow<'static, str> {
        "integer_uint32".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new_with_format("integer", "uint32");
        schema.minimum = Some(f64::from(MIN));
        schema.maximum = (MAX < u32::MAX).then_some(f64::from(MAX));
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&u32> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a u32> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<const MIN: u32, const MAX: u32> ParseFromParameter for Count<MIN, MAX> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        value.parse().map(Self).map_err(ParseError::custom)
    }
}

impl<const MIN: u32, const MAX: u32> ToJSON for Count<MIN, MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_a_json_string_is_text() {
        let parsed = <Text>::parse_from_json(Some(json!("ada"))).expect("a string");
        assert_eq!(&*parsed, "ada");
        for other in [json!(12), json!(false), json!(null), json!([]), json!({})] {
            assert!(
                <Text>::parse_from_json(Some(other.clone())).is_err(),
                "{other}"
            );
        }
        assert!(<Text>::parse_from_json(None).is_err(), "missing");
        assert!(
            Option::<Text>::parse_from_json(Some(json!(null)))
                .expect("null is None")
                .is_none()
        );
    }
}
