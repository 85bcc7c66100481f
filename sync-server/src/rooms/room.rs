//! One notebook room: a task that owns the live document, its awareness and the
//! connections editing it.
//!
//! Every message of the room goes through this one task, in order. Client updates are
//! applied, then committed to the database (group commit), and only then broadcast: an
//! edit anyone else sees is already durable. State is never read for a client (sync step 2,
//! snapshots) while applied updates are still uncommitted, so nothing unsaved leaks out.
//!
//! Commits are pipelined: while one batch is being written the room goes on applying the
//! next messages, and those become the next batch as soon as the first one has landed. So
//! a busy room is limited by whichever is slower, its own work or the database, not by
//! the two one after the other.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use doc_model::guard::Structure;
use doc_model::{NotebookDoc, UserId};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use yrs::block::ClientID;
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, Transact};

use self::checkpoints::{CheckpointWrite, checkpoint_written};
use self::checks::{load_rules, record_trusted, unbound_client_id};
use self::commits::{InFlight, landing};
use self::presence::Presence;
use super::committer::Committer;
use super::peer::{Outbox, Peer, close};
use crate::access::Access;
use crate::metrics::METRICS;
use crate::store::{DynStore, NewUpdate, NotebookBlock, NotebookId, NotebookMode, Seq, StoreResult, User};

mod checkpoints;
mod checks;
mod commits;
mod presence;

/// Messages processed in one turn before pending updates are committed.
const MAX_TURN: usize = 256;

/// A room's inbox, both ends. Messages travel boxed: tokio allocates an inbox's first block
/// of 32 slots when it is created, and with 8-byte slots an idle room keeps 256 bytes for
/// it instead of 2 KB.
pub(super) type InboxSender = mpsc::Sender<Box<RoomMsg>>;
pub(super) type Inbox = mpsc::Receiver<Box<RoomMsg>>;

/// What a room is told.
#[derive(Debug)]
pub enum RoomMsg {
    Join {
        peer: Peer,
        outbox: Outbox,
        reply: oneshot::Sender<Result<(), JoinError>>,
    },
    Leave {
        conn_id: u64,
    },
    /// The y-protocol messages of one frame from a connection, and when it arrived.
    Messages {
        conn_id: u64,
        messages: Vec<Message>,
        received: std::time::Instant,
    },
    /// The full document state, once everything applied so far is committed.
    Snapshot {
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// The notebook was deleted: close everyone with 4404 and stop.
    Deleted,
    /// The notebook's mode or block changed (already stored).
    SetPolicy(NotebookPolicy),
    /// Members, roles or visibility changed: re-decide every connection's access.
    Reauthorize(Authorizer),
    /// An edit the server makes on its own behalf (kernel outputs, execution states),
    /// committed and broadcast like any update.
    Edit {
        what: &'static str,
        /// The user the edit is made for (the runner of a cell), recorded in the log.
        actor: Option<UserId>,
        edit: ServerEditFn,
    },
    /// An edit the server makes in a user's name (restore, undo): made under a fresh Yjs
    /// client id bound to that user, so blame shows them as its author.
    EditAs {
        user: User,
        edit: UserEditFn,
    },
}

/// What a server edit does to the document.
type EditBody = dyn FnOnce(&mut doc_model::Editor<'_, '_>) -> Result<(), doc_model::DocError> + Send;

/// A server edit as a room runs it.
pub struct ServerEditFn(pub Box<EditBody>);

impl std::fmt::Debug for ServerEditFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerEditFn")
    }
}

/// What a user edit does: it gets a copy of the document whose client id is bound to the
/// user, edits it (through [`NotebookDoc::edit`]), and the room takes in the difference.
type UserEditBody = dyn FnOnce(&NotebookDoc) + Send;

/// A user edit as a room runs it.
pub struct UserEditFn(pub Box<UserEditBody>);

impl std::fmt::Debug for UserEditFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserEditFn")
    }
}

/// What the room checks updates against, besides each connection's access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotebookPolicy {
    pub mode: NotebookMode,
    /// Thread mode: editors may run each other's cells (shown to clients; checked by the
    /// kernel side, not by the room).
    pub others_may_run: bool,
    /// The manual block, with the holder's display name for everyone to see.
    pub block: Option<(NotebookBlock, String)>,
}

