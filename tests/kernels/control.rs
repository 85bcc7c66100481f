//! The queue and control of kernels: runs in order, cancelling, interrupt, restart, a
//! dead kernel replaced, bounded outputs and queues, per-user and per-server kernel limits
//! and idle culling.

use super::*;

// --- The queue and control of kernels.

#[test]
fn queued_runs_run_in_order_and_a_cancelled_one_never_runs() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Thread);
    let nb = kx.fx.notebook;
    let alice = &kx.fx.alice;
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    let gate = kx.gate("first");
    kx.add_code(&mut alice_client, nb, "setup", "order = ['setup']");
    kx.add_code(
        &mut alice_client,
        nb,
        "first",
        &gate_code(&gate, "order.clear()\n", "order.append('first')"),
    );
    kx.add_code(&mut alice_client, nb, "second", "order.append('second')");
    kx.add_code(&mut alice_client, nb, "third", "order.append('third')\nprint('third ran', flush=True)");
    kx.add_code(&mut alice_client, nb, "check", "order");
    assert_eq!(kx.run_to_end(alice, nb, "setup")["status"], "ok");
    // The third cell ran once before: its outputs are what a cancelled run must leave.
    assert_eq!(kx.run_to_end(alice, nb, "third")["status"], "ok");
    let third_before = exported_cell(&kx.export(nb), "third");
    assert_eq!(third_before["outputs"], json!([stream("stdout", "third ran\n")]));
    assert_eq!(third_before["execution_count"], 2);

    let first = kx.run(alice, nb, "first");
    let second = kx.run(alice, nb, "second");
    let third = kx.run(alice, nb, "third");
    // The first waits for its gate; the others wait behind it, and everyone sees it.
    kx.wait_status(nb, &first, "running");
    for record in [&second, &third] {
        assert_eq!(kx.record(nb, record)["status"], "queued");
    }
    eventually("alice's client shows the queue", || {
        let dump = alice_client.dump();
        let states = &dump["execution_states"];
        (states["first"] == "busy" && states["second"] == "queued" && states["third"] == "queued")
            .then_some(())
    });

    // Cancel the third while it waits.
    let reply = kx.cancel(alice, nb, "third");
    reply.expect(200);
    assert_eq!(reply.json(), json!({"cancelled": [third["id"]]}));
    let reply = kx.cancel(alice, nb, "third");
    reply.expect(409);
    assert_eq!(error_body(&reply).0, "nothing_queued");
    // The running one cannot be cancelled: it must be interrupted.
    let reply = kx.cancel(alice, nb, "first");
    reply.expect(409);
    let (code, message) = error_body(&reply);
    assert_eq!(code, "nothing_queued");
    assert!(message.contains("interrupt"), "{message}");
    let cancelled = kx.wait_ended(nb, &third);
    assert_eq!(cancelled["status"], "aborted", "{cancelled}");
    assert_eq!(cancelled["error"], "cancelled while queued", "{cancelled}");
    assert_eq!(
        (&cancelled["started_at"], &cancelled["execution_count"]),
        (&Value::Null, &Value::Null),
        "{cancelled}"
    );
    // Its cell is back to idle with the outputs of its earlier run, while the first still
    // runs.
    client_sees(&mut alice_client, "third", &third_before);
    assert_eq!(kx.record(nb, &first)["status"], "running");

    open_gate(&gate);
    let first = kx.wait_ended(nb, &first);
    let second = kx.wait_ended(nb, &second);
    assert_eq!((first["status"].as_str(), second["status"].as_str()), (Some("ok"), Some("ok")));
    // In request order, one at a time.
    assert_eq!((first["execution_count"].as_i64(), second["execution_count"].as_i64()), (Some(3), Some(4)));
    // (Not against the first's `ended_at`: the server stamps that after writing the last
    // outputs into the document, when the kernel may have started the next run already.)
    assert!(time_of(&first, "started_at") <= time_of(&second, "started_at"), "{first}\n{second}");
    let check = kx.run_to_end(alice, nb, "check");
    assert_eq!(check["status"], "ok");
    assert_eq!(
        kx.outputs(nb, "check"),
        json!([{"output_type": "execute_result", "execution_count": 5, "metadata": {},
                "data": {"text/plain": "['first', 'second']"}}]),
        "the cancelled cell's code ran"
    );
    client_sees(&mut alice_client, "third", &third_before);
    assert_eq!(exported_cell(&kx.export(nb), "third"), third_before);
}

