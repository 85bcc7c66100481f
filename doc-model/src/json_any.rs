//! Conversion between JSON values and yrs `Any` values.
//!
//! Yjs and pycrdt may hand integers back as floats (`4.0`), and jupyter_ydoc deliberately
//! stores notebook-level integers as floats. Reading therefore turns every whole float in
//! the safe-integer range back into an integer, as jupyter_ydoc does, so `execution_count`
//! and `nbformat` stay integers through any round trip. Writing keeps JSON integers as
//! integers (`Number::Int`), which Yjs decodes as plain numbers.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Number as JsonNumber, Value};
use yrs::Any;
use yrs::any::Number;

/// Converts a JSON value into the `Any` stored in the document.
pub fn to_any(value: &Value) -> Any {
    match value {
        Value::Null => Any::Null,
        Value::Bool(b) => Any::Bool(*b),
        Value::Number(n) => Any::Number(json_number_to_any(n)),
        Value::String(s) => Any::String(Arc::from(s.as_str())),
        Value::Array(items) => Any::Array(items.iter().map(to_any).collect()),
        Value::Object(map) => Any::Map(Arc::new(object_to_any_map(map))),
    }
}

/// Converts a JSON object into the key/value map of an `Any::Map`.
pub fn object_to_any_map(map: &Map<String, Value>) -> HashMap<String, Any> {
    map.iter().map(|(k, v)| (k.clone(), to_any(v))).collect()
}

fn json_number_to_any(n: &JsonNumber) -> Number {
    if let Some(i) = n.as_i64() {
        Number::Int(i)
    } else if let Some(u) = n.as_u64() {
        // Larger than i64: only representable as a float in Yjs.
        Number::Float(u as f64)
    } else {
        Number::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// Converts a stored `Any` back into JSON, normalising whole floats to integers.
pub fn from_any(any: &Any) -> Value {
    match any {
        Any::Null | Any::Undefined => Value::Null,
        Any::Bool(b) => Value::Bool(*b),
        Any::Number(n) => number_to_json(*n),
        Any::String(s) => Value::String(s.to_string()),
        // Binary data has no JSON form; nbformat never produces it. Base64 would be a guess
        // about the reader, so it becomes an array of byte values, which loses nothing.
        Any::Buffer(bytes) => Value::Array(bytes.iter().map(|b| Value::from(*b)).collect()),
        Any::Array(items) => Value::Array(items.iter().map(from_any).collect()),
        Any::Map(map) => Value::Object(any_map_to_object(map)),
    }
}

/// Converts an `Any::Map`'s contents into a JSON object with sorted keys.
pub fn any_map_to_object(map: &HashMap<String, Any>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), from_any(v))).collect()
}

fn number_to_json(n: Number) -> Value {
    match n {
        Number::Int(i) => Value::from(i),
        Number::Float(f) => match Number::try_i64(f) {
            Number::Int(i) => Value::from(i),
            Number::Float(f) => JsonNumber::from_f64(f).map_or(Value::Null, Value::Number),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_survives_a_round_trip_through_any() {
        let value = json!({"a": [1, 2.5, "x", null, true], "b": {"c": -7}, "big": 9007199254740993u64});
        let back = from_any(&to_any(&value));
        assert_eq!(back["a"], json!([1, 2.5, "x", null, true]));
        assert_eq!(back["b"], json!({"c": -7}));
        assert!(back["big"].is_i64() || back["big"].is_f64());
    }

    #[test]
    fn whole_floats_read_back_as_integers() {
        assert_eq!(from_any(&Any::Number(Number::Float(4.0))), json!(4));
        assert_eq!(from_any(&Any::Number(Number::Float(4.5))), json!(4.5));
    }
}
