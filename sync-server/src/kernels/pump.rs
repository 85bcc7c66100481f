//! Writing an execution's events into the shared document as they arrive (SPEC §8), and
//! its record into storage.
//!
//! [`Planner`] turns kernel events into document operations ([`DocOp`]), keeping the
//! rules that need memory: `clear_output(wait=True)` clears only when the next output
//! comes, and a run may leave at most `max_output_bytes` of outputs in its cell (what
//! passes the cap is dropped with one visible note). [`pump`] reads the events, takes
//! every event already waiting into one batch, and writes the batch as one server edit, so
//! a chatty cell costs one commit per batch rather than per line.

use std::sync::Arc;

use chrono::Utc;
use doc_model::{CellId, Editor, ExecutionState, JsonObject, Output};
use futures_util::FutureExt;
use kernel_bridge::{EndCause, Execution, ExecutionEnd, ExecutionEvent, ExecutionStatus};

use super::{Kernels, ManagedKernel};
use tokio::sync::{mpsc, oneshot};

use crate::store::{DynStore, ExecutionId, ExecutionStatus as RecordStatus, NotebookId, Timestamp, UserId};

/// Events taken into one document edit at most.
const MAX_BATCH: usize = 256;

/// One change to the document an event asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DocOp {
    State(ExecutionState),
    Count(Option<i64>),
    ClearOutputs,
    Append(Output),
    UpdateDisplay { display_id: String, data: JsonObject, metadata: JsonObject },
}

/// Turns an execution's events into document operations.
#[derive(Debug)]
pub(crate) struct Planner {
    max_bytes: usize,
    /// Output bytes this run has in the cell now (reset when its outputs are cleared).
    used: usize,
    truncated: bool,
    clear_pending: bool,
    /// `ename: evalue` of the last error output, for the execution record.
    pub last_error: Option<String>,
}

impl Planner {
    pub(crate) fn new(max_bytes: usize) -> Planner {
        Planner { max_bytes, used: 0, truncated: false, clear_pending: false, last_error: None }
    }

    /// The operations for one event (none for events the document does not show).
    pub(crate) fn plan(&mut self, event: &ExecutionEvent, ops: &mut Vec<DocOp>) {
        match event {
            // The run begins: the cell shows it is busy, and the outputs and count of the
            // previous run go (at the start rather than at the request, so a cancelled run
            // leaves the previous outputs alone).
            ExecutionEvent::Started => {
                ops.extend([DocOp::State(ExecutionState::Busy), DocOp::ClearOutputs, DocOp::Count(None)]);
                self.used = 0;
                self.truncated = false;
            }
            ExecutionEvent::ExecuteInput { execution_count } => {
                ops.push(DocOp::Count(execution_count.map(|c| c as i64)));
            }
            ExecutionEvent::Output(output) => self.output(to_doc_output(output), ops),
            ExecutionEvent::UpdateDisplayData { display_id, data, metadata } => {
                let size = json_len(data) + json_len(metadata);
                if size > self.max_bytes {
                    self.note_truncated(ops);
                } else {
                    ops.push(DocOp::UpdateDisplay {
                        display_id: display_id.clone(),
                        data: data.clone(),
                        metadata: metadata.clone(),
                    });
                }
            }
            ExecutionEvent::ClearOutput { wait: true } => self.clear_pending = true,
            ExecutionEvent::ClearOutput { wait: false } => {
                self.clear_pending = false;
                self.clear(ops);
            }
            ExecutionEvent::OutputsDropped { count } => self.output(
                Output::Stream {
                    name: "stderr".into(),
                    text: format!(
                        "[talkbook] {count} outputs of this run were dropped: the server could not keep up\n"
                    ),
                },
                ops,
            ),
            ExecutionEvent::Finished(end) => {
                if let Some(count) = end.execution_count {
                    ops.push(DocOp::Count(Some(count as i64)));
                }
                if let EndCause::KernelDied { cause } = &end.cause
                    && end.status == ExecutionStatus::Error
                {
                    let evalue = format!("{cause}; the next run starts a new kernel");
                    self.last_error = Some(format!("DeadKernelError: {evalue}"));
                    ops.push(DocOp::Append(Output::Error {
                        ename: "DeadKernelError".into(),
                        evalue: evalue.clone(),
                        traceback: vec![format!("The kernel died while running this cell: {evalue}.")],
                    }));
                }
            }
            ExecutionEvent::Status { .. } | ExecutionEvent::InputRequest { .. } => {}
        }
    }

    fn clear(&mut self, ops: &mut Vec<DocOp>) {
        ops.push(DocOp::ClearOutputs);
        self.used = 0;
        self.truncated = false;
    }

