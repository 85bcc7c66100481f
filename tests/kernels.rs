//! Running cells in real Jupyter kernels (SPEC §8), end to end: a real `talkbook serve`,
//! real ipykernel and bash_kernel processes from the project's `.venv`, real Yjs clients
//! (stock `y-websocket` and pycrdt) watching the shared document, and the real nbformat
//! judging what the server wrote into it.
//!
//! Nothing here depends on speed: every wait polls for an eventual state with a generous
//! deadline (a failure signal only) and no duration is asserted. Where a run must still be
//! going while the test acts (a queue, a disconnect, culling), the cell waits for a gate
//! file that the test creates, rather than sleeping for a while and hoping.
//!
//! This file holds the shared helpers; the tests are in `kernels/`: which kernel runs a
//! cell (`routing`), outputs in the document (`outputs`), the queue and control of kernels
//! (`control`), execution records (`records`) and consoles (`consoles`).

mod support;

#[path = "api/client.rs"]
mod client;

#[path = "kernels/consoles.rs"]
mod consoles;
#[path = "kernels/control.rs"]
mod control;
#[path = "kernels/outputs.rs"]
mod outputs;
#[path = "kernels/records.rs"]
mod records;
#[path = "kernels/routing.rs"]
mod routing;
#[path = "kernels/sse.rs"]
mod sse;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, FixedOffset};
use client::{Api, Auth, Reply};
use doc_model::{CellId, ExecutionState, Output};
use serde_json::{Value, json};
use support::fixture::Fixture;
use support::server::{Backend, TestUser};
use support::yclient::{Kind, YClient};
use sync_server::store::{NotebookId, NotebookMode};

/// How long any wait may take before the test fails: generous for a loaded two-core
/// machine with debug builds, short enough that a hang fails instead of stalling the run.
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

/// A server whose kernels come from the project's `.venv` (`JUPYTER_PATH`), the fixture's
/// users (alice owns the project, bob and carol edit, vera views), and its API.
struct Kx {
    fx: Fixture,
    api: Api,
}

impl Kx {
    fn new(backend: Backend, mode: NotebookMode) -> Kx {
        Kx::with_env(backend, mode, &[])
    }

    fn with_env(backend: Backend, mode: NotebookMode, env: &[(&str, &str)]) -> Kx {
        let jupyter = support::jupyter_path();
        let mut all = vec![("JUPYTER_PATH", jupyter.to_str().expect("a UTF-8 path"))];
        all.extend_from_slice(env);
        let fx = Fixture::build(backend, mode, &all);
        let api = Api::new(&fx.server.http());
        Kx { fx, api }
    }

    /// A connected client of `user` on `notebook`.
    fn client(&self, kind: Kind, name: &str, user: &TestUser, notebook: NotebookId) -> YClient {
        let mut client =
            YClient::start(kind, name, &self.fx.server.ws(), &notebook.to_string(), Some(&user.token));
        client.connect();
        client
    }

    /// A file path a cell can wait for (see [`gate_code`]); nothing is there yet.
    fn gate(&self, name: &str) -> PathBuf {
        self.fx.db.dir().join(format!("gate-{name}"))
    }

    /// A new notebook made through the API by `user`.
    fn create_notebook(&self, user: &TestUser, body: Value) -> NotebookId {
        let reply = self.api.post_json(
            &format!("/api/projects/{}/notebooks", self.fx.project),
            Auth::Bearer(&user.token),
            &body,
        );
        reply.expect(201);
        NotebookId(reply.json()["id"].as_i64().expect("notebook id"))
    }

    /// The notebook as the server exports it now (raw JSON, read by alice, the owner).
    fn raw_export(&self, notebook: NotebookId) -> Value {
        let reply =
            self.api.get(&format!("/api/notebooks/{notebook}/ipynb"), Auth::Bearer(&self.fx.alice.token));
        reply.expect(200);
        reply.json()
    }

    /// The exported notebook as the real nbformat reads it, after `nbformat.validate`
    /// accepted it without a warning (see `tests/py/nb_read.py`).
    fn export(&self, notebook: NotebookId) -> Value {
        let reply =
            self.api.get(&format!("/api/notebooks/{notebook}/ipynb"), Auth::Bearer(&self.fx.alice.token));
        reply.expect(200);
        let file = self.fx.db.dir().join(format!("export-{notebook}.ipynb"));
        std::fs::write(&file, reply.body()).expect("write the export");
        let out = support::run_py("nb_read.py", &[&file]);
        assert!(out.status.success(), "nbformat refuses the export: {}", support::describe(&out));
        serde_json::from_slice(&out.stdout).expect("nb_read.py prints JSON")
    }

    /// `client` adds a code cell; returns once the server has it with this source.
    fn add_code(&self, client: &mut YClient, notebook: NotebookId, cell: &str, source: &str) {
        client.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": source, "cell_id": cell}));
        self.wait_source(notebook, cell, source);
    }

