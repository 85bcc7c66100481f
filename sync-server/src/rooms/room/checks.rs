//! What enters a room's document: client updates judged by the guard (SPEC §6), the
//! server's own edits (provenance, the `talkbook` map), the notebook's rules and the
//! access of open connections. Every update the document integrates is also recorded in
//! the room's placement index here.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

use doc_model::guard::{self, Analysis, Binding, Lookup, Person, Refusal, Rules, Structure};
use doc_model::{NotebookDoc, Provenance, UserId};
use yrs::block::ClientID;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, Transact};

use super::{Authorizer, NotebookPolicy, Pending, Room, encode};
use crate::access::Access;
use crate::metrics::METRICS;
use crate::rooms::peer::close;
use crate::store::{DynStore, NewUpdate, NotebookId, NotebookMode, StoreResult, User};

/// Records an update the server trusts (stored history, its own edits) in the structure
/// index; one that cannot be placed is logged (the document still takes it).
pub(super) fn record_trusted(structure: &mut Structure, id: NotebookId, data: &[u8]) {
    match guard::scan_update(data) {
        Ok(scanned) => index_trusted(structure, id, &scanned),
        Err(e) => tracing::error!(notebook = %id, error = %e, "cannot index an update"),
    }
}

/// [`record_trusted`] for an update already scanned.
pub(super) fn index_trusted(structure: &mut Structure, id: NotebookId, scanned: &guard::ScannedUpdate) {
    if let Err(e) = structure.record_trusted(scanned) {
        tracing::error!(notebook = %id, error = %e, "cannot index an update");
    }
}

/// A fresh client id for the server's own edits, one no user has used in this notebook
/// (32 bits, as Yjs picks them).
pub(super) fn unbound_client_id(bindings: &HashMap<ClientID, Option<UserId>>) -> u64 {
    loop {
        let id = u64::from(rand::random::<u32>());
        if !bindings.contains_key(&ClientID::new(id)) {
            return id;
        }
    }
}

/// What a room needs besides the document: the notebook's rules, client-id bindings and
/// the names of bound users.
pub(super) async fn load_rules(
    store: &DynStore,
    id: NotebookId,
) -> StoreResult<(NotebookPolicy, HashMap<ClientID, Option<UserId>>, HashMap<UserId, String>)> {
    let row = store
        .notebook(id)
        .await?
        .ok_or_else(|| crate::store::StoreError::NotFound(format!("notebook {id}")))?;
    let bindings: HashMap<ClientID, Option<UserId>> = store
        .client_bindings(id)
        .await?
        .into_iter()
        .map(|b| (ClientID::new(b.client_id), b.user_id))
        .collect();
    let mut names = HashMap::new();
    let users: HashSet<UserId> =
        bindings.values().flatten().copied().chain(row.block.as_ref().map(|b| b.holder)).collect();
    for user in users {
        if let Some(found) = store.user_by_id(user).await? {
            names.insert(user, found.name);
        }
    }
    let block = row.block.map(|b| {
        let name = names.get(&b.holder).cloned().unwrap_or_else(|| format!("user {}", b.holder.0));
        (b, name)
    });
    Ok((NotebookPolicy { mode: row.mode, others_may_run: row.others_may_run, block }, bindings, names))
}

