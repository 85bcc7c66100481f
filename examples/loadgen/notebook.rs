//! The edits the load generator makes, on the notebook layout of SPEC §4 (jupyter_ydoc's
//! YNotebook): root `cells` Y.Array of Y.Map cells whose `source` is a Y.Text.
//!
//! Written on plain yrs rather than on `doc-model` so the tool stays usable against any Yjs
//! server and light to build; the key names are the ones `doc-model::schema` defines.
//! Every function here makes exactly one transaction and returns its update, because each
//! edit must reach the server as its own update, as typed keystrokes do.

use yrs::{
    Any, Array, ArrayPrelim, ArrayRef, Doc, GetString, In, Map, MapPrelim, MapRef, Out, ReadTxn, Text,
    TextPrelim, TextRef, Transact,
};

/// Origin given to this client's own transactions, so that observers can tell them from
/// updates that arrived from the server (which yrs applies without an origin).
pub const LOCAL_ORIGIN: &str = "loadgen";

/// The `source` text of the first cell that has one, the cell timed edits go into.
pub fn first_source<T: ReadTxn>(txn: &T, cells: &ArrayRef) -> Option<TextRef> {
    cells.iter(txn).find_map(|cell| source_of(txn, &cell))
}

/// The `source` text of the last cell, where the typist types.
fn last_source<T: ReadTxn>(txn: &T, cells: &ArrayRef) -> Option<TextRef> {
    let len = cells.len(txn);
    let cell = cells.get(txn, len.checked_sub(1)?)?;
    source_of(txn, &cell)
}

