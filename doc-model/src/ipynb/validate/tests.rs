//! Tests of the `validate` module.

use std::path::Path;

use serde_json::json;

use super::*;

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

// ----- cells -----

#[test]
fn cell_must_be_an_object() {
    assert_one(&with("/cells/1", json!("text")), "$.cells[1]", "cell must be an object, found string");
}

#[test]
fn missing_source_is_reported_at_the_cell() {
    assert_one(&without("/cells/0/source"), "$.cells[0]", "required property `source` is missing");
}

#[test]
fn missing_metadata_is_reported_at_the_cell() {
    assert_one(&without("/cells/1/metadata"), "$.cells[1]", "required property `metadata` is missing");
}

#[test]
fn code_cell_requires_outputs_and_execution_count() {
    let notebook = json!({ "cells": [{ "cell_type": "code", "metadata": {}, "source": "" }],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 4 });
    let problems = validate_v4(&notebook);
    assert_eq!(paths(&problems), ["$.cells[0]", "$.cells[0]"]);
    assert_eq!(problems[0].message, "required property `outputs` is missing");
    assert_eq!(problems[1].message, "required property `execution_count` is missing");
}

#[test]
fn unknown_cell_type_is_named() {
    assert_one(
        &with("/cells/1/cell_type", json!("heading")),
        "$.cells[1].cell_type",
        "unknown cell_type `heading` (expected code, markdown or raw)",
    );
    assert_one(
        &with("/cells/1/cell_type", json!(1)),
        "$.cells[1].cell_type",
        "must be a string, found integer",
    );
    assert_one(&without("/cells/1/cell_type"), "$.cells[1]", "required property `cell_type` is missing");
}

#[test]
fn unknown_cell_property_is_reported_at_its_path() {
    assert_one(
        &with("/cells/0/prompt_number", json!(1)),
        "$.cells[0].prompt_number",
        "unexpected property `prompt_number`",
    );
    assert_one(
        &with("/cells/0/attachments", json!({})),
        "$.cells[0].attachments",
        "unexpected property `attachments`",
    );
    assert_one(&with("/cells/1/outputs", json!([])), "$.cells[1].outputs", "unexpected property `outputs`");
    assert_one(&with("/cells/2/a b", json!(1)), "$.cells[2][\"a b\"]", "unexpected property `a b`");
}

#[test]
fn source_must_be_a_multiline_string() {
    assert_one(
        &with("/cells/0/source", json!(5)),
        "$.cells[0].source",
        "`source` must be a string or an array of strings, found integer",
    );
    assert_one(
        &with("/cells/0/source", json!(["a\n", null])),
        "$.cells[0].source[1]",
        "each line of `source` must be a string, found null",
    );
    assert_valid(&with("/cells/0/source", json!([])));
}

#[test]
fn execution_count_is_a_non_negative_integer_or_null() {
    assert_valid(&with("/cells/0/execution_count", json!(7)));
    assert_one(
        &with("/cells/0/execution_count", json!(-1)),
        "$.cells[0].execution_count",
        "must be at least 0, found -1",
    );
    assert_one(
        &with("/cells/0/execution_count", json!("1")),
        "$.cells[0].execution_count",
        "integer or null, found string",
    );
    assert_one(
        &with("/cells/0/execution_count", json!(1.5)),
        "$.cells[0].execution_count",
        "found number 1.5",
    );
}

// ----- cell ids -----

#[test]
fn missing_id_is_not_reported() {
    assert_valid(&without("/cells/0/id"));
}

#[test]
fn duplicate_ids_are_not_reported() {
    assert_valid(&with("/cells/1/id", json!("a1")));
}

#[test]
fn good_ids_pass() {
    assert_valid(&with("/cells/0/id", json!("A-z_09")));
    assert_valid(&with("/cells/0/id", json!("x".repeat(64))));
}

