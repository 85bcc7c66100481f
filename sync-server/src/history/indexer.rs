//! The history indexer: replays a notebook's log in order, once, and stores what the
//! history API reads (see [`super`]).
//!
//! Each step reads up to [`STEP`] updates after the stored progress, replays them on a
//! [`Replayer`] holding the document as of the progress, and writes in one transaction:
//! the events they make (a user's consecutive changes to the same part of a cell within
//! the grouping gap extend one event), the clock ranges each update inserted and deleted,
//! a snapshot at every multiple of [`SNAPSHOT_EVERY`] (a large notebook skips some, see
//! [`crate::state_writes`]), and the new progress. The write is
//! conditional on the progress it started from, so two indexers (two server nodes, or a
//! server and a CLI command) never write the same step twice.

use std::collections::{BTreeMap, HashMap};

use doc_model::UserId;
use doc_model::guard::scan::BlockKind;
use doc_model::guard::scan_update;
use doc_model::history::changes::{Change, ChangeKind, Replayer};
use serde_json::Value;
use yrs::{ReadTxn, Transact};

use super::{History, HistoryError};
use crate::state_writes::{Share, worth_rewriting};
use crate::store::{ClockSpan, HistoryBatch, HistoryEventRow, LoggedUpdate, NotebookId, Seq};

/// Updates indexed per step (one read, one transaction).
pub const STEP: i64 = 2000;

/// Updates between two kept snapshots: time travel replays at most this many (for a large
/// notebook, at most a quarter of its size in updates).
pub const SNAPSHOT_EVERY: i64 = 2000;

/// An open group: who, which cell (`None`: notebook-wide), what kind.
type GroupKey = (Option<UserId>, Option<String>, ChangeKind);

/// Kinds whose consecutive changes by one user within the gap are one event; the others
/// (a cell created, a mode changed…) are events on their own.
fn groups(kind: ChangeKind) -> bool {
    matches!(
        kind,
        ChangeKind::SourceEdited
            | ChangeKind::OutputsChanged
            | ChangeKind::MetadataChanged
            | ChangeKind::NotebookMetadataChanged
            | ChangeKind::AttachmentsChanged
    )
}

impl History {
    /// Indexes everything logged so far that is not indexed yet; returns the progress.
    pub async fn catch_up(&self, notebook: NotebookId) -> Result<Seq, HistoryError> {
        let lock = self.lock_for(notebook);
        let caught_up = self.catch_up_locked(notebook, &lock).await;
        drop(lock);
        self.forget_if_cold(notebook);
        caught_up
    }

