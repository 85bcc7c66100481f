//! Typed, transactional edits of a notebook document.
//!
//! An [`Editor`] wraps one yrs transaction; [`crate::NotebookDoc::edit`] hands it out and
//! returns the Yjs update the edits produced, which is what a server stores and broadcasts.

use std::sync::Arc;

use serde_json::Value;
use yrs::{
    Any, Array, ArrayPrelim, ArrayRef, GetString, In, Map, MapPrelim, MapRef, Out, Text, TextPrelim, TextRef,
    TransactionMut,
};

use crate::doc::{Roots, find_cell, get_string, out_to_json, read_cell};
use crate::error::DocError;
use crate::ids::CellId;
use crate::json_any::to_any;
use crate::notebook::{Cell, CellKind, ExecutionState, JsonObject, NBFORMAT, NBFORMAT_MINOR, Output};
use crate::provenance::Provenance;
use crate::schema as key;

/// Typed operations on one notebook inside one transaction.
pub struct Editor<'a, 'doc> {
    txn: &'a mut TransactionMut<'doc>,
    roots: &'a Roots,
}

impl std::fmt::Debug for Editor<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Editor").finish_non_exhaustive()
    }
}

impl<'a, 'doc> Editor<'a, 'doc> {
    pub(crate) fn new(txn: &'a mut TransactionMut<'doc>, roots: &'a Roots) -> Self {
        Self { txn, roots }
    }

    /// Writes the notebook-level `meta`: format version and notebook metadata.
    pub fn init(&mut self, metadata: &JsonObject) {
        let meta = &self.roots.meta;
        meta.insert(self.txn, key::NBFORMAT, Any::from(NBFORMAT));
        meta.insert(self.txn, key::NBFORMAT_MINOR, Any::from(NBFORMAT_MINOR));
        meta.insert(self.txn, key::METADATA, object_prelim(metadata));
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.roots.cells.len(self.txn) as usize
    }

    /// Whether the notebook has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Position of the cell with `id`.
    pub fn index_of(&self, id: &CellId) -> Option<usize> {
        find_cell(self.txn, &self.roots.cells, id).map(|(i, _)| i as usize)
    }

    /// Reads a cell as it is inside this transaction.
    pub fn cell(&self, id: &CellId) -> Result<Cell, DocError> {
        let (_, map) = self.cell_map(id)?;
        Ok(read_cell(self.txn, &map))
    }

    /// Inserts `cell` at `index` (0 ≤ index ≤ len).
    pub fn insert_cell(&mut self, index: usize, cell: &Cell) -> Result<(), DocError> {
        if !CellId::is_valid(cell.id.as_str()) {
            return Err(DocError::InvalidCellId(cell.id.to_string()));
        }
        let len = self.len();
        if index > len {
            return Err(DocError::OutOfRange { index, len });
        }
        if self.index_of(&cell.id).is_some() {
            return Err(DocError::DuplicateCellId(cell.id.clone()));
        }
        self.roots.cells.insert(self.txn, index as u32, cell_prelim(cell));
        Ok(())
    }

    /// Appends `cell` at the end.
    pub fn push_cell(&mut self, cell: &Cell) -> Result<(), DocError> {
        let len = self.len();
        self.insert_cell(len, cell)
    }

    /// Deletes the cell with `id` and returns what it held.
    pub fn delete_cell(&mut self, id: &CellId) -> Result<Cell, DocError> {
        let (index, map) = self.cell_map(id)?;
        let cell = read_cell(self.txn, &map);
        self.roots.cells.remove(self.txn, index);
        Ok(cell)
    }

    /// Moves the cell with `id` so that it ends up at `to` (a position in the notebook
    /// after the move).
    ///
    /// Yjs 13 clients cannot decode yrs's move operation, so, like jupyter_ydoc, a move
    /// deletes the cell and inserts an equal copy with the same id. The copy's text is new
    /// to the CRDT; its cell-level authorship stays, because provenance is keyed by cell id.
    pub fn move_cell(&mut self, id: &CellId, to: usize) -> Result<(), DocError> {
        let (from, map) = self.cell_map(id)?;
        let len = self.len();
        if to >= len {
            return Err(DocError::OutOfRange { index: to, len });
        }
        if from as usize == to {
            return Ok(());
        }
        let cell = read_cell(self.txn, &map);
        let state = get_string(self.txn, &map, key::EXECUTION_STATE);
        self.roots.cells.remove(self.txn, from);
        let new_map = self.roots.cells.insert(self.txn, to as u32, cell_prelim(&cell));
        if let Some(state) = state {
            new_map.insert(self.txn, key::EXECUTION_STATE, state);
        }
        Ok(())
    }

