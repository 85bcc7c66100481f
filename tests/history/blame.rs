//! Blame: who typed which characters of a cell, and restore attributed to the restorer.

use super::*;

#[test]
fn blame_shows_each_users_runs_and_a_restore_belongs_to_the_restorer_on_sqlite() {
    blame_shows_each_users_runs_and_a_restore_belongs_to_the_restorer(Backend::Sqlite);
}

#[test]
fn blame_shows_each_users_runs_and_a_restore_belongs_to_the_restorer_on_postgres() {
    blame_shows_each_users_runs_and_a_restore_belongs_to_the_restorer(Backend::Postgres);
}

/// Alice types "hello"; Bob (pair mode) types " world!" in the middle of it; Alice deletes
/// one of Bob's characters. Blame shows exactly those runs with their users and times, and
/// the line view agrees. Carol then restores the moment before Alice's deletion: the
/// character that comes back is Carol's, everything else keeps its author, and the history
/// before the restore is all still there.
fn blame_shows_each_users_runs_and_a_restore_belongs_to_the_restorer(backend: Backend) {
    let h = Historic::new(backend, NotebookMode::Pair);
    let (alice, bob, carol) = (&h.fx.alice, &h.fx.bob, &h.fx.carol);
    let mut a = h.client("alice", alice);
    let mut b = h.client("bob", bob);

    let typed_hello = h.at("2027-03-01T09:00:00Z");
    a.ok(json!({"cmd": "add_cell", "cell_id": "c1", "cell_type": "code", "source": ""}));
    type_text(&mut a, "c1", 0, "hello");
    h.settled("c1", "hello");

    let typed_world = h.at("2027-03-01T09:05:00Z");
    b.ok(json!({"cmd": "wait_for", "cell_id": "c1", "contains": "hello"}));
    type_text(&mut b, "c1", 2, " world!");
    h.settled("c1", "he world!llo");

    let deleted_at = h.at("2027-03-01T09:10:00Z");
    a.ok(json!({"cmd": "wait_for", "cell_id": "c1", "contains": "he world!llo"}));
    a.ok(json!({"cmd": "delete_text", "cell_id": "c1", "index": 4, "length": 1}));
    h.settled("c1", "he wrld!llo");

    let blame = h.blame("c1", "");
    assert_eq!(blame["source"], "he wrld!llo");
    let runs: Vec<(&str, &str)> = blame["runs"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["text"].as_str().expect("string"), login(&r["user"])))
        .collect();
    assert_eq!(runs, vec![("he", "alice"), (" wrld!", "bob"), ("llo", "alice")], "{blame}");
    let ms = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for run in blame["runs"].as_array().expect("array") {
        let expected = if login(&run["user"]) == "bob" { typed_world } else { typed_hello };
        assert_eq!(run["first_at"], ms(expected), "{run}");
        assert_eq!(run["last_at"], ms(expected), "{run}");
    }
    assert_eq!(
        (blame["runs"][1]["start"].as_u64(), blame["runs"][1]["end"].as_u64()),
        (Some(2), Some(8)),
        "bob's run covers characters 2..8"
    );
    let deletions = blame["deletions"].as_array().expect("array");
    assert_eq!(deletions.len(), 1, "{blame}");
    assert_eq!(deletions[0]["offset"], 4);
    assert_eq!(deletions[0]["length"], 1);
    assert_eq!(login(&deletions[0]["author"]), "bob");
    assert_eq!(login(&deletions[0]["deleted_by"]), "alice");
    assert_eq!(deletions[0]["deleted_at"], ms(deleted_at));
    // One line: Bob wrote 6 of its characters, Alice 5; both touched it.
    let lines = blame["lines"].as_array().expect("array");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["text"], "he wrld!llo");
    assert_eq!(login(&lines[0]["author"]), "bob");
    let touched: Vec<&str> = lines[0]["touched_by"].as_array().expect("array").iter().map(login).collect();
    assert_eq!(touched, vec!["alice", "bob"]);
    assert_eq!(lines[0]["last_at"], ms(deleted_at), "the deletion is the line's last change");

    // Blame of the past: before the deletion, Bob's run is whole.
    let before = h.blame("c1", "?at=2027-03-01T09:07:00Z");
    assert_eq!(before["source"], "he world!llo");
    assert_eq!(before["runs"][1]["text"], " world!");

    let history_before = h.timeline("?limit=1000")["events"].as_array().expect("array").clone();
    h.at("2027-03-01T10:00:00Z");
    let restored = h.api.post_json(
        &format!("{}/restore", h.nb()),
        Auth::Bearer(&carol.token),
        &json!({"at": "2027-03-01T09:07:00Z"}),
    );
    restored.expect(200);
    assert_eq!(restored.json()["summary"]["changed"], json!(["c1"]), "{}", restored.json());
    h.settled("c1", "he world!llo");
    a.ok(json!({"cmd": "wait_for", "cell_id": "c1", "contains": "he world!llo"}));

    let blame = h.blame("c1", "");
    let runs: Vec<(&str, &str)> = blame["runs"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["text"].as_str().expect("string"), login(&r["user"])))
        .collect();
    assert_eq!(
        runs,
        vec![("he", "alice"), (" w", "bob"), ("o", "carol"), ("rld!", "bob"), ("llo", "alice")],
        "{blame}"
    );

    // The history keeps everything before the restore, and adds the restore as Carol's.
    let after = h.timeline("?limit=1000")["events"].as_array().expect("array").clone();
    assert_eq!(&after[..history_before.len()], &history_before[..], "earlier events are unchanged");
    let new: Vec<&Value> = after[history_before.len()..].iter().collect();
    assert!(
        new.iter().any(|e| e["kind"] == "source_edited"
            && login(&e["user"]) == "carol"
            && e["detail"]["server_edit"] == true),
        "the restore shows as carol's edit: {new:?}"
    );
    // The notebook as it was before the restore can still be seen.
    let at_deletion = h.export(alice, "?at=2027-03-01T09:30:00Z");
    assert_eq!(cell_source(&at_deletion, "c1").as_deref(), Some("he wrld!llo"));

    // Moving a cell re-creates it (as Jupyter's clients do), yet blame still names who
    // typed each character, not who moved the cell.
    let before_move = h.blame("c1", "")["runs"].clone();
    h.at("2027-03-01T11:00:00Z");
    b.ok(json!({"cmd": "wait_for", "cell_id": "c1", "contains": "he world!llo"}));
    b.ok(json!({"cmd": "add_cell", "cell_id": "c2", "cell_type": "markdown", "source": "notes"}));
    h.settled("c2", "notes");
    b.ok(json!({"cmd": "move_cell", "cell_id": "c1", "index": 1}));
    let deadline = Instant::now() + PATIENCE;
    while h.export(alice, "")["cells"][1]["id"] != "c1" {
        assert!(Instant::now() < deadline, "the move never arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    let moved = h.timeline("?cell=c1&limit=1000")["events"].as_array().expect("array").clone();
    assert!(moved.iter().any(|e| e["kind"] == "cell_moved" && login(&e["user"]) == "bob"), "{moved:?}");
    assert_eq!(h.blame("c1", "")["runs"], before_move, "blame is the same after the move");
}

#[test]
fn thread_mode_restore_changes_only_the_callers_cells() {
    let h = Historic::new(Backend::Sqlite, NotebookMode::Thread);
    let (alice, bob) = (&h.fx.alice, &h.fx.bob);
    let mut a = h.client("alice", alice);
    let mut b = h.client("bob", bob);
    h.at("2027-03-01T09:00:00Z");
    a.ok(json!({"cmd": "add_cell", "cell_id": "a1", "cell_type": "code", "source": "a = 1"}));
    b.ok(json!({"cmd": "wait_cells", "count": 1}));
    b.ok(json!({"cmd": "add_cell", "cell_id": "b1", "cell_type": "code", "source": "b = 1"}));
    h.settled("b1", "b = 1");
    h.at("2027-03-01T11:00:00Z");
    a.ok(json!({"cmd": "insert_text", "cell_id": "a1", "index": 5, "text": "0"}));
    b.ok(json!({"cmd": "insert_text", "cell_id": "b1", "index": 5, "text": "0"}));
    h.settled("a1", "a = 10");
    h.settled("b1", "b = 10");

    let restored = h.api.post_json(
        &format!("{}/restore", h.nb()),
        Auth::Bearer(&bob.token),
        &json!({"at": "2027-03-01T10:00:00Z"}),
    );
    restored.expect(200);
    let summary = &restored.json()["summary"];
    assert_eq!(summary["changed"], json!(["b1"]), "{summary}");
    assert_eq!(summary["skipped"], json!(["a1"]), "{summary}");
    h.settled("b1", "b = 1");
    let now = h.export(alice, "");
    assert_eq!(cell_source(&now, "a1").as_deref(), Some("a = 10"), "alice's cell is not bob's to restore");

    // The owner restores everything.
    let restored = h.api.post_json(
        &format!("{}/restore", h.nb()),
        Auth::Bearer(&alice.token),
        &json!({"at": "2027-03-01T10:00:00Z"}),
    );
    restored.expect(200);
    h.settled("a1", "a = 1");
    // Bad points are refused with a clear error and change nothing.
    let early = h.api.post_json(
        &format!("{}/restore", h.nb()),
        Auth::Bearer(&alice.token),
        &json!({"at": "2020-01-01T00:00:00Z"}),
    );
    early.expect(422);
    assert_eq!(early.json()["error"]["code"], "out_of_range");
    let both = h.api.post_json(
        &format!("{}/restore", h.nb()),
        Auth::Bearer(&alice.token),
        &json!({"seq": 1, "at": "2027-03-01T10:00:00Z"}),
    );
    both.expect(400);
    let viewer =
        h.api.post_json(&format!("{}/restore", h.nb()), Auth::Bearer(&h.fx.vera.token), &json!({"seq": 1}));
    viewer.expect(403);
    h.settled("a1", "a = 1");
}
