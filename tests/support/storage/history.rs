//! Storage tests: the history index (events, clock spans, snapshots, the indexer's
//! progress) and the log's metadata that the history API reads.

use serde_json::json;
use sync_server::store::{
    Checkpoint, ClockSpan, DynStore, HistoryBatch, HistoryEventRow, HistoryFilter, NewUpdate, NotebookId,
    Seq, UpdateMeta, UserId,
};

use super::fixtures::*;

/// A one-update source edit of `cell` by `user`, from `first_ms` to `last_ms`.
fn event(
    nb: NotebookId,
    key: (Seq, i32),
    user: Option<UserId>,
    cell: Option<&str>,
    (first_ms, last_ms): (i64, i64),
) -> HistoryEventRow {
    HistoryEventRow {
        notebook_id: nb,
        first_seq: key.0,
        part: key.1,
        last_seq: key.0,
        user_id: user,
        kind: "source_edited".to_owned(),
        cell_id: cell.map(str::to_owned),
        first_at: at(first_ms),
        last_at: at(last_ms),
        updates: 1,
        added: 1,
        removed: 0,
        detail: json!({}),
    }
}

fn span(client_id: u64, clocks: std::ops::Range<u32>, seq: Seq) -> ClockSpan {
    ClockSpan { client_id, clock_start: clocks.start, clock_end: clocks.end, seq }
}

fn batch(nb: NotebookId, after: Seq, upto: Seq) -> HistoryBatch {
    HistoryBatch {
        notebook_id: nb,
        after,
        upto,
        events: vec![],
        inserted: vec![],
        deleted: vec![],
        snapshot: None,
    }
}

async fn write(store: &DynStore, batch: HistoryBatch) {
    assert!(store.write_history(&batch).await.expect("write history"), "the batch is written");
}

fn keys(events: &[HistoryEventRow]) -> Vec<(Seq, i32)> {
    events.iter().map(|e| (e.first_seq, e.part)).collect()
}

fn all(limit: i64) -> HistoryFilter {
    HistoryFilter { limit, ..HistoryFilter::default() }
}

async fn listed(store: &DynStore, nb: NotebookId, filter: HistoryFilter) -> Vec<(Seq, i32)> {
    keys(&store.history_events(nb, &filter).await.expect("history events"))
}

async fn spans(
    store: &DynStore,
    nb: NotebookId,
    deleted: bool,
    client: u64,
    clocks: std::ops::Range<u32>,
) -> Vec<ClockSpan> {
    store.clock_spans(nb, deleted, client, clocks.start, clocks.end).await.expect("clock spans")
}

// --- writing ---

pub async fn progress_starts_at_zero_and_each_batch_advances_it(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    assert_eq!(store.history_progress(nb.id).await.expect("progress"), 0);
    let first = HistoryBatch {
        events: vec![event(nb.id, (1, 0), Some(alice.id), Some("c1"), (0, 0))],
        inserted: vec![span(7, 0..3, 1)],
        snapshot: Some((2, b"state at 2".to_vec())),
        ..batch(nb.id, 0, 2)
    };
    write(&store, first).await;
    assert_eq!(store.history_progress(nb.id).await.expect("progress"), 2);
    write(&store, HistoryBatch { deleted: vec![span(7, 1..2, 3)], ..batch(nb.id, 2, 5) }).await;
    assert_eq!(store.history_progress(nb.id).await.expect("progress"), 5);
    assert_eq!(listed(&store, nb.id, all(10)).await, vec![(1, 0)]);
    assert_eq!(spans(&store, nb.id, false, 7, 0..10).await, vec![span(7, 0..3, 1)]);
    assert_eq!(spans(&store, nb.id, true, 7, 0..10).await, vec![span(7, 1..2, 3)]);
    let snapshot = store.nearest_state(nb.id, 5).await.expect("nearest state");
    assert_eq!(snapshot, Some(Checkpoint { seq: 2, state: b"state at 2".to_vec() }));
}