    fn output(&mut self, output: Output, ops: &mut Vec<DocOp>) {
        if self.clear_pending {
            self.clear_pending = false;
            self.clear(ops);
        }
        if let Output::Error { ename, evalue, .. } = &output {
            self.last_error = Some(format!("{ename}: {evalue}"));
        }
        let size = output_len(&output);
        let room = self.max_bytes.saturating_sub(self.used);
        // Errors always land: they say why the run failed and are small.
        if size <= room || matches!(output, Output::Error { .. }) {
            self.used += size;
            ops.push(DocOp::Append(output));
            return;
        }
        // A stream keeps the part that fits.
        if let Output::Stream { name, text } = &output
            && !self.truncated
            && room > 0
        {
            let mut cut = room.min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut > 0 {
                self.used += cut;
                ops.push(DocOp::Append(Output::Stream { name: name.clone(), text: text[..cut].to_owned() }));
            }
        }
        self.note_truncated(ops);
    }

    fn note_truncated(&mut self, ops: &mut Vec<DocOp>) {
        if self.truncated {
            return;
        }
        self.truncated = true;
        ops.push(DocOp::Append(Output::Stream {
            name: "stderr".into(),
            text: format!(
                "\n[talkbook] output truncated: this run's output passed the server's limit of {} bytes \
                 (--max-output-bytes); the rest was not kept\n",
                self.max_bytes
            ),
        }));
    }
}

