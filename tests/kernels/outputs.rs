//! Outputs in the document: streams that grow while a passive client watches, rich
//! displays stored as nbformat stores them, and outputs that keep arriving (and reach
//! storage) after the runner's client is gone.

use super::*;

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
