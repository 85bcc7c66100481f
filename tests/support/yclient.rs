//! Drives the scripted Yjs clients of `tests/js/yclient.mjs` (stock `y-websocket`) and
//! `tests/py/yclient.py` (pycrdt) through their line protocol.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// Which implementation a client runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The npm `yjs` + `y-websocket` WebsocketProvider, unmodified.
    Js,
    /// `pycrdt` speaking the y-websocket protocol.
    Python,
}

/// One scripted client process.
pub struct YClient {
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl YClient {
    /// Starts a client for `room` on the server's `ws_url` (`ws://HOST:PORT/ws`).
    pub fn start(kind: Kind, name: &str, ws_url: &str, room: &str, token: Option<&str>) -> Self {
        Self::start_with(kind, name, ws_url, room, token, &[])
    }

    /// Like [`YClient::start`], with extra command-line arguments (e.g. `--client-id N`).
    pub fn start_with(
        kind: Kind,
        name: &str,
        ws_url: &str,
        room: &str,
        token: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let root = super::repo_root();
        let mut command = match kind {
            Kind::Js => {
                let mut c = Command::new("node");
                c.arg(root.join("tests/js/yclient.mjs"));
                c
            }
            Kind::Python => {
                let mut c = Command::new(super::python());
                c.arg(root.join("tests/py/yclient.py"));
                c
            }
        };
        command.args(["--url", ws_url, "--room", room, "--name", name]);
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        command.args(extra);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the {kind:?} client (run scripts/test to install it): {e}")
            });
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self { name: name.to_owned(), child, stdin, stdout, next_id: 1 }
    }

    /// Sends one command and returns its reply (`ok` may be false).
    pub fn cmd(&mut self, mut command: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        command["id"] = json!(id);
        writeln!(self.stdin, "{command}").unwrap_or_else(|e| panic!("{}: client gone: {e}", self.name));
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read reply");
            assert!(n > 0, "{}: client exited while running {command}", self.name);
            let Ok(reply) = serde_json::from_str::<Value>(&line) else { continue };
            if reply["id"] == json!(id) {
                return reply;
            }
        }
    }

    /// Sends a command that must succeed and returns its reply.
    pub fn ok(&mut self, command: Value) -> Value {
        let reply = self.cmd(command.clone());
        assert_eq!(reply["ok"], json!(true), "{}: {command} failed: {reply}", self.name);
        reply
    }

    /// Connects and waits for the first sync.
    pub fn connect(&mut self) {
        self.ok(json!({"cmd": "connect"}));
    }

    /// The notebook as this client sees it.
    pub fn dump(&mut self) -> Value {
        self.ok(json!({"cmd": "dump"}))
    }

    /// Notable events so far (permission denied, closes …).
    pub fn events(&mut self) -> Vec<Value> {
        self.ok(json!({"cmd": "events"}))["events"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the server sent a permission-denied message whose reason contains
    /// `needle`; returns the reason, or panics with the events if none came.
    pub fn expect_denied(&mut self, needle: &str) -> String {
        for _ in 0..200 {
            let events = self.events();
            if let Some(e) = events.iter().find(|e| {
                e["type"] == "permission-denied" && e["reason"].as_str().is_some_and(|r| r.contains(needle))
            }) {
                return e["reason"].as_str().unwrap_or_default().to_owned();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let events = self.events();
        panic!("{}: no permission denied with {needle:?}; events: {events:?}", self.name);
    }

    /// The permission-denied reasons received so far.
    pub fn denials(&mut self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["type"] == "permission-denied")
            .filter_map(|e| e["reason"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until a close with `code` was seen; panics with the events if none came.
    pub fn expect_close(&mut self, code: u16) -> Value {
        for _ in 0..200 {
            let events = self.events();
            if let Some(e) =
                events.iter().find(|e| e["type"] == "connection-close" && e["code"] == json!(code))
            {
                return e.clone();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let events = self.events();
        panic!("{}: no close {code}; events: {events:?}", self.name);
    }
}

impl Drop for YClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
