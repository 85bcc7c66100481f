//! The typed notebook: what the document holds, independent of yrs and of the ipynb text.

use serde_json::{Map, Value};

use crate::ids::CellId;

/// A JSON object, as nbformat uses for metadata, mime bundles and attachments.
pub type JsonObject = Map<String, Value>;

/// The notebook format version this crate writes.
pub const NBFORMAT: i64 = 4;
/// The minor version this crate writes; 4.5 is the first with cell ids, which Talkbook needs.
pub const NBFORMAT_MINOR: i64 = 5;

/// A whole notebook.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Notebook {
    pub metadata: JsonObject,
    pub cells: Vec<Cell>,
}

/// The kind of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    Code,
    Markdown,
    Raw,
}

impl CellKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CellKind::Code => "code",
            CellKind::Markdown => "markdown",
            CellKind::Raw => "raw",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "code" => Some(CellKind::Code),
            "markdown" => Some(CellKind::Markdown),
            "raw" => Some(CellKind::Raw),
            _ => None,
        }
    }
}

/// The execution state jupyter_ydoc keeps on code cells, shown to every participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionState {
    Idle,
    Queued,
    Busy,
}

impl ExecutionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionState::Idle => "idle",
            ExecutionState::Queued => "queued",
            ExecutionState::Busy => "busy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "idle" => Some(ExecutionState::Idle),
            "queued" => Some(ExecutionState::Queued),
            "busy" => Some(ExecutionState::Busy),
            _ => None,
        }
    }
}

/// One cell. Fields that only some kinds carry are empty for the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub id: CellId,
    pub kind: CellKind,
    pub source: String,
    pub metadata: JsonObject,
    /// Code cells only.
    pub execution_count: Option<i64>,
    /// Code cells only.
    pub outputs: Vec<Output>,
    /// Markdown and raw cells only; `None` when the cell has no attachments.
    pub attachments: Option<JsonObject>,
}

impl Cell {
    /// A new cell of `kind` with a fresh id and the given source.
    pub fn new(kind: CellKind, source: impl Into<String>) -> Self {
        Self {
            id: CellId::random(),
            kind,
            source: source.into(),
            metadata: JsonObject::new(),
            execution_count: None,
            outputs: Vec::new(),
            attachments: None,
        }
    }

    pub fn code(source: impl Into<String>) -> Self {
        Self::new(CellKind::Code, source)
    }

    pub fn markdown(source: impl Into<String>) -> Self {
        Self::new(CellKind::Markdown, source)
    }

    pub fn with_id(mut self, id: CellId) -> Self {
        self.id = id;
        self
    }
}

/// One output of a code cell, in nbformat's four shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Stream {
        /// `stdout` or `stderr`.
        name: String,
        text: String,
    },
    DisplayData {
        data: JsonObject,
        metadata: JsonObject,
        /// The kernel's transient display id, kept so `update_display_data` can find the
        /// output later. It is not part of nbformat and is never exported.
        display_id: Option<String>,
    },
    ExecuteResult {
        execution_count: Option<i64>,
        data: JsonObject,
        metadata: JsonObject,
    },
    Error {
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
}

impl Output {
    /// nbformat's `output_type` for this output.
    pub fn output_type(&self) -> &'static str {
        match self {
            Output::Stream { .. } => "stream",
            Output::DisplayData { .. } => "display_data",
            Output::ExecuteResult { .. } => "execute_result",
            Output::Error { .. } => "error",
        }
    }

    pub fn stream(name: impl Into<String>, text: impl Into<String>) -> Self {
        Output::Stream { name: name.into(), text: text.into() }
    }
}
