//! Execution records (who ran what, when, with which source and result) and kernelspecs
//! other than Python's.

use super::*;

// --- Execution records.

fn execution_records_say_who_ran_what(backend: Backend) {
    let kx = Kx::new(backend, NotebookMode::Thread);
    let nb = kx.fx.notebook;
    let (alice, bob) = (&kx.fx.alice, &kx.fx.bob);
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    let mut bob_client = kx.client(Kind::Python, "bob", bob, nb);
    kx.add_code(&mut alice_client, nb, "a", "print('first')");
    kx.add_code(&mut bob_client, nb, "b", "print('bob')");
    kx.add_code(&mut alice_client, nb, "stdin", "input('name? ')");
    alice_client
        .ok(json!({"cmd": "add_cell", "cell_type": "markdown", "source": "# notes", "cell_id": "md"}));
    kx.wait_source(nb, "md", "# notes");

    let r1 = kx.run_to_end(alice, nb, "a");
    // The record keeps the source as it ran, not as it is now.
    alice_client.ok(json!({"cmd": "delete_text", "cell_id": "a", "index": 7, "length": 5}));
    alice_client.ok(json!({"cmd": "insert_text", "cell_id": "a", "index": 7, "text": "second"}));
    kx.wait_source(nb, "a", "print('second')");
    let r2 = kx.run_to_end(alice, nb, "a");
    let r3 = kx.run_to_end(bob, nb, "b");
    let r4 = kx.run_to_end(alice, nb, "stdin");
    assert_eq!(kx.outputs(nb, "a"), json!([stream("stdout", "second\n")]));

    // input() cannot wait for an answer: it fails at once, saying why.
    assert_eq!(r4["status"], "error", "{r4}");
    let outputs = kx.outputs(nb, "stdin");
    let outputs = outputs.as_array().expect("outputs");
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_eq!(
        (&outputs[0]["output_type"], &outputs[0]["ename"]),
        (&json!("error"), &json!("StdinNotImplementedError"))
    );
    let evalue = outputs[0]["evalue"].as_str().expect("evalue");
    assert!(evalue.contains("input requests"), "{evalue}");
    assert_eq!(r4["error"], format!("StdinNotImplementedError: {evalue}"));

    // Refused runs leave no record.
    let reply = kx.run_reply(alice, nb, "no-such-cell");
    reply.expect(404);
    let reply = kx.run_reply(alice, nb, "md");
    reply.expect(422);
    assert_eq!(error_body(&reply).0, "not_a_code_cell");

    let all = kx.executions(alice, nb, "");
    let ids = |records: &[Value]| records.iter().map(|r| r["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&all), [&r4, &r3, &r2, &r1].map(|r| r["id"].clone()), "newest first");
    let expected = [
        (&r1, "a", alice, "print('first')", "ok", 1),
        (&r2, "a", alice, "print('second')", "ok", 2),
        (&r3, "b", bob, "print('bob')", "ok", 1),
        (&r4, "stdin", alice, "input('name? ')", "error", 3),
    ];
    let kernel_of = |user: &TestUser| kx.only_kernel(user)["id"].clone();
    for (record, cell, user, source, status, count) in expected {
        let listed = all.iter().find(|r| r["id"] == record["id"]).expect("listed");
        assert_eq!(listed, record, "the listing and the record differ");
        assert_eq!(listed["notebook_id"], json!(nb.0), "{listed}");
        assert_eq!(listed["cell_id"], cell, "{listed}");
        assert_eq!(listed["user_id"], json!(user.user.id.0), "{listed}");
        assert_eq!(listed["kernel_id"], kernel_of(user), "{listed}");
        assert_eq!(listed["kernelspec"], "python3", "{listed}");
        assert_eq!(listed["source"], source, "{listed}");
        assert_eq!(listed["status"], status, "{listed}");
        assert_eq!(listed["execution_count"], count, "{listed}");
        if status == "ok" {
            assert_eq!(listed["error"], Value::Null, "{listed}");
        }
        let (queued, started, ended) =
            (time_of(listed, "queued_at"), time_of(listed, "started_at"), time_of(listed, "ended_at"));
        assert!(queued <= started && started <= ended, "{listed}");
    }
    assert!(time_of(&r1, "ended_at") <= time_of(&r2, "started_at"));

    let alice_id = alice.user.id.0;
    let bob_id = bob.user.id.0;
    assert_eq!(
        ids(&kx.executions(alice, nb, &format!("user={alice_id}"))),
        [&r4, &r2, &r1].map(|r| r["id"].clone())
    );
    assert_eq!(ids(&kx.executions(alice, nb, &format!("user={bob_id}"))), [r3["id"].clone()]);
    assert_eq!(ids(&kx.executions(alice, nb, "cell=a")), [&r2, &r1].map(|r| r["id"].clone()));
    assert_eq!(ids(&kx.executions(bob, nb, &format!("cell=a&user={bob_id}"))), Vec::<Value>::new());
    assert_eq!(ids(&kx.executions(alice, nb, "limit=1")), [r4["id"].clone()]);
    assert_eq!(ids(&kx.executions(alice, nb, &format!("before={}", r2["id"]))), [r1["id"].clone()]);
    // Reviewers (viewers) read them too.
    assert_eq!(ids(&kx.executions(&kx.fx.vera, nb, "")), ids(&all));

    // The history names who ran each cell as the author of its outputs.
    let history =
        kx.api.get(&format!("/api/notebooks/{nb}/history?limit=1000"), Auth::Bearer(&kx.fx.vera.token));
    history.expect(200);
    let runs_of = |cell: &str| -> Vec<String> {
        history.json()["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["kind"] == "outputs_changed" && e["cell_id"] == cell)
            .map(|e| e["user"]["name"].as_str().unwrap_or("(server)").to_owned())
            .collect()
    };
    let (by_alice, by_bob) = (runs_of("a"), runs_of("b"));
    assert!(!by_alice.is_empty() && by_alice.iter().all(|u| u == "alice"), "{by_alice:?}");
    assert_eq!(by_bob, ["bob"], "{}", history.json());
}

#[test]
fn execution_records_say_who_ran_what_on_sqlite() {
    execution_records_say_who_ran_what(Backend::Sqlite);
}

#[test]
fn execution_records_say_who_ran_what_on_postgres() {
    execution_records_say_who_ran_what(Backend::Postgres);
}

// --- Other kernelspecs.

#[test]
fn a_notebook_with_the_bash_kernelspec_runs_in_bash() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Thread);
    let alice = &kx.fx.alice;
    let reply = kx.api.get("/api/kernelspecs", Auth::Bearer(&alice.token));
    reply.expect(200);
    let specs = reply.json();
    assert_eq!(specs["default"], "python3", "{specs}");
    let by_name = |name: &str| {
        specs["kernelspecs"].as_array().expect("kernelspecs").iter().find(|k| k["name"] == name).cloned()
    };
    let bash = by_name("bash").unwrap_or_else(|| panic!("no bash kernelspec: {specs}"));
    assert_eq!((&bash["language"], &bash["display_name"]), (&json!("bash"), &json!("Bash")), "{bash}");
    let python = by_name("python3").unwrap_or_else(|| panic!("no python3 kernelspec: {specs}"));
    assert_eq!(python["language"], "python", "{python}");

    let nb = kx.create_notebook(alice, json!({"name": "shell", "kernelspec": "bash"}));
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    kx.add_code(&mut alice_client, nb, "echo", "echo hello");
    let run = kx.run_to_end(alice, nb, "echo");
    assert_eq!((&run["status"], &run["kernelspec"]), (&json!("ok"), &json!("bash")), "{run}");
    assert_eq!(kx.outputs(nb, "echo"), json!([stream("stdout", "hello\n")]));
    assert_eq!(kx.only_kernel(alice)["kernelspec"], "bash");
    kx.client_sees_export(&mut alice_client, nb, "echo");

    // A kernelspec this server does not have is a clear refusal at run time.
    let missing = kx.create_notebook(alice, json!({"name": "missing", "kernelspec": "no-such-kernel"}));
    let mut client = kx.client(Kind::Python, "alice-2", alice, missing);
    kx.add_code(&mut client, missing, "cell", "1");
    let reply = kx.run_reply(alice, missing, "cell");
    reply.expect(409);
    let (code, message) = error_body(&reply);
    assert_eq!(code, "kernelspec_not_installed");
    assert!(message.contains("no-such-kernel"), "{message}");
    assert_eq!(kx.executions(alice, missing, ""), Vec::<Value>::new());
}
