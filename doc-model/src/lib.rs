//! The Talkbook notebook document: a notebook as a yrs CRDT, with no IO.
//!
//! - [`NotebookDoc`] holds a notebook in the layout of jupyter_ydoc's YNotebook 2.0.0
//!   (`cells`, `meta`, `state`) plus Talkbook's server-written `provenance` map, so Jupyter's
//!   own collaborative model (Python `jupyter_ydoc`, JS `@jupyter/ydoc`) reads and writes it.
//! - [`Editor`] is the set of typed edits later layers use: cells, sources, metadata,
//!   execution state and outputs, provenance. Each edit returns the Yjs update it made.
//! - [`ipynb`] converts between the document and `.ipynb` JSON: validation with JSON paths,
//!   nbformat 3 upgrade, id repair, and authorship under `metadata.talkbook`.
//! - [`history`] turns the stored update log into readable changes, blame pieces, restores
//!   of past states and per-user undo.

pub mod doc;
pub mod edit;
pub mod error;
pub mod guard;
pub mod history;
pub mod ids;
pub mod ipynb;
pub mod json_any;
pub mod notebook;
pub mod provenance;
pub mod schema;

pub use doc::NotebookDoc;
pub use edit::Editor;
pub use error::DocError;
pub use ids::{CellId, UserId};
pub use notebook::{Cell, CellKind, ExecutionState, JsonObject, Notebook, Output};
pub use provenance::Provenance;
