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
use yrs::encoding::read::Read;
use yrs::encoding::write::Write;
use yrs::types::text::{Diff, YChange};
use yrs::updates::decoder::{Decode, Decoder, DecoderV1};
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::{
    Any, BranchID, Doc, ID, IdSet, Map, OffsetKind, Options, Out, ReadTxn, Snapshot, StateVector, Text,
    TextRef, Transact, Update,
};

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

/// Block kinds and item header bits of the v1 encoding (as in `guard::scan`).
const GC: u8 = 0;
const SKIP: u8 = 10;
const HAS_ORIGIN: u8 = 0b1000_0000;
const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
const HAS_PARENT_SUB: u8 = 0b0010_0000;
const CONTENT_BITS: u8 = 0b1_1111;
const CONTENT_STRING: u8 = 4;

/// Copies a v1 update, giving every item whose content was garbage-collected
/// (`ContentDeleted`) placeholder text of the same length. Returns the copy and the
/// update's delete set.
fn revive_tombstones(state: &[u8]) -> Result<(Vec<u8>, IdSet), yrs::encoding::read::Error> {
    let mut dec = DecoderV1::from(state);
    let mut enc = EncoderV1::new();
    let clients: u32 = dec.read_var()?;
    enc.write_var(clients);
    for _ in 0..clients {
        let count: u32 = dec.read_var()?;
        enc.write_var(count);
        enc.write_client(dec.read_client()?);
        let clock: u32 = dec.read_var()?;
        enc.write_var(clock);
        for _ in 0..count {
            let info = dec.read_info()?;
            match info & CONTENT_BITS {
                GC => {
                    enc.write_info(info);
                    enc.write_len(dec.read_len()?);
                }
                SKIP => {
                    enc.write_info(info);
                    enc.write_var(dec.read_var::<u32>()?);
                }
                _ => copy_item(&mut dec, &mut enc, info)?,
            }
        }
    }
    let deleted = IdSet::decode(&mut dec)?;
    deleted.encode(&mut enc);
    Ok((enc.to_vec(), deleted))
}

fn copy_item(dec: &mut DecoderV1<'_>, enc: &mut EncoderV1, info: u8) -> Result<(), yrs::encoding::read::Error> {
    let origin = if info & HAS_ORIGIN != 0 { Some(dec.read_left_id()?) } else { None };
    let right_origin = if info & HAS_RIGHT_ORIGIN != 0 { Some(dec.read_right_id()?) } else { None };
    let explicit = info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0;
    let parent = if explicit {
        Some(if dec.read_parent_info()? {
            Parent::Root(dec.read_string()?.to_owned())
        } else {
            Parent::Type(dec.read_left_id()?)
        })
    } else {
        None
    };
    let parent_sub =
        if explicit && info & HAS_PARENT_SUB != 0 { Some(dec.read_string()?.to_owned()) } else { None };
    let content = ItemContent::decode(dec, info)?;
    let placeholder = match &content {
        ItemContent::Deleted(len) => Some("x".repeat(*len as usize)),
        _ => None,
    };
    enc.write_info(match placeholder {
        Some(_) => (info & !CONTENT_BITS) | CONTENT_STRING,
        None => info,
    });
    if let Some(id) = &origin {
        enc.write_left_id(id);
    }
    if let Some(id) = &right_origin {
        enc.write_right_id(id);
    }
    match &parent {
        Some(Parent::Root(name)) => {
            enc.write_parent_info(true);
            enc.write_string(name);
        }
        Some(Parent::Type(id)) => {
            enc.write_parent_info(false);
            enc.write_left_id(id);
        }
        None => {}
    }
    if let Some(sub) = &parent_sub {
        enc.write_string(sub);
    }
    match placeholder {
        // A string item's content is its text.
        Some(text) => enc.write_string(&text),
        None => content.encode(enc),
    }
    Ok(())
}

enum Parent {
    Root(String),
    Type(ID),
}
