//! Which kernel runs a cell and who may ask: each author's own kernel in thread mode, one
//! shared kernel in pair mode, and runs refused to viewers and to editors of someone
//! else's cell unless the notebook's owner allows it.

use super::*;

// --- Which kernel runs a cell.

#[test]
fn thread_mode_runs_each_authors_cells_in_their_own_kernel() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Thread);
    let nb = kx.fx.notebook;
    let (alice, bob) = (&kx.fx.alice, &kx.fx.bob);
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    let mut bob_client = kx.client(Kind::Python, "bob", bob, nb);
    kx.add_code(&mut alice_client, nb, "alice-pid", PID_CODE);
    kx.add_code(&mut bob_client, nb, "bob-pid", PID_CODE);
    let alice_run = kx.run(alice, nb, "alice-pid");
    let bob_run = kx.run(bob, nb, "bob-pid");
    let alice_run = kx.wait_ended(nb, &alice_run);
    let bob_run = kx.wait_ended(nb, &bob_run);
    assert_eq!((alice_run["status"].as_str(), bob_run["status"].as_str()), (Some("ok"), Some("ok")));

    let alice_pid = kx.printed_pid(nb, "alice-pid");
    let bob_pid = kx.printed_pid(nb, "bob-pid");
    assert_ne!(alice_pid, bob_pid, "alice's and bob's cells ran in one process");
    for (user, pid, run) in [(alice, alice_pid, &alice_run), (bob, bob_pid, &bob_run)] {
        let kernel = kx.only_kernel(user);
        assert_eq!(
            kernel["pid"],
            json!(pid),
            "{}'s kernel is not the one that ran: {kernel}",
            user.user.name
        );
        assert_eq!(kernel["owner"], json!(user.user.id.0), "{kernel}");
        assert_eq!(kernel["charged_to"], json!(user.user.id.0), "{kernel}");
        assert_eq!(kernel["notebook_id"], json!(nb.0), "{kernel}");
        assert_eq!(kernel["kernelspec"], "python3", "{kernel}");
        assert_eq!(run["kernel_id"], kernel["id"], "the record names another kernel: {run}");
        assert!(!process_gone(pid), "{}'s kernel process {pid} is not running", user.user.name);
    }

    // A variable alice defines lives in her kernel only.
    kx.add_code(&mut alice_client, nb, "alice-x", "x = 41\nx + 1");
    kx.add_code(&mut bob_client, nb, "bob-x", "x + 1");
    assert_eq!(kx.run_to_end(alice, nb, "alice-x")["status"], "ok");
    let bob_x = kx.run_to_end(bob, nb, "bob-x");
    assert_eq!(bob_x["status"], "error", "{bob_x}");
    assert_eq!(bob_x["error"], "NameError: name 'x' is not defined", "{bob_x}");
    let export = kx.export(nb);
    assert_eq!(
        cell_in(&export, "alice-x")["outputs"],
        json!([{"output_type": "execute_result", "execution_count": 2, "metadata": {},
                "data": {"text/plain": "42"}}])
    );
    let bob_outputs = cell_in(&export, "bob-x")["outputs"].as_array().expect("outputs").clone();
    assert_eq!(bob_outputs.len(), 1, "{bob_outputs:?}");
    assert_error(&bob_outputs[0], "NameError", "name 'x' is not defined");
    // Each kernel counts its own runs.
    assert_eq!(cell_in(&export, "alice-x")["execution_count"], 2);
    assert_eq!(cell_in(&export, "bob-x")["execution_count"], 2);
    // Everyone sees every cell's outputs as the server wrote them.
    for cell in ["alice-pid", "bob-pid", "alice-x", "bob-x"] {
        let expected = exported_cell(&export, cell);
        client_sees(&mut alice_client, cell, &expected);
        client_sees(&mut bob_client, cell, &expected);
    }
}

#[test]
fn pair_mode_runs_everyones_cells_in_one_shared_kernel() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Pair);
    let nb = kx.fx.notebook;
    let (alice, bob) = (&kx.fx.alice, &kx.fx.bob);
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    let mut bob_client = kx.client(Kind::Python, "bob", bob, nb);
    kx.add_code(&mut alice_client, nb, "alice-cell", "import os\nshared = 41\nos.getpid()");
    kx.add_code(&mut bob_client, nb, "bob-cell", "import os\n(os.getpid(), shared + 1)");
    assert_eq!(kx.run_to_end(alice, nb, "alice-cell")["status"], "ok");
    let bob_run = kx.run_to_end(bob, nb, "bob-cell");
    assert_eq!(bob_run["status"], "ok", "{bob_run}");

    let pid = kx.printed_pid(nb, "alice-cell");
    let export = kx.export(nb);
    assert_eq!(
        cell_in(&export, "bob-cell")["outputs"],
        json!([{"output_type": "execute_result", "execution_count": 2,
                "data": {"text/plain": format!("({pid}, 42)")}, "metadata": {}}]),
        "bob's cell did not run in alice's namespace"
    );
    let kernels = kx.project_kernels(alice);
    assert_eq!(kernels.len(), 1, "{kernels:?}");
    let kernel = &kernels[0];
    assert_eq!(kernel["pid"], json!(pid), "{kernel}");
    assert_eq!(kernel["owner"], Value::Null, "a shared kernel has no owner: {kernel}");
    assert_eq!(kernel["charged_to"], json!(alice.user.id.0), "charged to whoever started it: {kernel}");
    assert_eq!(bob_run["kernel_id"], kernel["id"], "{bob_run}");
    // Bob sees the shared kernel among the project's, but has none of his own.
    assert_eq!(kx.project_kernels(bob), kernels);
    assert_eq!(kx.kernels(bob), Vec::<Value>::new());
    // Any editor may run any cell: bob runs alice's, in the same process.
    assert_eq!(kx.run_to_end(bob, nb, "alice-cell")["status"], "ok");
    assert_eq!(kx.printed_pid(nb, "alice-cell"), pid);
    let export = kx.export(nb);
    assert_eq!(cell_in(&export, "alice-cell")["execution_count"], 3);
    for cell in ["alice-cell", "bob-cell"] {
        let expected = exported_cell(&export, cell);
        client_sees(&mut alice_client, cell, &expected);
        client_sees(&mut bob_client, cell, &expected);
    }
}
// --- Who may run what.

