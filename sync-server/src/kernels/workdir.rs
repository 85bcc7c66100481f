//! A kernel's working directory (SPEC §9): a copy of the project's files on disk, so code
//! reads them with plain file IO, and the way back for what the code writes.
//!
//! Each kernel has its own directory (`<work root>/<project>/<kernel id>`), so it is clear
//! whose kernel wrote a file. Before each run the directory is brought up to date with the
//! project (new and changed files written, files deleted in the project removed); after
//! each run, files the kernel created or changed are stored back into the project on
//! behalf of the kernel's user. A file someone else blocks is not overwritten: the run is
//! told which and why. Hidden files and folders (`.ipynb_checkpoints`, `.cache`…) and
//! `__pycache__` stay local.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::Utc;
use tokio::sync::Mutex;

use crate::files::path::FilePath;
use crate::store::{BlockReason, DynStore, FileContent, FileKind, ProjectId, StoreError, UserId};

/// What the directory is known to hold of a file: the project's version it matches and
/// what the disk showed then, to notice changes without hashing every file every time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    sha256: [u8; 32],
    len: u64,
    modified: Option<SystemTime>,
}

/// What storing a directory's changes did.
#[derive(Debug, Default)]
pub struct Collected {
    /// The project paths written.
    pub paths: Vec<FilePath>,
    /// A line for each file that could not be stored, saying why.
    pub notes: Vec<String>,
}

/// One kernel's working directory.
#[derive(Debug)]
pub struct WorkDir {
    root: PathBuf,
    project: ProjectId,
    known: Mutex<HashMap<String, Known>>,
}

impl WorkDir {
    pub fn new(root: PathBuf, project: ProjectId) -> WorkDir {
        WorkDir { root, project, known: Mutex::new(HashMap::new()) }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Brings the directory up to date with the project: writes files that are new or
    /// changed there, removes files deleted there. Local changes not yet stored are kept
    /// unless the project changed the same file.
    pub async fn refresh(&self, store: &DynStore) -> Result<(), StoreError> {
        let entries = store.list_files(self.project, None, true).await?;
        let mut known = self.known.lock().await;
        let mut present = std::collections::HashSet::new();
        for entry in entries.iter().filter(|e| e.kind == FileKind::File) {
            let key = entry.path.as_str().to_owned();
            present.insert(key.clone());
            let Some(sha) = entry.sha256 else { continue };
            if known.get(&key).is_some_and(|k| k.sha256 == sha) {
                continue;
            }
            let Some((_, bytes)) = store.file_content(self.project, &entry.path).await? else { continue };
            let local = self.root.join(&key);
            if let Err(e) = write_local(&local, &bytes).await {
                tracing::warn!(path = %local.display(), error = %e, "cannot copy a project file into a working directory");
                continue;
            }
            known.insert(
                key,
                Known { sha256: sha, len: bytes.len() as u64, modified: modified(&local).await },
            );
        }
        let gone: Vec<String> = known.keys().filter(|k| !present.contains(*k)).cloned().collect();
        for key in gone {
            known.remove(&key);
            let _ = tokio::fs::remove_file(self.root.join(&key)).await;
        }
        Ok(())
    }

    /// Stores the files the kernel created or changed into the project as `actor`.
    pub async fn collect(&self, store: &DynStore, actor: UserId, max_bytes: u64) -> Collected {
        let mut notes = Vec::new();
        let mut paths = Vec::new();
        let mut known = self.known.lock().await;
        for local in walk(&self.root).await {
            let Ok(relative) = local.strip_prefix(&self.root) else { continue };
            let key = relative.to_string_lossy().replace('\\', "/");
            let Ok(meta) = tokio::fs::metadata(&local).await else { continue };
            let stamp = meta.modified().ok();
            if known.get(&key).is_some_and(|k| k.len == meta.len() && k.modified == stamp) {
                continue;
            }
            let path = match FilePath::parse(&key) {
                Ok(path) => path,
                Err(e) => {
                    notes.push(format!("{key} was not stored: {e}"));
                    continue;
                }
            };
            if meta.len() > max_bytes {
                notes.push(format!(
                    "{key} was not stored: it has {} bytes, more than the limit of {max_bytes}",
                    meta.len()
                ));
                continue;
            }
            let Ok(bytes) = tokio::fs::read(&local).await else { continue };
            let content = FileContent::new(bytes);
            if known.get(&key).is_some_and(|k| k.sha256 == content.sha256()) {
                // Touched but unchanged.
                known.insert(key, Known { sha256: content.sha256(), len: meta.len(), modified: stamp });
                continue;
            }
            match store.write_file(self.project, &path, &content, actor, Utc::now()).await {
                Ok(_) => {
                    known.insert(key, Known { sha256: content.sha256(), len: meta.len(), modified: stamp });
                    paths.push(path);
                }
                Err(StoreError::FileBlocked { block, .. }) => {
                    let holder = match store.user_by_id(block.holder).await {
                        Ok(Some(user)) => user.display_name,
                        _ => format!("user {}", block.holder),
                    };
                    let how = match block.reason {
                        BlockReason::Console => "with a console",
                        BlockReason::Manual => "by hand",
                    };
                    notes.push(format!(
                        "{key} was not stored: {holder} blocks it ({how}) since {}; your copy stays in this kernel's directory",
                        block.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    ));
                }
                Err(e) => notes.push(format!("{key} was not stored: {e}")),
            }
        }
        Collected { paths, notes }
    }

    /// Removes the directory (the kernel is gone).
    pub async fn remove(&self) {
        let _ = tokio::fs::remove_dir_all(&self.root).await;
    }
}

async fn write_local(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::write(path, bytes).await
}

async fn modified(path: &Path) -> Option<SystemTime> {
    tokio::fs::metadata(path).await.ok()?.modified().ok()
}

/// Every regular file under `root`, skipping hidden entries, `__pycache__` and symlinks
/// (a link could point anywhere on the machine).
async fn walk(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(mut entries) = tokio::fs::read_dir(&folder).await else { continue };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "__pycache__" {
                continue;
            }
            let Ok(kind) = entry.file_type().await else { continue };
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}
