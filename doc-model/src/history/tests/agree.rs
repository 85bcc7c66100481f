//! The replayer's text index against yrs's own deltas, on a random log of single and
//! concurrent (merged) edits of every size, with surrogate pairs, moves and deletions.

use super::{ALICE, BOB, cid, edit, peer, sync};
use crate::history::Replayer;
use crate::{Cell, CellId, JsonObject, NotebookDoc};

struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound.max(1) as u64) as usize
    }
}

/// A random edit of `doc`: insert, delete a range, rewrite, or (rarely) move, create or
/// delete a cell. Positions fall on character boundaries.
fn random_edit(doc: &NotebookDoc, rng: &mut Rng, serial: &mut usize) -> Vec<u8> {
    let notebook = doc.read();
    let cell = &notebook.cells[rng.below(notebook.cells.len())];
    let chars: Vec<char> = cell.source.chars().collect();
    let offset = |k: usize| chars[..k].iter().map(|c| c.len_utf16() as u32).sum::<u32>();
    let id = cell.id.clone();
    match rng.below(20) {
        0 if notebook.cells.len() > 2 => edit(doc, |ed| ed.delete_cell(&id).map(drop)),
        1 => {
            *serial += 1;
            let new = Cell::code("new 😀").with_id(CellId::new(format!("n{serial}")));
            edit(doc, |ed| ed.insert_cell(rng.below(notebook.cells.len() + 1), &new))
        }
        2 => edit(doc, |ed| ed.move_cell(&id, rng.below(notebook.cells.len()))),
        3 => edit(doc, |ed| ed.set_source(&id, "rewritten ✓")),
        4..=9 if !chars.is_empty() => {
            let start = rng.below(chars.len());
            let end = (start + 1 + rng.below(4)).min(chars.len());
            edit(doc, |ed| ed.delete_source(&id, offset(start), offset(end) - offset(start)))
        }
        _ => {
            let text = ["x", "😀", "ab", "é\n", "tab\t😀"][rng.below(5)];
            edit(doc, |ed| ed.insert_source(&id, offset(rng.below(chars.len() + 1)), text))
        }
    }
}

fn assert_replays_agree(log: &[Vec<u8>], doc: &NotebookDoc) -> usize {
    let mut fast = Replayer::new();
    let mut slow = Replayer::new().without_text_index();
    let mut changes = 0;
    for (i, update) in log.iter().enumerate() {
        let (f, s) = (fast.apply(update).expect("replay"), slow.apply(update).expect("replay"));
        assert_eq!(f, s, "update {i}");
        changes += f.len();
    }
    assert_eq!(fast.doc().read(), doc.read());
    changes
}

#[test]
fn the_text_index_counts_exactly_what_yrs_deltas_count() {
    let alice = NotebookDoc::with_client_id(ALICE);
    let mut log = vec![edit(&alice, |ed| {
        ed.init(&JsonObject::new());
        for i in 0..4 {
            ed.push_cell(&Cell::code(format!("cell {i} 😀")).with_id(cid(&format!("c{i}"))))?;
        }
        Ok(())
    })];
    let bob = peer(&alice, BOB);
    let (mut rng, mut serial) = (Rng(7), 0);
    for step in 0..1_500 {
        if step % 5 == 4 {
            // Concurrent edits, logged as one merged update.
            let a = random_edit(&alice, &mut rng, &mut serial);
            let b = random_edit(&bob, &mut rng, &mut serial);
            log.push(yrs::merge_updates_v1([a.as_slice(), b.as_slice()]).expect("merge"));
        } else {
            let doc = if step % 2 == 0 { &alice } else { &bob };
            log.push(random_edit(doc, &mut rng, &mut serial));
        }
        sync(&alice, &bob);
    }
    let changes = assert_replays_agree(&log, &alice);
    assert!(changes > 1_500, "{changes} changes");
    // From a checkpoint too.
    let mut fast = Replayer::from_state(&log[0]).expect("checkpoint");
    let mut slow = Replayer::from_state(&log[0]).expect("checkpoint").without_text_index();
    for update in &log[1..] {
        assert_eq!(fast.apply(update).expect("replay"), slow.apply(update).expect("replay"));
    }
}

#[test]
fn updates_with_known_or_missing_parts_replay_the_same_with_and_without_the_index() {
    let alice = NotebookDoc::with_client_id(ALICE);
    let mut log = vec![edit(&alice, |ed| {
        ed.init(&JsonObject::new());
        ed.push_cell(&Cell::code("abc").with_id(cid("a")))?;
        ed.push_cell(&Cell::code("xyz").with_id(cid("b")))
    })];
    let (mut rng, mut serial) = (Rng(11), 0);
    for step in 0..300 {
        let update = random_edit(&alice, &mut rng, &mut serial);
        match step % 6 {
            // Resent with content the replayer already has, as a late sync step may.
            2 => {
                let previous = log.last().cloned().unwrap_or_default();
                log.push(yrs::merge_updates_v1([previous.as_slice(), update.as_slice()]).expect("merge"));
            }
            // Out of order: yrs keeps the later one pending until the earlier one comes.
            4 => {
                let next = random_edit(&alice, &mut rng, &mut serial);
                log.push(next);
                log.push(update);
            }
            _ => log.push(update),
        }
    }
    assert_replays_agree(&log, &alice);
}
