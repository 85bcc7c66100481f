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
mod tests;