impl Room {
    /// Judges a client update (see [`doc_model::guard`]) and, if it passes, applies it and
    /// queues it for commit. A refused update never reaches the document, the log or
    /// anyone else; its sender is told why.
    pub(super) fn accept_update(&mut self, conn_id: u64, data: Vec<u8>, received: Instant) {
        let Some(conn) = self.conns.get(&conn_id) else { return };
        if self.config.skip_update_checks {
            return self.accept_unchecked(conn_id, data, received);
        }
        let scanned = match guard::scan_update(&data) {
            Ok(scanned) => scanned,
            Err(e) => {
                conn.outbox.closer.close(close::MALFORMED, format!("update does not decode: {e}"));
                return;
            }
        };
        let analysis = match self.structure.analyze(&scanned) {
            Ok(analysis) => analysis,
            Err(unresolved) => {
                // Usually a client that missed something (its earlier edit was refused
                // while the database was down): ask it for everything we lack.
                METRICS.updates_rejected.fetch_add(1, Ordering::Relaxed);
                let reason = format!("update refused: {unresolved}; send what the server lacks");
                tracing::debug!(notebook = %self.id, conn = conn_id, %reason);
                self.send_to(conn_id, &Message::Auth(Some(reason)));
                let sv = self.doc.doc().transact().state_vector();
                self.send_to(conn_id, &Message::Sync(SyncMessage::SyncStep1(sv)));
                return;
            }
        };
        if analysis.effects.is_empty() {
            return;
        }
        let sender = guard::Sender {
            user: conn.peer.user.as_ref().map(|u| u.id),
            can_edit: conn.peer.can_edit(),
            is_owner: conn.peer.access == Access::Own,
        };
        let rules = self.rules();
        if let Err(refusal) =
            guard::check(&analysis.effects, &self.structure, &sender, &rules, &RoomLookup(self))
        {
            self.refuse(conn_id, &analysis, &refusal);
            return;
        }
        let Some(user) = conn.peer.user.clone() else { return };
        if let Err(e) = self.doc.apply_update(&data) {
            if let Some(conn) = self.conns.get(&conn_id) {
                conn.outbox.closer.close(close::MALFORMED, format!("update cannot be applied: {e}"));
            }
            return;
        }
        let creates_cells = !analysis.effects.new_cells.is_empty();
        let client_ids: Vec<u64> = analysis.effects.written_clients.iter().map(|c| c.get()).collect();
        for client in &analysis.effects.written_clients {
            self.bindings.entry(*client).or_insert(Some(user.id));
        }
        self.structure.commit(analysis);
        METRICS.updates_accepted.fetch_add(1, Ordering::Relaxed);
        self.queue((Some(conn_id), received), Some(user.id), None, client_ids, data);
        if creates_cells {
            self.record_authors(&user);
        }
    }

    /// The path without checks (the server before they existed), for measuring what they
    /// cost: apply, queue, record authors of new cells.
    fn accept_unchecked(&mut self, conn_id: u64, data: Vec<u8>, received: Instant) {
        use yrs::updates::decoder::Decode;
        let Some(user) = self.conns.get(&conn_id).and_then(|c| c.peer.user.clone()) else { return };
        let Ok(update) = yrs::Update::decode_v1(&data) else { return };
        let client_ids: Vec<u64> = update.state_vector_lower().iter().map(|(c, _)| c.get()).collect();
        let Ok(cells_changed) = self.doc.apply_decoded(update) else { return };
        METRICS.updates_accepted.fetch_add(1, Ordering::Relaxed);
        self.queue((Some(conn_id), received), Some(user.id), None, client_ids, data);
        if cells_changed {
            self.record_authors(&user);
        }
    }

    /// Tells the sender why its update was refused. An editor's clocks in it are marked as
    /// used (garbage, stored and broadcast like any update), so the edits it makes next,
    /// which Yjs numbers after the refused ones, still integrate everywhere.
    fn refuse(&mut self, conn_id: u64, analysis: &Analysis, refusal: &Refusal) {
        METRICS.updates_rejected.fetch_add(1, Ordering::Relaxed);
        let reason = format!("permission denied: {refusal}");
        tracing::debug!(notebook = %self.id, conn = conn_id, %reason);
        self.send_to(conn_id, &Message::Auth(Some(reason)));
        let Some(conn) = self.conns.get(&conn_id) else { return };
        let Some(user) = conn.peer.user.clone().filter(|_| conn.peer.can_edit()) else { return };
        let own: Vec<_> = analysis
            .new_ranges()
            .iter()
            .filter(|(client, _)| match self.bindings.get(client) {
                None => true,
                Some(bound) => *bound == Some(user.id),
            })
            .cloned()
            .collect();
        if own.is_empty() {
            return;
        }
        let data = guard::gc_update(&own);
        record_trusted(&mut self.structure, self.id, &data);
        if let Err(e) = self.doc.apply_update(&data) {
            tracing::error!(notebook = %self.id, error = %e, "cannot mark refused clocks as used");
            return;
        }
        for (client, _) in &own {
            self.bindings.insert(*client, Some(user.id));
        }
        let client_ids = own.iter().map(|(c, _)| c.get()).collect();
        self.queue((None, Instant::now()), Some(user.id), None, client_ids, data);
    }

