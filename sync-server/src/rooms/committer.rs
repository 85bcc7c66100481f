//! Group commit: one task writes the updates of every room, batching whatever arrived
//! while the previous transaction was in flight into the next one.
//!
//! This keeps "durable before broadcast" cheap: under load many updates share one
//! transaction (one fsync), and an idle server commits a lone update at once, without
//! waiting for a batching window.

use tokio::sync::{mpsc, oneshot};

use crate::store::{DynStore, NewUpdate, Seq, StoreError, StoreResult};

/// Most updates written in one transaction.
const MAX_BATCH: usize = 1024;

/// A handle for submitting updates to the committer.
#[derive(Debug, Clone)]
pub struct Committer {
    tx: mpsc::Sender<Request>,
}

/// What a submitted request becomes: its sequence numbers once written, or why not. An
/// error on receiving means the committer stopped before writing it.
pub type Outcome = oneshot::Receiver<StoreResult<Vec<Seq>>>;

#[derive(Debug)]
struct Request {
    updates: Vec<NewUpdate>,
    reply: oneshot::Sender<StoreResult<Vec<Seq>>>,
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the committer has stopped")]
    Stopped,
}

impl Committer {
    /// Starts the committer task; it ends when every handle is dropped.
    pub fn spawn(store: DynStore) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Writes `updates` durably and returns their sequence numbers, in order.
    pub async fn commit(&self, updates: Vec<NewUpdate>) -> Result<Vec<Seq>, CommitError> {
        Ok(self.submit(updates).await?.await.map_err(|_| CommitError::Stopped)??)
    }

    /// Queues `updates` for the next transaction without waiting for it, so the caller can
    /// go on working while they are written. Requests are written in the order submitted,
    /// one transaction after another: a later request always gets later sequence numbers.
    pub async fn submit(&self, updates: Vec<NewUpdate>) -> Result<Outcome, CommitError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Request { updates, reply }).await.map_err(|_| CommitError::Stopped)?;
        Ok(rx)
    }
}

async fn run(store: DynStore, mut rx: mpsc::Receiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let mut count = batch[0].updates.len();
        while count < MAX_BATCH {
            match rx.try_recv() {
                Ok(req) => {
                    count += req.updates.len();
                    batch.push(req);
                }
                Err(_) => break,
            }
        }
        write_batch(&store, batch).await;
    }
}

/// Writes one transaction and hands each request its own slice of sequence numbers.
async fn write_batch(store: &DynStore, batch: Vec<Request>) {
    let mut all = Vec::new();
    let mut waiting = Vec::with_capacity(batch.len());
    for req in batch {
        waiting.push((req.updates.len(), req.reply));
        all.extend(req.updates);
    }
    let started = std::time::Instant::now();
    let result = store.append_updates(&all).await;
    crate::metrics::METRICS.record_commit(started.elapsed(), all.len());
    match result {
        Ok(seqs) => {
            let mut seqs = seqs.into_iter();
            for (count, reply) in waiting {
                let _ = reply.send(Ok(seqs.by_ref().take(count).collect()));
            }
        }
        // One room's notebook was deleted under it: the append wrote nothing, and the other
        // rooms' updates must not fail with it. Each request is written again on its own.
        Err(StoreError::NotFound(_)) if waiting.len() > 1 => {
            let mut rest = all.into_iter();
            for (count, reply) in waiting {
                let updates: Vec<NewUpdate> = rest.by_ref().take(count).collect();
                let _ = reply.send(store.append_updates(&updates).await);
            }
        }
        Err(StoreError::NotFound(what)) => {
            for (_, reply) in waiting {
                let _ = reply.send(Err(StoreError::NotFound(what.clone())));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, updates = all.len(), "group commit failed");
            let message = err.to_string();
            for (_, reply) in waiting {
                let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NotebookId;

    fn update(notebook: NotebookId) -> NewUpdate {
        NewUpdate {
            notebook_id: notebook,
            user_id: None,
            client_ids: Vec::new(),
            actor_id: None,
            at: chrono::Utc::now(),
            data: vec![0, 0],
        }
    }

    /// A notebook deleted while its room commits must not fail the other rooms' updates that
    /// share its group commit.
    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_notebook_fails_only_its_own_request() {
        let (_dir, store, _, project) = crate::store::testing::store_with_project().await;
        let kept = crate::store::testing::notebook(&store, &project, "kept.ipynb").await;
        let gone = NotebookId(kept.0 + 100);
        let committer = Committer::spawn(store.clone());
        // On one thread both requests are queued before the committer runs: one batch.
        let (a, b, c) = tokio::join!(
            committer.commit(vec![update(kept)]),
            committer.commit(vec![update(gone)]),
            committer.commit(vec![update(kept), update(kept)]),
        );
        assert_eq!(a.expect("kept notebook's update is written"), vec![1]);
        assert!(matches!(b, Err(CommitError::Store(StoreError::NotFound(_)))), "got {b:?}");
        assert_eq!(c.expect("and so are the next ones"), vec![2, 3]);
        assert_eq!(store.last_seq(kept).await.expect("last seq"), 3);
    }
}
