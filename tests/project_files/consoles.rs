//! A console opened on a project file holds it: a `console` block that leaves the file to
//! the console's owner until the console closes, its kernel dies or its server is gone.

use sync_server::store::{BlockReason, FileBlock, FilePath};

use super::*;

/// The block a console holding a file gives it: alice's, reason `console`, with a time.
fn assert_console_block(block: &Value, holder: &TestUser) {
    let keys: Vec<&String> =
        block.as_object().unwrap_or_else(|| panic!("no block: {block}")).keys().collect();
    assert_eq!(keys, ["holder", "reason", "since"], "{block}");
    assert_eq!((&block["holder"], &block["reason"]), (&user_ref(holder), &json!("console")), "{block}");
    let since = block["since"].as_str().unwrap_or_else(|| panic!("no time: {block}"));
    assert!(chrono::DateTime::parse_from_rfc3339(since).is_ok(), "{block}");
}

/// A file's block as the database holds it, read while no server runs.
fn stored_block(px: &Px, path: &str) -> Option<FileBlock> {
    let path = FilePath::parse(path).expect("a file path");
    let entry = px.fx.rt.block_on(async {
        let store = px.fx.db.store().await;
        store.file_entry(px.fx.project, &path).await
    });
    entry.expect("read the entry").unwrap_or_else(|| panic!("{path} is not stored")).block
}

fn a_console_leaves_its_file_to_its_owner_until_it_closes(backend: Backend) {
    let px = Px::new(backend);
    let (alice, bob, carol) = (&px.fx.alice, &px.fx.bob, &px.fx.carol);
    let v1 = b"print('version 1')\n";
    px.put(alice, "analysis.py", v1).expect(201);
    px.put(bob, "bob.py", b"print('bob')\n").expect(201);
    assert_eq!(px.block("analysis.py"), Value::Null);

    let console = px.open_console(alice, Some("analysis.py"));
    assert_eq!((&console["path"], &console["owner"]), (&json!("analysis.py"), &json!(alice.user.id.0)));
    let block = px.block("analysis.py");
    assert_console_block(&block, alice);

    // Bob's upload, renames (of it and onto it) and delete are refused, naming alice.
    let refused = px.put(bob, "analysis.py", b"print('bob was here')\n");
    assert_blocked(refused.status, &refused.body, "analysis.py", alice, &block);
    for (from, to) in [("analysis.py", "renamed.py"), ("bob.py", "analysis.py")] {
        let reply = px.move_file(bob, from, to);
        assert_blocked(reply.status, &reply.json(), "analysis.py", alice, &block);
    }
    let reply = px.delete_file(bob, "analysis.py");
    assert_blocked(reply.status, &reply.json(), "analysis.py", alice, &block);
    assert_eq!(px.content("analysis.py"), v1);
    assert_eq!(px.entry("analysis.py")["updated_by"], user_ref(alice));
    assert!(!px.exists("renamed.py"), "the refused move made renamed.py");
    assert_eq!(px.content("bob.py"), b"print('bob')\n", "the refused move took bob.py");
    // Nor may bob open a console on it.
    let reply = px.open_console_reply(bob, Some("analysis.py"));
    reply.expect(409);
    assert_eq!(reply.json()["error"]["code"], "held_by_console");
    assert!(reply.json()["error"]["message"].as_str().is_some_and(|m| m.contains("analysis.py")));
    assert_eq!(px.console_ids(bob), Vec::<Value>::new());

    // Alice writes it; the block stays as it was.
    let v2 = b"print('version 2')\n";
    let written = px.put(alice, "analysis.py", v2);
    assert_eq!(written.expect(200)["block"], block);
    assert_eq!(px.content("analysis.py"), v2);
    // Nobody lifts a console's block by hand: not alice, not the owner (also alice here).
    let reply = px.unblock(alice, "analysis.py");
    reply.expect(409);
    assert_eq!(reply.json()["error"]["code"], "held_by_console");
    assert_eq!(px.block("analysis.py"), block);

    // Running the file runs what the project holds now.
    let events = px.listen(alice, &console);
    let run = px.run_file(alice, &console);
    assert_eq!(stdout_only(&console_outputs(&events.run(run))), "version 2\n");
    px.put(alice, "analysis.py", b"print('version', 3)\nx = 3\n").expect(200);
    let run = px.run_file(alice, &console);
    assert_eq!(stdout_only(&console_outputs(&events.run(run))), "version 3\n");
    let run = px.execute(alice, &console, "print(x * 14)");
    assert_eq!(stdout_only(&console_outputs(&events.run(run))), "42\n", "run-file runs in the namespace");
    // The default console holds no file to run.
    let default = px.open_console(alice, None);
    let reply =
        px.api.post_empty(&format!("/api/consoles/{}/run-file", id_of(&default)), Auth::Bearer(&alice.token));
    reply.expect(409);
    assert_eq!(reply.json()["error"]["code"], "no_file");

    // A file carol blocks by hand is not alice's to hold: 423 naming carol, no console.
    px.put(carol, "carol.py", b"print('carol')\n").expect(201);
    let carols = px.block_by_hand(carol, "carol.py");
    let reply = px.open_console_reply(alice, Some("carol.py"));
    assert_blocked(reply.status, &reply.json(), "carol.py", carol, &carols);
    assert_eq!(px.console_ids(alice), [console["id"].clone(), default["id"].clone()]);
    assert_eq!(px.block("carol.py"), carols);

    // Alice closes the console: the file is free, and bob's changes go through.
    px.close_console(alice, &console);
    assert_eq!(px.block("analysis.py"), Value::Null);
    let bobs = b"print('bob was here')\n";
    let written = px.put(bob, "analysis.py", bobs);
    assert_eq!(written.expect(200)["updated_by"], user_ref(bob));
    assert_eq!(px.content("analysis.py"), bobs);
    px.move_file(bob, "analysis.py", "renamed.py").expect(200);
    let bob_console = px.open_console(bob, Some("renamed.py"));
    assert_console_block(&px.block("renamed.py"), bob);
    px.close_console(bob, &bob_console);
    px.delete_file(bob, "renamed.py").expect(204);
    assert!(!px.exists("renamed.py"));
}

