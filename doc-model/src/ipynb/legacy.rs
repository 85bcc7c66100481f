//! nbformat 3 notebooks: upgrade to nbformat 4, and refusal of older formats.
//!
//! Notebooks written by IPython 1.x and 2.x are nbformat 3. They still turn up (old course
//! material, papers' supplements), so import upgrades them the way `nbformat.convert(nb, 4)`
//! does instead of refusing them. nbformat 1 and 2 are older still and differ much more; they
//! are refused with advice on converting them with Jupyter's own tools.
//!
//! The upgrade is a pure function over JSON: the v3 document is read, never changed, and
//! anything malformed is refused with the JSON path of the problem, because the result goes
//! on to a v4 validator and into a shared document, where a half-understood cell would do
//! more harm than a clear error.
//!
//! What changes between the formats:
//! - worksheets go away: the cells of all worksheets are concatenated in order;
//! - heading cells become markdown cells (`## Title`);
//! - code cells: `input` → `source`, `prompt_number` → `execution_count`, `collapsed` moves
//!   into the cell's metadata, and the per-cell `language` is dropped;
//! - outputs: `pyout` → `execute_result`, `pyerr` → `error`, `stream.stream` → `stream.name`,
//!   and display data moves from short top-level keys (`png`, `html`) into a `data` bundle
//!   keyed by mime type;
//! - the notebook's `name` metadata goes away (v4 takes the name from the file) and
//!   `orig_nbformat` records where the notebook came from.

use serde_json::{Map, Value};

/// Why a legacy notebook could not be upgraded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// nbformat 1 or 2 (or another version below 3): not supported, with advice.
    #[error(
        "nbformat {0} notebooks are not supported; convert it to nbformat 4 first (e.g. `jupyter nbconvert --to notebook --nbformat 4 FILE`)"
    )]
    Unsupported(i64),
    /// The nbformat 3 document is malformed: JSON path and what is wrong.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

type Object = Map<String, Value>;
/// The result of each step of the walk: the upgraded part, or why the document is refused.
type Checked<T> = Result<T, LegacyError>;

/// The format the upgrade produces. 4.4 rather than 4.5 because 4.5 requires cell ids, and
/// choosing ids (and repairing them in files) is the importer's job, not this module's.
const V4_MAJOR: i64 = 4;
const V4_MINOR: i64 = 4;

/// The only version this module upgrades.
const V3_MAJOR: i64 = 3;

/// Markdown has six heading levels; IPython's heading cells offered the same six.
const MAX_HEADING_LEVEL: usize = 6;

/// v3's short names for output data, with the mime type v4 uses for each, and whether v3
/// readers rejoin the list-of-lines form into one string. Text formats are rejoined; base64
/// data (png, jpeg, pdf) is left as written, as nbformat leaves it.
/// `pdf` is not in nbformat's own upgrade table (it keeps the bare `pdf` key); it is mapped
/// here because `application/pdf` is what IPython's PDF formatter meant by it.
const MIME_ALIASES: [(&str, &str, bool); 9] = [
    ("text", "text/plain", true),
    ("html", "text/html", true),
    ("svg", "image/svg+xml", true),
    ("latex", "text/latex", true),
    ("javascript", "application/javascript", true),
    ("json", "application/json", true),
    ("png", "image/png", false),
    ("jpeg", "image/jpeg", false),
    ("pdf", "application/pdf", false),
];

/// Upgrades an nbformat 3 notebook to nbformat 4.4 JSON (cells without ids; the caller adds
/// ids). `notebook["nbformat"]` must be 3; a missing `nbformat_minor` is accepted as 0.
pub fn upgrade_v3(notebook: &Value) -> Result<Value, LegacyError> {
    let root = JsonPath::root();
    let top = object_at(notebook, &root)?;
    check_nbformat(top, &root)?;
    check_nbformat_minor(top, &root)?;
    let metadata = upgrade_notebook_metadata(top, &root)?;
    let cells = upgrade_worksheets(top, &root)?;

    let mut v4 = Object::new();
    v4.insert("nbformat".to_owned(), Value::from(V4_MAJOR));
    v4.insert("nbformat_minor".to_owned(), Value::from(V4_MINOR));
    v4.insert("metadata".to_owned(), Value::Object(metadata));
    v4.insert("cells".to_owned(), Value::Array(cells));
    Ok(Value::Object(v4))
}

