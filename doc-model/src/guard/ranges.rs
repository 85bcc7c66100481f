//! A set of clock ranges per client, kept merged.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use yrs::block::ClientID;

/// Disjoint, non-adjacent clock ranges per client.
#[derive(Debug, Default, Clone)]
pub struct RangeSet {
    clients: HashMap<ClientID, BTreeMap<u32, u32>>,
}

impl RangeSet {
    /// Adds `range` for `client`, merging with neighbours.
    pub fn insert(&mut self, client: ClientID, range: Range<u32>) {
        if range.start >= range.end {
            return;
        }
        let map = self.clients.entry(client).or_default();
        let (mut start, mut end) = (range.start, range.end);
        // A range starting before `start` that reaches it.
        if let Some((&s, &e)) = map.range(..=start).next_back()
            && e >= start
        {
            start = s;
            end = end.max(e);
        }
        // Ranges starting inside [start, end].
        let inside: Vec<u32> = map.range(start..=end).map(|(&s, _)| s).collect();
        for s in inside {
            if let Some(e) = map.remove(&s) {
                end = end.max(e);
            }
        }
        map.insert(start, end);
    }

    /// Whether `clock` of `client` is in the set.
    pub fn contains(&self, client: ClientID, clock: u32) -> bool {
        self.clients
            .get(&client)
            .and_then(|map| map.range(..=clock).next_back())
            .is_some_and(|(_, &end)| clock < end)
    }

    /// The parts of `range` that are not in the set.
    pub fn missing(&self, client: ClientID, range: Range<u32>) -> Vec<Range<u32>> {
        let Some(map) = self.clients.get(&client) else { return vec![range] };
        let mut out = Vec::new();
        let mut at = range.start;
        let first = map.range(..=range.start).next_back().map(|(&s, _)| s).unwrap_or(range.start);
        for (&s, &e) in map.range(first..range.end) {
            if e <= at {
                continue;
            }
            if s > at {
                out.push(at..s.min(range.end));
            }
            at = at.max(e);
            if at >= range.end {
                break;
            }
        }
        if at < range.end {
            out.push(at..range.end);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u64) -> ClientID {
        ClientID::new(n)
    }

    #[test]
    fn merges_overlapping_and_adjacent_ranges() {
        let mut set = RangeSet::default();
        set.insert(c(1), 5..10);
        set.insert(c(1), 10..12);
        set.insert(c(1), 0..2);
        set.insert(c(1), 1..6);
        assert_eq!(set.missing(c(1), 0..20), vec![12..20]);
        assert!(set.contains(c(1), 11));
        assert!(!set.contains(c(1), 12));
        assert!(!set.contains(c(2), 0));
    }

    #[test]
    fn missing_parts_are_the_gaps() {
        let mut set = RangeSet::default();
        set.insert(c(1), 2..4);
        set.insert(c(1), 6..8);
        assert_eq!(set.missing(c(1), 0..10), vec![0..2, 4..6, 8..10]);
        assert_eq!(set.missing(c(1), 3..7), vec![4..6]);
        assert_eq!(set.missing(c(1), 2..4), Vec::<Range<u32>>::new());
        assert_eq!(set.missing(c(9), 1..3), vec![1..3]);
    }
}
