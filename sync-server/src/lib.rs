//! Talkbook's server: the `talkbook` command line and, as it grows, the HTTP + WebSocket
//! sync service (see the README and SPEC §3).
//!
//! - [`cli`] parses the command line and dispatches subcommands.
//! - [`convert`] moves notebooks between `.ipynb` and Yjs update files.

pub mod cli;
pub mod convert;