    /// Replaces a cell's source, changing only the part that differs so concurrent edits
    /// elsewhere in the text and the authorship of untouched characters are kept.
    pub fn set_source(&mut self, id: &CellId, source: &str) -> Result<(), DocError> {
        let text = self.source_text(id)?;
        let old = text.get_string(self.txn);
        let (start, removed, inserted) = text_diff(&old, source);
        if removed > 0 {
            text.remove_range(self.txn, start, removed);
        }
        if !inserted.is_empty() {
            text.insert(self.txn, start, inserted);
        }
        Ok(())
    }

    /// Inserts `chunk` into a cell's source at `index` (UTF-16 code units, as in Yjs).
    pub fn insert_source(&mut self, id: &CellId, index: u32, chunk: &str) -> Result<(), DocError> {
        let text = self.source_text(id)?;
        let len = text.len(self.txn);
        if index > len {
            return Err(DocError::OutOfRange { index: index as usize, len: len as usize });
        }
        text.insert(self.txn, index, chunk);
        Ok(())
    }

    /// Removes `len` UTF-16 code units from a cell's source starting at `index`.
    pub fn delete_source(&mut self, id: &CellId, index: u32, len: u32) -> Result<(), DocError> {
        let text = self.source_text(id)?;
        let total = text.len(self.txn);
        if index.saturating_add(len) > total {
            return Err(DocError::OutOfRange { index: (index + len) as usize, len: total as usize });
        }
        text.remove_range(self.txn, index, len);
        Ok(())
    }

    /// Sets (`Some`) or removes (`None`) one key of a cell's metadata.
    pub fn set_cell_metadata(
        &mut self,
        id: &CellId,
        name: &str,
        value: Option<&Value>,
    ) -> Result<(), DocError> {
        let (_, cell) = self.cell_map(id)?;
        let metadata = self.metadata_map(&cell);
        set_or_remove(self.txn, &metadata, name, value);
        Ok(())
    }

    /// Replaces a cell's whole metadata.
    pub fn replace_cell_metadata(&mut self, id: &CellId, metadata: &JsonObject) -> Result<(), DocError> {
        let (_, cell) = self.cell_map(id)?;
        cell.insert(self.txn, key::METADATA, object_prelim(metadata));
        Ok(())
    }

    /// Changes a cell's kind in place, keeping its source (and so the authorship of its text)
    /// and metadata, and adding or removing the keys jupyter_ydoc expects for the new kind:
    /// code cells get `outputs`, `execution_count` and `execution_state` and lose
    /// `attachments`; markdown and raw cells lose the code-only keys.
    pub fn set_cell_type(&mut self, id: &CellId, kind: CellKind) -> Result<(), DocError> {
        let (_, map) = self.cell_map(id)?;
        if get_string(self.txn, &map, key::CELL_TYPE).as_deref() == Some(kind.as_str()) {
            return Ok(());
        }
        map.insert(self.txn, key::CELL_TYPE, kind.as_str());
        match kind {
            CellKind::Code => {
                map.remove(self.txn, key::ATTACHMENTS);
                if !matches!(map.get(self.txn, key::OUTPUTS), Some(Out::YArray(_))) {
                    map.insert(self.txn, key::OUTPUTS, ArrayPrelim::default());
                }
                if map.get(self.txn, key::EXECUTION_COUNT).is_none() {
                    map.insert(self.txn, key::EXECUTION_COUNT, Any::Null);
                }
                if map.get(self.txn, key::EXECUTION_STATE).is_none() {
                    map.insert(self.txn, key::EXECUTION_STATE, ExecutionState::Idle.as_str());
                }
            }
            CellKind::Markdown | CellKind::Raw => {
                for k in [key::OUTPUTS, key::EXECUTION_COUNT, key::EXECUTION_STATE] {
                    map.remove(self.txn, k);
                }
            }
        }
        Ok(())
    }

