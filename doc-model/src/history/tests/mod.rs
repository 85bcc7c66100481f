//! Tests of the history building blocks on real yrs documents with several clients.

mod agree;
mod changes;
mod pieces;
mod restore;
mod speed;
mod undo;

use std::ops::Range;

use crate::guard::scan::{BlockKind, scan_update};
use crate::{CellId, DocError, Editor, NotebookDoc};

pub(super) const ALICE: u64 = 1;
pub(super) const BOB: u64 = 2;
pub(super) const CAROL: u64 = 3;

pub(super) fn cid(s: &str) -> CellId {
    CellId::new(s)
}

/// Runs edits on `doc` in one transaction and returns their update.
pub(super) fn edit(
    doc: &NotebookDoc,
    f: impl FnOnce(&mut Editor<'_, '_>) -> Result<(), DocError>,
) -> Vec<u8> {
    doc.edit(f).expect("edit").1
}

/// Brings two peers to the same state.
pub(super) fn sync(a: &NotebookDoc, b: &NotebookDoc) {
    a.apply_update(&b.encode_diff(&a.state_vector()).expect("diff")).expect("apply");
    b.apply_update(&a.encode_diff(&b.state_vector()).expect("diff")).expect("apply");
}

/// A peer with `client_id` holding `doc`'s state.
pub(super) fn peer(doc: &NotebookDoc, client_id: u64) -> NotebookDoc {
    let peer = NotebookDoc::with_client_id(client_id);
    peer.apply_update(&doc.encode_state()).expect("apply");
    peer
}

/// Clock ranges inserted and deleted by some updates, as the server reads them from its log.
pub(super) type Ranges = Vec<(u64, Range<u32>)>;

pub(super) fn ranges_of(updates: &[Vec<u8>]) -> (Ranges, Ranges) {
    let (mut inserted, mut deleted) = (Vec::new(), Vec::new());
    for update in updates {
        let scanned = scan_update(update).expect("scan");
        for block in &scanned.blocks {
            if matches!(block.kind, BlockKind::Item(_)) {
                inserted.push((block.id.client.get(), block.id.clock..block.end()));
            }
        }
        deleted.extend(scanned.deletes.iter().map(|(client, r)| (client.get(), r.clone())));
    }
    (inserted, deleted)
}
