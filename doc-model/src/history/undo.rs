//! Undoing one user's change group without touching anyone else's work.
//!
//! A group is a run of one user's updates of one kind (the server groups them). Its Yjs
//! clock ranges say exactly which items it inserted and which it deleted, so undoing a
//! source edit removes precisely the characters it typed that are still there and brings
//! back precisely the characters it deleted, where their tombstones sit now; text others
//! wrote before or since stays. Other kinds set the one thing they changed back to how it
//! was just before the group.

use std::ops::Range;

use yrs::branch::Branch;
use yrs::{BranchID, Map, Out, Transact};

use super::changes::ChangeKind;
use super::keys::keys_written;
use super::pieces::{Piece, source_pieces};
use super::track::{changed_keys, utf16_len};
use crate::doc::{NotebookDoc, find_cell};
use crate::error::DocError;
use crate::ids::CellId;
use crate::notebook::{Cell, JsonObject};
use crate::schema as key;

/// The change group to undo.
#[derive(Debug, Clone, PartialEq)]
pub struct UndoTarget {
    pub kind: ChangeKind,
    pub cell_id: Option<String>,
    /// Clock ranges, per Yjs client id, of the items the group's updates inserted.
    pub inserted: Vec<(u64, Range<u32>)>,
    /// Clock ranges, per Yjs client id, of the items the group's updates deleted.
    pub deleted: Vec<(u64, Range<u32>)>,
}

/// What an undo did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UndoSummary {
    pub kind: ChangeKind,
    pub cell_id: Option<String>,
    /// `SourceEdited`: UTF-16 code units removed; `CellCreated`: cells removed (1).
    pub removed: u32,
    /// `SourceEdited`: UTF-16 code units brought back; `CellDeleted`: cells brought back (1).
    pub restored: u32,
    /// Whether anything was changed.
    pub done: bool,
    /// Why nothing (or not everything) was done.
    pub note: Option<String>,
}

/// Undoes `target` in `doc` (the current state, with the undoing user's client id), using
/// `before`, the notebook as it was just before the group, for what must come back.
pub fn undo(doc: &NotebookDoc, before: &NotebookDoc, target: &UndoTarget) -> Result<UndoSummary, DocError> {
    let mut summary = UndoSummary {
        kind: target.kind,
        cell_id: target.cell_id.clone(),
        removed: 0,
        restored: 0,
        done: false,
        note: None,
    };
    let cell_level = !matches!(
        target.kind,
        ChangeKind::NotebookMetadataChanged
            | ChangeKind::ModeChanged
            | ChangeKind::Blocked
            | ChangeKind::Unblocked
            | ChangeKind::OthersMayRunChanged
    );
    let id = match &target.cell_id {
        Some(id) => CellId::new(id.as_str()),
        None if cell_level => return Ok(summary.nothing("the change names no cell")),
        None => CellId::new(""),
    };
    let now = cell_in(doc, &id);
    let then = cell_in(before, &id);
    match target.kind {
        ChangeKind::SourceEdited => undo_source(doc, before, &id, target, &mut summary)?,
        ChangeKind::CellCreated => {
            if now.is_none() {
                return Ok(summary.nothing("the cell no longer exists"));
            }
            doc.edit(|ed| ed.delete_cell(&id))?;
            summary.removed = 1;
        }
        ChangeKind::CellDeleted => {
            if now.is_some() {
                return Ok(summary.nothing("a cell with this id exists"));
            }
            let Some((index, cell)) = then else {
                return Ok(summary.nothing("the cell was not there before"));
            };
            doc.edit(|ed| {
                let index = index.min(ed.len());
                ed.insert_cell(index, &cell)
            })?;
            summary.restored = 1;
        }
        ChangeKind::CellMoved => {
            let (Some((from, _)), Some((index, _))) = (now, then) else {
                return Ok(summary.nothing("the cell is not in both the notebook and its past"));
            };
            let moved = doc.edit(|ed| {
                let to = index.min(ed.len().saturating_sub(1));
                ed.move_cell(&id, to)?;
                Ok(to != from)
            })?;
            if !moved.0 {
                return Ok(summary.nothing("the cell is already where it was"));
            }
        }
        ChangeKind::MetadataChanged | ChangeKind::CellTypeChanged | ChangeKind::AttachmentsChanged => {
            let (Some((_, now)), Some((_, then))) = (now, then) else {
                return Ok(summary.nothing("the cell is not in both the notebook and its past"));
            };
            // Read before the edit: a read transaction inside it would wait for the edit.
            let keys = match target.kind {
                ChangeKind::MetadataChanged => {
                    keys_to_revert(doc, Some(&id), target, &now.metadata, &then.metadata)
                }
                _ => Vec::new(),
            };
            let (changed, _) = doc.edit(|ed| {
                Ok(match target.kind {
                    ChangeKind::MetadataChanged => {
                        for k in &keys {
                            ed.set_cell_metadata(&id, k, then.metadata.get(k))?;
                        }
                        !keys.is_empty()
                    }
                    ChangeKind::CellTypeChanged => {
                        ed.set_cell_type(&id, then.kind)?;
                        now.kind != then.kind
                    }
                    _ => {
                        ed.set_attachments(&id, then.attachments.as_ref().filter(|a| !a.is_empty()))?;
                        now.attachments != then.attachments
                    }
                })
            })?;
            if !changed {
                return Ok(summary.nothing("it is already as it was"));
            }
        }
        ChangeKind::NotebookMetadataChanged => {
            let (now, then) = (doc.read().metadata, before.read().metadata);
            let keys = keys_to_revert(doc, None, target, &now, &then);
            if keys.is_empty() {
                return Ok(summary.nothing("the notebook metadata is already as it was"));
            }
            doc.edit(|ed| {
                for k in &keys {
                    ed.set_notebook_metadata(k, then.get(k));
                }
                Ok(())
            })?;
        }
        ChangeKind::OutputsChanged => {
            return Ok(summary.nothing("outputs come from kernels and cannot be undone; run the cell again"));
        }
        ChangeKind::ModeChanged
        | ChangeKind::Blocked
        | ChangeKind::Unblocked
        | ChangeKind::OthersMayRunChanged => {
            return Ok(
                summary.nothing("the notebook's mode and block are changed through the API, not undone")
            );
        }
    }
    summary.done = summary.note.is_none();
    Ok(summary)
}

