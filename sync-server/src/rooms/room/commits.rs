//! Committing what a room applied: pipelined group commits, broadcasting each batch once
//! it is durable, and taking in what other writers appended to the log.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::oneshot;
use yrs::sync::{Message, SyncMessage};
use yrs::{ReadTxn, Transact};

use super::checkpoints::Source;
use super::checks::record_trusted;
use super::{Pending, Room, encode};
use crate::metrics::METRICS;
use crate::rooms::committer::{CommitError, Outcome};
use crate::store::{NewUpdate, Seq, StoreError, StoreResult};

/// Most updates merged into one broadcast frame. yrs merges n updates in O(n² log n) time
/// (it sorts all of them again for each block it writes): merging the 4,500 updates of one
/// batch from a client replaying its edits took the room seconds; 32 at a time take
/// microseconds each.
const MERGE_MAX: usize = 32;

/// A batch handed to the committer whose outcome the room has not taken in yet.
pub(super) struct InFlight {
    batch: Vec<Pending>,
    outcome: Outcome,
}

/// What became of a batch handed to the committer (an error on receiving: it stopped).
pub(super) type Landed = Result<StoreResult<Vec<Seq>>, oneshot::error::RecvError>;

impl Room {
    /// Hands the pending updates to the committer without waiting for them, unless a batch
    /// is already in flight: then they follow once it has landed ([`Room::landed`]).
    pub(super) async fn start_commit(&mut self) {
        if self.in_flight.is_some() || self.pending.is_empty() {
            return;
        }
        let records: Vec<NewUpdate> = self.pending.iter().map(|p| p.record.clone()).collect();
        match self.committer.submit(records).await {
            Ok(outcome) => {
                self.in_flight = Some(InFlight { batch: std::mem::take(&mut self.pending), outcome })
            }
            // The committer stopped: flush says so and keeps retrying until shutdown.
            Err(_) => self.flush().await,
        }
    }

    /// Takes in the outcome of the batch in flight: broadcasts it and sends the next one,
    /// or, if it failed, retries everything unsent the slow way ([`Room::flush`]).
    pub(super) async fn landed(&mut self, outcome: Landed) {
        let Some(InFlight { batch, .. }) = self.in_flight.take() else { return };
        if !self.take_in(batch, outcome).await {
            if !self.deleted {
                self.flush().await;
            }
        } else {
            if self.checkpoint_due() {
                // Encoding in the room needs everything committed first; a rebuild does not,
                // and the room goes on committing meanwhile.
                if self.checkpoint_source() == Source::Room {
                    self.flush().await;
                }
                self.start_checkpoint();
            }
            self.start_commit().await;
        }
    }

    /// What a batch's outcome means for the room: written, it is broadcast (true); the
    /// notebook gone, everything unsent is dropped; otherwise nothing of it was written and
    /// it goes back ahead of what came after it, for [`Room::flush`] to retry.
    async fn take_in(&mut self, batch: Vec<Pending>, outcome: Landed) -> bool {
        match outcome {
            Ok(Ok(seqs)) => {
                self.committed(batch, &seqs).await;
                return true;
            }
            Ok(Err(StoreError::NotFound(_))) => self.notebook_gone(batch.len()),
            Ok(Err(_)) | Err(_) => {
                self.pending.splice(0..0, batch);
            }
        }
        false
    }

