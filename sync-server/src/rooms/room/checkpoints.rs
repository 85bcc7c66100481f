//! A room's checkpoints: when busy editing calls for one, and writing it beside the room.

use super::Room;
use crate::state_writes::{Share, worth_rewriting};
use crate::store::StoreResult;

/// A checkpoint being written in the background, and what it covers.
pub(super) struct CheckpointWrite {
    /// Updates and bytes of log it makes unnecessary to replay.
    updates: u64,
    tail_bytes: usize,
    state_bytes: usize,
    done: tokio::task::JoinHandle<StoreResult<()>>,
}

impl Room {
    /// Whether busy editing calls for a checkpoint now: after `checkpoint_every` updates,
    /// and for a large document only once those updates add up to its size
    /// ([`crate::state_writes`]). Quiet rooms and rooms being evicted checkpoint regardless.
    pub(super) fn checkpoint_due(&self) -> bool {
        self.checkpointing.is_none()
            && self.since_checkpoint >= self.config.checkpoint_every
            && worth_rewriting(self.tail_bytes, self.checkpoint_bytes, Share::Whole)
    }

    /// Starts writing the full state as of the last committed update in the background, if
    /// anything changed since the previous checkpoint and none is being written. Encoding
    /// holds the room up (about 10 ms per MB); the write (a large value, compressed and
    /// synced by the database) takes longer, and the room need not wait for it.
    pub(super) fn start_checkpoint(&mut self) {
        let settled = self.pending.is_empty() && self.in_flight.is_none();
        if self.since_checkpoint == 0 || !settled || self.checkpointing.is_some() {
            return;
        }
        let state = self.doc.encode_state();
        let state_bytes = state.len();
        let (store, id, seq) = (self.store.clone(), self.id, self.last_seq);
        let done = tokio::spawn(async move { store.write_checkpoint(id, seq, &state).await });
        self.checkpointing = Some(CheckpointWrite {
            updates: self.since_checkpoint,
            tail_bytes: self.tail_bytes,
            state_bytes,
            done,
        });
    }

    /// Takes in a finished checkpoint write. A failure is logged; the log still has
    /// everything, and a later checkpoint tries again.
    pub(super) fn took_checkpoint(&mut self, written: Result<StoreResult<()>, tokio::task::JoinError>) {
        let Some(write) = self.checkpointing.take() else { return };
        match written {
            Ok(Ok(())) => {
                self.since_checkpoint -= write.updates;
                self.tail_bytes = self.tail_bytes.saturating_sub(write.tail_bytes);
                self.checkpoint_bytes = write.state_bytes;
                if let Some(hook) = &self.config.after_checkpoint {
                    (hook.0)(self.id);
                }
            }
            Ok(Err(e)) => tracing::warn!(notebook = %self.id, error = %e, "checkpoint failed"),
            Err(e) => tracing::warn!(notebook = %self.id, error = %e, "checkpoint task failed"),
        }
    }

    /// Writes a checkpoint of everything committed and waits for it (the room is about to
    /// stop); a write already running finishes first.
    pub(super) async fn checkpoint(&mut self) {
        self.finish_checkpoint().await;
        self.start_checkpoint();
        self.finish_checkpoint().await;
    }

    /// Waits for the checkpoint write running, if any, and takes it in.
    pub(super) async fn finish_checkpoint(&mut self) {
        if let Some(write) = self.checkpointing.as_mut() {
            let written = (&mut write.done).await;
            self.took_checkpoint(written);
        }
    }
}

/// The end of the checkpoint write running; never ready when there is none.
pub(super) async fn checkpoint_written(
    writing: &mut Option<CheckpointWrite>,
) -> Result<StoreResult<()>, tokio::task::JoinError> {
    match writing {
        Some(write) => (&mut write.done).await,
        None => std::future::pending().await,
    }
}
