//! Storage tests: the update log and checkpoints (SPEC §7).

use chrono::{DateTime, Utc};
use sync_server::store::{ClientBinding, DynStore, NewUpdate, NotebookId, Seq, StoreError, UserId};

use super::fixtures::*;

// --- the update log ---

pub async fn one_append_numbers_each_notebook_from_one_in_input_order(store: DynStore) {
    let alice = user(&store, "alice").await;
    let proj = project(&store, &alice, "p").await;
    let x = notebook(&store, &proj, "x.ipynb").await.id;
    let y = notebook(&store, &proj, "y.ipynb").await.id;
    let batch = [update(x, "x1"), update(y, "y1"), update(x, "x2"), update(x, "x3"), update(y, "y2")];
    assert_eq!(store.append_updates(&batch).await.expect("append"), vec![1, 1, 2, 3, 2]);
    let x_log = store.updates_between(x, 0, None).await.expect("x log");
    let y_log = store.updates_between(y, 0, None).await.expect("y log");
    assert_eq!(
        (seqs_of(&x_log), labels_of(&x_log)),
        (vec![1, 2, 3], vec!["x1".into(), "x2".into(), "x3".into()])
    );
    assert_eq!((seqs_of(&y_log), labels_of(&y_log)), (vec![1, 2], vec!["y1".into(), "y2".into()]));
    assert_eq!((store.last_seq(x).await.expect("x"), store.last_seq(y).await.expect("y")), (3, 2));
    assert_eq!(store.append_updates(&[]).await.expect("empty append"), Vec::<Seq>::new());
}

pub async fn later_appends_continue_the_numbering(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    assert_eq!(store.last_seq(nb.id).await.expect("last_seq"), 0);
    assert_eq!(
        store.append_updates(&[update(nb.id, "a"), update(nb.id, "b")]).await.expect("append"),
        vec![1, 2]
    );
    assert_eq!(store.append_updates(&[update(nb.id, "c")]).await.expect("append"), vec![3]);
    assert_eq!(store.last_seq(nb.id).await.expect("last_seq"), 3);
}

/// A batch far bigger than one statement's worth of rows (a busy room's commit) keeps
/// every update, numbered and read back in input order, across two notebooks.
pub async fn a_large_batch_keeps_every_update_in_order(store: DynStore) {
    let alice = user(&store, "alice").await;
    let proj = project(&store, &alice, "p").await;
    let x = notebook(&store, &proj, "x.ipynb").await.id;
    let y = notebook(&store, &proj, "y.ipynb").await.id;
    let batch: Vec<NewUpdate> =
        (0..1001).map(|i| update(if i % 3 == 0 { y } else { x }, &format!("u{i}"))).collect();
    let seqs = store.append_updates(&batch).await.expect("append");
    let x_log = store.updates_between(x, 0, None).await.expect("x log");
    let y_log = store.updates_between(y, 0, None).await.expect("y log");
    assert_eq!(seqs_of(&x_log), (1..=667).collect::<Vec<Seq>>());
    assert_eq!(seqs_of(&y_log), (1..=334).collect::<Vec<Seq>>());
    let expected_x: Vec<String> = (0..1001).filter(|i| i % 3 != 0).map(|i| format!("u{i}")).collect();
    assert_eq!(labels_of(&x_log), expected_x);
    assert_eq!(seqs[..4], [1, 1, 2, 2]);
}

/// An update naming a user who does not exist is refused as not found, and nothing of its
/// batch is written.
pub async fn an_append_by_an_unknown_user_is_not_found_and_writes_nothing(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let ghost = UserId(alice.id.0 + 1000);
    let mut batch: Vec<NewUpdate> = (0..200).map(|_| by(nb.id, Some(alice.id), &[7])).collect();
    batch.push(by(nb.id, Some(ghost), &[8]));
    let err = store.append_updates(&batch).await.expect_err("unknown user");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(store.updates_between(nb.id, 0, None).await.expect("log"), vec![]);
    assert_eq!(store.last_seq(nb.id).await.expect("last_seq"), 0);
    assert_eq!(store.client_bindings(nb.id).await.expect("bindings"), vec![]);
}

