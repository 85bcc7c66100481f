//! Consoles: a user's own interactive kernel in a project, outside any notebook. Code sent
//! to one runs in a real ipykernel of its own, and its events reach the owner as
//! server-sent events, read here as they arrive from the socket. Also: the default console
//! and consoles holding a file, who may use them, closing (by the owner, by the kernel's
//! death, by nobody listening) and the per-user kernel limit they count against.

use sync_server::store::{FileContent, FilePath};

use super::sse::EventStream;
use super::*;

impl Kx {
    /// `POST /api/projects/{id}/consoles` as `user`.
    fn open_console_reply(&self, user: &TestUser, body: &Value) -> Reply {
        self.api.post_json(
            &format!("/api/projects/{}/consoles", self.fx.project),
            Auth::Bearer(&user.token),
            body,
        )
    }

    /// Opens a new console, which must be new (201); returns its view.
    fn open_console(&self, user: &TestUser, body: &Value) -> Value {
        let reply = self.open_console_reply(user, body);
        reply.expect(201);
        reply.json()
    }

    /// `GET /api/consoles` as `user`.
    fn consoles(&self, user: &TestUser) -> Vec<Value> {
        let reply = self.api.get("/api/consoles", Auth::Bearer(&user.token));
        reply.expect(200);
        reply.json()["consoles"].as_array().expect("consoles").clone()
    }

    /// The ids of `user`'s open consoles, oldest first.
    fn console_ids(&self, user: &TestUser) -> Vec<Value> {
        self.consoles(user).iter().map(|c| c["id"].clone()).collect()
    }

    fn execute_reply(&self, user: &TestUser, console: &Value, code: &str) -> Reply {
        let path = format!("/api/consoles/{}/execute", id_of(console));
        self.api.post_json(&path, Auth::Bearer(&user.token), &json!({"code": code}))
    }

    /// Sends code to a console, which must accept it (202); returns the run's number.
    fn execute(&self, user: &TestUser, console: &Value, code: &str) -> u64 {
        let reply = self.execute_reply(user, console, code);
        reply.expect(202);
        let body = reply.json();
        body["execution"].as_u64().unwrap_or_else(|| panic!("no execution number: {body}"))
    }

    /// Listens to a console's events as `user` (from now on).
    fn listen(&self, user: &TestUser, console: &Value) -> EventStream {
        EventStream::open(
            self.fx.server.addr,
            &format!("/api/consoles/{}/events", id_of(console)),
            &user.token,
        )
    }

    /// Writes a project file straight into the store, as alice: a console holds only a
    /// file that exists.
    fn seed_file(&self, path: &str, text: &str) {
        let path = FilePath::parse(path).expect("a file path");
        let content = FileContent::new(text.as_bytes().to_vec());
        self.fx
            .rt
            .block_on(async {
                let store = self.fx.db.store().await;
                store
                    .write_file(self.fx.project, &path, &content, self.fx.alice.user.id, chrono::Utc::now())
                    .await
            })
            .expect("write the file");
    }
}

fn id_of(console: &Value) -> &str {
    console["id"].as_str().unwrap_or_else(|| panic!("no console id: {console}"))
}

/// The process id of a console's kernel, from its view.
fn kernel_pid(console: &Value) -> u32 {
    let pid = console["kernel"]["pid"].as_u64().unwrap_or_else(|| panic!("no kernel pid: {console}"));
    u32::try_from(pid).expect("a pid")
}

/// The `text/plain` of the one execute_result among a run's messages.
fn result_of(run: &[Value]) -> String {
    let results: Vec<&Value> = run.iter().filter(|m| m["output_type"] == "execute_result").collect();
    assert_eq!(results.len(), 1, "expected one execute_result: {run:?}");
    text(&results[0]["data"]["text/plain"])
}

/// A run's last message, which must be its `finished`.
fn finished(run: &[Value]) -> &Value {
    let last = run.last().expect("a run has messages");
    assert_eq!(last["event"], "finished", "{run:?}");
    last
}

