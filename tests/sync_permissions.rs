//! Permissions inside the document (SPEC §6) with real Yjs clients: stock `y-websocket`
//! (npm) and pycrdt clients against a real `talkbook serve`. A refused change is answered
//! with a permission-denied message, never reaches anyone else and never reaches the
//! database; the room and the sender keep working.

mod support;

use serde_json::{Value, json};
use support::fixture::*;
use support::server::*;
use support::yclient::{Kind, YClient};

const ALICE_CELL: &str = "alice-cell";
const ALICE_SOURCE: &str = "alice = 1\n";

/// What Bob (or anyone not the author) may try on Alice's cell in thread mode.
fn attempts() -> Vec<(&'static str, Kind, Value)> {
    vec![
        (
            "source",
            Kind::Js,
            json!({"cmd": "insert_text", "cell_id": ALICE_CELL, "index": 0, "text": "# bob\n"}),
        ),
        (
            "source",
            Kind::Python,
            json!({"cmd": "delete_text", "cell_id": ALICE_CELL, "index": 0, "length": 5}),
        ),
        (
            "metadata",
            Kind::Js,
            json!({"cmd": "set_metadata", "cell_id": ALICE_CELL, "key": "tags", "value": ["bob"]}),
        ),
        (
            "metadata",
            Kind::Python,
            json!({"cmd": "set_metadata", "cell_id": ALICE_CELL, "key": "tags", "value": ["bob"]}),
        ),
        (
            "outputs",
            Kind::Js,
            json!({"cmd": "add_output", "cell_id": ALICE_CELL,
                   "output": {"output_type": "display_data", "data": {"text/plain": "bob"}, "metadata": {}}}),
        ),
        ("delete", Kind::Js, json!({"cmd": "delete_cell", "cell_id": ALICE_CELL})),
        ("delete", Kind::Python, json!({"cmd": "delete_cell", "cell_id": ALICE_CELL})),
        ("move", Kind::Js, json!({"cmd": "move_cell", "cell_id": ALICE_CELL, "index": 1})),
        ("move", Kind::Python, json!({"cmd": "move_cell", "cell_id": ALICE_CELL, "index": 1})),
    ]
}

