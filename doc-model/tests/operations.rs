//! Typed document operations: each edit does what it says and reads back through
//! `NotebookDoc::read`, and each refused edit leaves the document unchanged.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use doc_model::{Cell, CellId, CellKind, DocError, ExecutionState, NotebookDoc, Output, Provenance, UserId};
use serde_json::json;

fn obj(value: serde_json::Value) -> doc_model::JsonObject {
    value.as_object().expect("object").clone()
}

fn doc_with(cells: &[Cell]) -> NotebookDoc {
    let notebook = doc_model::Notebook {
        metadata: obj(json!({"kernelspec": {"name": "python3", "display_name": "Python 3"}})),
        cells: cells.to_vec(),
    };
    NotebookDoc::from_notebook(&notebook, &HashMap::new()).expect("create")
}

fn id(s: &str) -> CellId {
    CellId::new(s)
}

#[test]
fn cells_are_inserted_moved_and_deleted() {
    let doc = doc_with(&[Cell::code("a").with_id(id("a")), Cell::markdown("b").with_id(id("b"))]);
    doc.edit(|ed| {
        ed.insert_cell(1, &Cell::code("c").with_id(id("c")))?;
        ed.move_cell(&id("a"), 2)?;
        Ok(())
    })
    .expect("edit");
    let order: Vec<String> = doc.read().cells.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(order, ["c", "b", "a"]);
    let deleted = doc.edit(|ed| ed.delete_cell(&id("b"))).expect("delete").0;
    assert_eq!(deleted.kind, CellKind::Markdown);
    assert_eq!(deleted.source, "b");
    assert_eq!(doc.read().cells.len(), 2);
}

#[test]
fn a_moved_cell_keeps_its_content_and_state() {
    let mut cell = Cell::code("x = 1").with_id(id("m"));
    cell.outputs.push(Output::stream("stdout", "hi\n"));
    cell.execution_count = Some(3);
    let doc = doc_with(&[cell.clone(), Cell::code("y").with_id(id("y"))]);
    doc.edit(|ed| ed.move_cell(&id("m"), 1)).expect("move");
    let read = doc.read();
    assert_eq!(read.cells[1], cell);
}

#[test]
fn refused_edits_leave_the_document_unchanged() {
    let doc = doc_with(&[Cell::code("a").with_id(id("a")), Cell::markdown("b").with_id(id("b"))]);
    let before = doc.read();
    let sv = doc.state_vector();
    type Outcome = Result<((), Vec<u8>), DocError>;
    let cases: Vec<(&str, Outcome)> = vec![
        ("duplicate id", doc.edit(|ed| ed.push_cell(&Cell::code("dup").with_id(id("a"))))),
        ("invalid id", doc.edit(|ed| ed.push_cell(&Cell::code("bad").with_id(id("no spaces"))))),
        ("unknown cell", doc.edit(|ed| ed.set_source(&id("zzz"), "x"))),
        ("out of range", doc.edit(|ed| ed.insert_cell(9, &Cell::code("far")))),
        ("outputs on markdown", doc.edit(|ed| ed.append_output(&id("b"), &Output::stream("stdout", "x")))),
        ("text past the end", doc.edit(|ed| ed.delete_source(&id("a"), 0, 5))),
    ];
    for (what, result) in cases {
        assert!(result.is_err(), "{what} was accepted");
    }
    assert_eq!(doc.read(), before);
    assert_eq!(doc.state_vector(), sv, "a refused edit still changed the document");
}

#[test]
fn set_source_changes_only_the_differing_part() {
    let doc = doc_with(&[Cell::code("hello world").with_id(id("a"))]);
    let other = NotebookDoc::from_update(&doc.encode_state()).expect("copy");
    // Concurrently: one side appends, the other rewrites the middle through set_source.
    let (_, u1) = other.edit(|ed| ed.insert_source(&id("a"), 11, "!")).expect("append");
    let (_, u2) = doc.edit(|ed| ed.set_source(&id("a"), "hello brave world")).expect("set");
    doc.apply_update(&u1).expect("apply");
    other.apply_update(&u2).expect("apply");
    assert_eq!(doc.read().cells[0].source, "hello brave world!");
    assert_eq!(other.read(), doc.read());
}

#[test]
fn text_positions_count_utf16_units_like_yjs() {
    let doc = doc_with(&[Cell::code("😀b").with_id(id("a"))]);
    doc.edit(|ed| ed.insert_source(&id("a"), 2, "a")).expect("insert after the emoji");
    assert_eq!(doc.read().cells[0].source, "😀ab");
}

#[test]
fn stream_outputs_of_the_same_name_are_appended_to_one_output() {
    let doc = doc_with(&[Cell::code("print").with_id(id("a"))]);
    doc.edit(|ed| {
        ed.append_output(&id("a"), &Output::stream("stdout", "one\n"))?;
        ed.append_output(&id("a"), &Output::stream("stdout", "two\n"))?;
        ed.append_output(&id("a"), &Output::stream("stderr", "oops\n"))?;
        ed.append_output(&id("a"), &Output::stream("stdout", "three\n"))
    })
    .expect("outputs");
    let outputs = &doc.read().cells[0].outputs;
    assert_eq!(
        outputs,
        &vec![
            Output::stream("stdout", "one\ntwo\n"),
            Output::stream("stderr", "oops\n"),
            Output::stream("stdout", "three\n")
        ]
    );
}

