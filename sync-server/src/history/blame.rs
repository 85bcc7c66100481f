//! Blame: who typed each part of a cell's source, and when.
//!
//! Every character of a Y.Text is an item id (Yjs client id, clock). The indexer stored
//! which update inserted each clock range, and each update has a user and a time, so a
//! character's author is the user of the update that inserted it (client ids are bound to
//! users, so this cannot be forged). Deleted characters keep their place in Yjs as
//! tombstones, which tells who deleted what, and where.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;

use doc_model::NotebookDoc;
use doc_model::UserId;
use doc_model::history::pieces::{Piece, source_pieces};

use super::{History, HistoryError};

use crate::store::{ClockSpan, HistoryFilter, NotebookId, Seq, Timestamp, UpdateMeta};

/// Who wrote a cell's source, run by run and line by line.
#[derive(Debug, Clone, PartialEq)]
pub struct Blame {
    pub source: String,
    /// Maximal stretches typed by one user without a pause longer than the grouping gap.
    pub runs: Vec<BlameRun>,
    pub lines: Vec<BlameLine>,
    /// Deleted text, where it was.
    pub deletions: Vec<Deletion>,
}

/// Who typed `text`, the characters `[start, end)` of the source (counted in Unicode
/// scalar values), and when.
#[derive(Debug, Clone, PartialEq)]
pub struct BlameRun {
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// `None`: the server, or a part of the log the index does not cover.
    pub user: Option<UserId>,
    pub first_at: Option<Timestamp>,
    pub last_at: Option<Timestamp>,
}

/// One line of the source (1-based), with the user who wrote most of its characters and
/// everyone who typed or deleted anything in it.
#[derive(Debug, Clone, PartialEq)]
pub struct BlameLine {
    pub line: usize,
    pub text: String,
    pub author: Option<UserId>,
    pub touched_by: Vec<UserId>,
    pub last_at: Option<Timestamp>,
}

/// Deleted text: `length` UTF-16 code units that stood before the live character at
/// `offset`, who had typed them and who deleted them.
#[derive(Debug, Clone, PartialEq)]
pub struct Deletion {
    pub offset: usize,
    pub length: u32,
    pub author: Option<UserId>,
    pub deleted_by: Option<UserId>,
    pub deleted_at: Option<Timestamp>,
}

/// Who and when for one clock.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stamp {
    user: Option<UserId>,
    at: Option<Timestamp>,
    /// The update that made the character (or deleted it).
    seq: Option<Seq>,
}

const UNKNOWN: Stamp = Stamp { user: None, at: None, seq: None };

/// How many moves of one cell blame follows back (each costs loading an older state).
const MAX_MOVES: usize = 16;

/// A cell's live characters with their stamps, and its deletions.
type Stamped = (Vec<(char, Stamp)>, Vec<Deletion>);

impl History {
    /// Blame for `cell_id` in `doc` (the notebook now, or as it was at some point; the
    /// index is caught up first).
    pub async fn blame(
        &self,
        notebook: NotebookId,
        doc: &NotebookDoc,
        cell_id: &str,
    ) -> Result<Blame, HistoryError> {
        self.catch_up(notebook).await?;
        let (chars, deletions) = self.stamped(notebook, doc, cell_id, 0).await?;
        Ok(finish(chars, deletions, self.gap))
    }

