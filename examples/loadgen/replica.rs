//! One client's copy of the document and its side of the y-sync protocol, with no IO:
//! binary frames in, binary frames out. The codec and the protocol rules are yrs's own
//! (`Message`, `MessageReader`, `DefaultProtocol`), not a copy.

use std::time::Instant;

use anyhow::{Context as _, anyhow};
use yrs::encoding::read::Cursor;
use yrs::sync::{Awareness, DefaultProtocol, Message, MessageReader, Protocol, SyncMessage};
use yrs::updates::decoder::DecoderV1;
use yrs::updates::encoder::Encode;
use yrs::{ArrayRef, Doc, ReadTxn as _, StateVector, Transact};

use crate::tracker::{SharedLog, lock, micros_since};

/// The document, its awareness and the root `cells` array.
#[derive(Debug)]
pub struct Replica {
    awareness: Awareness,
    cells: ArrayRef,
}

/// What one frame from the server amounted to.
#[derive(Debug, Default)]
pub struct Incoming {
    /// Frames to send back (e.g. sync step 2 answering the server's step 1), one message each.
    pub replies: Vec<Vec<u8>>,
    /// A sync step 2 arrived: the answer to a step 1 of ours.
    pub sync_step2: u32,
    /// Sync messages that carried document content (step 2 or update).
    pub updates: u32,
    /// Permission-denied reasons the server sent (message type 2).
    pub denied: Vec<String>,
}

/// Where a replica reports what arrives (see [`Replica::watch_inserts`]).
#[derive(Debug, Clone)]
pub struct InsertWatch {
    pub epoch: Instant,
    pub log: SharedLog,
}

impl Replica {
    /// A fresh replica whose awareness announces `name`, as an editor's client would.
    pub fn new(name: &str) -> Self {
        let doc = Doc::new();
        let cells = doc.get_or_insert_array("cells");
        let mut awareness = Awareness::new(doc);
        // Only fails if the state cannot be serialised, which a literal can always be.
        let _ = awareness.set_local_state(serde_json::json!({ "user": { "name": name } }));
        Replica { awareness, cells }
    }

    pub fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    pub fn cells(&self) -> &ArrayRef {
        &self.cells
    }

    pub fn state_vector(&self) -> StateVector {
        self.doc().transact().state_vector()
    }

    /// Size of the whole document encoded as one update, a measure of what a new client loads.
    pub fn encoded_len(&self) -> usize {
        self.doc().transact().encode_state_as_update_v1(&StateVector::default()).len()
    }

    /// The opening frames of a y-websocket client: sync step 1, then our awareness state.
    /// One message per frame, because y-websocket 1.x servers read only the first message
    /// of each frame.
    pub fn hello(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        let awareness = self.awareness.update().context("encoding awareness")?;
        Ok(vec![self.sync_step1(), Message::Awareness(awareness).encode_v1()])
    }

    /// A sync step 1 with our state vector; the server answers with what we lack.
    pub fn sync_step1(&self) -> Vec<u8> {
        Message::Sync(SyncMessage::SyncStep1(self.state_vector())).encode_v1()
    }

    /// A document update as a y-sync message.
    pub fn update_message(update: Vec<u8>) -> Vec<u8> {
        Message::Sync(SyncMessage::Update(update)).encode_v1()
    }

    /// Handles every message in one frame (a frame may hold several). Permission-denied and
    /// unknown message types are reported or skipped rather than treated as fatal, so a
    /// server's extensions do not stop a run; a malformed message or update is an error.
    pub fn handle_frame(&mut self, data: &[u8]) -> anyhow::Result<Incoming> {
        let mut incoming = Incoming::default();
        let mut decoder = DecoderV1::new(Cursor::new(data));
        for message in MessageReader::new(&mut decoder) {
            let message = message.context("malformed message from server")?;
            match &message {
                Message::Auth(reason) => {
                    incoming.denied.extend(reason.clone());
                    continue;
                }
                Message::Custom(..) => continue,
                Message::Sync(SyncMessage::SyncStep2(_)) => {
                    incoming.sync_step2 += 1;
                    incoming.updates += 1;
                }
                Message::Sync(SyncMessage::Update(_)) => incoming.updates += 1,
                _ => {}
            }
            let reply = DefaultProtocol
                .handle_message(&mut self.awareness, message)
                .context("applying a message from the server")?;
            incoming.replies.extend(reply.map(|m| m.encode_v1()));
        }
        Ok(incoming)
    }

    /// Records, in `watch.log`, the Yjs id ranges that each transaction from the server
    /// inserted, stamped with the moment it was applied (see [`crate::tracker`] for why ids
    /// and not the marker text). Own edits carry [`LOCAL_ORIGIN`] and are skipped: an edit's
    /// latency is measured at the others.
    ///
    /// [`LOCAL_ORIGIN`]: crate::notebook::LOCAL_ORIGIN
    pub fn watch_inserts(&self, watch: InsertWatch) -> anyhow::Result<()> {
        self.doc()
            .observe_after_transaction("loadgen-inserts", move |txn| {
                if txn.origin().is_some() {
                    return;
                }
                let at = micros_since(watch.epoch, Instant::now());
                let mut log = lock(&watch.log);
                for (client, ranges) in txn.insert_set().iter() {
                    log.seen.extend(ranges.iter().map(|range| (*client, range.clone(), at)));
                }
            })
            .map_err(|e| anyhow!("cannot observe the document: {e}"))
    }

    /// Every cell's source, in order, once there is a cell (see [`crate::notebook::all_sources`]).
    pub fn source_text(&self) -> Option<String> {
        let txn = self.doc().transact();
        crate::notebook::first_source(&txn, &self.cells)?;
        Some(crate::notebook::all_sources(&txn, &self.cells))
    }
}

/// Whether `have` contains everything `want` does (every client's clock at least as far).
pub fn covers(have: &StateVector, want: &StateVector) -> bool {
    want.iter().all(|(client, clock)| have.get(client) >= *clock)
}
