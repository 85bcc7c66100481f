//! Tests of the `validate` module: code cell outputs.

use serde_json::json;

use super::*;

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