/// Exactly the messages a listener receives for run `execution` when it printed `stdout`
/// and its value is `result`, with execution count `count`.
fn expected_run(execution: u64, count: u64, stdout: &str, result: &str) -> Vec<Value> {
    let end =
        json!({"event": "finished", "status": "ok", "execution_count": count, "cause": {"kind": "reply"}});
    let messages = [
        json!({"event": "started"}),
        json!({"event": "status", "status": "busy"}),
        json!({"event": "execute_input", "execution_count": count}),
        json!({"event": "output", "output_type": "stream", "name": "stdout", "text": stdout}),
        json!({"event": "output", "output_type": "execute_result", "execution_count": count,
               "data": {"text/plain": result}, "metadata": {}}),
        json!({"event": "status", "status": "idle"}),
        end,
    ];
    messages
        .into_iter()
        .map(|mut message| {
            message["execution"] = json!(execution);
            message
        })
        .collect()
}

fn a_console_streams_each_runs_events_to_its_owner(backend: Backend) {
    let kx = Kx::new(backend, NotebookMode::Thread);
    let alice = &kx.fx.alice;
    assert_eq!(kx.consoles(alice), Vec::<Value>::new());
    let console = kx.open_console(alice, &json!({}));
    let id = id_of(&console).to_owned();
    assert_eq!(console["project_id"], json!(kx.fx.project.0), "{console}");
    assert_eq!(console["owner"], json!(alice.user.id.0), "{console}");
    assert_eq!(console["kernelspec"], "python3", "{console}");
    assert_eq!(console["path"], Value::Null, "{console}");
    let kernel = &console["kernel"];
    assert_eq!((&kernel["notebook_id"], &kernel["console_id"]), (&Value::Null, &json!(id)), "{kernel}");
    assert_eq!((&kernel["owner"], &kernel["charged_to"]), (&json!(alice.user.id.0), &json!(alice.user.id.0)));
    let pid = kernel_pid(&console);
    assert!(!process_gone(pid), "the console's kernel process {pid} is not running");
    // The default console: opening it again is the same console.
    let again = kx.open_console_reply(alice, &json!({"kernelspec": "python3"}));
    again.expect(200);
    assert_eq!(again.json()["id"], json!(id));
    assert_eq!(kx.console_ids(alice), [json!(id)]);
    assert_eq!(kx.only_kernel(alice)["id"], kernel["id"], "its kernel is among the user's kernels");

    let events = kx.listen(alice, &console);
    let first = kx.execute(alice, &console, "print('hi')\n6 * 7");
    assert_eq!(events.run(first), expected_run(first, 1, "hi\n", "42"));

    // A listener hears only what happens after it subscribed; every listener hears it.
    let late = kx.listen(alice, &console);
    let second = kx.execute(alice, &console, "1/0");
    assert!(second > first, "run numbers grow: {first} then {second}");
    let run = events.run(second);
    assert_eq!(late.run(second), run, "two listeners heard different things");
    let outputs: Vec<&Value> = run.iter().filter(|m| m["event"] == "output").collect();
    assert_eq!(outputs.len(), 1, "{run:?}");
    assert_error(outputs[0], "ZeroDivisionError", "division by zero");
    let end = finished(&run);
    assert_eq!((&end["status"], &end["execution_count"]), (&json!("error"), &json!(2)), "{end}");
    // The namespace lives on between runs, in the same process.
    let third = kx.execute(alice, &console, "import os\nanswer = 42\nos.getpid()");
    assert_eq!(result_of(&events.run(third)), pid.to_string());
    let fourth = kx.execute(alice, &console, "print(answer)\nanswer + 1");
    assert_eq!(events.run(fourth), expected_run(fourth, 4, "42\n", "43"));

    // Closing shuts its kernel down.
    kx.api.delete(&format!("/api/consoles/{id}"), Auth::Bearer(&alice.token)).expect(204);
    assert_eq!(kx.consoles(alice), Vec::<Value>::new());
    assert_eq!(kx.kernels(alice), Vec::<Value>::new());
    eventually("the closed console's kernel process ends", || process_gone(pid).then_some(()));
    kx.execute_reply(alice, &console, "1").expect(404);
    kx.api.delete(&format!("/api/consoles/{id}"), Auth::Bearer(&alice.token)).expect(404);
}