    /// Queues an update applied to the document for the next group commit. `from` is the
    /// connection that sent it (`None`: the server) and when it arrived, `user` who it is
    /// logged for (`None`: the server), `actor` who a server edit was made for,
    /// `client_ids` the Yjs clients it binds.
    fn queue(
        &mut self,
        (from, received): (Option<u64>, Instant),
        user: Option<UserId>,
        actor: Option<UserId>,
        client_ids: Vec<u64>,
        data: Vec<u8>,
    ) {
        let at = self.config.clock.now();
        let record = NewUpdate { notebook_id: self.id, user_id: user, client_ids, actor_id: actor, at, data };
        self.pending.push(Pending { from, received, record });
    }

    /// The notebook-wide rules as the guard takes them.
    fn rules(&self) -> Rules {
        Rules {
            mode: match self.policy.mode {
                NotebookMode::Thread => guard::Mode::Thread,
                NotebookMode::Pair => guard::Mode::Pair,
            },
            blocked_by: self
                .policy
                .block
                .as_ref()
                .map(|(block, name)| Person { id: block.holder, name: name.clone() }),
        }
    }

    /// Makes an edit of the server's own, records it and queues it for commit.
    pub(super) fn server_edit(
        &mut self,
        what: &str,
        actor: Option<UserId>,
        f: impl FnOnce(&mut doc_model::Editor<'_, '_>) -> Result<(), doc_model::DocError>,
    ) {
        match self.doc.edit(f) {
            Ok(((), data)) => {
                let scanned = match guard::scan_update(&data) {
                    Ok(scanned) => scanned,
                    Err(e) => {
                        tracing::error!(notebook = %self.id, error = %e, "cannot read own edit");
                        return;
                    }
                };
                // An edit that changed nothing (e.g. the state was already written).
                if scanned.blocks.is_empty() && scanned.deletes.is_empty() {
                    return;
                }
                index_trusted(&mut self.structure, self.id, &scanned);
                let client = self.doc.doc().client_id();
                self.bindings.insert(client, None);
                self.queue((None, Instant::now()), None, actor, vec![client.get()], data);
            }
            Err(e) => tracing::error!(notebook = %self.id, error = %e, "cannot {what}"),
        }
    }

    /// Makes an edit in `user`'s name: `f` edits a copy of the document whose Yjs client
    /// id is fresh and bound to `user`; the difference is applied here, logged as the
    /// user's update and broadcast like theirs. Blame then names the user as the author of
    /// what it inserted. The caller has checked the user's rights.
    pub(super) fn edit_as(&mut self, user: &User, f: impl FnOnce(&NotebookDoc)) {
        let own = self.doc.doc().client_id().get();
        let client =
            std::iter::repeat_with(|| unbound_client_id(&self.bindings)).find(|c| *c != own).unwrap_or(own);
        let copy = NotebookDoc::with_client_id(client);
        if let Err(e) = copy.apply_update(&self.doc.encode_state()) {
            tracing::error!(notebook = %self.id, error = %e, "cannot copy the document for a user edit");
            return;
        }
        let before = copy.doc().transact().state_vector();
        f(&copy);
        let data = copy.doc().transact().encode_state_as_update_v1(&before);
        let scanned = match guard::scan_update(&data) {
            Ok(scanned) => scanned,
            Err(e) => {
                tracing::error!(notebook = %self.id, error = %e, "cannot read a user edit");
                return;
            }
        };
        if scanned.blocks.is_empty() && scanned.deletes.is_empty() {
            return;
        }
        index_trusted(&mut self.structure, self.id, &scanned);
        let update = match yrs::Update::decode_v1(&data) {
            Ok(update) => update,
            Err(e) => {
                tracing::error!(notebook = %self.id, error = %e, "cannot decode a user edit");
                return;
            }
        };
        let cells_changed = match self.doc.apply_decoded(update) {
            Ok(changed) => changed,
            Err(e) => {
                tracing::error!(notebook = %self.id, error = %e, "cannot apply a user edit");
                return;
            }
        };
        self.bindings.insert(ClientID::new(client), Some(user.id));
        self.names.insert(user.id, user.name.clone());
        // Logged as the user's, with the user as actor too: the history marks it as made by
        // the server in their name (a restore or an undo).
        self.queue((None, Instant::now()), Some(user.id), Some(user.id), vec![client], data);
        if cells_changed {
            self.record_authors(user);
        }
    }

