//! Names of the shared types and keys of the document, as jupyter_ydoc's YNotebook 2.0.0
//! lays them out, plus Talkbook's server-written `provenance` map.

/// Root Y.Array of cells (each a Y.Map).
pub const CELLS: &str = "cells";
/// Root Y.Map with `nbformat`, `nbformat_minor` and `metadata`.
pub const META: &str = "meta";
/// Root Y.Map jupyter_ydoc uses for document state (`dirty`, `path`, …); kept as found.
pub const STATE: &str = "state";
/// Root Y.Map written only by the server: cell id → authorship record.
pub const PROVENANCE: &str = "provenance";
/// Root Y.Map written only by the server: the notebook's `mode` and manual `block`.
pub const TALKBOOK: &str = "talkbook";

pub const ID: &str = "id";
pub const CELL_TYPE: &str = "cell_type";
pub const SOURCE: &str = "source";
pub const METADATA: &str = "metadata";
pub const EXECUTION_COUNT: &str = "execution_count";
pub const EXECUTION_STATE: &str = "execution_state";
pub const OUTPUTS: &str = "outputs";
pub const ATTACHMENTS: &str = "attachments";

pub const NBFORMAT: &str = "nbformat";
pub const NBFORMAT_MINOR: &str = "nbformat_minor";

pub const OUTPUT_TYPE: &str = "output_type";
/// Key under an output's `metadata` where Talkbook keeps the kernel's transient display id.
pub const DISPLAY_ID_METADATA: &str = "talkbook_display_id";
