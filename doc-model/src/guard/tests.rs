//! The guard against real yrs documents: a hub that checks every client update the way
//! the sync server does, and clients that edit with the typed editor (or forge updates).

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use proptest::prelude::*;
use serde_json::json;
use yrs::block::ClientID;
use yrs::{Map, Transact};

use super::*;
use crate::{Cell, CellId, NotebookDoc, Output, Provenance, UserId};

fn person(id: i64, name: &str) -> Person {
    Person { id: UserId(id), name: name.into() }
}

fn alice() -> Person {
    person(1, "alice")
}
fn bob() -> Person {
    person(2, "bob")
}
fn carol() -> Person {
    person(3, "carol")
}

/// What the hub answered.
#[derive(Debug, PartialEq)]
enum Outcome {
    Accepted,
    NoChange,
    Refused(String),
    Unresolved(Unresolved),
}

/// A server-side notebook with its structure index, as a room keeps them.
struct Hub {
    doc: NotebookDoc,
    structure: Structure,
    bindings: HashMap<ClientID, Binding>,
    rules: Rules,
    owner: UserId,
}

impl Lookup for Hub {
    fn binding(&self, client: ClientID) -> Binding {
        self.bindings.get(&client).cloned().unwrap_or(Binding::Free)
    }
    fn author(&self, cell_id: &str) -> Option<Person> {
        self.doc.provenance_of(cell_id).map(|p| Person { id: p.author, name: p.author_name })
    }
}

impl Hub {
    fn new(mode: Mode) -> Self {
        let doc = NotebookDoc::with_client_id(1000);
        let mut hub = Hub {
            doc,
            structure: Structure::new(),
            bindings: HashMap::new(),
            rules: Rules { mode, blocked_by: None },
            owner: UserId(1),
        };
        let (_, update) = hub
            .doc
            .edit(|ed| {
                ed.init(&Default::default());
                Ok(())
            })
            .expect("init");
        hub.trusted(&update);
        hub.bindings.insert(ClientID::new(1000), Binding::Server);
        hub
    }

    fn trusted(&mut self, update: &[u8]) {
        let scanned = scan_update(update).expect("scan");
        self.structure.record_trusted(&scanned).expect("trusted update places");
        self.doc.apply_update(update).expect("apply");
    }

    fn submit(&mut self, who: &Person, can_edit: bool, update: &[u8]) -> Outcome {
        let scanned = scan_update(update).expect("scan");
        let analysis = match self.structure.analyze(&scanned) {
            Ok(a) => a,
            Err(e) => return Outcome::Unresolved(e),
        };
        if analysis.effects.is_empty() {
            return Outcome::NoChange;
        }
        let sender = Sender { user: Some(who.id), can_edit, is_owner: who.id == self.owner };
        if let Err(refusal) = check(&analysis.effects, &self.structure, &sender, &self.rules, self) {
            // Mark the sender's clocks as used, so their next edits still integrate.
            let ranges: Vec<_> = analysis
                .new_ranges()
                .iter()
                .filter(|(c, _)| match self.binding(*c) {
                    Binding::Free => true,
                    Binding::User(p) => p.id == who.id,
                    Binding::Server => false,
                })
                .cloned()
                .collect();
            for (c, _) in &ranges {
                self.bindings.insert(*c, Binding::User(who.clone()));
            }
            if !ranges.is_empty() {
                self.trusted(&gc_update(&ranges));
            }
            return Outcome::Refused(refusal.to_string());
        }
        for c in &analysis.effects.written_clients {
            self.bindings.entry(*c).or_insert_with(|| Binding::User(who.clone()));
        }
        self.doc.apply_update(update).expect("apply");
        self.structure.commit(analysis);
        let missing = self.doc.cells_without_provenance();
        if !missing.is_empty() {
            let record = Provenance { author: who.id, author_name: who.name.clone(), created_at: Utc::now() };
            let (_, update) = self
                .doc
                .edit(|ed| {
                    for id in &missing {
                        ed.record_provenance(id, &record);
                    }
                    Ok(())
                })
                .expect("provenance");
            self.trusted(&update);
        }
        Outcome::Accepted
    }

