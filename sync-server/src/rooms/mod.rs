//! Rooms: one live document per open notebook, shared by everyone editing it.
//!
//! [`Rooms`] is the registry. A room is created through the map's `entry` API, so two
//! concurrent joins of the same notebook always meet in one room and a document is never
//! loaded twice. A room leaves the map itself when it is evicted (after its last client
//! left and a grace period), deleted, or the server shuts down; a join that raced with that
//! is turned away and simply joins the next room.

mod committer;
pub mod peer;
mod room;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use committer::{CommitError, Committer};
pub use peer::{Closer, Frames, Outbox, Peer, close};
pub use room::{
    Authorizer, CheckpointHook, JoinError, Loaded, NotebookPolicy, RoomConfig, RoomMsg, ServerEditFn,
    UserEditFn, load,
};

/// Why a server edit did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the notebook could not be opened (deleted, or the database is unavailable)")]
    Unavailable,
    #[error("the server is shutting down")]
    ShuttingDown,
}

use self::room::InboxSender;
use crate::store::{DynStore, NotebookId, StoreResult};

/// Capacity of a room's inbox. A full inbox makes connections wait (TCP backpressure)
/// rather than drop anything.
const INBOX: usize = 1024;

/// How often a join retries when it meets a room that is closing.
const JOIN_ATTEMPTS: usize = 5;

/// A live room as the registry and connections see it.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    tx: InboxSender,
    /// False while the database is unavailable: edits are refused at the connection.
    accepting: Arc<AtomicBool>,
    generation: u64,
}

impl RoomHandle {
    /// Sends a message to the room; `false` if the room has stopped. Waits while the
    /// room's inbox is full; that wait is boxed, since every connection's loop would
    /// otherwise carry its state while idle.
    pub fn send(&self, msg: RoomMsg) -> impl Future<Output = bool> + '_ {
        // Tried before the future exists, so the future holds only the outcome, not the
        // message.
        let tried = self.tx.try_send(Box::new(msg));
        async move {
            match tried {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
                Err(mpsc::error::TrySendError::Full(msg)) => Box::pin(self.tx.send(msg)).await.is_ok(),
            }
        }
    }

    /// Whether the room currently accepts edits.
    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }
}

/// The registry of live rooms.
/// Answers which cells of a notebook have runs queued or running (the kernel side).
pub type RunProbe = Arc<dyn Fn(NotebookId) -> HashSet<String> + Send + Sync>;

