//! The sync server with real Yjs clients: stock `y-websocket` (npm) and pycrdt clients edit
//! one notebook through a real `talkbook serve` process, on SQLite and on PostgreSQL.

mod support;

use serde_json::{Value, json};
use support::fixture::*;
use support::server::*;
use support::yclient::Kind;

fn converge_with_three_js_clients_and_one_python_client(backend: Backend) {
    let fx = Fixture::new(backend);
    let mut a = fx.client(Kind::Js, "a", &fx.alice);
    let mut b = fx.client(Kind::Js, "b", &fx.bob);
    let mut c = fx.client(Kind::Js, "c", &fx.alice);
    let mut p = fx.client(Kind::Python, "p", &fx.bob);
    a.ok(json!({"cmd": "add_cell", "cell_type": "code", "source": "shared = 1\n", "cell_id": "shared"}));
    for client in [&mut b, &mut c, &mut p] {
        client.ok(json!({"cmd": "wait_for", "cell_id": "shared", "contains": "shared = 1"}));
    }
    // Concurrent edits: everyone types into the same cell and adds a cell of their own,
    // without waiting for the others.
    for (client, word) in [(&mut a, "alpha"), (&mut b, "bravo"), (&mut c, "charlie"), (&mut p, "papa")] {
        client.ok(
            json!({"cmd": "insert_text", "cell_id": "shared", "index": 0, "text": format!("# {word}\n")}),
        );
        client.ok(json!({"cmd": "add_cell", "cell_type": "markdown", "source": format!("{word} was here"), "cell_id": format!("cell-{word}")}));
    }
    a.ok(json!({"cmd": "delete_text", "cell_id": "shared", "index": 0, "length": 2}));
    for client in [&mut a, &mut b, &mut c, &mut p] {
        client.ok(json!({"cmd": "wait_cells", "count": 5}));
        for word in ["alpha", "bravo", "charlie", "papa"] {
            client.ok(json!({"cmd": "wait_for", "cell_id": "shared", "contains": format!("{word}\n")}));
        }
    }
    // One more round trip per client so the deletion has reached everyone too.
    a.ok(json!({"cmd": "add_cell", "cell_type": "raw", "source": "end", "cell_id": "end"}));
    let dumps: Vec<Value> = [&mut a, &mut b, &mut c, &mut p]
        .into_iter()
        .map(|client| {
            client.ok(json!({"cmd": "wait_cells", "count": 6}));
            client.dump()
        })
        .collect();
    for (dump, name) in dumps.iter().zip(["a", "b", "c", "p"]) {
        assert_eq!(cells(dump), cells(&dumps[0]), "client {name} differs from client a");
        assert_eq!(dump["cell_count_raw"], json!(6), "client {name} has duplicated or missing cells");
    }
    let stored = fx.stored();
    assert_eq!(stored_cells(&stored), cells(&dumps[0]), "the stored notebook differs from the clients'");
    // Every cell has its author recorded by the server.
    let provenance = stored.provenance();
    let author = |id: &str| provenance.get(&doc_model::CellId::new(id)).map(|p| p.author_name.clone());
    assert_eq!(author("shared").as_deref(), Some("alice"));
    assert_eq!(author("cell-bravo").as_deref(), Some("bob"));
    assert_eq!(author("cell-papa").as_deref(), Some("bob"));
    assert_eq!(dumps[1]["provenance"]["cell-alpha"]["author_name"], json!("alice"), "clients see provenance");
}

#[test]
fn three_js_clients_and_a_python_client_converge_on_sqlite() {
    converge_with_three_js_clients_and_one_python_client(Backend::Sqlite);
}

#[test]
fn three_js_clients_and_a_python_client_converge_on_postgres() {
    converge_with_three_js_clients_and_one_python_client(Backend::Postgres);
}

