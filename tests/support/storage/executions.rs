//! Storage tests: execution records, one per run of a cell (SPEC §2, §8), and the
//! notebook's `others_may_run` flag.

use sync_server::store::{
    DynStore, ExecutionFilter, ExecutionId, ExecutionRecord, ExecutionStatus, NewExecution, NotebookBlock,
    NotebookId, NotebookRow, StoreError, User,
};

use super::fixtures::*;

/// A run of `cell` asked for by `user`, queued at `at(queued_ms)`; its source names the
/// cell so that rows can be told apart.
fn run(notebook: NotebookId, cell: &str, user: &User, queued_ms: i64) -> NewExecution {
    NewExecution {
        notebook_id: notebook,
        cell_id: cell.to_owned(),
        user_id: user.id,
        kernel_id: format!("kernel-of-{}", user.name),
        kernelspec: "python3".to_owned(),
        source: format!("print('{cell}')"),
        queued_at: at(queued_ms),
    }
}

/// Every execution, newest first, at most `limit`.
fn all(limit: i64) -> ExecutionFilter {
    ExecutionFilter { user: None, cell: None, limit, before: None }
}

fn ids_of(records: &[ExecutionRecord]) -> Vec<ExecutionId> {
    records.iter().map(|r| r.id).collect()
}

async fn create(store: &DynStore, new: NewExecution) -> ExecutionRecord {
    store.create_execution(&new).await.expect("create execution")
}

async fn read(store: &DynStore, id: ExecutionId) -> ExecutionRecord {
    store.execution(id).await.expect("read execution").expect("the execution exists")
}

pub async fn a_run_is_recorded_from_queue_to_end_with_every_field(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let new = NewExecution {
        notebook_id: nb.id,
        cell_id: "cell-7f3a".to_owned(),
        user_id: alice.id,
        kernel_id: "3b8e0c9e-kernel".to_owned(),
        kernelspec: "julia-1.11".to_owned(),
        source: "for i in range(3):\n    print('héllo', i)\n1/0".to_owned(),
        queued_at: at(1_001),
    };
    let queued = store.create_execution(&new).await.expect("create");
    let expected = ExecutionRecord {
        id: queued.id,
        notebook_id: nb.id,
        cell_id: "cell-7f3a".to_owned(),
        user_id: alice.id,
        kernel_id: "3b8e0c9e-kernel".to_owned(),
        kernelspec: "julia-1.11".to_owned(),
        source: "for i in range(3):\n    print('héllo', i)\n1/0".to_owned(),
        status: ExecutionStatus::Queued,
        execution_count: None,
        queued_at: at(1_001),
        started_at: None,
        ended_at: None,
        error: None,
    };
    assert_eq!(queued, expected);
    assert_eq!(read(&store, queued.id).await, expected);

    store.execution_started(queued.id, at(1_502)).await.expect("started");
    let running =
        ExecutionRecord { status: ExecutionStatus::Running, started_at: Some(at(1_502)), ..expected.clone() };
    assert_eq!(read(&store, queued.id).await, running);

    store
        .execution_finished(
            queued.id,
            ExecutionStatus::Error,
            Some(12),
            Some("ZeroDivisionError: division by zero"),
            at(2_003),
        )
        .await
        .expect("finished");
    let ended = ExecutionRecord {
        status: ExecutionStatus::Error,
        execution_count: Some(12),
        ended_at: Some(at(2_003)),
        error: Some("ZeroDivisionError: division by zero".to_owned()),
        ..running
    };
    assert_eq!(read(&store, queued.id).await, ended);
    assert_eq!(store.executions(nb.id, &all(10)).await.expect("list"), vec![ended]);
}

