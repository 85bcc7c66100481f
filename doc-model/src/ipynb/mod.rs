//! `.ipynb` import and export.
//!
//! Import accepts nbformat 4.x (4.0–4.4 cells get ids, as nbformat's own upgrade gives
//! them) and upgrades nbformat 3; older versions and invalid notebooks are refused with an
//! error naming what is wrong and its JSON path. Duplicate or missing cell ids in a 4.5
//! notebook are repaired the way nbformat repairs them, with a warning. Export writes
//! nbformat 4.5 JSON in nbformat's own layout (sorted keys, one-space indent, multi-line
//! strings split into lines), with each cell's authorship under `metadata.talkbook`.

mod future;
pub mod legacy;
pub mod validate;

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::doc::output_from_json;
use crate::ids::CellId;
use crate::notebook::{Cell, CellKind, JsonObject, NBFORMAT, NBFORMAT_MINOR, Notebook, Output};
use crate::provenance::Provenance;
use crate::schema::DISPLAY_ID_METADATA;
pub use legacy::LegacyError;
pub use validate::Problem;

/// The key under each cell's metadata that carries its authorship in an export.
pub const AUTHORSHIP_KEY: &str = "talkbook";

/// Why a notebook could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Json { line: usize, column: usize, message: String },
    #[error("invalid notebook: {}", summarize(.0))]
    Invalid(Vec<Problem>),
    #[error(
        "nbformat {major}.{minor} is newer than this server understands (up to {NBFORMAT}.{NBFORMAT_MINOR})"
    )]
    TooNew { major: i64, minor: i64 },
    #[error(transparent)]
    Legacy(#[from] LegacyError),
}

fn summarize(problems: &[Problem]) -> String {
    match problems {
        [] => "no details".to_owned(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more problems)", rest.len()),
    }
}

/// A notebook read from `.ipynb`, ready to be put into a document.
#[derive(Debug, Clone)]
pub struct Imported {
    pub notebook: Notebook,
    /// Authorship found under cells' `metadata.talkbook`; the caller decides whether the
    /// importing user may claim it (otherwise the importer becomes the author).
    pub authorship: HashMap<CellId, Provenance>,
    /// Repairs made while importing (missing or duplicate cell ids), for the user to see.
    pub warnings: Vec<String>,
    /// The format version of the file as it was read, before any upgrade.
    pub original_version: (i64, i64),
}

