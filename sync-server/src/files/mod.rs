//! Project files (SPEC §2, §9), apart from storage and HTTP: the rules for paths
//! ([`path`]), the media type and disposition of a download ([`media`]), and folders as
//! zip archives written while they are sent ([`archive`]).
//!
//! The files themselves live in the database ([`crate::store`]), so every server node
//! sees the same tree and nothing a request names ever touches the server's disk.

pub mod archive;
pub mod media;
pub mod path;

pub use path::{FilePath, PathError};
