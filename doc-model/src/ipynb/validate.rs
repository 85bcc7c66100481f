//! Checks nbformat 4 notebooks against the v4 schema, reporting every problem with its JSON path.
//!
//! Written by hand rather than run through a JSON Schema engine so that each problem names
//! the exact offending value (`$.cells[2].outputs[0].name`) instead of the schema's
//! "not valid under any of the given schemas" for a whole cell, and so that the rules can
//! differ from the schema where the importer repairs a notebook itself.
//!
//! The rules are those of nbformat's v4.5 schema, which is a superset of 4.0–4.4, with two
//! deliberate differences: a missing cell `id` is not a problem (4.0–4.4 notebooks have
//! none, and the importer assigns ids), and `nbformat_minor` may be any integer ≥ 0.
//! A notebook from a future minor version (`nbformat_minor` > 5) is checked the way
//! nbformat checks it: unknown properties, cell types and output types are allowed, since
//! a newer writer may have added them.
//!
//! Quirks of the schema are followed on purpose, so a notebook nbformat accepts is
//! accepted here: `jupyter.source_hidden`/`outputs_hidden` are not type-checked (the schema
//! declares them outside `properties`), `authors` entries are not checked (the schema says
//! `item`, not `items`), and `deletable`/`editable` in cell metadata are free-form (the
//! schema does not mention them).

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

/// One thing wrong with a notebook, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON path of the offending value, e.g. `$.cells[2].outputs[0].name` (root is `$`).
    pub path: String,
    /// Human sentence, e.g. "required property `source` is missing".
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Checks an nbformat 4.x notebook against the v4 schema (4.0–4.5). Returns every problem found
/// (empty = valid). Missing cell ids and duplicate cell ids are NOT reported (the caller repairs
/// them); a present `id` that is not a string of 1–64 chars from [a-zA-Z0-9-_] IS reported.
pub fn validate_v4(notebook: &Value) -> Vec<Problem> {
    let mut checker = Checker { problems: Vec::new(), from_future: is_from_future(notebook) };
    checker.notebook(notebook);
    checker.problems
}

/// The newest minor version whose schema these rules follow.
const NEWEST_MINOR: u64 = 5;

/// Longest cell id the schema allows.
const MAX_CELL_ID_CHARS: usize = 64;

/// Longest piece of a user's value quoted in a message, so one huge string cannot flood it.
const MAX_QUOTED_CHARS: usize = 40;

const NOTEBOOK_PROPERTIES: &[&str] = &["metadata", "nbformat_minor", "nbformat", "cells"];
const CODE_CELL_PROPERTIES: &[&str] =
    &["id", "cell_type", "metadata", "source", "outputs", "execution_count"];
const CODE_CELL_REQUIRED: &[&str] = &["cell_type", "metadata", "source", "outputs", "execution_count"];
const TEXT_CELL_PROPERTIES: &[&str] = &["id", "cell_type", "metadata", "attachments", "source"];
const TEXT_CELL_REQUIRED: &[&str] = &["cell_type", "metadata", "source"];

/// nbformat relaxes its schema for notebooks newer than it knows, so they stay readable;
/// this decides whether the same leniency applies.
fn is_from_future(notebook: &Value) -> bool {
    notebook.get("nbformat_minor").and_then(Value::as_u64).is_some_and(|minor| minor > NEWEST_MINOR)
}

/// The cell types the v4 schema defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellType {
    Code,
    Markdown,
    Raw,
}

impl CellType {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "code" => Some(Self::Code),
            "markdown" => Some(Self::Markdown),
            "raw" => Some(Self::Raw),
            _ => None,
        }
    }

    fn properties(self) -> &'static [&'static str] {
        match self {
            Self::Code => CODE_CELL_PROPERTIES,
            Self::Markdown | Self::Raw => TEXT_CELL_PROPERTIES,
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            Self::Code => CODE_CELL_REQUIRED,
            Self::Markdown | Self::Raw => TEXT_CELL_REQUIRED,
        }
    }
}

