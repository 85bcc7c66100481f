//! Reading a Yjs update (v1) block by block without applying it.
//!
//! yrs decodes updates only into an opaque [`yrs::Update`], so this mirrors its block
//! decoder with yrs's own public pieces ([`Decoder`], [`ItemContent::decode`],
//! [`IdSet`]): for every block we get its id and length, and for items where they point
//! (origin, right origin, explicit parent, map key) and a summary of their content.

use std::ops::Range;
use std::sync::Arc;

use yrs::block::{ClientID, ItemContent};
use yrs::encoding::read::Read;
use yrs::types::TypeRef;
use yrs::updates::decoder::{Decode, Decoder, DecoderV1};
use yrs::{Any, ID, IdSet};

/// Block kinds in the v1 encoding (Yjs's `structGCRefNumber` and `structSkipRefNumber`).
const GC: u8 = 0;
const SKIP: u8 = 10;
/// Info bits of an item header.
const HAS_ORIGIN: u8 = 0b1000_0000;
const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
const HAS_PARENT_SUB: u8 = 0b0010_0000;

/// An update, block by block.
#[derive(Debug, Default)]
pub struct ScannedUpdate {
    /// Blocks in encoding order: grouped by client, each client's in clock order.
    pub blocks: Vec<ScannedBlock>,
    /// The delete set: ranges of clocks per client.
    pub deletes: Vec<(ClientID, Range<u32>)>,
}

/// One block of an update.
#[derive(Debug)]
pub struct ScannedBlock {
    pub id: ID,
    /// Clock length (UTF-16 code units for text, values for arrays, 1 for types).
    pub len: u32,
    pub kind: BlockKind,
}

impl ScannedBlock {
    /// The clock just past this block.
    pub fn end(&self) -> u32 {
        self.id.clock + self.len
    }
}

/// What a block is.
#[derive(Debug)]
pub enum BlockKind {
    /// Garbage-collected content: a clock range that holds nothing any more.
    Gc,
    /// A hole in a merged update: these clocks are not part of it.
    Skip,
    Item(ScannedItem),
}

/// An item's header and a summary of its content.
#[derive(Debug)]
pub struct ScannedItem {
    pub origin: Option<ID>,
    pub right_origin: Option<ID>,
    /// Given only when the item has neither origin nor right origin; otherwise the parent
    /// is the origin's (or right origin's) parent.
    pub parent: Option<ExplicitParent>,
    /// The map key, given under the same condition as `parent`.
    pub key: Option<Arc<str>>,
    pub content: ContentSummary,
}

/// An explicitly named parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplicitParent {
    /// A root type of the document, by name.
    Root(Arc<str>),
    /// The type held by the item with this id.
    Type(ID),
}

/// What the checks need to know about an item's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentSummary {
    /// A shared type (its kind).
    Type(TypeKind),
    /// A single string value (how cell ids are written).
    String(String),
    /// Content that was deleted before it was sent.
    Deleted,
    /// A sub-document; Talkbook's documents have none.
    SubDocument,
    Other,
}

/// Kinds of shared types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    Array,
    Map,
    Text,
    /// XML types and anything else; not part of a notebook.
    Other,
}

/// Why an update could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("update does not decode: {0}")]
    Decode(String),
    #[error("update has an empty block")]
    EmptyBlock,
    #[error("update has a block beyond the largest clock")]
    ClockOverflow,
}