#[test]
fn a_console_streams_each_runs_events_to_its_owner_on_sqlite() {
    a_console_streams_each_runs_events_to_its_owner(Backend::Sqlite);
}

#[test]
fn a_console_streams_each_runs_events_to_its_owner_on_postgres() {
    a_console_streams_each_runs_events_to_its_owner(Backend::Postgres);
}

#[test]
fn two_users_consoles_run_in_separate_processes_and_are_theirs_alone() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Thread);
    let (alice, bob, vera) = (&kx.fx.alice, &kx.fx.bob, &kx.fx.vera);
    let alice_console = kx.open_console(alice, &json!({}));
    let bob_console = kx.open_console(bob, &json!({}));
    assert_ne!(alice_console["id"], bob_console["id"], "two users share a default console");
    let (alice_events, bob_events) = (kx.listen(alice, &alice_console), kx.listen(bob, &bob_console));

    let run = kx.execute(alice, &alice_console, "import os\nx = 41\nos.getpid()");
    let alice_pid = result_of(&alice_events.run(run));
    let run = kx.execute(bob, &bob_console, PID_CODE);
    let bob_pid = result_of(&bob_events.run(run));
    assert_ne!(alice_pid, bob_pid, "alice's and bob's consoles run in one process");
    assert_eq!(alice_pid, kernel_pid(&alice_console).to_string());
    assert_eq!(bob_pid, kernel_pid(&bob_console).to_string());
    // What alice defines is not in bob's namespace.
    let run = kx.execute(bob, &bob_console, "x + 1");
    let bob_run = bob_events.run(run);
    let outputs: Vec<&Value> = bob_run.iter().filter(|m| m["event"] == "output").collect();
    assert_eq!(outputs.len(), 1, "{bob_run:?}");
    assert_error(outputs[0], "NameError", "name 'x' is not defined");
    assert_eq!(finished(&bob_run)["status"], "error");
    let run = kx.execute(alice, &alice_console, "x + 1");
    assert_eq!(result_of(&alice_events.run(run)), "42");

    // Each lists only their own console; nobody else may use it.
    assert_eq!(kx.console_ids(alice), [alice_console["id"].clone()]);
    assert_eq!(kx.console_ids(bob), [bob_console["id"].clone()]);
    let alice_id = id_of(&alice_console);
    let reply = kx.execute_reply(bob, &alice_console, "print('from bob')");
    reply.expect(403);
    assert_eq!(error_body(&reply).0, "forbidden");
    kx.api.get(&format!("/api/consoles/{alice_id}/events"), Auth::Bearer(&bob.token)).expect(403);
    kx.api.delete(&format!("/api/consoles/{alice_id}"), Auth::Bearer(&bob.token)).expect(403);
    kx.execute_reply(alice, &json!({"id": "no-such-console"}), "1").expect(404);
    kx.api.get("/api/consoles/no-such-console/events", Auth::Bearer(&alice.token)).expect(404);
    kx.api.delete("/api/consoles/no-such-console", Auth::Bearer(&alice.token)).expect(404);
    kx.api.get("/api/consoles", Auth::None).expect(401);
    kx.api
        .post_json(&format!("/api/consoles/{alice_id}/execute"), Auth::None, &json!({"code": "1"}))
        .expect(401);
    // A viewer may not open one: a console runs code in the project.
    let reply = kx.open_console_reply(vera, &json!({}));
    reply.expect(403);
    assert_eq!(error_body(&reply).0, "forbidden");
    assert_eq!(kx.consoles(vera), Vec::<Value>::new());
    // None of that reached alice's console: her next run is the next thing she hears.
    let run = kx.execute(alice, &alice_console, "x");
    assert_eq!(result_of(&alice_events.run(run)), "41");
    assert_eq!(kx.console_ids(alice), [alice_console["id"].clone()]);
    assert!(!process_gone(kernel_pid(&alice_console)));
}

