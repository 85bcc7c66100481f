//! Deciding whether a client's update may enter a notebook, before it is applied.
//!
//! A Yjs update cannot be taken back once a document has integrated it, and yrs decides
//! where an item goes only while integrating it. So the decision is made beside the
//! document, from the update itself:
//!
//! 1. [`scan`] reads the update block by block with yrs's public decoder: each new item's
//!    id, length, origin / right origin or explicit parent, map key and kind of content;
//!    and the delete set.
//! 2. [`Structure`] is an index kept next to the live document and fed every update the
//!    document integrates (stored history, the server's own edits, accepted client
//!    updates). It maps each client's clock ranges to where they sit: the parent type, the
//!    cell (or root) that owns them, their map key; it also tracks deleted ranges and each
//!    cell's `id`. [`Structure::analyze`] places the update's new items the way Yjs would
//!    (an item with an origin lives where its origin lives; an explicit parent is a root
//!    or the type held by a known item; next to garbage it becomes garbage), following
//!    references into the update itself where needed, and maps the delete set, minus what
//!    is already deleted, onto owners. Anything it cannot place (a clock gap, a reference
//!    to an unknown item) would leave yrs holding the update pending, so it is refused.
//!    The result is [`Effects`]: which clients write, which cells are created, changed or
//!    removed, which other roots change.
//! 3. [`policy::check`] applies SPEC §6 to those effects: viewers, blocks, client ids
//!    bound to users, server-only roots, per-author cells in thread mode.
//!
//! Only an update that passes is applied; then [`Structure::commit`] records it. The
//! document itself is never touched by a refused update.

pub mod policy;
mod ranges;
pub mod scan;
mod structure;

pub use policy::{Binding, Lookup, Mode, Person, Refusal, Rules, Sender, check};
pub use scan::{ScanError, ScannedUpdate, gc_update, scan_update};
pub use structure::{Analysis, Effects, NewCell, Owner, Parent, Structure, Unresolved};

#[cfg(test)]
mod tests;