#[test]
fn kernels_can_be_interrupted_and_restarted_and_a_dead_one_is_replaced() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Thread);
    let nb = kx.fx.notebook;
    let alice = &kx.fx.alice;
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    kx.add_code(&mut alice_client, nb, "pid", PID_CODE);
    kx.add_code(&mut alice_client, nb, "sleep", "import time\nprint('sleeping', flush=True)\ntime.sleep(60)");
    kx.add_code(&mut alice_client, nb, "define", "y = 5");
    kx.add_code(&mut alice_client, nb, "use", "y");
    kx.add_code(&mut alice_client, nb, "crash", "import os\nos._exit(1)");
    assert_eq!(kx.run_to_end(alice, nb, "pid")["status"], "ok");
    let first_pid = kx.printed_pid(nb, "pid");
    let kernel = kx.only_kernel(alice);
    let kernel_id = kernel["id"].as_str().expect("kernel id").to_owned();
    assert_eq!(kernel["pid"], json!(first_pid));
    let sleeping = json!([stream("stdout", "sleeping\n")]);

    // Interrupt: the sleep ends with a KeyboardInterrupt, in the same process.
    let run = kx.run(alice, nb, "sleep");
    eventually("the sleep cell has started", || (kx.outputs(nb, "sleep") == sleeping).then_some(()));
    let reply = kx.api.post_empty(&format!("/api/kernels/{kernel_id}/interrupt"), Auth::Bearer(&alice.token));
    reply.expect(200);
    assert_eq!(reply.json()["id"], json!(kernel_id));
    let run = kx.wait_ended(nb, &run);
    assert_eq!(run["status"], "error", "{run}");
    assert!(run["error"].as_str().is_some_and(|e| e.starts_with("KeyboardInterrupt")), "{run}");
    let outputs = kx.outputs(nb, "sleep");
    assert_eq!(outputs.as_array().map(Vec::len), Some(2), "{outputs}");
    assert_eq!(outputs[0], sleeping[0]);
    assert_error(&outputs[1], "KeyboardInterrupt", "");
    assert_eq!(kx.run_to_end(alice, nb, "pid")["status"], "ok");
    assert_eq!(kx.printed_pid(nb, "pid"), first_pid, "an interrupt must not replace the process");

    // Restart: a new process, the variables gone; the run going on ends aborted.
    assert_eq!(kx.run_to_end(alice, nb, "define")["status"], "ok");
    let run = kx.run(alice, nb, "sleep");
    eventually("the sleep cell has started again", || (kx.outputs(nb, "sleep") == sleeping).then_some(()));
    let reply = kx.api.post_empty(&format!("/api/kernels/{kernel_id}/restart"), Auth::Bearer(&alice.token));
    reply.expect(200);
    let restarted = reply.json();
    let second_pid = u32::try_from(restarted["pid"].as_u64().expect("pid")).expect("pid");
    assert_eq!(restarted["id"], json!(kernel_id), "the kernel keeps its id across a restart");
    assert_ne!(second_pid, first_pid, "a restart must start a new process");
    eventually("the old kernel process ends", || process_gone(first_pid).then_some(()));
    let run = kx.wait_ended(nb, &run);
    assert_eq!(run["status"], "aborted", "{run}");
    assert_eq!(run["error"], "the kernel was restarted", "{run}");
    kx.client_sees_export(&mut alice_client, nb, "sleep");
    let used = kx.run_to_end(alice, nb, "use");
    assert_eq!(used["error"], "NameError: name 'y' is not defined", "{used}");
    assert_eq!(used["execution_count"], 1, "a restarted kernel counts from 1: {used}");
    let outputs = kx.outputs(nb, "use");
    assert_eq!(outputs.as_array().map(Vec::len), Some(1), "{outputs}");
    assert_error(&outputs[0], "NameError", "name 'y' is not defined");

    // Death: the run says so, and the next run gets a fresh process.
    let crash = kx.run_to_end(alice, nb, "crash");
    assert_eq!(crash["status"], "error", "{crash}");
    assert!(crash["error"].as_str().is_some_and(|e| e.starts_with("DeadKernelError: ")), "{crash}");
    let outputs = kx.outputs(nb, "crash");
    let outputs = outputs.as_array().expect("outputs");
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_eq!(
        (&outputs[0]["output_type"], &outputs[0]["ename"]),
        (&json!("error"), &json!("DeadKernelError"))
    );
    assert!(outputs[0]["evalue"].as_str().is_some_and(|v| v.contains("new kernel")), "{outputs:?}");
    kx.client_sees_export(&mut alice_client, nb, "crash");
    eventually("the dead kernel's process is gone", || process_gone(second_pid).then_some(()));
    assert_eq!(kx.run_to_end(alice, nb, "pid")["status"], "ok");
    let third_pid = kx.printed_pid(nb, "pid");
    assert!(![first_pid, second_pid].contains(&third_pid), "no fresh process after the death: {third_pid}");
    let kernel = kx.only_kernel(alice);
    assert_eq!((&kernel["id"], &kernel["pid"]), (&json!(kernel_id), &json!(third_pid)), "{kernel}");
    assert_eq!(cell_in(&kx.export(nb), "pid")["execution_count"], 1);
}

