//! Building blocks for authorship history, all pure (no IO): the server stores every update
//! with its author and time, and these turn that log into something a person can review.
//!
//! - [`changes`]: [`Replayer`] replays the update log (from a checkpoint) and says what each
//!   update did in readable terms ([`Change`]: a cell created, moved, its source edited by so
//!   many characters, its outputs changed, the notebook blocked …).
//! - [`pieces`]: [`source_pieces`] lists a cell source's Yjs items in document order, live
//!   text and tombstones, each with the client and clock that wrote it: the raw material of
//!   blame (who wrote, and who deleted, what where).
//! - [`restore`]: [`restore()`] makes the document equal to a past notebook by new edits, so
//!   restoring keeps the history and unchanged text keeps its authors.
//! - [`undo`]: [`undo()`] takes back one user's change group (its Yjs clock ranges) without
//!   touching anyone else's work done since.

mod blocks;
pub mod changes;
mod keys;
pub mod pieces;
pub mod restore;
mod text_index;
mod track;
pub mod undo;

pub use changes::{Change, ChangeKind, Replayer};
pub use pieces::{Piece, source_pieces};
pub use restore::{RestoreScope, RestoreSummary, restore};
pub use undo::{UndoSummary, UndoTarget, undo};

#[cfg(test)]
mod tests;