#[test]
fn bad_ids_are_reported_at_the_id() {
    assert_one(&with("/cells/0/id", json!("$illegal_chars")), "$.cells[0].id", "contains '$'");
    assert_one(&with("/cells/0/id", json!("")), "$.cells[0].id", "must not be empty");
    assert_one(
        &with("/cells/0/id", json!("x".repeat(65))),
        "$.cells[0].id",
        "at most 64 characters, found 65",
    );
    assert_one(&with("/cells/0/id", json!(12)), "$.cells[0].id", "cell `id` must be a string, found integer");
    assert_one(&with("/cells/1/id", json!("é")), "$.cells[1].id", "contains 'é'");
}

#[test]
fn long_id_with_bad_characters_reports_both_rules() {
    let problems = validate_v4(&with("/cells/0/id", json!("ü".repeat(70))));
    assert_eq!(paths(&problems), ["$.cells[0].id", "$.cells[0].id"]);
    assert!(problems[1].message.contains('…'), "long value is shortened: {}", problems[1].message);
}

// ----- cell metadata -----

#[test]
fn cell_metadata_must_be_an_object() {
    assert_one(
        &with("/cells/0/metadata", json!(null)),
        "$.cells[0].metadata",
        "cell `metadata` must be an object, found null",
    );
}

#[test]
fn code_cell_metadata_well_known_keys() {
    let good = json!({
        "collapsed": true, "scrolled": "auto", "jupyter": { "source_hidden": true },
        "execution": { "iopub.status.busy": "2024-01-01T00:00:00Z", "custom": "x" },
        "name": "cell one", "tags": ["a", "b"], "anything": { "else": 1 }
    });
    assert_valid(&with("/cells/0/metadata", good));
    let cases = [
        (
            "collapsed",
            json!("no"),
            "$.cells[0].metadata.collapsed",
            "`collapsed` must be a boolean, found string",
        ),
        (
            "scrolled",
            json!("yes"),
            "$.cells[0].metadata.scrolled",
            "`scrolled` must be true, false or \"auto\"",
        ),
        ("jupyter", json!(true), "$.cells[0].metadata.jupyter", "`jupyter` must be an object, found boolean"),
        (
            "execution",
            json!([]),
            "$.cells[0].metadata.execution",
            "`execution` must be an object, found array",
        ),
        ("name", json!(1), "$.cells[0].metadata.name", "`name` must be a string"),
        ("name", json!(""), "$.cells[0].metadata.name", "`name` must not be empty"),
        ("name", json!("a\nb"), "$.cells[0].metadata.name", "single line"),
        ("tags", json!("a"), "$.cells[0].metadata.tags", "`tags` must be an array, found string"),
    ];
    for (key, value, path, needle) in cases {
        assert_one(&with(&format!("/cells/0/metadata/{key}"), value), path, needle);
    }
}

#[test]
fn execution_timestamps_must_be_strings() {
    let execution = json!({ "iopub.status.idle": 5 });
    assert_one(
        &with("/cells/0/metadata/execution", execution),
        "$.cells[0].metadata.execution[\"iopub.status.idle\"]",
        "`iopub.status.idle` must be a string, found integer",
    );
}

#[test]
fn tags_are_unique_non_empty_strings_without_commas() {
    let problems = validate_v4(&with("/cells/0/metadata/tags", json!(["a", 1, "", "b,c", "a"])));
    assert_eq!(
        paths(&problems),
        [
            "$.cells[0].metadata.tags[1]",
            "$.cells[0].metadata.tags[2]",
            "$.cells[0].metadata.tags[3]",
            "$.cells[0].metadata.tags[4]"
        ]
    );
    assert!(problems[3].message.contains("duplicate tag `a`"), "{problems:#?}");
}

