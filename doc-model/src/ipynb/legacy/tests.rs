//! Tests of the `legacy` module.

use super::*;
use serde_json::json;

/// A v3 notebook around the given cells, in one worksheet.
fn v3(cells: Value) -> Value {
    json!({
        "metadata": {"name": "demo"},
        "nbformat": 3,
        "nbformat_minor": 0,
        "worksheets": [{"cells": cells, "metadata": {}}]
    })
}

/// A v3 code cell with the given outputs.
fn code(outputs: Value) -> Value {
    json!({"cell_type": "code", "input": "x", "language": "python", "outputs": outputs, "prompt_number": 1})
}

fn upgrade_ok(notebook: &Value) -> Value {
    match upgrade_v3(notebook) {
        Ok(v4) => v4,
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

/// The single upgraded cell of a one-cell notebook.
fn upgraded_cell(cell: Value) -> Value {
    upgrade_ok(&v3(json!([cell])))["cells"][0].clone()
}

/// The single upgraded output of a one-output code cell.
fn upgraded_output(output: Value) -> Value {
    upgraded_cell(code(json!([output])))["outputs"][0].clone()
}

fn invalid(path: &str, message_part: &str, result: Result<Value, LegacyError>) {
    match result {
        Err(LegacyError::Invalid { path: p, message }) => {
            assert_eq!(p, path, "message: {message}");
            assert!(message.contains(message_part), "`{message}` should mention `{message_part}`");
        }
        other => panic!("expected Invalid at {path}, got {other:?}"),
    }
}

// --- notebook level ---

#[test]
fn result_is_nbformat_4_4_with_metadata_and_cells_only() {
    let v4 = upgrade_ok(&v3(json!([])));
    assert_eq!(
        v4,
        json!({"nbformat": 4, "nbformat_minor": 4, "metadata": {"orig_nbformat": 3}, "cells": []})
    );
}

#[test]
fn notebook_metadata_drops_name_and_keeps_the_rest() {
    let mut nb = v3(json!([]));
    nb["metadata"] = json!({"name": "x", "signature": "sha256:abc", "kernel_info": {"name": "python3", "language": "python"}});
    let v4 = upgrade_ok(&nb);
    assert_eq!(
        v4["metadata"],
        json!({"signature": "sha256:abc", "kernel_info": {"name": "python3", "language": "python"}, "orig_nbformat": 3})
    );
}

#[test]
fn cells_of_all_worksheets_are_concatenated_in_order() {
    let nb = json!({
        "metadata": {}, "nbformat": 3, "nbformat_minor": 0,
        "worksheets": [
            {"cells": [{"cell_type": "markdown", "source": "a"}, {"cell_type": "raw", "source": "b"}]},
            {"cells": []},
            {"cells": [{"cell_type": "markdown", "source": "c"}]}
        ]
    });
    let sources: Vec<Value> = match upgrade_ok(&nb)["cells"].as_array() {
        Some(cells) => cells.iter().map(|c| c["source"].clone()).collect(),
        None => panic!("cells is not an array"),
    };
    assert_eq!(sources, vec![json!("a"), json!("b"), json!("c")]);
}

#[test]
fn missing_nbformat_minor_is_accepted() {
    let mut nb = v3(json!([]));
    if let Some(top) = nb.as_object_mut() {
        top.remove("nbformat_minor");
    }
    assert_eq!(upgrade_ok(&nb)["nbformat_minor"], json!(4));
}

#[test]
fn malformed_nbformat_minor_is_refused() {
    let mut nb = v3(json!([]));
    nb["nbformat_minor"] = json!("0");
    invalid("$.nbformat_minor", "non-negative integer", upgrade_v3(&nb));
    nb["nbformat_minor"] = json!(-1);
    invalid("$.nbformat_minor", "-1", upgrade_v3(&nb));
}

#[test]
fn versions_below_3_are_unsupported() {
    for version in [2, 1, 0, -5] {
        let mut nb = v3(json!([]));
        nb["nbformat"] = json!(version);
        assert_eq!(upgrade_v3(&nb), Err(LegacyError::Unsupported(version)));
    }
}

#[test]
fn unsupported_message_gives_advice() {
    let message = LegacyError::Unsupported(2).to_string();
    assert!(message.starts_with("nbformat 2 notebooks are not supported"));
    assert!(message.contains("jupyter nbconvert --to notebook --nbformat 4"));
}

#[test]
fn other_versions_are_invalid_at_nbformat() {
    for version in [json!(4), json!(5), json!("3"), json!(3.0), json!(null), json!(u64::MAX)] {
        let mut nb = v3(json!([]));
        nb["nbformat"] = version;
        invalid("$.nbformat", "expected nbformat 3", upgrade_v3(&nb));
    }
    let mut nb = v3(json!([]));
    if let Some(top) = nb.as_object_mut() {
        top.remove("nbformat");
    }
    invalid("$", "`nbformat`", upgrade_v3(&nb));
}

#[test]
fn top_level_must_be_an_object() {
    for value in [json!([]), json!(null), json!("notebook"), json!(3)] {
        invalid("$", "expected an object", upgrade_v3(&value));
    }
}

#[test]
fn metadata_must_be_present_and_an_object() {
    let mut nb = v3(json!([]));
    nb["metadata"] = json!([]);
    invalid("$.metadata", "expected an object, found a list", upgrade_v3(&nb));
    if let Some(top) = nb.as_object_mut() {
        top.remove("metadata");
    }
    invalid("$", "required field `metadata` is missing", upgrade_v3(&nb));
}

#[test]
fn worksheets_must_be_present_and_a_list_of_objects_with_cells() {
    let mut nb = v3(json!([]));
    nb["worksheets"] = json!({});
    invalid("$.worksheets", "expected a list", upgrade_v3(&nb));
    nb["worksheets"] = json!([{"cells": []}, 7]);
    invalid("$.worksheets[1]", "expected an object", upgrade_v3(&nb));
    nb["worksheets"] = json!([{"metadata": {}}]);
    invalid("$.worksheets[0]", "required field `cells` is missing", upgrade_v3(&nb));
    nb["worksheets"] = json!([{"cells": "none"}]);
    invalid("$.worksheets[0].cells", "expected a list", upgrade_v3(&nb));
    if let Some(top) = nb.as_object_mut() {
        top.remove("worksheets");
    }
    invalid("$", "required field `worksheets` is missing", upgrade_v3(&nb));
}

// --- cells ---

#[test]
fn cells_need_a_known_cell_type() {
    invalid("$.worksheets[0].cells[0]", "expected an object", upgrade_v3(&v3(json!([[]]))));
    invalid("$.worksheets[0].cells[0]", "`cell_type`", upgrade_v3(&v3(json!([{"source": "x"}]))));
    invalid(
        "$.worksheets[0].cells[0].cell_type",
        "expected a string",
        upgrade_v3(&v3(json!([{"cell_type": 1, "source": "x"}]))),
    );
    invalid(
        "$.worksheets[0].cells[0].cell_type",
        "unknown cell type \"widget\"",
        upgrade_v3(&v3(json!([{"cell_type": "widget", "source": "x"}]))),
    );
}

#[test]
fn cell_metadata_must_be_an_object() {
    invalid(
        "$.worksheets[0].cells[0].metadata",
        "expected an object",
        upgrade_v3(&v3(json!([{"cell_type": "markdown", "source": "x", "metadata": "m"}]))),
    );
}

#[test]
fn heading_becomes_markdown_with_hashes() {
    let cell = upgraded_cell(
        json!({"cell_type": "heading", "level": 3, "metadata": {"tags": ["t"]}, "source": ["Title"]}),
    );
    assert_eq!(cell, json!({"cell_type": "markdown", "metadata": {"tags": ["t"]}, "source": "### Title"}));
}

#[test]
fn multi_line_heading_is_joined_into_one_line() {
    let cell = upgraded_cell(json!({"cell_type": "heading", "level": 1, "source": ["A long\n", "title\n"]}));
    assert_eq!(cell["source"], json!("# A long title"));
    let cell =
        upgraded_cell(json!({"cell_type": "heading", "level": 2, "source": "a\r\nb\rc\u{2028}d\n\ne"}));
    assert_eq!(cell["source"], json!("## a b c d  e"));
    let cell = upgraded_cell(json!({"cell_type": "heading", "level": 2, "source": ""}));
    assert_eq!(cell["source"], json!("## "));
    assert_eq!(cell["metadata"], json!({}));
}

#[test]
fn heading_level_is_required_and_1_to_6() {
    let at = "$.worksheets[0].cells[0]";
    invalid(at, "`level`", upgrade_v3(&v3(json!([{"cell_type": "heading", "source": "x"}]))));
    for level in [json!(0), json!(7), json!(-1), json!(1_000_000_000_000u64)] {
        let nb = v3(json!([{"cell_type": "heading", "level": level, "source": "x"}]));
        invalid("$.worksheets[0].cells[0].level", "1 to 6", upgrade_v3(&nb));
    }
    let nb = v3(json!([{"cell_type": "heading", "level": "2", "source": "x"}]));
    invalid("$.worksheets[0].cells[0].level", "integer", upgrade_v3(&nb));
    assert_eq!(
        upgraded_cell(json!({"cell_type": "heading", "level": 6, "source": "x"}))["source"],
        json!("###### x")
    );
}

#[test]
fn code_cell_fields_are_renamed_and_language_dropped() {
    let cell = upgraded_cell(json!({
        "cell_type": "code", "collapsed": true, "input": ["a = 1\n", "a"], "language": "python",
        "metadata": {"tags": ["x"]}, "outputs": [], "prompt_number": 4
    }));
    assert_eq!(
        cell,
        json!({
            "cell_type": "code", "execution_count": 4, "metadata": {"tags": ["x"], "collapsed": true},
            "outputs": [], "source": "a = 1\na"
        })
    );
}

#[test]
fn code_cell_without_prompt_number_or_collapsed() {
    let cell = upgraded_cell(json!({"cell_type": "code", "input": "", "outputs": []}));
    assert_eq!(
        cell,
        json!({"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": ""})
    );
    let cell = upgraded_cell(json!({"cell_type": "code", "input": "", "outputs": [], "prompt_number": null}));
    assert_eq!(cell["execution_count"], json!(null));
}

#[test]
fn code_cell_required_fields_and_types() {
    let at = "$.worksheets[0].cells[0]";
    invalid(at, "`input`", upgrade_v3(&v3(json!([{"cell_type": "code", "outputs": []}]))));
    invalid(at, "`outputs`", upgrade_v3(&v3(json!([{"cell_type": "code", "input": ""}]))));
    let bad = [
        (json!({"cell_type": "code", "input": 5, "outputs": []}), "input", "a string or a list of strings"),
        (json!({"cell_type": "code", "input": ["a", 1], "outputs": []}), "input[1]", "expected a string"),
        (json!({"cell_type": "code", "input": "", "outputs": {}}), "outputs", "expected a list"),
        (
            json!({"cell_type": "code", "input": "", "outputs": [], "prompt_number": "1"}),
            "prompt_number",
            "integer",
        ),
        (
            json!({"cell_type": "code", "input": "", "outputs": [], "prompt_number": -1}),
            "prompt_number",
            "-1",
        ),
        (json!({"cell_type": "code", "input": "", "outputs": [], "collapsed": "no"}), "collapsed", "boolean"),
    ];
    for (cell, field, message) in bad {
        invalid(&format!("{at}.{field}"), message, upgrade_v3(&v3(json!([cell]))));
    }
}

#[test]
fn missing_input_is_reported_with_its_cell_path() {
    let nb = v3(json!([
        {"cell_type": "markdown", "source": "a"},
        {"cell_type": "markdown", "source": "b"},
        {"cell_type": "raw", "source": "c"},
        {"cell_type": "code", "input": ["x"], "outputs": []}
    ]));
    let mut broken = nb.clone();
    broken["worksheets"][0]["cells"][3]["input"] = json!(null);
    invalid("$.worksheets[0].cells[3].input", "a string or a list of strings", upgrade_v3(&broken));
}

#[test]
fn markdown_and_raw_keep_source_and_metadata() {
    let cell = upgraded_cell(
        json!({"cell_type": "markdown", "metadata": {"a": 1}, "source": ["*hi*\n", "there"], "rendered": "<p>"}),
    );
    assert_eq!(cell, json!({"cell_type": "markdown", "metadata": {"a": 1}, "source": "*hi*\nthere"}));
    let cell =
        upgraded_cell(json!({"cell_type": "raw", "metadata": {"format": "text/latex"}, "source": "\\LaTeX"}));
    assert_eq!(cell, json!({"cell_type": "raw", "metadata": {"format": "text/latex"}, "source": "\\LaTeX"}));
}

#[test]
fn plaintext_is_raw_and_html_is_markdown() {
    assert_eq!(upgraded_cell(json!({"cell_type": "plaintext", "source": "p"}))["cell_type"], json!("raw"));
    assert_eq!(upgraded_cell(json!({"cell_type": "html", "source": "<b>"}))["cell_type"], json!("markdown"));
}

#[test]
fn text_cells_need_a_source() {
    for cell_type in ["markdown", "raw", "heading"] {
        let nb = v3(json!([{"cell_type": cell_type, "level": 1}]));
        invalid("$.worksheets[0].cells[0]", "`source`", upgrade_v3(&nb));
    }
}

#[test]
fn lines_without_ends_are_joined_with_newlines() {
    // Written by IPython before 1.0, which split with `splitlines()` and lost the ends.
    let cell = upgraded_cell(json!({"cell_type": "markdown", "source": ["one", "two", ""]}));
    assert_eq!(cell["source"], json!("one\ntwo\n"));
    let cell = upgraded_cell(json!({"cell_type": "markdown", "source": []}));
    assert_eq!(cell["source"], json!(""));
}

#[test]
fn python_splitlines_matches_python() {
    assert_eq!(python_splitlines(""), Vec::<&str>::new());
    assert_eq!(python_splitlines("a"), vec!["a"]);
    assert_eq!(python_splitlines("a\n"), vec!["a"]);
    assert_eq!(python_splitlines("\n"), vec![""]);
    assert_eq!(python_splitlines("a\r\n\rb\u{0b}c\u{0c}d\u{85}é"), vec!["a", "", "b", "c", "d", "é"]);
}

// --- outputs ---

#[test]
fn pyout_becomes_execute_result_with_a_mime_bundle() {
    let output = upgraded_output(json!({
        "output_type": "pyout", "prompt_number": 3, "metadata": {"isolated": true},
        "text": ["<HTML>"], "html": ["<b>\n", "x</b>"]
    }));
    assert_eq!(
        output,
        json!({
            "output_type": "execute_result", "execution_count": 3, "metadata": {"isolated": true},
            "data": {"text/plain": "<HTML>", "text/html": "<b>\nx</b>"}
        })
    );
}

#[test]
fn pyout_needs_its_prompt_number() {
    let nb = v3(json!([code(json!([{"output_type": "pyout", "text": "1"}]))]));
    invalid("$.worksheets[0].cells[0].outputs[0]", "`prompt_number`", upgrade_v3(&nb));
    let output = upgraded_output(json!({"output_type": "pyout", "prompt_number": null, "text": "1"}));
    assert_eq!(output["execution_count"], json!(null));
}

#[test]
fn every_short_data_name_maps_to_its_mime_type() {
    let output = upgraded_output(json!({
        "output_type": "display_data",
        "text": "t", "html": "h", "svg": "<svg/>", "png": "iVBOR", "jpeg": "/9j/",
        "latex": "$x$", "json": "{\"a\": [1, 2]}", "javascript": "alert(1)", "pdf": "JVBER"
    }));
    assert_eq!(
        output,
        json!({
            "output_type": "display_data", "metadata": {},
            "data": {
                "text/plain": "t", "text/html": "h", "image/svg+xml": "<svg/>", "image/png": "iVBOR",
                "image/jpeg": "/9j/", "text/latex": "$x$", "application/json": {"a": [1, 2]},
                "application/javascript": "alert(1)", "application/pdf": "JVBER"
            }
        })
    );
}

#[test]
fn mime_type_keys_are_kept_and_short_names_win() {
    let output = upgraded_output(json!({
        "output_type": "display_data",
        "text/markdown": ["**b**"], "application/vnd.x+json": {"k": 1}, "application/json": "[1]",
        "text": "short", "text/plain": "long"
    }));
    assert_eq!(
        output["data"],
        json!({
            "text/markdown": ["**b**"], "application/vnd.x+json": {"k": 1}, "application/json": [1],
            "text/plain": "short"
        })
    );
}

#[test]
fn json_data_is_parsed_and_must_be_valid() {
    let output = upgraded_output(json!({"output_type": "display_data", "json": ["{\"a\":\n", "1}"]}));
    assert_eq!(output["data"], json!({"application/json": {"a": 1}}));
    let output = upgraded_output(json!({"output_type": "display_data", "json": {"already": "parsed"}}));
    assert_eq!(output["data"], json!({"application/json": {"already": "parsed"}}));
    let nb = v3(json!([code(json!([{"output_type": "display_data", "json": "{nope"}]))]));
    invalid("$.worksheets[0].cells[0].outputs[0].json", "not valid JSON", upgrade_v3(&nb));
}

#[test]
fn data_values_must_be_multiline_strings() {
    let nb = v3(json!([code(json!([{"output_type": "display_data", "png": 5}]))]));
    invalid("$.worksheets[0].cells[0].outputs[0].png", "a string or a list of strings", upgrade_v3(&nb));
    let nb = v3(json!([code(json!([{"output_type": "display_data", "text/html": [1]}]))]));
    invalid("$.worksheets[0].cells[0].outputs[0][\"text/html\"][0]", "expected a string", upgrade_v3(&nb));
}

#[test]
fn output_metadata_is_kept_with_short_names_translated() {
    let output = upgraded_output(json!({
        "output_type": "display_data", "png": "iVBOR",
        "metadata": {"png": {"width": 10}, "needs_background": "light"}
    }));
    assert_eq!(output["metadata"], json!({"image/png": {"width": 10}, "needs_background": "light"}));
    let nb = v3(json!([code(json!([{"output_type": "display_data", "metadata": []}]))]));
    invalid("$.worksheets[0].cells[0].outputs[0].metadata", "expected an object", upgrade_v3(&nb));
}

#[test]
fn stream_field_becomes_name() {
    let output =
        upgraded_output(json!({"output_type": "stream", "stream": "stderr", "text": ["a\n", "b\n"]}));
    assert_eq!(output, json!({"output_type": "stream", "name": "stderr", "text": "a\nb\n"}));
    let at = "$.worksheets[0].cells[0].outputs[0]";
    let nb = v3(json!([code(json!([{"output_type": "stream", "text": "a"}]))]));
    invalid(at, "`stream`", upgrade_v3(&nb));
    let nb = v3(json!([code(json!([{"output_type": "stream", "stream": "stdout"}]))]));
    invalid(at, "`text`", upgrade_v3(&nb));
}

#[test]
fn pyerr_becomes_error() {
    let output = upgraded_output(json!({
        "output_type": "pyerr", "ename": "ZeroDivisionError", "evalue": "division by zero",
        "traceback": ["line 1", "line 2"]
    }));
    assert_eq!(
        output,
        json!({
            "output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
            "traceback": ["line 1", "line 2"]
        })
    );
    let at = "$.worksheets[0].cells[0].outputs[0]";
    let nb = v3(json!([code(json!([{"output_type": "pyerr", "ename": "E", "evalue": "v"}]))]));
    invalid(at, "`traceback`", upgrade_v3(&nb));
    let nb =
        v3(json!([code(json!([{"output_type": "pyerr", "ename": "E", "evalue": "v", "traceback": [1]}]))]));
    invalid(&format!("{at}.traceback[0]"), "expected a string", upgrade_v3(&nb));
    let nb = v3(json!([code(json!([{"output_type": "pyerr", "ename": 1, "evalue": "v", "traceback": []}]))]));
    invalid(&format!("{at}.ename"), "expected a string", upgrade_v3(&nb));
}

#[test]
fn outputs_need_a_known_output_type() {
    let at = "$.worksheets[0].cells[0].outputs[0]";
    invalid(at, "expected an object", upgrade_v3(&v3(json!([code(json!(["text"]))]))));
    invalid(at, "`output_type`", upgrade_v3(&v3(json!([code(json!([{"text": "x"}]))]))));
    let nb = v3(json!([code(json!([{"output_type": "execute_result", "data": {}}]))]));
    invalid(&format!("{at}.output_type"), "unknown output type", upgrade_v3(&nb));
}

#[test]
fn paths_quote_keys_that_are_not_plain_names() {
    let root = JsonPath::root();
    assert_eq!(root.key("cells").index(2).key("text/plain").0, "$.cells[2][\"text/plain\"]");
    assert_eq!(root.key("a\"b").0, "$[\"a\\\"b\"]");
    assert_eq!(root.key("").0, "$[\"\"]");
}

// --- never panics ---

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Field names and values of the v3 format, so random documents reach deep paths.
    #[rustfmt::skip]
    const NAMES: [&str; 22] = [
        "cell_type", "source", "input", "outputs", "level", "metadata", "collapsed", "prompt_number",
        "output_type", "text", "json", "png", "html", "stream", "ename", "evalue", "traceback",
        "application/json", "text/plain", "language", "cells", "worksheets",
    ];
    #[rustfmt::skip]
    const WORDS: [&str; 14] = [
        "code", "markdown", "raw", "heading", "html", "plaintext", "pyout", "display_data", "stream",
        "pyerr", "{\"a\": 1}", "{", "a\nb\r\n", "\u{2028}",
    ];

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-2i64..10).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(WORDS.to_vec()).prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(NAMES.to_vec()), inner), 0..6).prop_map(
                    |members| {
                        Value::Object(members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                    }
                ),
            ]
        })
    }

    /// A cell-like object: a known or random cell type and random v3 fields.
    fn cell_like() -> impl Strategy<Value = Value> {
        let output = (
            prop::sample::select(WORDS.to_vec()),
            prop::collection::vec((prop::sample::select(NAMES.to_vec()), any_json()), 0..6),
        )
            .prop_map(|(output_type, fields)| {
                let mut object: Object = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                object.insert("output_type".to_owned(), Value::from(output_type));
                Value::Object(object)
            });
        (
            prop::sample::select(WORDS.to_vec()),
            prop::collection::vec((prop::sample::select(NAMES.to_vec()), any_json()), 0..6),
            prop::collection::vec(output, 0..3),
        )
            .prop_map(|(cell_type, fields, outputs)| {
                let mut object: Object = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                object.insert("cell_type".to_owned(), Value::from(cell_type));
                object.entry("outputs").or_insert(Value::Array(outputs));
                Value::Object(object)
            })
    }

    proptest! {
        #[test]
        fn on_any_json(value in any_json()) {
            let _ = upgrade_v3(&value);
        }

        #[test]
        fn on_notebook_like_json(metadata in any_json(), cells in prop::collection::vec(cell_like(), 0..4)) {
            let nb = json!({"metadata": metadata, "nbformat": 3, "worksheets": [{"cells": cells}]});
            if let Ok(v4) = upgrade_v3(&nb) {
                prop_assert_eq!(&v4["nbformat"], &json!(4));
                prop_assert!(v4["cells"].is_array());
            }
        }
    }
}