pub async fn the_first_end_of_a_run_wins(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;

    // Cancelled while queued, then the kernel's late reply: the cancel stays.
    let cancelled = create(&store, run(nb.id, "c1", &alice, 0)).await;
    store
        .execution_finished(cancelled.id, ExecutionStatus::Aborted, None, Some("cancelled by alice"), at(10))
        .await
        .expect("cancel");
    let after_cancel = read(&store, cancelled.id).await;
    assert_eq!(
        after_cancel,
        ExecutionRecord {
            status: ExecutionStatus::Aborted,
            ended_at: Some(at(10)),
            error: Some("cancelled by alice".to_owned()),
            ..cancelled.clone()
        },
        "aborted in the queue: never started"
    );
    store.execution_started(cancelled.id, at(20)).await.expect("late start");
    store
        .execution_finished(cancelled.id, ExecutionStatus::Ok, Some(1), None, at(30))
        .await
        .expect("late end");
    assert_eq!(read(&store, cancelled.id).await, after_cancel);

    // A second start keeps the first start time; a finished run keeps its first end.
    let ok = create(&store, run(nb.id, "c2", &alice, 100)).await;
    store.execution_started(ok.id, at(110)).await.expect("start");
    store.execution_started(ok.id, at(120)).await.expect("start again");
    store.execution_finished(ok.id, ExecutionStatus::Ok, Some(2), None, at(130)).await.expect("end");
    store
        .execution_finished(ok.id, ExecutionStatus::Aborted, None, Some("kernel died"), at(140))
        .await
        .expect("second end");
    assert_eq!(
        read(&store, ok.id).await,
        ExecutionRecord {
            status: ExecutionStatus::Ok,
            execution_count: Some(2),
            started_at: Some(at(110)),
            ended_at: Some(at(130)),
            ..ok.clone()
        }
    );
}

pub async fn a_status_that_is_not_final_cannot_end_a_run(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let queued = create(&store, run(nb.id, "c1", &alice, 0)).await;
    for status in [ExecutionStatus::Queued, ExecutionStatus::Running] {
        let result = store.execution_finished(queued.id, status, Some(1), None, at(5)).await;
        assert!(matches!(result, Err(StoreError::Database(_))), "{status:?} is not an end: {result:?}");
    }
    assert_eq!(read(&store, queued.id).await, queued);
}

pub async fn executions_are_listed_newest_first_and_filtered_by_user_and_cell(store: DynStore) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let project = project(&store, &alice, "analysis").await;
    let nb = notebook(&store, &project, "main.ipynb").await;
    let other = notebook(&store, &project, "other.ipynb").await;
    let r1 = create(&store, run(nb.id, "c1", &alice, 1)).await;
    let r2 = create(&store, run(nb.id, "c1", &bob, 2)).await;
    let elsewhere = create(&store, run(other.id, "c1", &alice, 3)).await;
    let r3 = create(&store, run(nb.id, "c2", &alice, 4)).await;
    let r4 = create(&store, run(nb.id, "c1", &alice, 5)).await;
    let r5 = create(&store, run(nb.id, "c2", &bob, 6)).await;
    let r6 = create(&store, run(nb.id, "c1", &bob, 7)).await;

    let nb_id = nb.id;
    let list = |filter: ExecutionFilter| {
        let store = store.clone();
        async move { ids_of(&store.executions(nb_id, &filter).await.expect("list")) }
    };
    let by = |user: Option<&User>, cell: Option<&str>, limit: i64, before: Option<&ExecutionRecord>| {
        ExecutionFilter {
            user: user.map(|u| u.id),
            cell: cell.map(str::to_owned),
            limit,
            before: before.map(|r| r.id),
        }
    };

    // Whole records, not only ids: the listing reads every column.
    let everything = store.executions(nb.id, &all(100)).await.expect("list");
    assert_eq!(everything, vec![r6.clone(), r5.clone(), r4.clone(), r3.clone(), r2.clone(), r1.clone()]);
    assert_eq!(store.executions(other.id, &all(100)).await.expect("other"), vec![elsewhere]);

    assert_eq!(list(by(Some(&alice), None, 100, None)).await, vec![r4.id, r3.id, r1.id]);
    assert_eq!(list(by(Some(&bob), None, 100, None)).await, vec![r6.id, r5.id, r2.id]);
    assert_eq!(list(by(None, Some("c1"), 100, None)).await, vec![r6.id, r4.id, r2.id, r1.id]);
    assert_eq!(list(by(None, Some("c2"), 100, None)).await, vec![r5.id, r3.id]);
    assert_eq!(list(by(Some(&alice), Some("c1"), 100, None)).await, vec![r4.id, r1.id]);
    assert_eq!(list(by(Some(&bob), Some("c2"), 100, None)).await, vec![r5.id]);
    assert_eq!(list(by(None, Some("no-such-cell"), 100, None)).await, vec![]);

    assert_eq!(list(all(2)).await, vec![r6.id, r5.id]);
    assert_eq!(list(all(0)).await, vec![]);
    assert_eq!(list(all(-1)).await, vec![], "a negative limit lists nothing on both backends");
    assert_eq!(list(by(None, None, 100, Some(&r4))).await, vec![r3.id, r2.id, r1.id]);
    assert_eq!(list(by(None, None, 2, Some(&r4))).await, vec![r3.id, r2.id]);
    assert_eq!(list(by(None, None, 100, Some(&r1))).await, vec![]);
    assert_eq!(list(by(None, Some("c1"), 1, Some(&r4))).await, vec![r2.id]);
    assert_eq!(list(by(Some(&alice), None, 1, Some(&r4))).await, vec![r3.id]);
    assert_eq!(list(by(Some(&alice), Some("c1"), 100, Some(&r4))).await, vec![r1.id]);

    // Paging backwards two at a time visits every run once, newest first.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = list(ExecutionFilter { before, ..all(2) }).await;
        let Some(&last) = page.last() else { break };
        before = Some(last);
        pages.push(page);
    }
    assert_eq!(pages, vec![vec![r6.id, r5.id], vec![r4.id, r3.id], vec![r2.id, r1.id]]);
}