    /// Sets (`Some`) or removes (`None`) a cell's `attachments`.
    pub fn set_attachments(&mut self, id: &CellId, attachments: Option<&JsonObject>) -> Result<(), DocError> {
        let (_, map) = self.cell_map(id)?;
        match attachments {
            Some(obj) => {
                map.insert(self.txn, key::ATTACHMENTS, to_any(&Value::Object(obj.clone())));
            }
            None => {
                map.remove(self.txn, key::ATTACHMENTS);
            }
        }
        Ok(())
    }

    /// Sets (`Some`) or removes (`None`) one key of the notebook's metadata.
    pub fn set_notebook_metadata(&mut self, name: &str, value: Option<&Value>) {
        let meta = self.roots.meta.clone();
        let metadata = self.metadata_map(&meta);
        set_or_remove(self.txn, &metadata, name, value);
    }

    /// Sets a code cell's execution count (`None` for "never run").
    pub fn set_execution_count(&mut self, id: &CellId, count: Option<i64>) -> Result<(), DocError> {
        let cell = self.code_cell_map(id)?;
        cell.insert(self.txn, key::EXECUTION_COUNT, count.map_or(Any::Null, Any::from));
        Ok(())
    }

    /// Sets a code cell's execution state, which every participant sees.
    pub fn set_execution_state(&mut self, id: &CellId, state: ExecutionState) -> Result<(), DocError> {
        let cell = self.code_cell_map(id)?;
        cell.insert(self.txn, key::EXECUTION_STATE, state.as_str());
        Ok(())
    }

    /// Appends an output to a code cell. A stream output that follows a stream output of the
    /// same name is appended to that output's text instead, as Jupyter front ends show it.
    pub fn append_output(&mut self, id: &CellId, output: &Output) -> Result<(), DocError> {
        let outputs = self.outputs_array(id)?;
        if let Output::Stream { name, text } = output
            && let Some(last) = last_stream_output(self.txn, &outputs, name)
        {
            match last.get(self.txn, "text") {
                Some(Out::YText(ytext)) => ytext.push(self.txn, text),
                other => {
                    let old = other.map(|v| out_to_json(self.txn, &v)).unwrap_or_default();
                    let joined = format!("{}{}", old.as_str().unwrap_or_default(), text);
                    last.insert(self.txn, "text", TextPrelim::new(joined));
                }
            }
            return Ok(());
        }
        outputs.push_back(self.txn, output_prelim(output));
        Ok(())
    }

    /// Removes every output of a code cell.
    pub fn clear_outputs(&mut self, id: &CellId) -> Result<(), DocError> {
        let outputs = self.outputs_array(id)?;
        let len = outputs.len(self.txn);
        if len > 0 {
            outputs.remove_range(self.txn, 0, len);
        }
        Ok(())
    }

    /// Replaces every output of a code cell.
    pub fn replace_outputs(&mut self, id: &CellId, new: &[Output]) -> Result<(), DocError> {
        self.clear_outputs(id)?;
        let outputs = self.outputs_array(id)?;
        for output in new {
            outputs.push_back(self.txn, output_prelim(output));
        }
        Ok(())
    }

    /// Replaces data and metadata of every output, in any cell, that carries `display_id`
    /// (Jupyter's `update_display_data`). Returns how many outputs were updated.
    pub fn update_display_data(
        &mut self,
        display_id: &str,
        data: &JsonObject,
        metadata: &JsonObject,
    ) -> usize {
        let mut targets = Vec::new();
        for cell in self.roots.cells.iter(self.txn) {
            let Out::YMap(cell) = cell else { continue };
            let Some(Out::YArray(outputs)) = cell.get(self.txn, key::OUTPUTS) else { continue };
            for output in outputs.iter(self.txn) {
                let Out::YMap(output) = output else { continue };
                let meta = output.get(self.txn, key::METADATA).map(|m| out_to_json(self.txn, &m));
                let id = meta.as_ref().and_then(|m| m.get(key::DISPLAY_ID_METADATA)).and_then(Value::as_str);
                if id == Some(display_id) {
                    targets.push(output);
                }
            }
        }
        let mut metadata = metadata.clone();
        metadata.insert(key::DISPLAY_ID_METADATA.to_owned(), Value::from(display_id));
        for output in &targets {
            output.insert(self.txn, "data", to_any(&Value::Object(data.clone())));
            output.insert(self.txn, key::METADATA, to_any(&Value::Object(metadata.clone())));
        }
        targets.len()
    }

