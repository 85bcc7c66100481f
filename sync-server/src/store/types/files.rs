//! Project files: entries, content, blocks and the errors of the file tree.

use sha2::{Digest, Sha256};

use super::*;

/// Id of one entry of a project's file tree; it stays with the entry when it is moved.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct FileId(pub i64);

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Whether an entry of a project's file tree holds bytes or other entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Folder,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Folder => "folder",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(FileKind::File),
            "folder" => Some(FileKind::Folder),
            _ => None,
        }
    }
}

/// Why something is blocked (SPEC §2, §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BlockReason {
    /// Blocked by hand; the holder or the project's owner lifts it.
    Manual,
    /// Held by the holder's open console; lifted when the console closes, never by hand.
    Console,
}

impl BlockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::Manual => "manual",
            BlockReason::Console => "console",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(BlockReason::Manual),
            "console" => Some(BlockReason::Console),
            _ => None,
        }
    }
}

/// A block on a file: only the holder may change, move or delete it until it is lifted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileBlock {
    pub holder: UserId,
    pub since: Timestamp,
    pub reason: BlockReason,
}

/// One entry of a project's file tree, without its bytes. Times round-trip to the
/// millisecond (SQLite keeps no more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub id: FileId,
    pub project_id: ProjectId,
    pub path: FilePath,
    pub kind: FileKind,
    /// Bytes of a file; 0 for a folder.
    pub size: u64,
    /// SHA-256 of a file's bytes; `None` for a folder.
    pub sha256: Option<[u8; 32]>,
    pub created_at: Timestamp,
    /// The last change of a file's bytes (a folder's creation); moving keeps it.
    pub updated_at: Timestamp,
    /// Who made that change.
    pub updated_by: UserId,
    /// Files only: who blocks it, since when and why.
    pub block: Option<FileBlock>,
}

/// The bytes of a file with their SHA-256, which always match: both are set together,
/// by [`FileContent::new`] or by [`ContentBuilder`] as the bytes arrive.
#[derive(Clone, PartialEq, Eq)]
pub struct FileContent {
    bytes: Vec<u8>,
    sha256: [u8; 32],
}

impl FileContent {
    pub fn new(bytes: Vec<u8>) -> Self {
        let sha256 = Sha256::digest(&bytes).into();
        FileContent { bytes, sha256 }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Not the bytes, which may be megabytes: their length and hash.
impl std::fmt::Debug for FileContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileContent")
            .field("len", &self.bytes.len())
            .field("sha256", &hex(&self.sha256))
            .finish()
    }
}

/// Collects a file's bytes as they arrive (an upload), hashing each chunk on the way.
#[derive(Default)]
pub struct ContentBuilder {
    bytes: Vec<u8>,
    hasher: Sha256,
}

impl ContentBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.bytes.extend_from_slice(chunk);
    }

    pub fn finish(self) -> FileContent {
        FileContent { bytes: self.bytes, sha256: self.hasher.finalize().into() }
    }
}

impl std::fmt::Debug for ContentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentBuilder").field("len", &self.bytes.len()).finish()
    }
}

/// Lower-case hexadecimal, as SHA-256 sums are shown.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a write did: made a new file or replaced the bytes of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWritten {
    pub entry: FileEntry,
    pub created: bool,
}

/// A change the file tree cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileTreeError {
    /// A file was needed (to write, read or block it).
    #[error("`{0}` is a folder, not a file")]
    IsAFolder(FilePath),
    /// A folder was needed: to list or zip it, or to hold a new entry.
    #[error("`{0}` is a file, not a folder")]
    NotAFolder(FilePath),
    /// A folder moved or copied into itself.
    #[error("`{from}` cannot be moved or copied into itself (`{to}`)")]
    IntoItself { from: FilePath, to: FilePath },
}

impl FileTreeError {
    /// The API's error code for it.
    pub fn code(&self) -> &'static str {
        match self {
            FileTreeError::IsAFolder(_) => "is_a_folder",
            FileTreeError::NotAFolder(_) => "not_a_folder",
            FileTreeError::IntoItself { .. } => "into_itself",
        }
    }
}