/// Applies operations to one cell. An operation on a cell that is gone (deleted while it
/// ran) is skipped; display updates reach every cell.
pub(crate) fn apply(editor: &mut Editor<'_, '_>, cell: &CellId, ops: &[DocOp]) {
    for op in ops {
        let result = match op {
            DocOp::State(state) => editor.set_execution_state(cell, *state),
            DocOp::Count(count) => editor.set_execution_count(cell, *count),
            DocOp::ClearOutputs => editor.clear_outputs(cell),
            DocOp::Append(output) => editor.append_output(cell, output),
            DocOp::UpdateDisplay { display_id, data, metadata } => {
                editor.update_display_data(display_id, data, metadata);
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::debug!(cell = %cell.as_str(), error = %e, "kernel output not written");
        }
    }
}

/// The nbformat output a kernel event carries, as the document stores it.
fn to_doc_output(output: &kernel_bridge::Output) -> Output {
    match output {
        kernel_bridge::Output::Stream { name, text } => {
            Output::Stream { name: name.as_str().to_owned(), text: text.clone() }
        }
        kernel_bridge::Output::DisplayData { data, metadata, display_id } => Output::DisplayData {
            data: data.clone(),
            metadata: metadata.clone(),
            display_id: display_id.clone(),
        },
        kernel_bridge::Output::ExecuteResult { execution_count, data, metadata, .. } => {
            Output::ExecuteResult {
                execution_count: execution_count.map(|c| c as i64),
                data: data.clone(),
                metadata: metadata.clone(),
            }
        }
        kernel_bridge::Output::Error { ename, evalue, traceback } => {
            Output::Error { ename: ename.clone(), evalue: evalue.clone(), traceback: traceback.clone() }
        }
    }
}

fn json_len(object: &JsonObject) -> usize {
    serde_json::to_string(object).map_or(0, |s| s.len())
}

/// Roughly the bytes an output adds to the document.
fn output_len(output: &Output) -> usize {
    match output {
        Output::Stream { text, .. } => text.len(),
        Output::DisplayData { data, metadata, .. } | Output::ExecuteResult { data, metadata, .. } => {
            json_len(data) + json_len(metadata)
        }
        Output::Error { ename, evalue, traceback } => {
            ename.len() + evalue.len() + traceback.iter().map(String::len).sum::<usize>()
        }
    }
}

/// One run being pumped.
pub(crate) struct PumpedRun {
    pub notebook: NotebookId,
    pub cell: CellId,
    /// The record's id, once it is written (dropped if it could not be).
    pub record: oneshot::Receiver<ExecutionId>,
    pub kernel: Arc<ManagedKernel>,
    /// Who the files the run writes are stored for.
    pub writer: UserId,
    /// Who asked for the run: the history names them as the author of its outputs.
    pub runner: UserId,
    pub execution: Execution,
}

/// Reads a run's events until it finishes, writing them into the document in batches and
/// its start and end into the execution record. Runs on even if the person who asked has
/// gone.
pub(crate) async fn pump(kernels: Arc<Kernels>, run: PumpedRun, first_ops: Vec<DocOp>) {
    let PumpedRun { notebook, cell, record, kernel, writer, runner, mut execution } = run;
    // The record is written beside the document, never in the way of outputs.
    let (records, record_ops) = mpsc::unbounded_channel();
    kernels.pumps.spawn(write_record(kernels.store.clone(), record, record_ops));
    let bridge_id = execution.id();
    write(&kernels, notebook, runner, &cell, first_ops).await;
    let mut planner = Planner::new(kernels.config.max_output_bytes);
    let mut finished: Option<ExecutionEnd> = None;
    // When the kernel said the run ended (not when its last outputs were written, which
    // may be after the next queued run started).
    let mut ended_at = Utc::now();
    while finished.is_none() {
        let Some(first) = execution.next_event().await else { break };
        let batch_at = Utc::now();
        let mut events = vec![first];
        while events.len() < MAX_BATCH {
            match execution.next_event().now_or_never() {
                Some(Some(event)) => events.push(event),
                _ => break,
            }
        }
        let mut ops = Vec::new();
        let mut started = false;
        for event in &events {
            planner.plan(event, &mut ops);
            match event {
                ExecutionEvent::Started => started = true,
                ExecutionEvent::Finished(end) => {
                    finished = Some(end.clone());
                    ended_at = Utc::now();
                }
                _ => {}
            }
        }
        if started {
            kernels.run_started(&kernel, bridge_id);
            let _ = records.send(RecordOp::Started(batch_at));
        }
        if finished.is_some() {
            // Files the run wrote go into the project before the cell shows idle; what
            // could not be stored is said in the cell.
            for note in
                kernel.workdir.collect(&kernels.store, writer, kernels.config.max_file_bytes).await.notes
            {
                ops.push(DocOp::Append(Output::Stream {
                    name: "stderr".into(),
                    text: format!("[talkbook] {note}\n"),
                }));
            }
            // The cell is idle unless another run of it is still queued.
            let left = kernels.run_ended(notebook, cell.as_str(), &kernel, bridge_id);
            ops.push(DocOp::State(if left == 0 { ExecutionState::Idle } else { ExecutionState::Queued }));
        }
        write(&kernels, notebook, runner, &cell, ops).await;
    }
    let end = finished.unwrap_or(ExecutionEnd {
        status: ExecutionStatus::Aborted,
        execution_count: None,
        cause: EndCause::ShutDown,
    });
    let (status, error) = record_outcome(&end, planner.last_error.take());
    let count = end.execution_count.map(|c| c as i64);
    let _ = records.send(RecordOp::Finished { status, count, error, at: ended_at });
}

/// What happened to a run, for its record.
enum RecordOp {
    Started(Timestamp),
    Finished { status: RecordStatus, count: Option<i64>, error: Option<String>, at: Timestamp },
}

/// Writes a run's start and end into its record, in order, once the record exists; does
/// nothing if it was never written.
async fn write_record(
    store: DynStore,
    id: oneshot::Receiver<ExecutionId>,
    mut ops: mpsc::UnboundedReceiver<RecordOp>,
) {
    let Ok(id) = id.await else { return };
    while let Some(op) = ops.recv().await {
        let result = match op {
            RecordOp::Started(at) => store.execution_started(id, at).await,
            RecordOp::Finished { status, count, error, at } => {
                store.execution_finished(id, status, count, error.as_deref(), at).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(execution = %id, error = %e, "cannot update the record of a run");
        }
    }
}

async fn write(kernels: &Kernels, notebook: NotebookId, runner: UserId, cell: &CellId, ops: Vec<DocOp>) {
    if ops.is_empty() {
        return;
    }
    let cell = cell.clone();
    let edit = kernels
        .rooms
        .edit_for(notebook, "write kernel outputs", Some(runner), move |editor| apply(editor, &cell, &ops));
    if let Err(e) = edit.await {
        tracing::warn!(notebook = %notebook, error = %e, "kernel outputs not written");
    }
}

/// The record's status and error text for how a run ended.
fn record_outcome(end: &ExecutionEnd, last_error: Option<String>) -> (RecordStatus, Option<String>) {
    match end.status {
        ExecutionStatus::Ok => (RecordStatus::Ok, None),
        ExecutionStatus::Error => (RecordStatus::Error, last_error.or_else(|| Some(describe(&end.cause)))),
        ExecutionStatus::Aborted => (RecordStatus::Aborted, Some(describe(&end.cause))),
    }
}

fn describe(cause: &EndCause) -> String {
    match cause {
        EndCause::Reply => "the kernel aborted the run".into(),
        EndCause::Cancelled => "cancelled while queued".into(),
        EndCause::KernelDied { cause } => format!("the kernel died: {cause}"),
        EndCause::Restarted => "the kernel was restarted".into(),
        EndCause::ShutDown => "the kernel was shut down".into(),
        EndCause::NoReply => "the kernel stopped without reporting how the run ended".into(),
    }
}

#[cfg(test)]
mod tests;