/// Alice's cell as a client dumps it (nbformat JSON).
fn alice_cell(dump: &Value) -> Value {
    dump["notebook"]["cells"]
        .as_array()
        .and_then(|cells| cells.iter().find(|c| c["id"] == ALICE_CELL))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Alice writes her cell (and Bob his), as seen by everyone.
fn start(fx: &Fixture) -> (YClient, YClient) {
    let mut alice = fx.client(Kind::Js, "alice", &fx.alice);
    let mut carol = fx.client(Kind::Python, "carol", &fx.carol);
    alice.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": ALICE_SOURCE, "cell_id": ALICE_CELL}));
    carol.ok(json!({"cmd": "wait_for", "cell_id": ALICE_CELL, "contains": "alice = 1"}));
    (alice, carol)
}

fn thread_mode_refuses_changes_to_someone_elses_cell(backend: Backend) {
    let fx = Fixture::thread(backend);
    let (mut alice, mut carol) = start(&fx);
    let original = alice_cell(&alice.dump());
    for (n, (what, kind, attempt)) in attempts().into_iter().enumerate() {
        let mut bob = fx.client(kind, &format!("bob-{n}"), &fx.bob);
        bob.ok(json!({"cmd": "wait_for", "cell_id": ALICE_CELL, "contains": "alice"}));
        bob.ok(attempt);
        let reason = bob.expect_denied("belongs to alice");
        assert!(reason.contains(ALICE_CELL), "{what} ({kind:?}): reason {reason:?} names no cell");
        // Bob's own new cell, made after the refusal by the same client, works and reaches
        // everyone; the refused change, sent before it on the same connection, does not.
        let own = format!("bob-own-{n}");
        bob.ok(json!({"cmd": "add_cell", "cell_type": "markdown", "source": "mine", "cell_id": own}));
        for watcher in [&mut alice, &mut carol] {
            watcher.ok(json!({"cmd": "wait_cells", "count": n + 2}));
            let dump = watcher.dump();
            assert!(
                cell_ids(&dump).contains(&own),
                "{what} ({kind:?}): {} lacks bob's own cell",
                watcher.name
            );
            assert_eq!(alice_cell(&dump), original, "{what} ({kind:?}) reached {}", watcher.name);
            assert_eq!(
                cell_ids(&dump)[0],
                ALICE_CELL,
                "{what} ({kind:?}) moved alice's cell for {}",
                watcher.name
            );
        }
    }
    // Nothing refused reached the database: a cold load has Alice's cell as she wrote it,
    // and Bob is the author of his own cells.
    let stored = fx.stored();
    let notebook = stored.read();
    let cell = notebook.cells.iter().find(|c| c.id.as_str() == ALICE_CELL).expect("alice's cell is stored");
    assert_eq!(cell.source, ALICE_SOURCE);
    assert!(cell.metadata.is_empty() && cell.outputs.is_empty(), "{cell:?}");
    assert_eq!(notebook.cells.iter().filter(|c| c.id.as_str() == ALICE_CELL).count(), 1);
    let provenance = stored.provenance();
    assert_eq!(provenance[&doc_model::CellId::new("bob-own-0")].author_name, "bob");
    assert_eq!(provenance[&doc_model::CellId::new(ALICE_CELL)].author_name, "alice");
    // Alice keeps editing her cell, and the others see it.
    alice.ok(json!({"cmd": "insert_text", "cell_id": ALICE_CELL, "index": 0, "text": "# still mine\n"}));
    carol.ok(json!({"cmd": "wait_for", "cell_id": ALICE_CELL, "contains": "still mine"}));
    assert!(alice.denials().is_empty(), "alice was refused: {:?}", alice.denials());
}

#[test]
fn thread_mode_refuses_changes_to_someone_elses_cell_on_sqlite() {
    thread_mode_refuses_changes_to_someone_elses_cell(Backend::Sqlite);
}

#[test]
fn thread_mode_refuses_changes_to_someone_elses_cell_on_postgres() {
    thread_mode_refuses_changes_to_someone_elses_cell(Backend::Postgres);
}

#[test]
fn pair_mode_accepts_the_same_changes() {
    let fx = Fixture::new(Backend::Sqlite);
    let (mut alice, mut carol) = start(&fx);
    let mut bob = fx.client(Kind::Js, "bob", &fx.bob);
    bob.ok(json!({"cmd": "wait_for", "cell_id": ALICE_CELL, "contains": "alice"}));
    bob.ok(json!({"cmd": "add_cell", "cell_type": "markdown", "source": "bob", "cell_id": "bob-cell"}));
    bob.ok(json!({"cmd": "insert_text", "cell_id": ALICE_CELL, "index": 0, "text": "# bob\n"}));
    bob.ok(json!({"cmd": "set_metadata", "cell_id": ALICE_CELL, "key": "tags", "value": ["bob"]}));
    bob.ok(json!({"cmd": "add_output", "cell_id": ALICE_CELL,
                  "output": {"output_type": "display_data", "data": {"text/plain": "bob"}, "metadata": {}}}));
    bob.ok(json!({"cmd": "move_cell", "cell_id": ALICE_CELL, "index": 1}));
    bob.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "end", "cell_id": "end"}));
    for watcher in [&mut alice, &mut carol] {
        watcher.ok(json!({"cmd": "wait_cells", "count": 3}));
        watcher.ok(json!({"cmd": "wait_for", "cell_id": "end", "contains": "end"}));
        let dump = watcher.dump();
        assert_eq!(cell_ids(&dump), ["bob-cell", ALICE_CELL, "end"], "{}", watcher.name);
        let cell = alice_cell(&dump);
        assert_eq!(cell["source"], json!("# bob\nalice = 1\n"));
        assert_eq!(cell["metadata"]["tags"], json!(["bob"]));
        assert_eq!(cell["outputs"][0]["data"]["text/plain"], json!("bob"));
    }
    assert!(bob.denials().is_empty(), "{:?}", bob.denials());
    // A moved cell keeps its author.
    let stored = fx.stored();
    assert_eq!(stored.provenance()[&doc_model::CellId::new(ALICE_CELL)].author_name, "alice");
    // Bob removes Alice's cell: allowed in pair mode.
    bob.ok(json!({"cmd": "delete_cell", "cell_id": ALICE_CELL}));
    carol.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "after", "cell_id": "after"}));
    alice.ok(json!({"cmd": "wait_for", "cell_id": "after", "contains": "after"}));
    assert_eq!(cell_ids(&alice.dump()), ["bob-cell", "end", "after"]);
}

