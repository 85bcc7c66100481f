//! Tests of the `validate` module.

use std::path::Path;

use serde_json::json;

use super::*;

mod cells;
mod outputs;

fn minimal() -> Value {
    json!({
        "cells": [
            {
                "id": "a1",
                "cell_type": "code",
                "metadata": {},
                "source": "print(1)",
                "outputs": [],
                "execution_count": null
            },
            { "cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "text"] },
            { "cell_type": "raw", "metadata": {}, "source": "" }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5
    })
}

/// `minimal()` with `value` put at `pointer` (a JSON Pointer whose parent exists).
fn with(pointer: &str, value: Value) -> Value {
    let mut notebook = minimal();
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let target = notebook.pointer_mut(parent).expect("parent exists");
    match target {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().expect("index")] = value,
        other => panic!("cannot insert into {other}"),
    }
    notebook
}

fn without(pointer: &str) -> Value {
    let mut notebook = minimal();
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    notebook.pointer_mut(parent).and_then(Value::as_object_mut).expect("parent object").remove(key);
    notebook
}

/// A notebook whose first cell is a code cell with the given outputs.
fn with_outputs(outputs: Value) -> Value {
    with("/cells/0/outputs", outputs)
}

fn paths(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

/// Asserts that exactly one problem is reported, at `path`, with `needle` in its message.
#[track_caller]
fn assert_one(notebook: &Value, path: &str, needle: &str) {
    let problems = validate_v4(notebook);
    assert_eq!(problems.len(), 1, "expected one problem at {path}, got {problems:#?}");
    assert_eq!(problems[0].path, path, "{problems:#?}");
    assert!(problems[0].message.contains(needle), "message {:?} lacks {needle:?}", problems[0].message);
}

#[track_caller]
fn assert_valid(notebook: &Value) {
    let problems = validate_v4(notebook);
    assert!(problems.is_empty(), "unexpected problems: {problems:#?}");
}

fn stream(name: Value, text: Value) -> Value {
    json!({ "output_type": "stream", "name": name, "text": text })
}

fn display(data: Value) -> Value {
    json!({ "output_type": "display_data", "data": data, "metadata": {} })
}

// ----- the public type -----

#[test]
fn problem_displays_path_then_message() {
    let problem =
        Problem { path: "$.cells[0]".into(), message: "required property `source` is missing".into() };
    assert_eq!(problem.to_string(), "$.cells[0]: required property `source` is missing");
}

// ----- the top level -----

#[test]
fn minimal_notebook_is_valid() {
    assert_valid(&minimal());
}

#[test]
fn empty_notebook_is_valid() {
    assert_valid(&json!({ "cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 0 }));
}

#[test]
fn non_object_notebook_is_one_problem_at_root() {
    for value in [json!(null), json!(true), json!(4), json!("nb"), json!([])] {
        let problems = validate_v4(&value);
        assert_eq!(paths(&problems), ["$"], "{value}");
    }
    assert_eq!(validate_v4(&json!([]))[0].message, "notebook must be an object, found array");
}

#[test]
fn each_missing_top_level_property_is_reported_at_root() {
    let problems = validate_v4(&json!({}));
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "required property `metadata` is missing",
            "required property `nbformat_minor` is missing",
            "required property `nbformat` is missing",
            "required property `cells` is missing",
        ]
    );
    assert!(problems.iter().all(|p| p.path == "$"));
}

#[test]
fn unknown_top_level_property_is_reported() {
    assert_one(&with("/worksheets", json!([])), "$.worksheets", "unexpected property `worksheets`");
}

#[test]
fn nbformat_must_be_the_integer_4() {
    assert_one(&with("/nbformat", json!("4")), "$.nbformat", "`nbformat` must be an integer, found string");
    assert_one(&with("/nbformat", json!(3)), "$.nbformat", "`nbformat` must be 4, found 3");
    assert_one(&with("/nbformat", json!(4.0)), "$.nbformat", "found number 4.0");
}

#[test]
fn nbformat_minor_must_be_a_non_negative_integer() {
    assert_one(&with("/nbformat_minor", json!(-1)), "$.nbformat_minor", "must be at least 0, found -1");
    assert_one(&with("/nbformat_minor", json!(null)), "$.nbformat_minor", "must be an integer, found null");
}

#[test]
fn cells_must_be_an_array() {
    assert_one(&with("/cells", json!({})), "$.cells", "`cells` must be an array, found object");
}

// ----- notebook metadata -----

#[test]
fn notebook_metadata_must_be_an_object() {
    assert_one(&with("/metadata", json!([])), "$.metadata", "must be an object, found array");
}

#[test]
fn notebook_metadata_allows_unknown_keys() {
    assert_valid(&with("/metadata", json!({ "anything": [1, { "x": null }], "talkbook": {} })));
}

#[test]
fn kernelspec_requires_name_and_display_name() {
    let problems = validate_v4(&with("/metadata", json!({ "kernelspec": { "language": "python" } })));
    assert_eq!(paths(&problems), ["$.metadata.kernelspec", "$.metadata.kernelspec"]);
    assert_eq!(problems[0].message, "required property `name` is missing");
    assert_eq!(problems[1].message, "required property `display_name` is missing");
}

#[test]
fn kernelspec_fields_are_strings_and_kernelspec_is_an_object() {
    let bad_name = json!({ "kernelspec": { "name": 3, "display_name": "Python" } });
    assert_one(
        &with("/metadata", bad_name),
        "$.metadata.kernelspec.name",
        "`name` must be a string, found integer",
    );
    let not_object = json!({ "kernelspec": "python3" });
    assert_one(&with("/metadata", not_object), "$.metadata.kernelspec", "`kernelspec` must be an object");
}

#[test]
fn language_info_rules() {
    let good = json!({ "language_info": {
        "name": "python", "codemirror_mode": { "name": "ipython", "version": 3 },
        "file_extension": ".py", "mimetype": "text/x-python", "pygments_lexer": "ipython3", "version": "3.11"
    }});
    assert_valid(&with("/metadata", good));
    assert_valid(&with("/metadata", json!({ "language_info": { "name": "r", "codemirror_mode": "r" } })));
    assert_one(
        &with("/metadata", json!({ "language_info": {} })),
        "$.metadata.language_info",
        "`name` is missing",
    );
    let bad_mode = json!({ "language_info": { "name": "x", "codemirror_mode": 3 } });
    assert_one(
        &with("/metadata", bad_mode),
        "$.metadata.language_info.codemirror_mode",
        "string or an object",
    );
    let bad_ext = json!({ "language_info": { "name": "x", "file_extension": [".py"] } });
    assert_one(&with("/metadata", bad_ext), "$.metadata.language_info.file_extension", "must be a string");
}

#[test]
fn orig_nbformat_title_and_authors() {
    assert_valid(&with(
        "/metadata",
        json!({ "orig_nbformat": 3, "title": "T", "authors": [{ "name": "A" }] }),
    ));
    assert_one(&with("/metadata", json!({ "orig_nbformat": 0 })), "$.metadata.orig_nbformat", "at least 1");
    assert_one(&with("/metadata", json!({ "title": 1 })), "$.metadata.title", "`title` must be a string");
    assert_one(
        &with("/metadata", json!({ "authors": "me" })),
        "$.metadata.authors",
        "`authors` must be an array",
    );
}

// ----- paths -----

#[test]
fn path_segments_escape_non_identifier_keys() {
    assert_eq!(key_path("$", "metadata"), "$.metadata");
    assert_eq!(key_path("$", "_x1"), "$._x1");
    assert_eq!(key_path("$", "1x"), "$[\"1x\"]");
    assert_eq!(key_path("$", ""), "$[\"\"]");
    assert_eq!(key_path("$.d", "a\"b\n"), "$.d[\"a\\\"b\\n\"]");
    assert_eq!(index_path("$.cells", 3), "$.cells[3]");
}

// ----- notebooks from a future minor version -----

#[test]
fn future_minor_allows_unknown_properties_and_types() {
    let notebook = json!({
        "cells": [
            { "cell_type": "markdown", "metadata": {}, "source": "", "extra": 1 },
            { "cell_type": "future cell", "metadata": {}, "key": "value" },
            { "cell_type": "code", "metadata": {}, "source": "", "execution_count": null, "outputs": [
                { "output_type": "stream", "name": "stdout", "text": "", "extra": 1 },
                { "output_type": "future output", "some key": [] },
                display(json!({ "image/png": { "relaxed": true } }))
            ]}
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 99, "extra": true
    });
    assert_valid(&notebook);
}

#[test]
fn future_minor_still_checks_known_rules() {
    let notebook = json!({
        "cells": [
            { "cell_type": "markdown", "metadata": {} },
            { "cell_type": "future cell", "metadata": { "tags": "x" } },
            { "cell_type": 7 },
            { "cell_type": "code", "metadata": {}, "source": "", "execution_count": null, "outputs": [{ "name": "x" }] }
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 6
    });
    let problems = validate_v4(&notebook);
    assert_eq!(
        paths(&problems),
        ["$.cells[0]", "$.cells[1].metadata.tags", "$.cells[2]", "$.cells[3].outputs[0]"],
        "{problems:#?}"
    );
}

// ----- robustness -----

#[test]
fn wrong_types_at_every_level_never_panic() {
    let odd =
        [json!(null), json!(true), json!(-1), json!(1.5), json!("s"), json!([null]), json!({ "k": [] })];
    let pointers = [
        "/metadata",
        "/cells",
        "/cells/0",
        "/cells/0/metadata",
        "/cells/0/outputs",
        "/cells/0/id",
        "/cells/0/cell_type",
        "/cells/0/source",
        "/cells/1/attachments",
        "/nbformat",
        "/nbformat_minor",
    ];
    for pointer in pointers {
        for value in &odd {
            let _ = validate_v4(&with(pointer, value.clone()));
        }
    }
    for value in &odd {
        let _ = validate_v4(&with_outputs(
            json!([{ "output_type": "execute_result", "data": value, "metadata": value, "execution_count": value }]),
        ));
        let _ = validate_v4(&with_outputs(
            json!([{ "output_type": "error", "ename": value, "evalue": value, "traceback": value }]),
        ));
        let _ = validate_v4(&with(
            "/metadata",
            json!({ "kernelspec": value, "language_info": value, "authors": value }),
        ));
    }
}

// ----- real notebooks -----

const NOTEBOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/notebooks");

fn read_notebook(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

#[test]
fn shared_valid_notebooks_have_no_problems() {
    let dir = Path::new(NOTEBOOKS).join("valid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ipynb"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no notebooks in {}", dir.display());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let problems = validate_v4(&read_notebook(path));
            (!problems.is_empty()).then(|| format!("{}: {problems:#?}", path.display()))
        })
        .collect();
    assert!(failures.is_empty(), "valid notebooks reported as invalid:\n{}", failures.join("\n"));
}

#[test]
fn shared_invalid_notebooks_are_reported_at_the_expected_path() {
    let expected = [
        ("Output.ipynb", "$.metadata.kernelspec"),
        ("invalid.ipynb", "$.cells[0]"),
        ("invalid_cell_id.ipynb", "$.cells[0].id"),
        ("no_min_version.ipynb", "$"),
        ("v4_5_invalid_metadata.ipynb", "$.metadata.kernelspec"),
    ];
    for (file, path) in expected {
        let problems = validate_v4(&read_notebook(&Path::new(NOTEBOOKS).join("invalid").join(file)));
        assert!(paths(&problems).contains(&path), "{file}: expected a problem at {path}, got {problems:#?}");
    }
}