/// Imports `.ipynb` text.
pub fn import(text: &[u8]) -> Result<Imported, ImportError> {
    let value: Value = serde_json::from_slice(text).map_err(|e| ImportError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    import_value(value)
}

/// Imports a notebook already parsed as JSON.
pub fn import_value(value: Value) -> Result<Imported, ImportError> {
    let (major, minor) = version_of(&value)?;
    let mut warnings = Vec::new();
    let v4 = match major {
        4 if minor > NBFORMAT_MINOR => {
            let mut value = value;
            future::drop_future_parts(&mut value, &mut warnings);
            value
        }
        4 => value,
        m if m > 4 => return Err(ImportError::TooNew { major, minor }),
        _ => legacy::upgrade_v3(&value)?,
    };
    let problems = validate::validate_v4(&v4);
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    let Value::Object(mut root) = v4 else {
        return Err(ImportError::Invalid(vec![problem("$", "a notebook must be a JSON object")]));
    };
    let metadata = take_object(&mut root, "metadata");
    let cells_json = match root.remove("cells") {
        Some(Value::Array(cells)) => cells,
        _ => Vec::new(),
    };
    let mut authorship = HashMap::new();
    let mut cells: Vec<Cell> = cells_json.into_iter().map(cell_from_json).collect();
    for cell in &mut cells {
        if let Some(Value::Object(record)) = cell.metadata.remove(AUTHORSHIP_KEY)
            && let Some(p) = Provenance::from_json(&Value::Object(record))
        {
            authorship.insert(cell.id.clone(), p);
        }
    }
    repair_ids(&mut cells, (major, minor), &mut warnings, &mut authorship);
    Ok(Imported {
        notebook: Notebook { metadata, cells },
        authorship,
        warnings,
        original_version: (major, minor),
    })
}

/// Reads `nbformat` and `nbformat_minor`, refusing a file that has no usable version.
fn version_of(value: &Value) -> Result<(i64, i64), ImportError> {
    let Some(obj) = value.as_object() else {
        return Err(ImportError::Invalid(vec![problem("$", "a notebook must be a JSON object")]));
    };
    let major = match obj.get("nbformat") {
        Some(v) => v.as_i64().ok_or_else(|| {
            ImportError::Invalid(vec![problem("$.nbformat", "`nbformat` must be an integer")])
        })?,
        None => {
            return Err(ImportError::Invalid(vec![problem("$", "required property `nbformat` is missing")]));
        }
    };
    let minor = obj.get("nbformat_minor").and_then(Value::as_i64).unwrap_or(0);
    Ok((major, minor))
}

fn problem(path: &str, message: &str) -> Problem {
    Problem { path: path.to_owned(), message: message.to_owned() }
}

/// Gives every cell a valid, unique id. Cells of 4.0–4.4 notebooks have none (nbformat's
/// upgrade adds them silently); in a 4.5 notebook a missing or repeated id is repaired with
/// a warning, as `nbformat.validate(repair_duplicate_cell_ids=True)` does.
fn repair_ids(
    cells: &mut [Cell],
    (major, minor): (i64, i64),
    warnings: &mut Vec<String>,
    authorship: &mut HashMap<CellId, Provenance>,
) {
    let expects_ids = major == 4 && minor >= 5;
    let mut seen = HashSet::new();
    for (index, cell) in cells.iter_mut().enumerate() {
        if cell.id.as_str().is_empty() {
            cell.id = fresh_id(&seen);
            if expects_ids {
                warnings.push(format!("$.cells[{index}] had no id; assigned `{}`", cell.id));
            }
        } else if seen.contains(&cell.id) {
            let old = std::mem::replace(&mut cell.id, fresh_id(&seen));
            // Authorship read for the first cell with this id belongs to that cell only.
            authorship.remove(&cell.id);
            warnings.push(format!(
                "$.cells[{index}].id `{old}` repeats an earlier cell's id; changed to `{}`",
                cell.id
            ));
        }
        seen.insert(cell.id.clone());
    }
}

fn fresh_id(taken: &HashSet<CellId>) -> CellId {
    loop {
        let id = CellId::random();
        if !taken.contains(&id) {
            return id;
        }
    }
}

fn take_object(obj: &mut Map<String, Value>, key: &str) -> JsonObject {
    match obj.remove(key) {
        Some(Value::Object(o)) => o,
        _ => JsonObject::new(),
    }
}

/// Joins nbformat's "multiline string" (a string or a list of lines).
fn join_multiline(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Joins the multi-line values of a mime bundle, as nbformat does when reading.
fn rejoin_bundle(bundle: &JsonObject) -> JsonObject {
    bundle
        .iter()
        .map(|(mime, value)| {
            let joined = match value {
                Value::Array(lines) if !is_json_mime(mime) && lines.iter().all(Value::is_string) => {
                    Value::String(join_multiline(Some(value)))
                }
                other => other.clone(),
            };
            (mime.clone(), joined)
        })
        .collect()
}

/// Converts a validated cell. An absent id is left empty for [`repair_ids`] to fill.
fn cell_from_json(value: Value) -> Cell {
    let Value::Object(mut obj) = value else { return Cell::raw_empty() };
    let kind =
        obj.get("cell_type").and_then(Value::as_str).and_then(CellKind::parse).unwrap_or(CellKind::Raw);
    let id = CellId::new(obj.get("id").and_then(Value::as_str).unwrap_or_default());
    let source = join_multiline(obj.get("source"));
    let metadata = take_object(&mut obj, "metadata");
    let mut cell =
        Cell { id, kind, source, metadata, execution_count: None, outputs: Vec::new(), attachments: None };
    match kind {
        CellKind::Code => {
            cell.execution_count = obj.get("execution_count").and_then(Value::as_i64);
            if let Some(Value::Array(outputs)) = obj.get("outputs") {
                cell.outputs = outputs.iter().filter_map(output_from_ipynb).collect();
            }
        }
        CellKind::Markdown | CellKind::Raw => {
            if let Some(Value::Object(attachments)) = obj.get("attachments") {
                let joined: JsonObject = attachments
                    .iter()
                    .map(|(name, bundle)| {
                        let bundle = bundle.as_object().map(rejoin_bundle).unwrap_or_default();
                        (name.clone(), Value::Object(bundle))
                    })
                    .collect();
                cell.attachments = Some(joined);
            }
        }
    }
    cell
}

fn output_from_ipynb(value: &Value) -> Option<Output> {
    let mut output = output_from_json(value)?;
    match &mut output {
        Output::Stream { text, .. } => *text = join_multiline(value.get("text")),
        Output::DisplayData { data, display_id, .. } => {
            *data = rejoin_bundle(data);
            // A file never carries a live display id: Talkbook's key is internal and
            // stripped on export, so one found in a file is dropped.
            *display_id = None;
        }
        Output::ExecuteResult { data, .. } => *data = rejoin_bundle(data),
        Output::Error { .. } => {}
    }
    Some(output)
}

impl Cell {
    fn raw_empty() -> Self {
        Cell::new(CellKind::Raw, "").with_id(CellId::new(""))
    }
}

/// Exports a notebook as nbformat 4.5 JSON, writing each cell's authorship (if known)
/// under `metadata.talkbook`. Ids that are missing, invalid or repeated (possible in a
/// document written by foreign clients) are replaced so the export always validates.
pub fn export(notebook: &Notebook, authorship: &HashMap<CellId, Provenance>) -> Value {
    let mut seen = HashSet::new();
    let cells: Vec<Value> = notebook
        .cells
        .iter()
        .map(|cell| {
            let id = if CellId::is_valid(cell.id.as_str()) && !seen.contains(&cell.id) {
                cell.id.clone()
            } else {
                fresh_id(&seen)
            };
            seen.insert(id.clone());
            cell_to_json(cell, &id, authorship.get(&cell.id))
        })
        .collect();
    let mut root = Map::new();
    root.insert("cells".to_owned(), Value::Array(cells));
    root.insert("metadata".to_owned(), Value::Object(notebook.metadata.clone()));
    root.insert("nbformat".to_owned(), Value::from(NBFORMAT));
    root.insert("nbformat_minor".to_owned(), Value::from(NBFORMAT_MINOR));
    Value::Object(root)
}

/// Exports as `.ipynb` text in nbformat's layout (one-space indent, sorted keys, final
/// newline), so files written by Talkbook and by Jupyter diff cleanly.
pub fn export_text(notebook: &Notebook, authorship: &HashMap<CellId, Provenance>) -> String {
    let value = export(notebook, authorship);
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serializing a `Value` into a Vec cannot fail.
    let _ = serde::Serialize::serialize(&value, &mut ser);
    let mut text = String::from_utf8(out).unwrap_or_default();
    text.push('\n');
    text
}

fn cell_to_json(cell: &Cell, id: &CellId, provenance: Option<&Provenance>) -> Value {
    let mut metadata = cell.metadata.clone();
    if let Some(p) = provenance {
        metadata.insert(AUTHORSHIP_KEY.to_owned(), p.to_json());
    }
    let mut obj = Map::new();
    obj.insert("id".to_owned(), Value::from(id.as_str()));
    obj.insert("cell_type".to_owned(), Value::from(cell.kind.as_str()));
    obj.insert("metadata".to_owned(), Value::Object(metadata));
    obj.insert("source".to_owned(), split_lines(&cell.source));
    match cell.kind {
        CellKind::Code => {
            obj.insert("execution_count".to_owned(), cell.execution_count.map_or(Value::Null, Value::from));
            obj.insert("outputs".to_owned(), Value::Array(cell.outputs.iter().map(output_to_json).collect()));
        }
        CellKind::Markdown | CellKind::Raw => {
            if let Some(attachments) = cell.attachments.as_ref().filter(|a| !a.is_empty()) {
                let split: JsonObject = attachments
                    .iter()
                    .map(|(name, bundle)| {
                        let bundle = bundle.as_object().map(split_bundle).unwrap_or_default();
                        (name.clone(), Value::Object(bundle))
                    })
                    .collect();
                obj.insert("attachments".to_owned(), Value::Object(split));
            }
        }
    }
    Value::Object(obj)
}

/// An output in nbformat's shape; Talkbook's display id is not part of the file.
pub fn output_to_json(output: &Output) -> Value {
    let mut obj = Map::new();
    obj.insert("output_type".to_owned(), Value::from(output.output_type()));
    match output {
        Output::Stream { name, text } => {
            obj.insert("name".to_owned(), Value::from(name.as_str()));
            obj.insert("text".to_owned(), split_lines(text));
        }
        Output::DisplayData { data, metadata, .. } => {
            let mut metadata = metadata.clone();
            metadata.remove(DISPLAY_ID_METADATA);
            obj.insert("data".to_owned(), Value::Object(split_bundle(data)));
            obj.insert("metadata".to_owned(), Value::Object(metadata));
        }
        Output::ExecuteResult { execution_count, data, metadata } => {
            obj.insert("execution_count".to_owned(), execution_count.map_or(Value::Null, Value::from));
            obj.insert("data".to_owned(), Value::Object(split_bundle(data)));
            obj.insert("metadata".to_owned(), Value::Object(metadata.clone()));
        }
        Output::Error { ename, evalue, traceback } => {
            obj.insert("ename".to_owned(), Value::from(ename.as_str()));
            obj.insert("evalue".to_owned(), Value::from(evalue.as_str()));
            obj.insert("traceback".to_owned(), Value::from(traceback.clone()));
        }
    }
    Value::Object(obj)
}

/// Splits text into lines that keep their line ends, as nbformat writes multi-line strings.
fn split_lines(text: &str) -> Value {
    Value::Array(text.split_inclusive('\n').map(Value::from).collect())
}

/// Splits the text values of a mime bundle into lines, for the same mime types nbformat does.
fn split_bundle(bundle: &JsonObject) -> JsonObject {
    bundle
        .iter()
        .map(|(mime, value)| {
            let split = match value {
                Value::String(s)
                    if mime.starts_with("text/")
                        || mime == "application/javascript"
                        || mime == "image/svg+xml" =>
                {
                    split_lines(s)
                }
                other => other.clone(),
            };
            (mime.clone(), split)
        })
        .collect()
}
