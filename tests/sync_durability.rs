//! Durability of the sync server: edits survive restarts and crashes, a long history loads
//! through a checkpoint, and clients reconnecting with old copies never duplicate content.
//! Each test runs on SQLite and on PostgreSQL.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::fixture::*;
use support::server::*;
use support::yclient::{Kind, YClient};

/// Asserts that a client's notebook has exactly `expected` cells, none of them twice.
fn assert_no_duplicates(dump: &Value, expected: usize, who: &str) {
    let ids = cell_ids(dump);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "{who}: duplicated cells {ids:?}");
    assert_eq!(dump["cell_count_raw"], json!(expected), "{who}: cells {ids:?}");
    assert_eq!(ids.len(), expected, "{who}: cells {ids:?}");
}

fn edits_survive_an_orderly_restart(backend: Backend) {
    let mut fx = Fixture::new(backend);
    let mut a = fx.client(Kind::Js, "a", &fx.alice);
    a.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": "kept = True", "cell_id": "kept"}));
    let mut b = fx.client(Kind::Python, "b", &fx.bob);
    b.ok(json!({"cmd": "wait_for", "cell_id": "kept", "contains": "kept = True"}));
    drop(a);
    drop(b);
    assert!(fx.server.stop().success(), "server did not exit cleanly on SIGTERM");
    fx.server.restart();
    let mut c = fx.client(Kind::Js, "c", &fx.bob);
    c.ok(json!({"cmd": "wait_for", "cell_id": "kept", "contains": "kept = True"}));
    assert_no_duplicates(&c.dump(), 1, "c");
}

#[test]
fn edits_survive_an_orderly_restart_on_sqlite() {
    edits_survive_an_orderly_restart(Backend::Sqlite);
}

#[test]
fn edits_survive_an_orderly_restart_on_postgres() {
    edits_survive_an_orderly_restart(Backend::Postgres);
}

/// Clients edit while the server is killed with SIGKILL; every update any client had
/// received from the server must be in the database afterwards.
fn everything_a_client_received_survives_a_crash(backend: Backend) {
    let mut fx = Fixture::new(backend);
    let names = ["a", "b", "c"];
    let mut clients: Vec<YClient> = names
        .iter()
        .zip([&fx.alice, &fx.bob, &fx.alice])
        .map(|(name, user)| {
            let mut c = fx.client(Kind::Js, name, user);
            c.ok(json!({"cmd": "set_reconnect", "enabled": false}));
            c
        })
        .collect();
    for (client, name) in clients.iter_mut().zip(names) {
        client.ok(
            json!({"cmd": "add_cell", "cell_type": "code", "source": "", "cell_id": format!("cell-{name}")}),
        );
    }
    // Each client types in its own thread; the server is killed while they do.
    let server_pid = fx.server.pid();
    let handles: Vec<_> = clients
        .into_iter()
        .zip(names)
        .map(|(mut client, name)| {
            std::thread::spawn(move || {
                for i in 0..300 {
                    let reply = client.cmd(json!({"cmd": "insert_text", "cell_id": format!("cell-{name}"), "index": 0, "text": format!("{name}{i} ")}));
                    if reply["ok"] != json!(true) {
                        break;
                    }
                }
                client
            })
        })
        .collect();
    // Kill once the clients have exchanged some edits through the server.
    let mut watcher = fx.client(Kind::Js, "watcher", &fx.bob);
    watcher.ok(json!({"cmd": "wait_for", "cell_id": "cell-c", "contains": "c20 "}));
    fx.server.kill();
    let clients: Vec<YClient> = handles.into_iter().map(|h| h.join().expect("client thread")).collect();
    assert!(!std::path::Path::new(&format!("/proc/{server_pid}")).exists(), "server still running");

    let stored = fx.stored();
    let before_state = stored.state_vector();
    let before = stored.read();
    let mut received_total = 0;
    for mut client in clients.into_iter().chain([watcher]) {
        let reply = client.ok(json!({"cmd": "received"}));
        for update in reply["updates"].as_array().expect("updates") {
            let bytes = STANDARD.decode(update.as_str().expect("base64")).expect("decode");
            stored.apply_update(&bytes).expect("apply received update");
            received_total += 1;
        }
        assert_eq!(
            stored.state_vector(),
            before_state,
            "{}: received an update the database does not have",
            client.name
        );
    }
    assert_eq!(stored.read(), before, "received updates changed the stored notebook");
    // Update events depend on how the server batched them; what is certain is that the
    // watcher saw c's twentieth edit, so it must be stored.
    assert!(received_total >= 4, "every client received something ({received_total} updates)");
    let cell_c = before.cells.iter().find(|c| c.id.as_str() == "cell-c").expect("cell-c stored");
    assert!(cell_c.source.contains("c20 "), "stored cell-c lacks an edit a client saw: {:?}", cell_c.source);

    // And the restarted server serves exactly what was stored.
    fx.server.restart();
    let mut fresh = fx.client(Kind::Js, "fresh", &fx.alice);
    assert_eq!(cells(&fresh.dump()), stored_cells(&stored));
}

