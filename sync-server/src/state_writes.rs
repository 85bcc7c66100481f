//! When a stored full state (a room's checkpoint, a history snapshot) is worth writing
//! again.
//!
//! Encoding a notebook's whole state costs time in proportion to its size. Writing one
//! every fixed number of updates makes a large, busy notebook pay that cost over and over:
//! quadratic in its size. So a large state is only written again once the updates since
//! the last one add up to a fair share of its size, which bounds the encoding cost per
//! update byte, and bounds what a load or a time travel has to replay on top of it.

/// A state at least this big is large; smaller ones follow their plain update count.
pub const LARGE_STATE: usize = 64 * 1024;

/// A large state is written again once the updates since the last one reach 1/this of it.
pub const TAIL_SHARE: usize = 4;

/// Whether `tail_bytes` of updates since the last written state of `state_bytes` bytes
/// justify writing a new one (given that the update count already asks for it).
pub fn worth_rewriting(tail_bytes: usize, state_bytes: usize) -> bool {
    state_bytes < LARGE_STATE || tail_bytes * TAIL_SHARE >= state_bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_states_always_large_ones_after_a_quarter_of_their_size() {
        assert!(worth_rewriting(0, LARGE_STATE - 1));
        let large = 2 << 20;
        assert!(!worth_rewriting(30_000, large), "1000 small updates to a 2 MiB state");
        assert!(!worth_rewriting(large / 4 - 1, large));
        assert!(worth_rewriting(large / 4, large));
    }
}
