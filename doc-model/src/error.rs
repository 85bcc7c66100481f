//! Errors of document operations.

use crate::ids::CellId;

/// Why a document operation failed. Operations check before they change anything, so an
/// error never leaves a half-made change behind.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("the Yjs update could not be decoded: {0}")]
    Decode(String),
    #[error("the Yjs update could not be applied: {0}")]
    Apply(String),
    #[error("no cell with id `{0}`")]
    UnknownCell(CellId),
    #[error("a cell with id `{0}` already exists")]
    DuplicateCellId(CellId),
    #[error("`{0}` is not a valid cell id (1-64 characters from a-z, A-Z, 0-9, - and _)")]
    InvalidCellId(String),
    #[error("cell `{0}` is not a code cell")]
    NotACodeCell(CellId),
    #[error("position {index} is out of range (length {len})")]
    OutOfRange { index: usize, len: usize },
}