    /// Who created a cell, as the server recorded it.
    pub fn provenance(&self, id: &CellId) -> Option<Provenance> {
        let value = self.roots.provenance.get(self.txn, id.as_str())?;
        Provenance::from_json(&out_to_json(self.txn, &value))
    }

    /// Records who created a cell. Only the server calls this; clients may never write it.
    pub fn record_provenance(&mut self, id: &CellId, provenance: &Provenance) {
        self.roots.provenance.insert(self.txn, id.as_str(), provenance.to_any());
    }

    /// Sets (`Some`) or removes (`None`) one entry of the server-written `talkbook` map,
    /// where clients read the notebook's mode and block. Only the server calls this.
    pub fn set_server_state(&mut self, name: &str, value: Option<&Value>) {
        set_or_remove(self.txn, &self.roots.talkbook, name, value);
    }

    fn cell_map(&self, id: &CellId) -> Result<(u32, MapRef), DocError> {
        find_cell(self.txn, &self.roots.cells, id).ok_or_else(|| DocError::UnknownCell(id.clone()))
    }

    fn code_cell_map(&self, id: &CellId) -> Result<MapRef, DocError> {
        let (_, map) = self.cell_map(id)?;
        match get_string(self.txn, &map, key::CELL_TYPE).as_deref() {
            Some("code") => Ok(map),
            _ => Err(DocError::NotACodeCell(id.clone())),
        }
    }

    /// The cell's source as a Y.Text, converting a plain string left by a foreign client.
    fn source_text(&mut self, id: &CellId) -> Result<TextRef, DocError> {
        let (_, map) = self.cell_map(id)?;
        Ok(match map.get(self.txn, key::SOURCE) {
            Some(Out::YText(text)) => text,
            other => {
                let old = other.map(|v| out_to_json(self.txn, &v));
                let old = old.as_ref().and_then(Value::as_str).unwrap_or_default().to_owned();
                map.insert(self.txn, key::SOURCE, TextPrelim::new(old))
            }
        })
    }

    /// The `metadata` Y.Map of a cell or of `meta`, converting a plain object if needed.
    fn metadata_map(&mut self, parent: &MapRef) -> MapRef {
        match parent.get(self.txn, key::METADATA) {
            Some(Out::YMap(map)) => map,
            other => {
                let old = other.map(|v| out_to_json(self.txn, &v));
                let old = old.and_then(|v| v.as_object().cloned()).unwrap_or_default();
                parent.insert(self.txn, key::METADATA, object_prelim(&old))
            }
        }
    }

    fn outputs_array(&mut self, id: &CellId) -> Result<ArrayRef, DocError> {
        let cell = self.code_cell_map(id)?;
        Ok(match cell.get(self.txn, key::OUTPUTS) {
            Some(Out::YArray(array)) => array,
            _ => cell.insert(self.txn, key::OUTPUTS, ArrayPrelim::default()),
        })
    }
}

fn set_or_remove(txn: &mut TransactionMut<'_>, map: &MapRef, name: &str, value: Option<&Value>) {
    match value {
        Some(v) => {
            map.insert(txn, name, to_any(v));
        }
        None => {
            map.remove(txn, name);
        }
    }
}

fn last_stream_output(txn: &TransactionMut<'_>, outputs: &ArrayRef, name: &str) -> Option<MapRef> {
    let len = outputs.len(txn);
    let Out::YMap(last) = outputs.get(txn, len.checked_sub(1)?)? else { return None };
    let is_stream = get_string(txn, &last, key::OUTPUT_TYPE).as_deref() == Some("stream");
    let same_name = get_string(txn, &last, "name").as_deref() == Some(name);
    (is_stream && same_name).then_some(last)
}

/// A Y.Map whose top-level keys are shared and whose values are plain JSON, the way
/// jupyter_ydoc stores metadata.
fn object_prelim(object: &JsonObject) -> MapPrelim {
    object.iter().map(|(k, v)| (k.as_str(), In::Any(to_any(v)))).collect()
}

