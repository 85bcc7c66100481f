//! Notebook-wide changes: the `meta` root and the server-written `talkbook` root.

use serde_json::{Value, json};
use yrs::types::map::MapEvent;
use yrs::types::{Event, Events, PathSegment};
use yrs::{MapRef, TransactionMut};

use super::{Tracker, changed_keys, entry_changed, new_value, object_at, old_value};
use crate::history::changes::{Change, ChangeKind};
use crate::schema as key;

impl Tracker {
    pub(super) fn on_meta(&mut self, txn: &TransactionMut, meta: &MapRef, events: &Events) {
        let (mut metadata, mut other) = (false, false);
        for event in events.iter() {
            let path = event.path();
            match (path.front(), event) {
                (None, Event::Map(e)) => {
                    for (k, change) in e.keys(txn) {
                        if k.as_ref() == key::METADATA {
                            metadata = true;
                        } else if entry_changed(change) {
                            other = true;
                        }
                    }
                }
                (Some(PathSegment::Key(k)), _) if k.as_ref() == key::METADATA => metadata = true,
                _ => other = true,
            }
        }
        let mut keys = Vec::new();
        if metadata {
            let now = object_at(txn, meta, key::METADATA);
            keys = changed_keys(&self.notebook_metadata, &now);
            self.notebook_metadata = now;
        }
        if other || !keys.is_empty() {
            let change = Change::new(ChangeKind::NotebookMetadataChanged, None);
            self.found.notebook = Some(change.with_detail(json!({"keys": keys})));
        }
    }

    /// The server-written `talkbook` map. The server rewrites every key when one changes, so
    /// a key whose value stayed the same reports nothing.
    pub(super) fn on_server_state(&mut self, txn: &TransactionMut, e: &MapEvent) {
        let keys = e.keys(txn);
        for name in ["mode", "block", "others_may_run"] {
            let Some(change) = keys.get(name) else { continue };
            let old = old_value(txn, change);
            let new = new_value(txn, change);
            if old == new {
                continue;
            }
            let change = match (name, &new) {
                ("mode", _) => Change::new(ChangeKind::ModeChanged, None)
                    .with_detail(json!({"mode": new.clone().unwrap_or(Value::Null)})),
                ("block", Some(Value::Object(block))) => Change::new(ChangeKind::Blocked, None).with_detail(
                    json!({"holder": block.get("holder"), "holder_name": block.get("holder_name")}),
                ),
                ("block", _) if matches!(old, Some(Value::Object(_))) => {
                    Change::new(ChangeKind::Unblocked, None)
                }
                ("others_may_run", Some(Value::Bool(allowed))) => {
                    Change::new(ChangeKind::OthersMayRunChanged, None)
                        .with_detail(json!({"allowed": allowed}))
                }
                _ => continue,
            };
            self.found.server.push(change);
        }
    }
}
