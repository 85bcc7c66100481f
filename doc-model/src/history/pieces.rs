//! A cell source's Yjs items in document order, live and deleted, for blame.
//!
//! Every character of a Y.Text belongs to an item whose id (client, clock) says which
//! client wrote it, and deleted characters stay in the list as tombstones (with garbage
//! collection on, their text is dropped but their place and id are kept), which is what lets
//! blame show who deleted what where.
//!
//! yrs keeps its item list private. Its one public view that walks items with their ids is
//! the snapshot diff ([`Text::diff_range`], one chunk per item, tagged with the item's id);
//! it shows deleted items only where their text still exists. So [`source_pieces`] encodes
//! the document, turns every tombstone's dropped content into placeholder text of the same
//! length (same ids, same origins, still deleted), loads that into a scratch document that
//! keeps deleted content, and reads the diff there. This costs one encode and decode of the
//! document per call: fine for a blame or an undo, not for a hot loop.

use yrs::block::ItemContent;
use yrs::branch::Branch;
use yrs::encoding::write::Write;
use yrs::types::text::{Diff, YChange};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::{
    Any, BranchID, Doc, ID, IdSet, Map, OffsetKind, Options, Out, ReadTxn, Snapshot, StateVector, Text,
    TextRef, Transact, Update,
};

use super::blocks::{Block, CONTENT_BITS, CONTENT_STRING, GC, SKIP, read_blocks};
use crate::doc::{NotebookDoc, find_cell};
use crate::ids::CellId;
use crate::schema as key;

/// A run of one item's text (or of consecutive items of one client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The Yjs client id that inserted it.
    pub client: u64,
    /// The clock of its first character.
    pub clock: u32,
    /// Length in clock units (UTF-16 code units for strings).
    pub len: u32,
    /// The text; `None` for a tombstone (deleted text).
    pub text: Option<String>,
}

impl Piece {
    /// Whether the piece holds the character `clock` of `client`.
    pub fn contains(&self, client: u64, clock: u32) -> bool {
        self.client == client && (self.clock..self.clock + self.len).contains(&clock)
    }
}

/// The pieces of a cell's source in document order; `None` if there is no such cell. A
/// source stored as a plain string (never a Y.Text) has no items and gives no pieces.
pub fn source_pieces(doc: &NotebookDoc, cell_id: &str) -> Option<Vec<Piece>> {
    let (text_id, state) = {
        let txn = doc.doc().transact();
        let (_, map) = find_cell(&txn, &doc.roots().cells, &CellId::new(cell_id))?;
        let Some(Out::YText(text)) = map.get(&txn, key::SOURCE) else { return Some(Vec::new()) };
        let BranchID::Nested(id) = AsRef::<Branch>::as_ref(&text).id() else { return Some(Vec::new()) };
        (id, txn.encode_state_as_update_v1(&StateVector::default()))
    };
    // The state was encoded by yrs a moment ago, so reading it back cannot fail; if it ever
    // did, no pieces is the honest answer.
    Some(pieces_of(&state, text_id).unwrap_or_default())
}

/// Reads the pieces of the text held by the item `text_id` in a full state update.
fn pieces_of(state: &[u8], text_id: ID) -> Option<Vec<Piece>> {
    let (revived, deleted) = revive_tombstones(state).ok()?;
    let mut options = Options { skip_gc: true, ..Options::default() };
    options.offset_kind = OffsetKind::Utf16;
    let scratch = Doc::with_options(options);
    let mut txn = scratch.transact_mut();
    txn.apply_update(Update::decode_v1(&revived).ok()?).ok()?;
    let text = TextRef::from(BranchID::Nested(text_id).get_branch(&txn)?);
    // Nothing is visible in `hi` and everything in `lo`: the diff reports every item as
    // removed, one chunk per item, tagged with the item's id.
    let hi = Snapshot::new(StateVector::default(), IdSet::new());
    let lo = Snapshot::new(txn.state_vector(), IdSet::new());
    let diffs: Vec<Diff<YChange>> = text.diff_range(&mut txn, Some(&hi), Some(&lo), YChange::identity);
    let mut pieces: Vec<Piece> = Vec::new();
    for diff in diffs {
        let (Out::Any(Any::String(s)), Some(change)) = (&diff.insert, diff.ychange) else { continue };
        let id = change.id;
        let piece = Piece {
            client: id.client.get(),
            clock: id.clock,
            len: s.encode_utf16().count() as u32,
            text: (!deleted.contains(&id)).then(|| s.to_string()),
        };
        match pieces.last_mut() {
            Some(last)
                if last.client == piece.client
                    && last.clock + last.len == piece.clock
                    && last.text.is_some() == piece.text.is_some() =>
            {
                last.len += piece.len;
                if let (Some(a), Some(b)) = (&mut last.text, &piece.text) {
                    a.push_str(b);
                }
            }
            _ => pieces.push(piece),
        }
    }
    Some(pieces)
}

/// Copies a full state update, giving every item whose content was garbage-collected
/// (`ContentDeleted`) placeholder text of the same length. Returns the copy and the
/// update's delete set.
fn revive_tombstones(state: &[u8]) -> Result<(Vec<u8>, IdSet), yrs::encoding::read::Error> {
    let mut blocks: Vec<(ID, Block)> = Vec::new();
    let mut dec = read_blocks(state, |id, block| {
        blocks.push((id, block));
        Ok(())
    })?;
    let deleted = IdSet::decode(&mut dec)?;
    let mut enc = EncoderV1::new();
    // Blocks come grouped by client, each group in clock order.
    let same_client = |(a, _): &(ID, Block), (b, _): &(ID, Block)| a.client == b.client;
    enc.write_var(blocks.chunk_by(same_client).count() as u32);
    for group in blocks.chunk_by(same_client) {
        enc.write_var(group.len() as u32);
        enc.write_client(group[0].0.client);
        enc.write_var(group[0].0.clock);
        for (_, block) in group {
            match block {
                Block::Gc { len } => {
                    enc.write_info(GC);
                    enc.write_len(*len);
                }
                Block::Skip { len } => {
                    enc.write_info(SKIP);
                    enc.write_var(*len);
                }
                Block::Item { header, content: ItemContent::Deleted(len) } => {
                    header.write(&mut enc, (header.info & !CONTENT_BITS) | CONTENT_STRING);
                    // A string item's content is its text.
                    enc.write_string(&"x".repeat(*len as usize));
                }
                Block::Item { header, content } => {
                    header.write(&mut enc, header.info);
                    content.encode(&mut enc);
                }
            }
        }
    }
    deleted.encode(&mut enc);
    Ok((enc.to_vec(), deleted))
}
