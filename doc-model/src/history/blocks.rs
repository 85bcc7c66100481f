//! Reading (and writing back) the blocks of a v1 update, for the history readers that need
//! what yrs keeps private: where each item sits (origin, right origin, explicit parent) and
//! what kind of content it holds. Mirrors yrs's block decoder, like `guard::scan`, but keeps
//! the content itself.

use yrs::ID;
use yrs::block::ItemContent;
use yrs::encoding::read::{Error, Read};
use yrs::encoding::write::Write;
use yrs::updates::decoder::{Decoder, DecoderV1};
use yrs::updates::encoder::{Encoder, EncoderV1};

/// Block kinds and item header bits of the v1 encoding.
pub(crate) const GC: u8 = 0;
pub(crate) const SKIP: u8 = 10;
const HAS_ORIGIN: u8 = 0b1000_0000;
const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
const HAS_PARENT_SUB: u8 = 0b0010_0000;
pub(crate) const CONTENT_BITS: u8 = 0b1_1111;
/// Content reference numbers (yrs's `BLOCK_ITEM_*_REF_NUMBER`).
pub(crate) const CONTENT_DELETED: u8 = 1;
pub(crate) const CONTENT_STRING: u8 = 4;
pub(crate) const CONTENT_FORMAT: u8 = 6;

/// A parent named in an item header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parent {
    Root(String),
    /// The type held by the item with this id.
    Type(ID),
}

/// An item header: everything before its content.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub info: u8,
    pub origin: Option<ID>,
    pub right_origin: Option<ID>,
    /// Given only when the item has neither origin nor right origin.
    pub parent: Option<Parent>,
    pub parent_sub: Option<String>,
}

impl Header {
    pub(crate) fn read(dec: &mut DecoderV1<'_>, info: u8) -> Result<Self, Error> {
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
        Ok(Self { info, origin, right_origin, parent, parent_sub })
    }

    /// Writes the header with `info` (which may name another content kind).
    pub(crate) fn write(&self, enc: &mut EncoderV1, info: u8) {
        enc.write_info(info);
        if let Some(id) = &self.origin {
            enc.write_left_id(id);
        }
        if let Some(id) = &self.right_origin {
            enc.write_right_id(id);
        }
        match &self.parent {
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
        if let Some(sub) = &self.parent_sub {
            enc.write_string(sub);
        }
    }

    pub(crate) fn content_ref(&self) -> u8 {
        self.info & CONTENT_BITS
    }
}

/// One block of an update.
#[derive(Debug)]
pub(crate) enum Block {
    Gc { len: u32 },
    Skip { len: u32 },
    Item { header: Header, content: ItemContent },
}

impl Block {
    /// Clock length (UTF-16 code units for strings).
    pub(crate) fn len(&self) -> u32 {
        match self {
            Block::Gc { len } | Block::Skip { len } => *len,
            Block::Item { content, .. } => content.len_utf16(),
        }
    }
}

/// Reads an update's blocks in encoding order, calling `f` with each block's id, and
/// returns the decoder positioned at the delete set.
pub(crate) fn read_blocks<'a>(
    data: &'a [u8],
    mut f: impl FnMut(ID, Block) -> Result<(), Error>,
) -> Result<DecoderV1<'a>, Error> {
    let mut dec = DecoderV1::from(data);
    let clients: u32 = dec.read_var()?;
    for _ in 0..clients {
        let count: u32 = dec.read_var()?;
        let client = dec.read_client()?;
        let mut clock: u32 = dec.read_var()?;
        for _ in 0..count {
            let info = dec.read_info()?;
            let block = match info & CONTENT_BITS {
                GC => Block::Gc { len: dec.read_len()? },
                SKIP => Block::Skip { len: dec.read_var()? },
                _ => {
                    let header = Header::read(&mut dec, info)?;
                    Block::Item { header, content: ItemContent::decode(&mut dec, info)? }
                }
            };
            let len = block.len();
            f(ID::new(client, clock), block)?;
            clock = clock.checked_add(len).ok_or(Error::UnexpectedValue)?;
        }
    }
    Ok(dec)
}