    async fn catch_up_locked(
        &self,
        notebook: NotebookId,
        lock: &tokio::sync::Mutex<Option<Warm>>,
    ) -> Result<Seq, HistoryError> {
        let mut warm = lock.lock().await;
        'again: loop {
            let progress = self.store.history_progress(notebook).await?;
            let last = self.store.last_seq(notebook).await?;
            if progress >= last {
                return Ok(progress);
            }
            let started = std::time::Instant::now();
            let mut state = match warm.take() {
                // Still where this process left it: nobody else indexed in between.
                Some(Warm { progress: at, state }) if at == progress => state,
                _ => self.resume(notebook, progress).await?,
            };
            let mut after = progress;
            while after < last {
                let upto = (after + STEP).min(last);
                let updates = self.store.updates_between(notebook, after, Some(upto)).await?;
                let gap = self.gap;
                let (back, batch) = tokio::task::spawn_blocking(move || {
                    let batch = state.index(notebook, after, upto, &updates, gap);
                    (state, batch)
                })
                .await?;
                state = back;
                if !self.store.write_history(&batch).await? {
                    // Another indexer wrote this step: start again from its progress.
                    continue 'again;
                }
                after = upto;
            }
            if last - progress > STEP {
                tracing::info!(notebook = %notebook, updates = last - progress, ms = started.elapsed().as_millis() as u64, "history indexed");
            }
            *warm = Some(Warm { progress: after, state });
            drop(warm);
            self.keep_warm(notebook);
            return Ok(after);
        }
    }

    /// The indexer's state as of `progress`: the document (from the nearest snapshot or
    /// checkpoint plus the log after it) and the groups that may still grow.
    async fn resume(&self, notebook: NotebookId, progress: Seq) -> Result<IndexState, HistoryError> {
        let (replayer, sizes) = self.replayer_at(notebook, progress).await?;
        let mut open = HashMap::new();
        if progress > 0 {
            let last = self.store.update_meta(notebook, &[progress]).await?;
            if let Some(last) = last.first() {
                for row in self.store.history_events_since(notebook, last.at - self.gap).await? {
                    let Some(kind) = ChangeKind::parse(&row.kind) else { continue };
                    if !groups(kind) {
                        continue;
                    }
                    let key = (row.user_id, row.cell_id.clone(), kind);
                    let newer = open.get(&key).is_none_or(|old: &HistoryEventRow| {
                        (old.first_seq, old.part) < (row.first_seq, row.part)
                    });
                    if newer {
                        open.insert(key, row);
                    }
                }
            }
        }
        Ok(IndexState { replayer, open, sizes })
    }

    /// A replayer holding the document as of `upto`, and the sizes of the stored state it
    /// started from and of the updates after it.
    async fn replayer_at(
        &self,
        notebook: NotebookId,
        upto: Seq,
    ) -> Result<(Replayer, StateSizes), HistoryError> {
        let (base, tail) = self.stored_upto(notebook, upto).await?;
        let sizes = StateSizes {
            state: base.as_ref().map_or(0, |b| b.state.len()),
            since: tail.iter().map(|u| u.data.len()).sum(),
        };
        let replayer = tokio::task::spawn_blocking(move || -> Result<Replayer, HistoryError> {
            let mut replayer = match base {
                Some(base) => Replayer::from_state(&base.state).map_err(|e| HistoryError::Corrupt(e.to_string()))?,
                None => Replayer::new(),
            };
            for update in &tail {
                if let Err(e) = replayer.apply(&update.data) {
                    tracing::error!(notebook = %notebook, seq = update.seq, error = %e, "logged update does not apply");
                }
            }
            Ok(replayer)
        })
        .await??;
        Ok((replayer, sizes))
    }
}

/// The size of the newest stored state the indexer knows of, and the bytes of the updates
/// replayed since: whether the next snapshot is worth writing ([`crate::state_writes`]).
#[derive(Debug, Clone, Copy)]
struct StateSizes {
    state: usize,
    since: usize,
}

/// An indexer's state kept between runs, with the progress it stands at.
#[derive(Debug)]
pub(super) struct Warm {
    progress: Seq,
    state: IndexState,
}

/// What the indexer carries from one step to the next.
#[derive(Debug)]
struct IndexState {
    replayer: Replayer,
    /// Groups the next updates may extend, by who, cell and kind.
    open: HashMap<GroupKey, HistoryEventRow>,
    sizes: StateSizes,
}

impl IndexState {
    /// Replays `updates` (the log after `after`, up to `upto`) and returns what to write.
    fn index(
        &mut self,
        notebook: NotebookId,
        after: Seq,
        upto: Seq,
        updates: &[LoggedUpdate],
        gap: chrono::Duration,
    ) -> HistoryBatch {
        let mut touched: BTreeMap<(Seq, i32), HistoryEventRow> = BTreeMap::new();
        let mut batch = HistoryBatch {
            notebook_id: notebook,
            after,
            upto,
            events: Vec::new(),
            inserted: Vec::new(),
            deleted: Vec::new(),
            snapshot: None,
        };
        for update in updates {
            self.spans(update, &mut batch);
            let changes = match self.replayer.apply(&update.data) {
                Ok(changes) => changes,
                Err(e) => {
                    tracing::error!(notebook = %notebook, seq = update.seq, error = %e, "logged update does not apply");
                    continue;
                }
            };
            let user = update.user_id.or(update.actor_id);
            let mut part = 0;
            for change in changes {
                let row = self.record(notebook, update, user, change, &mut part, gap);
                touched.insert((row.first_seq, row.part), row);
            }
            // At fixed sequence numbers, so however the log is cut into steps (and by
            // whichever indexer), one snapshot in every SNAPSHOT_EVERY updates is kept; for
            // a large notebook only once the updates since the last one are a fair share of
            // its size, or encoding snapshots would cost more than everything else.
            self.sizes.since += update.data.len();
            if update.seq % SNAPSHOT_EVERY == 0
                && worth_rewriting(self.sizes.since, self.sizes.state, Share::Quarter)
            {
                let state = self.replayer.doc().encode_state();
                self.sizes = StateSizes { state: state.len(), since: 0 };
                batch.snapshot = Some((update.seq, state));
            }
        }
        // Groups that can no longer grow need not be carried.
        if let Some(last) = updates.last() {
            self.open.retain(|_, row| last.at.signed_duration_since(row.last_at) <= gap);
        }
        batch.events = touched.into_values().collect();
        batch
    }

