//! Making the document equal to a past notebook by new edits.
//!
//! Restoring never rewinds the CRDT: it edits the present so that it reads like the past,
//! and those edits enter the history like any other (by the restoring user's client id).
//! Edits are minimal so that what did not change keeps its items and so its authorship: a
//! source gets a character diff, metadata is set key by key, and cells are moved as few
//! times as possible (a longest increasing subsequence stays), because a move re-creates the
//! cell (see [`Editor::move_cell`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use similar::{Algorithm, DiffTag, TextDiff};

use super::track::changed_keys;
use crate::doc::NotebookDoc;
use crate::edit::Editor;
use crate::error::DocError;
use crate::ids::CellId;
use crate::notebook::{Cell, CellKind, JsonObject, Notebook, Output};

/// What a restore may change.
pub struct RestoreScope<'a> {
    /// Whether the cell with this id may be created, changed, moved or deleted.
    pub may_change_cell: &'a dyn Fn(&str) -> bool,
    /// Whether the notebook's own metadata may be restored.
    pub notebook_wide: bool,
}

impl std::fmt::Debug for RestoreScope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreScope").field("notebook_wide", &self.notebook_wide).finish_non_exhaustive()
    }
}

fn any_cell(_: &str) -> bool {
    true
}

impl RestoreScope<'static> {
    /// Every cell and the notebook metadata.
    pub fn everything() -> Self {
        Self { may_change_cell: &any_cell, notebook_wide: true }
    }
}

/// What a restore did, by cell id.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RestoreSummary {
    pub created: Vec<String>,
    pub deleted: Vec<String>,
    /// Cells whose content (type, source, metadata, outputs, attachments) was changed.
    pub changed: Vec<String>,
    pub moved: Vec<String>,
    /// Cells that needed a change the scope does not allow; they were left as they are.
    pub skipped: Vec<String>,
    pub notebook_metadata: bool,
}

impl RestoreSummary {
    fn skip(&mut self, id: &str) {
        if !self.skipped.iter().any(|s| s == id) {
            self.skipped.push(id.to_owned());
        }
    }
}

/// Edits `doc` (whose client id is the restoring user's) so that it equals `target` in
/// every cell `scope` allows: content, then which cells exist, then their order, all in one
/// transaction. `provenance`, `talkbook` and `execution_state` are left alone.
pub fn restore(
    doc: &NotebookDoc,
    target: &Notebook,
    scope: &RestoreScope,
) -> Result<RestoreSummary, DocError> {
    // Checked first so an invalid target cannot leave a half-made restore behind.
    let mut seen = HashSet::new();
    for cell in &target.cells {
        if !CellId::is_valid(cell.id.as_str()) {
            return Err(DocError::InvalidCellId(cell.id.to_string()));
        }
        if !seen.insert(cell.id.as_str()) {
            return Err(DocError::DuplicateCellId(cell.id.clone()));
        }
    }
    let current = doc.read();
    let wanted: HashMap<&str, &Cell> = target.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let allowed = |id: &str| (scope.may_change_cell)(id);
    let mut summary = RestoreSummary::default();
    doc.edit(|ed| {
        let mut order: Vec<String> = Vec::with_capacity(current.cells.len());
        for cell in &current.cells {
            let id = cell.id.as_str();
            match wanted.get(id) {
                None if allowed(id) => {
                    ed.delete_cell(&cell.id)?;
                    summary.deleted.push(id.to_owned());
                    continue;
                }
                None => summary.skip(id),
                Some(want) if !same_content(cell, want) => {
                    if allowed(id) {
                        restore_cell(ed, cell, want)?;
                        summary.changed.push(id.to_owned());
                    } else {
                        summary.skip(id);
                    }
                }
                Some(_) => {}
            }
            order.push(id.to_owned());
        }
        place_cells(ed, &mut order, target, &allowed, &mut summary)?;
        if scope.notebook_wide && current.metadata != target.metadata {
            for k in changed_keys(&current.metadata, &target.metadata) {
                ed.set_notebook_metadata(&k, target.metadata.get(&k));
            }
            summary.notebook_metadata = true;
        }
        Ok(())
    })?;
    Ok(summary)
}

/// Creates missing cells and moves cells into the target's order. `order` mirrors the ids in
/// the document. Cells the scope forbids stay where they are (a move would re-create them).
fn place_cells(
    ed: &mut Editor<'_, '_>,
    order: &mut Vec<String>,
    target: &Notebook,
    allowed: &dyn Fn(&str) -> bool,
    summary: &mut RestoreSummary,
) -> Result<(), DocError> {
    let target_pos: HashMap<&str, usize> =
        target.cells.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
    let common: Vec<(&str, usize, bool)> = order
        .iter()
        .filter_map(|id| target_pos.get(id.as_str()).map(|&pos| (id.as_str(), pos, !allowed(id))))
        .collect();
    let keep: HashSet<String> = longest_kept(&common).into_iter().map(|i| common[i].0.to_owned()).collect();
    let position = |order: &[String], id: &str| order.iter().position(|x| x == id);
    let mut prev: Option<&str> = None;
    for cell in &target.cells {
        let id = cell.id.as_str();
        // Right after the previous target cell, or first.
        let after_prev = |order: &[String]| prev.and_then(|p| position(order, p)).map_or(0, |p| p + 1);
        match position(order, id) {
            Some(_) if keep.contains(id) => {}
            Some(_) if !allowed(id) => summary.skip(id),
            Some(from) => {
                let mut to = after_prev(order);
                if from < to {
                    // Removing the cell first shifts everything after it.
                    to -= 1;
                }
                if to != from {
                    ed.move_cell(&cell.id, to)?;
                    let moved = order.remove(from);
                    order.insert(to, moved);
                    summary.moved.push(id.to_owned());
                }
            }
            None if allowed(id) => {
                let to = after_prev(order);
                ed.insert_cell(to, cell)?;
                order.insert(to, id.to_owned());
                summary.created.push(id.to_owned());
            }
            None => {
                summary.skip(id);
                continue;
            }
        }
        prev = Some(id);
    }
    Ok(())
}

