//! The bookkeeping behind [`super::Replayer`]: observers on the document's roots that turn
//! yrs events into [`Change`]s, and the little they must remember between updates.
//!
//! yrs reports structural changes of `cells` as an array delta (retain / removed / added),
//! which says where cells went but not which ids were removed; so the tracker keeps each
//! cell's id in document order and replays the delta on that list. It also keeps each cell's
//! source length (so a replaced `source` Y.Text can say how much it removed) and metadata
//! (so a metadata change can name the keys it changed, even when the whole map was replaced).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use yrs::types::map::MapEvent;
use yrs::types::text::TextEvent;
use yrs::types::{Change as ArrayChange, Delta, EntryChange, Event, Events, PathSegment};
use yrs::{
    Any, Array, ArrayRef, DeepObservable, Map, MapRef, Observable, Out, ReadTxn, Text, Transact,
    TransactionMut,
};

use super::changes::{Change, ChangeKind, lock};
use crate::doc::{NotebookDoc, get_string, out_to_json};
use crate::notebook::JsonObject;
use crate::schema as key;

/// The key the replayer's observers are registered under.
const OBSERVER: &str = "talkbook-history";

pub(crate) struct Tracker {
    /// One entry per element of `cells`, in document order.
    cells: Vec<CellInfo>,
    notebook_metadata: JsonObject,
    found: Found,
}

#[derive(Debug, Default)]
struct CellInfo {
    id: Option<String>,
    /// UTF-16 code units.
    source_len: u32,
    metadata: JsonObject,
}

/// What the observers found during one update.
#[derive(Debug, Default)]
struct Found {
    /// Cell changes with their place in document order: (index, 0) for a cell deleted just
    /// before the cell now at `index`, (index, 1) for the cell now at `index`.
    cells: Vec<((usize, u8), Change)>,
    notebook: Option<Change>,
    server: Vec<Change>,
}

/// What changed inside one existing cell.
#[derive(Debug, Default)]
struct Pending {
    added: u32,
    removed: u32,
    source_touched: bool,
    /// The source's length after the update, when an event told it.
    source_len: Option<u32>,
    outputs: bool,
    metadata: bool,
    cell_type: Option<Value>,
    attachments: bool,
    /// `outputs`, `execution_count` or `attachments` added or removed as keys: part of a
    /// cell type change when there is one, a change of their own otherwise.
    outputs_key: bool,
    attachments_key: bool,
}

impl Tracker {
    /// The bookkeeping for a document as it is.
    pub(crate) fn read(doc: &NotebookDoc) -> Self {
        let txn = doc.doc().transact();
        let roots = doc.roots();
        let cells = roots.cells.iter(&txn).map(|out| CellInfo::read(&txn, &out).0).collect();
        let notebook_metadata = object_at(&txn, &roots.meta, key::METADATA);
        Self { cells, notebook_metadata, found: Found::default() }
    }

    /// Registers the observers that feed `tracker` from `doc`.
    pub(crate) fn observe(doc: &NotebookDoc, tracker: &Arc<Mutex<Tracker>>) {
        let roots = doc.roots();
        let (t, cells) = (tracker.clone(), roots.cells.clone());
        roots.cells.observe_deep(OBSERVER, move |txn, events| lock(&t).on_cells(txn, &cells, events));
        let (t, meta) = (tracker.clone(), roots.meta.clone());
        roots.meta.observe_deep(OBSERVER, move |txn, events| lock(&t).on_meta(txn, &meta, events));
        let t = tracker.clone();
        roots.talkbook.observe(OBSERVER, move |txn, event: &MapEvent| lock(&t).on_server_state(txn, event));
    }

    pub(crate) fn clear_found(&mut self) {
        self.found = Found::default();
    }

    /// This update's changes: cells in document order, then notebook-wide ones.
    pub(crate) fn take_changes(&mut self) -> Vec<Change> {
        let mut found = std::mem::take(&mut self.found);
        // Stable: changes of one cell, and cells deleted at one place, keep their order.
        found.cells.sort_by_key(|(place, _)| *place);
        let mut changes: Vec<Change> = found.cells.into_iter().map(|(_, change)| change).collect();
        changes.extend(found.notebook);
        changes.extend(found.server);
        changes
    }

    fn on_cells(&mut self, txn: &TransactionMut, cells: &ArrayRef, events: &Events) {
        // The array's own event first: inner events are located by index in the new order.
        for event in events.iter() {
            if let Event::Array(e) = event
                && e.path().is_empty()
            {
                self.on_cells_array(txn, cells, e.delta(txn));
            }
        }
        // yrs raises no events inside cells created (or moved: re-created) by this update, nor
        // inside cells it deleted, so every inner event belongs to a cell that stayed.
        let mut pending: BTreeMap<usize, Pending> = BTreeMap::new();
        for event in events.iter() {
            let path = event.path();
            let Some(&PathSegment::Index(i)) = path.front() else { continue };
            let p = pending.entry(i as usize).or_default();
            match (path.get(1), event) {
                (None, Event::Map(e)) => self.on_cell_keys(txn, i as usize, e, p),
                (Some(PathSegment::Key(k)), event) => match k.as_ref() {
                    key::SOURCE => {
                        if let Event::Text(e) = event {
                            count_text_delta(txn, e, p);
                        }
                    }
                    key::OUTPUTS => p.outputs = true,
                    key::METADATA => p.metadata = true,
                    key::ATTACHMENTS => p.attachments = true,
                    _ => {}
                },
                _ => {}
            }
        }
        for (index, p) in pending {
            self.report_cell(txn, cells, index, p);
        }
    }