    /// Waits until the server's document has `cell` with exactly this source.
    fn wait_source(&self, notebook: NotebookId, cell: &str, source: &str) {
        eventually(&format!("the server has cell {cell} with source {source:?}"), || {
            let nb = self.raw_export(notebook);
            find_cell(&nb, cell).filter(|c| text(&c["source"]) == source).map(drop)
        });
    }

    fn run_reply(&self, user: &TestUser, notebook: NotebookId, cell: &str) -> Reply {
        self.api.post_empty(&format!("/api/notebooks/{notebook}/cells/{cell}/run"), Auth::Bearer(&user.token))
    }

    /// Asks for a run, which must be accepted; returns its record (`queued`).
    fn run(&self, user: &TestUser, notebook: NotebookId, cell: &str) -> Value {
        let reply = self.run_reply(user, notebook, cell);
        reply.expect(202);
        let record = reply.json();
        assert_eq!(record["status"], "queued", "{record}");
        assert_eq!(record["cell_id"], cell, "{record}");
        assert_eq!(record["user_id"], json!(user.user.id.0), "{record}");
        record
    }

    /// Runs a cell and waits until its record has its final status; returns the record.
    fn run_to_end(&self, user: &TestUser, notebook: NotebookId, cell: &str) -> Value {
        let record = self.run(user, notebook, cell);
        self.wait_ended(notebook, &record)
    }

    fn cancel(&self, user: &TestUser, notebook: NotebookId, cell: &str) -> Reply {
        self.api
            .post_empty(&format!("/api/notebooks/{notebook}/cells/{cell}/cancel"), Auth::Bearer(&user.token))
    }

    /// `GET /api/notebooks/{id}/executions?QUERY` as `user`.
    fn executions(&self, user: &TestUser, notebook: NotebookId, query: &str) -> Vec<Value> {
        let reply =
            self.api.get(&format!("/api/notebooks/{notebook}/executions?{query}"), Auth::Bearer(&user.token));
        reply.expect(200);
        reply.json()["executions"].as_array().expect("executions").clone()
    }

    /// The current state of one execution record.
    fn record(&self, notebook: NotebookId, record: &Value) -> Value {
        self.executions(&self.fx.alice, notebook, "limit=1000")
            .into_iter()
            .find(|r| r["id"] == record["id"])
            .unwrap_or_else(|| panic!("execution {} is not listed", record["id"]))
    }

    /// Waits until a record has the given status.
    fn wait_status(&self, notebook: NotebookId, record: &Value, status: &str) -> Value {
        eventually(&format!("execution {} of cell {} is {status}", record["id"], record["cell_id"]), || {
            Some(self.record(notebook, record)).filter(|r| r["status"] == status)
        })
    }

    /// Waits until a record is `ok`, `error` or `aborted`.
    fn wait_ended(&self, notebook: NotebookId, record: &Value) -> Value {
        eventually(&format!("execution {} of cell {} ends", record["id"], record["cell_id"]), || {
            Some(self.record(notebook, record))
                .filter(|r| ["ok", "error", "aborted"].contains(&r["status"].as_str().unwrap_or_default()))
        })
    }

    /// `GET /api/kernels` as `user`.
    fn kernels(&self, user: &TestUser) -> Vec<Value> {
        let reply = self.api.get("/api/kernels", Auth::Bearer(&user.token));
        reply.expect(200);
        reply.json()["kernels"].as_array().expect("kernels").clone()
    }

    /// `user`'s one kernel: they must have exactly one.
    fn only_kernel(&self, user: &TestUser) -> Value {
        let kernels = self.kernels(user);
        assert_eq!(kernels.len(), 1, "{} should have one kernel: {kernels:?}", user.user.name);
        kernels[0].clone()
    }

    /// `GET /api/projects/{id}/kernels` as `user`.
    fn project_kernels(&self, user: &TestUser) -> Vec<Value> {
        let reply =
            self.api.get(&format!("/api/projects/{}/kernels", self.fx.project), Auth::Bearer(&user.token));
        reply.expect(200);
        reply.json()["kernels"].as_array().expect("kernels").clone()
    }

    /// Outputs of a cell as nbformat reads the export.
    fn outputs(&self, notebook: NotebookId, cell: &str) -> Value {
        cell_in(&self.export(notebook), cell)["outputs"].clone()
    }

    /// The pid a `import os; os.getpid()` cell printed, read from the export.
    fn printed_pid(&self, notebook: NotebookId, cell: &str) -> u32 {
        pid_in(&self.outputs(notebook, cell))
    }

    /// Waits until `client` sees `cell` exactly as the server exports it, idle.
    fn client_sees_export(&self, client: &mut YClient, notebook: NotebookId, cell: &str) -> Value {
        let expected = exported_cell(&self.export(notebook), cell);
        client_sees(client, cell, &expected)
    }
}