    /// Writes the notebook's mode and block into the document's `talkbook` map, where every
    /// client reads them, if they differ from what it shows.
    pub(super) fn write_policy(&mut self) {
        let mode = serde_json::json!(self.policy.mode.as_str());
        let block = match &self.policy.block {
            Some((block, name)) => serde_json::json!({
                "holder": block.holder.0,
                "holder_name": name,
                "since": block.since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }),
            None => serde_json::Value::Null,
        };
        let others_may_run = serde_json::json!(self.policy.others_may_run);
        let current = (
            self.doc.server_state("mode"),
            self.doc.server_state("block"),
            self.doc.server_state("others_may_run"),
        );
        if current == (Some(mode.clone()), Some(block.clone()), Some(others_may_run.clone())) {
            return;
        }
        self.server_edit("write the notebook's mode and block", None, |ed| {
            ed.set_server_state("mode", Some(&mode));
            ed.set_server_state("others_may_run", Some(&others_may_run));
            ed.set_server_state("block", Some(&block));
            Ok(())
        });
    }

    /// Shows as idle every cell the document says is queued or running but that has no
    /// live run (`live`): a server that crashed, or a kernel that went away, left it so.
    pub(super) fn settle_stale_runs(&mut self, live: &HashSet<String>) {
        let stale: Vec<_> =
            self.doc.cells_not_idle().into_iter().filter(|id| !live.contains(id.as_str())).collect();
        if stale.is_empty() {
            return;
        }
        tracing::info!(notebook = %self.id, cells = stale.len(), "cells left queued or busy without a run shown as idle");
        self.server_edit("show stale runs as idle", None, |ed| {
            for id in &stale {
                ed.set_execution_state(id, doc_model::ExecutionState::Idle)?;
            }
            Ok(())
        });
    }

    /// Applies new access decisions to every connection: none → closed with 4403; lost edit
    /// rights → told, then read-only; the rest carry on with their new access.
    pub(super) fn reauthorize(&mut self, decide: &Authorizer) {
        for conn in self.conns.values_mut() {
            let decided = (decide.0)(conn.peer.user.as_ref());
            match decided {
                None => conn.outbox.closer.close(close::PERMISSION_REVOKED, "permission revoked"),
                Some(access) => {
                    if conn.peer.access.can_edit() && !access.can_edit() {
                        let notice = Message::Auth(Some(
                            "permission denied: your access changed to read-only; edits are no longer accepted".into(),
                        ));
                        conn.outbox.send(encode(&notice));
                    }
                    conn.peer.access = access;
                }
            }
        }
    }

    /// Writes provenance for cells that appeared without it: their author is the user whose
    /// update created them.
    fn record_authors(&mut self, author: &User) {
        let new_cells = self.doc.cells_without_provenance();
        if new_cells.is_empty() {
            return;
        }
        let record = Provenance {
            author: author.id,
            author_name: author.name.clone(),
            created_at: self.config.clock.now(),
        };
        self.server_edit("record provenance", None, |ed| {
            for id in &new_cells {
                ed.record_provenance(id, &record);
            }
            Ok(())
        });
    }
}

/// The room's answers to the guard's questions.
struct RoomLookup<'a>(&'a Room);

impl Lookup for RoomLookup<'_> {
    fn binding(&self, client: ClientID) -> Binding {
        match self.0.bindings.get(&client) {
            None => Binding::Free,
            Some(None) => Binding::Server,
            Some(Some(user)) => Binding::User(Person {
                id: *user,
                name: self.0.names.get(user).cloned().unwrap_or_else(|| format!("user {}", user.0)),
            }),
        }
    }

    fn author(&self, cell_id: &str) -> Option<Person> {
        self.0.doc.provenance_of(cell_id).map(|p| Person { id: p.author, name: p.author_name })
    }
}
