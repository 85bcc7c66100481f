//! Edit-to-everyone latency: when each timed edit was sent, and when the last of the other
//! clients had it.
//!
//! An edit is identified by the Yjs id of what it inserted (the sender's client id and the
//! clock of the first character), which every replica knows on integrating it, whatever the
//! server. Receivers log the id ranges each transaction inserted; that costs O(1) per update,
//! where diffing the text for the marker strings costs O(length of the text) per update in
//! yrs and made the load generator, not the server, the bottleneck. The marker strings stay
//! in the text and are counted once at the end as a cross-check.
//!
//! Each client appends to its own [`EditLog`] (sends from its editing loop, sightings from its
//! document observer), so the hot path takes only an uncontended lock; the [`Tracker`] drains
//! the logs now and then and joins them.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use yrs::ClientID;

use crate::stats::Summary;

/// Times are microseconds since the run's epoch: compact, and comparable across clients
/// because every client lives in this one process.
pub type Micros = u64;

pub fn micros_since(epoch: Instant, at: Instant) -> Micros {
    at.saturating_duration_since(epoch).as_micros() as Micros
}

/// The Yjs id of an edit's first inserted character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EditKey {
    pub client: ClientID,
    pub clock: u32,
}

/// What one client has sent and seen since the tracker last drained it.
#[derive(Debug, Default)]
pub struct EditLog {
    pub sent: Vec<(EditKey, Micros)>,
    /// Clock ranges of one Yjs client that a transaction from the server inserted.
    pub seen: Vec<(ClientID, Range<u32>, Micros)>,
}

pub type SharedLog = Arc<Mutex<EditLog>>;

/// Locks a log; a poisoned lock only means a client task panicked mid-push, and the data is
/// still usable for figures.
pub fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, EditLog> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy)]
struct EditState {
    sent: Micros,
    /// How many other clients have the edit, and when the first and the latest of them
    /// got it.
    seen_by: u32,
    first_seen: Micros,
    last_seen: Micros,
}

/// Joins the clients' logs.
#[derive(Debug)]
pub struct Tracker {
    /// Every edit must reach this many clients: all but its sender.
    receivers: u32,
    /// Edits by sender and clock, so that a sighting (a clock range) finds its edits.
    edits: HashMap<ClientID, BTreeMap<u32, EditState>>,
}

/// Figures for the edits tracked since the last [`Tracker::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub sent: usize,
    pub lost: usize,
    pub latency: Option<Summary>,
    /// Send to the first arrival: the server's own path (commit included) with the least
    /// of the load generator's fan-in, to tell the two apart.
    pub first_latency: Option<Summary>,
}

impl Tracker {
    pub fn new(clients: usize) -> Self {
        Tracker { receivers: clients.saturating_sub(1) as u32, edits: HashMap::new() }
    }

    /// Moves everything the clients logged into the tracker. All sightings are taken before
    /// any sends: an edit is logged as sent before it leaves its client, so every send a
    /// taken sighting refers to is taken in the same call. Sightings of anything else (the
    /// cell's creation, edits of an earlier, finished step) are ignored.
    pub fn absorb(&mut self, logs: &[SharedLog]) {
        let seen: Vec<_> = logs.iter().map(|log| std::mem::take(&mut lock(log).seen)).collect();
        for log in logs {
            for (key, at) in std::mem::take(&mut lock(log).sent) {
                let edit = EditState { sent: at, seen_by: 0, first_seen: Micros::MAX, last_seen: 0 };
                self.edits.entry(key.client).or_default().insert(key.clock, edit);
            }
        }
        for (client, range, at) in seen.into_iter().flatten() {
            let Some(edits) = self.edits.get_mut(&client) else {
                continue;
            };
            for edit in edits.range_mut(range).map(|(_, edit)| edit) {
                edit.seen_by += 1;
                edit.first_seen = edit.first_seen.min(at);
                edit.last_seen = edit.last_seen.max(at);
            }
        }
    }