    /// Every live character of the cell's source with who typed it and when.
    ///
    /// Moving a cell re-creates it (in Yjs, and so in Jupyter's clients), so the text of a
    /// moved cell is new items made by whoever moved it. Characters that a move made are
    /// traced back to the cell as it was just before the move, and take the stamps they
    /// had there.
    fn stamped<'a>(
        &'a self,
        notebook: NotebookId,
        doc: &'a NotebookDoc,
        cell_id: &'a str,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Stamped, HistoryError>> + Send + 'a>> {
        Box::pin(async move {
            let pieces =
                source_pieces(doc, cell_id).ok_or_else(|| HistoryError::NoSuchCell(cell_id.to_owned()))?;
            let inserted = self.spans_for(notebook, &pieces, false).await?;
            let tombstones: Vec<Piece> = pieces.iter().filter(|p| p.text.is_none()).cloned().collect();
            let deleted = self.spans_for(notebook, &tombstones, true).await?;
            let seqs: Vec<Seq> =
                inserted.iter().chain(&deleted).map(|s| s.seq).collect::<BTreeSet<_>>().into_iter().collect();
            let meta: HashMap<Seq, UpdateMeta> =
                self.store.update_meta(notebook, &seqs).await?.into_iter().map(|m| (m.seq, m)).collect();
            let stamp = |span: Option<&ClockSpan>| match span.and_then(|s| meta.get(&s.seq)) {
                Some(m) => Stamp { user: m.user_id.or(m.actor_id), at: Some(m.at), seq: Some(m.seq) },
                None => UNKNOWN,
            };
            let inserted = SpanIndex::new(inserted);
            let deleted = SpanIndex::new(deleted);
            let (mut chars, deletions) = stamp_chars(
                &pieces,
                |client, clock| stamp(inserted.find(client, clock)),
                |client, clock| stamp(deleted.find(client, clock)),
            );
            if depth < MAX_MOVES {
                for seq in self.moves_of(notebook, cell_id, &chars).await? {
                    let made: Vec<usize> = chars
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, s))| s.seq == Some(seq))
                        .map(|(i, _)| i)
                        .collect();
                    let before = self.state_at(notebook, seq - 1).await?;
                    let Ok((old, _)) = self.stamped(notebook, &before, cell_id, depth + 1).await else {
                        continue;
                    };
                    // The move copied the text as it was: the same characters in order.
                    let same =
                        old.len() == made.len() && made.iter().zip(&old).all(|(i, (c, _))| chars[*i].0 == *c);
                    if same {
                        for (i, (_, stamp)) in made.into_iter().zip(old) {
                            chars[i].1 = stamp;
                        }
                    }
                }
            }
            Ok((chars, deletions))
        })
    }

    /// The updates that moved this cell and made some of `chars`, newest first.
    async fn moves_of(
        &self,
        notebook: NotebookId,
        cell_id: &str,
        chars: &[(char, Stamp)],
    ) -> Result<Vec<Seq>, HistoryError> {
        let made: BTreeSet<Seq> = chars.iter().filter_map(|(_, s)| s.seq).collect();
        let filter =
            HistoryFilter { cell_id: Some(cell_id.to_owned()), limit: 100_000, ..HistoryFilter::default() };
        let mut moves: Vec<Seq> = self
            .store
            .history_events(notebook, &filter)
            .await?
            .into_iter()
            .filter(|e| e.kind == "cell_moved" && made.contains(&e.first_seq) && e.first_seq > 1)
            .map(|e| e.first_seq)
            .collect();
        moves.sort_unstable_by(|a, b| b.cmp(a));
        Ok(moves)
    }

    /// The stored spans (inserted or deleted) covering the pieces' clocks, one query per
    /// client over the range its pieces span.
    async fn spans_for(
        &self,
        notebook: NotebookId,
        pieces: &[Piece],
        deleted: bool,
    ) -> Result<Vec<ClockSpan>, HistoryError> {
        let mut ranges: HashMap<u64, (u32, u32)> = HashMap::new();
        for piece in pieces {
            let range = ranges.entry(piece.client).or_insert((piece.clock, piece.clock + piece.len));
            range.0 = range.0.min(piece.clock);
            range.1 = range.1.max(piece.clock + piece.len);
        }
        let mut spans = Vec::new();
        for (client, (from, to)) in ranges {
            spans.extend(self.store.clock_spans(notebook, deleted, client, from, to).await?);
        }
        Ok(spans)
    }
}

/// Spans by client, for finding the one that holds a clock (the earliest update wins
/// where several do, e.g. two concurrent deletions of the same text).
struct SpanIndex(HashMap<u64, Vec<ClockSpan>>);

impl SpanIndex {
    fn new(spans: Vec<ClockSpan>) -> Self {
        let mut by_client: HashMap<u64, Vec<ClockSpan>> = HashMap::new();
        for span in spans {
            by_client.entry(span.client_id).or_default().push(span);
        }
        for spans in by_client.values_mut() {
            spans.sort_by_key(|s| (s.clock_start, s.seq));
        }
        Self(by_client)
    }