fn source_of<T: ReadTxn>(txn: &T, cell: &Out) -> Option<TextRef> {
    match cell {
        Out::YMap(map) => match map.get(txn, "source") {
            Some(Out::YText(text)) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

/// The `source` text of the cell whose id is `id`.
pub fn source_by_id<T: ReadTxn>(txn: &T, cells: &ArrayRef, id: &str) -> Option<TextRef> {
    cells.iter(txn).find_map(|cell| match &cell {
        Out::YMap(map) if matches!(map.get(txn, "id"), Some(Out::Any(Any::String(s))) if &*s == id) => {
            source_of(txn, &cell)
        }
        _ => None,
    })
}

/// Every cell's source in document order, one per line: what all replicas must agree on.
pub fn all_sources<T: ReadTxn>(txn: &T, cells: &ArrayRef) -> String {
    let sources: Vec<String> =
        cells.iter(txn).filter_map(|cell| source_of(txn, &cell)).map(|text| text.get_string(txn)).collect();
    sources.join("\n")
}

/// Appends a code cell with id `cell_id` unless the document has one; returns the update,
/// or `None` when it was there already.
pub fn ensure_cell_with_id(doc: &Doc, cells: &ArrayRef, cell_id: &str) -> Option<Vec<u8>> {
    let meta = doc.get_or_insert_map("meta");
    let mut txn = doc.transact_mut_with(LOCAL_ORIGIN);
    if source_by_id(&txn, cells, cell_id).is_some() {
        return None;
    }
    ensure_meta(&mut txn, &meta);
    cells.push_back(&mut txn, code_cell(cell_id, ""));
    Some(txn.encode_update_v1())
}

/// Makes sure the document has a code cell with a `source` text (and the `meta` map that
/// jupyter_ydoc needs), creating them if absent. Returns the update, or `None` when nothing
/// had to change. `cell_id` must be unique in the notebook.
pub fn ensure_code_cell(doc: &Doc, cells: &ArrayRef, cell_id: &str) -> Option<Vec<u8>> {
    let meta = doc.get_or_insert_map("meta");
    let mut txn = doc.transact_mut_with(LOCAL_ORIGIN);
    if first_source(&txn, cells).is_some() {
        return None;
    }
    ensure_meta(&mut txn, &meta);
    cells.push_back(&mut txn, code_cell(cell_id, ""));
    Some(txn.encode_update_v1())
}

fn ensure_meta(txn: &mut yrs::TransactionMut<'_>, meta: &MapRef) {
    if meta.get(txn, "nbformat").is_none() {
        meta.insert(txn, "nbformat", 4);
        meta.insert(txn, "nbformat_minor", 5);
        meta.insert(txn, "metadata", MapPrelim::default());
    }
}

/// A code cell as jupyter_ydoc lays it out (SPEC §4, including the `execution_state` that
/// §14 says code cells need).
fn code_cell(id: &str, source: &str) -> MapPrelim {
    MapPrelim::from([
        ("id", In::Any(Any::from(id))),
        ("cell_type", In::Any(Any::from("code"))),
        ("source", In::from(TextPrelim::new(source))),
        ("metadata", In::from(MapPrelim::default())),
        ("execution_count", In::Any(Any::Null)),
        ("outputs", In::from(ArrayPrelim::default())),
        ("execution_state", In::Any(Any::from("idle"))),
    ])
}

/// Inserts `text` at the start of `source` in its own transaction. Returns the update and
/// the Yjs clock of the first inserted character (with this doc's client id, the edit's id).
///
/// At the start, not the end: yrs finds a text index by walking the text's items from the
/// beginning, and edits from many clients interleave into as many items, so appending costs
/// O(length) per edit and at a few thousand edits/s the load generator itself would be the
/// bottleneck. Receivers integrate either the same way (by Yjs ids, not indexes).
pub fn prepend(doc: &Doc, source: &TextRef, text: &str) -> (Vec<u8>, Option<u32>) {
    let mut txn = doc.transact_mut_with(LOCAL_ORIGIN);
    source.insert(&mut txn, 0, text);
    let own = doc.client_id();
    let clock = txn
        .insert_set()
        .iter()
        .find(|(client, _)| **client == own)
        .and_then(|(_, r)| r.iter().next().map(|r| r.start));
    (txn.encode_update_v1(), clock)
}

/// Produces a long, realistic edit history one keystroke at a time: characters of some code
/// typed into the last cell, an occasional backspace (so the history has deletions too), and
/// a new code cell every `cell_every` edits. Each call is one update.
#[derive(Debug)]
pub struct Typist {
    typed: u64,
    cell_every: u64,
    /// Prefix of this typist's cell ids; unique per run so reruns never clash.
    id_prefix: String,
}

/// What gets typed, over and over.
const SNIPPET: &str = "import numpy as np\nxs = np.linspace(0, 1, 100)\nprint(xs.mean())\n";
/// Every this many keystrokes one is a backspace.
const BACKSPACE_EVERY: u64 = 23;

impl Typist {
    pub fn new(cell_every: u64, id_prefix: String) -> Self {
        Typist { typed: 0, cell_every: cell_every.max(1), id_prefix }
    }

    pub fn next_edit(&mut self, doc: &Doc, cells: &ArrayRef) -> Vec<u8> {
        let n = self.typed;
        self.typed += 1;
        let mut txn = doc.transact_mut_with(LOCAL_ORIGIN);
        let source = match last_source(&txn, cells) {
            Some(source) if !n.is_multiple_of(self.cell_every) => source,
            _ => {
                cells.push_back(&mut txn, code_cell(&format!("{}-{}", self.id_prefix, n), ""));
                return txn.encode_update_v1();
            }
        };
        let len = source.len(&txn);
        if n % BACKSPACE_EVERY == BACKSPACE_EVERY - 1 && len > 0 {
            source.remove_range(&mut txn, len - 1, 1);
        } else {
            let i = (n as usize) % SNIPPET.len();
            source.insert(&mut txn, len, &SNIPPET[i..=i]);
        }
        txn.encode_update_v1()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{GetString, Update, updates::decoder::Decode};

    #[test]
    fn ensure_code_cell_creates_once_and_is_readable_elsewhere() {
        let doc = Doc::new();
        let cells = doc.get_or_insert_array("cells");
        let update = ensure_code_cell(&doc, &cells, "c1").expect("created");
        assert!(ensure_code_cell(&doc, &cells, "c2").is_none());

        let other = Doc::new();
        let other_cells = other.get_or_insert_array("cells");
        other.transact_mut().apply_update(Update::decode_v1(&update).expect("decodes")).expect("applies");
        let source = first_source(&other.transact(), &other_cells).expect("has source");
        let mine = first_source(&doc.transact(), &cells).expect("source");
        let clock_before = doc.transact().state_vector().get(&doc.client_id());
        let (edit, clock) = prepend(&doc, &mine, "hi");
        assert_eq!(clock, Some(clock_before));
        other.transact_mut().apply_update(Update::decode_v1(&edit).expect("decodes")).expect("applies");
        assert_eq!(source.get_string(&other.transact()), "hi");
    }

    #[test]
    fn typist_makes_cells_keystrokes_and_backspaces() {
        let doc = Doc::new();
        let cells = doc.get_or_insert_array("cells");
        let mut typist = Typist::new(100, "t".into());
        for _ in 0..250 {
            assert!(!typist.next_edit(&doc, &cells).is_empty());
        }
        let txn = doc.transact();
        assert_eq!(cells.len(&txn), 3);
        let first = first_source(&txn, &cells).expect("source").get_string(&txn);
        // 99 keystrokes after the cell was created, 4 of them backspaces.
        assert_eq!(first.len(), 99 - 2 * 4);
    }
}