/// A decision function: a user's access (`None` user: anonymous), `None` for none at all.
pub type AccessDecision = dyn Fn(Option<&User>) -> Option<Access> + Send + Sync;

/// Decides each connected user's access after rights changed.
#[derive(Clone)]
pub struct Authorizer(pub Arc<AccessDecision>);

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authorizer")
    }
}

/// Why joining a room failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JoinError {
    #[error("the room was closing; join again")]
    Closing,
    #[error("the notebook could not be loaded: {0}")]
    Unavailable(String),
}

/// Settings a room needs.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    pub grace: Duration,
    pub checkpoint_every: u64,
    pub checkpoint_idle: Duration,
    /// Benchmarks only: accept client updates unchecked (see the `serve` flag).
    pub skip_update_checks: bool,
    /// The time stamped on every logged update.
    pub clock: crate::clock::Clock,
    /// Called after each checkpoint (the history indexes the notebook in the background).
    pub after_checkpoint: Option<CheckpointHook>,
}

/// What to do after a room wrote a checkpoint.
#[derive(Clone)]
pub struct CheckpointHook(pub Arc<dyn Fn(NotebookId) + Send + Sync>);

impl std::fmt::Debug for CheckpointHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointHook")
    }
}

/// An update applied in memory and waiting for its commit.
struct Pending {
    /// The connection that sent it (`None` for the server's own edits).
    from: Option<u64>,
    /// When it arrived (a server edit: when it was made), for the update delay metric.
    received: std::time::Instant,
    record: NewUpdate,
}

struct Connection {
    peer: Peer,
    outbox: Outbox,
    /// Awareness client ids this connection has announced (usually one).
    awareness_ids: Vec<ClientID>,
}

/// What a room task is started with, besides its notebook and inbox.
pub(super) struct RoomContext {
    pub store: DynStore,
    pub committer: Committer,
    pub config: RoomConfig,
    pub accepting: Arc<AtomicBool>,
    pub shutdown: CancellationToken,
    pub runs: Option<super::RunProbe>,
}

/// The room task's state.
pub(super) struct Room {
    id: NotebookId,
    doc: NotebookDoc,
    /// Where every item of `doc` sits; every update `doc` integrates is recorded here too.
    structure: Structure,
    /// Yjs client ids bound to users in this notebook (`None`: the server).
    bindings: HashMap<ClientID, Option<UserId>>,
    /// Display names of users the room may have to name in a refusal.
    names: HashMap<UserId, String>,
    policy: NotebookPolicy,
    awareness: Presence,
    /// Boxed: an idle room's map then holds pointers, not a slot of connection state for
    /// each of its (mostly empty) buckets.
    conns: HashMap<u64, Box<Connection>>,
    /// Applied updates not yet handed to the committer.
    pending: Vec<Pending>,
    /// At most one batch being written; `pending` follows it when it lands.
    in_flight: Option<InFlight>,
    last_seq: Seq,
    since_checkpoint: u64,
    /// Bytes of the updates since the last checkpoint, and the size of that checkpoint.
    tail_bytes: usize,
    checkpoint_bytes: usize,
    /// At most one checkpoint being written, so editing goes on meanwhile.
    checkpointing: Option<CheckpointWrite>,
    store: DynStore,
    committer: Committer,
    config: RoomConfig,
    /// Shared with connections: false while the database is unreachable, so they refuse
    /// edits themselves instead of queueing edits that cannot be kept.
    accepting: Arc<AtomicBool>,
    shutdown: CancellationToken,
    /// The notebook's row is gone (found on commit): the room closes everyone and stops.
    deleted: bool,
}

/// A notebook as loaded from storage.
#[derive(Debug)]
pub struct Loaded {
    pub doc: NotebookDoc,
    /// The newest sequence number the document contains.
    pub last_seq: Seq,
    /// How many log entries after the checkpoint had to be replayed.
    pub replayed: usize,
    /// The size of the checkpoint it started from, and of the log entries replayed.
    pub checkpoint_bytes: usize,
    pub tail_bytes: usize,
}

/// Loads a notebook: the latest checkpoint plus the log after it.
pub async fn load(store: &DynStore, id: NotebookId) -> StoreResult<Loaded> {
    load_with(store, id, None, None).await
}

