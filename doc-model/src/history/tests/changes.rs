//! `Replayer`: logged updates replayed into readable changes.

use serde_json::json;
use yrs::{Map, Out, TextPrelim, Transact};

use super::{ALICE, BOB, cid, edit, peer, sync};
use crate::history::{Change, ChangeKind, Replayer};
use crate::{Cell, CellKind, ExecutionState, JsonObject, NotebookDoc, Output};

fn change(kind: ChangeKind, cell: Option<&str>, detail: serde_json::Value) -> Change {
    Change { kind, cell_id: cell.map(str::to_owned), added: 0, removed: 0, detail }
}

fn edited(cell: &str, added: u32, removed: u32) -> Change {
    Change { added, removed, ..change(ChangeKind::SourceEdited, Some(cell), json!({})) }
}

/// Alice's notebook with code cells `a` and `b` (sources "a0" and "b0"), replayed so far.
fn start() -> (NotebookDoc, Replayer) {
    let doc = NotebookDoc::with_client_id(ALICE);
    let update = edit(&doc, |ed| {
        ed.init(&JsonObject::new());
        ed.push_cell(&Cell::code("a0").with_id(cid("a")))?;
        ed.push_cell(&Cell::code("b0").with_id(cid("b")))
    });
    let mut replayer = Replayer::new();
    let changes = replayer.apply(&update).expect("replay");
    assert_eq!(
        changes,
        vec![
            change(ChangeKind::CellCreated, Some("a"), json!({"index": 0, "cell_type": "code"})),
            change(ChangeKind::CellCreated, Some("b"), json!({"index": 1, "cell_type": "code"})),
            change(ChangeKind::NotebookMetadataChanged, None, json!({"keys": []})),
        ]
    );
    (doc, replayer)
}

fn replay(replayer: &mut Replayer, update: &[u8]) -> Vec<Change> {
    replayer.apply(update).expect("replay")
}

#[test]
fn typing_and_deleting_report_utf16_lengths() {
    let (doc, mut r) = start();
    let u = edit(&doc, |ed| ed.insert_source(&cid("a"), 2, "x"));
    assert_eq!(replay(&mut r, &u), vec![edited("a", 1, 0)]);
    let u = edit(&doc, |ed| ed.delete_source(&cid("a"), 0, 2));
    assert_eq!(replay(&mut r, &u), vec![edited("a", 0, 2)]);
    // A surrogate pair is two UTF-16 code units, as Yjs counts.
    let u = edit(&doc, |ed| ed.insert_source(&cid("b"), 0, "😀é"));
    assert_eq!(replay(&mut r, &u), vec![edited("b", 3, 0)]);
    let u = edit(&doc, |ed| ed.delete_source(&cid("b"), 0, 2));
    assert_eq!(replay(&mut r, &u), vec![edited("b", 0, 2)]);
    // Typing and deleting in one update: one change for the cell.
    let u = edit(&doc, |ed| {
        ed.insert_source(&cid("b"), 0, "abc")?;
        ed.delete_source(&cid("b"), 3, 1)
    });
    assert_eq!(replay(&mut r, &u), vec![edited("b", 3, 1)]);
    assert_eq!(r.doc().read(), doc.read());
}

#[test]
fn concurrent_edits_merged_into_one_update_are_reported_in_document_order() {
    let (alice, mut r) = start();
    let bob = peer(&alice, BOB);
    let from_bob = edit(&bob, |ed| ed.insert_source(&cid("b"), 0, "bob "));
    let from_alice = edit(&alice, |ed| ed.insert_source(&cid("a"), 2, " alice"));
    let merged = yrs::merge_updates_v1([from_bob.as_slice(), from_alice.as_slice()]).expect("merge");
    assert_eq!(replay(&mut r, &merged), vec![edited("a", 6, 0), edited("b", 4, 0)]);
}