#[test]
fn everything_a_client_received_survives_a_crash_on_sqlite() {
    everything_a_client_received_survives_a_crash(Backend::Sqlite);
}

#[test]
fn everything_a_client_received_survives_a_crash_on_postgres() {
    everything_a_client_received_survives_a_crash(Backend::Postgres);
}

/// A client holding an old copy reconnects after the room was evicted and the server
/// restarted (with or without a checkpoint on the way): no cell is duplicated or lost.
fn reconnecting_with_an_old_copy_never_duplicates(backend: Backend, crash: bool) {
    let mut fx = Fixture::with_env(backend, &[("TALKBOOK_ROOM_GRACE_SECONDS", "0")]);
    let mut old = fx.client(Kind::Js, "old", &fx.alice);
    old.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": "first", "cell_id": "first"}));
    old.ok(json!({"cmd": "add_cell", "cell_type": "markdown", "source": "second", "cell_id": "second"}));
    let mut other = fx.client(Kind::Python, "other", &fx.bob);
    other.ok(json!({"cmd": "wait_cells", "count": 2}));
    old.ok(json!({"cmd": "set_reconnect", "enabled": false}));
    old.ok(json!({"cmd": "disconnect"}));
    // While `old` is away: others edit, everyone leaves (the room is evicted), the server
    // goes down and comes back.
    other.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": "while away", "cell_id": "third"}));
    other.ok(json!({"cmd": "insert_text", "cell_id": "first", "index": 0, "text": "# edited\n"}));
    let mut check = fx.client(Kind::Js, "check", &fx.bob);
    check.ok(json!({"cmd": "wait_for", "cell_id": "first", "contains": "# edited"}));
    drop(check);
    drop(other);
    if crash {
        fx.server.kill();
    } else {
        assert!(fx.server.stop().success());
    }
    fx.server.restart();
    // The old copy also changed offline.
    old.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "offline", "cell_id": "offline"}));
    old.ok(json!({"cmd": "connect"}));
    old.ok(json!({"cmd": "wait_for", "cell_id": "first", "contains": "# edited"}));
    old.ok(json!({"cmd": "wait_cells", "count": 4}));
    let mut late = fx.client(Kind::Python, "late", &fx.bob);
    late.ok(json!({"cmd": "wait_cells", "count": 4}));
    let old_dump = old.dump();
    let late_dump = late.dump();
    assert_no_duplicates(&old_dump, 4, "old");
    assert_no_duplicates(&late_dump, 4, "late");
    assert_eq!(cells(&old_dump), cells(&late_dump));
    assert_eq!(cells(&late_dump), stored_cells(&fx.stored()));
}

#[test]
fn reconnecting_with_an_old_copy_after_restart_never_duplicates_on_sqlite() {
    reconnecting_with_an_old_copy_never_duplicates(Backend::Sqlite, false);
}

#[test]
fn reconnecting_with_an_old_copy_after_restart_never_duplicates_on_postgres() {
    reconnecting_with_an_old_copy_never_duplicates(Backend::Postgres, false);
}

#[test]
fn reconnecting_with_an_old_copy_after_a_crash_never_duplicates_on_sqlite() {
    reconnecting_with_an_old_copy_never_duplicates(Backend::Sqlite, true);
}

#[test]
fn reconnecting_with_an_old_copy_after_a_crash_never_duplicates_on_postgres() {
    reconnecting_with_an_old_copy_never_duplicates(Backend::Postgres, true);
}

