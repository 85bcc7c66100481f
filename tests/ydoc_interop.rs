//! Interoperability with Jupyter's own collaborative notebook model (`pycrdt` +
//! `jupyter_ydoc` YNotebook): documents written by either side read the same on the other,
//! and concurrent edits from both sides converge.

mod support;

use doc_model::{Cell, CellId, NotebookDoc, ipynb};
use support::*;

#[test]
fn documents_written_by_talkbook_read_the_same_in_jupyter_ydoc() {
    let dir = tempfile::tempdir().expect("tempdir");
    for original in notebooks("valid") {
        let name = stem(&original);
        let yjs = dir.path().join(format!("{name}.yjs"));
        let ours = dir.path().join(format!("{name}.ours.ipynb"));
        let theirs = dir.path().join(format!("{name}.jupyter.ipynb"));
        ok(convert(&original, &yjs));
        ok(convert(&yjs, &ours));
        ok(run_py("ydoc_interop.py", &["read-update".as_ref(), &yjs, &theirs]));
        assert_equivalent(&ours, &theirs);
    }
}

#[test]
fn documents_written_by_jupyter_ydoc_read_the_same_in_talkbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    // jupyter_ydoc itself cannot load the nbformat 4.99 "future" notebook (a cell without
    // `source`), so there is no Jupyter-written document of it to read.
    for original in notebooks("valid").into_iter().filter(|p| stem(p) != "test4plus") {
        let name = stem(&original);
        let yjs = dir.path().join(format!("{name}.yjs"));
        let theirs = dir.path().join(format!("{name}.jupyter.ipynb"));
        let ours = dir.path().join(format!("{name}.ours.ipynb"));
        ok(run_py("ydoc_interop.py", &["write-update".as_ref(), &original, &yjs]));
        // Jupyter's own reading of its document is the reference: YNotebook.set() adds
        // default kernelspec/language_info metadata that the file may not have had.
        ok(run_py("ydoc_interop.py", &["read-update".as_ref(), &yjs, &theirs]));
        ok(convert(&yjs, &ours));
        assert_equivalent(&theirs, &ours);
    }
}

#[test]
fn concurrent_edits_from_talkbook_and_jupyter_ydoc_converge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base_path = dir.path().join("base.yjs");
    let py_update = dir.path().join("python.yjs");
    let rust_update = dir.path().join("rust.yjs");
    let merged_py = dir.path().join("merged.jupyter.ipynb");
    let merged_rust = dir.path().join("merged.ours.ipynb");

    ok(convert(&notebooks_dir("valid").join("test4.5.ipynb"), &base_path));
    let base = std::fs::read(&base_path).expect("base");

    // Python edits its copy of the base (text at the start of cell 0, a new cell).
    ok(run_py("ydoc_interop.py", &["concurrent".as_ref(), &base_path, &py_update]));

    // Meanwhile Talkbook edits its own copy of the same base.
    let doc = NotebookDoc::from_update(&base).expect("base decodes");
    let base_sv = doc.state_vector();
    let first = doc.read().cells[0].id.clone();
    doc.edit(|ed| {
        ed.insert_source(&first, 0, "# from rust\n")?;
        ed.push_cell(&Cell::code("rust_was_here = 1").with_id(CellId::new("rust-cell")))
    })
    .expect("rust edits");
    std::fs::write(&rust_update, doc.encode_diff(&base_sv).expect("diff")).expect("write");

    // Exchange: Talkbook applies Python's update; Python merges both onto the base.
    doc.apply_update(&std::fs::read(&py_update).expect("py update")).expect("apply python update");
    ok(run_py("ydoc_interop.py", &["merge".as_ref(), &base_path, &py_update, &rust_update, &merged_py]));
    std::fs::write(&merged_rust, ipynb::export_text(&doc.read(), &doc.provenance())).expect("write");
    assert_equivalent(&merged_py, &merged_rust);

    let merged = doc.read();
    let source = &merged.cells[0].source;
    assert!(source.contains("# from rust\n") && source.contains("# from python\n"), "cell 0: {source:?}");
    let ids: Vec<&str> = merged.cells.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains(&"rust-cell") && ids.contains(&"py-cell"), "cells: {ids:?}");
}
