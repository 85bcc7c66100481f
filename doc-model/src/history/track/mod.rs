//! The bookkeeping behind [`super::Replayer`]: observers on the document's roots that turn
//! yrs events into [`Change`]s, and the little they must remember between updates.
//!
//! yrs reports structural changes of `cells` as an array delta (retain / removed / added),
//! which says where cells went but not which ids were removed; so the tracker keeps each
//! cell's id in document order and replays the delta on that list. It also keeps each cell's
//! source length (so a replaced `source` Y.Text can say how much it removed) and metadata
//! (so a metadata change can name the keys it changed, even when the whole map was replaced).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use yrs::types::map::MapEvent;
use yrs::types::{Change as ArrayChange, EntryChange, Event, Events, PathSegment};
use yrs::{
    Array, ArrayRef, DeepObservable, ID, Map, MapRef, Observable, Out, ReadTxn, Transact, TransactionMut,
};

mod cell;
mod roots;

use self::cell::source_len;
use super::changes::{Change, ChangeKind, lock};
use super::text_index::TextIndex;
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
    /// Which text each item is in; `None` while it cannot be trusted (see `text_index`).
    index: Option<TextIndex>,
    /// Units the current update adds to each text, read from the update by `index`.
    added_by_text: Option<HashMap<ID, u32>>,
    /// Off only in tests that check the index against yrs's deltas.
    use_index: bool,
    /// Updates to wait before trying to rebuild a dropped index again, and the wait after
    /// the last failed attempt.
    rebuild_in: u32,
    rebuild_backoff: u32,
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
        let index = TextIndex::from_state(&doc.encode_state());
        let txn = doc.doc().transact();
        let roots = doc.roots();
        let cells = roots.cells.iter(&txn).map(|out| CellInfo::read(&txn, &out).0).collect();
        let notebook_metadata = object_at(&txn, &roots.meta, key::METADATA);
        Self {
            cells,
            notebook_metadata,
            found: Found::default(),
            index,
            added_by_text: None,
            use_index: true,
            rebuild_in: 0,
            rebuild_backoff: 0,
        }
    }

    /// Reads an update about to be applied into the text index. `pending`: the document
    /// holds updates it could not integrate yet, which the index cannot follow.
    pub(crate) fn before_update(&mut self, update: &[u8], pending: bool) {
        self.found = Found::default();
        self.added_by_text = None;
        if pending || !self.use_index {
            self.index = None;
        } else if let Some(index) = &mut self.index {
            self.added_by_text = index.feed(update);
            if self.added_by_text.is_none() {
                self.index = None;
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn disable_index(&mut self) {
        self.use_index = false;
        self.index = None;
    }

    /// After an update: rebuilds the text index if it was dropped and can be trusted again.
    pub(crate) fn after_update(&mut self, doc: &NotebookDoc, applied: bool, pending: bool) {
        if !applied {
            // The index may hold items yrs refused.
            self.index = None;
        }
        if self.index.is_some() || pending || !self.use_index {
            return;
        }
        if self.rebuild_in > 0 {
            self.rebuild_in -= 1;
            return;
        }
        self.index = TextIndex::from_state(&doc.encode_state());
        // A document with a hole in some client's clocks (updates replayed out of order)
        // cannot be indexed until the hole is filled; rebuilding costs a full encode, so
        // the attempts get rarer while it fails.
        self.rebuild_backoff = match self.index {
            Some(_) => 0,
            None => (self.rebuild_backoff * 2).clamp(16, 4096),
        };
        self.rebuild_in = self.rebuild_backoff;
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
                            let before = self.cells.get(i as usize).map_or(0, |c| c.source_len);
                            self.count_text(txn, e, before, p);
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
            let again = id
                .as_ref()
                .and_then(|id| (0..added.len()).find(|&j| !matched[j] && added[j].1.as_ref() == Some(id)));
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
