//! What the two SQL backends share: turning constraint violations into [`StoreError`]s
//! people can read, decoding the text columns of closed sets, checking final execution
//! statuses and job states, planning how an append reserves sequence numbers, checking and
//! decoding the history index's rows, reading and judging project file entries, and
//! ordering the files a job generated.

use std::collections::{BTreeMap, HashSet};

use sqlx::error::ErrorKind;

use super::{
    BlockReason, ExecutionStatus, FileBlock, FileEntry, FileKind, FilePath, FileTreeError, HistoryBatch,
    HistoryEventRow, HistoryFilter, JobState, NewUpdate, NotebookId, Seq, StoreError, StoreResult, Timestamp,
    UserId,
};

/// Maps a failed statement to the error callers act on: a unique violation becomes
/// `Conflict(conflict())`, a foreign-key violation `NotFound(missing())`, anything else
/// stays a database error. The closures describe the subject for people, e.g.
/// ``user `alice` `` (and the `Display` of the error adds "already exists").
pub(super) fn constraint_error(
    err: sqlx::Error,
    conflict: impl FnOnce() -> String,
    missing: impl FnOnce() -> String,
) -> StoreError {
    let kind = match &err {
        sqlx::Error::Database(db) => db.kind(),
        _ => ErrorKind::Other,
    };
    match kind {
        ErrorKind::UniqueViolation => StoreError::Conflict(conflict()),
        ErrorKind::ForeignKeyViolation => StoreError::NotFound(missing()),
        _ => StoreError::Database(err),
    }
}

/// A value in the database that the code does not know how to read (a row written by a
/// newer version, or by hand).
#[derive(Debug, thiserror::Error)]
#[error("unexpected value `{value}`")]
struct UnexpectedValue {
    value: String,
}

/// Parses a text column of a closed set (role, mode, visibility, token kind).
pub(super) fn parse_column<T>(
    column: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, sqlx::Error> {
    parse(value).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(UnexpectedValue { value: value.to_owned() }),
    })
}

/// The text of a final execution status, for `execution_finished`. A status that is not
/// final is a caller's bug, refused here with a clear message before the schema's CHECK
/// would refuse it with a vaguer one.
pub(super) fn final_status(status: ExecutionStatus) -> Result<&'static str, sqlx::Error> {
    if status.is_finished() {
        Ok(status.as_str())
    } else {
        Err(sqlx::Error::InvalidArgument(format!("`{}` is not a final execution status", status.as_str())))
    }
}

/// The text of a final job state, for `job_ended`; refuses one that is not final, as
/// [`final_status`] does for executions.
pub(super) fn final_job_state(state: JobState) -> Result<&'static str, sqlx::Error> {
    if state.is_over() {
        Ok(state.as_str())
    } else {
        Err(sqlx::Error::InvalidArgument(format!("`{}` is not a final job state", state.as_str())))
    }
}

/// How many sequence numbers each notebook of one append needs.
///
/// A `BTreeMap` so that reservations happen in ascending notebook id: two concurrent
/// appends touching the same notebooks then lock their rows in the same order and
/// cannot deadlock.
pub(super) fn seq_counts(updates: &[NewUpdate]) -> BTreeMap<NotebookId, i64> {
    let mut counts = BTreeMap::new();
    for update in updates {
        *counts.entry(update.notebook_id).or_insert(0) += 1;
    }
    counts
}

/// Hands out reserved sequence numbers to the updates in input order.
///
/// `last` holds, per notebook, the `last_seq` returned by the reservation of `counts[nb]`
/// numbers, so that notebook's updates get `last - count + 1 ..= last`.
pub(super) fn assign_seqs(
    updates: &[NewUpdate],
    counts: &BTreeMap<NotebookId, i64>,
    last: &BTreeMap<NotebookId, Seq>,
) -> Vec<Seq> {
    let mut next: BTreeMap<NotebookId, Seq> =
        counts.iter().map(|(nb, count)| (*nb, last.get(nb).copied().unwrap_or(0) - count + 1)).collect();
    updates
        .iter()
        .map(|u| {
            let slot = next.entry(u.notebook_id).or_insert(1);
            let seq = *slot;
            *slot += 1;
            seq
        })
        .collect()
}

/// The client ids an append binds, first use (in input order) first: one
/// `(notebook, client id, user)` per client id and notebook. The database keeps a binding
/// that already exists (`ON CONFLICT DO NOTHING`), so only new ids change hands.
pub(super) fn client_bindings(updates: &[NewUpdate]) -> Vec<(NotebookId, u64, Option<UserId>)> {
    let mut seen = HashSet::new();
    let mut bindings = Vec::new();
    for update in updates {
        for &client_id in &update.client_ids {
            if seen.insert((update.notebook_id, client_id)) {
                bindings.push((update.notebook_id, client_id, update.user_id));
            }
        }
    }
    bindings
}