    fn state(&self) -> Vec<u8> {
        self.doc.encode_state()
    }
}

/// A client: its own document, synced from the hub on demand.
struct Client {
    doc: NotebookDoc,
}

impl Client {
    fn new(client_id: u64, hub: &Hub) -> Self {
        let client = Client { doc: NotebookDoc::with_client_id(client_id) };
        client.pull(hub);
        client
    }

    fn pull(&self, hub: &Hub) {
        let diff = hub.doc.encode_diff(&self.doc.state_vector()).expect("diff");
        self.doc.apply_update(&diff).expect("apply");
    }

    fn edit(&self, f: impl FnOnce(&mut crate::Editor<'_, '_>) -> Result<(), crate::DocError>) -> Vec<u8> {
        self.doc.edit(f).expect("edit").1
    }

    /// What this client would send in answer to the hub's sync step 1.
    fn sync_step2(&self, hub: &Hub) -> Vec<u8> {
        self.doc.encode_diff(&hub.doc.state_vector()).expect("diff")
    }
}

/// Appends a cell map with `id` through raw yrs, bypassing the editor's own checks.
fn raw_push_cell(doc: &NotebookDoc, cell_id: &str) -> Vec<u8> {
    use yrs::{Array, MapPrelim, TextPrelim};
    let cells = doc.doc().get_or_insert_array(crate::schema::CELLS);
    let mut txn = doc.doc().transact_mut();
    let len = cells.len(&txn);
    let cell = cells.insert(&mut txn, len, MapPrelim::default());
    cell.insert(&mut txn, "id", cell_id);
    cell.insert(&mut txn, "cell_type", "code");
    cell.insert(&mut txn, "source", TextPrelim::new("raw"));
    txn.encode_update_v1()
}

fn id(s: &str) -> CellId {
    CellId::new(s)
}

/// Alice's cell `a` in a hub of the given mode, with Alice and Bob connected.
fn with_alices_cell(mode: Mode) -> (Hub, Client, Client) {
    let mut hub = Hub::new(mode);
    let a = Client::new(11, &hub);
    let b = Client::new(22, &hub);
    let up = a.edit(|ed| ed.push_cell(&Cell::code("x = 1").with_id(id("a"))));
    assert_eq!(hub.submit(&alice(), true, &up), Outcome::Accepted);
    a.pull(&hub);
    b.pull(&hub);
    (hub, a, b)
}

