//! Authorship history (SPEC §1, §7, §10) end to end: a real `talkbook serve` whose clock
//! the test sets (a file given with the hidden `--clock-file`), real pycrdt clients typing,
//! and the history API answering: blame, the timeline, time travel, restore and per-user
//! undo, on SQLite and PostgreSQL.
//!
//! Edits are made one at a time: a test moves the clock, a client edits, and the test
//! waits until the edit is committed (another client or the export shows it) before the
//! next, so each logged update carries the time the test chose. Nothing depends on speed.
//!
//! The tests are in `history/`: blame and restore (`blame`), a simulated day with time
//! travel and the timeline (`day`), undo (`undo`).

mod support;

#[path = "api/client.rs"]
mod client;

#[path = "history/blame.rs"]
mod blame;
#[path = "history/day.rs"]
mod day;
#[path = "history/undo.rs"]
mod undo;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use client::{Api, Auth};
use serde_json::{Value, json};
use support::fixture::Fixture;
use support::server::{Backend, TestUser};
use support::yclient::{Kind, YClient};
use sync_server::store::NotebookMode;

/// How long any wait may take before the test fails (a failure signal, not a timing).
const PATIENCE: Duration = Duration::from_secs(60);

/// A server with a settable clock, its API, and the fixture's users and notebook.
struct Historic {
    fx: Fixture,
    api: Api,
    clock: PathBuf,
    _dir: tempfile::TempDir,
}

impl Historic {
    fn new(backend: Backend, mode: NotebookMode) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = dir.path().join("now");
        // Before the server starts, so even its first writes carry a chosen time.
        std::fs::write(&clock, "2027-03-01T07:00:00Z").expect("clock");
        let env = [("TALKBOOK_CLOCK_FILE", clock.to_str().expect("utf-8 path"))];
        let fx = Fixture::build(backend, mode, &env);
        let api = Api::new(&fx.server.http());
        Self { fx, api, clock, _dir: dir }
    }

    /// Sets the server's clock.
    fn at(&self, time: &str) -> DateTime<Utc> {
        std::fs::write(&self.clock, time).expect("clock");
        time.parse().expect("RFC 3339")
    }

    fn client(&self, name: &str, user: &TestUser) -> YClient {
        self.fx.client(Kind::Python, name, user)
    }

    fn nb(&self) -> String {
        format!("/api/notebooks/{}", self.fx.notebook)
    }

    /// The notebook's export as JSON, now or at a point (`?seq=` / `?at=`).
    fn export(&self, user: &TestUser, query: &str) -> Value {
        let reply = self.api.get(&format!("{}/ipynb{query}", self.nb()), Auth::Bearer(&user.token));
        reply.expect(200);
        reply.json()
    }

    /// Waits until the server's current export has `cell_id` with exactly `source`.
    fn settled(&self, cell_id: &str, source: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let exported = self.export(&self.fx.alice, "");
            if cell_source(&exported, cell_id).as_deref() == Some(source) {
                return;
            }
            assert!(Instant::now() < deadline, "cell {cell_id} never became {source:?}: {exported}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn blame(&self, cell_id: &str, query: &str) -> Value {
        let reply = self
            .api
            .get(&format!("{}/cells/{cell_id}/blame{query}", self.nb()), Auth::Bearer(&self.fx.vera.token));
        reply.expect(200);
        reply.json()
    }

    fn timeline(&self, query: &str) -> Value {
        let reply = self.api.get(&format!("{}/history{query}", self.nb()), Auth::Bearer(&self.fx.vera.token));
        reply.expect(200);
        reply.json()
    }
}

/// A cell's source in an export (sources are lists of lines there).
fn cell_source(exported: &Value, cell_id: &str) -> Option<String> {
    let cell = exported["cells"].as_array()?.iter().find(|c| c["id"] == cell_id)?;
    Some(cell["source"].as_array()?.iter().filter_map(Value::as_str).collect())
}

/// The cells of an export without what changes on every export.
fn cells(exported: &Value) -> Value {
    exported["cells"].clone()
}

/// Types `text` one character per update at `index`, as a person does.
fn type_text(client: &mut YClient, cell_id: &str, index: usize, text: &str) {
    for (i, c) in text.chars().enumerate() {
        client
            .ok(json!({"cmd": "insert_text", "cell_id": cell_id, "index": index + i, "text": c.to_string()}));
    }
}

/// A user's login in an API user object.
fn login(user: &Value) -> &str {
    user["name"].as_str().unwrap_or("(server)")
}