#[test]
fn viewers_cannot_change_anything_but_see_everything() {
    let fx = Fixture::new(Backend::Sqlite);
    let (mut alice, _carol) = start(&fx);
    let mut vera = fx.client(Kind::Js, "vera", &fx.vera);
    vera.ok(json!({"cmd": "wait_for", "cell_id": ALICE_CELL, "contains": "alice"}));
    assert!(vera.denials().is_empty(), "a viewer's own sync must not be refused: {:?}", vera.denials());
    vera.ok(json!({"cmd": "add_cell", "cell_type": "markdown", "source": "viewer", "cell_id": "vera-cell"}));
    vera.expect_denied("read-only");
    vera.ok(json!({"cmd": "set_metadata", "key": "title", "value": "vera"}));
    // The viewer still receives live edits.
    alice.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "live", "cell_id": "live"}));
    vera.ok(json!({"cmd": "wait_for", "cell_id": "live", "contains": "live"}));
    let dump = alice.dump();
    assert_eq!(cell_ids(&dump), [ALICE_CELL, "live"]);
    assert_eq!(dump["notebook"]["metadata"].get("title"), None);
    let stored = fx.stored().read();
    assert_eq!(stored.cells.len(), 2);
}

/// An update made under Yjs client id `client`, on top of what is stored.
fn forged_update(
    fx: &Fixture,
    client: u64,
    edit: impl FnOnce(&mut doc_model::Editor<'_, '_>) -> Result<(), doc_model::DocError>,
) -> String {
    let forged = doc_model::NotebookDoc::with_client_id(client);
    forged.apply_update(&fx.stored().encode_state()).expect("apply");
    let (_, update) = forged.edit(edit).expect("edit");
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, update)
}

#[test]
fn a_client_id_bound_to_another_user_is_refused() {
    let fx = Fixture::new(Backend::Sqlite);
    let (mut alice, mut carol) = start(&fx);
    let alice_id = alice.ok(json!({"cmd": "info"}))["client_id"].as_u64().expect("client id");
    // Stock Yjs and pycrdt give themselves a new client id when they see theirs in use, so
    // the forgery is made elsewhere and handed to Bob's clients to send.
    let update = forged_update(&fx, alice_id, |ed| {
        ed.push_cell(&doc_model::Cell::code("forged").with_id(doc_model::CellId::new("forged")))
    });
    let mut forger = fx.client(Kind::Js, "forger", &fx.bob);
    forger.ok(json!({"cmd": "apply_update", "update": update}));
    let reason = forger.expect_denied("belongs to alice");
    assert!(reason.contains(&alice_id.to_string()), "{reason}");
    carol.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "barrier", "cell_id": "barrier"}));
    alice.ok(json!({"cmd": "wait_for", "cell_id": "barrier", "contains": "barrier"}));
    assert_eq!(cell_ids(&alice.dump()), [ALICE_CELL, "barrier"]);
    // The same forgery through pycrdt.
    let update =
        forged_update(&fx, alice_id, |ed| ed.insert_source(&doc_model::CellId::new(ALICE_CELL), 0, "forged"));
    let mut forger = fx.client(Kind::Python, "py-forger", &fx.bob);
    forger.ok(json!({"cmd": "apply_update", "update": update}));
    forger.expect_denied("belongs to alice");
    // Alice's own client id still works for her.
    alice.ok(json!({"cmd": "insert_text", "cell_id": ALICE_CELL, "index": 0, "text": "# hers\n"}));
    carol.ok(json!({"cmd": "wait_for", "cell_id": ALICE_CELL, "contains": "hers"}));
    let stored = fx.stored().read();
    assert!(!stored.cells.iter().any(|c| c.source.contains("forged") || c.id.as_str() == "forged"));
}

#[test]
fn provenance_and_the_talkbook_map_are_written_only_by_the_server() {
    let fx = Fixture::new(Backend::Sqlite);
    let (mut alice, _carol) = start(&fx);
    let mut bob = fx.client(Kind::Js, "bob", &fx.bob);
    bob.ok(json!({"cmd": "set_root_map", "root": "provenance", "key": ALICE_CELL,
                  "value": {"author": fx.bob.user.id.0, "author_name": "bob", "created_at": "2020-01-01T00:00:00Z"}}));
    bob.expect_denied("`provenance` is written only by the server");
    let mut py = fx.client(Kind::Python, "bob-py", &fx.bob);
    py.ok(json!({"cmd": "set_root_map", "root": "talkbook", "key": "mode", "value": "thread"}));
    py.expect_denied("`talkbook` is written only by the server");
    bob.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "barrier", "cell_id": "barrier"}));
    alice.ok(json!({"cmd": "wait_for", "cell_id": "barrier", "contains": "barrier"}));
    let dump = alice.dump();
    assert_eq!(dump["provenance"][ALICE_CELL]["author_name"], json!("alice"));
    let stored = fx.stored();
    assert_eq!(stored.provenance()[&doc_model::CellId::new(ALICE_CELL)].author_name, "alice");
    assert_eq!(stored.server_state("mode"), Some(json!("pair")));
}