pub async fn a_batch_from_a_stale_progress_writes_nothing(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    // On a fresh notebook only `after == 0` fits.
    let ahead = HistoryBatch { events: vec![event(nb.id, (9, 0), None, None, (0, 0))], ..batch(nb.id, 3, 9) };
    assert!(!store.write_history(&ahead).await.expect("write history"));
    assert_eq!(store.history_progress(nb.id).await.expect("progress"), 0);
    write(
        &store,
        HistoryBatch { events: vec![event(nb.id, (1, 0), None, None, (0, 0))], ..batch(nb.id, 0, 4) },
    )
    .await;
    // A second indexer that also started from 0 loses every part of its batch.
    let stale = HistoryBatch {
        events: vec![
            event(nb.id, (1, 0), Some(alice.id), Some("changed"), (0, 0)),
            event(nb.id, (2, 0), Some(alice.id), None, (0, 0)),
        ],
        inserted: vec![span(7, 0..5, 2)],
        deleted: vec![span(7, 0..1, 3)],
        snapshot: Some((3, b"stale".to_vec())),
        ..batch(nb.id, 0, 7)
    };
    assert!(!store.write_history(&stale).await.expect("write history"), "a stale batch reports it lost");
    assert_eq!(store.history_progress(nb.id).await.expect("progress"), 4);
    let events = store.history_events(nb.id, &all(10)).await.expect("events");
    assert_eq!(events, vec![event(nb.id, (1, 0), None, None, (0, 0))], "the stored event is untouched");
    assert_eq!(spans(&store, nb.id, false, 7, 0..10).await, vec![]);
    assert_eq!(spans(&store, nb.id, true, 7, 0..10).await, vec![]);
    assert_eq!(store.nearest_state(nb.id, 10).await.expect("nearest state"), None);
}