// ---------------------------------------------------------------------------------------
// Notebook level
// ---------------------------------------------------------------------------------------

/// Accepts only nbformat 3. Versions below 3 get [`LegacyError::Unsupported`] so the user
/// learns how to convert them; anything else is a caller error (4 and up are imported
/// directly) or a broken file, reported at `$.nbformat`.
fn check_nbformat(top: &Object, root: &JsonPath) -> Checked<()> {
    let value = field(top, "nbformat", root)?;
    match value.as_i64() {
        Some(V3_MAJOR) => Ok(()),
        Some(version) if version < V3_MAJOR => Err(LegacyError::Unsupported(version)),
        _ => Err(root.key("nbformat").invalid(format!("expected nbformat 3, found {}", describe(value)))),
    }
}

/// The minor version is not needed for the upgrade (every 3.x upgrades the same way), but a
/// present one of the wrong kind means the file is not what it claims to be.
fn check_nbformat_minor(top: &Object, root: &JsonPath) -> Checked<()> {
    match top.get("nbformat_minor") {
        None => Ok(()),
        Some(value) if value.as_u64().is_some() => Ok(()),
        Some(value) => Err(root.key("nbformat_minor").wrong_type("a non-negative integer", value)),
    }
}

/// Keeps the notebook's metadata except `name`, which v4 dropped because the file name is the
/// notebook's name, and records the original format as nbformat's upgrade does.
fn upgrade_notebook_metadata(top: &Object, root: &JsonPath) -> Checked<Object> {
    let mut metadata = object_at(field(top, "metadata", root)?, &root.key("metadata"))?.clone();
    metadata.remove("name");
    metadata.insert("orig_nbformat".to_owned(), Value::from(V3_MAJOR));
    Ok(metadata)
}

/// Flattens the worksheets (v4 has none; IPython only ever wrote one) into one cell list.
fn upgrade_worksheets(top: &Object, root: &JsonPath) -> Checked<Vec<Value>> {
    let at = root.key("worksheets");
    let worksheets = array_at(field(top, "worksheets", root)?, &at)?;
    let mut cells = Vec::new();
    for (index, worksheet) in worksheets.iter().enumerate() {
        upgrade_worksheet(worksheet, &at.index(index), &mut cells)?;
    }
    Ok(cells)
}

