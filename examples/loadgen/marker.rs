//! Edit markers: the short text each timed edit inserts, unique per edit, so that anyone
//! reading the document can tell which edits it holds. Arrival times are taken from Yjs ids
//! instead (see [`crate::tracker`]); the markers are counted at the end as a cross-check.
//!
//! A marker is `{RUN:CLIENT:SEQ}`. `RUN` is a random tag of this run, so markers left in a
//! room by an earlier run (the reference server keeps rooms) are never mistaken for new ones.

use std::fmt;

/// One timed edit: which client of the run made it and its sequence number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EditId {
    pub client: u32,
    pub seq: u32,
}

/// The tag that makes this run's markers unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTag(String);

impl RunTag {
    pub fn random() -> Self {
        RunTag(format!("{:08x}", rand::random::<u32>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text inserted for edit `id`.
    pub fn marker(&self, id: EditId) -> String {
        format!("{{{}:{}:{}}}", self.0, id.client, id.seq)
    }

    /// Calls `found` for every marker of this run in `text`. Inserted text may hold several
    /// markers back to back (a sync step 2 carries many edits), and anything else is skipped,
    /// so a hostile or unrelated document cannot make this fail.
    pub fn scan(&self, text: &str, mut found: impl FnMut(EditId)) {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            rest = &rest[open + 1..];
            let Some(close) = rest.find(['}', '{']) else {
                return;
            };
            if rest.as_bytes()[close] == b'}'
                && let Some(id) = self.parse_inner(&rest[..close])
            {
                found(id);
            }
            rest = &rest[close..];
        }
    }

    fn parse_inner(&self, inner: &str) -> Option<EditId> {
        let mut parts = inner.split(':');
        if parts.next()? != self.0 {
            return None;
        }
        let client = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(EditId { client, seq })
    }
}

impl fmt::Display for RunTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(tag: &RunTag, text: &str) -> Vec<EditId> {
        let mut ids = Vec::new();
        tag.scan(text, |id| ids.push(id));
        ids
    }

    #[test]
    fn markers_round_trip_even_back_to_back() {
        let tag = RunTag("abc".into());
        let a = EditId { client: 3, seq: 17 };
        let b = EditId { client: 0, seq: 4_000_000 };
        let text = format!("{}{}", tag.marker(a), tag.marker(b));
        assert_eq!(found(&tag, &text), vec![a, b]);
    }

    #[test]
    fn other_runs_and_garbage_are_ignored() {
        let tag = RunTag("abc".into());
        let old = RunTag("old".into()).marker(EditId { client: 1, seq: 1 });
        let text = format!("{old}{{abc:1}}{{abc:x:2}}{{{{abc:2:5}}{{abc:1:2:3}}{{abc:9:");
        assert_eq!(found(&tag, &text), vec![EditId { client: 2, seq: 5 }]);
    }
}