    fn find(&self, client: u64, clock: u32) -> Option<&ClockSpan> {
        let spans = self.0.get(&client)?;
        let end = spans.partition_point(|s| s.clock_start <= clock);
        spans[..end].iter().filter(|s| s.clock_end > clock).min_by_key(|s| s.seq)
    }
}

/// Builds runs, lines and deletions from the pieces and a way to stamp each clock.
#[cfg(test)]
fn assemble(
    pieces: &[Piece],
    inserted: impl Fn(u64, u32) -> Stamp,
    deleted: impl Fn(u64, u32) -> Stamp,
    gap: chrono::Duration,
) -> Blame {
    let (chars, deletions) = stamp_chars(pieces, inserted, deleted);
    finish(chars, deletions, gap)
}

/// Every live character with its stamp, and the deletions between them.
fn stamp_chars(
    pieces: &[Piece],
    inserted: impl Fn(u64, u32) -> Stamp,
    deleted: impl Fn(u64, u32) -> Stamp,
) -> Stamped {
    // Every live character with its stamp, and the tombstones between them.
    let mut chars: Vec<(char, Stamp)> = Vec::new();
    let mut deletions = Vec::new();
    for piece in pieces {
        match &piece.text {
            Some(text) => {
                let mut clock = piece.clock;
                for c in text.chars() {
                    chars.push((c, inserted(piece.client, clock)));
                    clock += c.len_utf16() as u32;
                }
            }
            None => {
                let by = deleted(piece.client, piece.clock);
                let author = inserted(piece.client, piece.clock).user;
                // Neighbouring tombstones of one deletion are one entry.
                if let Some(last) = deletions.last_mut()
                    && let Deletion { offset, author: a, deleted_by, deleted_at, .. } = last
                    && *offset == chars.len()
                    && *a == author
                    && *deleted_by == by.user
                    && *deleted_at == by.at
                {
                    last.length += piece.len;
                    continue;
                }
                deletions.push(Deletion {
                    offset: chars.len(),
                    length: piece.len,
                    author,
                    deleted_by: by.user,
                    deleted_at: by.at,
                });
            }
        }
    }
    (chars, deletions)
}

/// Runs and lines from stamped characters.
fn finish(chars: Vec<(char, Stamp)>, deletions: Vec<Deletion>, gap: chrono::Duration) -> Blame {
    let source: String = chars.iter().map(|(c, _)| *c).collect();
    Blame { runs: runs(&chars, gap), lines: lines(&chars, &deletions), deletions, source }
}

fn runs(chars: &[(char, Stamp)], gap: chrono::Duration) -> Vec<BlameRun> {
    let mut runs: Vec<BlameRun> = Vec::new();
    for (i, (c, stamp)) in chars.iter().enumerate() {
        if let Some(run) = runs.last_mut()
            && run.user == stamp.user
            && close_in_time(run, stamp.at, gap)
        {
            run.end = i + 1;
            run.text.push(*c);
            run.first_at = min_time(run.first_at, stamp.at);
            run.last_at = run.last_at.max(stamp.at);
            continue;
        }
        runs.push(BlameRun {
            start: i,
            end: i + 1,
            text: c.to_string(),
            user: stamp.user,
            first_at: stamp.at,
            last_at: stamp.at,
        });
    }
    runs
}

/// Whether a character typed at `at` belongs with a run: no more than `gap` from the
/// run's span of time.
fn close_in_time(run: &BlameRun, at: Option<Timestamp>, gap: chrono::Duration) -> bool {
    match (run.first_at, run.last_at, at) {
        (Some(first), Some(last), Some(at)) => at >= first - gap && at <= last + gap,
        (None, None, None) => true,
        _ => false,
    }
}