#[test]
fn only_editors_run_cells_and_in_thread_mode_only_the_author_unless_allowed() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Thread);
    let nb = kx.fx.notebook;
    let (alice, bob, vera) = (&kx.fx.alice, &kx.fx.bob, &kx.fx.vera);
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    kx.add_code(&mut alice_client, nb, "alice-pid", PID_CODE);
    let alice_run = kx.run_to_end(alice, nb, "alice-pid");
    let alice_pid = kx.printed_pid(nb, "alice-pid");
    let kernel = kx.only_kernel(alice);
    let kernel_id = kernel["id"].as_str().expect("kernel id").to_owned();
    let cell_before = exported_cell(&kx.export(nb), "alice-pid");

    // Vera views: she runs, cancels and controls nothing, and nothing ran.
    let reply = kx.run_reply(vera, nb, "alice-pid");
    reply.expect(403);
    assert_eq!(error_body(&reply).0, "forbidden");
    kx.cancel(vera, nb, "alice-pid").expect(403);
    for action in ["interrupt", "restart"] {
        kx.api
            .post_empty(&format!("/api/kernels/{kernel_id}/{action}"), Auth::Bearer(&vera.token))
            .expect(403);
    }
    kx.api.delete(&format!("/api/kernels/{kernel_id}"), Auth::Bearer(&vera.token)).expect(403);
    // Bob edits, but the cell is alice's.
    let reply = kx.run_reply(bob, nb, "alice-pid");
    reply.expect(403);
    let (code, message) = error_body(&reply);
    assert_eq!(code, "forbidden");
    assert!(message.contains("belongs to alice"), "{message}");
    kx.api.post_empty(&format!("/api/kernels/{kernel_id}/interrupt"), Auth::Bearer(&bob.token)).expect(403);
    // Viewers may read the records: there is still only alice's run.
    let records = kx.executions(vera, nb, "");
    assert_eq!(records.iter().map(|r| &r["id"]).collect::<Vec<_>>(), [&alice_run["id"]]);
    assert_eq!(kx.only_kernel(alice)["pid"], json!(alice_pid), "the kernel was touched");
    assert_eq!(kx.only_kernel(alice)["state"], "idle");
    assert_eq!(exported_cell(&kx.export(nb), "alice-pid"), cell_before);

    // The owner lets others run cells: bob's run goes to alice's kernel.
    let mode = json!({"mode": "thread", "others_may_run": true});
    kx.api.put_json(&format!("/api/notebooks/{nb}/mode"), Auth::Bearer(&bob.token), &mode).expect(403);
    let reply = kx.api.put_json(&format!("/api/notebooks/{nb}/mode"), Auth::Bearer(&alice.token), &mode);
    reply.expect(200);
    assert_eq!(reply.json()["others_may_run"], true);
    let mut bob_client = kx.client(Kind::Python, "bob", bob, nb);
    eventually("bob's client sees that others may run", || {
        (bob_client.dump()["talkbook"]["others_may_run"] == true).then_some(())
    });
    kx.run_reply(vera, nb, "alice-pid").expect(403);
    let bob_run = kx.run_to_end(bob, nb, "alice-pid");
    assert_eq!(bob_run["status"], "ok", "{bob_run}");
    assert_eq!(bob_run["user_id"], json!(bob.user.id.0), "{bob_run}");
    assert_eq!(bob_run["kernel_id"], json!(kernel_id), "{bob_run}");
    assert_eq!(kx.printed_pid(nb, "alice-pid"), alice_pid, "bob's run did not go to alice's kernel");
    assert_eq!(cell_in(&kx.export(nb), "alice-pid")["execution_count"], 2);
    assert_eq!(kx.kernels(bob), Vec::<Value>::new(), "bob got a kernel of his own");
    kx.client_sees_export(&mut bob_client, nb, "alice-pid");
    assert_eq!(kx.executions(alice, nb, &format!("user={}", vera.user.id.0)), Vec::<Value>::new());
}
