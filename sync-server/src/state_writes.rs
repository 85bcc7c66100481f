//! When a stored full state (a room's checkpoint, a history snapshot) is worth writing
//! again.
//!
//! Encoding a notebook's whole state costs time in proportion to its size. Writing one
//! every fixed number of updates makes a large, busy notebook pay that cost over and over:
//! quadratic in its size. So a large state is only written again once the updates since
//! the last one add up to a given share of its size, which bounds the encoding cost per
//! update byte, and bounds what a load or a time travel has to replay on top of it.

/// A state at least this big is large; smaller ones follow their plain update count.
pub const LARGE_STATE: usize = 64 * 1024;

/// How much of a large state's size in new updates calls for writing it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// A quarter: for the history indexer, which encodes beside the editing, and whose
    /// snapshots every time travel replays from.
    Quarter,
    /// All of it: for a room, whose checkpoints of a large document are rebuilt by
    /// replaying the last one and the log since, so each costs a few times the document's
    /// size in work; a load then replays at most as much log as the checkpoint holds.
    /// Quiet rooms checkpoint whatever their size.
    Whole,
}

/// Whether `tail_bytes` of updates since the last written state of `state_bytes` bytes
/// justify writing a new one (given that the update count already asks for it).
pub fn worth_rewriting(tail_bytes: usize, state_bytes: usize, share: Share) -> bool {
    let parts = match share {
        Share::Quarter => 4,
        Share::Whole => 1,
    };
    state_bytes < LARGE_STATE || tail_bytes * parts >= state_bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_states_always_large_ones_after_their_share() {
        assert!(worth_rewriting(0, LARGE_STATE - 1, Share::Quarter));
        assert!(worth_rewriting(0, LARGE_STATE - 1, Share::Whole));
        let large = 2 << 20;
        assert!(!worth_rewriting(30_000, large, Share::Quarter), "1000 small updates to a 2 MiB state");
        assert!(!worth_rewriting(large / 4 - 1, large, Share::Quarter));
        assert!(worth_rewriting(large / 4, large, Share::Quarter));
        assert!(!worth_rewriting(large / 4, large, Share::Whole));
        assert!(!worth_rewriting(large - 1, large, Share::Whole));
        assert!(worth_rewriting(large, large, Share::Whole));
    }
}