#[test]
fn a_runs_output_and_a_kernels_queue_are_bounded() {
    let env = [("TALKBOOK_MAX_OUTPUT_BYTES", "2048"), ("TALKBOOK_MAX_QUEUED_RUNS", "2")];
    let kx = Kx::with_env(Backend::Sqlite, NotebookMode::Thread, &env);
    let nb = kx.fx.notebook;
    let alice = &kx.fx.alice;
    let gate = kx.gate("hold");
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    // 2500 bytes of lines, then an error, which always lands. (The server does not take a
    // limit below 1024 bytes.)
    kx.add_code(&mut alice_client, nb, "flood", "for i in range(500):\n    print(f'{i:04d}')\n1/0");
    kx.add_code(&mut alice_client, nb, "hold", &gate_code(&gate, "", ""));

    let run = kx.run_to_end(alice, nb, "flood");
    assert_eq!(run["error"], "ZeroDivisionError: division by zero", "{run}");
    let outputs = kx.outputs(nb, "flood");
    let outputs = outputs.as_array().expect("outputs");
    let all: String = (0..500).map(|i| format!("{i:04}\n")).collect();
    assert_eq!(outputs.len(), 3, "{outputs:?}");
    assert_eq!(outputs[0], stream("stdout", &all[..2048]), "the first 2048 bytes stay");
    assert_eq!(outputs[1]["name"], "stderr", "{outputs:?}");
    let note = outputs[1]["text"].as_str().expect("note");
    assert!(note.contains("output truncated") && note.contains("2048 bytes"), "{note}");
    assert_error(&outputs[2], "ZeroDivisionError", "division by zero");
    kx.client_sees_export(&mut alice_client, nb, "flood");

    // One run going and one waiting fill the queue; a third is refused and not recorded.
    let held = kx.run(alice, nb, "hold");
    kx.wait_status(nb, &held, "running");
    let queued = kx.run(alice, nb, "flood");
    let refused = kx.run_reply(alice, nb, "flood");
    refused.expect(429);
    let (code, message) = error_body(&refused);
    assert_eq!(code, "run_queue_full");
    assert!(message.contains("2 runs"), "{message}");
    assert_eq!(kx.executions(alice, nb, "").len(), 3, "the refused run left a record");
    open_gate(&gate);
    assert_eq!(kx.wait_ended(nb, &held)["status"], "ok");
    assert_eq!(kx.wait_ended(nb, &queued)["status"], "error");
    assert_eq!(kx.run_to_end(alice, nb, "hold")["status"], "ok", "the queue has room again");
}
// --- Limits and culling.

