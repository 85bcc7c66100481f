//! Running cells in real Jupyter kernels (SPEC §8), end to end: a real `talkbook serve`,
//! real ipykernel and bash_kernel processes from the project's `.venv`, real Yjs clients
//! (stock `y-websocket` and pycrdt) watching the shared document, and the real nbformat
//! judging what the server wrote into it.
//!
//! Nothing here depends on speed: every wait polls for an eventual state with a generous
//! deadline (a failure signal only) and no duration is asserted. Where a run must still be
//! going while the test acts (a queue, a disconnect, culling), the cell waits for a gate
//! file that the test creates, rather than sleeping for a while and hoping.

mod support;

#[path = "api/client.rs"]
mod client;

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
    assert_eq!(cell_in(&kx.export(nb), "alice-cell")["execution_count"], 3);
    let export = kx.export(nb);
    for cell in ["alice-cell", "bob-cell"] {
        let expected = exported_cell(&export, cell);
        client_sees(&mut alice_client, cell, &expected);
        client_sees(&mut bob_client, cell, &expected);
    }
}

// --- Outputs in the document.

#[test]
fn stream_output_grows_in_steps_that_a_passive_client_sees() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Thread);
    let nb = kx.fx.notebook;
    let mut alice_client = kx.client(Kind::Js, "alice", &kx.fx.alice, nb);
    let code = "import time\nfor i in range(5):\n    print(f'line {i}', flush=True)\n    time.sleep(0.2)";
    kx.add_code(&mut alice_client, nb, "lines", code);
    // Carol only watches (pycrdt), recording each distinct state of the cell she receives.
    let mut carol = kx.client(Kind::Python, "carol", &kx.fx.carol, nb);
    carol.ok(json!({"cmd": "wait_for", "cell_id": "lines", "contains": "range(5)", "timeout_ms": 60000}));
    carol.ok(json!({"cmd": "watch_cell", "cell_id": "lines"}));

    let record = kx.run_to_end(&kx.fx.alice, nb, "lines");
    assert_eq!(record["status"], "ok", "{record}");
    let all_lines: String = (0..5).map(|i| format!("line {i}\n")).collect();
    let final_outputs = json!([stream("stdout", &all_lines)]);
    // nbformat's reading of the stored notebook: exactly one stream with all five lines.
    assert_eq!(kx.outputs(nb, "lines"), final_outputs);

    let states = eventually("carol's watch reaches the end of the run", || {
        let states = carol.ok(json!({"cmd": "watched", "cell_id": "lines"}))["states"].as_array()?.clone();
        let last = states.last()?;
        (last["execution_state"] == "idle" && last["outputs"] == final_outputs).then_some(states)
    });
    // Every state has at most one output, a stdout stream whose text only ever grows.
    let mut texts: Vec<String> = Vec::new();
    let mut run_states: Vec<String> = Vec::new();
    for state in &states {
        let run_state = state["execution_state"].as_str().expect("execution_state").to_owned();
        if run_states.last() != Some(&run_state) {
            run_states.push(run_state.clone());
        }
        let outputs = state["outputs"].as_array().expect("outputs");
        assert!(outputs.len() <= 1, "more than one output at once: {state}");
        let Some(output) = outputs.first() else { continue };
        assert_eq!(
            (&output["output_type"], &output["name"]),
            (&json!("stream"), &json!("stdout")),
            "{state}"
        );
        let now = output["text"].as_str().expect("stream text").to_owned();
        if texts.last() != Some(&now) {
            assert!(
                texts.last().is_none_or(|before| now.starts_with(before.as_str())),
                "text shrank: {texts:?} then {now:?}"
            );
            if now != all_lines {
                assert_eq!(run_state, "busy", "a partial output outside the run: {state}");
            }
            texts.push(now);
        }
    }
    assert_eq!(texts.last(), Some(&all_lines), "{texts:?}");
    let partial = texts.len() - 1;
    assert!(partial >= 2, "carol saw the output grow in only {partial} partial steps: {texts:?}");
    // Everyone sees the run's state change; two changes close together may reach carol as
    // one update (the room merges what it commits in one turn), so "queued" may be skipped.
    assert!(
        run_states == ["idle", "queued", "busy", "idle"] || run_states == ["idle", "busy", "idle"],
        "the states carol saw: {states:?}"
    );
    assert_eq!(states.last().expect("states")["execution_count"], 1);
}

/// A 1×1 PNG image.
const PNG: [u8; 70] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00,
    0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0xf8, 0xcf, 0x50, 0x0f, 0x00, 0x03,
    0x86, 0x01, 0x80, 0x5a, 0x34, 0x7d, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42,
    0x60, 0x82,
];

