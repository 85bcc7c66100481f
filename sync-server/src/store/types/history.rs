//! Rows of the history index: readable events, clock spans for blame, progress and
//! snapshots. All derived from the update log by the history indexer.

use super::*;

/// One readable event of a notebook's history as stored: a change, or a group of
/// consecutive changes of one user to the same part of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEventRow {
    pub notebook_id: NotebookId,
    /// The update that started the event.
    pub first_seq: Seq,
    /// The event's place among the events `first_seq` started (0, 1, …).
    pub part: i32,
    /// The newest update in the event.
    pub last_seq: Seq,
    /// The editor, or the user a server edit was made for; `None` for the server.
    pub user_id: Option<UserId>,
    /// What happened (`cell_created`, `source_edited`, …; see `doc_model::history`).
    pub kind: String,
    /// The cell, `None` for notebook-wide events.
    pub cell_id: Option<String>,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    /// How many updates the event groups.
    pub updates: i64,
    /// Characters added and removed (source edits).
    pub added: i64,
    pub removed: i64,
    /// Kind-specific facts as a JSON object (a move's positions, the new mode, …).
    pub detail: serde_json::Value,
}

/// A range of one Yjs client's clocks `[clock_start, clock_end)` that one update inserted
/// or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSpan {
    pub client_id: u64,
    pub clock_start: u32,
    pub clock_end: u32,
    pub seq: Seq,
}

/// What one indexing step writes, in one transaction.
#[derive(Debug, Clone)]
pub struct HistoryBatch {
    pub notebook_id: NotebookId,
    /// The progress the indexer started from: if the stored progress differs (someone else
    /// indexed meanwhile), nothing is written.
    pub after: Seq,
    /// The progress after this batch: every update up to it is indexed.
    pub upto: Seq,
    /// Events to insert or, for groups that grew, replace (by `(first_seq, part)`).
    pub events: Vec<HistoryEventRow>,
    pub inserted: Vec<ClockSpan>,
    pub deleted: Vec<ClockSpan>,
    /// A full document state as of a sequence number, kept for time travel.
    pub snapshot: Option<(Seq, Vec<u8>)>,
}

/// Which events to list, oldest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub cell_id: Option<String>,
    pub user_id: Option<UserId>,
    /// Events that overlap `[from, to]`: ending at or after `from`, starting at or before
    /// `to`.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Only events after this `(first_seq, part)`: the cursor of the previous page.
    pub after: Option<(Seq, i32)>,
    pub limit: i64,
    /// Newest first (then `after` is ignored): for finding a user's latest change.
    pub newest_first: bool,
}

/// Who made one logged update, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateMeta {
    pub seq: Seq,
    pub user_id: Option<UserId>,
    pub actor_id: Option<UserId>,
    pub at: Timestamp,
}
