//! Changes inside one cell: its keys set or replaced, its source text edited.

use serde_json::{Value, json};
use yrs::branch::Branch;
use yrs::types::map::MapEvent;
use yrs::types::text::TextEvent;
use yrs::types::{Delta, EntryChange};
use yrs::{Any, Array, ArrayRef, BranchID, Map, Out, ReadTxn, Text, TransactionMut};

use super::{Pending, Tracker, changed_keys, entry_changed, new_value, object_at, utf16_len};
use crate::doc::out_to_json;
use crate::history::changes::{Change, ChangeKind};
use crate::schema as key;

impl Tracker {
    /// Keys of a cell map set, replaced or removed.
    pub(super) fn on_cell_keys(&mut self, txn: &TransactionMut, index: usize, e: &MapEvent, p: &mut Pending) {
        for (k, change) in e.keys(txn) {
            match k.as_ref() {
                key::SOURCE => {
                    let old_cached = self.cells.get(index).map_or(0, |c| c.source_len);
                    let (old, new) = match change {
                        EntryChange::Inserted(new) => (None, Some(new)),
                        EntryChange::Updated(old, new) => (Some(old), Some(new)),
                        EntryChange::Removed(old) => (Some(old), None),
                    };
                    // The old Y.Text is deleted by now and reads as empty: its length is the
                    // one remembered.
                    let removed = old.map_or(0, |old| match old {
                        Out::YText(_) => old_cached,
                        other => source_len(txn, other),
                    });
                    let added = new.map_or(0, |new| source_len(txn, new));
                    p.source_touched = true;
                    p.added += added;
                    p.removed += removed;
                    p.source_len = Some(added);
                }
                key::OUTPUTS | key::EXECUTION_COUNT => match change {
                    EntryChange::Updated(..) => p.outputs |= entry_changed(change),
                    _ => p.outputs_key = true,
                },
                key::METADATA => p.metadata = true,
                key::CELL_TYPE if entry_changed(change) => {
                    p.cell_type = Some(new_value(txn, change).unwrap_or(Value::Null));
                }
                key::ATTACHMENTS => match change {
                    EntryChange::Updated(..) => p.attachments |= entry_changed(change),
                    _ => p.attachments_key = true,
                },
                key::ID => {
                    if let Some(cell) = self.cells.get_mut(index) {
                        cell.id = new_value(txn, change).and_then(|v| v.as_str().map(str::to_owned));
                    }
                }
                _ => {}
            }
        }
    }

    pub(super) fn report_cell(&mut self, txn: &TransactionMut, cells: &ArrayRef, index: usize, p: Pending) {
        let Some(info) = self.cells.get_mut(index) else { return };
        let id = info.id.clone();
        let map = || match cells.get(txn, index as u32) {
            Some(Out::YMap(map)) => Some(map),
            _ => None,
        };
        let mut report = |change: Change| self.found.cells.push(((index, 1), change));
        if p.source_touched {
            if let Some(len) = p.source_len {
                info.source_len = len;
            }
            if p.added > 0 || p.removed > 0 {
                let mut change = Change::new(ChangeKind::SourceEdited, id.clone());
                (change.added, change.removed) = (p.added, p.removed);
                report(change);
            }
        }
        let type_changed = p.cell_type.is_some();
        if p.outputs || (p.outputs_key && !type_changed) {
            let count = match map().and_then(|m| m.get(txn, key::OUTPUTS)) {
                Some(Out::YArray(outputs)) => outputs.len(txn),
                Some(other) => out_to_json(txn, &other).as_array().map_or(0, |a| a.len() as u32),
                None => 0,
            };
            let change = Change::new(ChangeKind::OutputsChanged, id.clone());
            report(change.with_detail(json!({"outputs": count})));
        }
        if p.metadata {
            let now = map().map(|m| object_at(txn, &m, key::METADATA)).unwrap_or_default();
            let keys = changed_keys(&info.metadata, &now);
            info.metadata = now;
            if !keys.is_empty() {
                let change = Change::new(ChangeKind::MetadataChanged, id.clone());
                report(change.with_detail(json!({"keys": keys})));
            }
        }
        if let Some(to) = p.cell_type {
            report(Change::new(ChangeKind::CellTypeChanged, id.clone()).with_detail(json!({"to": to})));
        }
        if p.attachments || (p.attachments_key && !type_changed) {
            report(Change::new(ChangeKind::AttachmentsChanged, id));
        }
    }
}

impl Tracker {
    /// Inserted and deleted UTF-16 code units of a source text event: from the text index
    /// when it knows, else from yrs's delta. `before`: the text's length before the update.
    pub(super) fn count_text(&self, txn: &TransactionMut, e: &TextEvent, before: u32, p: &mut Pending) {
        let after = e.target().len(txn);
        p.source_touched = true;
        p.source_len = Some(after);
        let text_id = match AsRef::<Branch>::as_ref(e.target()).id() {
            BranchID::Nested(id) => Some(id),
            BranchID::Root(_) => None,
        };
        if let (Some(added), Some(id)) = (&self.added_by_text, text_id) {
            let added = added.get(&id).copied().unwrap_or(0);
            if let Some(removed) = (before + added).checked_sub(after) {
                p.added += added;
                p.removed += removed;
                return;
            }
        }
        count_text_delta(txn, e, p);
    }
}

/// Inserted and deleted UTF-16 code units of one text event, walking the whole text.
fn count_text_delta(txn: &TransactionMut, e: &TextEvent, p: &mut Pending) {
    for delta in e.delta(txn) {
        match delta {
            Delta::Inserted(Out::Any(Any::String(s)), _) => p.added += utf16_len(s),
            // An embed counts as one unit, as in Yjs.
            Delta::Inserted(_, _) => p.added += 1,
            Delta::Deleted(n) => p.removed += n,
            Delta::Retain(_, _) => {}
        }
    }
}

/// Length in UTF-16 code units of a source value (Y.Text or a plain string).
pub(super) fn source_len<T: ReadTxn>(txn: &T, value: &Out) -> u32 {
    match value {
        Out::YText(text) => text.len(txn),
        Out::Any(Any::String(s)) => utf16_len(s),
        _ => 0,
    }
}
