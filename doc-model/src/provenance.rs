//! Who created each cell and when, as the server records it in the `provenance` map.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use yrs::Any;
use yrs::any::Number;

use crate::ids::UserId;

/// The authorship record of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The user whose edit created the cell.
    pub author: UserId,
    /// The author's user name when the cell was created, so an exported notebook stays
    /// readable without the server.
    pub author_name: String,
    pub created_at: DateTime<Utc>,
}

impl Provenance {
    /// The value stored in the `provenance` map (also the `metadata.talkbook` of exports).
    pub fn to_json(&self) -> Value {
        json!({
            "author": self.author.0,
            "author_name": self.author_name,
            "created_at": self.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        })
    }

    pub(crate) fn to_any(&self) -> Any {
        let mut map = HashMap::new();
        map.insert("author".to_owned(), Any::Number(Number::Int(self.author.0)));
        map.insert("author_name".to_owned(), Any::String(Arc::from(self.author_name.as_str())));
        map.insert(
            "created_at".to_owned(),
            Any::String(Arc::from(self.created_at.to_rfc3339_opts(SecondsFormat::Millis, true))),
        );
        Any::Map(Arc::new(map))
    }

    /// Reads a record written by [`Provenance::to_json`]; `None` if it is not one.
    pub fn from_json(value: &Value) -> Option<Self> {
        let author = UserId(value.get("author")?.as_i64()?);
        let author_name = value.get("author_name").and_then(Value::as_str).unwrap_or_default();
        let created_at = DateTime::parse_from_rfc3339(value.get("created_at")?.as_str()?).ok()?;
        Some(Self { author, author_name: author_name.to_owned(), created_at: created_at.with_timezone(&Utc) })
    }
}