/// A notebook with 100,000 updates in its log loads through a checkpoint: the first cold
/// load replays the log and writes one; later loads read it plus a short tail.
fn a_long_history_loads_through_a_checkpoint(backend: Backend) {
    const EDITS: usize = 100_000;
    let fx = Fixture::new(backend);
    let expected = fx.rt.block_on(async {
        let store = fx.db.store().await;
        let doc = sync_server::rooms::load(&store, fx.notebook).await.expect("load").doc;
        let cell = doc_model::Cell::code("").with_id(doc_model::CellId::new("typed"));
        let mut batch = vec![doc.edit(|ed| ed.push_cell(&cell)).expect("cell").1];
        for i in 0..EDITS - 1 {
            let ch = char::from(b'a' + (i % 26) as u8).to_string();
            batch.push(doc.edit(|ed| ed.insert_source(&cell.id, i as u32, &ch)).expect("edit").1);
            if batch.len() == 2000 {
                append(&store, fx.notebook, std::mem::take(&mut batch)).await;
            }
        }
        append(&store, fx.notebook, batch).await;
        let stored = store.load_document(fx.notebook).await.expect("load");
        assert!(stored.checkpoint.is_none());
        assert_eq!(stored.tail.len(), EDITS + 1, "the initial update plus every edit");
        doc.read()
    });
    // A client opening it makes the server load it cold and write a checkpoint.
    let mut a = fx.client(Kind::Js, "a", &fx.alice);
    a.ok(json!({"cmd": "wait_for", "cell_id": "typed", "contains": "xyzabc"}));
    assert_eq!(a.dump()["notebook"]["cells"][0]["source"], json!(expected.cells[0].source));
    a.ok(json!({"cmd": "insert_text", "cell_id": "typed", "index": 0, "text": "tail "}));
    let mut b = fx.client(Kind::Js, "b", &fx.bob);
    b.ok(json!({"cmd": "wait_for", "cell_id": "typed", "contains": "tail "}));
    fx.rt.block_on(async {
        let store = fx.db.store().await;
        let stored = store.load_document(fx.notebook).await.expect("load");
        let checkpoint = stored.checkpoint.as_ref().expect("a checkpoint was written");
        assert!(checkpoint.seq > EDITS as i64, "checkpoint at {} covers the history", checkpoint.seq);
        assert!(
            stored.tail.len() <= 2,
            "load read {} log entries instead of the short tail",
            stored.tail.len()
        );
        let loaded = sync_server::rooms::load(&store, fx.notebook).await.expect("load");
        assert_eq!(loaded.replayed, stored.tail.len());
        assert!(loaded.doc.read().cells[0].source.starts_with("tail "));
    });
}

