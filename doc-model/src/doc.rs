//! `NotebookDoc`: a yrs document with the notebook layout, and reading it back as a
//! typed [`Notebook`].

use std::collections::HashMap;

use yrs::branch::BranchPtr;
use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Array, ArrayRef, Doc, GetString, Map, MapRef, OffsetKind, Options, Out, ReadTxn, StateVector, Transact,
    Update,
};

use crate::edit::Editor;
use crate::error::DocError;
use crate::ids::CellId;
use crate::json_any::from_any;
use crate::notebook::{Cell, CellKind, ExecutionState, JsonObject, Notebook, Output};
use crate::provenance::Provenance;
use crate::schema as key;

/// Handles to the document's root shared types, fetched once.
#[derive(Debug, Clone)]
pub(crate) struct Roots {
    pub cells: ArrayRef,
    pub meta: MapRef,
    pub provenance: MapRef,
    pub talkbook: MapRef,
}

/// A notebook as a yrs document.
#[derive(Debug)]
pub struct NotebookDoc {
    doc: Doc,
    roots: Roots,
}

impl Default for NotebookDoc {
    fn default() -> Self {
        Self::new()
    }
}

impl NotebookDoc {
    /// An empty document with a random client id.
    pub fn new() -> Self {
        Self::with_options(Options::default())
    }

    /// An empty document whose own edits carry `client_id` (the server uses a fixed one so
    /// its edits are recognisable in the log).
    pub fn with_client_id(client_id: u64) -> Self {
        Self::with_options(Options::with_client_id(yrs::block::ClientID::new(client_id)))
    }

    fn with_options(mut options: Options) -> Self {
        // Yjs counts text positions in UTF-16 code units; using the same unit keeps indices
        // in this API identical to those JavaScript clients see.
        options.offset_kind = OffsetKind::Utf16;
        let doc = Doc::with_options(options);
        let roots = Roots {
            cells: doc.get_or_insert_array(key::CELLS),
            meta: doc.get_or_insert_map(key::META),
            provenance: doc.get_or_insert_map(key::PROVENANCE),
            talkbook: doc.get_or_insert_map(key::TALKBOOK),
        };
        // `state` belongs to jupyter_ydoc; creating the root keeps its layout complete.
        doc.get_or_insert_map(key::STATE);
        Self { doc, roots }
    }

    /// A new document holding `notebook`, with authorship for the cells listed in
    /// `provenance`. Returns the document.
    pub fn from_notebook(
        notebook: &Notebook,
        provenance: &HashMap<CellId, Provenance>,
    ) -> Result<Self, DocError> {
        let doc = Self::new();
        doc.edit(|ed| {
            ed.init(&notebook.metadata);
            for cell in &notebook.cells {
                ed.push_cell(cell)?;
                if let Some(p) = provenance.get(&cell.id) {
                    ed.record_provenance(&cell.id, p);
                }
            }
            Ok(())
        })?;
        Ok(doc)
    }

    /// A document rebuilt from a Yjs update (v1 encoding), e.g. a `.yjs` file.
    pub fn from_update(update: &[u8]) -> Result<Self, DocError> {
        let doc = Self::new();
        doc.apply_update(update)?;
        Ok(doc)
    }

    /// The underlying yrs document, for sync protocols and observers.
    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    /// Handles to the root shared types, for readers inside the crate (history replay).
    pub(crate) fn roots(&self) -> &Roots {
        &self.roots
    }

    /// Applies a Yjs update (v1 encoding) from elsewhere.
    pub fn apply_update(&self, update: &[u8]) -> Result<(), DocError> {
        let update = Update::decode_v1(update).map_err(|e| DocError::Decode(e.to_string()))?;
        self.doc.transact_mut().apply_update(update).map_err(|e| DocError::Apply(e.to_string()))
    }

    /// Applies a decoded update and says whether it inserted or removed cells (changed the
    /// `cells` array itself rather than something inside a cell), so a server knows when to
    /// look for cells that need an author recorded.
    pub fn apply_decoded(&self, update: Update) -> Result<bool, DocError> {
        let mut txn = self.doc.transact_mut();
        txn.apply_update(update).map_err(|e| DocError::Apply(e.to_string()))?;
        txn.commit();
        let cells = BranchPtr::from(self.roots.cells.as_ref());
        Ok(txn.changed_parent_types().contains(&cells))
    }

    /// Ids of the cells that have no provenance record yet.
    pub fn cells_without_provenance(&self) -> Vec<CellId> {
        let txn = self.doc.transact();
        self.roots
            .cells
            .iter(&txn)
            .filter_map(|out| match out {
                Out::YMap(map) => get_string(&txn, &map, key::ID),
                _ => None,
            })
            .filter(|id| self.roots.provenance.get(&txn, id).is_none())
            .map(CellId::new)
            .collect()
    }