    /// Commits everything applied so far, the batch in flight first, retrying while the
    /// database is unavailable, and broadcasts it. Nothing is sent to anyone until its
    /// commit succeeded. Afterwards the room's state is all durable.
    pub(super) async fn flush(&mut self) {
        if let Some(InFlight { batch, outcome }) = self.in_flight.take() {
            let outcome = outcome.await;
            if !self.take_in(batch, outcome).await && self.deleted {
                return;
            }
        }
        if self.pending.is_empty() {
            return;
        }
        let records: Vec<NewUpdate> = self.pending.iter().map(|p| p.record.clone()).collect();
        let mut backoff = Duration::from_millis(100);
        let mut degraded = false;
        let seqs = loop {
            match self.committer.commit(records.clone()).await {
                Ok(seqs) => break seqs,
                Err(CommitError::Store(StoreError::NotFound(_))) => return self.notebook_gone(0),
                Err(e) => {
                    if !degraded {
                        degraded = true;
                        tracing::warn!(notebook = %self.id, error = %e, "database unavailable; edits paused");
                        self.accepting.store(false, Ordering::SeqCst);
                        let notice = Message::Auth(Some(
                            "database unavailable: edits are paused and not saved; they will sync when it returns".into(),
                        ));
                        self.broadcast(&encode(&notice), None);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        // Shutting down: nobody has seen these updates, so dropping them
                        // breaks no promise.
                        _ = self.shutdown.cancelled() => { self.pending.clear(); return; }
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        let batch = std::mem::take(&mut self.pending);
        self.committed(batch, &seqs).await;
        if degraded {
            tracing::info!(notebook = %self.id, "database back; edits resumed");
            self.accepting.store(true, Ordering::SeqCst);
            // Ask every client for what we lack: edits refused during the outage come back.
            let sv = self.doc.doc().transact().state_vector();
            self.broadcast(&encode(&Message::Sync(SyncMessage::SyncStep1(sv))), None);
        }
        if self.checkpoint_due() {
            self.start_checkpoint();
        }
    }

    /// The notebook was deleted while these updates waited: nobody has seen them, and there
    /// is nowhere to keep them. The room closes everyone and stops.
    pub(super) fn notebook_gone(&mut self, in_flight: usize) {
        let dropped = in_flight + self.pending.len();
        tracing::info!(notebook = %self.id, updates = dropped, "notebook deleted; pending updates dropped");
        self.pending.clear();
        self.deleted = true;
    }

    /// Broadcasts a batch that has been written, with sequence numbers `seqs`.
    pub(super) async fn committed(&mut self, batch: Vec<Pending>, seqs: &[Seq]) {
        let gap = seqs.first().is_some_and(|first| *first > self.last_seq + 1);
        let first_seq = seqs.first().copied().unwrap_or(self.last_seq + 1);
        self.since_checkpoint += batch.len() as u64;
        self.tail_bytes += batch.iter().map(|p| p.record.data.len()).sum::<usize>();
        self.broadcast_batch(batch);
        // A gap means someone else appended to this notebook's log (its creation racing
        // with its first connection, or another server node): take those updates in too,
        // or a later checkpoint would claim to cover them without holding them. Until that
        // works, `last_seq` stays before the gap; a checkpoint then holds more than its
        // sequence number says, which is safe because replaying an update is idempotent.
        let caught_up = !gap || self.catch_up(first_seq - 1).await;
        if let (true, Some(last)) = (caught_up, seqs.last()) {
            self.last_seq = self.last_seq.max(*last);
        }
    }

    /// Applies and broadcasts log entries after `last_seq` up to `upto` that this room did
    /// not write itself; false if they could not be read.
    pub(super) async fn catch_up(&mut self, upto: Seq) -> bool {
        match self.store.updates_between(self.id, self.last_seq, Some(upto)).await {
            Ok(updates) => {
                for update in updates {
                    record_trusted(&mut self.structure, self.id, &update.data);
                    if let Err(e) = self.doc.apply_update(&update.data) {
                        tracing::error!(notebook = %self.id, seq = update.seq, error = %e, "logged update does not apply");
                        continue;
                    }
                    self.tail_bytes += update.data.len();
                    self.broadcast(&encode(&Message::Sync(SyncMessage::Update(update.data))), None);
                    self.last_seq = self.last_seq.max(update.seq);
                    self.since_checkpoint += 1;
                }
                true
            }
            Err(e) => {
                tracing::warn!(notebook = %self.id, error = %e, "cannot read updates written elsewhere");
                false
            }
        }
    }

    /// Sends a committed batch. A lone update goes to everyone but its sender; several are
    /// merged into one frame for everyone (echoing a client's own edit is harmless in Yjs),
    /// so a busy room costs each connection one frame per commit, or a few for a big batch
    /// ([`MERGE_MAX`]).
    pub(super) fn broadcast_batch(&self, batch: Vec<Pending>) {
        for p in &batch {
            METRICS.update_delay.record(p.received.elapsed());
        }
        for chunk in batch.chunks(MERGE_MAX) {
            match chunk {
                [one] => {
                    let frame = encode(&Message::Sync(SyncMessage::Update(one.record.data.clone())));
                    self.broadcast(&frame, one.from);
                }
                many => match yrs::merge_updates_v1(many.iter().map(|p| p.record.data.as_slice())) {
                    Ok(update) => self.broadcast(&encode(&Message::Sync(SyncMessage::Update(update))), None),
                    Err(e) => {
                        tracing::error!(notebook = %self.id, error = %e, "cannot merge updates; sending them one by one");
                        for p in many {
                            let frame = encode(&Message::Sync(SyncMessage::Update(p.record.data.clone())));
                            self.broadcast(&frame, p.from);
                        }
                    }
                },
            }
        }
    }
}

/// The outcome of the batch in flight; never ready when there is none.
pub(super) async fn landing(in_flight: &mut Option<InFlight>) -> Landed {
    match in_flight {
        Some(flight) => (&mut flight.outcome).await,
        None => std::future::pending().await,
    }
}