#[test]
fn a_file_console_holds_its_file_until_it_is_closed_or_its_kernel_dies() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Thread);
    let (alice, bob) = (&kx.fx.alice, &kx.fx.bob);
    for path in ["analysis.py", "other.py"] {
        kx.seed_file(path, "print('analysis')\n");
    }
    let file = json!({"path": "analysis.py"});
    let held = kx.open_console(alice, &file);
    assert_eq!(held["path"], "analysis.py", "{held}");
    // Alice opening it again gets the same console; her default console is another one.
    let again = kx.open_console_reply(alice, &json!({"path": "analysis.py", "kernelspec": "python3"}));
    again.expect(200);
    assert_eq!(again.json()["id"], held["id"]);
    let default = kx.open_console(alice, &json!({}));
    assert_ne!(default["id"], held["id"]);
    assert_eq!(kx.console_ids(alice), [held["id"].clone(), default["id"].clone()]);
    assert_eq!(kx.kernels(alice).len(), 2, "each console has its own kernel");

    // Bob may not open a console on the file while alice's holds it; other files are free.
    let refused = kx.open_console_reply(bob, &file);
    refused.expect(409);
    let (code, message) = error_body(&refused);
    assert_eq!(code, "held_by_console");
    assert!(message.contains("analysis.py"), "{message}");
    assert_eq!(kx.consoles(bob), Vec::<Value>::new(), "a refused open left a console");
    assert_eq!(kx.kernels(bob), Vec::<Value>::new(), "a refused open left a kernel");
    let other = kx.open_console(bob, &json!({"path": "other.py"}));
    assert_eq!(other["path"], "other.py");

    // Alice closes hers: its kernel goes, her default console stays, and the file is free.
    let held_pid = kernel_pid(&held);
    kx.api.delete(&format!("/api/consoles/{}", id_of(&held)), Auth::Bearer(&alice.token)).expect(204);
    assert_eq!(kx.console_ids(alice), [default["id"].clone()]);
    assert!(kx.kernels(alice).iter().all(|k| k["console_id"] != held["id"]), "its kernel is still listed");
    eventually("the closed console's kernel process ends", || process_gone(held_pid).then_some(()));
    let bobs = kx.open_console(bob, &file);
    assert_eq!(bobs["owner"], json!(bob.user.id.0));
    kx.open_console_reply(alice, &file).expect(409);

    // Bob's kernel dies: the run says so, the console closes by itself, the file is free.
    let events = kx.listen(bob, &bobs);
    let run = kx.execute(bob, &bobs, "import os\nos._exit(1)");
    let run = events.run(run);
    let end = finished(&run);
    assert_eq!((&end["status"], &end["cause"]["kind"]), (&json!("error"), &json!("kernel_died")), "{end}");
    eventually("the console whose kernel died closes", || {
        kx.consoles(bob).iter().all(|c| c["id"] != bobs["id"]).then_some(())
    });
    eventually("the dead kernel's process is gone", || process_gone(kernel_pid(&bobs)).then_some(()));
    eventually("the dead kernel leaves the list", || {
        kx.kernels(bob).iter().all(|k| k["console_id"] != bobs["id"]).then_some(())
    });
    kx.execute_reply(bob, &bobs, "1").expect(404);
    assert_eq!(kx.console_ids(bob), [other["id"].clone()]);
    // The console leaves the list a moment before the server has let go of its file: until
    // then, the file is still blocked (423) for anyone else.
    let reopened = eventually("alice can open a console on the freed file", || {
        let reply = kx.open_console_reply(alice, &file);
        if reply.status == 423 {
            return None;
        }
        reply.expect(201);
        Some(reply.json())
    });
    assert_eq!(reopened["owner"], json!(alice.user.id.0));
}

