//! Project files meeting kernels (SPEC §2, §9), end to end: a real `talkbook serve` on
//! SQLite and on PostgreSQL, real ipykernel processes from the project's `.venv`.
//!
//! - `consoles`: a console opened on a file holds it (a `console` block): everyone else's
//!   writes, moves and deletes get 423 naming the holder, the holder writes and runs the
//!   file, nobody lifts the block by hand, and it goes when the console closes, when its
//!   kernel dies and when the server that held it is gone.
//! - `workdirs`: each kernel works in its own copy of the project's files; what a run
//!   writes is stored back as the kernel's user, except over someone else's block (the run
//!   says so), and files deleted in the project are gone before the next run.
//!
//! Nothing depends on speed: every wait polls for an eventual state with a generous
//! deadline, which only turns a hang into a failure.

mod support;

#[path = "api/client.rs"]
mod client;
// The server-sent-events reader of the kernel tests: console events are read the same way.
#[path = "kernels/sse.rs"]
mod sse;

#[path = "project_files/consoles.rs"]
mod consoles;
#[path = "project_files/workdirs.rs"]
mod workdirs;

use std::time::{Duration, Instant};

use client::{Api, Auth, Reply};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sse::EventStream;
use support::fixture::Fixture;
use support::server::{Backend, TestUser};
use sync_server::store::{NotebookId, NotebookMode};

/// How long any wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(120);

/// Asks `check` until it returns something, or fails the test saying what never came.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "never happened within {PATIENCE:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server whose kernels come from the project's `.venv`, with the fixture's users (alice
/// owns the project, bob and carol edit, vera views) and its API.
struct Px {
    fx: Fixture,
    api: Api,
}

/// The answer to a raw-body upload (the client in `api/client.rs` sends only JSON bodies).
struct Upload {
    status: u16,
    body: Value,
}

impl Upload {
    /// Asserts the status and returns the JSON body.
    fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "the upload answered {}: {}", self.status, self.body);
        &self.body
    }
}

impl Px {
    fn new(backend: Backend) -> Px {
        let jupyter = support::jupyter_path();
        let env = [("JUPYTER_PATH", jupyter.to_str().expect("a UTF-8 path"))];
        let fx = Fixture::build(backend, NotebookMode::Thread, &env);
        let api = Api::new(&fx.server.http());
        Px { fx, api }
    }

