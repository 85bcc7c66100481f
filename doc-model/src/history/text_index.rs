//! Which Y.Text each text item lives in, kept beside the replayed document.
//!
//! yrs's text event computes its delta by walking the whole text, which costs as much as the
//! text has items: a cell edited for hours by several people has thousands, and a replay of
//! 100,000 keystrokes would spend nearly all its time there. An update, though, says which
//! items it adds and where (origin, right origin, explicit parent); knowing which text every
//! earlier item is in, the units an update adds to each text can be read from the update
//! alone. The units it removes then follow from the text's length before and after.
//!
//! The index is only a shortcut: whenever it cannot vouch for an answer (an origin it has
//! not seen, an update yrs keeps pending) it says so, and the tracker walks the delta.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use yrs::block::{ClientID, ItemContent};
use yrs::types::TypeRef;
use yrs::updates::decoder::Decode;
use yrs::{ID, IdSet};

use super::blocks::{Block, CONTENT_DELETED, CONTENT_FORMAT, Parent, read_blocks};

#[derive(Debug, Default)]
pub(crate) struct TextIndex {
    /// Ids of the items that hold a Y.Text.
    texts: HashSet<ID>,
    /// Clock ranges of the items inside texts: client → start → (end, text).
    items: HashMap<ClientID, BTreeMap<u32, (u32, ID)>>,
    /// Per client, the clock up to which every block has been seen.
    seen: HashMap<ClientID, u32>,
}

/// One new item of an update, as the index needs it.
struct New {
    id: ID,
    len: u32,
    origin: Option<ID>,
    parent: Option<Parent>,
    /// Content that counts towards a text's length (strings, embeds).
    countable: bool,
}

impl TextIndex {
    /// The index of a document given as a full state update; `None` if it does not read.
    pub(crate) fn from_state(state: &[u8]) -> Option<Self> {
        let mut index = Self::default();
        index.feed(state)?;
        Some(index)
    }

    /// Records an update's items and returns, per text (by the id of the item holding it),
    /// the UTF-16 units the update adds to it that it does not delete again itself. `None`
    /// if some item's place is unknown; the index is then unchanged.
    pub(crate) fn feed(&mut self, update: &[u8]) -> Option<HashMap<ID, u32>> {
        let mut new: Vec<New> = Vec::new();
        let mut new_texts: Vec<ID> = Vec::new();
        // Per client, the clock up to which blocks are known, this update's included.
        let mut seen = self.seen.clone();
        let mut gap = false;
        let mut dec = read_blocks(update, |id, block| {
            let len = block.len();
            // Skip blocks are holes in a merged update, not clocks it holds.
            if matches!(block, Block::Skip { .. }) {
                return Ok(());
            }
            let known = seen.entry(id.client).or_default();
            let fresh = (*known).max(id.clock);
            // A block beyond what is known waits in yrs for the missing clocks; its place
            // cannot be vouched for now.
            gap |= id.clock > *known;
            *known = (*known).max(id.clock + len);
            let Block::Item { header, content } = block else { return Ok(()) };
            if fresh >= id.clock + len {
                // Already in the document: yrs skips it.
                return Ok(());
            }
            if let ItemContent::Type(branch) = &content
                && matches!(branch.type_ref(), TypeRef::Text)
            {
                new_texts.push(id);
            }
            let content_ref = header.content_ref();
            // yrs integrates only the part it lacks, placed right after the part it has.
            let origin = if fresh > id.clock {
                Some(ID::new(id.client, fresh - 1))
            } else {
                header.origin.or(header.right_origin)
            };
            new.push(New {
                id: ID::new(id.client, fresh),
                len: id.clock + len - fresh,
                origin,
                parent: if fresh > id.clock { None } else { header.parent },
                countable: content_ref != CONTENT_DELETED && content_ref != CONTENT_FORMAT,
            });
            Ok(())
        })
        .ok()?;
        if gap {
            return None;
        }
        let mut deleted: HashMap<ClientID, Vec<Range<u32>>> = HashMap::new();
        for (client, ranges) in IdSet::decode(&mut dec).ok()?.iter() {
            deleted.entry(*client).or_default().extend(ranges.iter().cloned());
        }

        // Where each new item's origin is, when the origin is new too.
        let mut by_id: HashMap<ClientID, Vec<(u32, usize)>> = HashMap::new();
        for (i, item) in new.iter().enumerate() {
            by_id.entry(item.id.client).or_default().push((item.id.clock, i));
        }
        let find_new = |id: &ID| {
            let list = by_id.get(&id.client)?;
            let at = list.partition_point(|(clock, _)| *clock <= id.clock).checked_sub(1)?;
            let i = list[at].1;
            (id.clock < new[i].id.clock + new[i].len).then_some(i)
        };
        let is_text = |id: &ID| self.texts.contains(id) || new_texts.contains(id);
        let mut place: Vec<Option<Option<ID>>> = vec![None; new.len()];
        for start in 0..new.len() {
            let mut chain = Vec::new();
            let mut at = start;
            let found = loop {
                if let Some(known) = place[at] {
                    break known;
                }
                chain.push(at);
                match (&new[at].parent, new[at].origin) {
                    (Some(Parent::Type(parent)), _) => break is_text(parent).then_some(*parent),
                    (Some(Parent::Root(_)), _) | (None, None) => break None,
                    (None, Some(origin)) => match find_new(&origin) {
                        Some(next) if chain.len() <= new.len() => at = next,
                        Some(_) => return None,
                        None => break self.text_of(&origin)?,
                    },
                }
            };
            for i in chain {
                place[i] = Some(found);
            }
        }

        let mut added: HashMap<ID, u32> = HashMap::new();
        for (item, place) in new.iter().zip(&place) {
            let Some(Some(text)) = place else { continue };
            let range = item.id.clock..item.id.clock + item.len;
            self.items.entry(item.id.client).or_default().insert(range.start, (range.end, *text));
            if item.countable {
                let gone = deleted.get(&item.id.client).map_or(0, |ranges| overlap(ranges, &range));
                let kept = item.len - gone;
                *added.entry(*text).or_default() += kept;
            }
        }
        self.texts.extend(new_texts);
        self.seen = seen;
        Some(added)
    }

    /// The text holding the existing item `id`: `Some(None)` if it is in none, `None` if the
    /// index has not seen that clock.
    fn text_of(&self, id: &ID) -> Option<Option<ID>> {
        if id.clock >= self.seen.get(&id.client).copied().unwrap_or(0) {
            return None;
        }
        let found = self.items.get(&id.client).and_then(|items| items.range(..=id.clock).next_back());
        Some(match found {
            Some((_, (end, text))) if id.clock < *end => Some(*text),
            _ => None,
        })
    }
}

/// How many clocks of `range` the (disjoint) `ranges` hold.
fn overlap(ranges: &[Range<u32>], range: &Range<u32>) -> u32 {
    ranges.iter().map(|r| r.end.min(range.end).saturating_sub(r.start.max(range.start))).sum()
}