/// Client ids are `u64`; both databases keep them in a signed 64-bit integer. Ids of 2^63
/// and above (never made by Yjs, whose ids are below 2^53) are stored as their
/// two's-complement value, so every `u64` round-trips exactly.
pub(super) fn client_id_to_sql(id: u64) -> i64 {
    i64::from_ne_bytes(id.to_ne_bytes())
}

pub(super) fn client_id_from_sql(id: i64) -> u64 {
    u64::from_ne_bytes(id.to_ne_bytes())
}

/// How many checkpoints per notebook `write_checkpoint` keeps. More than one so that a
/// bad newest checkpoint (an encoder bug) can be recovered from an older one plus the log.
pub(super) const CHECKPOINTS_KEPT: i64 = 3;

// --- the history index ---

/// The events of a batch to write, each key `(first_seq, part)` once (the last wins, as
/// if written one after the other), in batch order. A batch whose events belong to
/// another notebook is a caller's bug, refused before anything is written.
///
/// PostgreSQL refuses an `ON CONFLICT DO UPDATE` that would touch one row twice, so the
/// duplicates must go before the statement, not in it.
pub(super) fn batch_events(batch: &HistoryBatch) -> Result<Vec<&HistoryEventRow>, sqlx::Error> {
    if let Some(stray) = batch.events.iter().find(|e| e.notebook_id != batch.notebook_id) {
        return Err(sqlx::Error::InvalidArgument(format!(
            "history event ({}, {}) of notebook {} in a batch of notebook {}",
            stray.first_seq, stray.part, stray.notebook_id, batch.notebook_id
        )));
    }
    let mut seen = HashSet::new();
    let mut events: Vec<&HistoryEventRow> =
        batch.events.iter().rev().filter(|e| seen.insert((e.first_seq, e.part))).collect();
    events.reverse();
    Ok(events)
}

/// The `(first_seq, part)` an event listing starts after: the filter's cursor, or (0, 0),
/// before every event (sequence numbers start at 1), when there is none or the listing
/// runs newest first (which ignores the cursor).
pub(super) fn events_cursor(filter: &HistoryFilter) -> (Seq, i32) {
    match filter.after {
        Some(after) if !filter.newest_first => after,
        _ => (0, 0),
    }
}

/// An event's `detail` as JSON text (jsonb on PostgreSQL, checked JSON text on SQLite).
pub(super) fn detail_to_sql(detail: &serde_json::Value) -> String {
    detail.to_string()
}

pub(super) fn detail_from_sql(json: &str) -> Result<serde_json::Value, sqlx::Error> {
    serde_json::from_str(json)
        .map_err(|e| sqlx::Error::ColumnDecode { index: "detail".to_owned(), source: Box::new(e) })
}

/// Reads a stored Yjs clock (a `u32` in a 64-bit column).
pub(super) fn clock_from_sql(column: &str, value: i64) -> Result<u32, sqlx::Error> {
    u32::try_from(value).map_err(|_| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(UnexpectedValue { value: value.to_string() }),
    })
}

// --- project files ---

/// Reads a stored path; one that breaks today's rules (written by hand) is a decode error.
pub(super) fn path_column(value: String) -> Result<FilePath, sqlx::Error> {
    FilePath::parse(&value)
        .map_err(|e| sqlx::Error::ColumnDecode { index: "path".to_owned(), source: Box::new(e) })
}

/// Reads a stored SHA-256 (32 bytes, or NULL for a folder).
pub(super) fn sha256_column(value: Option<Vec<u8>>) -> Result<Option<[u8; 32]>, sqlx::Error> {
    value
        .map(|bytes| {
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| sqlx::Error::ColumnDecode {
                index: "sha256".to_owned(),
                source: Box::new(UnexpectedValue { value: format!("{} bytes", bytes.len()) }),
            })
        })
        .transpose()
}

/// Reads a stored size (never negative: the schema checks it).
pub(super) fn size_column(value: i64) -> Result<u64, sqlx::Error> {
    u64::try_from(value).map_err(|_| sqlx::Error::ColumnDecode {
        index: "size".to_owned(),
        source: Box::new(UnexpectedValue { value: value.to_string() }),
    })
}