    fn files_url(&self, route: &str, path: &str) -> String {
        assert!(path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)), "{path}");
        format!("/api/projects/{}/files{route}?path={path}", self.fx.project)
    }

    /// `PUT /api/projects/{id}/files?path=PATH` with `bytes` as the body, as `user`.
    fn put(&self, user: &TestUser, path: &str, bytes: &[u8]) -> Upload {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build().into();
        let url = format!("{}{}", self.fx.server.http(), self.files_url("", path));
        let mut response = agent
            .put(&url)
            .header("content-type", "application/octet-stream")
            .header("authorization", format!("Bearer {}", user.token))
            .send(bytes)
            .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
        let body = response.body_mut().read_to_vec().expect("read the answer");
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("PUT {path}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
        Upload { status: response.status().as_u16(), body }
    }

    /// The listing entry of the file at `path` (`GET …/files?path=PATH`, as alice).
    fn entry(&self, path: &str) -> Value {
        let reply = self.api.get(&self.files_url("", path), Auth::Bearer(&self.fx.alice.token));
        reply.expect(200);
        let files = reply.json()["files"].clone();
        assert_eq!(files.as_array().map(Vec::len), Some(1), "one entry for {path}: {files}");
        assert_eq!(files[0]["path"], path, "{files}");
        files[0].clone()
    }

    /// Whether the project has anything at `path`.
    fn exists(&self, path: &str) -> bool {
        let reply = self.api.get(&self.files_url("", path), Auth::Bearer(&self.fx.alice.token));
        match reply.status {
            200 => true,
            404 => false,
            _ => panic!("listing {path}: {} {}", reply.status, reply.text()),
        }
    }

    /// A file's block as the listing shows it (`null` when free).
    fn block(&self, path: &str) -> Value {
        self.entry(path)["block"].clone()
    }

    /// A file's bytes (`GET …/files/content?path=PATH`, as vera, the viewer).
    fn content(&self, path: &str) -> Vec<u8> {
        let reply = self.api.get(&self.files_url("/content", path), Auth::Bearer(&self.fx.vera.token));
        reply.expect(200);
        reply.body().to_vec()
    }

    fn move_file(&self, user: &TestUser, from: &str, to: &str) -> Reply {
        let url = format!("/api/projects/{}/files/move", self.fx.project);
        self.api.post_json(&url, Auth::Bearer(&user.token), &json!({"from": from, "to": to}))
    }

    fn delete_file(&self, user: &TestUser, path: &str) -> Reply {
        self.api.delete(&self.files_url("", path), Auth::Bearer(&user.token))
    }

    /// Blocks a file by hand as `user` (must succeed); returns the block.
    fn block_by_hand(&self, user: &TestUser, path: &str) -> Value {
        let reply = self.api.post_empty(&self.files_url("/block", path), Auth::Bearer(&user.token));
        reply.expect(200);
        reply.json()["block"].clone()
    }

    fn unblock(&self, user: &TestUser, path: &str) -> Reply {
        self.api.delete(&self.files_url("/block", path), Auth::Bearer(&user.token))
    }

    /// `POST /api/projects/{id}/consoles` as `user`, on `path` (or the default console).
    fn open_console_reply(&self, user: &TestUser, path: Option<&str>) -> Reply {
        let body = path.map_or_else(|| json!({}), |path| json!({"path": path}));
        let url = format!("/api/projects/{}/consoles", self.fx.project);
        self.api.post_json(&url, Auth::Bearer(&user.token), &body)
    }

    /// Opens a new console (201); returns its view.
    fn open_console(&self, user: &TestUser, path: Option<&str>) -> Value {
        let reply = self.open_console_reply(user, path);
        reply.expect(201);
        reply.json()
    }

    /// The ids of `user`'s open consoles.
    fn console_ids(&self, user: &TestUser) -> Vec<Value> {
        let reply = self.api.get("/api/consoles", Auth::Bearer(&user.token));
        reply.expect(200);
        reply.json()["consoles"].as_array().expect("consoles").iter().map(|c| c["id"].clone()).collect()
    }

    /// `POST /api/consoles/{id}/ACTION` as `user` (must be queued: 202); returns the run's
    /// number.
    fn console_run(&self, user: &TestUser, console: &Value, action: &str, body: Option<Value>) -> u64 {
        let url = format!("/api/consoles/{}/{action}", id_of(console));
        let reply = match body {
            Some(body) => self.api.post_json(&url, Auth::Bearer(&user.token), &body),
            None => self.api.post_empty(&url, Auth::Bearer(&user.token)),
        };
        reply.expect(202);
        reply.json()["execution"].as_u64().unwrap_or_else(|| panic!("no execution number: {}", reply.text()))
    }

    fn execute(&self, user: &TestUser, console: &Value, code: &str) -> u64 {
        self.console_run(user, console, "execute", Some(json!({"code": code})))
    }

    fn run_file(&self, user: &TestUser, console: &Value) -> u64 {
        self.console_run(user, console, "run-file", None)
    }

    fn close_console(&self, user: &TestUser, console: &Value) {
        let url = format!("/api/consoles/{}", id_of(console));
        self.api.delete(&url, Auth::Bearer(&user.token)).expect(204);
    }

    /// Listens to a console's events (from now on) as `user`.
    fn listen(&self, user: &TestUser, console: &Value) -> EventStream {
        let path = format!("/api/consoles/{}/events", id_of(console));
        EventStream::open(self.fx.server.addr, &path, &user.token)
    }

    /// Imports a thread-mode notebook of code cells `(id, source)` as `user`, who is then
    /// every cell's author.
    fn import(&self, user: &TestUser, name: &str, cells: &[(&str, &str)]) -> NotebookId {
        let cells: Vec<Value> = cells
            .iter()
            .map(|(id, source)| {
                json!({"id": id, "cell_type": "code", "source": source, "metadata": {},
                       "execution_count": null, "outputs": []})
            })
            .collect();
        let ipynb = json!({
            "nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        });
        let url = format!("/api/projects/{}/notebooks/import?name={name}", self.fx.project);
        let body = serde_json::to_vec(&ipynb).expect("JSON");
        let reply = self.api.post_raw(&url, Auth::Bearer(&user.token), "application/x-ipynb+json", &body);
        reply.expect(201);
        NotebookId(reply.json()["notebook"]["id"].as_i64().unwrap_or_else(|| panic!("{}", reply.text())))
    }

    /// Runs a cell as `user` and waits until its record has ended (by then its outputs
    /// and the files it wrote are stored); returns the record.
    fn run_cell(&self, user: &TestUser, notebook: NotebookId, cell: &str) -> Value {
        let url = format!("/api/notebooks/{notebook}/cells/{cell}/run");
        let reply = self.api.post_empty(&url, Auth::Bearer(&user.token));
        reply.expect(202);
        let id = reply.json()["id"].clone();
        eventually(&format!("run {id} of cell {cell} ends"), || {
            let url = format!("/api/notebooks/{notebook}/executions?limit=1000");
            let reply = self.api.get(&url, Auth::Bearer(&self.fx.alice.token));
            reply.expect(200);
            let records = reply.json()["executions"].as_array().expect("executions").clone();
            records.into_iter().find(|r| {
                r["id"] == id && ["ok", "error", "aborted"].contains(&r["status"].as_str().unwrap_or(""))
            })
        })
    }

    /// A cell's outputs in the notebook's export.
    fn outputs(&self, notebook: NotebookId, cell: &str) -> Vec<Value> {
        let reply =
            self.api.get(&format!("/api/notebooks/{notebook}/ipynb"), Auth::Bearer(&self.fx.alice.token));
        reply.expect(200);
        let nb = reply.json();
        let found = nb["cells"].as_array().expect("cells").iter().find(|c| c["id"] == cell).cloned();
        let found = found.unwrap_or_else(|| panic!("no cell {cell} in {nb}"));
        found["outputs"].as_array().unwrap_or_else(|| panic!("no outputs: {found}")).clone()
    }
}

fn id_of(console: &Value) -> &str {
    console["id"].as_str().unwrap_or_else(|| panic!("no console id: {console}"))
}

/// A user as the API names one (`holder`, `updated_by`).
fn user_ref(user: &TestUser) -> Value {
    json!({"id": user.user.id.0, "name": user.user.name, "display_name": user.user.display_name,
           "color": user.user.color})
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A multiline string of an `.ipynb` (a string or a list of lines) as one string.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        other => panic!("not text: {other}"),
    }
}

/// Everything the outputs wrote to stdout, after checking that there is nothing else.
fn stdout_only(outputs: &[Value]) -> String {
    for output in outputs {
        let stdout = output["output_type"] == "stream" && output["name"] == "stdout";
        assert!(stdout, "an output other than stdout: {outputs:?}");
    }
    outputs.iter().map(|o| text(&o["text"])).collect()
}

/// The outputs among a console run's messages, after checking that it finished `ok`.
fn console_outputs(run: &[Value]) -> Vec<Value> {
    let last = run.last().expect("a run has messages");
    assert_eq!((&last["event"], &last["status"]), (&json!("finished"), &json!("ok")), "{run:?}");
    run.iter().filter(|m| m["event"] == "output").cloned().collect()
}

/// The error of a change refused because `holder` blocks `path`: 423 `blocked` with the
/// holder, the block's time and its reason.
fn assert_blocked(status: u16, body: &Value, path: &str, holder: &TestUser, block: &Value) {
    assert_eq!(status, 423, "{body}");
    let error = &body["error"];
    assert_eq!((&error["code"], &error["path"]), (&json!("blocked"), &json!(path)), "{body}");
    assert_eq!(error["holder"], user_ref(holder), "{body}");
    assert_eq!((&error["since"], &error["reason"]), (&block["since"], &block["reason"]), "{body}");
    let message = error["message"].as_str().unwrap_or_else(|| panic!("no message: {body}"));
    assert!(message.contains(&holder.user.display_name) && message.contains(path), "{message}");
}

/// Whether process `pid` has exited (gone, or a zombie no one reaped yet).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}