/// Loads a notebook, also recording everything it integrates into `structure` if given.
async fn load_with(
    store: &DynStore,
    id: NotebookId,
    structure: Option<&mut Structure>,
    client_id: Option<u64>,
) -> StoreResult<Loaded> {
    let stored = store.load_document(id).await?;
    let doc = client_id.map_or_else(NotebookDoc::new, NotebookDoc::with_client_id);
    let checkpoint = stored.checkpoint.as_ref().map(|c| (c.seq, c.state.as_slice()));
    let tail = stored.tail.iter().map(|u| (u.seq, u.data.as_slice()));
    replay(&doc, structure, id, checkpoint.into_iter().chain(tail));
    Ok(Loaded {
        doc,
        last_seq: stored.last_seq(),
        replayed: stored.tail.len(),
        checkpoint_bytes: stored.checkpoint.as_ref().map_or(0, |c| c.state.len()),
        tail_bytes: stored.tail.iter().map(|u| u.data.len()).sum(),
    })
}

/// Applies stored states and updates to `doc` in order (and records them in `structure`).
/// One that does not apply is logged and skipped, so one bad row does not make a notebook
/// unreadable.
fn replay<'a>(
    doc: &NotebookDoc,
    mut structure: Option<&mut Structure>,
    id: NotebookId,
    stored: impl Iterator<Item = (Seq, &'a [u8])>,
) {
    for (seq, data) in stored {
        if let Some(structure) = structure.as_deref_mut() {
            record_trusted(structure, id, data);
        }
        if let Err(e) = doc.apply_update(data) {
            tracing::error!(notebook = %id, seq, error = %e, "stored update does not apply");
        }
    }
}

impl Room {
    /// Runs a room until it is evicted, deleted or the server shuts down. `on_exit` runs
    /// once the room has left the registry's map, before pending joins are turned away.
    pub(super) async fn run(id: NotebookId, mut inbox: Inbox, ctx: RoomContext, on_exit: impl FnOnce()) {
        // Opening is boxed and the room lives in a box of its own: the task's future then
        // holds only what serving needs, not the loading's leftovers, for the room's life.
        let mut room = match Box::pin(Self::open(id, ctx)).await {
            Ok(room) => room,
            Err(e) => {
                tracing::warn!(notebook = %id, error = %e, "cannot load notebook");
                on_exit();
                refuse_all(&mut inbox, JoinError::Unavailable(e.to_string()));
                return;
            }
        };
        METRICS.rooms.fetch_add(1, Ordering::Relaxed);
        room.serve(&mut inbox).await;
        METRICS.rooms.fetch_sub(1, Ordering::Relaxed);
        on_exit();
        refuse_all(&mut inbox, JoinError::Closing);
    }

    /// Loads the notebook and its rules into a new room, checkpoints a long tail, shows
    /// the notebook's mode in the document and commits what that changed.
    async fn open(id: NotebookId, ctx: RoomContext) -> StoreResult<Box<Room>> {
        let RoomContext { store, committer, config, accepting, shutdown, runs } = ctx;
        let mut structure = Structure::new();
        let rules = load_rules(&store, id).await?;
        let own_id = unbound_client_id(&rules.1);
        let Loaded { doc, last_seq, replayed, checkpoint_bytes, tail_bytes } =
            load_with(&store, id, Some(&mut structure), Some(own_id)).await?;
        let (policy, bindings, names) = rules;
        let mut room = Box::new(Room {
            id,
            doc,
            structure,
            bindings,
            names,
            policy,
            awareness: Presence::default(),
            conns: HashMap::new(),
            pending: Vec::new(),
            in_flight: None,
            last_seq,
            since_checkpoint: 0,
            tail_bytes,
            checkpoint_bytes,
            checkpointing: None,
            store,
            committer,
            config,
            accepting,
            shutdown,
            deleted: false,
        });
        // A long tail means the last checkpoint is far behind: write one now, so the next
        // load is fast again.
        if replayed as u64 >= room.config.checkpoint_every {
            room.since_checkpoint = replayed as u64;
            room.start_checkpoint_encoded();
        }
        // The document shows the notebook's mode and block as the database has them.
        room.write_policy();
        if let Some(runs) = runs {
            room.settle_stale_runs(&runs(id));
        }
        room.flush().await;
        Ok(room)
    }

