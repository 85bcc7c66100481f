//! How long a fresh document takes to apply a notebook's full state, depending on how the
//! text was typed: ten clients typing one character at a time at the *start* of one shared
//! text (syncing through a hub after every round), versus at the *end*.
//!
//! With yrs 0.28 the "start" shape grows quadratically (measured 2026-11-23 on 2 cores:
//! 5,000 edits 0.38 s, 10,000 edits 1.7 s, 20,000 edits 7.4 s) while the "end" shape stays
//! linear (1–14 ms). Loading a checkpoint is exactly this operation, so it bounds how fast a
//! room with such a history opens. Prints one JSON line per run.
//!
//! ```sh
//! cargo run --release -p doc-model --example load_shape
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used)] // a measurement program

use std::time::Instant;

use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

const CLIENTS: u64 = 10;

fn measure(at_start: bool, rounds: usize) {
    let clients: Vec<Doc> = (1..=CLIENTS).map(Doc::with_client_id).collect();
    let hub = Doc::with_client_id(1000);
    for _ in 0..rounds {
        let mut updates = Vec::new();
        for doc in &clients {
            let text = doc.get_or_insert_text("source");
            let mut txn = doc.transact_mut();
            let index = if at_start { 0 } else { text.len(&txn) };
            text.insert(&mut txn, index, "x");
            updates.push(txn.encode_update_v1());
        }
        for update in &updates {
            hub.transact_mut().apply_update(Update::decode_v1(update).unwrap()).unwrap();
        }
        for doc in &clients {
            let sv = doc.transact().state_vector();
            let diff = hub.transact().encode_state_as_update_v1(&sv);
            doc.transact_mut().apply_update(Update::decode_v1(&diff).unwrap()).unwrap();
        }
    }
    let state = hub.transact().encode_state_as_update_v1(&StateVector::default());
    let fresh = Doc::new();
    let started = Instant::now();
    fresh.transact_mut().apply_update(Update::decode_v1(&state).unwrap()).unwrap();
    let apply_ms = started.elapsed().as_secs_f64() * 1000.0;
    let shape = if at_start { "start" } else { "end" };
    println!(
        "{{\"shape\":\"{shape}\",\"clients\":{CLIENTS},\"edits\":{},\"state_bytes\":{},\"apply_ms\":{apply_ms:.1}}}",
        rounds * CLIENTS as usize,
        state.len()
    );
}

fn main() {
    for rounds in [250, 500, 1000] {
        measure(true, rounds);
        measure(false, rounds);
    }
}