/// Indices into `cells` (id, target position, fixed) of the cells that keep their place: an
/// increasing subsequence of target positions that holds as many fixed cells as possible,
/// then as many others as possible, so the fewest cells move.
fn longest_kept(cells: &[(&str, usize, bool)]) -> Vec<usize> {
    if cells.windows(2).all(|w| w[0].1 < w[1].1) {
        return (0..cells.len()).collect();
    }
    let weight = |fixed: bool| if fixed { cells.len() as u64 + 1 } else { 1 };
    // best[i]: the heaviest increasing run ending at i; from[i]: its previous element.
    let mut best: Vec<u64> = Vec::with_capacity(cells.len());
    let mut from: Vec<Option<usize>> = Vec::with_capacity(cells.len());
    for (i, &(_, pos, fixed)) in cells.iter().enumerate() {
        let prev = (0..i).filter(|&j| cells[j].1 < pos).max_by_key(|&j| (best[j], std::cmp::Reverse(j)));
        best.push(weight(fixed) + prev.map_or(0, |j| best[j]));
        from.push(prev);
    }
    let mut at = (0..cells.len()).max_by_key(|&i| (best[i], std::cmp::Reverse(i)));
    let mut kept = Vec::new();
    while let Some(i) = at {
        kept.push(i);
        at = from[i];
    }
    kept.reverse();
    kept
}

fn attachments(cell: &Cell) -> Option<&JsonObject> {
    cell.attachments.as_ref().filter(|a| !a.is_empty() && cell.kind != CellKind::Code)
}

fn same_content(a: &Cell, b: &Cell) -> bool {
    fn code(c: &Cell) -> Option<(&[Output], Option<i64>)> {
        (c.kind == CellKind::Code).then_some((&c.outputs, c.execution_count))
    }
    a.kind == b.kind
        && a.source == b.source
        && a.metadata == b.metadata
        && code(a) == code(b)
        && attachments(a) == attachments(b)
}

/// Makes an existing cell's content equal to `want`, field by field.
fn restore_cell(ed: &mut Editor<'_, '_>, now: &Cell, want: &Cell) -> Result<(), DocError> {
    let id = &now.id;
    if now.kind != want.kind {
        ed.set_cell_type(id, want.kind)?;
    }
    if now.source != want.source {
        diff_source(ed, id, &now.source, &want.source)?;
    }
    for k in changed_keys(&now.metadata, &want.metadata) {
        ed.set_cell_metadata(id, &k, want.metadata.get(&k))?;
    }
    // A cell whose kind just changed has none of the old kind's fields any more.
    if want.kind == CellKind::Code {
        let (outputs, count) = if now.kind == CellKind::Code {
            (&now.outputs[..], now.execution_count)
        } else {
            (&[][..], None)
        };
        if outputs != want.outputs.as_slice() {
            ed.replace_outputs(id, &want.outputs)?;
        }
        if count != want.execution_count {
            ed.set_execution_count(id, want.execution_count)?;
        }
    } else {
        let had = if now.kind == CellKind::Code { None } else { attachments(now) };
        if had != attachments(want) {
            ed.set_attachments(id, attachments(want))?;
        }
    }
    Ok(())
}

/// Turns `old` into `new` by a minimal character diff, so unchanged characters keep their
/// items. Positions go to yrs in UTF-16 code units.
pub(crate) fn diff_source(
    ed: &mut Editor<'_, '_>,
    id: &CellId,
    old: &str,
    new: &str,
) -> Result<(), DocError> {
    // Myers gives the minimal diff; the time limit only matters for huge, very different
    // texts, where similar then settles for a correct but less minimal diff.
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(Duration::from_secs(2))
        .diff_chars(old, new);
    // UTF-16 offset of each char index of `old`, and byte offset of each char index of `new`.
    let mut old_u16 = vec![0u32];
    for c in old.chars() {
        old_u16.push(old_u16.last().copied().unwrap_or(0) + c.len_utf16() as u32);
    }
    let new_bytes: Vec<usize> = new.char_indices().map(|(b, _)| b).chain([new.len()]).collect();
    // From the end, so earlier positions stay valid.
    for op in diff.ops().iter().rev() {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            continue;
        }
        let start = old_u16[old_range.start];
        let removed = old_u16[old_range.end] - start;
        if removed > 0 {
            ed.delete_source(id, start, removed)?;
        }
        if !new_range.is_empty() {
            ed.insert_source(id, start, &new[new_bytes[new_range.start]..new_bytes[new_range.end]])?;
        }
    }
    Ok(())
}