/// The Rust example client joins, adds a cell the others receive, and the server records
/// its user as the author; it runs the cell and prints the kernel's result, which the
/// others see in their copy too.
#[test]
fn the_rust_example_client_adds_a_cell_others_see_and_runs_it() {
    let jupyter = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/share/jupyter");
    let fx = Fixture::with_env(Backend::Sqlite, &[("JUPYTER_PATH", jupyter)]);
    let mut watcher = fx.client(Kind::Js, "watcher", &fx.bob);
    watcher.ok(json!({"cmd": "add_cell", "cell_type": "markdown", "source": "hello", "cell_id": "hello"}));
    // `cargo test` builds the examples next to the test binaries' folder.
    let exe = std::env::current_exe().expect("test binary");
    let example =
        exe.parent().and_then(|deps| deps.parent()).expect("target dir").join("examples/rust-client");
    let out = std::process::Command::new(&example)
        .args(["--url", &fx.server.ws(), "--notebook", &fx.notebook.to_string(), "--token", &fx.alice.token])
        .args(["--source", "from_rust = 6 * 7\nfrom_rust", "--run", "--follow", "120"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", example.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", support::describe(&out));
    assert!(
        stdout.contains("markdown") && stdout.contains("bob: hello"),
        "the example did not list the cells: {stdout}"
    );
    assert!(stdout.contains("\n42\n[1] finished"), "the example did not print the run's result: {stdout}");
    watcher.ok(json!({"cmd": "wait_cells", "count": 2}));
    // The example saw the result, so the server has sent it to the watcher too; wait for
    // it to arrive there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let dump = loop {
        let dump = watcher.dump();
        if dump["notebook"]["cells"][1]["execution_count"] == json!(1) || std::time::Instant::now() > deadline
        {
            break dump;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let cell = &dump["notebook"]["cells"][1];
    assert_eq!(cell["source"], json!("from_rust = 6 * 7\nfrom_rust"));
    let id = cell["id"].as_str().expect("id");
    assert_eq!(dump["provenance"][id]["author_name"], json!("alice"));
    let result = json!([{"output_type": "execute_result", "execution_count": 1,
                         "data": {"text/plain": "42"}, "metadata": {}}]);
    assert_eq!(cell["outputs"], result, "the others see the run's result");
    assert_eq!(cell["execution_count"], json!(1));
}

/// Runs an example that follows the notebook until killed; returns once it printed a
/// line containing `expected` (the server recording the author of its new cell).
fn run_example_until(mut command: std::process::Command, expected: &str) -> Vec<String> {
    use std::io::BufRead;
    let mut child = command.stdout(std::process::Stdio::piped()).spawn().expect("start example");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(60)) {
        let done = line.contains(expected);
        lines.push(line);
        if done {
            let _ = child.kill();
            let _ = child.wait();
            return lines;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the example never printed `{expected}`; it printed {lines:?}");
}

#[test]
fn the_javascript_and_python_example_clients_work_against_talkbook() {
    let fx = Fixture::new(Backend::Sqlite);
    let mut watcher = fx.client(Kind::Js, "watcher", &fx.bob);
    watcher.ok(json!({"cmd": "add_cell", "cell_type": "markdown", "source": "hello", "cell_id": "hello"}));
    let root = support::repo_root();
    let nb = fx.notebook.to_string();
    let mut js = std::process::Command::new("node");
    js.arg(root.join("examples/js-client/client.mjs")).args([
        "--url",
        &fx.server.ws(),
        "--notebook",
        &nb,
        "--token",
        &fx.alice.token,
        "--source",
        "from_js = 1",
    ]);
    let lines = run_example_until(js, "author of");
    assert!(
        lines.iter().any(|l| l.contains("hello")),
        "the JS example did not list the existing cell: {lines:?}"
    );
    let mut py = std::process::Command::new(support::python());
    py.arg(root.join("examples/python-client/client.py")).args([
        "--url",
        &fx.server.ws(),
        "--notebook",
        &nb,
        "--token",
        &fx.bob.token,
        "--source",
        "from_py = 2",
    ]);
    run_example_until(py, "author of");
    watcher.ok(json!({"cmd": "wait_cells", "count": 3}));
    let dump = watcher.dump();
    let by_source = |source: &str| {
        let cell = dump["notebook"]["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .find(|c| c["source"] == json!(source))
            .cloned();
        let id = cell.unwrap_or_else(|| panic!("no cell `{source}` in {dump}"))["id"]
            .as_str()
            .expect("id")
            .to_owned();
        dump["provenance"][id]["author_name"].clone()
    };
    assert_eq!(by_source("from_js = 1"), json!("alice"));
    assert_eq!(by_source("from_py = 2"), json!("bob"));
}
