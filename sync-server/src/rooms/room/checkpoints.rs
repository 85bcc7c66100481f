//! A room's checkpoints: when busy editing calls for one, and writing it beside the room.

use std::sync::atomic::Ordering;

use tokio::sync::Semaphore;

use super::{Room, replay};
use crate::metrics::METRICS;
use crate::state_writes::{Share, worth_rewriting};
use crate::store::{DynStore, LoggedUpdate, NotebookId, Seq, StoreError, StoreResult};

/// After a checkpoint at least this big, the next one is rebuilt from storage beside the
/// room instead of encoded by it. Encoding a document of many small items holds the room
/// up about 12 ms per MB, and every edit in it waits (measured: 144 ms for 11.6 MB in the
/// throughput benchmark); rebuilding costs about three times the CPU, but on another
/// thread. A busy room checkpoints when its log has grown by the last checkpoint's size
/// ([`Share::Whole`]), so the states a room still encodes itself stay under about twice
/// this.
const REBUILD_AFTER_BYTES: usize = 256 * 1024;

/// Log entries a rebuild reads per query.
const REBUILD_PAGE: Seq = 4096;

/// Rebuilds run one at a time across the server: each holds a second copy of a large
/// document while it replays it.
static REBUILDS: Semaphore = Semaphore::const_new(1);

/// A checkpoint being written in the background, and what it covers.
pub(super) struct CheckpointWrite {
    /// Updates and bytes of log it makes unnecessary to replay.
    updates: u64,
    tail_bytes: usize,
    source: Source,
    /// The size of the state written.
    done: tokio::task::JoinHandle<StoreResult<usize>>,
}

/// Where a checkpoint's state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// Encoded by the room from its document: cheap, but the room waits for it.
    Room,
    /// Rebuilt from storage beside the room ([`rebuild`]).
    Storage,
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
    /// anything changed since the previous checkpoint and none is being written. A small
    /// state is encoded by the room, a large one rebuilt from storage
    /// ([`REBUILD_AFTER_BYTES`]); the write (a large value, compressed and synced by the
    /// database) takes longer than either, and the room need not wait for it.
    pub(super) fn start_checkpoint(&mut self) {
        self.start_checkpoint_from(self.checkpoint_source());
    }

    /// Where the next checkpoint's state will come from.
    pub(super) fn checkpoint_source(&self) -> Source {
        if self.checkpoint_bytes >= REBUILD_AFTER_BYTES { Source::Storage } else { Source::Room }
    }

    /// [`Room::start_checkpoint`] with the state encoded by the room whatever its size: for
    /// a room that has just replayed its log, before anyone edits.
    pub(super) fn start_checkpoint_encoded(&mut self) {
        self.start_checkpoint_from(Source::Room);
    }

    /// Encoding reads the live document, so it waits until nothing in it is uncommitted
    /// (nothing unsaved may reach storage ahead of the log); a rebuild reads only the log,
    /// up to the last committed update, and can start at any time.
    fn start_checkpoint_from(&mut self, source: Source) {
        let settled = self.pending.is_empty() && self.in_flight.is_none();
        if self.since_checkpoint == 0 || self.checkpointing.is_some() || (source == Source::Room && !settled)
        {
            return;
        }
        let (store, id, seq) = (self.store.clone(), self.id, self.last_seq);
        let done = match source {
            Source::Room => {
                let state = self.doc.encode_state();
                tokio::spawn(
                    async move { store.write_checkpoint(id, seq, &state).await.map(|()| state.len()) },
                )
            }
            Source::Storage => tokio::spawn(rebuild(store, id, seq)),
        };
        self.checkpointing = Some(CheckpointWrite {
            updates: self.since_checkpoint,
            tail_bytes: self.tail_bytes,
            source,
            done,
        });
    }

    /// Takes in a finished checkpoint write. A failure is logged; the log still has
    /// everything, and a later checkpoint tries again.
    pub(super) fn took_checkpoint(&mut self, written: Result<StoreResult<usize>, tokio::task::JoinError>) {
        let Some(write) = self.checkpointing.take() else { return };
        match written {
            Ok(Ok(state_bytes)) => {
                self.since_checkpoint -= write.updates;
                self.tail_bytes = self.tail_bytes.saturating_sub(write.tail_bytes);
                self.checkpoint_bytes = state_bytes;
                let written = match write.source {
                    Source::Room => &METRICS.checkpoints_encoded,
                    Source::Storage => &METRICS.checkpoints_rebuilt,
                };
                written.fetch_add(1, Ordering::Relaxed);
                if let Some(hook) = &self.config.after_checkpoint {
                    (hook.0)(self.id);
                }
            }
            Ok(Err(e)) => tracing::warn!(notebook = %self.id, error = %e, "checkpoint failed"),
            Err(e) => tracing::warn!(notebook = %self.id, error = %e, "checkpoint task failed"),
        }
    }

    /// Writes a checkpoint of everything committed and waits for it (the room is about to
    /// stop); a write already running finishes first. Nobody is editing any more, so the
    /// room encodes it, whatever its size: that is the cheapest way.
    pub(super) async fn checkpoint(&mut self) {
        self.finish_checkpoint().await;
        self.start_checkpoint_from(Source::Room);
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
) -> Result<StoreResult<usize>, tokio::task::JoinError> {
    match writing {
        Some(write) => (&mut write.done).await,
        None => std::future::pending().await,
    }
}