/// Appends one worksheet's upgraded cells. Worksheet metadata has no v4 home and is dropped.
fn upgrade_worksheet(worksheet: &Value, at: &JsonPath, cells: &mut Vec<Value>) -> Checked<()> {
    let worksheet = object_at(worksheet, at)?;
    let cells_at = at.key("cells");
    let v3_cells = array_at(field(worksheet, "cells", at)?, &cells_at)?;
    for (index, cell) in v3_cells.iter().enumerate() {
        cells.push(upgrade_cell(cell, &cells_at.index(index))?);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------

/// Upgrades one cell. v3 knows `markdown` (with its never-used twin `html`), `raw` (called
/// `plaintext` before IPython 1.0 was released, which nbformat still accepts), `heading` and
/// `code`; anything else is refused rather than guessed at.
fn upgrade_cell(cell: &Value, at: &JsonPath) -> Checked<Value> {
    let cell = object_at(cell, at)?;
    let type_at = at.key("cell_type");
    let cell_type = str_at(field(cell, "cell_type", at)?, &type_at)?;
    let metadata = optional_object(cell, "metadata", at)?;
    match cell_type {
        "code" => upgrade_code_cell(cell, metadata, at),
        "markdown" | "html" => text_cell("markdown", cell, metadata, at),
        "raw" | "plaintext" => text_cell("raw", cell, metadata, at),
        "heading" => upgrade_heading_cell(cell, metadata, at),
        other => Err(type_at.invalid(format!(
            "unknown cell type {} (expected code, markdown, raw or heading)",
            Value::from(other)
        ))),
    }
}

/// A markdown or raw cell: only the source and metadata carry over. (Old markdown cells may
/// also hold a cached `rendered` HTML copy, which v4 does not have.)
fn text_cell(cell_type: &str, cell: &Object, metadata: Object, at: &JsonPath) -> Checked<Value> {
    let source = multiline_text(field(cell, "source", at)?, &at.key("source"))?;
    Ok(v4_text_cell(cell_type, metadata, source))
}

/// A heading cell becomes a markdown heading. Markdown headings are one line, so a
/// multi-line heading source is joined into one line with spaces, line breaks being those of
/// Python's `str.splitlines`, as in nbformat's upgrade.
fn upgrade_heading_cell(cell: &Object, metadata: Object, at: &JsonPath) -> Checked<Value> {
    let level = heading_level(field(cell, "level", at)?, &at.key("level"))?;
    let source = multiline_text(field(cell, "source", at)?, &at.key("source"))?;
    let single_line = python_splitlines(&source).join(" ");
    let heading = format!("{} {single_line}", "#".repeat(level));
    Ok(v4_text_cell("markdown", metadata, heading))
}

/// The heading level, 1 to 6. A larger one is refused rather than turned into a line of
/// seven or more `#`s, which Markdown renders as text, not as a heading.
fn heading_level(value: &Value, at: &JsonPath) -> Checked<usize> {
    if !(value.is_i64() || value.is_u64()) {
        return Err(at.wrong_type("an integer heading level", value));
    }
    value
        .as_u64()
        .and_then(|level| usize::try_from(level).ok())
        .filter(|level| (1..=MAX_HEADING_LEVEL).contains(level))
        .ok_or_else(|| {
            at.invalid(format!("heading level must be 1 to {MAX_HEADING_LEVEL}, found {}", describe(value)))
        })
}

/// Builds a v4 markdown or raw cell.
fn v4_text_cell(cell_type: &str, metadata: Object, source: String) -> Value {
    let mut cell = Object::new();
    cell.insert("cell_type".to_owned(), Value::from(cell_type));
    cell.insert("metadata".to_owned(), Value::Object(metadata));
    cell.insert("source".to_owned(), Value::String(source));
    Value::Object(cell)
}

/// Upgrades a code cell. `collapsed` was a cell field in v3 and is cell metadata in v4; the
/// cell's `language` is dropped because v4 has one language per notebook (the kernel's).
fn upgrade_code_cell(cell: &Object, mut metadata: Object, at: &JsonPath) -> Checked<Value> {
    let source = multiline_text(field(cell, "input", at)?, &at.key("input"))?;
    let execution_count = prompt_number(cell.get("prompt_number"), &at.key("prompt_number"))?;
    if let Some(collapsed) = cell.get("collapsed") {
        let collapsed_at = at.key("collapsed");
        let collapsed = collapsed.as_bool().ok_or_else(|| collapsed_at.wrong_type("a boolean", collapsed))?;
        metadata.insert("collapsed".to_owned(), Value::Bool(collapsed));
    }
    let outputs = upgrade_outputs(field(cell, "outputs", at)?, &at.key("outputs"))?;

    let mut v4 = Object::new();
    v4.insert("cell_type".to_owned(), Value::from("code"));
    v4.insert("execution_count".to_owned(), execution_count);
    v4.insert("metadata".to_owned(), Value::Object(metadata));
    v4.insert("outputs".to_owned(), Value::Array(outputs));
    v4.insert("source".to_owned(), Value::String(source));
    Ok(Value::Object(v4))
}

/// A v3 prompt number as a v4 execution count: a non-negative integer, or null for a cell
/// that never ran (also when the field is absent, as v3 writers leave it out then).
fn prompt_number(value: Option<&Value>, at: &JsonPath) -> Checked<Value> {
    match value {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(value) => match value.as_u64() {
            Some(count) => Ok(Value::from(count)),
            None => Err(at.wrong_type("a non-negative integer or null", value)),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------

/// Upgrades a code cell's outputs, in order.
fn upgrade_outputs(outputs: &Value, at: &JsonPath) -> Checked<Vec<Value>> {
    array_at(outputs, at)?
        .iter()
        .enumerate()
        .map(|(index, output)| upgrade_output(output, &at.index(index)))
        .collect()
}

/// Upgrades one output. Each v4 output is built from its known fields only, since v4
/// output schemas allow no other fields.
fn upgrade_output(output: &Value, at: &JsonPath) -> Checked<Value> {
    let output = object_at(output, at)?;
    let type_at = at.key("output_type");
    match str_at(field(output, "output_type", at)?, &type_at)? {
        "pyout" => upgrade_pyout(output, at),
        "display_data" => upgrade_display_data(output, at),
        "stream" => upgrade_stream(output, at),
        "pyerr" => upgrade_pyerr(output, at),
        other => Err(type_at.invalid(format!(
            "unknown output type {} (expected pyout, display_data, stream or pyerr)",
            Value::from(other)
        ))),
    }
}

/// `pyout` is v4's `execute_result`. v3 requires its prompt number; null is also accepted
/// because v4 allows it and nothing is lost.
fn upgrade_pyout(output: &Object, at: &JsonPath) -> Checked<Value> {
    let count_at = at.key("prompt_number");
    let execution_count = prompt_number(Some(field(output, "prompt_number", at)?), &count_at)?;
    let mut v4 = Object::new();
    v4.insert("output_type".to_owned(), Value::from("execute_result"));
    v4.insert("execution_count".to_owned(), execution_count);
    v4.insert("data".to_owned(), Value::Object(mime_bundle(output, at)?));
    v4.insert("metadata".to_owned(), Value::Object(output_metadata(output, at)?));
    Ok(Value::Object(v4))
}

/// `display_data` keeps its name; only its data moves into a mime bundle.
fn upgrade_display_data(output: &Object, at: &JsonPath) -> Checked<Value> {
    let mut v4 = Object::new();
    v4.insert("output_type".to_owned(), Value::from("display_data"));
    v4.insert("data".to_owned(), Value::Object(mime_bundle(output, at)?));
    v4.insert("metadata".to_owned(), Value::Object(output_metadata(output, at)?));
    Ok(Value::Object(v4))
}

/// A stream's `stream` field (stdout/stderr) is v4's `name`.
fn upgrade_stream(output: &Object, at: &JsonPath) -> Checked<Value> {
    let name = str_at(field(output, "stream", at)?, &at.key("stream"))?;
    let text = multiline_text(field(output, "text", at)?, &at.key("text"))?;
    let mut v4 = Object::new();
    v4.insert("output_type".to_owned(), Value::from("stream"));
    v4.insert("name".to_owned(), Value::from(name));
    v4.insert("text".to_owned(), Value::String(text));
    Ok(Value::Object(v4))
}

/// `pyerr` is v4's `error`, with the same three fields.
fn upgrade_pyerr(output: &Object, at: &JsonPath) -> Checked<Value> {
    let ename = str_at(field(output, "ename", at)?, &at.key("ename"))?;
    let evalue = str_at(field(output, "evalue", at)?, &at.key("evalue"))?;
    let traceback_at = at.key("traceback");
    let traceback = array_at(field(output, "traceback", at)?, &traceback_at)?;
    for (index, line) in traceback.iter().enumerate() {
        str_at(line, &traceback_at.index(index))?;
    }
    let mut v4 = Object::new();
    v4.insert("output_type".to_owned(), Value::from("error"));
    v4.insert("ename".to_owned(), Value::from(ename));
    v4.insert("evalue".to_owned(), Value::from(evalue));
    v4.insert("traceback".to_owned(), Value::Array(traceback.clone()));
    Ok(Value::Object(v4))
}

/// Collects a pyout/display_data output's data, which v3 keeps at the top level of the
/// output, into v4's mime bundle. Short names are translated; full mime types are kept. When
/// both a short name and its mime type are present, the short name wins, as in nbformat.
fn mime_bundle(output: &Object, at: &JsonPath) -> Checked<Object> {
    let mut bundle = Object::new();
    let mut from_aliases = Vec::new();
    for (key, value) in output {
        if matches!(key.as_str(), "output_type" | "prompt_number" | "metadata") {
            continue;
        }
        let value_at = at.key(key);
        match mime_alias(key) {
            Some((mime, rejoin)) => from_aliases.push((mime, data_value(mime, value, rejoin, &value_at)?)),
            None => {
                bundle.insert(key.clone(), data_value(key, value, false, &value_at)?);
            }
        }
    }
    for (mime, value) in from_aliases {
        bundle.insert(mime.to_owned(), value);
    }
    Ok(bundle)
}

/// One value of a mime bundle. JSON data was a string of JSON in v3 and is the JSON value
/// itself in v4, so it is parsed. Other JSON types (`application/…+json`) may hold any value
/// in v4 and are kept. Everything else must be v3's multi-line string, either rejoined (text
/// formats) or kept as written.
fn data_value(mime: &str, value: &Value, rejoin: bool, at: &JsonPath) -> Checked<Value> {
    if mime == "application/json" {
        return parse_json_data(value, at);
    }
    if is_json_mime(mime) {
        return Ok(value.clone());
    }
    if rejoin {
        return multiline_text(value, at).map(Value::String);
    }
    check_multiline(value, at)?;
    Ok(value.clone())
}

/// Parses v3's JSON-as-text; a value that is already structured JSON is kept.
fn parse_json_data(value: &Value, at: &JsonPath) -> Checked<Value> {
    match value {
        Value::String(_) | Value::Array(_) => {
            let text = multiline_text(value, at)?;
            serde_json::from_str(&text).map_err(|e| at.invalid(format!("not valid JSON: {e}")))
        }
        other => Ok(other.clone()),
    }
}

/// The output's metadata, kept whole. v3 keyed per-format metadata (such as an image's
/// `width`) by the short name, so those keys are translated like the data's.
fn output_metadata(output: &Object, at: &JsonPath) -> Checked<Object> {
    let metadata = optional_object(output, "metadata", at)?;
    let mut v4 = Object::new();
    let mut from_aliases = Vec::new();
    for (key, value) in metadata {
        match mime_alias(&key) {
            Some((mime, _)) => from_aliases.push((mime, value)),
            None => {
                v4.insert(key, value);
            }
        }
    }
    for (mime, value) in from_aliases {
        v4.insert(mime.to_owned(), value);
    }
    Ok(v4)
}

/// The mime type for one of v3's short data names, and whether its lines are rejoined.
fn mime_alias(key: &str) -> Option<(&'static str, bool)> {
    MIME_ALIASES.iter().find(|(alias, _, _)| *alias == key).map(|(_, mime, rejoin)| (*mime, *rejoin))
}

/// Mime types whose v4 value may be any JSON (v4 schema: `^application/(.*\+)?json$`).
fn is_json_mime(mime: &str) -> bool {
    mime.strip_prefix("application/").is_some_and(|subtype| subtype == "json" || subtype.ends_with("+json"))
}

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------

/// Reads v3's multi-line string (a string, or a list of lines) as one string.
///
/// Lines normally keep their line ends and are concatenated. IPython before 1.0 split text
/// with `splitlines()`, dropping the ends; such a list is recognised, as nbformat's reader
/// recognises it, by its first line not ending in a line break, and joined with `\n`.
fn multiline_text(value: &Value, at: &JsonPath) -> Checked<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Array(items) => {
            let lines = string_items(items, at)?;
            let keeps_ends = lines.first().is_some_and(|first| first.ends_with(['\n', '\r']));
            Ok(if keeps_ends { lines.concat() } else { lines.join("\n") })
        }
        other => Err(at.wrong_type("a string or a list of strings", other)),
    }
}

/// Checks that a value kept as written is a multi-line string.
fn check_multiline(value: &Value, at: &JsonPath) -> Checked<()> {
    match value {
        Value::String(_) => Ok(()),
        Value::Array(items) => string_items(items, at).map(drop),
        other => Err(at.wrong_type("a string or a list of strings", other)),
    }
}

/// The items of a list of strings, or the path of the first item that is not one.
fn string_items<'a>(items: &'a [Value], at: &JsonPath) -> Checked<Vec<&'a str>> {
    items.iter().enumerate().map(|(index, item)| str_at(item, &at.index(index))).collect()
}

/// Splits text into lines as Python's `str.splitlines()` does (without line ends), so a
/// multi-line heading joins exactly as in nbformat: besides `\n`, `\r\n` and `\r`, Python
/// also breaks at vertical tab, form feed, the file/group/record separators, NEL and the
/// Unicode line and paragraph separators. A trailing line break adds no empty line.
fn python_splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        if !is_python_line_break(c) {
            continue;
        }
        lines.push(&text[start..index]);
        start = index + c.len_utf8();
        if c == '\r'
            && let Some(&(lf_index, '\n')) = chars.peek()
        {
            chars.next();
            start = lf_index + 1;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// The characters Python's `str.splitlines()` treats as line boundaries.
fn is_python_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

// ---------------------------------------------------------------------------------------
// Reading JSON with paths
// ---------------------------------------------------------------------------------------

/// A JSON path into the v3 document (`$.worksheets[0].cells[3].input`), built while walking
/// down, so that every refusal says exactly where the problem is.
#[derive(Debug, Clone)]
struct JsonPath(String);

impl JsonPath {
    fn root() -> Self {
        Self("$".to_owned())
    }

    /// The path of an object member: `.name` for plain names, `["text/plain"]` otherwise, so
    /// paths stay unambiguous for mime-type keys.
    fn key(&self, key: &str) -> Self {
        if is_plain_name(key) {
            Self(format!("{}.{key}", self.0))
        } else {
            Self(format!("{}[{}]", self.0, Value::from(key)))
        }
    }

    fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    fn invalid(&self, message: impl Into<String>) -> LegacyError {
        LegacyError::Invalid { path: self.0.clone(), message: message.into() }
    }

    /// A missing field is reported at the object that lacks it, naming the field.
    fn missing(&self, key: &str) -> LegacyError {
        self.invalid(format!("required field `{key}` is missing"))
    }

    fn wrong_type(&self, expected: &str, found: &Value) -> LegacyError {
        self.invalid(format!("expected {expected}, found {}", describe(found)))
    }
}

/// Names that can follow a `.` in a path without quoting.
fn is_plain_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A short description of a value for messages. Numbers and booleans are shown; strings
/// and containers only by kind, since they can be arbitrarily long.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn field<'a>(object: &'a Object, key: &str, at: &JsonPath) -> Checked<&'a Value> {
    object.get(key).ok_or_else(|| at.missing(key))
}

fn object_at<'a>(value: &'a Value, at: &JsonPath) -> Checked<&'a Object> {
    value.as_object().ok_or_else(|| at.wrong_type("an object", value))
}