    /// Sent edits that some client does not have yet.
    pub fn pending(&self) -> usize {
        self.edits.values().flat_map(BTreeMap::values).filter(|e| e.seen_by < self.receivers).count()
    }

    /// Every sent edit as (sent, first arrival, last arrival), by send time; arrivals are
    /// `None` until some (every) other client has the edit.
    pub fn timeline(&self) -> Vec<(Micros, Option<Micros>, Option<Micros>)> {
        let mut rows: Vec<_> = self
            .edits
            .values()
            .flat_map(BTreeMap::values)
            .map(|e| {
                let first = (e.seen_by > 0).then_some(e.first_seen);
                let last = (e.seen_by >= self.receivers).then_some(e.last_seen);
                (e.sent, first, last)
            })
            .collect();
        rows.sort_unstable();
        rows
    }

    /// Figures over all sent edits, then forgets them, so the next step starts afresh.
    /// Edits that reached every other client give one latency sample each (send to last
    /// arrival); the rest are lost.
    pub fn finish(&mut self) -> Figures {
        let mut latencies_ms = Vec::new();
        let mut first_ms = Vec::new();
        let mut sent = 0;
        for edit in self.edits.values().flat_map(BTreeMap::values) {
            sent += 1;
            if edit.seen_by >= self.receivers {
                latencies_ms.push(edit.last_seen.saturating_sub(edit.sent) as f64 / 1000.0);
                first_ms.push(edit.first_seen.saturating_sub(edit.sent) as f64 / 1000.0);
            }
        }
        self.edits.clear();
        let complete = latencies_ms.len();
        Figures {
            sent,
            lost: sent - complete,
            latency: Summary::of(&mut latencies_ms),
            first_latency: Summary::of(&mut first_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(client: u64, clock: u32) -> EditKey {
        EditKey { client: ClientID::new(client), clock }
    }

    #[test]
    fn latency_is_until_the_last_receiver_and_unseen_edits_are_lost() {
        let logs: Vec<SharedLog> = (0..3).map(|_| SharedLog::default()).collect();
        // Yjs client 7 sends two 10-character edits; client 1 gets both in one update,
        // client 2 only the first, late, plus the cell creation, which is no timed edit.
        lock(&logs[0]).sent.extend([(key(7, 5), 1_000), (key(7, 15), 2_000)]);
        lock(&logs[1]).seen.push((ClientID::new(7), 5..25, 3_000));
        lock(&logs[2]).seen.extend([(ClientID::new(7), 0..5, 500), (ClientID::new(7), 5..15, 6_000)]);

        let mut tracker = Tracker::new(3);
        tracker.absorb(&logs);
        assert_eq!(tracker.pending(), 1);
        assert_eq!(tracker.timeline(), vec![(1_000, Some(3_000), Some(6_000)), (2_000, Some(3_000), None)]);

        let figures = tracker.finish();
        assert_eq!((figures.sent, figures.lost), (2, 1));
        let latency = figures.latency.expect("one complete edit");
        assert_eq!((latency.count, latency.max), (1, 5.0));
        let first = figures.first_latency.expect("one complete edit");
        assert_eq!((first.count, first.max), (1, 2.0), "client 1 had it at 3 ms, 2 ms after it was sent");
        assert_eq!(tracker.finish().sent, 0);
    }

    #[test]
    fn sightings_of_finished_edits_are_ignored() {
        let logs = vec![SharedLog::default(), SharedLog::default()];
        lock(&logs[0]).sent.push((key(1, 0), 0));
        let mut tracker = Tracker::new(2);
        tracker.absorb(&logs);
        assert_eq!(tracker.finish().lost, 1);
        lock(&logs[1]).seen.push((ClientID::new(1), 0..3, 9_000));
        tracker.absorb(&logs);
        assert_eq!((tracker.pending(), tracker.finish().sent), (0, 0));
    }
}