pub async fn unknown_executions_notebooks_and_users_are_not_found(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let known = create(&store, run(nb.id, "c1", &alice, 0)).await;
    let ghost = ExecutionId(known.id.0 + 1000);
    assert_eq!(store.execution(ghost).await.expect("read"), None);
    assert_not_found(store.execution_started(ghost, at(1)).await);
    assert_not_found(store.execution_finished(ghost, ExecutionStatus::Ok, Some(1), None, at(2)).await);

    let no_notebook = NotebookId(nb.id.0 + 1000);
    assert_not_found(store.create_execution(&run(no_notebook, "c1", &alice, 0)).await);
    let stranger = User { id: sync_server::store::UserId(alice.id.0 + 1000), ..alice.clone() };
    assert_not_found(store.create_execution(&run(nb.id, "c1", &stranger, 0)).await);
    assert_eq!(store.executions(no_notebook, &all(100)).await.expect("list"), vec![]);
    assert_eq!(store.executions(nb.id, &all(100)).await.expect("list"), vec![known], "nothing else written");
}

pub async fn aborting_unfinished_runs_touches_only_queued_and_running_ones(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let queued = create(&store, run(nb.id, "c1", &alice, 0)).await;
    let running = create(&store, run(nb.id, "c2", &alice, 1)).await;
    store.execution_started(running.id, at(2)).await.expect("start");
    let ok = create(&store, run(nb.id, "c3", &alice, 3)).await;
    store.execution_started(ok.id, at(4)).await.expect("start");
    store.execution_finished(ok.id, ExecutionStatus::Ok, Some(1), None, at(5)).await.expect("ok");
    let failed = create(&store, run(nb.id, "c4", &alice, 6)).await;
    store.execution_started(failed.id, at(7)).await.expect("start");
    store
        .execution_finished(failed.id, ExecutionStatus::Error, Some(2), Some("NameError: x"), at(8))
        .await
        .expect("error");
    let cancelled = create(&store, run(nb.id, "c5", &alice, 9)).await;
    store
        .execution_finished(cancelled.id, ExecutionStatus::Aborted, None, Some("cancelled"), at(10))
        .await
        .expect("cancel");
    let finished_before =
        vec![read(&store, cancelled.id).await, read(&store, failed.id).await, read(&store, ok.id).await];

    let reason = "the server stopped while this ran";
    assert_eq!(store.abort_unfinished_executions(reason, at(9_000)).await.expect("abort"), 2);

    let mut after = store.executions(nb.id, &all(100)).await.expect("list");
    let still_finished = after.drain(..3).collect::<Vec<_>>();
    assert_eq!(still_finished, finished_before, "finished runs are untouched");
    assert_eq!(
        after,
        vec![
            ExecutionRecord {
                status: ExecutionStatus::Aborted,
                started_at: Some(at(2)),
                ended_at: Some(at(9_000)),
                error: Some(reason.to_owned()),
                ..running
            },
            ExecutionRecord {
                status: ExecutionStatus::Aborted,
                ended_at: Some(at(9_000)),
                error: Some(reason.to_owned()),
                ..queued
            },
        ]
    );
    assert_eq!(store.abort_unfinished_executions(reason, at(9_500)).await.expect("again"), 0);
}