/// y-sync message `Update` holding `update`.
fn sync_update_frame(update: &[u8]) -> String {
    use yrs::sync::{Message, SyncMessage};
    use yrs::updates::encoder::Encode;
    base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        Message::Sync(SyncMessage::Update(update.to_vec())).encode_v1(),
    )
}

#[test]
fn updates_referring_to_unknown_items_are_refused_and_the_room_stays_healthy() {
    let fx = Fixture::new(Backend::Sqlite);
    let (mut alice, mut carol) = start(&fx);
    // Two edits made elsewhere; the server gets only the second, which builds on the first.
    let elsewhere = doc_model::NotebookDoc::with_client_id(424_242);
    elsewhere.apply_update(&fx.stored().encode_state()).expect("apply");
    elsewhere
        .edit(|ed| ed.push_cell(&doc_model::Cell::code("unseen").with_id(doc_model::CellId::new("unseen"))))
        .expect("edit");
    let later = doc_model::NotebookDoc::with_client_id(434_343);
    later.apply_update(&elsewhere.encode_state()).expect("apply");
    let (_, dependent) =
        later.edit(|ed| ed.insert_source(&doc_model::CellId::new("unseen"), 0, "# depends")).expect("edit");
    let mut bob = fx.client(Kind::Js, "bob", &fx.bob);
    bob.ok(json!({"cmd": "send_raw", "data": sync_update_frame(&dependent)}));
    bob.expect_denied("does not have");
    // Everyone carries on, the hostile sender included.
    bob.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "still here", "cell_id": "bob-cell"}));
    alice.ok(json!({"cmd": "wait_for", "cell_id": "bob-cell", "contains": "still here"}));
    carol.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "carol", "cell_id": "carol-cell"}));
    bob.ok(json!({"cmd": "wait_for", "cell_id": "carol-cell", "contains": "carol"}));
    let stored = fx.stored().read();
    assert!(!stored.cells.iter().any(|c| c.source.contains("depends") || c.id.as_str() == "unseen"));
    assert_eq!(stored.cells.len(), 3);
}

// --- Rights that change while people are connected, through the HTTP API.

#[path = "api/client.rs"]
mod client;

use client::{Api, Auth};

/// Waits until `check` holds for the client's dump.
fn wait_dump(client: &mut YClient, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let dump = client.dump();
        if check(&dump) {
            return dump;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let last = client.dump();
    panic!("{}: never saw {what}; last dump {last}", client.name);
}

#[test]
fn removing_a_member_stops_their_edits_at_once() {
    let fx = Fixture::new(Backend::Sqlite);
    let api = Api::new(&fx.server.http());
    let (mut alice, mut carol) = start(&fx);
    let mut bob = fx.client(Kind::Js, "bob", &fx.bob);
    bob.ok(json!({"cmd": "set_reconnect", "enabled": false}));
    bob.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "before", "cell_id": "before"}));
    alice.ok(json!({"cmd": "wait_for", "cell_id": "before", "contains": "before"}));
    let path = format!("/api/projects/{}/members/{}", fx.project, fx.bob.user.id.0);
    api.delete(&path, Auth::Bearer(&fx.alice.token)).expect(204);
    let close = bob.expect_close(4403);
    assert!(close["reason"].as_str().is_some_and(|r| r.contains("revoked")), "{close}");
    // Whatever Bob's client does now reaches no one, and he cannot come back.
    let _ = bob.cmd(json!({"cmd": "add_cell", "cell_type": "raw", "source": "after", "cell_id": "after"}));
    let reply = bob.cmd(json!({"cmd": "connect", "timeout_ms": 5000}));
    assert_eq!(reply["http_status"], json!(403), "{reply}");
    carol.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "barrier", "cell_id": "barrier"}));
    alice.ok(json!({"cmd": "wait_for", "cell_id": "barrier", "contains": "barrier"}));
    assert_eq!(cell_ids(&alice.dump()), [ALICE_CELL, "before", "barrier"]);
    assert!(!fx.stored().read().cells.iter().any(|c| c.id.as_str() == "after"));
}