/// The Y.Map of a new cell, with exactly the keys jupyter_ydoc expects for its kind.
pub(crate) fn cell_prelim(cell: &Cell) -> MapPrelim {
    let mut entries: Vec<(&str, In)> = vec![
        (key::ID, In::from(cell.id.as_str())),
        (key::CELL_TYPE, In::from(cell.kind.as_str())),
        (key::SOURCE, In::from(TextPrelim::new(cell.source.as_str()))),
        (key::METADATA, In::Map(object_prelim(&cell.metadata))),
    ];
    match cell.kind {
        CellKind::Code => {
            let outputs: Vec<In> = cell.outputs.iter().map(|o| In::Map(output_prelim(o))).collect();
            entries.push((key::OUTPUTS, In::Array(ArrayPrelim::from(outputs))));
            entries.push((key::EXECUTION_COUNT, In::Any(cell.execution_count.map_or(Any::Null, Any::from))));
            entries.push((key::EXECUTION_STATE, In::from(ExecutionState::Idle.as_str())));
        }
        CellKind::Markdown | CellKind::Raw => {
            if let Some(attachments) = &cell.attachments {
                entries.push((key::ATTACHMENTS, In::Any(to_any(&Value::Object(attachments.clone())))));
            }
        }
    }
    entries.into_iter().collect()
}

/// The Y.Map of one output; a stream's text is a Y.Text so appends stay cheap.
fn output_prelim(output: &Output) -> MapPrelim {
    let any_obj = |o: &JsonObject| In::Any(to_any(&Value::Object(o.clone())));
    let mut entries: Vec<(&str, In)> = vec![(key::OUTPUT_TYPE, In::from(output.output_type()))];
    match output {
        Output::Stream { name, text } => {
            entries.push(("name", In::from(name.as_str())));
            entries.push(("text", In::from(TextPrelim::new(text.as_str()))));
        }
        Output::DisplayData { data, metadata, display_id } => {
            let mut metadata = metadata.clone();
            if let Some(id) = display_id {
                metadata.insert(key::DISPLAY_ID_METADATA.to_owned(), Value::from(id.as_str()));
            }
            entries.push(("data", any_obj(data)));
            entries.push((key::METADATA, any_obj(&metadata)));
        }
        Output::ExecuteResult { execution_count, data, metadata } => {
            entries.push((key::EXECUTION_COUNT, In::Any(execution_count.map_or(Any::Null, Any::from))));
            entries.push(("data", any_obj(data)));
            entries.push((key::METADATA, any_obj(metadata)));
        }
        Output::Error { ename, evalue, traceback } => {
            entries.push(("ename", In::from(ename.as_str())));
            entries.push(("evalue", In::from(evalue.as_str())));
            let lines: Vec<Any> = traceback.iter().map(|l| Any::String(Arc::from(l.as_str()))).collect();
            entries.push(("traceback", In::Any(Any::Array(lines.into()))));
        }
    }
    entries.into_iter().collect()
}

/// The smallest single replacement turning `old` into `new`: start position and removed
/// length in UTF-16 code units, and the inserted text. Works on whole characters so a
/// surrogate pair is never split.
fn text_diff<'n>(old: &str, new: &'n str) -> (u32, u32, &'n str) {
    let prefix_chars: Vec<char> =
        old.chars().zip(new.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect();
    let prefix_bytes: usize = prefix_chars.iter().map(|c| c.len_utf8()).sum();
    let old_rest = &old[prefix_bytes..];
    let new_rest = &new[prefix_bytes..];
    let suffix_bytes: usize = old_rest
        .chars()
        .rev()
        .zip(new_rest.chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let removed = &old_rest[..old_rest.len() - suffix_bytes];
    let inserted = &new_rest[..new_rest.len() - suffix_bytes];
    let utf16 = |s: &str| s.encode_utf16().count() as u32;
    (utf16(&old[..prefix_bytes]), utf16(removed), inserted)
}

#[cfg(test)]
mod tests {
    use super::text_diff;

    #[test]
    fn text_diff_finds_the_changed_middle() {
        assert_eq!(text_diff("hello world", "hello brave world"), (6, 0, "brave "));
        assert_eq!(text_diff("abc", "abc"), (3, 0, ""));
        assert_eq!(text_diff("aaa", "aa"), (2, 1, ""));
        assert_eq!(text_diff("x😀y", "x😀zy"), (3, 0, "z"));
        assert_eq!(text_diff("😀", "😁"), (0, 2, "😁"));
    }
}