pub async fn concurrent_appends_get_gapless_distinct_seqs(store: DynStore) {
    const TASKS: usize = 8;
    const APPENDS: usize = 20;
    let (_, nb) = one_notebook(&store).await;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..APPENDS {
                // Batches of 1 to 3 updates, so reservations of different sizes interleave.
                let batch: Vec<NewUpdate> =
                    (0..=i % 3).map(|j| update(nb.id, &format!("t{task}-{i}-{j}"))).collect();
                let seqs = store.append_updates(&batch).await.expect("append");
                assert!(
                    seqs.windows(2).all(|w| w[1] == w[0] + 1),
                    "one append gets consecutive seqs: {seqs:?}"
                );
                got.extend(seqs.into_iter().zip(batch.into_iter().map(|u| u.data)));
            }
            got
        }));
    }
    let mut returned = Vec::new();
    for task in tasks {
        returned.extend(task.await.expect("task"));
    }
    let total = TASKS * (0..APPENDS).map(|i| i % 3 + 1).sum::<usize>();
    returned.sort();
    let seqs: Vec<Seq> = returned.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=total as Seq).collect::<Vec<_>>(), "seqs 1..=N, each once");
    let log = store.updates_between(nb.id, 0, None).await.expect("log");
    let logged: Vec<(Seq, Vec<u8>)> = log.into_iter().map(|u| (u.seq, u.data)).collect();
    assert_eq!(logged, returned, "each row carries the seq its append returned");
    assert_eq!(store.last_seq(nb.id).await.expect("last_seq"), total as Seq);
}

pub async fn client_ids_round_trip_exactly(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    let ids: [Vec<u64>; 3] =
        [vec![(1 << 53) - 1, 0, u64::from(u32::MAX), 1 << 52], vec![], vec![9_007_199_254_740_990]];
    let batch: Vec<NewUpdate> =
        ids.iter().map(|c| NewUpdate { client_ids: c.clone(), ..update(nb.id, "u") }).collect();
    store.append_updates(&batch).await.expect("append");
    let log = store.updates_between(nb.id, 0, None).await.expect("log");
    assert_eq!(log.iter().map(|u| u.client_ids.clone()).collect::<Vec<_>>(), ids.to_vec());
}

pub async fn authors_and_timestamps_round_trip_to_the_millisecond(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let long_ago: DateTime<Utc> = "1999-12-31T23:59:59.999Z".parse().expect("timestamp");
    let batch = [
        NewUpdate { user_id: Some(alice.id), at: at(123), ..update(nb.id, "alice's") },
        NewUpdate { user_id: None, at: long_ago, ..update(nb.id, "the server's") },
    ];
    store.append_updates(&batch).await.expect("append");
    let log = store.updates_between(nb.id, 0, None).await.expect("log");
    let got: Vec<_> = log.iter().map(|u| (u.user_id, u.at)).collect();
    assert_eq!(got, vec![(Some(alice.id), at(123)), (None, long_ago)]);
}

pub async fn append_to_unknown_notebook_is_not_found_and_writes_nothing(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    let ghost = NotebookId(nb.id.0 + 1000);
    let batch = [update(nb.id, "a"), update(ghost, "lost"), update(nb.id, "b")];
    assert_not_found(store.append_updates(&batch).await);
    assert_eq!(store.updates_between(nb.id, 0, None).await.expect("log"), vec![]);
    assert_eq!(store.updates_between(ghost, 0, None).await.expect("log"), vec![]);
    assert_eq!(store.last_seq(nb.id).await.expect("last_seq"), 0, "no numbers were used up");
    assert_eq!(store.append_updates(&[update(nb.id, "c")]).await.expect("append"), vec![1]);
}

// --- checkpoints ---

pub async fn load_without_checkpoint_returns_the_whole_log(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    append_many(&store, nb.id, 30, 7).await;
    let doc = store.load_document(nb.id).await.expect("load");
    assert_eq!(doc.checkpoint, None);
    assert_eq!(seqs_of(&doc.tail), (1..=30).collect::<Vec<_>>());
    assert_eq!(labels_of(&doc.tail)[29], "u30");
    assert_eq!(doc.last_seq(), 30);
}

pub async fn load_after_checkpoint_reads_only_the_tail(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    append_many(&store, nb.id, 600, 100).await;
    store.write_checkpoint(nb.id, 500, b"state at 500").await.expect("checkpoint");
    let doc = store.load_document(nb.id).await.expect("load");
    let checkpoint = doc.checkpoint.as_ref().expect("a checkpoint");
    assert_eq!((checkpoint.seq, checkpoint.state.as_slice()), (500, b"state at 500".as_slice()));
    assert_eq!(doc.tail.len(), 100);
    assert_eq!(seqs_of(&doc.tail), (501..=600).collect::<Vec<_>>());
    assert_eq!(labels_of(&doc.tail)[0], "u501");
    assert_eq!(doc.last_seq(), 600);
    // The checkpoint folds nothing away: the whole history is still there.
    assert_eq!(store.updates_between(nb.id, 0, None).await.expect("log").len(), 600);
}

pub async fn newest_checkpoint_wins_and_rewriting_one_replaces_it(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    append_many(&store, nb.id, 50, 50).await;
    for seq in [10, 20, 30, 40] {
        store.write_checkpoint(nb.id, seq, format!("state {seq}").as_bytes()).await.expect("checkpoint");
    }
    store.write_checkpoint(nb.id, 40, b"state 40, again").await.expect("rewrite checkpoint");
    let doc = store.load_document(nb.id).await.expect("load");
    let checkpoint = doc.checkpoint.expect("a checkpoint");
    assert_eq!((checkpoint.seq, checkpoint.state.clone()), (40, b"state 40, again".to_vec()));
    assert_eq!(seqs_of(&doc.tail), (41..=50).collect::<Vec<_>>());
    assert_eq!(store.latest_checkpoint(nb.id).await.expect("latest"), Some(checkpoint), "read alone");
    let fresh = notebook(&store, &project(&store, &alice, "other").await, "fresh.ipynb").await;
    assert_eq!(store.latest_checkpoint(fresh.id).await.expect("latest"), None);
}