/// A large notebook checkpoints while clients have it open, without holding their edits
/// up: the room rebuilds the state from storage beside it. The checkpoint holds the edits
/// made since the one before, and a cold load reads it alone.
fn a_large_open_notebook_checkpoints_from_storage(backend: Backend) {
    // A state over the room's 256 KiB limit for encoding checkpoints itself.
    const BIG: usize = 300_000;
    let fx = Fixture::with_env(backend, &[("TALKBOOK_CHECKPOINT_IDLE_SECONDS", "1")]);
    fx.rt.block_on(async {
        let store = fx.db.store().await;
        let doc = sync_server::rooms::load(&store, fx.notebook).await.expect("load").doc;
        let cell = doc_model::Cell::code("x".repeat(BIG)).with_id(doc_model::CellId::new("big"));
        let created = doc.edit(|ed| ed.push_cell(&cell)).expect("cell").1;
        append(&store, fx.notebook, vec![created]).await;
        let seq = store.last_seq(fx.notebook).await.expect("last seq");
        store.write_checkpoint(fx.notebook, seq, &doc.encode_state()).await.expect("checkpoint");
    });
    let mut a = fx.client(Kind::Js, "a", &fx.alice);
    a.ok(json!({"cmd": "wait_cells", "count": 1}));
    a.ok(json!({"cmd": "insert_text", "cell_id": "big", "index": 0, "text": "edited "}));
    let mut b = fx.client(Kind::Python, "b", &fx.bob);
    b.ok(json!({"cmd": "wait_for", "cell_id": "big", "contains": "edited x"}));

    // Checkpoints come a second after each quiet start; wait for one that covers the edit.
    let rebuilt = r#"talkbook_checkpoints_total{source="storage"}"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    fx.rt.block_on(async {
        let store = fx.db.store().await;
        let stored = loop {
            let stored = store.load_document(fx.notebook).await.expect("load");
            if stored.tail.is_empty() && fx.server.metric(rebuilt) >= Some(1) {
                break stored;
            }
            assert!(std::time::Instant::now() < deadline, "no checkpoint rebuilt from storage within 30 s");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(fx.server.metric(r#"talkbook_checkpoints_total{source="room"}"#), Some(0));
        let checkpoint = stored.checkpoint.expect("a checkpoint");
        assert_eq!(checkpoint.seq, store.last_seq(fx.notebook).await.expect("last seq"));
        let alone = doc_model::NotebookDoc::new();
        alone.apply_update(&checkpoint.state).expect("the checkpoint applies");
        let source = &alone.read().cells[0].source;
        assert_eq!(source.len(), "edited ".len() + BIG);
        assert!(source.starts_with("edited xxx"), "checkpoint holds {:?}…", &source[..20]);
    });
    assert_eq!(a.dump()["notebook"]["cells"][0]["source"], b.dump()["notebook"]["cells"][0]["source"]);
}

#[test]
fn a_large_open_notebook_checkpoints_from_storage_on_sqlite() {
    a_large_open_notebook_checkpoints_from_storage(Backend::Sqlite);
}

#[test]
fn a_large_open_notebook_checkpoints_from_storage_on_postgres() {
    a_large_open_notebook_checkpoints_from_storage(Backend::Postgres);
}

async fn append(
    store: &sync_server::store::DynStore,
    notebook: sync_server::store::NotebookId,
    batch: Vec<Vec<u8>>,
) {
    let updates: Vec<sync_server::store::NewUpdate> = batch
        .into_iter()
        .map(|data| sync_server::store::NewUpdate {
            notebook_id: notebook,
            user_id: None,
            client_ids: vec![],
            actor_id: None,
            at: chrono::Utc::now(),
            data,
        })
        .collect();
    store.append_updates(&updates).await.expect("append");
}

#[test]
fn a_long_history_loads_through_a_checkpoint_on_sqlite() {
    a_long_history_loads_through_a_checkpoint(Backend::Sqlite);
}

#[test]
fn a_long_history_loads_through_a_checkpoint_on_postgres() {
    a_long_history_loads_through_a_checkpoint(Backend::Postgres);
}

/// While the database is unreachable the room refuses edits and says why; nothing unsaved
/// reaches anyone; when the database returns the room recovers by itself and the refused
/// edits arrive after all.
#[test]
fn a_database_outage_pauses_edits_and_recovers_by_itself() {
    let fx = Fixture::new(Backend::Postgres);
    let mut a = fx.client(Kind::Js, "a", &fx.alice);
    let mut b = fx.client(Kind::Js, "b", &fx.bob);
    a.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": "", "cell_id": "c"}));
    b.ok(json!({"cmd": "wait_cells", "count": 1}));

    fx.rt.block_on(fx.db.set_reachable(false));
    a.ok(json!({"cmd": "insert_text", "cell_id": "c", "index": 0, "text": "during outage "}));
    let denial = wait_for_event(&mut a, "permission-denied");
    assert!(denial["reason"].as_str().unwrap_or_default().contains("database unavailable"), "{denial}");
    // The edit is not durable, so nobody else may have it.
    assert!(
        !b.dump()["notebook"]["cells"][0]["source"].as_str().unwrap_or_default().contains("during outage")
    );
    a.ok(json!({"cmd": "insert_text", "cell_id": "c", "index": 0, "text": "refused "}));

    fx.rt.block_on(fx.db.set_reachable(true));
    b.ok(json!({"cmd": "wait_for", "cell_id": "c", "contains": "during outage", "timeout_ms": 60000}));
    b.ok(json!({"cmd": "wait_for", "cell_id": "c", "contains": "refused ", "timeout_ms": 60000}));
    a.ok(json!({"cmd": "insert_text", "cell_id": "c", "index": 0, "text": "after "}));
    b.ok(json!({"cmd": "wait_for", "cell_id": "c", "contains": "after ", "timeout_ms": 60000}));
    let stored = fx.stored().read();
    assert_eq!(stored.cells[0].source, b.dump()["notebook"]["cells"][0]["source"].as_str().expect("source"));
}

/// Clients type without pause while the database goes away and comes back. Every edit
/// (those the room was writing when it went, those refused while it was gone, those after)
/// ends up stored exactly once, and everyone ends with the same notebook as the database.
#[test]
fn edits_streaming_through_an_outage_all_arrive_once() {
    const EDITS: usize = 300;
    let fx = Fixture::new(Backend::Postgres);
    let names = ["a", "b"];
    let mut clients: Vec<YClient> =
        names.iter().zip([&fx.alice, &fx.bob]).map(|(name, user)| fx.client(Kind::Js, name, user)).collect();
    for (client, name) in clients.iter_mut().zip(names) {
        client.ok(
            json!({"cmd": "add_cell", "cell_type": "code", "source": "", "cell_id": format!("cell-{name}")}),
        );
    }
    let mut watcher = fx.client(Kind::Js, "watcher", &fx.bob);
    watcher.ok(json!({"cmd": "wait_cells", "count": 2}));
    let typists: Vec<_> = clients
        .into_iter()
        .zip(names)
        .map(|(mut client, name)| {
            std::thread::spawn(move || {
                for i in 0..EDITS {
                    client.ok(json!({"cmd": "insert_text", "cell_id": format!("cell-{name}"), "index": 0, "text": format!("{name}{i} ")}));
                }
                client
            })
        })
        .collect();
    // The outage starts while edits stream through the room.
    watcher.ok(json!({"cmd": "wait_for", "cell_id": "cell-a", "contains": "a20 ", "timeout_ms": 60000}));
    fx.rt.block_on(fx.db.set_reachable(false));
    std::thread::sleep(std::time::Duration::from_millis(300));
    fx.rt.block_on(fx.db.set_reachable(true));
    let mut everyone: Vec<YClient> = typists.into_iter().map(|t| t.join().expect("typist")).collect();
    everyone.push(watcher);

    let last = EDITS - 1;
    for client in &mut everyone {
        for name in names {
            let contains = format!("{name}{last} ");
            client.ok(json!({"cmd": "wait_for", "cell_id": format!("cell-{name}"), "contains": contains, "timeout_ms": 60000}));
        }
    }
    let stored = fx.stored();
    for name in names {
        let cell = stored.read().cells.into_iter().find(|c| c.id.as_str() == format!("cell-{name}"));
        let source = cell.expect("cell stored").source;
        let expected: Vec<String> = (0..EDITS).rev().map(|i| format!("{name}{i}")).collect();
        assert_eq!(source.split_whitespace().collect::<Vec<_>>(), expected, "cell-{name} as stored");
    }
    for mut client in everyone {
        assert_eq!(cells(&client.dump()), stored_cells(&stored), "{} differs from the database", client.name);
    }
}

fn wait_for_event(client: &mut YClient, kind: &str) -> Value {
    for _ in 0..1200 {
        if let Some(e) = client.events().into_iter().find(|e| e["type"] == kind) {
            return e;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{}: no {kind} event", client.name);
}

/// An update appended to the log by someone other than the room (the notebook's creation
/// racing with its first connection, or another server node) reaches the room's clients
/// and the next checkpoint, instead of being hidden by it.
fn updates_written_elsewhere_reach_the_room(backend: Backend) {
    let fx = Fixture::with_env(backend, &[("TALKBOOK_CHECKPOINT_EVERY", "1")]);
    let mut a = fx.client(Kind::Js, "a", &fx.alice);
    a.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": "mine", "cell_id": "mine"}));
    fx.rt.block_on(async {
        let store = fx.db.store().await;
        let doc = sync_server::rooms::load(&store, fx.notebook).await.expect("load").doc;
        let (_, update) = doc
            .edit(|ed| {
                ed.push_cell(
                    &doc_model::Cell::markdown("from elsewhere").with_id(doc_model::CellId::new("elsewhere")),
                )
            })
            .expect("edit");
        append(&store, fx.notebook, vec![update]).await;
    });
    // The room learns of the gap with its next commit.
    a.ok(json!({"cmd": "insert_text", "cell_id": "mine", "index": 0, "text": "# "}));
    a.ok(json!({"cmd": "wait_cells", "count": 2}));
    let mut b = fx.client(Kind::Python, "b", &fx.bob);
    b.ok(json!({"cmd": "wait_for", "cell_id": "elsewhere", "contains": "from elsewhere"}));
    fx.rt.block_on(async {
        let store = fx.db.store().await;
        let stored = store.load_document(fx.notebook).await.expect("load");
        let checkpoint = stored.checkpoint.expect("checkpoint");
        let doc = doc_model::NotebookDoc::from_update(&checkpoint.state).expect("checkpoint decodes");
        let ids: Vec<String> = doc.read().cells.iter().map(|c| c.id.to_string()).collect();
        assert!(
            ids.contains(&"elsewhere".to_owned()),
            "checkpoint at {} lacks the cell written elsewhere: {ids:?}",
            checkpoint.seq
        );
    });
}

#[test]
fn updates_written_elsewhere_reach_the_room_on_sqlite() {
    updates_written_elsewhere_reach_the_room(Backend::Sqlite);
}

#[test]
fn updates_written_elsewhere_reach_the_room_on_postgres() {
    updates_written_elsewhere_reach_the_room(Backend::Postgres);
}
