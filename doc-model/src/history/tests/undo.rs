//! `undo`: one user's change group taken back, everyone else's work kept.

use serde_json::json;

use super::{ALICE, BOB, cid, edit, peer, ranges_of, sync};
use crate::history::{ChangeKind, UndoSummary, UndoTarget, source_pieces, undo};
use crate::{Cell, JsonObject, NotebookDoc};

/// A copy of `doc` as it is now: the "before" the server loads from history.
fn snapshot(doc: &NotebookDoc) -> NotebookDoc {
    NotebookDoc::from_update(&doc.encode_state()).expect("snapshot")
}

fn target(kind: ChangeKind, cell: &str, group: &[Vec<u8>]) -> UndoTarget {
    let (inserted, deleted) = ranges_of(group);
    UndoTarget { kind, cell_id: Some(cell.to_owned()), inserted, deleted }
}

fn source(doc: &NotebookDoc, id: &str) -> String {
    doc.read().cells.into_iter().find(|c| c.id.as_str() == id).map(|c| c.source).expect("cell")
}

fn done(kind: ChangeKind, cell: &str, removed: u32, restored: u32) -> UndoSummary {
    UndoSummary { kind, cell_id: Some(cell.to_owned()), removed, restored, done: true, note: None }
}

/// Alice's notebook with cells `a` (empty), `b` and `c`, and Bob as a peer.
fn two_peers() -> (NotebookDoc, NotebookDoc) {
    let alice = NotebookDoc::with_client_id(ALICE);
    edit(&alice, |ed| {
        ed.init(&JsonObject::new());
        ed.push_cell(&Cell::code("").with_id(cid("a")))?;
        ed.push_cell(&Cell::markdown("# b").with_id(cid("b")))?;
        ed.push_cell(&Cell::code("c = 3").with_id(cid("c")))
    });
    let bob = peer(&alice, BOB);
    (alice, bob)
}

#[test]
fn undoing_typing_removes_only_that_users_text() {
    let (alice, bob) = two_peers();
    let before = snapshot(&alice);
    let mut group = Vec::new();
    for (i, ch) in ["h", "e"].into_iter().enumerate() {
        group.push(edit(&alice, |ed| ed.insert_source(&cid("a"), i as u32, ch)));
        sync(&alice, &bob);
    }
    for (i, ch) in " world".chars().enumerate() {
        edit(&bob, |ed| ed.insert_source(&cid("a"), 2 + i as u32, &ch.to_string()));
        sync(&alice, &bob);
    }
    for (i, ch) in ["l", "l", "o"].into_iter().enumerate() {
        group.push(edit(&alice, |ed| ed.insert_source(&cid("a"), 2 + i as u32, ch)));
        sync(&alice, &bob);
    }
    assert_eq!(source(&alice, "a"), "hello world");

    let summary = undo(&alice, &before, &target(ChangeKind::SourceEdited, "a", &group)).expect("undo");
    assert_eq!(summary, done(ChangeKind::SourceEdited, "a", 5, 0));
    sync(&alice, &bob);
    assert_eq!(source(&bob, "a"), " world");
    let again = undo(&alice, &before, &target(ChangeKind::SourceEdited, "a", &group)).expect("undo");
    assert!(!again.done && again.note.is_some());
}

#[test]
fn undoing_a_deletion_brings_back_exactly_that_text_where_it_was() {
    let (alice, bob) = two_peers();
    edit(&alice, |ed| ed.insert_source(&cid("a"), 0, "hello"));
    sync(&alice, &bob);
    edit(&bob, |ed| ed.insert_source(&cid("a"), 5, " world"));
    sync(&alice, &bob);
    let before = snapshot(&alice);
    // Alice deletes "wor" of Bob's; meanwhile Bob types at both ends.
    let group = vec![edit(&alice, |ed| ed.delete_source(&cid("a"), 6, 3))];
    edit(&bob, |ed| {
        ed.insert_source(&cid("a"), 11, "!")?;
        ed.insert_source(&cid("a"), 0, ">")
    });
    sync(&alice, &bob);
    assert_eq!(source(&alice, "a"), ">hello ld!");

    let summary = undo(&alice, &before, &target(ChangeKind::SourceEdited, "a", &group)).expect("undo");
    assert_eq!(summary, done(ChangeKind::SourceEdited, "a", 0, 3));
    sync(&alice, &bob);
    assert_eq!(source(&bob, "a"), ">hello world!");
    // The text came back as new items of the undoing user, right before Bob's "ld".
    let pieces = source_pieces(&bob, "a").expect("cell a");
    let back = pieces.iter().find(|p| p.text.as_deref() == Some("wor")).expect("restored text");
    assert_eq!(back.client, ALICE);
}