#[test]
fn cells_created_deleted_and_moved() {
    let (doc, mut r) = start();
    let u = edit(&doc, |ed| ed.insert_cell(1, &Cell::markdown("# m").with_id(cid("m"))));
    let created = change(ChangeKind::CellCreated, Some("m"), json!({"index": 1, "cell_type": "markdown"}));
    assert_eq!(replay(&mut r, &u), vec![created]);
    // a, m, b → m, b, a: deleted and re-inserted with the same id, as Jupyter moves.
    let u = edit(&doc, |ed| ed.move_cell(&cid("a"), 2));
    assert_eq!(
        replay(&mut r, &u),
        vec![change(ChangeKind::CellMoved, Some("a"), json!({"from": 0, "to": 2}))]
    );
    let u = edit(&doc, |ed| ed.delete_cell(&cid("b")).map(drop));
    assert_eq!(replay(&mut r, &u), vec![change(ChangeKind::CellDeleted, Some("b"), json!({"index": 1}))]);
    // Edits inside a cell created or deleted by the same update add nothing; a deleted cell
    // is reported where it was.
    let u = edit(&doc, |ed| {
        ed.push_cell(&Cell::code("").with_id(cid("n")))?;
        ed.insert_source(&cid("n"), 0, "typed")?;
        ed.insert_source(&cid("m"), 0, "gone")?;
        ed.delete_cell(&cid("m")).map(drop)?;
        ed.insert_source(&cid("a"), 0, "kept")
    });
    assert_eq!(
        replay(&mut r, &u),
        vec![
            change(ChangeKind::CellDeleted, Some("m"), json!({"index": 0})),
            edited("a", 4, 0),
            change(ChangeKind::CellCreated, Some("n"), json!({"index": 1, "cell_type": "code"})),
        ]
    );
    assert_eq!(r.doc().read(), doc.read());
}

#[test]
fn outputs_and_execution_count_change_outputs_but_execution_state_is_noise() {
    let (doc, mut r) = start();
    let outputs = |n: usize| change(ChangeKind::OutputsChanged, Some("a"), json!({"outputs": n}));
    let u = edit(&doc, |ed| ed.set_execution_state(&cid("a"), ExecutionState::Busy));
    assert_eq!(replay(&mut r, &u), vec![]);
    let u = edit(&doc, |ed| ed.append_output(&cid("a"), &Output::stream("stdout", "1\n")));
    assert_eq!(replay(&mut r, &u), vec![outputs(1)]);
    // A stream append grows the last output's Y.Text.
    let u = edit(&doc, |ed| ed.append_output(&cid("a"), &Output::stream("stdout", "2\n")));
    assert_eq!(replay(&mut r, &u), vec![outputs(1)]);
    let u = edit(&doc, |ed| {
        ed.set_execution_count(&cid("a"), Some(1))?;
        ed.set_execution_state(&cid("a"), ExecutionState::Idle)
    });
    assert_eq!(replay(&mut r, &u), vec![outputs(1)]);
    let u = edit(&doc, |ed| ed.clear_outputs(&cid("a")));
    assert_eq!(replay(&mut r, &u), vec![outputs(0)]);
}

#[test]
fn metadata_changes_name_the_keys_that_changed() {
    let (doc, mut r) = start();
    let meta =
        |keys: serde_json::Value| change(ChangeKind::MetadataChanged, Some("b"), json!({"keys": keys}));
    let u = edit(&doc, |ed| ed.set_cell_metadata(&cid("b"), "tags", Some(&json!(["x"]))));
    assert_eq!(replay(&mut r, &u), vec![meta(json!(["tags"]))]);
    // The whole map replaced: only the keys whose values differ.
    let mut replaced = JsonObject::new();
    replaced.insert("tags".into(), json!(["x"]));
    replaced.insert("collapsed".into(), json!(true));
    let u = edit(&doc, |ed| ed.replace_cell_metadata(&cid("b"), &replaced));
    assert_eq!(replay(&mut r, &u), vec![meta(json!(["collapsed"]))]);
    let u = edit(&doc, |ed| ed.set_cell_metadata(&cid("b"), "tags", Some(&json!(["x"]))));
    assert_eq!(replay(&mut r, &u), vec![], "the same value again changes nothing");
    let u = edit(&doc, |ed| ed.set_cell_metadata(&cid("b"), "collapsed", None));
    assert_eq!(replay(&mut r, &u), vec![meta(json!(["collapsed"]))]);

    let u = edit(&doc, |ed| {
        ed.set_notebook_metadata("kernelspec", Some(&json!({"name": "python3"})));
        Ok(())
    });
    let nb = change(ChangeKind::NotebookMetadataChanged, None, json!({"keys": ["kernelspec"]}));
    assert_eq!(replay(&mut r, &u), vec![nb]);
}