#[test]
fn code_only_metadata_keys_are_free_in_other_cells() {
    // The schema types `collapsed`, `scrolled` and `execution` only for code cells.
    assert_valid(&with("/cells/1/metadata", json!({ "collapsed": "x", "scrolled": 3, "execution": 1 })));
    // `format` is typed only for raw cells.
    assert_valid(&with("/cells/0/metadata", json!({ "format": 1 })));
    assert_one(
        &with("/cells/2/metadata", json!({ "format": 1 })),
        "$.cells[2].metadata.format",
        "`format` must be a string",
    );
    assert_one(
        &with("/cells/1/metadata", json!({ "jupyter": 1 })),
        "$.cells[1].metadata.jupyter",
        "must be an object",
    );
}

#[test]
fn deletable_and_editable_are_free_form_as_in_the_schema() {
    assert_valid(&with("/cells/0/metadata", json!({ "deletable": "no", "editable": 0 })));
}

// ----- attachments -----

#[test]
fn attachments_are_mime_bundles() {
    let good = json!({ "img.png": { "image/png": "iVBOR", "application/json": { "a": 1 } } });
    assert_valid(&with("/cells/1/attachments", good));
    assert_one(
        &with("/cells/1/attachments", json!([])),
        "$.cells[1].attachments",
        "`attachments` must be an object",
    );
    assert_one(
        &with("/cells/1/attachments", json!({ "img.png": "iVBOR" })),
        "$.cells[1].attachments[\"img.png\"]",
        "attachment `img.png` must be an object, found string",
    );
    assert_one(
        &with("/cells/2/attachments", json!({ "img.png": { "image/png": 1 } })),
        "$.cells[2].attachments[\"img.png\"][\"image/png\"]",
        "`image/png` must be a string or an array of strings",
    );
}

// ----- outputs -----

#[test]
fn every_output_type_in_its_valid_shape() {
    let outputs = json!([
        { "output_type": "execute_result", "execution_count": 1, "data": { "text/plain": "1" }, "metadata": {} },
        { "output_type": "execute_result", "execution_count": null, "data": {}, "metadata": { "isolated": true } },
        display(json!({ "image/png": "iVBOR", "text/plain": ["<Figure>"] })),
        stream(json!("stdout"), json!(["hi\n", "there"])),
        stream(json!("stderr"), json!("oops")),
        { "output_type": "error", "ename": "E", "evalue": "v", "traceback": ["line 1", "line 2"] }
    ]);
    assert_valid(&with_outputs(outputs));
}

#[test]
fn outputs_must_be_an_array_of_objects() {
    assert_one(&with_outputs(json!({})), "$.cells[0].outputs", "`outputs` must be an array, found object");
    assert_one(&with_outputs(json!([1])), "$.cells[0].outputs[0]", "output must be an object, found integer");
}

#[test]
fn unknown_or_missing_output_type() {
    assert_one(
        &with_outputs(json!([{ "output_type": "pyout" }])),
        "$.cells[0].outputs[0].output_type",
        "unknown output_type `pyout` (expected execute_result, display_data, stream or error)",
    );
    assert_one(
        &with_outputs(json!([{ "output_type": null }])),
        "$.cells[0].outputs[0].output_type",
        "must be a string, found null",
    );
    assert_one(
        &with_outputs(json!([{ "name": "stdout" }])),
        "$.cells[0].outputs[0]",
        "required property `output_type` is missing",
    );
}

