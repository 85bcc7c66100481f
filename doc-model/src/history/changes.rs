//! What each logged update did, in readable terms.
//!
//! [`Replayer`] keeps a [`NotebookDoc`] and applies the log to it one update at a time. yrs
//! observers on the `cells`, `meta` and `talkbook` roots report what each update changed
//! (the `track` module), so a replay never re-reads the whole notebook per update: the server
//! replays 100,000 updates with it.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};
use yrs::{ReadTxn, Transact};

use super::track::Tracker;
use crate::doc::NotebookDoc;
use crate::error::DocError;

/// The kinds of readable change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    CellCreated,
    CellDeleted,
    CellMoved,
    SourceEdited,
    OutputsChanged,
    MetadataChanged,
    CellTypeChanged,
    AttachmentsChanged,
    NotebookMetadataChanged,
    ModeChanged,
    Blocked,
    Unblocked,
    OthersMayRunChanged,
}

impl ChangeKind {
    const ALL: [ChangeKind; 13] = [
        ChangeKind::CellCreated,
        ChangeKind::CellDeleted,
        ChangeKind::CellMoved,
        ChangeKind::SourceEdited,
        ChangeKind::OutputsChanged,
        ChangeKind::MetadataChanged,
        ChangeKind::CellTypeChanged,
        ChangeKind::AttachmentsChanged,
        ChangeKind::NotebookMetadataChanged,
        ChangeKind::ModeChanged,
        ChangeKind::Blocked,
        ChangeKind::Unblocked,
        ChangeKind::OthersMayRunChanged,
    ];

    /// The snake_case name, as serde writes it (and as the server stores it).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::CellCreated => "cell_created",
            ChangeKind::CellDeleted => "cell_deleted",
            ChangeKind::CellMoved => "cell_moved",
            ChangeKind::SourceEdited => "source_edited",
            ChangeKind::OutputsChanged => "outputs_changed",
            ChangeKind::MetadataChanged => "metadata_changed",
            ChangeKind::CellTypeChanged => "cell_type_changed",
            ChangeKind::AttachmentsChanged => "attachments_changed",
            ChangeKind::NotebookMetadataChanged => "notebook_metadata_changed",
            ChangeKind::ModeChanged => "mode_changed",
            ChangeKind::Blocked => "blocked",
            ChangeKind::Unblocked => "unblocked",
            ChangeKind::OthersMayRunChanged => "others_may_run_changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// One readable change made by one update.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// The cell it concerns; `None` for notebook-wide changes.
    pub cell_id: Option<String>,
    /// `SourceEdited`: UTF-16 code units inserted (Yjs's unit). Otherwise 0.
    pub added: u32,
    /// `SourceEdited`: UTF-16 code units deleted. Otherwise 0.
    pub removed: u32,
    /// Kind-specific facts (`{"index": 2}`, `{"keys": ["tags"]}` …); always a JSON object.
    pub detail: Value,
}

impl Change {
    pub(crate) fn new(kind: ChangeKind, cell_id: Option<String>) -> Self {
        Self { kind, cell_id, added: 0, removed: 0, detail: Value::Object(Map::new()) }
    }

    pub(crate) fn with_detail(mut self, detail: Value) -> Self {
        debug_assert!(detail.is_object());
        self.detail = detail;
        self
    }
}

/// Replays an update log and reports each update's changes.
pub struct Replayer {
    doc: NotebookDoc,
    /// Bookkeeping shared with the document's observers, which yrs calls while it commits
    /// the transaction of [`Replayer::apply`]; yrs requires observers to be `Send + Sync`,
    /// hence the mutex (never contended: only this replayer's thread applies updates).
    tracker: Arc<Mutex<Tracker>>,
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer").field("doc", &self.doc).finish_non_exhaustive()
    }
}

impl Default for Replayer {
    fn default() -> Self {
        Self::new()
    }
}

impl Replayer {
    /// A replayer starting from an empty document (the start of a log).
    pub fn new() -> Self {
        Self::with_doc(NotebookDoc::new())
    }

    /// A replayer starting from a checkpoint: a full state as one Yjs update (v1).
    pub fn from_state(state: &[u8]) -> Result<Self, DocError> {
        Ok(Self::with_doc(NotebookDoc::from_update(state)?))
    }

    fn with_doc(doc: NotebookDoc) -> Self {
        let tracker = Arc::new(Mutex::new(Tracker::read(&doc)));
        Tracker::observe(&doc, &tracker);
        Self { doc, tracker }
    }

    /// Applies one logged update (v1) and returns what it changed, cell changes in document
    /// order (a deleted cell where it was), then notebook-wide ones.
    pub fn apply(&mut self, update: &[u8]) -> Result<Vec<Change>, DocError> {
        // Also forgets anything observed outside `apply` (an edit through `doc()`).
        lock(&self.tracker).before_update(update, self.has_pending());
        let applied = self.doc.apply_update(update);
        let mut tracker = lock(&self.tracker);
        tracker.after_update(&self.doc, applied.is_ok(), self.has_pending());
        applied?;
        Ok(tracker.take_changes())
    }

    /// This replayer, counting every source edit with yrs's own deltas.
    #[cfg(test)]
    pub(crate) fn without_text_index(self) -> Self {
        lock(&self.tracker).disable_index();
        self
    }

    /// Whether yrs holds updates it could not integrate yet (their dependencies missing).
    fn has_pending(&self) -> bool {
        let txn = self.doc.doc().transact();
        txn.store().pending_update().is_some() || txn.store().pending_ds().is_some()
    }

    /// The document as replayed so far.
    pub fn doc(&self) -> &NotebookDoc {
        &self.doc
    }
}

/// Locks the tracker; a panic in an earlier observer leaves bookkeeping that is still usable.
pub(super) fn lock(tracker: &Mutex<Tracker>) -> MutexGuard<'_, Tracker> {
    tracker.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