#[derive(Debug)]
pub struct Rooms {
    map: Arc<DashMap<NotebookId, RoomHandle>>,
    /// Set once the kernel side exists; a room that loads shows cells without a live run
    /// as idle (a crash can leave them `busy` in the stored document).
    runs: OnceLock<ProbeHolder>,
    store: DynStore,
    committer: Committer,
    config: RoomConfig,
    next_generation: AtomicU64,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Rooms {
    pub fn new(store: DynStore, config: RoomConfig) -> Self {
        Self {
            map: Arc::new(DashMap::new()),
            committer: Committer::spawn(store.clone()),
            store,
            config,
            runs: OnceLock::new(),
            next_generation: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    /// Tells rooms how to find the cells with live runs (see [`RunProbe`]).
    pub fn set_run_probe(&self, probe: RunProbe) {
        let _ = self.runs.set(ProbeHolder(probe));
    }

    /// Joins the room of a notebook, creating (and loading) it if needed.
    pub async fn join(&self, id: NotebookId, peer: Peer, outbox: Outbox) -> Result<RoomHandle, JoinError> {
        let mut last_error = JoinError::Closing;
        for _ in 0..JOIN_ATTEMPTS {
            if self.shutdown.is_cancelled() {
                return Err(JoinError::Unavailable("server shutting down".into()));
            }
            let handle = self.room(id);
            let (reply, rx) = oneshot::channel();
            let join = RoomMsg::Join { peer: peer.clone(), outbox: outbox.clone(), reply };
            if !handle.send(join).await {
                self.forget(id, handle.generation);
                continue;
            }
            match rx.await {
                Ok(Ok(())) => return Ok(handle),
                Ok(Err(JoinError::Closing)) | Err(_) => continue,
                Ok(Err(e)) => last_error = e,
            }
            if let JoinError::Unavailable(_) = last_error {
                return Err(last_error);
            }
        }
        Err(last_error)
    }

    /// The full state of a notebook: from its room if it is open (after committing what the
    /// room holds), else straight from storage.
    pub async fn document_state(&self, id: NotebookId) -> StoreResult<Vec<u8>> {
        if let Some(handle) = self.map.get(&id).map(|h| h.clone()) {
            let (reply, rx) = oneshot::channel();
            if handle.send(RoomMsg::Snapshot { reply }).await
                && let Ok(state) = rx.await
            {
                return Ok(state);
            }
        }
        Ok(load(&self.store, id).await?.doc.encode_state())
    }

    /// Tells the room of a deleted notebook to close its connections (4404).
    pub async fn notebook_deleted(&self, id: NotebookId) {
        if let Some(handle) = self.map.get(&id).map(|h| h.clone()) {
            handle.send(RoomMsg::Deleted).await;
        }
    }

    /// Tells a notebook's room its new mode and block, loading the room if it is not open,
    /// so the document's `talkbook` map (what clients read) changes at once and the room
    /// checks updates against it. Call after the change is stored.
    pub async fn set_policy(&self, id: NotebookId, policy: NotebookPolicy) {
        for _ in 0..JOIN_ATTEMPTS {
            let handle = self.room(id);
            if handle.send(RoomMsg::SetPolicy(policy.clone())).await {
                return;
            }
            self.forget(id, handle.generation);
        }
    }

    /// Re-decides the access of every connection to an open notebook room after members,
    /// roles or visibility changed: `decide` answers each connection's user (`None` for
    /// anonymous) with their new access, `None` meaning none at all (closed with 4403). A
    /// connection that lost edit rights is told and becomes read-only.
    pub async fn reauthorize(&self, id: NotebookId, decide: Authorizer) {
        if let Some(handle) = self.map.get(&id).map(|h| h.clone()) {
            handle.send(RoomMsg::Reauthorize(decide)).await;
        }
    }

    /// Runs `f` on the notebook's document as an edit of the server's own (kernel outputs,
    /// execution states), loading the room if it is not open, and returns what `f`
    /// returned. The edit is committed before anyone sees it, like every update. `f` may
    /// run again if the room it was sent to closed before running it, so it must not
    /// depend on having run before.
    pub async fn edit<T, F>(&self, id: NotebookId, what: &'static str, f: F) -> Result<T, EditError>
    where
        T: Send + 'static,
        F: Fn(&mut doc_model::Editor<'_, '_>) -> T + Send + Sync + 'static,
    {
        self.edit_for(id, what, None, f).await
    }

    /// [`Rooms::edit`] for an edit made on behalf of `actor` (a run's outputs: the user who
    /// ran the cell), which the log records so the history can say whose run it was.
    pub async fn edit_for<T, F>(
        &self,
        id: NotebookId,
        what: &'static str,
        actor: Option<doc_model::UserId>,
        f: F,
    ) -> Result<T, EditError>
    where
        T: Send + 'static,
        F: Fn(&mut doc_model::Editor<'_, '_>) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        for _ in 0..JOIN_ATTEMPTS {
            if self.shutdown.is_cancelled() {
                return Err(EditError::ShuttingDown);
            }
            let handle = self.room(id);
            let (reply, answer) = oneshot::channel();
            let run = f.clone();
            let edit = ServerEditFn(Box::new(move |editor| {
                let _ = reply.send(run(editor));
                Ok(())
            }));
            if !handle.send(RoomMsg::Edit { what, actor, edit }).await {
                self.forget(id, handle.generation);
                continue;
            }
            // A room that closed (evicted, or the notebook cannot be loaded) drops the
            // message unrun: try the next room.
            if let Ok(value) = answer.await {
                return Ok(value);
            }
        }
        Err(EditError::Unavailable)
    }

    /// Runs `f` as an edit in `user`'s name (restore, undo), loading the room if it is not
    /// open: `f` edits a copy of the current document under a fresh Yjs client id bound to
    /// `user`, and the room commits and broadcasts the difference as the user's update.
    /// Returns what `f` returned; `f` may run again, as for [`Rooms::edit`].
    pub async fn edit_as<T, F>(&self, id: NotebookId, user: &crate::store::User, f: F) -> Result<T, EditError>
    where
        T: Send + 'static,
        F: Fn(&doc_model::NotebookDoc) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        for _ in 0..JOIN_ATTEMPTS {
            if self.shutdown.is_cancelled() {
                return Err(EditError::ShuttingDown);
            }
            let handle = self.room(id);
            let (reply, answer) = oneshot::channel();
            let run = f.clone();
            let edit = UserEditFn(Box::new(move |doc| {
                let _ = reply.send(run(doc));
            }));
            if !handle.send(RoomMsg::EditAs { user: user.clone(), edit }).await {
                self.forget(id, handle.generation);
                continue;
            }
            if let Ok(value) = answer.await {
                return Ok(value);
            }
        }
        Err(EditError::Unavailable)
    }

    /// Number of rooms in memory.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Stops every room after it has committed what it holds and written a checkpoint,
    /// closing connections with 1001. Returns when all rooms have finished.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// The live room of a notebook, started if there is none.
    fn room(&self, id: NotebookId) -> RoomHandle {
        self.map
            .entry(id)
            .or_insert_with(|| {
                let (tx, inbox) = mpsc::channel(INBOX);
                let accepting = Arc::new(AtomicBool::new(true));
                let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
                let map = self.map.clone();
                let on_exit = move || {
                    map.remove_if(&id, |_, h| h.generation == generation);
                };
                let ctx = room::RoomContext {
                    store: self.store.clone(),
                    committer: self.committer.clone(),
                    config: self.config.clone(),
                    accepting: accepting.clone(),
                    shutdown: self.shutdown.clone(),
                    runs: self.runs.get().map(|p| p.0.clone()),
                };
                self.tracker.spawn(room::Room::run(id, inbox, ctx, on_exit));
                RoomHandle { tx, accepting, generation }
            })
            .clone()
    }

    fn forget(&self, id: NotebookId, generation: u64) {
        self.map.remove_if(&id, |_, h| h.generation == generation);
    }
}

/// A [`RunProbe`] that the registry can print.
struct ProbeHolder(RunProbe);

impl std::fmt::Debug for ProbeHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunProbe")
    }
}