fn refused(outcome: Outcome, needle: &str) {
    match outcome {
        Outcome::Refused(reason) => assert!(reason.contains(needle), "reason {reason:?} lacks {needle:?}"),
        other => panic!("expected a refusal mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn new_cells_are_their_creators_and_provenance_names_them() {
    let (hub, _, _) = with_alices_cell(Mode::Thread);
    let prov = hub.doc.provenance();
    assert_eq!(prov[&id("a")].author, UserId(1));
}

#[test]
fn in_thread_mode_every_kind_of_change_to_someone_elses_cell_is_refused() {
    type Edit = Box<dyn Fn(&mut crate::Editor<'_, '_>) -> Result<(), crate::DocError>>;
    let edits: Vec<(&str, Edit)> = vec![
        ("source", Box::new(|ed| ed.insert_source(&id("a"), 0, "# bob\n"))),
        ("source delete", Box::new(|ed| ed.delete_source(&id("a"), 0, 1))),
        ("metadata", Box::new(|ed| ed.set_cell_metadata(&id("a"), "tags", Some(&json!(["x"]))))),
        ("outputs", Box::new(|ed| ed.append_output(&id("a"), &Output::stream("stdout", "hi")))),
        ("execution count", Box::new(|ed| ed.set_execution_count(&id("a"), Some(7)))),
        ("delete", Box::new(|ed| ed.delete_cell(&id("a")).map(|_| ()))),
        (
            "move",
            Box::new(|ed| {
                ed.push_cell(&Cell::code("b").with_id(id("b")))?;
                ed.move_cell(&id("a"), 1)
            }),
        ),
    ];
    for (what, edit) in edits {
        let (mut hub, a, b) = with_alices_cell(Mode::Thread);
        let before = hub.state();
        let up = b.edit(|ed| edit(ed));
        let outcome = hub.submit(&bob(), true, &up);
        refused(outcome, "belongs to alice");
        assert_eq!(hub.doc.read().cells.len(), 1, "{what}");
        assert_eq!(hub.doc.read().cells[0].source, "x = 1", "{what}");
        // Nothing but the used clock range (garbage) was added.
        let after = NotebookDoc::from_update(&hub.state()).expect("load");
        assert_eq!(after.read(), NotebookDoc::from_update(&before).expect("load").read(), "{what}");
        // Alice is unaffected and can keep editing.
        a.pull(&hub);
        let up = a.edit(|ed| ed.insert_source(&id("a"), 0, "# mine\n"));
        assert_eq!(hub.submit(&alice(), true, &up), Outcome::Accepted, "{what}");
    }
}

#[test]
fn in_pair_mode_the_same_changes_are_accepted() {
    let (mut hub, _, b) = with_alices_cell(Mode::Pair);
    let up = b.edit(|ed| {
        ed.insert_source(&id("a"), 0, "# bob\n")?;
        ed.set_cell_metadata(&id("a"), "tags", Some(&json!(["x"])))?;
        ed.push_cell(&Cell::code("b").with_id(id("b")))?;
        ed.move_cell(&id("a"), 1)
    });
    assert_eq!(hub.submit(&bob(), true, &up), Outcome::Accepted);
    let nb = hub.doc.read();
    assert_eq!(nb.cells[1].id, id("a"));
    assert_eq!(nb.cells[1].source, "# bob\nx = 1");
    // A moved cell keeps its author.
    assert_eq!(hub.doc.provenance()[&id("a")].author, UserId(1));
    assert_eq!(hub.doc.provenance()[&id("b")].author, UserId(2));
}

#[test]
fn own_cells_work_and_the_owner_may_delete_any_cell() {
    let (mut hub, a, b) = with_alices_cell(Mode::Thread);
    let up = b.edit(|ed| ed.push_cell(&Cell::code("y = 2").with_id(id("b"))));
    assert_eq!(hub.submit(&bob(), true, &up), Outcome::Accepted);
    b.pull(&hub);
    let up = b.edit(|ed| ed.set_source(&id("b"), "y = 3"));
    assert_eq!(hub.submit(&bob(), true, &up), Outcome::Accepted);
    // Alice owns the project: she may delete Bob's cell but not edit it.
    a.pull(&hub);
    let up = a.edit(|ed| ed.set_source(&id("b"), "nope"));
    refused(hub.submit(&alice(), true, &up), "belongs to bob");
    let a = Client::new(12, &hub);
    let up = a.edit(|ed| ed.delete_cell(&id("b")).map(|_| ()));
    assert_eq!(hub.submit(&alice(), true, &up), Outcome::Accepted);
    assert_eq!(hub.doc.read().cells.len(), 1);
}

#[test]
fn viewers_and_blocked_notebooks_refuse_changes_but_not_no_ops() {
    let (mut hub, _, b) = with_alices_cell(Mode::Pair);
    let up = b.edit(|ed| ed.push_cell(&Cell::code("v").with_id(id("v"))));
    refused(hub.submit(&bob(), false, &up), "read-only");
    // A reader's sync step 2 that holds nothing new is not a change.
    let c = Client::new(33, &hub);
    assert_eq!(hub.submit(&carol(), false, &c.sync_step2(&hub)), Outcome::NoChange);
    hub.rules.blocked_by = Some(alice());
    let b = Client::new(23, &hub);
    let up = b.edit(|ed| ed.push_cell(&Cell::code("w").with_id(id("w"))));
    refused(hub.submit(&bob(), true, &up), "blocked by alice");
    let a = Client::new(13, &hub);
    let up = a.edit(|ed| ed.push_cell(&Cell::code("z").with_id(id("z"))));
    assert_eq!(hub.submit(&alice(), true, &up), Outcome::Accepted);
}

#[test]
fn a_client_id_bound_to_someone_else_is_refused() {
    let (mut hub, _, _) = with_alices_cell(Mode::Pair);
    // Bob's connection sends an update made under Alice's client id.
    let forger = Client::new(11, &hub);
    let up = forger.edit(|ed| ed.push_cell(&Cell::code("forged").with_id(id("f"))));
    refused(hub.submit(&bob(), true, &up), "belongs to alice");
    assert_eq!(hub.doc.read().cells.len(), 1);
    // The server's own client id is not anyone's either.
    let forger = Client::new(1000, &hub);
    let up = forger.edit(|ed| ed.push_cell(&Cell::code("forged").with_id(id("g"))));
    refused(hub.submit(&bob(), true, &up), "the server");
}

#[test]
fn writing_provenance_or_the_talkbook_map_is_refused() {
    let (mut hub, _, b) = with_alices_cell(Mode::Pair);
    let record = Provenance { author: UserId(2), author_name: "bob".into(), created_at: Utc::now() };
    let up = b.edit(|ed| {
        ed.record_provenance(&id("a"), &record);
        Ok(())
    });
    refused(hub.submit(&bob(), true, &up), "`provenance` is written only by the server");
    assert_eq!(hub.doc.provenance()[&id("a")].author, UserId(1));
    let b = Client::new(24, &hub);
    let up = {
        let talkbook = b.doc.doc().get_or_insert_map(crate::schema::TALKBOOK);
        let mut txn = b.doc.doc().transact_mut();
        talkbook.insert(&mut txn, "mode", "pair");
        txn.encode_update_v1()
    };
    refused(hub.submit(&bob(), true, &up), "`talkbook`");
}

#[test]
fn cell_ids_cannot_be_rewritten_or_borrowed() {
    let (mut hub, _, b) = with_alices_cell(Mode::Thread);
    let up = b.edit(|ed| ed.push_cell(&Cell::code("b").with_id(id("b"))));
    assert_eq!(hub.submit(&bob(), true, &up), Outcome::Accepted);
    b.pull(&hub);
    // Rewriting the id of one's own cell to someone else's.
    let up = {
        let txn_doc = b.doc.doc();
        let cells = txn_doc.get_or_insert_array(crate::schema::CELLS);
        let mut txn = txn_doc.transact_mut();
        let cell: yrs::MapRef = yrs::Array::get(&cells, &txn, 1).and_then(|o| o.cast().ok()).expect("cell");
        cell.insert(&mut txn, "id", "a");
        txn.encode_update_v1()
    };
    refused(hub.submit(&bob(), true, &up), "id cannot change");
    // A second cell with an existing id (the typed editor would not make one).
    let b = Client::new(25, &hub);
    let up = raw_push_cell(&b.doc, "a");
    refused(hub.submit(&bob(), true, &up), "already used");
    // Re-creating Alice's deleted cell under her id.
    let a = Client::new(14, &hub);
    let up = a.edit(|ed| ed.delete_cell(&id("a")).map(|_| ()));
    assert_eq!(hub.submit(&alice(), true, &up), Outcome::Accepted);
    let b = Client::new(26, &hub);
    let up = raw_push_cell(&b.doc, "a");
    refused(hub.submit(&bob(), true, &up), "belongs to alice");
}

#[test]
fn a_refused_client_keeps_working_and_everyone_converges() {
    let (mut hub, a, b) = with_alices_cell(Mode::Thread);
    let up = b.edit(|ed| ed.insert_source(&id("a"), 0, "# bob"));
    refused(hub.submit(&bob(), true, &up), "belongs to alice");
    // Bob's next edit, with clocks after the refused ones, is accepted and reaches Alice.
    let up = b.edit(|ed| ed.push_cell(&Cell::code("bob's").with_id(id("b"))));
    assert_eq!(hub.submit(&bob(), true, &up), Outcome::Accepted);
    a.pull(&hub);
    let cells: Vec<String> = a.doc.read().cells.iter().map(|c| c.source.clone()).collect();
    assert_eq!(cells, ["x = 1", "bob's"]);
    assert_eq!(a.doc.read(), hub.doc.read());
    // An update that types after the refused text lands nowhere (its origin is garbage).
    let up = b.edit(|ed| ed.insert_source(&id("a"), 5, "!"));
    refused(hub.submit(&bob(), true, &up), "belongs to alice");
    assert_eq!(hub.doc.read().cells[0].source, "x = 1");
}

#[test]
fn updates_the_server_cannot_place_are_unresolved() {
    let (mut hub, _, _) = with_alices_cell(Mode::Pair);
    let other = NotebookDoc::with_client_id(77);
    other.apply_update(&hub.state()).expect("apply");
    other.edit(|ed| ed.push_cell(&Cell::code("first").with_id(id("p")))).expect("edit");
    let (_, second) = other.edit(|ed| ed.insert_source(&id("p"), 0, ">")).expect("edit");
    // The second depends on the first, which the hub never got.
    assert!(matches!(hub.submit(&bob(), true, &second), Outcome::Unresolved(Unresolved::Gap { .. })));
    // An item pointing at an unknown origin from a fresh client.
    let third = NotebookDoc::with_client_id(78);
    third.apply_update(&other.encode_state()).expect("apply");
    let (_, up) = third.edit(|ed| ed.insert_source(&id("p"), 1, "x")).expect("edit");
    assert!(matches!(hub.submit(&bob(), true, &up), Outcome::Unresolved(Unresolved::UnknownItem { .. })));
    // Garbage bytes do not scan.
    assert!(scan_update(&[1, 2, 3]).is_err());
}

#[test]
fn a_sync_step2_with_everyone_s_deletions_is_not_a_change() {
    let (mut hub, a, _) = with_alices_cell(Mode::Thread);
    let up = a.edit(|ed| ed.delete_source(&id("a"), 0, 2));
    assert_eq!(hub.submit(&alice(), true, &up), Outcome::Accepted);
    let b = Client::new(27, &hub);
    // Bob's full delete set includes Alice's deletion: nothing new, nothing refused.
    assert_eq!(hub.submit(&bob(), true, &b.sync_step2(&hub)), Outcome::NoChange);
    let full = b.doc.encode_state();
    assert_eq!(hub.submit(&bob(), true, &full), Outcome::NoChange);
}

#[test]
fn a_structure_loaded_from_a_snapshot_judges_like_the_live_one() {
    let (hub, _, _) = with_alices_cell(Mode::Thread);
    let mut loaded = Hub::new(Mode::Thread);
    loaded.doc = NotebookDoc::new();
    loaded.structure = Structure::new();
    loaded.trusted(&hub.state());
    loaded.bindings = hub.bindings.clone();
    let b = Client::new(28, &loaded);
    let up = b.edit(|ed| ed.insert_source(&id("a"), 0, "#"));
    refused(loaded.submit(&bob(), true, &up), "belongs to alice");
    let up = b.edit(|ed| ed.push_cell(&Cell::code("mine").with_id(id("m"))));
    assert_eq!(loaded.submit(&bob(), true, &up), Outcome::Accepted);
}

// --- Property test: in thread mode, whatever anyone sends, an accepted update changes only
// the sender's own cells (or creates new ones, or deletes as the owner).

#[derive(Debug, Clone)]
enum Op {
    Pull(usize),
    AddCell(usize),
    Type(usize, usize, u32),
    Erase(usize, usize),
    Meta(usize, usize),
    Output(usize, usize),
    DeleteCell(usize, usize),
    Move(usize, usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..3usize;
    let cell = 0..6usize;
    prop_oneof![
        2 => who.clone().prop_map(Op::Pull),
        2 => who.clone().prop_map(Op::AddCell),
        3 => (who.clone(), cell.clone(), 0..8u32).prop_map(|(w, c, p)| Op::Type(w, c, p)),
        1 => (who.clone(), cell.clone()).prop_map(|(w, c)| Op::Erase(w, c)),
        1 => (who.clone(), cell.clone()).prop_map(|(w, c)| Op::Meta(w, c)),
        1 => (who.clone(), cell.clone()).prop_map(|(w, c)| Op::Output(w, c)),
        1 => (who.clone(), cell.clone()).prop_map(|(w, c)| Op::DeleteCell(w, c)),
        1 => (who, cell.clone(), cell).prop_map(|(w, c, t)| Op::Move(w, c, t)),
    ]
}

fn cell_at(doc: &NotebookDoc, i: usize) -> Option<CellId> {
    let cells = doc.read().cells;
    if cells.is_empty() { None } else { Some(cells[i % cells.len()].id.clone()) }
}

/// Cell id → (author, everything else) as the hub holds it.
fn snapshot(hub: &Hub) -> HashMap<String, String> {
    hub.doc
        .read()
        .cells
        .iter()
        .map(|c| {
            (
                c.id.to_string(),
                format!("{:?}|{:?}|{:?}|{:?}", c.source, c.metadata, c.outputs, c.execution_count),
            )
        })
        .collect()
}

/// Makes the update an op stands for on its client's document (`None` when the op has
/// nothing to act on or is only a pull).
fn make_update(op: &Op, clients: &[Client], hub: &Hub, next_cell: &mut usize) -> Option<(usize, Vec<u8>)> {
    Some(match *op {
        Op::Pull(w) => {
            clients[w].pull(hub);
            return None;
        }
        Op::AddCell(w) => {
            *next_cell += 1;
            let cell = Cell::code(format!("c{next_cell}")).with_id(id(&format!("c{next_cell}")));
            (w, clients[w].edit(|ed| ed.push_cell(&cell)))
        }
        Op::Type(w, c, p) => {
            let cell = cell_at(&clients[w].doc, c)?;
            let len = clients[w].doc.read().cells.iter().find(|x| x.id == cell).map_or(0, |x| x.source.len());
            (w, clients[w].edit(|ed| ed.insert_source(&cell, p.min(len as u32), "k")))
        }
        Op::Erase(w, c) => {
            let cell = cell_at(&clients[w].doc, c)?;
            (w, clients[w].edit(|ed| ed.delete_source(&cell, 0, 1).or(Ok(()))))
        }
        Op::Meta(w, c) => {
            let cell = cell_at(&clients[w].doc, c)?;
            (w, clients[w].edit(|ed| ed.set_cell_metadata(&cell, "k", Some(&json!(w)))))
        }
        Op::Output(w, c) => {
            let cell = cell_at(&clients[w].doc, c)?;
            (w, clients[w].edit(|ed| ed.append_output(&cell, &Output::stream("stdout", "o"))))
        }
        Op::DeleteCell(w, c) => {
            let cell = cell_at(&clients[w].doc, c)?;
            (w, clients[w].edit(|ed| ed.delete_cell(&cell).map(|_| ())))
        }
        Op::Move(w, c, t) => {
            let cell = cell_at(&clients[w].doc, c)?;
            let n = clients[w].doc.read().cells.len();
            (w, clients[w].edit(|ed| ed.move_cell(&cell, t % n)))
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// In pair mode everything is allowed, so this checks the analysis alone: every cell an
    /// accepted update actually changed or removed was among its predicted effects.
    #[test]
    fn predicted_effects_cover_every_actual_change(ops in proptest::collection::vec(op(), 1..40)) {
        let mut hub = Hub::new(Mode::Pair);
        let people = [alice(), bob(), carol()];
        let clients: Vec<Client> =
            (0..people.len()).map(|i| Client::new(100 + i as u64, &hub)).collect();
        let mut next_cell = 0;
        for op in ops {
            let Some((w, update)) = make_update(&op, &clients, &hub, &mut next_cell) else { continue };
            let analysis = hub.structure.analyze(&scan_update(&update).expect("scan")).expect("placeable");
            let mut predicted: BTreeSet<String> = BTreeSet::new();
            for item in analysis.effects.changed_cells.iter().chain(&analysis.effects.deleted_cells) {
                predicted.insert(hub.structure.cell_id(item).expect("cell id").to_owned());
            }
            let before = snapshot(&hub);
            // Pair mode refuses only a second live cell with the same id (two people moving
            // one cell at once), which would otherwise duplicate it.
            match hub.submit(&people[w], true, &update) {
                Outcome::Accepted | Outcome::NoChange => {}
                Outcome::Refused(reason) => prop_assert!(reason.contains("already used"), "{}", reason),
                other => prop_assert!(false, "{:?}", other),
            }
            let after = snapshot(&hub);
            for (cell, content) in &before {
                if after.get(cell) != Some(content) {
                    prop_assert!(predicted.contains(cell), "{:?} changed {} unpredicted", op, cell);
                }
            }
        }
    }

    #[test]
    fn accepted_updates_change_only_what_the_sender_may(ops in proptest::collection::vec(op(), 1..40)) {
        let mut hub = Hub::new(Mode::Thread);
        let people = [alice(), bob(), carol()];
        let clients: Vec<Client> =
            (0..people.len()).map(|i| Client::new(100 + i as u64, &hub)).collect();
        let mut next_cell = 0;
        for op in ops {
            let Some((w, update)) = make_update(&op, &clients, &hub, &mut next_cell) else { continue };
            let who = people[w].clone();
            let before = snapshot(&hub);
            let authors_before = hub.doc.provenance();
            let outcome = hub.submit(&who, true, &update);
            let after = snapshot(&hub);
            match outcome {
                Outcome::Accepted => {
                    for (cell, content) in &before {
                        let author = authors_before.get(&id(cell)).map(|p| p.author);
                        match after.get(cell) {
                            Some(now) if now != content => prop_assert_eq!(author, Some(who.id), "{} changed {}", who.name, cell),
                            None => prop_assert!(author == Some(who.id) || who.id == hub.owner, "{} removed {}", who.name, cell),
                            _ => {}
                        }
                    }
                }
                _ => {
                    // Refused or unplaceable: no cell changed.
                    prop_assert_eq!(&before, &after);
                }
            }
            // Every cell has an author, and no author ever changes.
            let authors = hub.doc.provenance();
            for cell in after.keys() {
                prop_assert!(authors.contains_key(&id(cell)));
            }
            for (cell, p) in &authors_before {
                prop_assert_eq!(authors[cell].author, p.author);
            }
        }
        // The hub's document equals what any fresh client loads, and the structure agrees
        // with a structure rebuilt from the stored state.
        let mut rebuilt = Structure::new();
        rebuilt.record_trusted(&scan_update(&hub.state()).expect("scan")).expect("place");
        for cell in hub.doc.read().cells {
            let live: BTreeSet<_> = hub.structure.cells_with_id(cell.id.as_str()).collect();
            let again: BTreeSet<_> = rebuilt.cells_with_id(cell.id.as_str()).collect();
            prop_assert_eq!(live, again);
        }
    }
}
