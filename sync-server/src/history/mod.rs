//! Authorship history (SPEC §1): readable events, blame, the notebook at any past moment,
//! restore and per-user undo.
//!
//! The update log is the history; everything here reads it. Answering "who changed what
//! when" straight from the log would mean replaying it for every request, so the
//! [`indexer`] replays each notebook's log once, in order, and keeps what the answers need
//! in the database: readable events ([`doc_model::history::changes`]), which update
//! inserted and deleted each range of Yjs clocks (for [`blame`]), and full snapshots along
//! the way (for [`travel`]: loading a past state starts from the nearest one). Indexing
//! catches up on demand before each answer, and in the background after rooms checkpoint.

pub mod blame;
pub mod indexer;
pub mod travel;

use std::collections::VecDeque;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{Mutex, Semaphore};

use crate::store::{Checkpoint, DynStore, LoggedUpdate, NotebookId, Seq, StoreError, Timestamp};

pub use blame::{Blame, BlameLine, BlameRun, Deletion};
pub use travel::Point;

/// Why a history request failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A logged update or snapshot does not decode or apply.
    #[error("the notebook's history cannot be read: {0}")]
    Corrupt(String),
    #[error("no cell `{0}` in the notebook at that point")]
    NoSuchCell(String),
    /// A moment or sequence number outside the notebook's history.
    #[error("{0}")]
    OutOfRange(String),
    #[error("history work failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The history service: one per server (or CLI command).
#[derive(Debug)]
pub struct History {
    store: DynStore,
    /// A user's edits to the same part of a cell closer than this are one event.
    gap: chrono::Duration,
    /// One indexer per notebook at a time in this process (several processes are kept
    /// apart by the progress check of `write_history`). The lock holds the indexer's
    /// state where the last run left it, so the next run goes on from there instead of
    /// rebuilding the document from a snapshot: for a busy notebook that rebuild costs far
    /// more than the updates it indexes.
    indexing: DashMap<NotebookId, Arc<Mutex<Option<indexer::Warm>>>>,
    /// Notebooks whose state is kept warm, most recently indexed first; at most
    /// [`WARM_KEPT`], so idle notebooks do not each keep a copy of their document.
    warm: std::sync::Mutex<VecDeque<NotebookId>>,
    /// Background indexing runs one notebook at a time: after a burst of checkpoints (a
    /// server with many rooms that went idle together) it must not take every core from
    /// live editing, nor start a thread and a copy of a document for each notebook at once.
    background: Semaphore,
}

/// How many notebooks' indexer states stay in memory between runs.
const WARM_KEPT: usize = 8;

impl History {
    pub fn new(store: DynStore, gap: chrono::Duration) -> Self {
        Self {
            store,
            gap,
            indexing: DashMap::new(),
            warm: std::sync::Mutex::new(VecDeque::new()),
            background: Semaphore::new(1),
        }
    }

    /// Notes that `notebook` now keeps a warm state, and drops the state of the notebook
    /// indexed least recently if that makes more than [`WARM_KEPT`]. One being indexed right
    /// now keeps its state and enters the list again when it finishes.
    fn keep_warm(&self, notebook: NotebookId) {
        let evicted = {
            let mut warm = self.warm.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            warm.retain(|id| *id != notebook);
            warm.push_front(notebook);
            if warm.len() > WARM_KEPT { warm.pop_back() } else { None }
        };
        if let Some(old) = evicted {
            if let Some(lock) = self.indexing.get(&old).map(|l| l.clone())
                && let Ok(mut state) = lock.try_lock()
            {
                *state = None;
            }
            self.forget_if_cold(old);
        }
    }

    /// Drops a notebook's entry when it keeps no warm state and nobody is indexing it, so
    /// the map holds only the notebooks in use, not every notebook ever indexed. The map's
    /// shard lock is held meanwhile, so nobody can pick the entry up while it goes.
    fn forget_if_cold(&self, notebook: NotebookId) {
        self.indexing.remove_if(&notebook, |_, lock| {
            Arc::strong_count(lock) == 1 && lock.try_lock().is_ok_and(|state| state.is_none())
        });
    }

    /// What the document as of `upto` is made of: the nearest stored state at or before
    /// it (a snapshot or a checkpoint) and the log from there to `upto`.
    async fn stored_upto(
        &self,
        notebook: NotebookId,
        upto: Seq,
    ) -> Result<(Option<Checkpoint>, Vec<LoggedUpdate>), HistoryError> {
        let base = self.store.nearest_state(notebook, upto).await?;
        let from = base.as_ref().map_or(0, |b| b.seq);
        let tail = if from < upto {
            self.store.updates_between(notebook, from, Some(upto)).await?
        } else {
            Vec::new()
        };
        Ok((base, tail))
    }

    /// Indexes the notebook in the background (after a room checkpoint), so the next
    /// history request finds little left to do. Does nothing if indexing is under way.
    pub fn index_soon(self: &Arc<Self>, notebook: NotebookId) {
        // Looked up, not created: a notebook nobody indexes has no entry, and one made
        // here would only wait in the map until the queued run takes its turn.
        if self.indexing.get(&notebook).is_some_and(|lock| lock.try_lock().is_err()) {
            return;
        }
        let history = self.clone();
        tokio::spawn(async move {
            let Ok(_turn) = history.background.acquire().await else { return };
            if let Err(e) = history.catch_up(notebook).await {
                tracing::warn!(notebook = %notebook, error = %e, "history indexing failed");
            }
        });
    }

    fn lock_for(&self, notebook: NotebookId) -> Arc<Mutex<Option<indexer::Warm>>> {
        self.indexing.entry(notebook).or_default().clone()
    }
}

/// Timestamps as the API shows them: RFC 3339 with milliseconds, UTC.
pub fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewUpdate;

    /// The per-notebook indexer entries stay bounded by the warm states kept, however
    /// many notebooks were indexed; one forgotten is indexed again from its stored progress.
    #[tokio::test]
    async fn only_warm_notebooks_keep_an_indexer_entry() {
        let (_dir, store, user, project) = crate::store::testing::store_with_project().await;
        let history = Arc::new(History::new(store.clone(), chrono::Duration::minutes(5)));
        let mut notebooks = Vec::new();
        for i in 0..WARM_KEPT + 4 {
            let nb = crate::store::testing::notebook(&store, &project, &format!("n{i}.ipynb")).await;
            let empty = NewUpdate {
                notebook_id: nb,
                user_id: Some(user.id),
                client_ids: Vec::new(),
                actor_id: None,
                at: chrono::Utc::now(),
                data: vec![0, 0],
            };
            store.append_updates(&[empty.clone(), empty]).await.expect("append");
            assert_eq!(history.catch_up(nb).await.expect("indexed"), 2);
            notebooks.push(nb);
        }
        assert_eq!(history.indexing.len(), WARM_KEPT);
        assert!(!history.indexing.contains_key(&notebooks[0]), "the coldest notebook is forgotten");
        assert_eq!(history.catch_up(notebooks[0]).await.expect("indexed again"), 2);
        assert_eq!(history.indexing.len(), WARM_KEPT);
    }
}