/// Reads an update without applying it.
pub fn scan_update(data: &[u8]) -> Result<ScannedUpdate, ScanError> {
    let mut decoder = DecoderV1::from(data);
    let decode = |e: yrs::encoding::read::Error| ScanError::Decode(e.to_string());
    let clients: u32 = decoder.read_var().map_err(decode)?;
    let mut blocks = Vec::new();
    for _ in 0..clients {
        let count: u32 = decoder.read_var().map_err(decode)?;
        let client = decoder.read_client().map_err(decode)?;
        let mut clock: u32 = decoder.read_var().map_err(decode)?;
        for _ in 0..count {
            let id = ID::new(client, clock);
            let block = read_block(id, &mut decoder)?;
            clock = clock.checked_add(block.len).ok_or(ScanError::ClockOverflow)?;
            blocks.push(block);
        }
    }
    let delete_set = IdSet::decode(&mut decoder).map_err(decode)?;
    let mut deletes = Vec::new();
    for (client, ranges) in delete_set.iter() {
        for range in ranges.iter() {
            if range.start < range.end {
                deletes.push((*client, range.clone()));
            }
        }
    }
    Ok(ScannedUpdate { blocks, deletes })
}

fn read_block(id: ID, decoder: &mut DecoderV1<'_>) -> Result<ScannedBlock, ScanError> {
    let decode = |e: yrs::encoding::read::Error| ScanError::Decode(e.to_string());
    let info = decoder.read_info().map_err(decode)?;
    let (len, kind) = match info & 0b1_1111 {
        SKIP => (decoder.read_var::<u32>().map_err(decode)?, BlockKind::Skip),
        GC => (decoder.read_len().map_err(decode)?, BlockKind::Gc),
        _ => {
            let origin =
                if info & HAS_ORIGIN != 0 { Some(decoder.read_left_id().map_err(decode)?) } else { None };
            let right_origin = if info & HAS_RIGHT_ORIGIN != 0 {
                Some(decoder.read_right_id().map_err(decode)?)
            } else {
                None
            };
            let explicit = info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0;
            let parent = if explicit {
                Some(if decoder.read_parent_info().map_err(decode)? {
                    ExplicitParent::Root(decoder.read_string().map_err(decode)?.into())
                } else {
                    ExplicitParent::Type(decoder.read_left_id().map_err(decode)?)
                })
            } else {
                None
            };
            let key = if explicit && info & HAS_PARENT_SUB != 0 {
                Some(Arc::from(decoder.read_string().map_err(decode)?))
            } else {
                None
            };
            let content = ItemContent::decode(decoder, info).map_err(decode)?;
            let len = content.len_utf16();
            let item = ScannedItem { origin, right_origin, parent, key, content: summarize(&content) };
            (len, BlockKind::Item(item))
        }
    };
    if len == 0 {
        return Err(ScanError::EmptyBlock);
    }
    Ok(ScannedBlock { id, len, kind })
}

fn summarize(content: &ItemContent) -> ContentSummary {
    match content {
        ItemContent::Type(branch) => ContentSummary::Type(match branch.type_ref() {
            TypeRef::Array => TypeKind::Array,
            TypeRef::Map => TypeKind::Map,
            TypeRef::Text => TypeKind::Text,
            _ => TypeKind::Other,
        }),
        ItemContent::Any(values) => match values.as_slice() {
            [Any::String(s)] => ContentSummary::String(s.to_string()),
            _ => ContentSummary::Other,
        },
        ItemContent::Deleted(_) => ContentSummary::Deleted,
        ItemContent::Doc(..) => ContentSummary::SubDocument,
        _ => ContentSummary::Other,
    }
}

/// An update holding only garbage-collected blocks for the given clock ranges: it marks
/// those clocks as used and empty, so later items of the same clients integrate.
pub fn gc_update(ranges: &[(ClientID, Range<u32>)]) -> Vec<u8> {
    use yrs::encoding::write::Write;
    use yrs::updates::encoder::{Encoder, EncoderV1};
    let mut encoder = EncoderV1::new();
    let ranges: Vec<_> = ranges.iter().filter(|(_, r)| r.start < r.end).collect();
    encoder.write_var(ranges.len() as u32);
    for (client, range) in ranges {
        encoder.write_var(1u32);
        encoder.write_client(*client);
        encoder.write_var(range.start);
        encoder.write_info(GC);
        encoder.write_len(range.end - range.start);
    }
    // An empty delete set.
    encoder.write_var(0u32);
    encoder.to_vec()
}