    /// A code cell's `execution_state` (`None`: no such code cell, or no state).
    pub fn execution_state(&self, id: &CellId) -> Option<ExecutionState> {
        let txn = self.doc.transact();
        let (_, map) = find_cell(&txn, &self.roots.cells, id)?;
        ExecutionState::parse(&get_string(&txn, &map, key::EXECUTION_STATE)?)
    }

    /// Ids of the code cells whose `execution_state` says they are queued or running.
    pub fn cells_not_idle(&self) -> Vec<CellId> {
        let txn = self.doc.transact();
        self.roots
            .cells
            .iter(&txn)
            .filter_map(|out| match out {
                Out::YMap(map) => {
                    let state = get_string(&txn, &map, key::EXECUTION_STATE)?;
                    (state != ExecutionState::Idle.as_str())
                        .then(|| get_string(&txn, &map, key::ID))
                        .flatten()
                }
                _ => None,
            })
            .map(CellId::new)
            .collect()
    }

    /// The whole document as one Yjs update (v1), the content of a `.yjs` file.
    pub fn encode_state(&self) -> Vec<u8> {
        self.doc.transact().encode_state_as_update_v1(&StateVector::default())
    }

    /// The document's state vector (v1 encoding): what it has seen from every client.
    pub fn state_vector(&self) -> Vec<u8> {
        self.doc.transact().state_vector().encode_v1()
    }

    /// The changes this document has that a peer with state vector `remote_sv` lacks.
    pub fn encode_diff(&self, remote_sv: &[u8]) -> Result<Vec<u8>, DocError> {
        let sv = StateVector::decode_v1(remote_sv).map_err(|e| DocError::Decode(e.to_string()))?;
        Ok(self.doc.transact().encode_state_as_update_v1(&sv))
    }

    /// Runs typed edits in one transaction and returns their result with the Yjs update
    /// they produced (empty edits give an update that changes nothing).
    ///
    /// Every edit checks its arguments before it changes anything, so an error leaves the
    /// document as the successful edits before it left it.
    pub fn edit<R>(
        &self,
        f: impl FnOnce(&mut Editor<'_, '_>) -> Result<R, DocError>,
    ) -> Result<(R, Vec<u8>), DocError> {
        let mut txn = self.doc.transact_mut();
        let mut editor = Editor::new(&mut txn, &self.roots);
        let result = f(&mut editor)?;
        let update = txn.encode_update_v1();
        Ok((result, update))
    }

    /// The notebook as it is now.
    pub fn read(&self) -> Notebook {
        let txn = self.doc.transact();
        read_notebook(&txn, &self.roots)
    }

    /// Authorship of every cell that has a record.
    pub fn provenance(&self) -> HashMap<CellId, Provenance> {
        let txn = self.doc.transact();
        read_provenance(&txn, &self.roots.provenance)
    }

    /// Authorship of one cell, if recorded.
    pub fn provenance_of(&self, id: &str) -> Option<Provenance> {
        let txn = self.doc.transact();
        let value = self.roots.provenance.get(&txn, id)?;
        Provenance::from_json(&out_to_json(&txn, &value))
    }

    /// One entry of the server-written `talkbook` map (notebook mode, block), as JSON.
    pub fn server_state(&self, name: &str) -> Option<serde_json::Value> {
        let txn = self.doc.transact();
        let value = self.roots.talkbook.get(&txn, name)?;
        Some(out_to_json(&txn, &value))
    }

    /// The metadata stored under `meta` (nbformat numbers and notebook metadata).
    pub fn nbformat_version(&self) -> (Option<i64>, Option<i64>) {
        let txn = self.doc.transact();
        let num = |k| self.roots.meta.get(&txn, k).map(|v| out_to_json(&txn, &v)).and_then(|v| v.as_i64());
        (num(key::NBFORMAT), num(key::NBFORMAT_MINOR))
    }
}

/// Converts any stored value (plain or shared type) to JSON.
pub(crate) fn out_to_json<T: ReadTxn>(txn: &T, out: &Out) -> serde_json::Value {
    match out {
        Out::Any(any) => from_any(any),
        Out::YText(text) => serde_json::Value::String(text.get_string(txn)),
        Out::YMap(map) => from_any(&map.to_json(txn)),
        Out::YArray(array) => from_any(&array.to_json(txn)),
        other => from_any(&other.clone().to_json(txn)),
    }
}

fn get_object<T: ReadTxn>(txn: &T, map: &MapRef, k: &str) -> JsonObject {
    match map.get(txn, k).map(|v| out_to_json(txn, &v)) {
        Some(serde_json::Value::Object(obj)) => obj,
        _ => JsonObject::new(),
    }
}

