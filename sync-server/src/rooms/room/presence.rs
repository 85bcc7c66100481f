//! The awareness states a room holds and relays: who is in the notebook, their cursors.
//!
//! The rules are y-protocols' awareness: a state replaces the one held when its clock is
//! newer, `null` at the same clock removes it, and a removed client keeps its clock so an
//! older copy of its state cannot bring it back. The wire types are yrs's own. yrs's
//! `Awareness` is made for a peer that has a local state, observers and shared access (a
//! sharded map, about 1 KB per instance before any state); a room needs only the states,
//! and every open room pays for that map.

use std::collections::HashMap;
use std::sync::Arc;

use yrs::block::ClientID;
use yrs::sync::AwarenessUpdate;
use yrs::sync::awareness::AwarenessUpdateEntry;

/// A removed client's state on the wire.
const NULL: &str = "null";

/// One client's state: its clock and JSON (`None` once removed).
#[derive(Debug)]
struct Held {
    clock: u32,
    json: Option<Arc<str>>,
}

#[derive(Debug, Default)]
pub(super) struct Presence {
    states: HashMap<ClientID, Held>,
}

impl Presence {
    /// Takes in what an update says is newer than what the room holds.
    pub fn apply(&mut self, update: &AwarenessUpdate) {
        for (client, entry) in &update.clients {
            let json = (&*entry.json != NULL).then(|| entry.json.clone());
            match self.states.get_mut(client) {
                Some(held) => {
                    let removes = held.clock == entry.clock && json.is_none() && held.json.is_some();
                    if held.clock < entry.clock || removes {
                        *held = Held { clock: entry.clock, json };
                    }
                }
                None => {
                    self.states.insert(*client, Held { clock: entry.clock, json });
                }
            }
        }
    }

    /// Removes the states of clients whose connection left; the update tells the others.
    pub fn remove(&mut self, clients: &[ClientID]) -> AwarenessUpdate {
        let mut update = AwarenessUpdate { clients: HashMap::with_capacity(clients.len()) };
        for client in clients {
            let held = self.states.entry(*client).or_insert(Held { clock: 0, json: None });
            held.clock += 1;
            held.json = None;
            update.clients.insert(*client, AwarenessUpdateEntry { clock: held.clock, json: NULL.into() });
        }
        update
    }

    /// Every present client's state, for a client that joins or asks.
    pub fn current(&self) -> AwarenessUpdate {
        let clients = self
            .states
            .iter()
            .filter_map(|(client, held)| {
                let json = held.json.clone()?;
                Some((*client, AwarenessUpdateEntry { clock: held.clock, json }))
            })
            .collect();
        AwarenessUpdate { clients }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(entries: &[(u64, u32, &str)]) -> AwarenessUpdate {
        let clients = entries
            .iter()
            .map(|(client, clock, json)| {
                (ClientID::new(*client), AwarenessUpdateEntry { clock: *clock, json: (*json).into() })
            })
            .collect();
        AwarenessUpdate { clients }
    }

    fn states(presence: &Presence) -> Vec<(u64, u32, String)> {
        let mut out: Vec<_> = presence
            .current()
            .clients
            .into_iter()
            .map(|(client, e)| (client.get(), e.clock, e.json.to_string()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn newer_clocks_replace_and_older_ones_are_ignored() {
        let mut presence = Presence::default();
        presence.apply(&update(&[(1, 1, r#"{"a":1}"#), (2, 4, r#"{"b":1}"#)]));
        presence.apply(&update(&[(1, 2, r#"{"a":2}"#), (2, 3, r#"{"b":0}"#)]));
        assert_eq!(states(&presence), [(1, 2, r#"{"a":2}"#.into()), (2, 4, r#"{"b":1}"#.into())]);
    }

    #[test]
    fn null_at_the_same_clock_removes_and_an_older_state_cannot_return() {
        let mut presence = Presence::default();
        presence.apply(&update(&[(1, 3, r#"{"a":1}"#)]));
        presence.apply(&update(&[(1, 3, "null")]));
        assert!(states(&presence).is_empty());
        presence.apply(&update(&[(1, 3, r#"{"a":1}"#)]));
        assert!(states(&presence).is_empty(), "a stale copy does not resurrect the client");
        presence.apply(&update(&[(1, 4, r#"{"a":2}"#)]));
        assert_eq!(states(&presence), [(1, 4, r#"{"a":2}"#.into())]);
    }

    #[test]
    fn removing_a_client_bumps_its_clock_and_says_null() {
        let mut presence = Presence::default();
        presence.apply(&update(&[(1, 5, r#"{"a":1}"#), (2, 1, r#"{"b":1}"#)]));
        let gone = presence.remove(&[ClientID::new(1)]);
        let entry = &gone.clients[&ClientID::new(1)];
        assert_eq!((entry.clock, &*entry.json), (6, NULL));
        assert_eq!(states(&presence), [(2, 1, r#"{"b":1}"#.into())]);
        presence.apply(&update(&[(1, 5, r#"{"a":1}"#)]));
        assert_eq!(states(&presence).len(), 1, "the removal outranks the state it removed");
    }
}
