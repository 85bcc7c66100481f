//! `restore`: the present edited back into a past notebook.

use serde_json::json;

use super::{ALICE, BOB, CAROL, cid, edit, peer};
use crate::history::{RestoreScope, RestoreSummary, restore, source_pieces};
use crate::{Cell, CellKind, JsonObject, Notebook, NotebookDoc, Output};

/// Alice's notebook: code `a`, markdown `b`, code `c`, code `d`.
fn alices_notebook() -> NotebookDoc {
    let doc = NotebookDoc::with_client_id(ALICE);
    edit(&doc, |ed| {
        let mut meta = JsonObject::new();
        meta.insert("kernelspec".into(), json!({"name": "python3"}));
        ed.init(&meta);
        ed.push_cell(&Cell::code("x = 1\nprint(x)").with_id(cid("a")))?;
        ed.push_cell(&Cell::markdown("# Title").with_id(cid("b")))?;
        ed.push_cell(&Cell::code("y = 2").with_id(cid("c")))?;
        ed.push_cell(&Cell::code("z = 3").with_id(cid("d")))?;
        ed.append_output(&cid("c"), &Output::stream("stdout", "2\n"))?;
        ed.set_execution_count(&cid("c"), Some(4))
    });
    doc
}

/// Bob's edits of every kind since.
fn bobs_edits(doc: &NotebookDoc) {
    edit(doc, |ed| {
        ed.delete_source(&cid("a"), 0, 5)?;
        ed.insert_source(&cid("a"), 0, "x = 10")?;
        ed.set_cell_metadata(&cid("a"), "tags", Some(&json!(["bob"])))?;
        ed.delete_cell(&cid("b")).map(drop)?;
        ed.move_cell(&cid("d"), 0)?;
        ed.clear_outputs(&cid("c"))?;
        ed.set_cell_type(&cid("c"), CellKind::Raw)?;
        ed.push_cell(&Cell::code("new").with_id(cid("e")))?;
        ed.set_notebook_metadata("kernelspec", None);
        Ok(())
    });
}

fn cells_equal(doc: &NotebookDoc, target: &Notebook) {
    assert_eq!(doc.read().cells, target.cells);
}

#[test]
fn restore_brings_back_every_cell_with_few_edits() {
    let alice = alices_notebook();
    let target = alice.read();
    let bob = peer(&alice, BOB);
    bobs_edits(&bob);

    let carol = peer(&bob, CAROL);
    let summary = restore(&carol, &target, &RestoreScope::everything()).expect("restore");
    cells_equal(&carol, &target);
    assert_eq!(carol.read().metadata, target.metadata);
    assert_eq!(
        summary,
        RestoreSummary {
            created: vec!["b".into()],
            deleted: vec!["e".into()],
            changed: vec!["a".into(), "c".into()],
            moved: vec!["d".into()],
            skipped: vec![],
            notebook_metadata: true,
        }
    );
    // Restoring the state it now has changes nothing: the update is empty.
    let before = carol.state_vector();
    let again = restore(&carol, &target, &RestoreScope::everything()).expect("restore");
    assert_eq!(again, RestoreSummary::default());
    assert_eq!(carol.state_vector(), before);
}

#[test]
fn restored_text_keeps_its_authors_and_retyped_text_is_the_restorers() {
    let alice = alices_notebook();
    let target = alice.read();
    let bob = peer(&alice, BOB);
    bobs_edits(&bob);
    let carol = peer(&bob, CAROL);
    restore(&carol, &target, &RestoreScope::everything()).expect("restore");

    // Bob replaced Alice's "x = 1" by his "x = 10": the character diff keeps Bob's "x = 1"
    // and removes only his "0"; Alice's "\nprint(x)" was never touched.
    let pieces = source_pieces(&carol, "a").expect("cell a");
    let live: Vec<(u64, &str)> = pieces.iter().filter_map(|p| Some((p.client, p.text.as_deref()?))).collect();
    assert_eq!(live, vec![(BOB, "x = 1"), (ALICE, "\nprint(x)")]);

    // Text deleted by Bob and not re-used must be re-typed by Carol.
    let alice = alices_notebook();
    let target = alice.read();
    let bob = peer(&alice, BOB);
    edit(&bob, |ed| ed.delete_source(&cid("a"), 5, 9));
    let carol = peer(&bob, CAROL);
    restore(&carol, &target, &RestoreScope::everything()).expect("restore");
    let pieces = source_pieces(&carol, "a").expect("cell a");
    let live: Vec<(u64, &str)> = pieces.iter().filter_map(|p| Some((p.client, p.text.as_deref()?))).collect();
    assert_eq!(live, vec![(ALICE, "x = 1"), (CAROL, "\nprint(x)")]);
}

#[test]
fn a_scope_that_forbids_a_cell_leaves_it_alone() {
    let alice = alices_notebook();
    let target = alice.read();
    let bob = peer(&alice, BOB);
    bobs_edits(&bob);
    let carol = peer(&bob, CAROL);
    let before = carol.read();
    let not_a_or_e = |id: &str| id != "a" && id != "e";
    let scope = RestoreScope { may_change_cell: &not_a_or_e, notebook_wide: false };
    let summary = restore(&carol, &target, &scope).expect("restore");
    assert_eq!(summary.skipped, vec!["a".to_owned(), "e".to_owned()]);
    assert!(!summary.notebook_metadata);
    let after = carol.read();
    let find = |nb: &Notebook, id: &str| nb.cells.iter().find(|c| c.id.as_str() == id).cloned();
    assert_eq!(find(&after, "a"), find(&before, "a"));
    assert_eq!(find(&after, "e"), find(&before, "e"));
    assert_eq!(after.metadata, before.metadata);
    // Everything else is as in the target, in its order, around the cells left alone.
    let ids: Vec<&str> = after.cells.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["a", "b", "c", "d", "e"]);
    for id in ["b", "c", "d"] {
        assert_eq!(find(&after, id), find(&target, id));
    }
}

#[test]
fn moves_are_few() {
    let doc = NotebookDoc::with_client_id(ALICE);
    edit(&doc, |ed| {
        for id in ["a", "b", "c", "d", "e", "f"] {
            ed.push_cell(&Cell::code(id).with_id(cid(id)))?;
        }
        Ok(())
    });
    let target = doc.read();
    edit(&doc, |ed| {
        ed.move_cell(&cid("a"), 5)?;
        ed.move_cell(&cid("e"), 0)
    });
    let restorer = peer(&doc, CAROL);
    let summary = restore(&restorer, &target, &RestoreScope::everything()).expect("restore");
    cells_equal(&restorer, &target);
    assert_eq!(summary.moved, vec!["a".to_owned(), "e".to_owned()]);
    assert!(summary.changed.is_empty() && summary.created.is_empty() && summary.deleted.is_empty());
}