    /// The handlers' futures are boxed: they live only while a message is handled, and
    /// inline they would make every idle room's task several KB bigger.
    async fn serve(&mut self, inbox: &mut Inbox) {
        let mut evict_at = Some(Instant::now() + self.config.grace);
        let mut checkpoint_at: Option<Instant> = None;
        loop {
            if self.deleted {
                for conn in self.conns.values() {
                    conn.outbox.closer.close(close::NOTEBOOK_DELETED, "notebook deleted");
                }
                return;
            }
            let before = self.last_seq;
            tokio::select! {
                outcome = landing(&mut self.in_flight) => Box::pin(self.landed(outcome)).await,
                written = checkpoint_written(&mut self.checkpointing) => self.took_checkpoint(written),
                msg = inbox.recv() => {
                    let Some(first) = msg else { break };
                    let mut turn = vec![*first];
                    while turn.len() < MAX_TURN {
                        match inbox.try_recv() {
                            Ok(m) => turn.push(*m),
                            Err(_) => break,
                        }
                    }
                    Box::pin(self.handle_turn(turn)).await;
                    evict_at = self.conns.is_empty().then(|| Instant::now() + self.config.grace);
                }
                _ = sleep_until(evict_at.unwrap_or_else(Instant::now)), if evict_at.is_some() => {
                    Box::pin(self.flush()).await;
                    if !self.deleted {
                        Box::pin(self.checkpoint()).await;
                        tracing::debug!(notebook = %self.id, "room evicted");
                        return;
                    }
                }
                _ = sleep_until(checkpoint_at.unwrap_or_else(Instant::now)), if checkpoint_at.is_some() => {
                    checkpoint_at = None;
                    Box::pin(self.flush()).await;
                    self.start_checkpoint();
                }
                _ = self.shutdown.cancelled() => {
                    Box::pin(self.flush()).await;
                    Box::pin(self.checkpoint()).await;
                    for conn in self.conns.values() {
                        conn.outbox.closer.close(close::GOING_AWAY, "server shutting down");
                    }
                    return;
                }
            }
            if self.last_seq != before {
                checkpoint_at = Some(Instant::now() + self.config.checkpoint_idle);
            }
        }
    }

    /// Handles one turn of messages and hands what they changed to the committer. Sets
    /// `deleted` when the room must stop.
    async fn handle_turn(&mut self, turn: Vec<RoomMsg>) {
        for msg in turn {
            match msg {
                RoomMsg::Join { peer, outbox, reply } => {
                    self.flush().await;
                    self.join(peer, outbox);
                    let _ = reply.send(Ok(()));
                }
                RoomMsg::Leave { conn_id } => self.leave(conn_id),
                RoomMsg::Messages { conn_id, messages, received } => {
                    for message in messages {
                        self.handle_message(conn_id, message, received).await;
                    }
                }
                RoomMsg::Snapshot { reply } => {
                    self.flush().await;
                    let _ = reply.send(self.doc.encode_state());
                }
                RoomMsg::SetPolicy(policy) => {
                    if let Some((block, name)) = &policy.block {
                        self.names.insert(block.holder, name.clone());
                    }
                    self.policy = policy;
                    self.write_policy();
                }
                RoomMsg::Reauthorize(decide) => self.reauthorize(&decide),
                RoomMsg::Edit { what, actor, edit } => self.server_edit(what, actor, edit.0),
                RoomMsg::EditAs { user, edit } => self.edit_as(&user, edit.0),
                RoomMsg::Deleted => self.deleted = true,
            }
            if self.deleted {
                return;
            }
        }
        self.start_commit().await;
    }

    fn join(&mut self, peer: Peer, outbox: Outbox) {
        // Like y-websocket's server: start with our state vector (the client answers with
        // what we lack) and everyone's awareness.
        let sv = self.doc.doc().transact().state_vector();
        outbox.send(encode(&Message::Sync(SyncMessage::SyncStep1(sv))));
        let present = self.awareness.current();
        if !present.clients.is_empty() {
            outbox.send(encode(&Message::Awareness(present)));
        }
        if let Some(user) = &peer.user {
            self.names.insert(user.id, user.name.clone());
        }
        self.conns.insert(peer.conn_id, Box::new(Connection { peer, outbox, awareness_ids: Vec::new() }));
    }