/// What a cell's `cell_type` turned out to be.
enum CellKind {
    Known(CellType),
    /// Unknown, but allowed because the notebook is from a future minor version.
    Unrecognized,
    /// Missing or wrong; already reported.
    Invalid,
}

/// The output types the v4 schema defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputType {
    ExecuteResult,
    DisplayData,
    Stream,
    Error,
}

impl OutputType {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "execute_result" => Some(Self::ExecuteResult),
            "display_data" => Some(Self::DisplayData),
            "stream" => Some(Self::Stream),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    /// Every property of an output is required, so this list is both the allowed and the
    /// required set. `display_data` has no `transient`: it is a message field that the
    /// schema keeps out of files.
    fn properties(self) -> &'static [&'static str] {
        match self {
            Self::ExecuteResult => &["output_type", "execution_count", "data", "metadata"],
            Self::DisplayData => &["output_type", "data", "metadata"],
            Self::Stream => &["output_type", "name", "text"],
            Self::Error => &["output_type", "ename", "evalue", "traceback"],
        }
    }
}

/// Walks a notebook once, collecting problems instead of stopping at the first.
struct Checker {
    problems: Vec<Problem>,
    from_future: bool,
}

impl Checker {
    fn report(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem { path: path.to_owned(), message: message.into() });
    }

    // ----- the notebook -----

    fn notebook(&mut self, value: &Value) {
        let Some(root) = self.expect_object(value, "$", "notebook") else { return };
        self.require(root, "$", NOTEBOOK_PROPERTIES);
        self.forbid_unknown(root, "$", NOTEBOOK_PROPERTIES);
        if let Some(metadata) = root.get("metadata") {
            self.notebook_metadata(metadata, "$.metadata");
        }
        if let Some(minor) = root.get("nbformat_minor") {
            self.integer_at_least(minor, "$.nbformat_minor", "`nbformat_minor`", 0);
        }
        if let Some(major) = root.get("nbformat") {
            self.nbformat(major, "$.nbformat");
        }
        if let Some(cells) = root.get("cells") {
            self.cells(cells, "$.cells");
        }
    }

    fn nbformat(&mut self, value: &Value, path: &str) {
        if !is_integer(value) {
            self.report(path, format!("`nbformat` must be an integer, found {}", describe(value)));
        } else if value.as_u64() != Some(4) {
            self.report(path, format!("`nbformat` must be 4, found {value}"));
        }
    }

    /// Notebook metadata is open-ended; only the keys the schema names are checked.
    fn notebook_metadata(&mut self, value: &Value, path: &str) {
        let Some(metadata) = self.expect_object(value, path, "notebook `metadata`") else { return };
        if let Some(kernelspec) = metadata.get("kernelspec") {
            self.kernelspec(kernelspec, &key_path(path, "kernelspec"));
        }
        if let Some(language_info) = metadata.get("language_info") {
            self.language_info(language_info, &key_path(path, "language_info"));
        }
        if let Some(orig) = metadata.get("orig_nbformat") {
            self.integer_at_least(orig, &key_path(path, "orig_nbformat"), "`orig_nbformat`", 1);
        }
        self.optional_string(metadata, path, "title");
        if let Some(authors) = metadata.get("authors") {
            self.expect_array(authors, &key_path(path, "authors"), "`authors`");
        }
    }

    fn kernelspec(&mut self, value: &Value, path: &str) {
        let Some(kernelspec) = self.expect_object(value, path, "`kernelspec`") else { return };
        self.require(kernelspec, path, &["name", "display_name"]);
        self.optional_string(kernelspec, path, "name");
        self.optional_string(kernelspec, path, "display_name");
    }

    fn language_info(&mut self, value: &Value, path: &str) {
        let Some(info) = self.expect_object(value, path, "`language_info`") else { return };
        self.require(info, path, &["name"]);
        for key in ["name", "file_extension", "mimetype", "pygments_lexer"] {
            self.optional_string(info, path, key);
        }
        if let Some(mode) = info.get("codemirror_mode").filter(|m| !m.is_string() && !m.is_object()) {
            let message =
                format!("`codemirror_mode` must be a string or an object, found {}", describe(mode));
            self.report(&key_path(path, "codemirror_mode"), message);
        }
    }

    // ----- cells -----

    fn cells(&mut self, value: &Value, path: &str) {
        let Some(cells) = self.expect_array(value, path, "`cells`") else { return };
        for (index, cell) in cells.iter().enumerate() {
            self.cell(cell, &index_path(path, index));
        }
    }

    fn cell(&mut self, value: &Value, path: &str) {
        let Some(cell) = self.expect_object(value, path, "cell") else { return };
        match self.cell_kind(cell, path) {
            CellKind::Known(cell_type) => self.known_cell(cell, path, cell_type),
            CellKind::Unrecognized => self.unrecognized_cell(cell, path),
            // Without a type there is no telling which properties belong, so stop here
            // rather than bury the one real problem under guesses.
            CellKind::Invalid => {}
        }
    }

    fn cell_kind(&mut self, cell: &Map<String, Value>, path: &str) -> CellKind {
        let Some(value) = cell.get("cell_type") else {
            self.report(path, "required property `cell_type` is missing");
            return CellKind::Invalid;
        };
        if let Some(cell_type) = value.as_str().and_then(CellType::parse) {
            return CellKind::Known(cell_type);
        }
        if self.from_future {
            return CellKind::Unrecognized;
        }
        let message = match value.as_str() {
            Some(name) => format!("unknown cell_type {} (expected code, markdown or raw)", quoted(name)),
            None => format!("`cell_type` must be a string, found {}", describe(value)),
        };
        self.report(&key_path(path, "cell_type"), message);
        CellKind::Invalid
    }

    fn known_cell(&mut self, cell: &Map<String, Value>, path: &str, cell_type: CellType) {
        self.require(cell, path, cell_type.required());
        self.forbid_unknown(cell, path, cell_type.properties());
        if let Some(id) = cell.get("id") {
            self.cell_id(id, &key_path(path, "id"));
        }
        if let Some(metadata) = cell.get("metadata") {
            self.cell_metadata(metadata, &key_path(path, "metadata"), Some(cell_type));
        }
        if let Some(source) = cell.get("source") {
            self.multiline_string(source, &key_path(path, "source"), "`source`");
        }
        match cell_type {
            CellType::Code => {
                if let Some(outputs) = cell.get("outputs") {
                    self.outputs(outputs, &key_path(path, "outputs"));
                }
                if let Some(count) = cell.get("execution_count") {
                    self.execution_count(count, &key_path(path, "execution_count"));
                }
            }
            CellType::Markdown | CellType::Raw => {
                if let Some(attachments) = cell.get("attachments") {
                    self.attachments(attachments, &key_path(path, "attachments"));
                }
            }
        }
    }

    /// A future cell type only has to carry metadata, as in the schema's `unrecognized_cell`.
    fn unrecognized_cell(&mut self, cell: &Map<String, Value>, path: &str) {
        self.require(cell, path, &["metadata"]);
        if let Some(metadata) = cell.get("metadata") {
            self.cell_metadata(metadata, &key_path(path, "metadata"), None);
        }
    }

    /// Reports each rule of the schema's `cell_id` that the value breaks.
    fn cell_id(&mut self, value: &Value, path: &str) {
        let Some(id) = self.expect_string(value, path, "cell `id`") else { return };
        let chars = id.chars().count();
        if chars == 0 {
            self.report(path, "cell `id` must not be empty");
        } else if chars > MAX_CELL_ID_CHARS {
            self.report(
                path,
                format!("cell `id` must be at most {MAX_CELL_ID_CHARS} characters, found {chars}"),
            );
        }
        if let Some(bad) = id.chars().find(|c| !is_cell_id_char(*c)) {
            let message = format!(
                "cell `id` {} contains {bad:?}; only a-z, A-Z, 0-9, `-` and `_` are allowed",
                quoted(id)
            );
            self.report(path, message);
        }
    }

    /// `cell_type` is `None` for an unrecognized (future) cell, whose metadata the schema
    /// only constrains in `name` and `tags`.
    fn cell_metadata(&mut self, value: &Value, path: &str, cell_type: Option<CellType>) {
        let Some(metadata) = self.expect_object(value, path, "cell `metadata`") else { return };
        if let Some(name) = metadata.get("name") {
            self.metadata_name(name, &key_path(path, "name"));
        }
        if let Some(tags) = metadata.get("tags") {
            self.tags(tags, &key_path(path, "tags"));
        }
        let Some(cell_type) = cell_type else { return };
        if let Some(jupyter) = metadata.get("jupyter") {
            self.expect_object(jupyter, &key_path(path, "jupyter"), "`jupyter`");
        }
        match cell_type {
            CellType::Raw => self.optional_string(metadata, path, "format"),
            CellType::Code => self.code_cell_metadata(metadata, path),
            CellType::Markdown => {}
        }
    }

    fn code_cell_metadata(&mut self, metadata: &Map<String, Value>, path: &str) {
        if let Some(execution) = metadata.get("execution") {
            self.execution_times(execution, &key_path(path, "execution"));
        }
        if let Some(collapsed) = metadata.get("collapsed").filter(|c| !c.is_boolean()) {
            let message = format!("`collapsed` must be a boolean, found {}", describe(collapsed));
            self.report(&key_path(path, "collapsed"), message);
        }
        let is_scroll_mode = |s: &&Value| s.is_boolean() || s.as_str() == Some("auto");
        if let Some(scrolled) = metadata.get("scrolled").filter(|s| !is_scroll_mode(s)) {
            let message = format!("`scrolled` must be true, false or \"auto\", found {}", describe(scrolled));
            self.report(&key_path(path, "scrolled"), message);
        }
    }

    /// The schema's `metadata_name`: a non-empty string matching `^.+$`, i.e. one line.
    fn metadata_name(&mut self, value: &Value, path: &str) {
        let Some(name) = self.expect_string(value, path, "`name`") else { return };
        if name.is_empty() {
            self.report(path, "`name` must not be empty");
        } else if name.contains(['\n', '\r']) {
            self.report(path, "`name` must be a single line");
        }
    }

    /// The schema's `metadata_tags`: unique strings, each non-empty and free of commas.
    fn tags(&mut self, value: &Value, path: &str) {
        let Some(tags) = self.expect_array(value, path, "`tags`") else { return };
        let mut seen = HashSet::new();
        for (index, tag) in tags.iter().enumerate() {
            let tag_path = index_path(path, index);
            let Some(text) = tag.as_str() else {
                self.report(&tag_path, format!("each tag must be a string, found {}", describe(tag)));
                continue;
            };
            if text.is_empty() {
                self.report(&tag_path, "a tag must not be empty");
            } else if text.contains(',') {
                self.report(&tag_path, format!("tag {} must not contain a comma", quoted(text)));
            }
            if !seen.insert(text) {
                self.report(&tag_path, format!("duplicate tag {}", quoted(text)));
            }
        }
    }

    /// Timestamps of the messages of the cell's last execution; every value is a string.
    fn execution_times(&mut self, value: &Value, path: &str) {
        let Some(times) = self.expect_object(value, path, "`execution`") else { return };
        for (key, time) in times {
            if !time.is_string() {
                let message = format!("{} must be a string, found {}", quoted(key), describe(time));
                self.report(&key_path(path, key), message);
            }
        }
    }

    /// Attachments are mime bundles keyed by file name.
    fn attachments(&mut self, value: &Value, path: &str) {
        let Some(attachments) = self.expect_object(value, path, "`attachments`") else { return };
        for (name, bundle) in attachments {
            let subject = format!("attachment {}", quoted(name));
            self.mime_bundle(bundle, &key_path(path, name), &subject);
        }
    }

    // ----- outputs -----

    fn outputs(&mut self, value: &Value, path: &str) {
        let Some(outputs) = self.expect_array(value, path, "`outputs`") else { return };
        for (index, output) in outputs.iter().enumerate() {
            self.output(output, &index_path(path, index));
        }
    }

    fn output(&mut self, value: &Value, path: &str) {
        let Some(output) = self.expect_object(value, path, "output") else { return };
        let Some(type_value) = output.get("output_type") else {
            self.report(path, "required property `output_type` is missing");
            return;
        };
        let Some(output_type) = type_value.as_str().and_then(OutputType::parse) else {
            self.unknown_output_type(type_value, &key_path(path, "output_type"));
            return;
        };
        self.require(output, path, output_type.properties());
        self.forbid_unknown(output, path, output_type.properties());
        match output_type {
            OutputType::ExecuteResult => {
                if let Some(count) = output.get("execution_count") {
                    self.execution_count(count, &key_path(path, "execution_count"));
                }
                self.result_data(output, path);
            }
            OutputType::DisplayData => self.result_data(output, path),
            OutputType::Stream => {
                self.optional_string(output, path, "name");
                if let Some(text) = output.get("text") {
                    self.multiline_string(text, &key_path(path, "text"), "`text`");
                }
            }
            OutputType::Error => {
                self.optional_string(output, path, "ename");
                self.optional_string(output, path, "evalue");
                if let Some(traceback) = output.get("traceback") {
                    self.traceback(traceback, &key_path(path, "traceback"));
                }
            }
        }
    }

    /// A future output type is allowed as is; otherwise it is named in the problem.
    fn unknown_output_type(&mut self, value: &Value, path: &str) {
        if self.from_future {
            return;
        }
        let message = match value.as_str() {
            Some(name) => {
                format!(
                    "unknown output_type {} (expected execute_result, display_data, stream or error)",
                    quoted(name)
                )
            }
            None => format!("`output_type` must be a string, found {}", describe(value)),
        };
        self.report(path, message);
    }

    /// The `data` and `metadata` shared by `execute_result` and `display_data`.
    fn result_data(&mut self, output: &Map<String, Value>, path: &str) {
        if let Some(data) = output.get("data") {
            self.mime_bundle(data, &key_path(path, "data"), "`data`");
        }
        if let Some(metadata) = output.get("metadata") {
            self.expect_object(metadata, &key_path(path, "metadata"), "output `metadata`");
        }
    }

    fn traceback(&mut self, value: &Value, path: &str) {
        let Some(lines) = self.expect_array(value, path, "`traceback`") else { return };
        for (index, line) in lines.iter().enumerate() {
            if !line.is_string() {
                let message = format!("each line of `traceback` must be a string, found {}", describe(line));
                self.report(&index_path(path, index), message);
            }
        }
    }

    /// A mime bundle maps mime types to multiline strings, except JSON types, which may hold
    /// any JSON. nbformat's leniency for future notebooks lifts every `additionalProperties`
    /// rule of the schema, and the string rule is one, so it is skipped for them too.
    fn mime_bundle(&mut self, value: &Value, path: &str, subject: &str) {
        let Some(bundle) = self.expect_object(value, path, subject) else { return };
        if self.from_future {
            return;
        }
        for (mime, data) in bundle {
            if !is_json_mime(mime) {
                self.multiline_string(data, &key_path(path, mime), &quoted(mime));
            }
        }
    }

    // ----- shared value rules -----

    fn execution_count(&mut self, value: &Value, path: &str) {
        if value.is_null() {
            return;
        }
        if !is_integer(value) {
            let message = format!("`execution_count` must be an integer or null, found {}", describe(value));
            self.report(path, message);
            return;
        }
        self.integer_at_least(value, path, "`execution_count`", 0);
    }

    /// The schema's `multiline_string`: one string, or an array of strings (lines).
    fn multiline_string(&mut self, value: &Value, path: &str, subject: &str) {
        match value {
            Value::String(_) => {}
            Value::Array(lines) => {
                for (index, line) in lines.iter().enumerate() {
                    if !line.is_string() {
                        let message =
                            format!("each line of {subject} must be a string, found {}", describe(line));
                        self.report(&index_path(path, index), message);
                    }
                }
            }
            other => {
                let message =
                    format!("{subject} must be a string or an array of strings, found {}", describe(other));
                self.report(path, message);
            }
        }
    }

    fn integer_at_least(&mut self, value: &Value, path: &str, subject: &str, minimum: i64) {
        if !is_integer(value) {
            self.report(path, format!("{subject} must be an integer, found {}", describe(value)));
        } else if let Some(number) = value.as_i64().filter(|n| *n < minimum) {
            self.report(path, format!("{subject} must be at least {minimum}, found {number}"));
        }
    }

    fn optional_string(&mut self, object: &Map<String, Value>, path: &str, key: &str) {
        if let Some(value) = object.get(key) {
            self.expect_string(value, &key_path(path, key), &format!("`{key}`"));
        }
    }

    fn require(&mut self, object: &Map<String, Value>, path: &str, keys: &[&str]) {
        for key in keys {
            if !object.contains_key(*key) {
                self.report(path, format!("required property `{key}` is missing"));
            }
        }
    }

    /// Reports properties the schema does not allow here, each at its own path.
    fn forbid_unknown(&mut self, object: &Map<String, Value>, path: &str, allowed: &[&str]) {
        if self.from_future {
            return;
        }
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                self.report(&key_path(path, key), format!("unexpected property {}", quoted(key)));
            }
        }
    }

    fn expect_object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        subject: &str,
    ) -> Option<&'v Map<String, Value>> {
        let object = value.as_object();
        if object.is_none() {
            self.report(path, format!("{subject} must be an object, found {}", describe(value)));
        }
        object
    }

    fn expect_array<'v>(&mut self, value: &'v Value, path: &str, subject: &str) -> Option<&'v Vec<Value>> {
        let array = value.as_array();
        if array.is_none() {
            self.report(path, format!("{subject} must be an array, found {}", describe(value)));
        }
        array
    }

    fn expect_string<'v>(&mut self, value: &'v Value, path: &str, subject: &str) -> Option<&'v str> {
        let text = value.as_str();
        if text.is_none() {
            self.report(path, format!("{subject} must be a string, found {}", describe(value)));
        }
        text
    }
}

