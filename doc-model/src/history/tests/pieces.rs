//! `source_pieces`: a source's items with their ids, tombstones included.

use super::{ALICE, BOB, cid, edit, peer, sync};
use crate::history::{Piece, source_pieces};
use crate::{Cell, JsonObject, NotebookDoc};

fn live_text(pieces: &[Piece]) -> String {
    pieces.iter().filter_map(|p| p.text.as_deref()).collect()
}

/// (client, text or "~len" for a tombstone) of each piece.
fn shape(pieces: &[Piece]) -> Vec<(u64, String)> {
    pieces.iter().map(|p| (p.client, p.text.clone().unwrap_or_else(|| format!("~{}", p.len)))).collect()
}

#[test]
fn pieces_show_who_wrote_and_who_deleted_what_where() {
    let alice = NotebookDoc::with_client_id(ALICE);
    edit(&alice, |ed| {
        ed.init(&JsonObject::new());
        ed.push_cell(&Cell::code("").with_id(cid("a")))?;
        // Another cell, deleted later, leaves tombstones elsewhere in the document.
        ed.push_cell(&Cell::code("elsewhere").with_id(cid("z")))
    });
    edit(&alice, |ed| ed.insert_source(&cid("a"), 0, "hello"));
    let bob = peer(&alice, BOB);
    // Concurrent: Bob appends, Alice types in the middle.
    edit(&bob, |ed| ed.insert_source(&cid("a"), 5, " world"));
    edit(&alice, |ed| ed.insert_source(&cid("a"), 2, "XY"));
    sync(&alice, &bob);
    assert_eq!(alice.read().cells[0].source, "heXYllo world");
    // Bob deletes across Alice's and his own text; Alice deletes the other cell.
    edit(&bob, |ed| ed.delete_source(&cid("a"), 3, 6));
    edit(&alice, |ed| ed.delete_cell(&cid("z")).map(drop));
    sync(&alice, &bob);
    let source = alice.read().cells[0].source.clone();
    assert_eq!(source, "heXorld");

    for doc in [&alice, &bob] {
        let pieces = source_pieces(doc, "a").expect("cell a");
        assert_eq!(live_text(&pieces), source);
        assert_eq!(
            shape(&pieces),
            vec![
                (ALICE, "he".into()),
                (ALICE, "X".into()),
                (ALICE, "~1".into()),
                (ALICE, "~3".into()),
                (BOB, "~2".into()),
                (BOB, "orld".into()),
            ]
        );
        // Ids: Alice's "XY" was typed after "hello", so its clocks follow.
        let he = &pieces[0];
        assert_eq!((pieces[1].clock, pieces[2].clock), (he.clock + 5, he.clock + 6));
        assert_eq!(pieces[3].clock, he.clock + 2, "the tombstone of \"llo\" is Alice's l, l, o");
        assert_eq!(pieces[4].clock + 2, pieces[5].clock, "Bob's \" w\" deleted, \"orld\" kept");
    }
    assert_eq!(source_pieces(&alice, "z"), None);
}

#[test]
fn pieces_count_utf16_units() {
    let doc = NotebookDoc::with_client_id(ALICE);
    edit(&doc, |ed| ed.push_cell(&Cell::code("a😀b").with_id(cid("a"))));
    edit(&doc, |ed| ed.delete_source(&cid("a"), 1, 2));
    let pieces = source_pieces(&doc, "a").expect("cell a");
    assert_eq!(shape(&pieces), vec![(ALICE, "a".into()), (ALICE, "~2".into()), (ALICE, "b".into())]);
    assert_eq!(pieces.iter().map(|p| p.len).sum::<u32>(), 4);
}