/// Builds the state as of `upto` from the stored checkpoint and log, as a load would, on a
/// low-priority thread ([`crate::background`]), and writes it as the new checkpoint;
/// returns its size. Everything the room committed is in the log, so this is the state the
/// room would have encoded.
///
/// The log is read a page at a time and handed to the thread as it comes: read in one
/// query, decoding the whole tail (measured 150–470 ms for 6–16 MB) held up the async
/// thread the room shares, and every edit with it.
async fn rebuild(store: DynStore, id: NotebookId, upto: Seq) -> StoreResult<usize> {
    let _turn = REBUILDS.acquire().await.expect("the rebuild semaphore is never closed");
    let started = std::time::Instant::now();
    let checkpoint = store.latest_checkpoint(id).await?;
    let from = checkpoint.as_ref().map_or(0, |c| c.seq);
    if from >= upto {
        // Another writer got there first (a room of another server node).
        return Ok(checkpoint.map_or(0, |c| c.state.len()));
    }
    let (pages, mut received) = tokio::sync::mpsc::channel::<Vec<LoggedUpdate>>(2);
    let replayed = crate::background::run("checkpoint", move || {
        let doc = doc_model::NotebookDoc::new();
        let base = checkpoint.as_ref().map(|c| (c.seq, c.state.as_slice()));
        replay(&doc, None, id, base.into_iter());
        drop(checkpoint);
        while let Some(page) = received.blocking_recv() {
            replay(&doc, None, id, page.iter().map(|u| (u.seq, u.data.as_slice())));
        }
        doc.encode_state()
    });
    let read = async move {
        let mut after = from;
        while after < upto {
            let page_end = (after + REBUILD_PAGE).min(upto);
            let page = store.updates_between(id, after, Some(page_end)).await?;
            after = page_end;
            if pages.send(page).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok::<_, StoreError>(store)
    };
    let (read, replayed) = tokio::join!(read, replayed);
    // A failed read leaves the state short of `upto`: nothing is written.
    let store = read?;
    let state = replayed.map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let built = started.elapsed();
    store.write_checkpoint(id, upto, &state).await?;
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    tracing::debug!(
        notebook = %id,
        seq = upto,
        bytes = state.len(),
        build_ms = ms(built),
        write_ms = ms(started.elapsed() - built),
        "checkpoint rebuilt"
    );
    Ok(state.len())
}

#[cfg(test)]
mod tests {
    use doc_model::{Cell, CellId, NotebookDoc};

    use super::*;
    use crate::store::NewUpdate;
    use crate::store::testing::{notebook, store_with_project};

    async fn append(store: &DynStore, notebook: NotebookId, updates: Vec<Vec<u8>>) -> Vec<Seq> {
        let records: Vec<NewUpdate> = updates
            .into_iter()
            .map(|data| NewUpdate {
                notebook_id: notebook,
                user_id: None,
                client_ids: Vec::new(),
                actor_id: None,
                at: chrono::Utc::now(),
                data,
            })
            .collect();
        store.append_updates(&records).await.expect("append")
    }

    /// A rebuilt checkpoint is the stored one plus the log up to the seq it is written at,
    /// and nothing after it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_rebuilt_checkpoint_holds_the_log_up_to_its_seq() {
        let (_dir, store, _, project) = store_with_project().await;
        let nb = notebook(&store, &project, "big.ipynb").await;
        let doc = NotebookDoc::new();
        let cell = Cell::code("").with_id(CellId::new("c"));
        let insert = |text: &str| doc.edit(|ed| ed.insert_source(&cell.id, 0, text)).expect("edit").1;
        let created = doc.edit(|ed| ed.push_cell(&cell)).expect("cell").1;
        let first = append(&store, nb, vec![created, insert("one ")]).await;
        store.write_checkpoint(nb, first[1], &doc.encode_state()).await.expect("checkpoint");
        let later = append(&store, nb, vec![insert("two "), insert("three "), insert("four ")]).await;

        let written = rebuild(store.clone(), nb, later[1]).await.expect("rebuild");

        let stored = store.load_document(nb).await.expect("load");
        let checkpoint = stored.checkpoint.expect("a checkpoint");
        assert_eq!(checkpoint.seq, later[1]);
        assert_eq!(written, checkpoint.state.len());
        let rebuilt = NotebookDoc::new();
        rebuilt.apply_update(&checkpoint.state).expect("state applies");
        assert_eq!(rebuilt.read().cells[0].source, "three two one ");
        assert_eq!(stored.tail.iter().map(|u| u.seq).collect::<Vec<_>>(), vec![later[2]]);
    }

    /// A log longer than a page is read in several and replayed whole, up to `upto`.
    #[tokio::test(flavor = "current_thread")]
    async fn a_rebuild_reads_a_long_log_page_by_page() {
        let (_dir, store, _, project) = store_with_project().await;
        let nb = notebook(&store, &project, "long.ipynb").await;
        let doc = NotebookDoc::new();
        let cell = Cell::code("").with_id(CellId::new("c"));
        let mut updates = vec![doc.edit(|ed| ed.push_cell(&cell)).expect("cell").1];
        let edits = 2 * REBUILD_PAGE as usize + 10;
        for i in 0..edits {
            updates.push(doc.edit(|ed| ed.insert_source(&cell.id, i as u32, "x")).expect("edit").1);
        }
        let seqs = append(&store, nb, updates).await;
        let upto = seqs[edits - 5];

        rebuild(store.clone(), nb, upto).await.expect("rebuild");

        let checkpoint = store.latest_checkpoint(nb).await.expect("read").expect("a checkpoint");
        assert_eq!(checkpoint.seq, upto);
        let rebuilt = NotebookDoc::new();
        rebuilt.apply_update(&checkpoint.state).expect("state applies");
        assert_eq!(rebuilt.read().cells[0].source.len(), edits - 5, "every edit up to {upto}, none after");
    }
}