#[test]
fn kernel_limits_per_user_and_per_server_are_clear_errors() {
    let env = [("TALKBOOK_MAX_KERNELS_PER_USER", "1"), ("TALKBOOK_MAX_KERNELS", "2")];
    let kx = Kx::with_env(Backend::Sqlite, NotebookMode::Thread, &env);
    let nb = kx.fx.notebook;
    let (alice, bob, carol) = (&kx.fx.alice, &kx.fx.bob, &kx.fx.carol);
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    kx.add_code(&mut alice_client, nb, "alice-pid", PID_CODE);
    assert_eq!(kx.run_to_end(alice, nb, "alice-pid")["status"], "ok");
    let first_pid = kx.printed_pid(nb, "alice-pid");

    // A second notebook would need a second kernel for alice.
    let second = kx.create_notebook(alice, json!({"name": "second"}));
    let mut alice_second = kx.client(Kind::Python, "alice-2", alice, second);
    kx.add_code(&mut alice_second, second, "again", PID_CODE);
    let refused = kx.run_reply(alice, second, "again");
    refused.expect(429);
    let (code, message) = error_body(&refused);
    assert_eq!(code, "kernel_limit_reached");
    assert!(message.contains("already have 1 kernels"), "{message}");
    assert_eq!(kx.executions(alice, second, ""), Vec::<Value>::new(), "a refused run left a record");
    assert_eq!(kx.only_kernel(alice)["pid"], json!(first_pid));
    let dump = alice_second.dump();
    assert_eq!(
        (&dump["execution_states"]["again"], &cell_in(&dump["notebook"], "again")["outputs"]),
        (&json!("idle"), &json!([]))
    );

    // Bob takes the server's second kernel; then the server is full, for carol.
    let mut bob_client = kx.client(Kind::Python, "bob", bob, nb);
    kx.add_code(&mut bob_client, nb, "bob-pid", PID_CODE);
    assert_eq!(kx.run_to_end(bob, nb, "bob-pid")["status"], "ok");
    let mut carol_client = kx.client(Kind::Js, "carol", carol, nb);
    kx.add_code(&mut carol_client, nb, "carol-pid", PID_CODE);
    let refused = kx.run_reply(carol, nb, "carol-pid");
    refused.expect(503);
    assert_eq!(error_body(&refused).0, "server_kernel_limit");
    assert_eq!(kx.executions(alice, nb, &format!("user={}", carol.user.id.0)), Vec::<Value>::new());

    // Shutting her kernel down frees alice's slot: the second notebook runs now.
    let kernel = kx.only_kernel(alice);
    let reply = kx
        .api
        .delete(&format!("/api/kernels/{}", kernel["id"].as_str().expect("id")), Auth::Bearer(&alice.token));
    reply.expect(204);
    assert_eq!(kx.kernels(alice), Vec::<Value>::new());
    eventually("the shut-down kernel's process ends", || process_gone(first_pid).then_some(()));
    assert_eq!(kx.run_to_end(alice, second, "again")["status"], "ok");
    let pid = kx.printed_pid(second, "again");
    assert_ne!(pid, first_pid);
    assert_eq!(kx.only_kernel(alice)["notebook_id"], json!(second.0));
}

#[test]
fn idle_kernels_are_shut_down_but_busy_ones_are_not() {
    let kx = Kx::with_env(Backend::Sqlite, NotebookMode::Thread, &[("TALKBOOK_KERNEL_IDLE_SECONDS", "2")]);
    let nb = kx.fx.notebook;
    let alice = &kx.fx.alice;
    let gate = kx.gate("busy");
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    kx.add_code(&mut alice_client, nb, "pid", PID_CODE);
    kx.add_code(&mut alice_client, nb, "busy", &gate_code(&gate, "", "import os\nos.getpid()"));
    let run = kx.run_to_end(alice, nb, "pid");
    assert_eq!(run["status"], "ok");
    let pid = kx.printed_pid(nb, "pid");
    eventually("the idle kernel leaves the list", || {
        kx.kernels(alice).iter().all(|k| k["id"] != run["kernel_id"]).then_some(())
    });
    eventually("the idle kernel's process ends", || process_gone(pid).then_some(()));

    // A kernel busy for longer than the idle timeout stays.
    let run = kx.run(alice, nb, "busy");
    kx.wait_status(nb, &run, "running");
    let kernel = kx.only_kernel(alice);
    std::thread::sleep(Duration::from_secs(5)); // more than twice the idle timeout
    assert_eq!(kx.only_kernel(alice)["id"], kernel["id"], "a busy kernel was shut down");
    assert_eq!(kx.record(nb, &run)["status"], "running");
    open_gate(&gate);
    assert_eq!(kx.wait_ended(nb, &run)["status"], "ok");
    let busy_pid = kx.printed_pid(nb, "busy");
    assert_eq!(kernel["pid"], json!(busy_pid));
    assert_ne!(busy_pid, pid, "the culled kernel came back");
    eventually("the kernel, idle now, is shut down too", || {
        (process_gone(busy_pid) && kx.kernels(alice).is_empty()).then_some(())
    });
}