#[test]
fn a_console_leaves_its_file_to_its_owner_until_it_closes_on_sqlite() {
    a_console_leaves_its_file_to_its_owner_until_it_closes(Backend::Sqlite);
}

#[test]
fn a_console_leaves_its_file_to_its_owner_until_it_closes_on_postgres() {
    a_console_leaves_its_file_to_its_owner_until_it_closes(Backend::Postgres);
}

fn a_console_whose_kernel_dies_lets_go_of_its_file(backend: Backend) {
    let px = Px::new(backend);
    let (alice, bob) = (&px.fx.alice, &px.fx.bob);
    px.put(alice, "analysis.py", b"print('analysis')\n").expect(201);
    let console = px.open_console(alice, Some("analysis.py"));
    let block = px.block("analysis.py");
    assert_console_block(&block, alice);
    let refused = px.put(bob, "analysis.py", b"bob's");
    assert_blocked(refused.status, &refused.body, "analysis.py", alice, &block);

    px.execute(alice, &console, "import os; os._exit(1)");
    eventually("the block of the console whose kernel died goes", || {
        (px.block("analysis.py") == Value::Null).then_some(())
    });
    assert_eq!(px.console_ids(alice), Vec::<Value>::new(), "the console is still open");
    let written = px.put(bob, "analysis.py", b"bob's");
    assert_eq!(written.expect(200)["updated_by"], user_ref(bob));
    assert_eq!(px.content("analysis.py"), b"bob's");
}

#[test]
fn a_console_whose_kernel_dies_lets_go_of_its_file_on_sqlite() {
    a_console_whose_kernel_dies_lets_go_of_its_file(Backend::Sqlite);
}

#[test]
fn a_console_whose_kernel_dies_lets_go_of_its_file_on_postgres() {
    a_console_whose_kernel_dies_lets_go_of_its_file(Backend::Postgres);
}

fn the_blocks_of_consoles_do_not_outlive_their_server(backend: Backend) {
    let mut px = Px::new(backend);
    let (alice, bob) = (px.fx.alice.clone(), px.fx.bob.clone());
    px.put(&alice, "analysis.py", b"print('analysis')\n").expect(201);
    px.put(&alice, "notes.txt", b"notes").expect(201);
    let console = px.open_console(&alice, Some("analysis.py"));
    assert_console_block(&px.block("analysis.py"), &alice);
    // A block by hand is no console's: it survives the server.
    let manual = px.block_by_hand(&bob, "notes.txt");

    // Killed outright (no shutdown at all): the next server releases the console's block
    // as it starts. Its kernel died with it.
    px.fx.server.kill();
    let pid = console["kernel"]["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    let pid = pid.unwrap_or_else(|| panic!("no kernel pid: {console}"));
    eventually("the killed server's kernel process ends", || process_gone(pid).then_some(()));
    let left = stored_block(&px, "analysis.py").expect("the killed server left the block in the database");
    assert_eq!((left.holder, left.reason), (alice.user.id, BlockReason::Console));
    px.fx.server.restart();
    assert_eq!(px.block("analysis.py"), Value::Null);
    assert_eq!(px.console_ids(&alice), Vec::<Value>::new());
    assert_eq!(px.block("notes.txt"), manual);
    px.put(&bob, "analysis.py", b"bob's").expect(200);
    let refused = px.put(&alice, "notes.txt", b"alice's");
    assert_blocked(refused.status, &refused.body, "notes.txt", &bob, &manual);

    // Stopped in order: the server closes the console as it stops, so nothing is left
    // blocked even before the next start.
    px.open_console(&alice, Some("analysis.py"));
    assert_console_block(&px.block("analysis.py"), &alice);
    let status = px.fx.server.stop();
    assert!(status.success(), "the server exited with {status}");
    assert_eq!(stored_block(&px, "analysis.py"), None, "the stopped server left the console's block");
    px.fx.server.restart();
    assert_eq!(px.block("analysis.py"), Value::Null);
    assert_eq!(px.block("notes.txt"), manual);
}

#[test]
fn the_blocks_of_consoles_do_not_outlive_their_server_on_sqlite() {
    the_blocks_of_consoles_do_not_outlive_their_server(Backend::Sqlite);
}

#[test]
fn the_blocks_of_consoles_do_not_outlive_their_server_on_postgres() {
    the_blocks_of_consoles_do_not_outlive_their_server(Backend::Postgres);
}