    fn leave(&mut self, conn_id: u64) {
        let Some(conn) = self.conns.remove(&conn_id) else { return };
        if !conn.awareness_ids.is_empty() {
            let gone = self.awareness.remove(&conn.awareness_ids);
            self.broadcast(&encode(&Message::Awareness(gone)), None);
        }
    }

    async fn handle_message(&mut self, conn_id: u64, message: Message, received: std::time::Instant) {
        let Some(conn) = self.conns.get(&conn_id) else { return };
        match message {
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                self.flush().await;
                let diff = self.doc.doc().transact().encode_state_as_update_v1(&sv);
                self.send_to(conn_id, &Message::Sync(SyncMessage::SyncStep2(diff)));
            }
            Message::Sync(SyncMessage::SyncStep2(data) | SyncMessage::Update(data)) => {
                self.accept_update(conn_id, data, received);
            }
            Message::Awareness(update) => self.relay_awareness(conn_id, update),
            Message::AwarenessQuery => {
                let present = self.awareness.current();
                self.send_to(conn_id, &Message::Awareness(present));
            }
            // Clients have nothing to say to the server with auth messages.
            Message::Auth(_) => {}
            Message::Custom(tag, _) => {
                conn.outbox.closer.close(close::MALFORMED, format!("unknown message type {tag}"));
            }
        }
    }

    /// Stamps each announced state's `user` with the connection's identity, applies it and
    /// passes it on, so nobody can appear as someone else. An awareness client id belongs to
    /// the first connection that announces it; stock clients re-send states they heard from
    /// others, and those copies are dropped rather than stamped with the wrong user.
    fn relay_awareness(&mut self, conn_id: u64, mut update: AwarenessUpdate) {
        let owned_elsewhere: HashSet<ClientID> = self
            .conns
            .iter()
            .filter(|(id, _)| **id != conn_id)
            .flat_map(|(_, c)| c.awareness_ids.iter().copied())
            .collect();
        let Some(conn) = self.conns.get_mut(&conn_id) else { return };
        update.clients.retain(|client, _| !owned_elsewhere.contains(client));
        let identity = match &conn.peer.user {
            Some(user) => serde_json::json!({
                "id": user.id.0,
                "name": user.display_name,
                "login": user.name,
                "color": user.color,
            }),
            None => serde_json::json!({"id": null, "name": "Anonymous", "login": null, "color": "#9e9e9e"}),
        };
        for (client, entry) in update.clients.iter_mut() {
            if !conn.awareness_ids.contains(client) {
                conn.awareness_ids.push(*client);
            }
            if let Ok(serde_json::Value::Object(mut state)) =
                serde_json::from_str::<serde_json::Value>(&entry.json)
            {
                state.insert("user".to_owned(), identity.clone());
                entry.json = serde_json::Value::Object(state).to_string().into();
            }
        }
        if update.clients.is_empty() {
            return;
        }
        self.awareness.apply(&update);
        // Echoed to the sender too, as y-websocket's own server does: a stock client that
        // hears nothing for 30 s reconnects, and awareness renewals are its heartbeat.
        self.broadcast(&encode(&Message::Awareness(update)), None);
    }

    fn send_to(&self, conn_id: u64, message: &Message) {
        if let Some(conn) = self.conns.get(&conn_id) {
            conn.outbox.send(encode(message));
        }
    }

    fn broadcast(&self, frame: &Bytes, except: Option<u64>) {
        for (id, conn) in &self.conns {
            if Some(*id) != except {
                conn.outbox.send(frame.clone());
            }
        }
    }
}

fn encode(message: &Message) -> Bytes {
    Bytes::from(message.encode_v1())
}

/// Turns away joins still queued for a room that is gone; their callers retry with a new
/// room.
fn refuse_all(inbox: &mut Inbox, error: JoinError) {
    inbox.close();
    while let Ok(msg) = inbox.try_recv() {
        match *msg {
            RoomMsg::Join { reply, outbox, .. } => {
                // The joiner normally retries; if it is gone, close its connection here.
                let refused = reply.send(Err(error.clone()));
                if refused.is_err() {
                    outbox.closer.close(close::INTERNAL, error.to_string());
                }
            }
            RoomMsg::Snapshot { reply } => drop(reply),
            _ => {}
        }
    }
}