/// The cell with this id, if the notebook (export or client dump) has it.
fn find_cell<'a>(nb: &'a Value, id: &str) -> Option<&'a Value> {
    nb["cells"].as_array()?.iter().find(|c| c["id"] == id)
}

fn cell_in<'a>(nb: &'a Value, id: &str) -> &'a Value {
    find_cell(nb, id).unwrap_or_else(|| panic!("no cell {id} in {nb}"))
}

/// A multiline string of an `.ipynb` (a string or a list of lines) as one string.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        other => panic!("not text: {other}"),
    }
}

/// An exported cell as clients hold it in the document: without the authorship that the
/// export adds under `metadata.talkbook`.
fn exported_cell(nb: &Value, id: &str) -> Value {
    let mut cell = cell_in(nb, id).clone();
    let metadata = cell["metadata"].as_object_mut().expect("metadata");
    assert!(metadata.remove("talkbook").is_some(), "the export names no author for cell {id}: {metadata:?}");
    cell
}

/// A cell of a client's dump in nbformat's terms: without the kernel's display id, which
/// the document keeps in a display output's metadata so later updates find it and which
/// the export leaves out.
fn document_cell(dump: &Value, id: &str) -> Option<Value> {
    let mut cell = find_cell(&dump["notebook"], id)?.clone();
    // (`get_mut`, not `cell["outputs"]`: indexing a JSON object mutably adds missing keys.)
    let outputs = cell.get_mut("outputs").and_then(Value::as_array_mut);
    for output in outputs.into_iter().flatten() {
        let metadata = output.get_mut("metadata");
        if let Some(metadata) = metadata.and_then(Value::as_object_mut) {
            metadata.remove("talkbook_display_id");
        }
    }
    Some(cell)
}

/// Waits until `client` has `cell` equal to `expected` and idle; returns its dump.
fn client_sees(client: &mut YClient, cell: &str, expected: &Value) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let dump = client.dump();
        let seen = document_cell(&dump, cell);
        let state = &dump["execution_states"][cell];
        if seen.as_ref() == Some(expected) && state == "idle" {
            return dump;
        }
        assert!(
            Instant::now() < deadline,
            "{} never saw cell {cell} idle as {expected}; it has {seen:?}, {state}",
            client.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pid printed by a cell whose only output is the execute_result of `os.getpid()`.
fn pid_in(outputs: &Value) -> u32 {
    let outputs = outputs.as_array().expect("outputs");
    assert_eq!(outputs.len(), 1, "expected one execute_result: {outputs:?}");
    assert_eq!(outputs[0]["output_type"], "execute_result", "{outputs:?}");
    text(&outputs[0]["data"]["text/plain"]).parse().unwrap_or_else(|e| panic!("not a pid ({e}): {outputs:?}"))
}

/// A Python source that waits until `gate` exists, between `before` and `after`.
fn gate_code(gate: &Path, before: &str, after: &str) -> String {
    let gate = gate.to_str().expect("a UTF-8 path");
    assert!(!gate.contains(['\'', '\\']), "a gate path Python can quote simply: {gate}");
    format!("import os, time\n{before}while not os.path.exists('{gate}'):\n    time.sleep(0.05)\n{after}")
}

fn open_gate(gate: &Path) {
    std::fs::write(gate, b"go").expect("create the gate file");
}

/// Whether process `pid` has exited (gone, or a zombie no one reaped yet).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn time_of(record: &Value, field: &str) -> DateTime<FixedOffset> {
    let text = record[field].as_str().unwrap_or_else(|| panic!("no {field} in {record}"));
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{field} {text:?}: {e}"))
}

/// Traceback text without the terminal colour codes IPython puts in.
fn plain_traceback(error: &Value) -> String {
    let lines = error["traceback"].as_array().unwrap_or_else(|| panic!("no traceback list: {error}"));
    let mut out = String::new();
    for line in lines {
        let line = line.as_str().unwrap_or_else(|| panic!("a traceback line is not a string: {error}"));
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' && chars.peek() == Some(&'[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// An error output's fields, with the traceback checked to be a list of strings that
/// ends with `ename: evalue` as IPython prints it.
fn assert_error(output: &Value, ename: &str, evalue: &str) -> String {
    assert_eq!(output["output_type"], "error", "{output}");
    assert_eq!(output["ename"], ename, "{output}");
    assert_eq!(output["evalue"], evalue, "{output}");
    let traceback = plain_traceback(output);
    let last = format!("{ename}: {evalue}");
    assert!(
        traceback.trim_end().ends_with(last.trim_end()),
        "traceback does not end with {last:?}:\n{traceback}"
    );
    traceback
}

fn stream(name: &str, text: &str) -> Value {
    json!({"output_type": "stream", "name": name, "text": text})
}

fn error_body(reply: &Reply) -> (String, String) {
    let body = reply.json();
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {body}"));
    let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no error message: {body}"));
    (code.to_owned(), message.to_owned())
}

const PID_CODE: &str = "import os\nos.getpid()";