// --- real files ---

fn notebook_file(relative: &str) -> Value {
    let path = format!("{}/../../shared/notebooks/{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// Expected values below are what `nbformat.convert(nbformat.reads(text,
/// as_version=nbformat.NO_CONVERT), 4)` gives for the same file.
#[test]
fn test3_upgrades_like_nbformat() {
    let v4 = upgrade_ok(&notebook_file("legacy/test3.ipynb"));
    assert_eq!(v4["nbformat"], json!(4));
    assert_eq!(v4["nbformat_minor"], json!(4));
    assert_eq!(v4["metadata"], json!({"orig_nbformat": 3}));
    let Some(cells) = v4["cells"].as_array() else { panic!("cells is not an array") };
    let types: Vec<&str> = cells.iter().filter_map(|c| c["cell_type"].as_str()).collect();
    assert_eq!(
        types,
        ["markdown", "markdown", "markdown", "code", "markdown", "code", "code", "markdown", "code"]
    );
    assert_eq!(cells[0]["source"], json!("# nbconvert latex test"));
    assert!(cells[1]["source"].as_str().is_some_and(|s| s.starts_with("**Lorem ipsum** dolor sit amet")
        && s.ends_with("Sed volutpat vestibulum venenatis.")));
    assert_eq!(cells[2]["source"], json!("## Printed Using Python"));
    assert_eq!(cells[4]["source"], json!("## Pyout"));
    assert_eq!(cells[7]["source"], json!("### Image"));
    assert_eq!(
        cells[3],
        json!({
            "cell_type": "code", "execution_count": 1, "metadata": {"collapsed": false},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "hello\n"}],
            "source": "print(\"hello\")"
        })
    );
    assert_eq!(
        cells[5]["source"],
        json!(
            "from IPython.display import HTML\nHTML(\"\"\"\n<script>\nconsole.log(\"hello\");\n</script>\n<b>HTML</b>\n\"\"\")"
        )
    );
    assert_eq!(
        cells[5]["outputs"],
        json!([{
            "output_type": "execute_result", "execution_count": 3, "metadata": {},
            "data": {
                "text/plain": "<IPython.core.display.HTML at 0x1112757d0>",
                "text/html": "\n<script>\nconsole.log(\"hello\");\n</script>\n<b>HTML</b>\n"
            }
        }])
    );
    assert_eq!(
        cells[6]["outputs"],
        json!([{
            "output_type": "display_data", "metadata": {},
            "data": {
                "text/plain": "<IPython.core.display.Javascript at 0x1112b4b50>",
                "application/javascript": "console.log(\"hi\");"
            }
        }])
    );
    assert_eq!(cells[6]["execution_count"], json!(7));
    let image = &cells[8]["outputs"][0];
    assert_eq!(image["output_type"], json!("execute_result"));
    assert_eq!(image["execution_count"], json!(6));
    assert_eq!(image["data"]["text/plain"], json!("<IPython.core.display.Image at 0x111275490>"));
    assert!(image["data"]["image/png"].as_str().is_some_and(|png| png.starts_with("iVBORw0KGgo")));
}

#[test]
fn test3_without_minor_version_upgrades() {
    let v4 = upgrade_ok(&notebook_file("legacy/test3_no_min_version.ipynb"));
    assert_eq!(
        v4,
        json!({"nbformat": 4, "nbformat_minor": 4, "metadata": {"orig_nbformat": 3}, "cells": []})
    );
}

#[test]
fn test2_is_unsupported() {
    assert_eq!(upgrade_v3(&notebook_file("legacy/test2.ipynb")), Err(LegacyError::Unsupported(2)));
}

#[test]
fn invalid_v3_files_are_refused_with_paths() {
    invalid("$", "`metadata`", upgrade_v3(&notebook_file("invalid/test3_no_metadata.ipynb")));
    invalid("$", "`worksheets`", upgrade_v3(&notebook_file("invalid/test3_no_worksheets.ipynb")));
    invalid(
        "$.worksheets[0]",
        "`cells`",
        upgrade_v3(&notebook_file("invalid/test3_worksheet_with_no_cells.ipynb")),
    );
}