pub(crate) fn get_string<T: ReadTxn>(txn: &T, map: &MapRef, k: &str) -> Option<String> {
    match map.get(txn, k)? {
        Out::YText(text) => Some(text.get_string(txn)),
        other => out_to_json(txn, &other).as_str().map(str::to_owned),
    }
}

pub(crate) fn read_notebook<T: ReadTxn>(txn: &T, roots: &Roots) -> Notebook {
    let metadata = get_object(txn, &roots.meta, key::METADATA);
    let cells = roots
        .cells
        .iter(txn)
        .filter_map(|out| match out {
            Out::YMap(map) => Some(read_cell(txn, &map)),
            _ => None,
        })
        .collect();
    Notebook { metadata, cells }
}

/// Reads one cell map. Missing or malformed keys read as empty values rather than failing,
/// because the document is written by many clients and must always be readable.
pub(crate) fn read_cell<T: ReadTxn>(txn: &T, map: &MapRef) -> Cell {
    let kind =
        get_string(txn, map, key::CELL_TYPE).and_then(|s| CellKind::parse(&s)).unwrap_or(CellKind::Raw);
    let id = CellId::new(get_string(txn, map, key::ID).unwrap_or_default());
    let source = get_string(txn, map, key::SOURCE).unwrap_or_default();
    let metadata = get_object(txn, map, key::METADATA);
    let mut cell =
        Cell { id, kind, source, metadata, execution_count: None, outputs: Vec::new(), attachments: None };
    match kind {
        CellKind::Code => {
            cell.execution_count =
                map.get(txn, key::EXECUTION_COUNT).and_then(|v| out_to_json(txn, &v).as_i64());
            if let Some(Out::YArray(outputs)) = map.get(txn, key::OUTPUTS) {
                cell.outputs = outputs.iter(txn).filter_map(|o| read_output(txn, &o)).collect();
            } else if let Some(serde_json::Value::Array(outputs)) =
                map.get(txn, key::OUTPUTS).map(|v| out_to_json(txn, &v))
            {
                cell.outputs = outputs.iter().filter_map(output_from_json).collect();
            }
        }
        CellKind::Markdown | CellKind::Raw => {
            if let Some(serde_json::Value::Object(att)) =
                map.get(txn, key::ATTACHMENTS).map(|v| out_to_json(txn, &v))
                && !att.is_empty()
            {
                cell.attachments = Some(att);
            }
        }
    }
    cell
}

fn read_output<T: ReadTxn>(txn: &T, out: &Out) -> Option<Output> {
    output_from_json(&out_to_json(txn, out))
}

/// Reads an output from its nbformat JSON shape (with Talkbook's display id, if any, in its
/// metadata). Unknown output types are skipped.
pub(crate) fn output_from_json(value: &serde_json::Value) -> Option<Output> {
    let obj = value.as_object()?;
    let string = |k: &str| obj.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let object = |k: &str| obj.get(k).and_then(|v| v.as_object()).cloned().unwrap_or_default();
    Some(match obj.get(key::OUTPUT_TYPE)?.as_str()? {
        "stream" => Output::Stream { name: string("name"), text: string("text") },
        "display_data" => {
            let mut metadata = object("metadata");
            let display_id =
                metadata.remove(key::DISPLAY_ID_METADATA).and_then(|v| v.as_str().map(str::to_owned));
            Output::DisplayData { data: object("data"), metadata, display_id }
        }
        "execute_result" => Output::ExecuteResult {
            execution_count: obj.get(key::EXECUTION_COUNT).and_then(|v| v.as_i64()),
            data: object("data"),
            metadata: object("metadata"),
        },
        "error" => Output::Error {
            ename: string("ename"),
            evalue: string("evalue"),
            traceback: obj
                .get("traceback")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        },
        _ => return None,
    })
}

pub(crate) fn read_provenance<T: ReadTxn>(txn: &T, map: &MapRef) -> HashMap<CellId, Provenance> {
    map.iter(txn)
        .filter_map(|(id, value)| {
            Provenance::from_json(&out_to_json(txn, &value)).map(|p| (CellId::new(id), p))
        })
        .collect()
}

/// Finds a cell map and its index by id.
pub(crate) fn find_cell<T: ReadTxn>(txn: &T, cells: &ArrayRef, id: &CellId) -> Option<(u32, MapRef)> {
    cells.iter(txn).enumerate().find_map(|(i, out)| match out {
        Out::YMap(map) if get_string(txn, &map, key::ID).as_deref() == Some(id.as_str()) => {
            Some((i as u32, map))
        }
        _ => None,
    })
}