// ----- helpers without state -----

/// JSON Schema's "integer": a number without a fractional part as written. serde_json keeps
/// `4.0` as a float, and nbformat's validator rejects it too.
fn is_integer(value: &Value) -> bool {
    matches!(value, Value::Number(n) if n.is_i64() || n.is_u64())
}

fn is_cell_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// The schema's `^application/(.*\+)?json$`: JSON itself or a `+json` structured syntax.
fn is_json_mime(mime: &str) -> bool {
    let Some(middle) = mime.strip_prefix("application/").and_then(|rest| rest.strip_suffix("json")) else {
        return false;
    };
    (middle.is_empty() || middle.ends_with('+')) && !middle.contains('\n')
}

/// Names what was found instead of the expected value: its JSON type, and for numbers that
/// are not integers the number itself, since `4.0` looks like an integer to a reader.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "boolean".to_owned(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer".to_owned(),
        Value::Number(n) => format!("number {n}"),
        Value::String(_) => "string".to_owned(),
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
    }
}

/// A user's string in backticks for a message, shortened if long.
fn quoted(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        return format!("`{text}`");
    }
    let head: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    format!("`{head}…`")
}

/// `base.key` for identifier-like keys, `base["key"]` (JSON-escaped) for the rest, so a
/// path can be read back unambiguously even for keys like `image/png` or `a.b`.
fn key_path(base: &str, key: &str) -> String {
    if is_identifier(key) { format!("{base}.{key}") } else { format!("{base}[{}]", Value::from(key)) }
}

fn index_path(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