pub async fn executions_go_with_their_notebook(store: DynStore) {
    let alice = user(&store, "alice").await;
    let project = project(&store, &alice, "analysis").await;
    let doomed = notebook(&store, &project, "doomed.ipynb").await;
    let kept = notebook(&store, &project, "kept.ipynb").await;
    let gone = create(&store, run(doomed.id, "c1", &alice, 0)).await;
    store.execution_started(gone.id, at(1)).await.expect("start");
    let stays = create(&store, run(kept.id, "c1", &alice, 2)).await;

    store.delete_notebook(doomed.id, alice.id).await.expect("delete");
    assert_eq!(store.execution(gone.id).await.expect("read"), None);
    assert_eq!(store.executions(doomed.id, &all(100)).await.expect("list"), vec![]);
    assert_not_found(store.execution_finished(gone.id, ExecutionStatus::Ok, None, None, at(3)).await);
    assert_eq!(store.executions(kept.id, &all(100)).await.expect("list"), vec![stays]);
    assert_eq!(store.abort_unfinished_executions("stopped", at(4)).await.expect("abort"), 1);
}

pub async fn others_may_run_is_off_by_default_and_can_be_switched(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    assert!(!nb.others_may_run, "a new notebook lets only authors run their cells");
    assert_eq!(store.notebook(nb.id).await.expect("read"), Some(nb.clone()));

    let allowed = store.set_others_may_run(nb.id, true, alice.id).await.expect("allow");
    assert_eq!(allowed, NotebookRow { others_may_run: true, ..nb.clone() });
    assert_eq!(store.notebook(nb.id).await.expect("read"), Some(allowed.clone()));
    assert_eq!(store.notebooks_in(nb.project_id).await.expect("list"), vec![allowed.clone()]);
    let again = store.set_others_may_run(nb.id, true, alice.id).await.expect("allow again");
    assert_eq!(again, allowed);

    let denied = store.set_others_may_run(nb.id, false, alice.id).await.expect("deny");
    assert_eq!(denied, nb);
    assert_eq!(store.notebook(nb.id).await.expect("read"), Some(nb.clone()));

    let ghost = NotebookId(nb.id.0 + 1000);
    assert_not_found(store.set_others_may_run(ghost, true, alice.id).await);
}

pub async fn others_may_run_cannot_be_changed_past_someone_elses_block(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let bob = user(&store, "bob").await;
    let blocked = store.block_notebook(nb.id, alice.id, at(0)).await.expect("block");
    let held = NotebookBlock { holder: alice.id, since: at(0) };
    match store.set_others_may_run(nb.id, true, bob.id).await {
        Err(StoreError::Blocked(block)) => assert_eq!(block, held),
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert_eq!(store.notebook(nb.id).await.expect("read"), Some(blocked.clone()));

    // The holder may.
    let allowed = store.set_others_may_run(nb.id, true, alice.id).await.expect("holder allows");
    assert_eq!(allowed, NotebookRow { others_may_run: true, ..blocked });
}