pub async fn updates_between_honours_its_bounds(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    append_many(&store, nb.id, 40, 40).await;
    let between = |after: Seq, upto: Option<Seq>| {
        let store = store.clone();
        async move { seqs_of(&store.updates_between(nb.id, after, upto).await.expect("updates_between")) }
    };
    assert_eq!(between(10, Some(20)).await, (11..=20).collect::<Vec<_>>());
    assert_eq!(between(35, None).await, (36..=40).collect::<Vec<_>>());
    assert_eq!(between(0, Some(1)).await, vec![1]);
    assert_eq!(between(20, Some(20)).await, Vec::<Seq>::new());
    assert_eq!(between(40, None).await, Vec::<Seq>::new());
    assert_eq!(between(38, Some(1000)).await, vec![39, 40]);
}

pub async fn unknown_notebook_has_no_document(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    let ghost = NotebookId(nb.id.0 + 1000);
    assert_not_found(store.load_document(ghost).await);
    assert_not_found(store.last_seq(ghost).await);
    assert_not_found(store.write_checkpoint(ghost, 0, b"").await);
    let empty = store.load_document(nb.id).await.expect("an empty notebook loads");
    assert_eq!((empty.last_seq(), empty.tail.len(), empty.checkpoint), (0, 0, None));
}

// --- client id bindings (SPEC §6) ---

/// An update by `user` (`None`: the server) carrying `client_ids`.
fn by(notebook: NotebookId, user: Option<UserId>, client_ids: &[u64]) -> NewUpdate {
    NewUpdate { user_id: user, client_ids: client_ids.to_vec(), ..update(notebook, "bound") }
}

pub async fn the_first_update_to_carry_a_client_id_binds_it_to_its_user(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let bob = user(&store, "bob").await;
    assert_eq!(store.client_bindings(nb.id).await.expect("bindings"), vec![]);
    // In one batch the first update wins; the server's own edits bind to nobody.
    let batch =
        [by(nb.id, Some(alice.id), &[10, 11]), by(nb.id, Some(bob.id), &[11, 12]), by(nb.id, None, &[13])];
    store.append_updates(&batch).await.expect("append");
    // Later updates never rebind an id.
    store.append_updates(&[by(nb.id, Some(bob.id), &[10, 14])]).await.expect("append");
    let binding = |client_id: u64, user: Option<UserId>| ClientBinding { client_id, user_id: user };
    assert_eq!(
        store.client_bindings(nb.id).await.expect("bindings"),
        vec![
            binding(10, Some(alice.id)),
            binding(11, Some(alice.id)),
            binding(12, Some(bob.id)),
            binding(13, None),
            binding(14, Some(bob.id)),
        ]
    );
}

pub async fn bindings_are_per_notebook_and_keep_every_u64(store: DynStore) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let proj = project(&store, &alice, "p").await;
    let x = notebook(&store, &proj, "x.ipynb").await.id;
    let y = notebook(&store, &proj, "y.ipynb").await.id;
    let big = [u64::MAX, 1 << 63, (1 << 53) - 1];
    store
        .append_updates(&[by(x, Some(alice.id), &big), by(y, Some(bob.id), &[u64::MAX])])
        .await
        .expect("append");
    let x_bindings: Vec<(u64, Option<UserId>)> =
        store.client_bindings(x).await.expect("x").into_iter().map(|b| (b.client_id, b.user_id)).collect();
    assert_eq!(
        x_bindings,
        vec![((1 << 53) - 1, Some(alice.id)), (1 << 63, Some(alice.id)), (u64::MAX, Some(alice.id))],
        "ordered as unsigned ids"
    );
    assert_eq!(
        store.client_bindings(y).await.expect("y"),
        vec![ClientBinding { client_id: u64::MAX, user_id: Some(bob.id) }],
        "the same id is bound separately in another notebook"
    );
    store.delete_notebook(x, alice.id).await.expect("delete x");
    assert_eq!(store.client_bindings(x).await.expect("x after delete"), vec![]);
}

pub async fn a_failed_append_binds_nothing(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let ghost = NotebookId(nb.id.0 + 1000);
    let batch = [by(nb.id, Some(alice.id), &[21]), by(ghost, Some(alice.id), &[22])];
    assert!(store.append_updates(&batch).await.is_err());
    assert_eq!(store.client_bindings(nb.id).await.expect("bindings"), vec![]);
}