#[test]
fn cell_type_attachments_and_replaced_source() {
    let (doc, mut r) = start();
    let u = edit(&doc, |ed| ed.set_cell_type(&cid("b"), CellKind::Markdown));
    let to = change(ChangeKind::CellTypeChanged, Some("b"), json!({"to": "markdown"}));
    assert_eq!(replay(&mut r, &u), vec![to]);
    let mut att = JsonObject::new();
    att.insert("img.png".into(), json!({"image/png": "AAAA"}));
    let u = edit(&doc, |ed| ed.set_attachments(&cid("b"), Some(&att)));
    assert_eq!(replay(&mut r, &u), vec![change(ChangeKind::AttachmentsChanged, Some("b"), json!({}))]);

    // A client that sets `source` to a new Y.Text: its old length is remembered.
    let u = {
        let mut txn = doc.doc().transact_mut();
        let Some(Out::YMap(cell)) = yrs::Array::get(&doc.roots().cells, &txn, 0) else { panic!("no cell") };
        cell.insert(&mut txn, "source", TextPrelim::new("new text"));
        txn.encode_update_v1()
    };
    assert_eq!(replay(&mut r, &u), vec![edited("a", 8, 2)]);
}

#[test]
fn server_state_reports_mode_block_and_run_permission_only_when_they_change() {
    let (doc, mut r) = start();
    let block = json!({"holder": 7, "holder_name": "alice", "since": "2026-11-01T00:00:00.000Z"});
    let policy = |mode: &str, block: &serde_json::Value, run: bool| {
        edit(&doc, |ed| {
            ed.set_server_state("mode", Some(&json!(mode)));
            ed.set_server_state("others_may_run", Some(&json!(run)));
            ed.set_server_state("block", Some(block));
            Ok(())
        })
    };
    let u = policy("thread", &json!(null), false);
    let first = vec![
        change(ChangeKind::ModeChanged, None, json!({"mode": "thread"})),
        change(ChangeKind::OthersMayRunChanged, None, json!({"allowed": false})),
    ];
    assert_eq!(replay(&mut r, &u), first, "a first null block is no unblock");
    let u = policy("pair", &json!(null), false);
    assert_eq!(replay(&mut r, &u), vec![change(ChangeKind::ModeChanged, None, json!({"mode": "pair"}))]);
    let u = policy("pair", &block, true);
    assert_eq!(
        replay(&mut r, &u),
        vec![
            change(ChangeKind::Blocked, None, json!({"holder": 7, "holder_name": "alice"})),
            change(ChangeKind::OthersMayRunChanged, None, json!({"allowed": true})),
        ]
    );
    let u = policy("pair", &json!(null), true);
    assert_eq!(replay(&mut r, &u), vec![change(ChangeKind::Unblocked, None, json!({}))]);
    let u = policy("pair", &json!(null), true);
    assert_eq!(replay(&mut r, &u), vec![]);
}

#[test]
fn provenance_and_state_roots_report_nothing() {
    let (doc, mut r) = start();
    let provenance = crate::Provenance {
        author: crate::UserId(7),
        author_name: "alice".into(),
        created_at: chrono::DateTime::UNIX_EPOCH,
    };
    let u = edit(&doc, |ed| {
        ed.record_provenance(&cid("a"), &provenance);
        Ok(())
    });
    assert_eq!(replay(&mut r, &u), vec![]);
}

#[test]
fn replay_from_a_checkpoint_knows_the_cells_it_holds() {
    let (alice, _) = start();
    edit(&alice, |ed| ed.set_cell_metadata(&cid("b"), "tags", Some(&json!(["t"]))));
    let mut r = Replayer::from_state(&alice.encode_state()).expect("checkpoint");
    let bob = peer(&alice, BOB);
    let u = edit(&bob, |ed| {
        ed.delete_cell(&cid("a")).map(drop)?;
        ed.set_cell_metadata(&cid("b"), "collapsed", Some(&json!(true)))
    });
    assert_eq!(
        replay(&mut r, &u),
        vec![
            change(ChangeKind::CellDeleted, Some("a"), json!({"index": 0})),
            change(ChangeKind::MetadataChanged, Some("b"), json!({"keys": ["collapsed"]})),
        ]
    );
    sync(&alice, &bob);
    assert_eq!(r.doc().read(), alice.read());
}

#[test]
fn change_kinds_round_trip_through_their_names() {
    for name in ["cell_created", "source_edited", "notebook_metadata_changed", "others_may_run_changed"] {
        let kind = ChangeKind::parse(name).expect("known kind");
        assert_eq!(kind.as_str(), name);
        assert_eq!(serde_json::to_value(kind).expect("serialize"), json!(name));
    }
    assert_eq!(ChangeKind::parse("nope"), None);
}