#[test]
fn update_display_data_reaches_every_output_with_that_id_in_any_cell() {
    let doc = doc_with(&[Cell::code("a").with_id(id("a")), Cell::code("b").with_id(id("b"))]);
    let display = |text: &str, display_id: Option<&str>| Output::DisplayData {
        data: obj(json!({"text/plain": text})),
        metadata: obj(json!({})),
        display_id: display_id.map(str::to_owned),
    };
    doc.edit(|ed| {
        ed.append_output(&id("a"), &display("first", Some("d1")))?;
        ed.append_output(&id("b"), &display("again", Some("d1")))?;
        ed.append_output(&id("b"), &display("other", Some("d2")))
    })
    .expect("outputs");
    let (count, _) = doc
        .edit(|ed| {
            Ok(ed.update_display_data("d1", &obj(json!({"text/plain": "updated"})), &obj(json!({"k": 1}))))
        })
        .expect("update");
    assert_eq!(count, 2);
    let read = doc.read();
    let text = |o: &Output| match o {
        Output::DisplayData { data, .. } => data["text/plain"].as_str().expect("text").to_owned(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(text(&read.cells[0].outputs[0]), "updated");
    assert_eq!(text(&read.cells[1].outputs[0]), "updated");
    assert_eq!(text(&read.cells[1].outputs[1]), "other");
    // The display id is kept for later updates but never exported.
    let exported = doc_model::ipynb::export(&read, &HashMap::new());
    assert_eq!(exported["cells"][0]["outputs"][0]["metadata"], json!({"k": 1}));
}

#[test]
fn outputs_can_be_cleared_and_replaced_and_counts_and_states_set() {
    let doc = doc_with(&[Cell::code("a").with_id(id("a"))]);
    doc.edit(|ed| {
        ed.append_output(&id("a"), &Output::stream("stdout", "x"))?;
        ed.set_execution_state(&id("a"), ExecutionState::Busy)?;
        ed.clear_outputs(&id("a"))?;
        ed.replace_outputs(
            &id("a"),
            &[Output::Error { ename: "E".into(), evalue: "v".into(), traceback: vec!["t".into()] }],
        )?;
        ed.set_execution_count(&id("a"), Some(12))
    })
    .expect("edit");
    let cell = &doc.read().cells[0];
    assert_eq!(cell.execution_count, Some(12));
    assert_eq!(cell.outputs.len(), 1);
    assert!(matches!(&cell.outputs[0], Output::Error { ename, .. } if ename == "E"));
}

#[test]
fn metadata_of_cells_and_notebook_is_set_and_removed() {
    let doc = doc_with(&[Cell::code("a").with_id(id("a"))]);
    doc.edit(|ed| {
        ed.set_cell_metadata(&id("a"), "tags", Some(&json!(["x"])))?;
        ed.set_cell_metadata(&id("a"), "collapsed", Some(&json!(true)))?;
        ed.set_cell_metadata(&id("a"), "collapsed", None)?;
        ed.set_notebook_metadata("title", Some(&json!("T")));
        Ok(())
    })
    .expect("edit");
    let read = doc.read();
    assert_eq!(read.cells[0].metadata, obj(json!({"tags": ["x"]})));
    assert_eq!(read.metadata["title"], "T");
    assert_eq!(read.metadata["kernelspec"]["name"], "python3");
}

#[test]
fn provenance_is_recorded_and_read_back() {
    let doc = doc_with(&[Cell::code("a").with_id(id("a"))]);
    let record = Provenance {
        author: UserId(42),
        author_name: "alice".into(),
        created_at: Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap(),
    };
    doc.edit(|ed| {
        ed.record_provenance(&id("a"), &record);
        Ok(())
    })
    .expect("edit");
    assert_eq!(doc.provenance().get(&id("a")), Some(&record));
    let copy = NotebookDoc::from_update(&doc.encode_state()).expect("copy");
    assert_eq!(copy.provenance().get(&id("a")), Some(&record));
}

#[test]
fn the_document_has_the_jupyter_ydoc_layout() {
    use yrs::{Any, Map, Out, ReadTxn, Transact};
    let doc = doc_with(&[Cell::code("a").with_id(id("a")), Cell::markdown("m").with_id(id("m"))]);
    let txn = doc.doc().transact();
    let meta = txn.get_map("meta").expect("meta root");
    assert_eq!(meta.get(&txn, "nbformat"), Some(Out::Any(Any::from(4_i64))));
    assert_eq!(meta.get(&txn, "nbformat_minor"), Some(Out::Any(Any::from(5_i64))));
    assert!(matches!(meta.get(&txn, "metadata"), Some(Out::YMap(_))));
    let cells = txn.get_array("cells").expect("cells root");
    use yrs::Array;
    let Some(Out::YMap(code)) = cells.get(&txn, 0) else { panic!("cell 0 is not a map") };
    assert!(matches!(code.get(&txn, "source"), Some(Out::YText(_))));
    assert!(matches!(code.get(&txn, "outputs"), Some(Out::YArray(_))));
    assert_eq!(code.get(&txn, "execution_state"), Some(Out::Any(Any::from("idle"))));
    let Some(Out::YMap(markdown)) = cells.get(&txn, 1) else { panic!("cell 1 is not a map") };
    assert!(markdown.get(&txn, "outputs").is_none() && markdown.get(&txn, "execution_count").is_none());
}
