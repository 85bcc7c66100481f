//! `talkbook convert` on the shared notebook corpus: round trips through the Yjs document
//! that nbformat finds lossless, upgrades and refusals with clear messages, and no panics.

mod support;

use std::path::Path;

use support::*;

/// Exit code of a Rust panic; an error must never end a conversion this way.
const PANIC_EXIT: i32 = 101;

/// `test4plus.ipynb` is a "future" nbformat 4.99 notebook with parts 4.5 cannot hold; it
/// has its own test below.
const FUTURE_NOTEBOOK: &str = "test4plus";

#[test]
fn every_valid_notebook_survives_ipynb_to_yjs_to_ipynb() {
    let dir = tempfile::tempdir().expect("tempdir");
    for original in notebooks("valid").into_iter().filter(|p| stem(p) != FUTURE_NOTEBOOK) {
        let name = stem(&original);
        let yjs = dir.path().join(format!("{name}.yjs"));
        let exported = dir.path().join(format!("{name}.ipynb"));
        ok(convert(&original, &yjs));
        ok(convert(&yjs, &exported));
        assert_equivalent(&original, &exported);
    }
}

#[test]
fn a_newer_minor_version_keeps_what_4_5_defines_and_names_what_it_drops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = notebooks_dir("valid").join(format!("{FUTURE_NOTEBOOK}.ipynb"));
    let exported = dir.path().join("future.ipynb");
    let out = convert(&original, &exported);
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for dropped in [
        "$: dropped property `extra`",
        "$.cells[0]: dropped property `extra`",
        "$.cells[3]: dropped property `future`",
        "$.cells[3].outputs[0]: dropped property `extra`",
        "$.cells[9]: dropped a cell of type `future cell`",
        "$.cells[10].outputs[1]: dropped an output of type `future output`",
    ] {
        assert!(stderr.contains(dropped), "no warning `{dropped}` in:\n{stderr}");
    }
    let out = run_py("nb_compare.py", &[&exported, &exported]);
    assert!(out.status.success(), "export is not valid nbformat 4.5: {}", describe(&out));
    let before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&original).expect("read")).expect("json");
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&exported).expect("read")).expect("json");
    let kept: Vec<&serde_json::Value> = before["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["cell_type"] != "future cell")
        .collect();
    let exported_cells = after["cells"].as_array().expect("cells");
    assert_eq!(exported_cells.len(), kept.len());
    for (a, b) in kept.iter().zip(exported_cells) {
        assert_eq!(a["id"], b["id"]);
        assert_eq!(join(&a["source"]), join(&b["source"]));
    }
}

fn join(source: &serde_json::Value) -> String {
    match source {
        serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
        other => other.as_str().unwrap_or_default().to_owned(),
    }
}

#[test]
fn integers_stay_integers_and_floats_stay_floats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("numbers.ipynb");
    let metadata = serde_json::json!({"ints": [0, 1, -5, 9007199254740991_i64], "floats": [0.5, -2.25, 1e-9], "nested": {"n": 3}});
    let notebook = serde_json::json!({
        "cells": [{"id": "c1", "cell_type": "code", "execution_count": 4, "outputs": [], "source": "", "metadata": metadata}],
        "metadata": metadata, "nbformat": 4, "nbformat_minor": 5
    });
    std::fs::write(&source, notebook.to_string()).expect("write");
    let yjs = dir.path().join("numbers.yjs");
    let back = dir.path().join("back.ipynb");
    ok(convert(&source, &yjs));
    ok(convert(&yjs, &back));
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&back).expect("read")).expect("json");
    assert_eq!(value["metadata"], metadata, "numbers changed in notebook metadata");
    assert_eq!(value["cells"][0]["metadata"], metadata, "numbers changed in cell metadata");
    assert_eq!(value["cells"][0]["execution_count"], serde_json::json!(4));
    // serde_json compares 4 and 4.0 as different numbers, so this checks the type too.
    assert!(value["metadata"]["ints"][1].is_i64() && value["metadata"]["floats"][0].is_f64());
}

#[test]
fn export_of_an_export_is_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = notebooks_dir("valid").join("test4.5.ipynb");
    let first = dir.path().join("first.ipynb");
    let second = dir.path().join("second.ipynb");
    ok(convert(&original, &first));
    ok(convert(&first, &second));
    let a = std::fs::read(&first).expect("first");
    let b = std::fs::read(&second).expect("second");
    assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
}