fn array_at<'a>(value: &'a Value, at: &JsonPath) -> Checked<&'a Vec<Value>> {
    value.as_array().ok_or_else(|| at.wrong_type("a list", value))
}

fn str_at<'a>(value: &'a Value, at: &JsonPath) -> Checked<&'a str> {
    value.as_str().ok_or_else(|| at.wrong_type("a string", value))
}

/// An optional object member (metadata), empty when absent, refused when not an object.
fn optional_object(object: &Object, key: &str, at: &JsonPath) -> Checked<Object> {
    match object.get(key) {
        None => Ok(Object::new()),
        Some(value) => object_at(value, &at.key(key)).cloned(),
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            cell,
            json!({"cell_type": "markdown", "metadata": {"tags": ["t"]}, "source": "### Title"})
        );
    }

    #[test]
    fn multi_line_heading_is_joined_into_one_line() {
        let cell =
            upgraded_cell(json!({"cell_type": "heading", "level": 1, "source": ["A long\n", "title\n"]}));
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
        let cell =
            upgraded_cell(json!({"cell_type": "code", "input": "", "outputs": [], "prompt_number": null}));
        assert_eq!(cell["execution_count"], json!(null));
    }

    #[test]
    fn code_cell_required_fields_and_types() {
        let at = "$.worksheets[0].cells[0]";
        invalid(at, "`input`", upgrade_v3(&v3(json!([{"cell_type": "code", "outputs": []}]))));
        invalid(at, "`outputs`", upgrade_v3(&v3(json!([{"cell_type": "code", "input": ""}]))));
        let bad = [
            (
                json!({"cell_type": "code", "input": 5, "outputs": []}),
                "input",
                "a string or a list of strings",
            ),
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
            (
                json!({"cell_type": "code", "input": "", "outputs": [], "collapsed": "no"}),
                "collapsed",
                "boolean",
            ),
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
        let cell = upgraded_cell(
            json!({"cell_type": "raw", "metadata": {"format": "text/latex"}, "source": "\\LaTeX"}),
        );
        assert_eq!(
            cell,
            json!({"cell_type": "raw", "metadata": {"format": "text/latex"}, "source": "\\LaTeX"})
        );
    }

    #[test]
    fn plaintext_is_raw_and_html_is_markdown() {
        assert_eq!(
            upgraded_cell(json!({"cell_type": "plaintext", "source": "p"}))["cell_type"],
            json!("raw")
        );
        assert_eq!(
            upgraded_cell(json!({"cell_type": "html", "source": "<b>"}))["cell_type"],
            json!("markdown")
        );
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
        invalid(
            "$.worksheets[0].cells[0].outputs[0][\"text/html\"][0]",
            "expected a string",
            upgrade_v3(&nb),
        );
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
        let nb = v3(json!([code(
            json!([{"output_type": "pyerr", "ename": "E", "evalue": "v", "traceback": [1]}])
        )]));
        invalid(&format!("{at}.traceback[0]"), "expected a string", upgrade_v3(&nb));
        let nb =
            v3(json!([code(json!([{"output_type": "pyerr", "ename": 1, "evalue": "v", "traceback": []}]))]));
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
}