fn min_time(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn lines(chars: &[(char, Stamp)], deletions: &[Deletion]) -> Vec<BlameLine> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < chars.len() || (start == 0 && chars.is_empty()) {
        let end = chars[start..].iter().position(|(c, _)| *c == '\n').map_or(chars.len(), |p| start + p + 1);
        let line = &chars[start..end];
        let mut counts: HashMap<Option<UserId>, usize> = HashMap::new();
        let mut touched = BTreeSet::new();
        let mut last_at = None;
        for (c, stamp) in line {
            if *c != '\n' {
                *counts.entry(stamp.user).or_default() += 1;
            }
            touched.extend(stamp.user);
            last_at = last_at.max(stamp.at);
        }
        // A deletion belongs to the line of the character that follows it (the last line
        // if nothing follows).
        let here = |d: &&Deletion| {
            (d.offset >= start && d.offset < end) || (d.offset == chars.len() && end == chars.len())
        };
        for d in deletions.iter().filter(here) {
            touched.extend(d.author);
            touched.extend(d.deleted_by);
            last_at = last_at.max(d.deleted_at);
        }
        // The author of most characters; on a tie, the user with the smallest id, so the
        // answer does not depend on hash order.
        let author = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).and_then(|(user, _)| *user);
        lines.push(BlameLine {
            line: lines.len() + 1,
            text: line.iter().map(|(c, _)| *c).filter(|c| *c != '\n').collect(),
            author,
            touched_by: touched.into_iter().collect(),
            last_at,
        });
        if chars.is_empty() {
            break;
        }
        start = end;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> Option<Timestamp> {
        Some(chrono::Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap())
    }

    fn live(client: u64, clock: u32, text: &str) -> Piece {
        Piece { client, clock, len: text.encode_utf16().count() as u32, text: Some(text.into()) }
    }

    #[test]
    fn runs_lines_and_deletions_follow_the_stamps() {
        // Alice (client 1) typed "hel" then "lo\n" much later, Bob (client 2) typed " wo"
        // between them; one of Bob's characters (clock 3 of client 2) was deleted by Alice.
        let pieces = vec![
            live(1, 0, "hel"),
            live(2, 0, " w"),
            Piece { client: 2, clock: 2, len: 1, text: None },
            live(2, 3, "rld"),
            live(1, 3, "lo\nx"),
        ];
        let alice = Some(UserId(1));
        let bob = Some(UserId(2));
        let inserted = |client: u64, clock: u32| match client {
            1 if clock < 3 => Stamp { user: alice, at: at(0), seq: None },
            1 => Stamp { user: alice, at: at(1000), seq: None },
            _ => Stamp { user: bob, at: at(10 + i64::from(clock)), seq: None },
        };
        let deleted = |_: u64, _: u32| Stamp { user: alice, at: at(50), seq: None };
        let blame = assemble(&pieces, inserted, deleted, chrono::Duration::seconds(60));
        assert_eq!(blame.source, "hel wrldlo\nx");
        let runs: Vec<_> = blame.runs.iter().map(|r| (r.text.as_str(), r.user)).collect();
        assert_eq!(runs, vec![("hel", alice), (" wrld", bob), ("lo\nx", alice)]);
        assert_eq!(blame.runs[1].first_at, at(10));
        assert_eq!(blame.runs[1].last_at, at(15));
        assert_eq!(
            blame.deletions,
            vec![Deletion { offset: 5, length: 1, author: bob, deleted_by: alice, deleted_at: at(50) }]
        );
        assert_eq!(blame.lines.len(), 2);
        assert_eq!(blame.lines[0].text, "hel wrldlo");
        assert_eq!(
            blame.lines[0].author, alice,
            "alice wrote 5 characters of the line, bob 5: the tie goes to the smaller id"
        );
        assert_eq!(blame.lines[0].touched_by, vec![UserId(1), UserId(2)]);
        assert_eq!(blame.lines[1].text, "x");
        assert_eq!(blame.lines[1].touched_by, vec![UserId(1)]);
    }

    #[test]
    fn a_long_pause_splits_one_users_run() {
        let pieces = vec![live(1, 0, "ab")];
        let inserted =
            |_: u64, clock: u32| Stamp { user: Some(UserId(1)), at: at(i64::from(clock) * 3600), seq: None };
        let blame = assemble(&pieces, inserted, |_, _| UNKNOWN, chrono::Duration::seconds(60));
        assert_eq!(blame.runs.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
    }
}