#[test]
fn nbformat_3_notebooks_are_upgraded_and_nbformat_2_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["test3", "test3_no_min_version"] {
        let original = notebooks_dir("legacy").join(format!("{name}.ipynb"));
        let exported = dir.path().join(format!("{name}.ipynb"));
        ok(convert(&original, &exported));
        let out = run_py("nb_compare.py", &[&exported, &exported]);
        assert!(out.status.success(), "upgraded {name} is not valid nbformat: {}", describe(&out));
        let text = std::fs::read_to_string(&exported).expect("exported");
        assert!(text.contains("\"nbformat_minor\": 5"), "{name} was not written as 4.5");
    }
    let out = convert(&notebooks_dir("legacy").join("test2.ipynb"), &dir.path().join("x.ipynb"));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nbformat 2"), "message does not name the version: {stderr}");
    assert!(!dir.path().join("x.ipynb").exists(), "a refused conversion left an output file");
}

/// Each invalid notebook, with the JSON path and words its error must contain.
const INVALID: &[(&str, &str, &str)] = &[
    ("Output.ipynb", "$.metadata.kernelspec", "name"),
    ("invalid.ipynb", "$.cells[0]", "source"),
    ("invalid_cell_id.ipynb", "$.cells[0].id", "$illegal_chars"),
    ("no_min_version.ipynb", "$", "nbformat_minor"),
    ("test3_no_metadata.ipynb", "$", "metadata"),
    ("test3_no_worksheets.ipynb", "$", "worksheets"),
    ("test3_worksheet_with_no_cells.ipynb", "$.worksheets[0]", "cells"),
    ("v4_5_invalid_metadata.ipynb", "$.metadata.kernelspec", "object"),
];

#[test]
fn invalid_notebooks_are_refused_naming_the_problem_and_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (file, path, words) in INVALID {
        let out = convert(&notebooks_dir("invalid").join(file), &dir.path().join("out.yjs"));
        assert_eq!(out.status.code(), Some(1), "{file}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("{path}:")), "{file}: error does not name {path}: {stderr}");
        assert!(stderr.contains(words), "{file}: error does not mention {words}: {stderr}");
    }
    assert!(!dir.path().join("out.yjs").exists());
}

#[test]
fn duplicate_cell_ids_are_repaired_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = notebooks_dir("invalid").join("duplicate_cell_ids.ipynb");
    let exported = dir.path().join("repaired.ipynb");
    let out = convert(&original, &exported);
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`dup` repeats"), "no warning about the repair: {stderr}");
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&exported).expect("read")).expect("json");
    let ids: Vec<&str> =
        value["cells"].as_array().expect("cells").iter().map(|c| c["id"].as_str().expect("id")).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], "dup");
    assert_ne!(ids[1], "dup");
    assert_eq!(value["cells"][1]["source"], serde_json::json!(["\"foo2\""]));
    let out = run_py("nb_compare.py", &[&exported, &exported]);
    assert!(out.status.success(), "repaired notebook is not valid: {}", describe(&out));
}

#[test]
fn unreadable_and_garbage_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.yjs");
    std::fs::write(&garbage, [0xff, 0x13, 0x00, 0x42, 0x99]).expect("write");
    let not_json = dir.path().join("broken.ipynb");
    std::fs::write(&not_json, "{\"cells\": [").expect("write");
    let cases: [(&Path, &str); 3] =
        [(&dir.path().join("missing.ipynb"), "cannot read"), (&garbage, "Yjs update"), (&not_json, "line 1")];
    for (input, words) in cases {
        let out = convert(input, &dir.path().join("out.ipynb"));
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert_ne!(out.status.code(), Some(PANIC_EXIT));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(words), "{}: expected '{words}' in: {stderr}", input.display());
    }
    let out = talkbook(&["convert".as_ref(), "a.txt".as_ref(), "b.ipynb".as_ref()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"), "{}", describe(&out));
}

#[test]
fn authorship_in_metadata_survives_the_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("authored.ipynb");
    let notebook = serde_json::json!({
        "cells": [{"id": "c1", "cell_type": "code", "execution_count": null, "outputs": [], "source": "1+1",
                   "metadata": {"talkbook": {"author": 7, "author_name": "alice", "created_at": "2026-11-23T10:00:00.000Z"}}}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    std::fs::write(&source, notebook.to_string()).expect("write");
    let yjs = dir.path().join("authored.yjs");
    let back = dir.path().join("back.ipynb");
    ok(convert(&source, &yjs));
    ok(convert(&yjs, &back));
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&back).expect("read")).expect("json");
    assert_eq!(value["cells"][0]["metadata"]["talkbook"]["author_name"], "alice");
    assert_eq!(value["cells"][0]["metadata"]["talkbook"]["author"], 7);
    assert_eq!(value["cells"][0]["metadata"]["talkbook"]["created_at"], "2026-11-23T10:00:00.000Z");
}