#[test]
fn rich_outputs_land_in_the_document_as_nbformat_stores_them() {
    let kx = Kx::new(Backend::Sqlite, NotebookMode::Thread);
    let nb = kx.fx.notebook;
    let alice = &kx.fx.alice;
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    let png_hex: String = PNG.iter().map(|b| format!("{b:02x}")).collect();
    let html_repr = "<IPython.core.display.HTML object>";
    // (cell, source, the outputs nbformat stores for it once every cell ran), run in this
    // order in one kernel, so execution counts are 1, 2, …
    let cells: Vec<(&str, String, Value)> = vec![
        (
            "html",
            "from IPython.display import HTML, display\ndisplay(HTML('<b>bold</b>'))".into(),
            json!([{"output_type": "display_data", "metadata": {},
                    "data": {"text/html": "<b>bold</b>", "text/plain": html_repr}}]),
        ),
        (
            "png",
            format!(
                "from IPython.display import Image\n\
                 display(Image(data=bytes.fromhex('{png_hex}'), format='png'))"
            ),
            json!([{"output_type": "display_data", "metadata": {},
                    "data": {"image/png": base64::engine::general_purpose::STANDARD.encode(PNG),
                             "text/plain": "<IPython.core.display.Image object>"}}]),
        ),
        (
            // Shown here, updated by the next cell.
            "shown",
            "handle = display(HTML('<i>v1</i>'), display_id=True)".into(),
            json!([{"output_type": "display_data", "metadata": {},
                    "data": {"text/html": "<i>v2</i>", "text/plain": html_repr}}]),
        ),
        ("updater", "handle.update(HTML('<i>v2</i>'))".into(), json!([])),
        (
            "self-update",
            "h = display('first', display_id=True)\nh.update('second')".into(),
            json!([{"output_type": "display_data", "metadata": {}, "data": {"text/plain": "'second'"}}]),
        ),
        (
            "result",
            "6 * 7".into(),
            json!([{"output_type": "execute_result", "execution_count": 6, "metadata": {},
                    "data": {"text/plain": "42"}}]),
        ),
        (
            // Consecutive output of one stream is one output; another stream starts another.
            "streams",
            "import sys\n\
             print('one', flush=True)\n\
             print('two', flush=True)\n\
             print('oops', file=sys.stderr, flush=True)\n\
             print('three', flush=True)"
                .into(),
            json!([stream("stdout", "one\ntwo\n"), stream("stderr", "oops\n"), stream("stdout", "three\n")]),
        ),
        (
            "cleared",
            "from IPython.display import clear_output\n\
             print('before', flush=True)\n\
             clear_output(wait=True)\n\
             print('after')"
                .into(),
            json!([stream("stdout", "after\n")]),
        ),
        // Checked below: the traceback is IPython's own text.
        ("error", "1/0".into(), Value::Null),
    ];
    for (cell, source, _) in &cells {
        kx.add_code(&mut alice_client, nb, cell, source);
    }
    let records: Vec<Value> = cells.iter().map(|(cell, _, _)| kx.run(alice, nb, cell)).collect();
    for (record, (cell, _, _)) in records.iter().zip(&cells) {
        let record = kx.wait_ended(nb, record);
        let expected = if *cell == "error" { "error" } else { "ok" };
        assert_eq!(record["status"], expected, "{record}");
    }
    // The export as nbformat reads it (and validates it: nb_read.py fails otherwise).
    let export = kx.export(nb);
    for (n, (cell, _, outputs)) in cells.iter().enumerate() {
        let exported = cell_in(&export, cell);
        assert_eq!(exported["execution_count"], json!(n + 1), "cell {cell}");
        if !outputs.is_null() {
            assert_eq!(&exported["outputs"], outputs, "cell {cell}");
        }
    }
    let error = cell_in(&export, "error")["outputs"].as_array().expect("outputs").clone();
    assert_eq!(error.len(), 1, "{error:?}");
    let traceback = assert_error(&error[0], "ZeroDivisionError", "division by zero");
    assert!(traceback.contains("Cell In[9], line 1\n----> 1 1/0"), "{traceback}");
    assert_eq!(
        kx.record(nb, &records[8])["error"],
        "ZeroDivisionError: division by zero",
        "the record says why the run failed"
    );
    // The document holds the same: every client sees what the export says, and the
    // updated display still carries its display id so later updates find it.
    let mut bob_client = kx.client(Kind::Python, "bob", &kx.fx.bob, nb);
    for (cell, _, _) in &cells {
        let expected = exported_cell(&export, cell);
        client_sees(&mut alice_client, cell, &expected);
        client_sees(&mut bob_client, cell, &expected);
    }
    let dump = alice_client.dump();
    let shown = &cell_in(&dump["notebook"], "shown")["outputs"][0]["metadata"]["talkbook_display_id"];
    assert!(shown.as_str().is_some_and(|id| !id.is_empty()), "{dump}");
}

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
    assert!(time_of(&second, "started_at") >= time_of(&first, "ended_at"), "{first}\n{second}");
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