#[test]
fn consoles_count_against_the_per_user_kernel_limit() {
    let kx = Kx::with_env(Backend::Sqlite, NotebookMode::Thread, &[("TALKBOOK_MAX_KERNELS_PER_USER", "1")]);
    let nb = kx.fx.notebook;
    let (alice, bob) = (&kx.fx.alice, &kx.fx.bob);
    kx.seed_file("analysis.py", "");
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    kx.add_code(&mut alice_client, nb, "pid", PID_CODE);
    assert_eq!(kx.run_to_end(alice, nb, "pid")["status"], "ok");
    let notebook_kernel = kx.only_kernel(alice);

    // Alice's one kernel runs her notebook: no console for her.
    let refused = kx.open_console_reply(alice, &json!({}));
    refused.expect(429);
    assert_eq!(error_body(&refused).0, "kernel_limit_reached");
    kx.open_console_reply(alice, &json!({"path": "analysis.py"})).expect(429);
    assert_eq!(kx.consoles(alice), Vec::<Value>::new());
    assert_eq!(kx.only_kernel(alice)["id"], notebook_kernel["id"]);
    // Bob's limit is his own, and alice's refused console holds nothing: the file is free.
    let bobs = kx.open_console(bob, &json!({"path": "analysis.py"}));
    assert_eq!(bobs["owner"], json!(bob.user.id.0));

    // Once her notebook kernel is shut down, the console takes her one kernel, and then the
    // notebook cannot have one.
    let kernel_id = notebook_kernel["id"].as_str().expect("kernel id");
    kx.api.delete(&format!("/api/kernels/{kernel_id}"), Auth::Bearer(&alice.token)).expect(204);
    let console = kx.open_console(alice, &json!({}));
    assert_eq!(kx.only_kernel(alice)["console_id"], console["id"]);
    let refused = kx.run_reply(alice, nb, "pid");
    refused.expect(429);
    assert_eq!(error_body(&refused).0, "kernel_limit_reached");
    // Closing the console frees it again.
    kx.api.delete(&format!("/api/consoles/{}", id_of(&console)), Auth::Bearer(&alice.token)).expect(204);
    assert_eq!(kx.run_to_end(alice, nb, "pid")["status"], "ok");
}

#[test]
fn a_file_console_nobody_listens_to_closes_after_the_grace_period() {
    let kx = Kx::with_env(Backend::Sqlite, NotebookMode::Thread, &[("TALKBOOK_CONSOLE_GRACE_SECONDS", "2")]);
    let alice = &kx.fx.alice;
    for path in ["heard.py", "unheard.py"] {
        kx.seed_file(path, "");
    }
    // Listened to from the moment it opens.
    let heard = kx.open_console(alice, &json!({"path": "heard.py"}));
    let events = kx.listen(alice, &heard);
    let unheard = kx.open_console(alice, &json!({"path": "unheard.py"}));
    let default = kx.open_console(alice, &json!({}));

    eventually("the file console nobody listens to closes", || {
        kx.consoles(alice).iter().all(|c| c["id"] != unheard["id"]).then_some(())
    });
    eventually("its kernel process ends", || process_gone(kernel_pid(&unheard)).then_some(()));
    // It had been open past the grace period: so had the listened-to one, which stays, as
    // does the default console, which holds no file.
    assert_eq!(kx.console_ids(alice), [heard["id"].clone(), default["id"].clone()]);
    let run = kx.execute(alice, &heard, "print('hi')\n6 * 7");
    assert_eq!(events.run(run), expected_run(run, 1, "hi\n", "42"));

    // Its listener leaves: then it closes too, and the default console still stays.
    drop(events);
    eventually("the file console closes once its listener has left", || {
        kx.consoles(alice).iter().all(|c| c["id"] != heard["id"]).then_some(())
    });
    eventually("its kernel process ends", || process_gone(kernel_pid(&heard)).then_some(()));
    assert_eq!(kx.console_ids(alice), [default["id"].clone()]);
    assert!(!process_gone(kernel_pid(&default)));
}
