//! Kernels' working directories: each kernel runs in its own copy of the project's files,
//! brought up to date before every run; what a run writes is stored back into the project
//! as the kernel's user, except over a file someone else blocks, which the run is told.

use super::*;

/// A real 2×1 PNG (a red and a blue pixel), as hex for Python's `bytes.fromhex`.
const PNG_HEX: &str = "89504e470d0a1a0a0000000d49484452000000020000000108020000007b40e8dd0000000d494441\
                       5478da63f8cf0004ff01070001ff3d7d8c490000000049454e44ae426082";

fn png() -> Vec<u8> {
    (0..PNG_HEX.len()).step_by(2).map(|i| u8::from_str_radix(&PNG_HEX[i..i + 2], 16).expect("hex")).collect()
}

impl Px {
    /// Every path of the project, folders with a trailing `/`.
    fn paths(&self) -> Vec<String> {
        let url = format!("/api/projects/{}/files?path=&recursive=true", self.fx.project);
        let reply = self.api.get(&url, Auth::Bearer(&self.fx.alice.token));
        reply.expect(200);
        let files = reply.json()["files"].as_array().expect("files").clone();
        let path = |f: &Value| f["path"].as_str().expect("path").to_owned();
        files.iter().map(|f| if f["kind"] == "folder" { format!("{}/", path(f)) } else { path(f) }).collect()
    }

    /// `user`'s kernels: `(notebook_id, pid)` each.
    fn kernels_of(&self, user: &TestUser) -> Vec<(Value, Value)> {
        let reply = self.api.get("/api/kernels", Auth::Bearer(&user.token));
        reply.expect(200);
        let kernels = reply.json()["kernels"].as_array().expect("kernels").clone();
        kernels.iter().map(|k| (k["notebook_id"].clone(), k["pid"].clone())).collect()
    }
}

/// Checks that `path` holds exactly `bytes`, last written by `by`, and says so in the
/// listing (size, sha256).
fn assert_stored(px: &Px, path: &str, bytes: &[u8], by: &TestUser) {
    let entry = px.entry(path);
    assert_eq!(entry["kind"], "file", "{entry}");
    assert_eq!(
        (&entry["size"], &entry["sha256"]),
        (&json!(bytes.len()), &json!(sha256_hex(bytes))),
        "{entry}"
    );
    assert_eq!(entry["updated_by"], user_ref(by), "{path} was written by someone else: {entry}");
    assert_eq!(px.content(path), bytes, "the bytes of {path}");
}

fn what_a_cell_writes_is_stored_as_its_authors_and_read_by_another_kernel(backend: Backend) {
    let px = Px::new(backend);
    let (alice, bob) = (&px.fx.alice, &px.fx.bob);
    let writer = format!(
        r"import os
with open('out.csv', 'w') as f:
    f.write('x,y\n1,2\n3,4\n')
with open('plot.png', 'wb') as f:
    f.write(bytes.fromhex('{PNG_HEX}'))
os.makedirs('results', exist_ok=True)
with open('results/summary.txt', 'w') as f:
    f.write('two rows')
print(os.getcwd())"
    );
    let writes = px.import(alice, "writes", &[("write", &writer)]);
    assert_eq!(px.run_cell(alice, writes, "write")["status"], "ok");
    let alice_dir = stdout_only(&px.outputs(writes, "write"));
    assert!(alice_dir.starts_with('/') && alice_dir.ends_with('\n'), "{alice_dir:?}");

    // Everything it wrote is in the project, byte for byte, as alice's.
    let csv = b"x,y\n1,2\n3,4\n";
    assert_stored(&px, "out.csv", csv, alice);
    assert_stored(&px, "plot.png", &png(), alice);
    assert_stored(&px, "results/summary.txt", b"two rows", alice);
    assert_eq!(px.paths(), ["out.csv", "plot.png", "results/", "results/summary.txt"]);
    let reply = px.api.get(&px.files_url("/content", "plot.png"), Auth::Bearer(&bob.token));
    assert_eq!(reply.header("content-type").as_deref(), Some("image/png"));

    // Bob's cell runs in his own kernel, in another directory, and reads what alice's
    // stored; reading changes nothing, so nothing becomes his.
    let reader = "import os\nprint(os.getcwd())\nwith open('out.csv') as f:\n    print(f.read(), end='')";
    let reads = px.import(bob, "reads", &[("read", reader)]);
    assert_eq!(px.run_cell(bob, reads, "read")["status"], "ok");
    let printed = stdout_only(&px.outputs(reads, "read"));
    let (bob_dir, rest) = printed.split_once('\n').unwrap_or_else(|| panic!("{printed:?}"));
    assert_eq!(rest, "x,y\n1,2\n3,4\n");
    assert_ne!(format!("{bob_dir}\n"), alice_dir, "alice's and bob's kernels share a directory");
    let (alice_kernels, bob_kernels) = (px.kernels_of(alice), px.kernels_of(bob));
    assert_eq!(alice_kernels.len(), 1, "{alice_kernels:?}");
    assert_eq!(bob_kernels.len(), 1, "{bob_kernels:?}");
    assert_eq!((&alice_kernels[0].0, &bob_kernels[0].0), (&json!(writes.0), &json!(reads.0)));
    assert_ne!(alice_kernels[0].1, bob_kernels[0].1, "one kernel process for both");
    assert_stored(&px, "out.csv", csv, alice);
    assert_eq!(px.paths(), ["out.csv", "plot.png", "results/", "results/summary.txt"]);
}

