//! Per-user undo: only the caller's own change goes, even while someone else types in the
//! same cell.

use super::*;

#[test]
fn undo_reverts_only_the_callers_change_on_sqlite() {
    undo_reverts_only_the_callers_change(Backend::Sqlite);
}

#[test]
fn undo_reverts_only_the_callers_change_on_postgres() {
    undo_reverts_only_the_callers_change(Backend::Postgres);
}

fn undo_reverts_only_the_callers_change(backend: Backend) {
    let h = Historic::new(backend, NotebookMode::Pair);
    let (alice, bob) = (&h.fx.alice, &h.fx.bob);
    let mut a = h.client("alice", alice);
    let mut b = h.client("bob", bob);
    h.at("2027-03-01T09:00:00Z");
    a.ok(json!({"cmd": "add_cell", "cell_id": "c", "cell_type": "code", "source": "x = 1\n"}));
    h.settled("c", "x = 1\n");
    h.at("2027-03-01T09:10:00Z");
    b.ok(json!({"cmd": "wait_for", "cell_id": "c", "contains": "x = 1"}));
    type_text(&mut b, "c", 6, "y = 2\n");
    h.settled("c", "x = 1\ny = 2\n");
    // Alice's last change: she edits her line and deletes a character of Bob's.
    h.at("2027-03-01T09:20:00Z");
    a.ok(json!({"cmd": "wait_for", "cell_id": "c", "contains": "y = 2"}));
    type_text(&mut a, "c", 5, "00");
    a.ok(json!({"cmd": "delete_text", "cell_id": "c", "index": 12, "length": 1}));
    h.settled("c", "x = 100\ny = \n");

    // Bob adds a line to the same cell while Alice's undo runs (one update).
    h.at("2027-03-01T09:30:00Z");
    b.ok(json!({"cmd": "wait_for", "cell_id": "c", "contains": "x = 100"}));
    let api = Api::new(&h.fx.server.http());
    let path = format!("{}/undo", h.nb());
    let token = alice.token.clone();
    let undo = std::thread::spawn(move || api.post_empty(&path, Auth::Bearer(&token)));
    // At the start of the cell: an index that is right whether or not the undo has
    // reached Bob yet.
    b.ok(json!({"cmd": "insert_text", "cell_id": "c", "index": 0, "text": "z = 3\n"}));
    let reply = undo.join().expect("undo thread");
    reply.expect(200);
    let undone = reply.json();
    assert_eq!(undone["kind"], "source_edited", "{undone}");
    assert_eq!(undone["cell_id"], "c");
    assert_eq!(undone["result"]["removed"], 2, "alice's two characters: {undone}");
    assert_eq!(undone["result"]["restored"], 1, "bob's character she deleted: {undone}");
    // Alice's edit is gone, Bob's character is back, and Bob's new line is there.
    h.settled("c", "z = 3\nx = 1\ny = 2\n");
    b.ok(json!({"cmd": "wait_for", "cell_id": "c", "contains": "z = 3\nx = 1\ny = 2"}));

    // Bob's blame keeps his text; the character brought back is Alice's undo (hers).
    let blame = h.blame("c", "");
    let runs: Vec<(&str, &str)> = blame["runs"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["text"].as_str().expect("string"), login(&r["user"])))
        .collect();
    assert_eq!(
        runs,
        vec![("z = 3\n", "bob"), ("x = 1\n", "alice"), ("y = ", "bob"), ("2", "alice"), ("\n", "bob")],
        "{blame}"
    );

    // Undo again steps further back: Alice's creation of the cell, which takes Bob's text
    // with it only because it lives in her cell (a deleted cell's content goes with it).
    let again = h.api.post_empty(&format!("{}/undo", h.nb()), Auth::Bearer(&alice.token));
    again.expect(200);
    assert_eq!(again.json()["kind"], "cell_created", "{}", again.json());
    // Bob has nothing to undo but his typing; a viewer may not undo at all.
    let viewer = h.api.post_empty(&format!("{}/undo", h.nb()), Auth::Bearer(&h.fx.vera.token));
    viewer.expect(403);
    let carol = h.api.post_empty(&format!("{}/undo", h.nb()), Auth::Bearer(&h.fx.carol.token));
    carol.expect(409);
    assert_eq!(carol.json()["error"]["code"], "nothing_to_undo");
}