    /// Replays the array delta on the id list and reports created, deleted and moved cells.
    fn on_cells_array(&mut self, txn: &TransactionMut, cells: &ArrayRef, delta: &[ArrayChange]) {
        let old = std::mem::take(&mut self.cells);
        let mut new = Vec::with_capacity(old.len());
        let mut old = old.into_iter().enumerate();
        // (old index, place in the new order, id) and (new index, id, cell type).
        let mut removed: Vec<(usize, usize, Option<String>)> = Vec::new();
        let mut added: Vec<(usize, Option<String>, Option<String>)> = Vec::new();
        for change in delta {
            match change {
                ArrayChange::Retain(n) => new.extend(old.by_ref().take(*n as usize).map(|(_, c)| c)),
                ArrayChange::Removed(n) => {
                    for (i, cell) in old.by_ref().take(*n as usize) {
                        removed.push((i, new.len(), cell.id));
                    }
                }
                ArrayChange::Added(values) => {
                    for value in values {
                        let (info, cell_type) = CellInfo::read(txn, value);
                        added.push((new.len(), info.id.clone(), cell_type));
                        new.push(info);
                    }
                }
            }
        }
        new.extend(old.map(|(_, c)| c));
        self.cells = new;
        if self.cells.len() != cells.len(txn) as usize {
            // Cannot happen while every update passes through here; re-reading keeps later
            // updates right if it ever does.
            self.cells = cells.iter(txn).map(|out| CellInfo::read(txn, &out).0).collect();
        }

        let mut matched = vec![false; added.len()];
        for (from, place, id) in removed {
            let again = id.as_ref().and_then(|id| {
                (0..added.len()).find(|&j| !matched[j] && added[j].1.as_ref() == Some(id))
            });
            let (kind, place, detail) = match again {
                Some(j) => {
                    matched[j] = true;
                    let to = added[j].0;
                    (ChangeKind::CellMoved, (to, 1), json!({"from": from, "to": to}))
                }
                None => (ChangeKind::CellDeleted, (place, 0), json!({"index": from})),
            };
            self.found.cells.push((place, Change::new(kind, id).with_detail(detail)));
        }
        for ((index, id, cell_type), matched) in added.into_iter().zip(matched) {
            if !matched {
                let detail = json!({"index": index, "cell_type": cell_type});
                let change = Change::new(ChangeKind::CellCreated, id).with_detail(detail);
                self.found.cells.push(((index, 1), change));
            }
        }
    }

    /// Keys of a cell map set, replaced or removed.
    fn on_cell_keys(&mut self, txn: &TransactionMut, index: usize, e: &MapEvent, p: &mut Pending) {
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

    fn report_cell(&mut self, txn: &TransactionMut, cells: &ArrayRef, index: usize, p: Pending) {
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

    fn on_meta(&mut self, txn: &TransactionMut, meta: &MapRef, events: &Events) {
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
    fn on_server_state(&mut self, txn: &TransactionMut, e: &MapEvent) {
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
                ("block", _) if matches!(old, Some(Value::Object(_))) => Change::new(ChangeKind::Unblocked, None),
                ("others_may_run", Some(Value::Bool(allowed))) => {
                    Change::new(ChangeKind::OthersMayRunChanged, None).with_detail(json!({"allowed": allowed}))
                }
                _ => continue,
            };
            self.found.server.push(change);
        }
    }
}

impl CellInfo {
    /// Reads a cell map's bookkeeping and its `cell_type`.
    fn read<T: ReadTxn>(txn: &T, out: &Out) -> (Self, Option<String>) {
        let Out::YMap(map) = out else { return (Self::default(), None) };
        let source_len = map.get(txn, key::SOURCE).map_or(0, |s| source_len(txn, &s));
        let info = Self {
            id: get_string(txn, map, key::ID),
            source_len,
            metadata: object_at(txn, map, key::METADATA),
        };
        (info, get_string(txn, map, key::CELL_TYPE))
    }
}

/// Inserted and deleted UTF-16 code units of one text event.
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
    p.source_touched = true;
    p.source_len = Some(e.target().len(txn));
}

/// Length in UTF-16 code units of a source value (Y.Text or a plain string).
fn source_len<T: ReadTxn>(txn: &T, value: &Out) -> u32 {
    match value {
        Out::YText(text) => text.len(txn),
        Out::Any(Any::String(s)) => utf16_len(s),
        _ => 0,
    }
}

pub(crate) fn utf16_len(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

fn entry_changed(change: &EntryChange) -> bool {
    match change {
        EntryChange::Updated(old, new) => old != new,
        _ => true,
    }
}

fn old_value(txn: &TransactionMut, change: &EntryChange) -> Option<Value> {
    match change {
        EntryChange::Updated(old, _) | EntryChange::Removed(old) => Some(out_to_json(txn, old)),
        EntryChange::Inserted(_) => None,
    }
}

fn new_value(txn: &TransactionMut, change: &EntryChange) -> Option<Value> {
    match change {
        EntryChange::Inserted(new) | EntryChange::Updated(_, new) => Some(out_to_json(txn, new)),
        EntryChange::Removed(_) => None,
    }
}

/// A map's entry `k` as a JSON object (empty when missing or not an object).
fn object_at<T: ReadTxn>(txn: &T, map: &MapRef, k: &str) -> JsonObject {
    match map.get(txn, k).map(|v| out_to_json(txn, &v)) {
        Some(Value::Object(obj)) => obj,
        _ => JsonObject::new(),
    }
}

/// Keys whose values differ between two objects, sorted.
pub(crate) fn changed_keys(old: &JsonObject, new: &JsonObject) -> Vec<String> {
    let mut keys: Vec<String> =
        old.keys().chain(new.keys()).filter(|k| old.get(*k) != new.get(*k)).cloned().collect();
    keys.sort();
    keys.dedup();
    keys
}