#[test]
fn what_a_cell_writes_is_stored_as_its_authors_and_read_by_another_kernel_on_sqlite() {
    what_a_cell_writes_is_stored_as_its_authors_and_read_by_another_kernel(Backend::Sqlite);
}

#[test]
fn what_a_cell_writes_is_stored_as_its_authors_and_read_by_another_kernel_on_postgres() {
    what_a_cell_writes_is_stored_as_its_authors_and_read_by_another_kernel(Backend::Postgres);
}

/// The line a run gets for `path`, which `holder` blocks by hand: checked up to where the
/// wording is free, and that it is one line.
fn assert_not_stored_note(output: &Value, path: &str, holder: &TestUser) {
    assert_eq!((&output["output_type"], &output["name"]), (&json!("stream"), &json!("stderr")), "{output}");
    let note = text(&output["text"]);
    let start = format!("[talkbook] {path} was not stored: {} blocks it", holder.user.display_name);
    assert!(note.starts_with(&start), "{note:?} does not start with {start:?}");
    assert!(note.contains("by hand"), "{note:?} does not say how the file is blocked");
    assert!(note.ends_with('\n') && note.matches('\n').count() == 1, "not one line: {note:?}");
}

fn a_run_leaves_a_file_someone_else_blocks_as_it_was_and_says_why(backend: Backend) {
    let px = Px::new(backend);
    let (alice, bob, carol) = (&px.fx.alice, &px.fx.bob, &px.fx.carol);
    let data = b"a,b\n1,2\n";
    px.put(carol, "data.csv", data).expect(201);
    let block = px.block_by_hand(bob, "data.csv");

    let code = "with open('data.csv', 'w') as f:\n    f.write('overwritten\\n')\n\
                with open('free.csv', 'w') as f:\n    f.write('free\\n')";
    let notebook = px.import(alice, "overwrites", &[("write", code)]);
    assert_eq!(px.run_cell(alice, notebook, "write")["status"], "ok");
    // The blocked file is as carol wrote it, still bob's to hold; the free one is stored.
    assert_stored(&px, "data.csv", data, carol);
    assert_eq!(px.block("data.csv"), block);
    assert_stored(&px, "free.csv", b"free\n", alice);
    let outputs = px.outputs(notebook, "write");
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_not_stored_note(&outputs[0], "data.csv", bob);

    // The same in a console: the note comes among the run's events, before its end.
    let console = px.open_console(alice, None);
    let events = px.listen(alice, &console);
    let run = px.execute(alice, &console, "with open('data.csv', 'w') as f:\n    f.write('console\\n')");
    let outputs = console_outputs(&events.run(run));
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_not_stored_note(&outputs[0], "data.csv", bob);
    assert_stored(&px, "data.csv", data, carol);
}

#[test]
fn a_run_leaves_a_file_someone_else_blocks_as_it_was_and_says_why_on_sqlite() {
    a_run_leaves_a_file_someone_else_blocks_as_it_was_and_says_why(Backend::Sqlite);
}

#[test]
fn a_run_leaves_a_file_someone_else_blocks_as_it_was_and_says_why_on_postgres() {
    a_run_leaves_a_file_someone_else_blocks_as_it_was_and_says_why(Backend::Postgres);
}

fn the_next_run_sees_the_project_as_it_is_now(backend: Backend) {
    let px = Px::new(backend);
    let (alice, bob) = (&px.fx.alice, &px.fx.bob);
    px.put(alice, "gone.txt", b"here").expect(201);
    let show = "import os\nfor name in ['gone.txt', 'made.txt']:\n    \
                print(name, open(name).read() if os.path.exists(name) else None)";
    let make = "with open('made.txt', 'w') as f:\n    f.write('made')";
    let notebook = px.import(alice, "sees", &[("make", make), ("show", show)]);
    let shown = |expected: &str| {
        assert_eq!(px.run_cell(alice, notebook, "show")["status"], "ok");
        assert_eq!(stdout_only(&px.outputs(notebook, "show")), expected);
    };
    assert_eq!(px.run_cell(alice, notebook, "make")["status"], "ok");
    assert_stored(&px, "made.txt", b"made", alice);
    shown("gone.txt here\nmade.txt made\n");

    // Bob deletes both (one the kernel made itself): the next run has neither, and the
    // kernel's old copies do not come back into the project.
    px.delete_file(bob, "gone.txt").expect(204);
    px.delete_file(bob, "made.txt").expect(204);
    shown("gone.txt None\nmade.txt None\n");
    assert_eq!(px.paths(), Vec::<String>::new());
    // A file uploaded again, with other bytes, is there with those.
    px.put(bob, "gone.txt", b"back").expect(201);
    shown("gone.txt back\nmade.txt None\n");
    assert_eq!(px.paths(), ["gone.txt"]);
    assert_stored(&px, "gone.txt", b"back", bob);
}

#[test]
fn the_next_run_sees_the_project_as_it_is_now_on_sqlite() {
    the_next_run_sees_the_project_as_it_is_now(Backend::Sqlite);
}

#[test]
fn the_next_run_sees_the_project_as_it_is_now_on_postgres() {
    the_next_run_sees_the_project_as_it_is_now(Backend::Postgres);
}