pub async fn of_concurrent_batches_from_the_same_progress_exactly_one_writes(store: DynStore) {
    const INDEXERS: usize = 6;
    let (_, nb) = one_notebook(&store).await;
    let mut tasks = Vec::new();
    for i in 0..INDEXERS {
        let store = store.clone();
        let upto = 10 + i as Seq;
        tasks.push(tokio::spawn(async move {
            let mine = HistoryBatch {
                events: vec![event(nb.id, (upto, 0), None, None, (0, 0))],
                ..batch(nb.id, 0, upto)
            };
            store.write_history(&mine).await.expect("write history").then_some(upto)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.expect("task"));
    }
    assert_eq!(winners.len(), 1, "exactly one indexer wins: {winners:?}");
    assert_eq!(store.history_progress(nb.id).await.expect("progress"), winners[0]);
    assert_eq!(
        listed(&store, nb.id, all(100)).await,
        vec![(winners[0], 0)],
        "only the winner's event is stored"
    );
}

pub async fn a_grown_event_replaces_the_stored_one_and_stored_spans_stay(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let bob = user(&store, "bob").await;
    let other = event(nb.id, (1, 1), Some(bob.id), Some("c2"), (0, 0));
    let open = event(nb.id, (1, 0), Some(alice.id), Some("c1"), (0, 10));
    write(
        &store,
        HistoryBatch {
            events: vec![open, other.clone()],
            inserted: vec![span(7, 0..3, 1)],
            ..batch(nb.id, 0, 1)
        },
    )
    .await;
    let grown = HistoryEventRow {
        last_seq: 4,
        kind: "source_replaced".to_owned(),
        last_at: at(900),
        updates: 4,
        added: 12,
        removed: 5,
        detail: json!({ "from": 2, "nested": { "list": [1, "two", null], "flag": true } }),
        ..event(nb.id, (1, 0), Some(alice.id), Some("c1"), (0, 10))
    };
    // A duplicate key within one batch: the later row wins, as if written in turn.
    let older_copy = HistoryEventRow { updates: 2, ..grown.clone() };
    write(
        &store,
        HistoryBatch {
            events: vec![older_copy, grown.clone()],
            // Same key as the stored span, other end: the stored one stays.
            inserted: vec![span(7, 0..9, 1), span(7, 3..4, 4)],
            ..batch(nb.id, 1, 4)
        },
    )
    .await;
    let events = store.history_events(nb.id, &all(10)).await.expect("events");
    assert_eq!(events, vec![grown, other]);
    assert_eq!(spans(&store, nb.id, false, 7, 0..10).await, vec![span(7, 0..3, 1), span(7, 3..4, 4)]);
}

// --- reading events ---

pub async fn events_are_filtered_by_cell_user_and_time_and_paged_by_cursor(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let bob = user(&store, "bob").await;
    let project = store.project(nb.project_id).await.expect("project").expect("exists");
    let elsewhere = notebook(&store, &project, "other.ipynb").await.id;
    let (a, b) = (Some(alice.id), Some(bob.id));
    let rows = vec![
        event(nb.id, (1, 0), a, Some("ca"), (0, 100)),
        event(nb.id, (1, 1), b, Some("cb"), (0, 100)),
        event(nb.id, (2, 0), a, Some("cb"), (200, 300)),
        event(nb.id, (3, 0), None, None, (400, 400)),
        event(nb.id, (5, 0), b, Some("ca"), (500, 900)),
    ];
    write(&store, HistoryBatch { events: rows.clone(), ..batch(nb.id, 0, 5) }).await;
    write(
        &store,
        HistoryBatch {
            events: vec![event(elsewhere, (1, 0), a, Some("ca"), (0, 100))],
            ..batch(elsewhere, 0, 1)
        },
    )
    .await;
    let everything = store.history_events(nb.id, &all(100)).await.expect("events");
    assert_eq!(everything, rows, "every column round-trips, in (first_seq, part) order");

    let cell = |c: &str| HistoryFilter { cell_id: Some(c.to_owned()), ..all(100) };
    assert_eq!(listed(&store, nb.id, cell("ca")).await, vec![(1, 0), (5, 0)]);
    assert_eq!(listed(&store, nb.id, HistoryFilter { user_id: a, ..all(100) }).await, vec![(1, 0), (2, 0)]);
    assert_eq!(listed(&store, nb.id, HistoryFilter { user_id: a, ..cell("cb") }).await, vec![(2, 0)]);
    assert_eq!(listed(&store, nb.id, cell("nowhere")).await, vec![]);

    // Overlap with [from, to]; an event touching a bound is in.
    let window =
        |from: Option<i64>, to: Option<i64>| HistoryFilter { from: from.map(at), to: to.map(at), ..all(100) };
    assert_eq!(listed(&store, nb.id, window(Some(300), None)).await, vec![(2, 0), (3, 0), (5, 0)]);
    assert_eq!(listed(&store, nb.id, window(Some(301), None)).await, vec![(3, 0), (5, 0)]);
    assert_eq!(listed(&store, nb.id, window(None, Some(200))).await, vec![(1, 0), (1, 1), (2, 0)]);
    assert_eq!(listed(&store, nb.id, window(None, Some(199))).await, vec![(1, 0), (1, 1)]);
    assert_eq!(listed(&store, nb.id, window(Some(250), Some(450))).await, vec![(2, 0), (3, 0)]);
    assert_eq!(
        listed(&store, nb.id, window(Some(600), Some(700))).await,
        vec![(5, 0)],
        "spanning the window"
    );

    // The cursor is (first_seq, part), compared as a pair.
    let after = |key: (Seq, i32), limit: i64| HistoryFilter { after: Some(key), ..all(limit) };
    assert_eq!(listed(&store, nb.id, after((1, 0), 100)).await, vec![(1, 1), (2, 0), (3, 0), (5, 0)]);
    assert_eq!(listed(&store, nb.id, after((1, 1), 100)).await, vec![(2, 0), (3, 0), (5, 0)]);
    assert_eq!(listed(&store, nb.id, after((4, 7), 100)).await, vec![(5, 0)]);
    assert_eq!(listed(&store, nb.id, all(2)).await, vec![(1, 0), (1, 1)]);
    assert_eq!(listed(&store, nb.id, after((1, 1), 2)).await, vec![(2, 0), (3, 0)]);
    assert_eq!(listed(&store, nb.id, after((3, 0), 2)).await, vec![(5, 0)]);
    assert_eq!(
        listed(&store, nb.id, HistoryFilter { after: Some((1, 0)), ..cell("ca") }).await,
        vec![(5, 0)]
    );
    assert_eq!(listed(&store, nb.id, all(0)).await, vec![]);

    // Newest first ignores the cursor and keeps the other filters.
    let newest = |filter: HistoryFilter| HistoryFilter { newest_first: true, after: Some((2, 0)), ..filter };
    assert_eq!(listed(&store, nb.id, newest(all(100))).await, vec![(5, 0), (3, 0), (2, 0), (1, 1), (1, 0)]);
    assert_eq!(listed(&store, nb.id, newest(all(2))).await, vec![(5, 0), (3, 0)]);
    assert_eq!(listed(&store, nb.id, newest(HistoryFilter { user_id: a, ..all(1) })).await, vec![(2, 0)]);
    assert_eq!(listed(&store, nb.id, newest(cell("ca"))).await, vec![(5, 0), (1, 0)]);
    assert_eq!(listed(&store, nb.id, newest(window(None, Some(200)))).await, vec![(2, 0), (1, 1), (1, 0)]);

    let since = |ms: i64| {
        let store = store.clone();
        async move { keys(&store.history_events_since(nb.id, at(ms)).await.expect("events since")) }
    };
    assert_eq!(since(300).await, vec![(2, 0), (3, 0), (5, 0)]);
    assert_eq!(since(301).await, vec![(3, 0), (5, 0)]);
    assert_eq!(since(901).await, vec![]);
}

// --- clock spans ---

pub async fn clock_spans_return_only_overlapping_spans_of_one_client_and_kind(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    let project = store.project(nb.project_id).await.expect("project").expect("exists");
    let elsewhere = notebook(&store, &project, "other.ipynb").await.id;
    let (c, big, max) = (7, 1 << 63, u64::MAX);
    let inserted = vec![
        span(c, 0..5, 1),
        span(c, 5..10, 2),
        span(c, 10..20, 3),
        span(c, 30..40, 4),
        span(big, 0..4, 5),
        span(max, 2..6, 6),
    ];
    // Deleted spans may overlap: a long one, ones inside it, one range deleted twice.
    let deleted =
        vec![span(c, 0..100, 5), span(c, 2..4, 6), span(c, 3..50, 7), span(c, 60..70, 9), span(c, 60..70, 8)];
    write(&store, HistoryBatch { inserted, deleted, ..batch(nb.id, 0, 9) }).await;
    write(&store, HistoryBatch { inserted: vec![span(c, 0..1000, 1)], ..batch(elsewhere, 0, 1) }).await;

    // Ranges that only touch [from, to) are out.
    assert_eq!(spans(&store, nb.id, false, c, 5..10).await, vec![span(c, 5..10, 2)]);
    assert_eq!(
        spans(&store, nb.id, false, c, 4..11).await,
        vec![span(c, 0..5, 1), span(c, 5..10, 2), span(c, 10..20, 3)]
    );
    assert_eq!(
        spans(&store, nb.id, false, c, 12..13).await,
        vec![span(c, 10..20, 3)],
        "starting before `from`"
    );
    assert_eq!(spans(&store, nb.id, false, c, 20..30).await, vec![], "a gap");
    assert_eq!(spans(&store, nb.id, false, c, 25..u32::MAX).await, vec![span(c, 30..40, 4)]);
    assert_eq!(spans(&store, nb.id, false, c, 0..u32::MAX).await.len(), 4);

    // Deleted spans, including every overlapping one that starts before `from`.
    assert_eq!(spans(&store, nb.id, true, c, 10..11).await, vec![span(c, 0..100, 5), span(c, 3..50, 7)]);
    assert_eq!(
        spans(&store, nb.id, true, c, 3..4).await,
        vec![span(c, 0..100, 5), span(c, 2..4, 6), span(c, 3..50, 7)]
    );
    assert_eq!(
        spans(&store, nb.id, true, c, 65..66).await,
        vec![span(c, 0..100, 5), span(c, 60..70, 8), span(c, 60..70, 9)]
    );
    assert_eq!(spans(&store, nb.id, true, c, 100..200).await, vec![]);
    assert_eq!(spans(&store, nb.id, true, big, 0..10).await, vec![], "inserted spans are not deleted ones");

    // Client ids at and above 2^63 are distinct and exact.
    assert_eq!(spans(&store, nb.id, false, big, 0..10).await, vec![span(big, 0..4, 5)]);
    assert_eq!(spans(&store, nb.id, false, max, 5..6).await, vec![span(max, 2..6, 6)]);
    assert_eq!(spans(&store, nb.id, false, 8, 0..u32::MAX).await, vec![]);
}

pub async fn spans_between_lists_what_a_range_of_updates_wrote(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    let inserted = vec![span(7, 0..5, 1), span(u64::MAX, 0..2, 2), span(7, 5..9, 2), span(7, 9..10, 4)];
    let deleted = vec![span(7, 1..2, 2), span(7, 0..1, 3)];
    write(&store, HistoryBatch { inserted, deleted, ..batch(nb.id, 0, 4) }).await;
    let got = store.spans_between(nb.id, 2, 3).await.expect("spans between");
    assert_eq!(
        got,
        vec![
            (false, span(7, 5..9, 2)),
            (false, span(u64::MAX, 0..2, 2)),
            (true, span(7, 1..2, 2)),
            (true, span(7, 0..1, 3))
        ]
    );
    assert_eq!(store.spans_between(nb.id, 5, 9).await.expect("spans between"), vec![]);
}

// --- the log's metadata ---

pub async fn actor_ids_are_logged_and_read_back_with_update_meta(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let bob = user(&store, "bob").await;
    let batch = [
        NewUpdate { user_id: Some(alice.id), at: at(100), ..update(nb.id, "typed") },
        NewUpdate { user_id: None, actor_id: Some(bob.id), at: at(200), ..update(nb.id, "bob's run output") },
        NewUpdate { user_id: Some(bob.id), actor_id: Some(alice.id), at: at(300), ..update(nb.id, "both") },
    ];
    store.append_updates(&batch).await.expect("append");
    let meta = |seq: Seq, user: Option<UserId>, actor: Option<UserId>, ms: i64| UpdateMeta {
        seq,
        user_id: user,
        actor_id: actor,
        at: at(ms),
    };
    assert_eq!(
        store.update_meta(nb.id, &[3, 99, 1, 0]).await.expect("update meta"),
        vec![meta(1, Some(alice.id), None, 100), meta(3, Some(bob.id), Some(alice.id), 300)],
        "by seq, unknown numbers left out"
    );
    assert_eq!(
        store.update_meta(nb.id, &[2]).await.expect("update meta"),
        vec![meta(2, None, Some(bob.id), 200)]
    );
    assert_eq!(store.update_meta(nb.id, &[]).await.expect("update meta"), vec![]);
    let actors =
        |log: &[sync_server::store::LoggedUpdate]| log.iter().map(|u| u.actor_id).collect::<Vec<_>>();
    let expected = vec![None, Some(bob.id), Some(alice.id)];
    assert_eq!(actors(&store.updates_between(nb.id, 0, None).await.expect("log")), expected);
    assert_eq!(actors(&store.load_document(nb.id).await.expect("load").tail), expected);
    // The actor must be a user.
    let ghost = UserId(bob.id.0 + 1000);
    assert_not_found(
        store.append_updates(&[NewUpdate { actor_id: Some(ghost), ..update(nb.id, "x") }]).await,
    );
    assert_eq!(store.last_seq(nb.id).await.expect("last seq"), 3);
}

pub async fn seq_at_finds_the_last_update_logged_at_or_before_a_time(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    let project = store.project(nb.project_id).await.expect("project").expect("exists");
    let elsewhere = notebook(&store, &project, "other.ipynb").await.id;
    let batch: Vec<NewUpdate> =
        [100, 200, 200, 300].into_iter().map(|ms| NewUpdate { at: at(ms), ..update(nb.id, "u") }).collect();
    store.append_updates(&batch).await.expect("append");
    store.append_updates(&[NewUpdate { at: at(0), ..update(elsewhere, "e") }]).await.expect("append");
    for (ms, seq) in [(99, 0), (100, 1), (150, 1), (199, 1), (200, 3), (250, 3), (300, 4), (10_000, 4)] {
        assert_eq!(store.seq_at(nb.id, at(ms)).await.expect("seq at"), seq, "at {ms} ms");
    }
    assert_eq!(store.seq_at(elsewhere, at(-1)).await.expect("seq at"), 0);
}

pub async fn nearest_state_is_the_newer_of_checkpoint_and_snapshot(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    assert_eq!(store.nearest_state(nb.id, 100).await.expect("nearest state"), None);
    store.write_checkpoint(nb.id, 10, b"checkpoint 10").await.expect("checkpoint");
    write(&store, HistoryBatch { snapshot: Some((5, b"snapshot 5".to_vec())), ..batch(nb.id, 0, 5) }).await;
    write(&store, HistoryBatch { snapshot: Some((20, b"snapshot 20".to_vec())), ..batch(nb.id, 5, 20) })
        .await;
    let nearest = |upto: Seq| {
        let store = store.clone();
        async move {
            let state = store.nearest_state(nb.id, upto).await.expect("nearest state");
            state.map(|Checkpoint { seq, state }| (seq, String::from_utf8(state).expect("text")))
        }
    };
    assert_eq!(nearest(4).await, None);
    assert_eq!(nearest(5).await, Some((5, "snapshot 5".into())));
    assert_eq!(nearest(15).await, Some((10, "checkpoint 10".into())));
    assert_eq!(nearest(20).await, Some((20, "snapshot 20".into())));
    assert_eq!(nearest(1000).await, Some((20, "snapshot 20".into())));
    store.write_checkpoint(nb.id, 30, b"checkpoint 30").await.expect("checkpoint");
    assert_eq!(nearest(1000).await, Some((30, "checkpoint 30".into())));
    // A snapshot once written is kept (a second one for the same seq does not replace it).
    write(&store, HistoryBatch { snapshot: Some((20, b"again".to_vec())), ..batch(nb.id, 20, 25) }).await;
    assert_eq!(nearest(25).await, Some((20, "snapshot 20".into())));
}

// --- undo and deletion ---

pub async fn undone_events_are_recorded_once_per_event_and_user(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let bob = user(&store, "bob").await;
    store.mark_undone(nb.id, 5, 1, alice.id, at(10)).await.expect("mark undone");
    store.mark_undone(nb.id, 2, 0, alice.id, at(20)).await.expect("mark undone");
    store.mark_undone(nb.id, 2, 0, alice.id, at(30)).await.expect("again: no change");
    store.mark_undone(nb.id, 3, 0, bob.id, at(40)).await.expect("mark undone");
    assert_eq!(store.undone_events(nb.id, alice.id).await.expect("undone"), vec![(2, 0), (5, 1)]);
    assert_eq!(store.undone_events(nb.id, bob.id).await.expect("undone"), vec![(3, 0)]);
    assert_not_found(store.mark_undone(nb.id, 9, 0, UserId(bob.id.0 + 1000), at(50)).await);
}

pub async fn the_history_index_goes_with_its_notebook(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let full = HistoryBatch {
        events: vec![event(nb.id, (1, 0), Some(alice.id), None, (0, 0))],
        inserted: vec![span(7, 0..1, 1)],
        snapshot: Some((1, b"s".to_vec())),
        ..batch(nb.id, 0, 1)
    };
    write(&store, full).await;
    store.mark_undone(nb.id, 1, 0, alice.id, at(0)).await.expect("mark undone");
    store.delete_notebook(nb.id, alice.id).await.expect("delete");
    assert_eq!(store.history_progress(nb.id).await.expect("progress"), 0);
    assert_eq!(listed(&store, nb.id, all(10)).await, vec![]);
    assert_eq!(spans(&store, nb.id, false, 7, 0..1).await, vec![]);
    assert_eq!(store.nearest_state(nb.id, 1).await.expect("nearest state"), None);
    assert_eq!(store.undone_events(nb.id, alice.id).await.expect("undone"), vec![]);
}

/// An indexer step that runs after its notebook was deleted must not leave rows behind: the
/// step fails on the notebook's progress row, before it writes events or spans.
pub async fn a_step_for_a_deleted_notebook_writes_nothing(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    store.delete_notebook(nb.id, alice.id).await.expect("delete");
    let step = HistoryBatch {
        events: vec![event(nb.id, (1, 0), Some(alice.id), None, (0, 0))],
        inserted: vec![span(7, 0..1, 1)],
        ..batch(nb.id, 0, 1)
    };
    assert_not_found(store.write_history(&step).await);
    assert_eq!(listed(&store, nb.id, all(10)).await, vec![]);
    assert_eq!(spans(&store, nb.id, false, 7, 0..1).await, vec![]);
}

// --- the indexer over a real log ---

/// A small realistic log: two users create cells and type into them, a few seconds apart.
fn typed_log(nb: NotebookId, alice: UserId, bob: UserId) -> Vec<NewUpdate> {
    use doc_model::{Cell, CellId, NotebookDoc};
    let doc = NotebookDoc::new();
    let mut updates = Vec::new();
    let mut push = |user: UserId, ms: i64, data: Vec<u8>| {
        updates.push(NewUpdate { user_id: Some(user), at: at(ms), data, ..update(nb, "") });
    };
    for (n, user) in [(0, alice), (1, bob), (2, alice)] {
        let id = CellId::new(format!("cell-{n}"));
        let cell = Cell::code("").with_id(id.clone());
        let ((), data) = doc.edit(|e| e.insert_cell(n, &cell)).expect("insert cell");
        push(user, 10_000 * n as i64, data);
        for (i, ch) in "x = 1\n".chars().enumerate() {
            let ((), data) = doc.edit(|e| e.insert_source(&id, i as u32, &ch.to_string())).expect("type");
            push(user, 10_000 * n as i64 + 100 * (i as i64 + 1), data);
        }
    }
    updates
}

/// An event's first and last seq, part, author, kind, cell, updates and added characters.
type EventFacts = (Seq, i32, Seq, Option<UserId>, String, Option<String>, i64, i64);

/// What an event says, without the notebook it belongs to.
fn facts(events: Vec<HistoryEventRow>) -> Vec<EventFacts> {
    events
        .into_iter()
        .map(|e| (e.first_seq, e.part, e.last_seq, e.user_id, e.kind, e.cell_id, e.updates, e.added))
        .collect()
}

/// The indexer keeps its state between runs; going on from it must give exactly what one
/// run over the whole log gives.
pub async fn indexing_in_several_runs_matches_indexing_at_once(store: DynStore) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let proj = project(&store, &alice, "p").await;
    let (piecewise, at_once) =
        (notebook(&store, &proj, "a.ipynb").await.id, notebook(&store, &proj, "b.ipynb").await.id);
    let history = sync_server::history::History::new(store.clone(), chrono::Duration::seconds(5));

    let log = typed_log(piecewise, alice.id, bob.id);
    for chunk in log.chunks(5) {
        store.append_updates(chunk).await.expect("append");
        history.catch_up(piecewise).await.expect("index a chunk");
    }
    let whole: Vec<NewUpdate> = typed_log(at_once, alice.id, bob.id)
        .into_iter()
        .map(|u| NewUpdate { notebook_id: at_once, ..u })
        .collect();
    store.append_updates(&whole).await.expect("append");
    assert_eq!(history.catch_up(at_once).await.expect("index all"), whole.len() as Seq);

    let filter = all(100);
    let a = facts(store.history_events(piecewise, &filter).await.expect("events"));
    let b = facts(store.history_events(at_once, &filter).await.expect("events"));
    assert_eq!(a, b);
    let kinds: Vec<&str> = a.iter().map(|e| e.4.as_str()).collect();
    assert_eq!(
        kinds,
        ["cell_created", "source_edited", "cell_created", "source_edited", "cell_created", "source_edited"],
        "each cell's creation and its typing as one event: {a:?}"
    );
}
