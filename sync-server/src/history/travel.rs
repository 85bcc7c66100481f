//! The notebook as it was at a past moment: from the nearest snapshot or checkpoint at or
//! before that point, plus the log up to it.

use doc_model::NotebookDoc;
use yrs::Transact;
use yrs::updates::decoder::Decode;

use super::{History, HistoryError, rfc3339};
use crate::store::{NotebookId, Seq, Timestamp};

/// A point in a notebook's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Right after the update with this sequence number.
    Seq(Seq),
    /// As it was at this time: after every update logged at or before it.
    At(Timestamp),
}

impl History {
    /// The sequence number a point stands for; `OutOfRange` for a number past the log's
    /// end, below 1, or a time before the notebook's first update.
    pub async fn resolve(&self, notebook: NotebookId, point: Point) -> Result<Seq, HistoryError> {
        match point {
            Point::Seq(seq) => {
                let last = self.store.last_seq(notebook).await?;
                if seq < 1 || seq > last {
                    return Err(HistoryError::OutOfRange(format!(
                        "sequence number {seq} is outside the notebook's history (1 to {last})"
                    )));
                }
                Ok(seq)
            }
            Point::At(at) => match self.store.seq_at(notebook, at).await? {
                0 => Err(HistoryError::OutOfRange(format!(
                    "the notebook did not exist yet at {}",
                    rfc3339(at)
                ))),
                seq => Ok(seq),
            },
        }
    }

    /// The document right after update `seq`. Catches the index up first, so the snapshots
    /// it keeps bound the replay.
    pub async fn state_at(&self, notebook: NotebookId, seq: Seq) -> Result<NotebookDoc, HistoryError> {
        self.catch_up(notebook).await?;
        let (base, tail) = self.stored_upto(notebook, seq).await?;
        tokio::task::spawn_blocking(move || -> Result<NotebookDoc, HistoryError> {
            let doc = NotebookDoc::new();
            let corrupt = |e: doc_model::DocError| HistoryError::Corrupt(e.to_string());
            if let Some(base) = base {
                doc.apply_update(&base.state).map_err(corrupt)?;
            }
            // One transaction for the whole tail: per-update transactions cost more than
            // the updates themselves.
            let mut txn = doc.doc().transact_mut();
            for update in &tail {
                let applied = yrs::Update::decode_v1(&update.data)
                    .map_err(|e| e.to_string())
                    .and_then(|u| txn.apply_update(u).map_err(|e| e.to_string()));
                if let Err(e) = applied {
                    tracing::error!(notebook = %notebook, seq = update.seq, error = %e, "logged update does not apply");
                }
            }
            drop(txn);
            Ok(doc)
        })
        .await?
    }
}