#[test]
fn undoing_cell_creation_deletion_and_move() {
    let (alice, bob) = two_peers();
    // Created.
    let group = vec![edit(&alice, |ed| ed.push_cell(&Cell::code("new").with_id(cid("n"))))];
    let summary =
        undo(&alice, &snapshot(&alice), &target(ChangeKind::CellCreated, "n", &group)).expect("undo");
    assert_eq!(summary, done(ChangeKind::CellCreated, "n", 1, 0));
    assert!(alice.read().cells.iter().all(|c| c.id.as_str() != "n"));

    // Deleted, while Bob adds a cell.
    let before = snapshot(&alice);
    let b = before.read().cells[1].clone();
    let group = vec![edit(&alice, |ed| ed.delete_cell(&cid("b")).map(drop))];
    edit(&bob, |ed| ed.push_cell(&Cell::code("bob's").with_id(cid("x"))));
    sync(&alice, &bob);
    let undone = target(ChangeKind::CellDeleted, "b", &group);
    assert_eq!(undo(&alice, &before, &undone).expect("undo"), done(ChangeKind::CellDeleted, "b", 0, 1));
    let cells = alice.read().cells;
    assert_eq!(cells.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "x"]);
    assert_eq!(cells[1], b);
    let twice = undo(&alice, &before, &undone).expect("undo");
    assert!(!twice.done, "a cell with that id exists now");

    // Moved.
    let before = snapshot(&alice);
    let group = vec![edit(&alice, |ed| ed.move_cell(&cid("a"), 2))];
    let summary = undo(&alice, &before, &target(ChangeKind::CellMoved, "a", &group)).expect("undo");
    assert!(summary.done);
    let ids: Vec<String> = alice.read().cells.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids, ["a", "b", "c", "x"]);
}

#[test]
fn undoing_metadata_keeps_keys_others_set_since() {
    let (alice, bob) = two_peers();
    edit(&alice, |ed| ed.set_cell_metadata(&cid("c"), "keep", Some(&json!(1))));
    sync(&alice, &bob);
    let before = snapshot(&alice);
    let group = vec![edit(&alice, |ed| {
        ed.set_cell_metadata(&cid("c"), "tags", Some(&json!(["alice"])))?;
        ed.set_cell_metadata(&cid("c"), "keep", None)
    })];
    edit(&bob, |ed| ed.set_cell_metadata(&cid("c"), "collapsed", Some(&json!(true))));
    sync(&alice, &bob);

    let summary = undo(&alice, &before, &target(ChangeKind::MetadataChanged, "c", &group)).expect("undo");
    assert!(summary.done);
    let metadata = alice.read().cells[2].metadata.clone();
    assert_eq!(serde_json::Value::Object(metadata), json!({"keep": 1, "collapsed": true}));

    // Notebook metadata: set back.
    let before = snapshot(&alice);
    let group = vec![edit(&alice, |ed| {
        ed.set_notebook_metadata("kernelspec", Some(&json!({"name": "python3"})));
        Ok(())
    })];
    let mut undone = target(ChangeKind::NotebookMetadataChanged, "", &group);
    undone.cell_id = None;
    assert!(undo(&alice, &before, &undone).expect("undo").done);
    assert!(alice.read().metadata.is_empty());
}

#[test]
fn outputs_and_server_state_cannot_be_undone() {
    let (alice, _) = two_peers();
    let before = snapshot(&alice);
    for kind in [ChangeKind::OutputsChanged, ChangeKind::ModeChanged, ChangeKind::Blocked] {
        let summary = undo(&alice, &before, &target(kind, "c", &[])).expect("undo");
        assert!(!summary.done && summary.note.is_some());
    }
}