    /// Adds one change to its open group, or starts a new event; returns the row as it is
    /// now.
    fn record(
        &mut self,
        notebook: NotebookId,
        update: &LoggedUpdate,
        user: Option<UserId>,
        change: Change,
        part: &mut i32,
        gap: chrono::Duration,
    ) -> HistoryEventRow {
        // Made by the server in the user's name (a restore, an undo): an event of its own,
        // marked so undo can tell it from the user's typing.
        let server_made = update.actor_id.is_some() && update.user_id.is_some();
        let mut change = change;
        if server_made && let Value::Object(detail) = &mut change.detail {
            detail.insert("server_edit".into(), Value::Bool(true));
        }
        let key = (user, change.cell_id.clone(), change.kind);
        if groups(change.kind)
            && !server_made
            && let Some(row) = self.open.get_mut(&key)
            && update.at.signed_duration_since(row.last_at) <= gap
        {
            row.last_seq = update.seq;
            row.last_at = row.last_at.max(update.at);
            row.updates += 1;
            row.added += i64::from(change.added);
            row.removed += i64::from(change.removed);
            row.detail = merge_detail(&row.detail, change.detail);
            return row.clone();
        }
        let row = HistoryEventRow {
            notebook_id: notebook,
            first_seq: update.seq,
            part: *part,
            last_seq: update.seq,
            user_id: user,
            kind: change.kind.as_str().to_owned(),
            cell_id: change.cell_id,
            first_at: update.at,
            last_at: update.at,
            updates: 1,
            added: i64::from(change.added),
            removed: i64::from(change.removed),
            detail: change.detail,
        };
        *part += 1;
        if groups(change.kind) && !server_made {
            self.open.insert(key, row.clone());
        }
        row
    }

    /// The clock ranges `update` inserted (new to the document: a resent item is not
    /// inserted again) and deleted.
    fn spans(&self, update: &LoggedUpdate, batch: &mut HistoryBatch) {
        let scanned = match scan_update(&update.data) {
            Ok(scanned) => scanned,
            Err(e) => {
                tracing::error!(seq = update.seq, error = %e, "logged update does not scan");
                return;
            }
        };
        let known = self.replayer.doc().doc().transact().state_vector();
        for block in &scanned.blocks {
            if !matches!(block.kind, BlockKind::Item(_)) {
                continue;
            }
            let start = block.id.clock.max(known.get(&block.id.client));
            if block.end() <= start {
                continue;
            }
            let span = ClockSpan {
                client_id: block.id.client.get(),
                clock_start: start,
                clock_end: block.end(),
                seq: update.seq,
            };
            push_span(&mut batch.inserted, span);
        }
        for (client, range) in &scanned.deletes {
            let span = ClockSpan {
                client_id: client.get(),
                clock_start: range.start,
                clock_end: range.end,
                seq: update.seq,
            };
            push_span(&mut batch.deleted, span);
        }
    }
}

/// Appends a span, joining it to the previous one when they continue each other.
fn push_span(spans: &mut Vec<ClockSpan>, span: ClockSpan) {
    if let Some(last) = spans.last_mut()
        && last.client_id == span.client_id
        && last.seq == span.seq
        && last.clock_end == span.clock_start
    {
        last.clock_end = span.clock_end;
        return;
    }
    spans.push(span);
}

/// A grown group's detail: metadata keys accumulate; otherwise the newest detail wins.
fn merge_detail(old: &Value, new: Value) -> Value {
    match (old.get("keys").and_then(Value::as_array), new.get("keys").and_then(Value::as_array)) {
        (Some(a), Some(b)) => {
            let mut keys: Vec<Value> = a.iter().chain(b).cloned().collect();
            keys.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
            keys.dedup();
            let mut merged = new.clone();
            merged["keys"] = Value::Array(keys);
            merged
        }
        _ => new,
    }
}
