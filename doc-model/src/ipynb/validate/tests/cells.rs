//! Tests of the `validate` module: cells, their ids, metadata and attachments.

use serde_json::json;

use super::*;

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
