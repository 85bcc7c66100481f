//! Notebooks from a newer nbformat 4 minor version than 4.5.
//!
//! nbformat reads such files leniently (extra properties, unknown cell and output types are
//! allowed), but Talkbook stores and exports nbformat 4.5, which has no place for them. The
//! parts 4.5 does not define are therefore dropped on import, each named in a warning, so
//! nothing disappears without the user being told.

use serde_json::{Map, Value};

const NOTEBOOK_KEYS: &[&str] = &["cells", "metadata", "nbformat", "nbformat_minor"];
const CODE_KEYS: &[&str] = &["id", "cell_type", "metadata", "source", "outputs", "execution_count"];
const TEXT_CELL_KEYS: &[&str] = &["id", "cell_type", "metadata", "source", "attachments"];

fn output_keys(output_type: &str) -> Option<&'static [&'static str]> {
    Some(match output_type {
        "stream" => &["output_type", "name", "text"],
        "display_data" => &["output_type", "data", "metadata"],
        "execute_result" => &["output_type", "data", "metadata", "execution_count"],
        "error" => &["output_type", "ename", "evalue", "traceback"],
        _ => return None,
    })
}

/// Removes what nbformat 4.5 does not define, adding one warning per removed part.
pub fn drop_future_parts(notebook: &mut Value, warnings: &mut Vec<String>) {
    let Value::Object(root) = notebook else { return };
    drop_unknown_keys(root, NOTEBOOK_KEYS, "$", warnings);
    let Some(Value::Array(cells)) = root.get_mut("cells") else { return };
    let mut index = 0;
    cells.retain_mut(|cell| {
        let path = format!("$.cells[{index}]");
        index += 1;
        keep_cell(cell, &path, warnings)
    });
}

fn keep_cell(cell: &mut Value, path: &str, warnings: &mut Vec<String>) -> bool {
    let Value::Object(obj) = cell else { return true };
    let keys = match obj.get("cell_type").and_then(Value::as_str) {
        Some("code") => CODE_KEYS,
        Some("markdown" | "raw") => TEXT_CELL_KEYS,
        other => {
            warnings.push(format!(
                "{path}: dropped a cell of type {} that nbformat 4.5 does not define",
                describe(other)
            ));
            return false;
        }
    };
    drop_unknown_keys(obj, keys, path, warnings);
    if let Some(Value::Array(outputs)) = obj.get_mut("outputs") {
        let mut index = 0;
        outputs.retain_mut(|output| {
            let path = format!("{path}.outputs[{index}]");
            index += 1;
            keep_output(output, &path, warnings)
        });
    }
    true
}

fn keep_output(output: &mut Value, path: &str, warnings: &mut Vec<String>) -> bool {
    let Value::Object(obj) = output else { return true };
    let output_type = obj.get("output_type").and_then(Value::as_str);
    match output_type.and_then(output_keys) {
        Some(keys) => {
            drop_unknown_keys(obj, keys, path, warnings);
            true
        }
        None => {
            warnings.push(format!(
                "{path}: dropped an output of type {} that nbformat 4.5 does not define",
                describe(output_type)
            ));
            false
        }
    }
}

fn drop_unknown_keys(obj: &mut Map<String, Value>, known: &[&str], path: &str, warnings: &mut Vec<String>) {
    let unknown: Vec<String> = obj.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
    for key in unknown {
        obj.remove(&key);
        warnings.push(format!("{path}: dropped property `{key}` that nbformat 4.5 does not define"));
    }
}

fn describe(cell_type: Option<&str>) -> String {
    cell_type.map_or_else(|| "(none)".to_owned(), |t| format!("`{t}`"))
}
