//! Which keys of a map one change group wrote, read from the document's encoded state.
//!
//! Undoing a metadata change should put back only what the group changed, not what others
//! changed since. The group is known by its clock ranges, and every map entry is an item:
//! the encoding names its key directly, or, for a value that replaced another, through its
//! origin (the replaced value's item), so following origins gives every item its key. yrs
//! keeps that mapping private, so it is read with the guard's update scanner.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use yrs::ID;
use yrs::block::ClientID;

use crate::guard::scan::{BlockKind, ExplicitParent, ScannedUpdate, scan_update};

/// Where an item sits: its parent and map key.
type Place = Option<(ExplicitParent, Option<Arc<str>>)>;

/// Keys of the map held by item `map` that the group wrote and that still show its work:
/// keys whose live value the group inserted, and keys it removed that nobody set since.
/// `None` if the state cannot be read.
pub(crate) fn keys_written(
    state: &[u8],
    map: ID,
    inserted: &[(u64, Range<u32>)],
    deleted: &[(u64, Range<u32>)],
) -> Option<BTreeSet<String>> {
    let scanned = scan_update(state).ok()?;
    let mut places = Places::new(&scanned);
    let parent = ExplicitParent::Type(map);
    // Key → whether its live value is the group's.
    let mut live: HashMap<Arc<str>, bool> = HashMap::new();
    let mut removed_by_group: BTreeSet<Arc<str>> = BTreeSet::new();
    for (i, block) in scanned.blocks.iter().enumerate() {
        if !matches!(block.kind, BlockKind::Item(_)) {
            continue;
        }
        let Some((p, Some(key))) = places.place(i) else { continue };
        if p != parent {
            continue;
        }
        let (client, span) = (block.id.client.get(), block.id.clock..block.end());
        if places.is_deleted(&block.id) {
            if overlaps(deleted, client, &span) {
                removed_by_group.insert(key);
            }
        } else {
            live.insert(key, overlaps(inserted, client, &span));
        }
    }
    let mut keys: BTreeSet<String> =
        live.iter().filter(|(_, ours)| **ours).map(|(k, _)| k.to_string()).collect();
    keys.extend(removed_by_group.into_iter().filter(|k| !live.contains_key(k)).map(|k| k.to_string()));
    Some(keys)
}

fn overlaps(ranges: &[(u64, Range<u32>)], client: u64, span: &Range<u32>) -> bool {
    ranges.iter().any(|(c, r)| *c == client && r.start < span.end && span.start < r.end)
}

/// Resolves items' places, remembering what it found.
struct Places<'a> {
    scanned: &'a ScannedUpdate,
    /// Per client: (first clock, block index), sorted by clock.
    by_client: HashMap<ClientID, Vec<(u32, usize)>>,
    deletes: HashMap<ClientID, Vec<Range<u32>>>,
    memo: Vec<Option<Place>>,
}

impl<'a> Places<'a> {
    fn new(scanned: &'a ScannedUpdate) -> Self {
        let mut by_client: HashMap<ClientID, Vec<(u32, usize)>> = HashMap::new();
        for (i, block) in scanned.blocks.iter().enumerate() {
            by_client.entry(block.id.client).or_default().push((block.id.clock, i));
        }
        for blocks in by_client.values_mut() {
            blocks.sort_unstable();
        }
        let mut deletes: HashMap<ClientID, Vec<Range<u32>>> = HashMap::new();
        for (client, range) in &scanned.deletes {
            deletes.entry(*client).or_default().push(range.clone());
        }
        for ranges in deletes.values_mut() {
            ranges.sort_unstable_by_key(|r| r.start);
        }
        Self { scanned, by_client, deletes, memo: vec![None; scanned.blocks.len()] }
    }

    fn is_deleted(&self, id: &ID) -> bool {
        let Some(ranges) = self.deletes.get(&id.client) else { return false };
        let i = ranges.partition_point(|r| r.start <= id.clock);
        i > 0 && ranges[i - 1].contains(&id.clock)
    }

    /// The block holding `id`.
    fn find(&self, id: &ID) -> Option<usize> {
        let blocks = self.by_client.get(&id.client)?;
        let i = blocks.partition_point(|(clock, _)| *clock <= id.clock);
        let (_, at) = *blocks.get(i.checked_sub(1)?)?;
        (id.clock < self.scanned.blocks[at].end()).then_some(at)
    }

    /// The parent and key of block `i`, following origins (iteratively: a key set many times
    /// makes a long chain).
    fn place(&mut self, i: usize) -> Place {
        let mut chain = Vec::new();
        let mut at = i;
        let place = loop {
            if let Some(known) = &self.memo[at] {
                break known.clone();
            }
            let BlockKind::Item(item) = &self.scanned.blocks[at].kind else { break None };
            if let Some(parent) = &item.parent {
                break Some((parent.clone(), item.key.clone()));
            }
            chain.push(at);
            // A valid document has no cycles; the bound keeps a broken one from looping.
            let next = item.origin.or(item.right_origin).and_then(|id| self.find(&id));
            match next {
                Some(next) if chain.len() <= self.memo.len() => at = next,
                _ => break None,
            }
        };
        for c in chain.into_iter().chain([at]) {
            self.memo[c] = Some(place.clone());
        }
        place
    }
}