// --- Runs outlive their runner's connection.

fn outputs_keep_arriving_after_the_runner_disconnects(backend: Backend) {
    let kx = Kx::with_env(backend, NotebookMode::Thread, &[("TALKBOOK_ROOM_GRACE_SECONDS", "1")]);
    let nb = kx.fx.notebook;
    let alice = &kx.fx.alice;
    let (gate_one, gate_two) = (kx.gate("one"), kx.gate("two"));
    let mut alice_client = kx.client(Kind::Js, "alice", alice, nb);
    kx.add_code(
        &mut alice_client,
        nb,
        "watched",
        &gate_code(&gate_one, "print('start', flush=True)\n", "print('end')"),
    );
    kx.add_code(
        &mut alice_client,
        nb,
        "alone",
        &gate_code(&gate_two, "print('start', flush=True)\n", "print('end')"),
    );
    let mut carol = kx.client(Kind::Python, "carol", &kx.fx.carol, nb);
    carol.ok(json!({"cmd": "wait_for", "cell_id": "alone", "contains": "start", "timeout_ms": 60000}));

    // Alice asks for a run and her client goes at once.
    let run = kx.run(alice, nb, "watched");
    drop(alice_client);
    eventually("carol sees the first line", || {
        let cell = document_cell(&carol.dump(), "watched")?;
        (cell["outputs"] == json!([stream("stdout", "start\n")])).then_some(())
    });
    open_gate(&gate_one);
    assert_eq!(kx.wait_ended(nb, &run)["status"], "ok");
    let done = json!([stream("stdout", "start\nend\n")]);
    assert_eq!(kx.outputs(nb, "watched"), done);
    kx.client_sees_export(&mut carol, nb, "watched");
    let stored = kx.fx.stored();
    let cell = stored.read().cells.into_iter().find(|c| c.id.as_str() == "watched").expect("stored cell");
    assert_eq!(cell.outputs, [Output::stream("stdout", "start\nend\n")]);
    assert_eq!(cell.execution_count, Some(1));
    assert_eq!(stored.execution_state(&CellId::new("watched")), Some(ExecutionState::Idle));

    // With nobody connected at all (the room may be evicted meanwhile), outputs reach
    // storage, and whoever connects later sees them.
    drop(carol);
    let run = kx.run(alice, nb, "alone");
    eventually("the first line is stored with nobody connected", || {
        let stored = kx.fx.stored().read();
        let cell = stored.cells.into_iter().find(|c| c.id.as_str() == "alone")?;
        (cell.outputs == [Output::stream("stdout", "start\n")]).then_some(())
    });
    // Past the room's grace period, so the rest is written into a reloaded room.
    std::thread::sleep(Duration::from_secs(2));
    open_gate(&gate_two);
    assert_eq!(kx.wait_ended(nb, &run)["status"], "ok");
    let stored = kx.fx.stored();
    let cell = stored.read().cells.into_iter().find(|c| c.id.as_str() == "alone").expect("stored cell");
    assert_eq!(cell.outputs, [Output::stream("stdout", "start\nend\n")]);
    assert_eq!(cell.execution_count, Some(2));
    assert_eq!(stored.execution_state(&CellId::new("alone")), Some(ExecutionState::Idle));
    let export = kx.export(nb);
    assert_eq!(cell_in(&export, "alone")["outputs"], done);
    let mut bob = kx.client(Kind::Js, "bob", &kx.fx.bob, nb);
    for cell in ["watched", "alone"] {
        client_sees(&mut bob, cell, &exported_cell(&export, cell));
    }
}

#[test]
fn outputs_keep_arriving_after_the_runner_disconnects_on_sqlite() {
    outputs_keep_arriving_after_the_runner_disconnects(Backend::Sqlite);
}

#[test]
fn outputs_keep_arriving_after_the_runner_disconnects_on_postgres() {
    outputs_keep_arriving_after_the_runner_disconnects(Backend::Postgres);
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
    eventually("the kernel, idle now, is shut down too", || process_gone(busy_pid).then_some(()));
    assert_eq!(kx.kernels(alice), Vec::<Value>::new());
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
