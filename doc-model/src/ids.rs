//! Newtype ids, so a cell id can never be passed where a user id is expected.

use std::fmt;

/// The `id` of a cell, as nbformat 4.5 defines it: 1–64 characters from `[a-zA-Z0-9-_]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CellId(String);

impl CellId {
    /// Wraps a string that is already known to be a valid id (e.g. read from the document).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// A fresh random id in the form nbformat itself generates (8 hex characters).
    pub fn random() -> Self {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        Self(hex[..8].to_owned())
    }

    /// Whether `s` is a valid nbformat 4.5 cell id.
    pub fn is_valid(s: &str) -> bool {
        (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CellId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// A Talkbook user account id, as stored by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