#[test]
fn lowering_a_role_makes_open_connections_read_only() {
    let fx = Fixture::new(Backend::Sqlite);
    let api = Api::new(&fx.server.http());
    let (mut alice, _carol) = start(&fx);
    let mut bob = fx.client(Kind::Python, "bob", &fx.bob);
    let path = format!("/api/projects/{}/members/{}", fx.project, fx.bob.user.id.0);
    api.patch_json(&path, Auth::Bearer(&fx.alice.token), &json!({"role": "viewer"})).expect(200);
    bob.expect_denied("read-only");
    bob.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "late", "cell_id": "late"}));
    bob.expect_denied("read-only access");
    // Still a reader: live edits keep arriving.
    alice.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "live", "cell_id": "live"}));
    bob.ok(json!({"cmd": "wait_for", "cell_id": "live", "contains": "live"}));
    assert_eq!(cell_ids(&alice.dump()), [ALICE_CELL, "live"]);
    // Made editor again, a fresh connection of Bob's edits.
    api.patch_json(&path, Auth::Bearer(&fx.alice.token), &json!({"role": "editor"})).expect(200);
    let mut bob = fx.client(Kind::Js, "bob-again", &fx.bob);
    bob.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "back", "cell_id": "back"}));
    alice.ok(json!({"cmd": "wait_for", "cell_id": "back", "contains": "back"}));
}

#[test]
fn mode_and_block_changes_reach_open_rooms_and_every_client() {
    let fx = Fixture::thread(Backend::Sqlite);
    let api = Api::new(&fx.server.http());
    let (mut alice, mut carol) = start(&fx);
    let mut bob = fx.client(Kind::Js, "bob", &fx.bob);
    assert_eq!(bob.dump()["talkbook"], json!({"mode": "thread", "others_may_run": false, "block": null}));
    bob.ok(json!({"cmd": "insert_text", "cell_id": ALICE_CELL, "index": 0, "text": "# bob\n"}));
    bob.expect_denied("belongs to alice");
    // The owner switches to pair mode: every client reads it, and Bob may now edit.
    let mode = format!("/api/notebooks/{}/mode", fx.notebook);
    api.put_json(&mode, Auth::Bearer(&fx.alice.token), &json!({"mode": "pair"})).expect(200);
    wait_dump(&mut carol, "pair mode", |d| d["talkbook"]["mode"] == "pair");
    let mut bob = fx.client(Kind::Js, "bob-pair", &fx.bob);
    bob.ok(json!({"cmd": "insert_text", "cell_id": ALICE_CELL, "index": 0, "text": "# pair\n"}));
    alice.ok(json!({"cmd": "wait_for", "cell_id": ALICE_CELL, "contains": "# pair"}));
    // Carol blocks the notebook: everyone sees who holds it, and only she may edit.
    let block = format!("/api/notebooks/{}/block", fx.notebook);
    api.post_empty(&block, Auth::Bearer(&fx.carol.token)).expect(200);
    let dump = wait_dump(&mut alice, "the block", |d| d["talkbook"]["block"]["holder_name"] == "carol");
    assert_eq!(dump["talkbook"]["block"]["holder"], json!(fx.carol.user.id.0));
    assert!(dump["talkbook"]["block"]["since"].is_string());
    alice.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "alice", "cell_id": "alice-2"}));
    alice.expect_denied("blocked by carol");
    carol.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "carol", "cell_id": "carol-cell"}));
    bob.ok(json!({"cmd": "wait_for", "cell_id": "carol-cell", "contains": "carol"}));
    assert!(!cell_ids(&bob.dump()).contains(&"alice-2".to_owned()));
    api.delete(&block, Auth::Bearer(&fx.carol.token)).expect(200);
    wait_dump(&mut bob, "no block", |d| d["talkbook"]["block"].is_null());
    let mut alice = fx.client(Kind::Js, "alice-again", &fx.alice);
    alice.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "free", "cell_id": "free"}));
    bob.ok(json!({"cmd": "wait_for", "cell_id": "free", "contains": "free"}));
}
