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

    /// Writes a project file straight into the store, as alice.
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

/// The messages of a run of `code` that printed `stdout` and whose value is `result`
/// (execution count `count`), exactly as a listener receives them.
fn expected_run(execution: u64, count: u64, stdout: &str, result: &str) -> Vec<Value> {
    let at = |mut message: Value| {
        message["execution"] = json!(execution);
        message
    };
    vec![
        at(json!({"event": "started"})),
        at(json!({"event": "status", "status": "busy"})),
        at(json!({"event": "execute_input", "execution_count": count})),
        at(json!({"event": "output", "output_type": "stream", "name": "stdout", "text": stdout})),
        at(json!({"event": "output", "output_type": "execute_result", "execution_count": count,
                  "data": {"text/plain": result}, "metadata": {}})),
        at(json!({"event": "status", "status": "idle"})),
        at(
            json!({"event": "finished", "status": "ok", "execution_count": count, "cause": {"kind": "reply"}}),
        ),
    ]
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
    events.wait_end();
}

#[test]
fn a_console_streams_each_runs_events_to_its_owner_on_sqlite() {
    a_console_streams_each_runs_events_to_its_owner(Backend::Sqlite);
}

#[test]
fn a_console_streams_each_runs_events_to_its_owner_on_postgres() {
    a_console_streams_each_runs_events_to_its_owner(Backend::Postgres);
}