/// A file's block from its three columns, which the schema sets all or none of.
pub(super) fn file_block(
    blocked_by: Option<i64>,
    blocked_at: Option<Timestamp>,
    reason: Option<String>,
) -> Result<Option<FileBlock>, sqlx::Error> {
    match (blocked_by, blocked_at, reason) {
        (Some(holder), Some(since), Some(reason)) => Ok(Some(FileBlock {
            holder: UserId(holder),
            since,
            reason: parse_column("block_reason", &reason, BlockReason::parse)?,
        })),
        _ => Ok(None),
    }
}

/// A size for the database (sizes are far below 2^63).
pub(super) fn size_to_sql(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Sorts entries depth first: each folder directly followed by its contents.
pub(super) fn sort_tree(entries: &mut [FileEntry]) {
    entries.sort_by(|a, b| FilePath::tree_order(a.path.as_str(), b.path.as_str()));
}

/// Why a write guarded by "a file, not blocked by someone else" found `existing` and did
/// not change it.
pub(super) fn write_refusal(existing: FileEntry, actor: UserId) -> StoreError {
    match existing {
        FileEntry { kind: FileKind::Folder, path, .. } => FileTreeError::IsAFolder(path).into(),
        FileEntry { block: Some(block), path, .. } if block.holder != actor => {
            StoreError::FileBlocked { path, block }
        }
        // Impossible while the project's file lock is held; said plainly if it ever is not.
        FileEntry { path, .. } => StoreError::Unavailable(format!("`{path}` changed meanwhile; try again")),
    }
}

/// Refuses to move or copy `from` into itself, and to put anything where `target` (the
/// entry at the destination, if any) already is: `FileBlocked` when someone other than
/// `actor` blocks it, else `Conflict`.
pub(super) fn check_destination(
    from: &FilePath,
    to: &FilePath,
    target: Option<FileEntry>,
    actor: UserId,
) -> StoreResult<()> {
    if to.is_inside(from) {
        return Err(FileTreeError::IntoItself { from: from.clone(), to: to.clone() }.into());
    }
    match target {
        None => Ok(()),
        Some(FileEntry { block: Some(block), path, .. }) if block.holder != actor => {
            Err(StoreError::FileBlocked { path, block })
        }
        Some(FileEntry { path, .. }) => Err(StoreError::Conflict(format!("`{path}`"))),
    }
}

// --- jobs ---

/// The byte range `[start, end)` of the paths below `path` (were it a folder), as
/// [`crate::files::path::inside_range`] computes it for a checked [`FilePath`]; job paths
/// are plain text in the store.
pub(super) fn below_range(path: &str) -> (String, String) {
    (format!("{path}/"), format!("{path}0"))
}

/// A job's generated paths in the order records show them: its stdout and stderr logs
/// first, then the rest in byte order (the same on both backends, whatever the database
/// returned them in).
pub(super) fn generated_in_order(stdout: &str, stderr: &str, mut paths: Vec<String>) -> Vec<String> {
    let rank = |path: &str| match path {
        p if p == stdout => 0,
        p if p == stderr => 1,
        _ => 2,
    };
    paths.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn update(notebook: i64) -> NewUpdate {
        NewUpdate {
            notebook_id: NotebookId(notebook),
            user_id: None,
            client_ids: vec![],
            actor_id: None,
            at: Utc::now(),
            data: vec![],
        }
    }

    #[test]
    fn seqs_follow_input_order_within_each_notebook() {
        let updates = [update(7), update(3), update(7), update(7), update(3)];
        let counts = seq_counts(&updates);
        assert_eq!(counts, BTreeMap::from([(NotebookId(3), 2), (NotebookId(7), 3)]));
        let last = BTreeMap::from([(NotebookId(3), 12), (NotebookId(7), 3)]);
        assert_eq!(assign_seqs(&updates, &counts, &last), vec![1, 11, 2, 3, 12]);
    }

    #[test]
    fn the_first_update_to_carry_a_client_id_binds_it() {
        let with = |notebook: i64, user: Option<i64>, ids: &[u64]| NewUpdate {
            user_id: user.map(UserId),
            client_ids: ids.to_vec(),
            ..update(notebook)
        };
        let updates = [with(1, Some(10), &[5, 6]), with(1, Some(11), &[6, 7]), with(2, None, &[5])];
        assert_eq!(
            client_bindings(&updates),
            vec![
                (NotebookId(1), 5, Some(UserId(10))),
                (NotebookId(1), 6, Some(UserId(10))),
                (NotebookId(1), 7, Some(UserId(11))),
                (NotebookId(2), 5, None),
            ]
        );
    }

    #[test]
    fn every_client_id_survives_a_signed_column() {
        for id in [0, 1, (1 << 53) - 1, u64::from(u32::MAX), 1 << 63, u64::MAX] {
            assert_eq!(client_id_from_sql(client_id_to_sql(id)), id);
        }
        assert_eq!(client_id_to_sql(u64::MAX), -1);
    }

    #[test]
    fn a_batch_writes_each_event_key_once_the_last_row_winning() {
        let event = |first_seq: Seq, part: i32, updates: i64| HistoryEventRow {
            notebook_id: NotebookId(1),
            first_seq,
            part,
            last_seq: first_seq,
            user_id: None,
            kind: "source_edited".to_owned(),
            cell_id: None,
            first_at: Utc::now(),
            last_at: Utc::now(),
            updates,
            added: 0,
            removed: 0,
            detail: serde_json::json!({}),
        };
        let mut batch = HistoryBatch {
            notebook_id: NotebookId(1),
            after: 0,
            upto: 3,
            events: vec![event(1, 0, 1), event(2, 0, 1), event(1, 0, 2), event(1, 1, 1)],
            inserted: vec![],
            deleted: vec![],
            snapshot: None,
        };
        let kept: Vec<_> = batch_events(&batch)
            .expect("one notebook")
            .iter()
            .map(|e| (e.first_seq, e.part, e.updates))
            .collect();
        assert_eq!(kept, [(2, 0, 1), (1, 0, 2), (1, 1, 1)]);
        batch.events.push(HistoryEventRow { notebook_id: NotebookId(2), ..event(3, 0, 1) });
        assert!(matches!(batch_events(&batch), Err(sqlx::Error::InvalidArgument(_))));
    }

    #[test]
    fn a_listing_starts_after_its_cursor_unless_it_runs_newest_first() {
        let filter = |after: Option<(Seq, i32)>, newest_first: bool| HistoryFilter {
            after,
            newest_first,
            limit: 10,
            ..HistoryFilter::default()
        };
        assert_eq!(events_cursor(&filter(Some((4, 2)), false)), (4, 2));
        assert_eq!(events_cursor(&filter(None, false)), (0, 0));
        assert_eq!(events_cursor(&filter(Some((4, 2)), true)), (0, 0));
    }

    #[test]
    fn only_final_statuses_end_an_execution() {
        assert_eq!(final_status(ExecutionStatus::Ok).ok(), Some("ok"));
        assert_eq!(final_status(ExecutionStatus::Error).ok(), Some("error"));
        assert_eq!(final_status(ExecutionStatus::Aborted).ok(), Some("aborted"));
        for status in [ExecutionStatus::Queued, ExecutionStatus::Running] {
            assert!(matches!(final_status(status), Err(sqlx::Error::InvalidArgument(_))), "{status:?}");
        }
    }

    #[test]
    fn only_final_states_end_a_job() {
        assert_eq!(final_job_state(JobState::Finished).ok(), Some("finished"));
        assert_eq!(final_job_state(JobState::Failed).ok(), Some("failed"));
        assert_eq!(final_job_state(JobState::Terminated).ok(), Some("terminated"));
        for state in [JobState::Queued, JobState::Running] {
            assert!(matches!(final_job_state(state), Err(sqlx::Error::InvalidArgument(_))), "{state:?}");
        }
    }

    #[test]
    fn a_jobs_logs_come_first_then_its_files_in_byte_order() {
        let paths = ["out/b.csv", "run.err", "Z.txt", "out/a.csv", "run.out", "out-2"];
        let ordered = generated_in_order("run.out", "run.err", paths.map(str::to_owned).to_vec());
        assert_eq!(ordered, ["run.out", "run.err", "Z.txt", "out-2", "out/a.csv", "out/b.csv"]);
        let same_log = generated_in_order("log", "log", vec!["a".into(), "log".into()]);
        assert_eq!(same_log, ["log", "a"]);
    }

    #[test]
    fn the_range_below_a_path_holds_its_contents_only() {
        let (start, end) = below_range("data");
        for inside in ["data/x", "data/a/b", "data/\u{10ffff}"] {
            assert!(start.as_str() <= inside && inside < end.as_str(), "{inside}");
        }
        for outside in ["data", "data2", "data-x", "data.csv", "data0", "dat"] {
            assert!(!(start.as_str() <= outside && outside < end.as_str()), "{outside}");
        }
    }

    #[test]
    fn only_constraint_violations_change_meaning() {
        let err = constraint_error(sqlx::Error::RowNotFound, || "x".into(), || "y".into());
        assert!(matches!(err, StoreError::Database(sqlx::Error::RowNotFound)));
    }
}
