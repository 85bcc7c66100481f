//! Replaying many keystroke updates. The measurement is ignored by default; run it with
//! `cargo test -p doc-model --release -- --ignored --nocapture replay_speed`.

use std::time::Instant;

use super::{ALICE, BOB, cid, edit, peer};
use crate::history::{ChangeKind, Replayer};
use crate::{Cell, JsonObject, NotebookDoc};

const CELLS: usize = 20;

/// Two clients typing (and now and then deleting) one character per update in random cells.
/// Returns the log (the notebook's creation first) and the final document.
fn keystrokes(n: usize) -> (Vec<Vec<u8>>, NotebookDoc) {
    let alice = NotebookDoc::with_client_id(ALICE);
    let first = edit(&alice, |ed| {
        ed.init(&JsonObject::new());
        for i in 0..CELLS {
            ed.push_cell(&Cell::code(format!("cell_{i} = {i}\n")).with_id(cid(&format!("c{i}"))))?;
        }
        Ok(())
    });
    let bob = peer(&alice, BOB);
    let mut lens: Vec<u32> = alice.read().cells.iter().map(|c| c.source.len() as u32).collect();
    let mut log = vec![first];
    // A fixed linear congruential generator: the same keystrokes every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |bound: u32| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) % u64::from(bound.max(1))) as u32
    };
    for i in 0..n {
        let (doc, other) = if i % 2 == 0 { (&alice, &bob) } else { (&bob, &alice) };
        let cell = next(CELLS as u32) as usize;
        let id = cid(&format!("c{cell}"));
        let at = next(lens[cell] + 1);
        let update = if i % 10 == 9 && lens[cell] > 0 {
            lens[cell] -= 1;
            edit(doc, |ed| ed.delete_source(&id, at.min(lens[cell]), 1))
        } else {
            lens[cell] += 1;
            edit(doc, |ed| ed.insert_source(&id, at, "x"))
        };
        other.apply_update(&update).expect("apply");
        log.push(update);
    }
    (log, alice)
}

#[test]
fn every_keystroke_replays_as_one_source_edit() {
    let (log, doc) = keystrokes(2_000);
    let mut replayer = Replayer::new();
    let created = replayer.apply(&log[0]).expect("replay");
    assert_eq!(created.iter().filter(|c| c.kind == ChangeKind::CellCreated).count(), CELLS);
    for update in &log[1..] {
        let changes = replayer.apply(update).expect("replay");
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].kind, ChangeKind::SourceEdited);
        assert_eq!(changes[0].added + changes[0].removed, 1);
    }
    assert_eq!(replayer.doc().read(), doc.read());
}

#[test]
#[ignore = "a measurement: run in release with --nocapture"]
fn replay_speed() {
    let (log, doc) = keystrokes(100_000);
    // yrs alone, for comparison.
    let started = Instant::now();
    let plain = NotebookDoc::new();
    for update in &log {
        plain.apply_update(update).expect("apply");
    }
    eprintln!("applied {} updates without observers in {:?}", log.len(), started.elapsed());
    let started = Instant::now();
    let mut replayer = Replayer::new();
    let mut changes = 0;
    for update in &log {
        changes += replayer.apply(update).expect("replay").len();
    }
    let elapsed = started.elapsed();
    let rate = log.len() as f64 / elapsed.as_secs_f64();
    eprintln!("replayed {} updates ({changes} changes) in {elapsed:?}: {rate:.0} updates/s", log.len());
    assert_eq!(replayer.doc().read(), doc.read());
    assert!(rate > 20_000.0, "{rate:.0} updates/s");
}