impl UndoSummary {
    fn nothing(mut self, note: &str) -> Self {
        self.done = false;
        self.note = Some(note.to_owned());
        self
    }
}

/// The metadata keys to set back: those that differ from `before` and still show the
/// group's work (its value, or its removal), so keys others set since are left alone. When
/// the group replaced the whole metadata map, or the map cannot be read, every key that
/// differs from `before`.
fn keys_to_revert(
    doc: &NotebookDoc,
    cell: Option<&CellId>,
    target: &UndoTarget,
    now: &JsonObject,
    then: &JsonObject,
) -> Vec<String> {
    let differ = changed_keys(now, then);
    let map_id = {
        let txn = doc.doc().transact();
        let parent = match cell {
            Some(id) => find_cell(&txn, &doc.roots().cells, id).map(|(_, map)| map),
            None => Some(doc.roots().meta.clone()),
        };
        match parent.and_then(|p| p.get(&txn, key::METADATA)) {
            Some(Out::YMap(map)) => match AsRef::<Branch>::as_ref(&map).id() {
                BranchID::Nested(id) => Some(id),
                BranchID::Root(_) => None,
            },
            _ => None,
        }
    };
    let Some(map_id) = map_id else { return differ };
    let replaced_by_group =
        target.inserted.iter().any(|(c, r)| *c == map_id.client.get() && r.contains(&map_id.clock));
    if replaced_by_group {
        return differ;
    }
    match keys_written(&doc.encode_state(), map_id, &target.inserted, &target.deleted) {
        Some(written) => differ.into_iter().filter(|k| written.contains(k)).collect(),
        None => differ,
    }
}

fn cell_in(doc: &NotebookDoc, id: &CellId) -> Option<(usize, Cell)> {
    doc.read().cells.into_iter().enumerate().find(|(_, c)| &c.id == id)
}

/// An edit of the source, at a UTF-16 offset of the text as it is now.
enum Op {
    Delete { at: u32, len: u32 },
    Insert { at: u32, text: String },
}

fn undo_source(
    doc: &NotebookDoc,
    before: &NotebookDoc,
    id: &CellId,
    target: &UndoTarget,
    summary: &mut UndoSummary,
) -> Result<(), DocError> {
    let Some(now) = source_pieces(doc, id.as_str()) else {
        summary.note = Some("the cell no longer exists".to_owned());
        return Ok(());
    };
    let then = source_pieces(before, id.as_str()).unwrap_or_default();
    let mut ops = Vec::new();
    let mut live = 0u32;
    for piece in &now {
        let span = piece.clock..piece.clock + piece.len;
        match &piece.text {
            Some(_) => {
                for r in overlaps(&target.inserted, piece.client, &span) {
                    ops.push(Op::Delete { at: live + r.start - piece.clock, len: r.end - r.start });
                }
                live += piece.len;
            }
            None => {
                for r in overlaps(&target.deleted, piece.client, &span) {
                    let text = text_of(&then, piece.client, &r);
                    if !text.is_empty() {
                        ops.push(Op::Insert { at: live, text });
                    }
                }
            }
        }
    }
    if ops.is_empty() {
        summary.note = Some("nothing of this change is left to undo".to_owned());
        return Ok(());
    }
    doc.edit(|ed| {
        // From the end, so the offsets, taken on the text as it was, stay valid.
        for op in ops.iter().rev() {
            match op {
                Op::Delete { at, len } => {
                    ed.delete_source(id, *at, *len)?;
                    summary.removed += len;
                }
                Op::Insert { at, text } => {
                    ed.insert_source(id, *at, text)?;
                    summary.restored += utf16_len(text);
                }
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// The parts of `span` (clocks of `client`) inside `ranges`, in clock order.
fn overlaps(ranges: &[(u64, Range<u32>)], client: u64, span: &Range<u32>) -> Vec<Range<u32>> {
    let mut parts: Vec<Range<u32>> = ranges
        .iter()
        .filter(|(c, _)| *c == client)
        .map(|(_, r)| r.start.max(span.start)..r.end.min(span.end))
        .filter(|r| r.start < r.end)
        .collect();
    parts.sort_by_key(|r| r.start);
    // Overlapping ranges in the log must not make a character count twice.
    let mut merged: Vec<Range<u32>> = Vec::with_capacity(parts.len());
    for r in parts {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// The live text of `client`'s clocks `range` in `pieces` (those that were alive then).
fn text_of(pieces: &[Piece], client: u64, range: &Range<u32>) -> String {
    let mut out = String::new();
    for piece in pieces.iter().filter(|p| p.client == client) {
        let Some(text) = &piece.text else { continue };
        let (start, end) = (range.start.max(piece.clock), range.end.min(piece.clock + piece.len));
        if start < end {
            let units: Vec<u16> = text.encode_utf16().collect();
            let (a, b) = ((start - piece.clock) as usize, (end - piece.clock) as usize);
            out.push_str(&String::from_utf16_lossy(&units[a..b.min(units.len())]));
        }
    }
    out
}