#[test]
fn missing_output_properties_are_reported_at_the_output() {
    let problems = validate_v4(&with_outputs(json!([{ "output_type": "execute_result" }])));
    assert_eq!(paths(&problems), ["$.cells[0].outputs[0]"; 3]);
    assert_eq!(problems[0].message, "required property `execution_count` is missing");
    let problems = validate_v4(&with_outputs(json!([{ "output_type": "error" }])));
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

#[test]
fn unexpected_output_properties() {
    let transient = json!([{ "output_type": "display_data", "data": {}, "metadata": {}, "transient": { "display_id": "x" } }]);
    assert_one(
        &with_outputs(transient),
        "$.cells[0].outputs[0].transient",
        "unexpected property `transient`",
    );
    let counted =
        json!([{ "output_type": "display_data", "data": {}, "metadata": {}, "execution_count": 1 }]);
    assert_one(
        &with_outputs(counted),
        "$.cells[0].outputs[0].execution_count",
        "unexpected property `execution_count`",
    );
}

#[test]
fn stream_rules() {
    assert_one(
        &with_outputs(json!([stream(json!(1), json!("x"))])),
        "$.cells[0].outputs[0].name",
        "`name` must be a string, found integer",
    );
    assert_one(
        &with_outputs(json!([stream(json!("stdout"), json!({}))])),
        "$.cells[0].outputs[0].text",
        "`text` must be a string or an array of strings",
    );
    assert_one(
        &with_outputs(json!([stream(json!("stdout"), json!(["a", 2]))])),
        "$.cells[0].outputs[0].text[1]",
        "each line of `text`",
    );
}

#[test]
fn error_rules() {
    let error = json!([{ "output_type": "error", "ename": 1, "evalue": null, "traceback": "tb" }]);
    let problems = validate_v4(&with_outputs(error));
    assert_eq!(
        paths(&problems),
        ["$.cells[0].outputs[0].ename", "$.cells[0].outputs[0].evalue", "$.cells[0].outputs[0].traceback"]
    );
    let error = json!([{ "output_type": "error", "ename": "E", "evalue": "", "traceback": ["ok", {}] }]);
    assert_one(
        &with_outputs(error),
        "$.cells[0].outputs[0].traceback[1]",
        "each line of `traceback` must be a string, found object",
    );
}

#[test]
fn execute_result_count_and_metadata() {
    let result =
        json!([{ "output_type": "execute_result", "execution_count": -2, "data": {}, "metadata": [] }]);
    let problems = validate_v4(&with_outputs(result));
    assert_eq!(paths(&problems), ["$.cells[0].outputs[0].execution_count", "$.cells[0].outputs[0].metadata"]);
    assert_eq!(problems[1].message, "output `metadata` must be an object, found array");
}

#[test]
fn bad_mime_value_is_reported_at_its_bracketed_path() {
    assert_one(
        &with_outputs(json!([display(json!({ "image/png": { "b64": "x" } }))])),
        "$.cells[0].outputs[0].data[\"image/png\"]",
        "`image/png` must be a string or an array of strings, found object",
    );
    assert_one(
        &with_outputs(json!([display(json!({ "text/plain": ["a", 1] }))])),
        "$.cells[0].outputs[0].data[\"text/plain\"][1]",
        "each line of `text/plain` must be a string, found integer",
    );
    assert_one(
        &with_outputs(json!([display(json!("x"))])),
        "$.cells[0].outputs[0].data",
        "`data` must be an object, found string",
    );
}

#[test]
fn json_mime_types_may_hold_any_json() {
    let data = json!({
        "application/json": [1, 2],
        "application/vnd.jupyter.widget-view+json": { "model_id": "m" },
        "application/geo+json": 3,
        "application/+json": null
    });
    assert_valid(&with_outputs(json!([display(data)])));
    for mime in ["application/jsonx", "application/xjson", "text/json", "application/vnd+json/x"] {
        let problems = validate_v4(&with_outputs(json!([display(json!({ mime: { "a": 1 } }))])));
        assert_eq!(problems.len(), 1, "{mime} is not a JSON type: {problems:#?}");
    }
}

#[test]
fn json_mime_matches_the_schema_pattern() {
    assert!(is_json_mime("application/json"));
    assert!(is_json_mime("application/ld+json"));
    assert!(is_json_mime("application/a+b+json"));
    assert!(!is_json_mime("application/ldjson"));
    assert!(!is_json_mime("application/js"));
    assert!(!is_json_mime("json"));
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
