//! What an execution reports, as typed events: the kernel's iopub messages for that
//! execution turned into outputs a notebook can store, plus the execution's life-cycle.
//!
//! MIME bundles (`data`) and `metadata` stay raw JSON maps: that is how nbformat stores them,
//! so a server writes them into its document without a lossy round trip through typed media.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::kernel::DeathCause;

/// Identifies one execution request on one kernel (unique for the kernel's life, across
/// restarts), so a queued run can be cancelled and input sent to the right one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ExecutionId(pub u64);

impl std::fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// `stdout` or `stderr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl StreamName {
    /// The nbformat name.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
        }
    }
}

/// The kernel's own status for this execution (iopub `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelStatus {
    /// The kernel started working on the request.
    Busy,
    /// The kernel finished the request; no more iopub messages for it follow.
    Idle,
}

/// One output as nbformat stores it in a code cell's `outputs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "output_type", rename_all = "snake_case")]
pub enum Output {
    /// Text written to stdout or stderr. Consecutive chunks of one stream belong to the same
    /// notebook output (nbformat and Jupyter front-ends append them).
    Stream {
        /// Which stream.
        name: StreamName,
        /// The text of this chunk.
        text: String,
    },
    /// A rich display (`display(...)`).
    DisplayData {
        /// MIME type → value.
        data: Map<String, Value>,
        /// Per-MIME-type metadata.
        metadata: Map<String, Value>,
        /// `transient.display_id`: a later `update_display_data` with this id replaces it.
        #[serde(skip_serializing_if = "Option::is_none")]
        display_id: Option<String>,
    },
    /// The value of the last expression.
    ExecuteResult {
        /// The kernel's execution count for this run.
        execution_count: Option<u64>,
        /// MIME type → value.
        data: Map<String, Value>,
        /// Per-MIME-type metadata.
        metadata: Map<String, Value>,
        /// `transient.display_id`, rarely set on results.
        #[serde(skip_serializing_if = "Option::is_none")]
        display_id: Option<String>,
    },
    /// An exception.
    Error {
        /// The exception's name (`ZeroDivisionError`).
        ename: String,
        /// Its message.
        evalue: String,
        /// The formatted traceback lines (with ANSI colours, as Jupyter stores them).
        traceback: Vec<String>,
    },
}

impl Output {
    /// The output as nbformat 4 JSON (what goes into a cell's `outputs` array); display ids
    /// are transient and not part of it.
    pub fn to_nbformat(&self) -> Value {
        match self {
            Output::Stream { name, text } => {
                json!({"output_type": "stream", "name": name.as_str(), "text": text})
            }
            Output::DisplayData { data, metadata, .. } => {
                json!({"output_type": "display_data", "data": data, "metadata": metadata})
            }
            Output::ExecuteResult { execution_count, data, metadata, .. } => json!({
                "output_type": "execute_result",
                "execution_count": execution_count,
                "data": data,
                "metadata": metadata,
            }),
            Output::Error { ename, evalue, traceback } => {
                json!({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback})
            }
        }
    }
}

/// How an execution ended (the `status` of `execute_reply`, or what the bridge decided when
/// there was no reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    /// The code ran without an exception.
    Ok,
    /// The code raised (the error output says what), or the kernel died while running it.
    Error,
    /// The code never ran: cancelled in the queue, aborted by the kernel, or dropped by a
    /// restart, shutdown or death before its turn.
    Aborted,
}

/// Why an execution ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EndCause {
    /// The kernel answered with `execute_reply` and went idle.
    Reply,
    /// Cancelled while queued.
    Cancelled,
    /// The kernel died (while running it, or before its turn).
    KernelDied {
        /// How the kernel died.
        cause: DeathCause,
    },
    /// The kernel was restarted before it finished (or before its turn).
    Restarted,
    /// The kernel was shut down before it finished (or before its turn).
    ShutDown,
    /// The kernel went idle but never sent its `execute_reply` (ipykernel drops it when an
    /// interrupt lands while it is finishing the run).
    NoReply,
}

/// The last event of every execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionEnd {
    /// ok / error / aborted.
    pub status: ExecutionStatus,
    /// The kernel's execution count, when it gave one.
    pub execution_count: Option<u64>,
    /// Why it ended.
    pub cause: EndCause,
}

/// Everything an execution reports, in the order it happened. The stream always ends with
/// exactly one [`ExecutionEvent::Finished`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ExecutionEvent {
    /// The request left the queue and was sent to the kernel.
    Started,
    /// The kernel's busy/idle status for this request.
    Status {
        /// Busy or idle.
        status: KernelStatus,
    },
    /// The kernel echoes the code with the execution count it assigned.
    ExecuteInput {
        /// The execution count (the `[n]` of the cell).
        execution_count: Option<u64>,
    },
    /// A new output for the cell.
    Output(Output),
    /// Replace the outputs that carry `display_id`, wherever they are.
    UpdateDisplayData {
        /// The display to update.
        display_id: String,
        /// MIME type → value.
        data: Map<String, Value>,
        /// Per-MIME-type metadata.
        metadata: Map<String, Value>,
    },
    /// Clear the cell's outputs; with `wait`, only when the next output arrives.
    ClearOutput {
        /// Defer the clearing until the next output.
        wait: bool,
    },
    /// The code called `input()`; answer with [`crate::Kernel::send_input`]. Only happens
    /// when the request allowed stdin.
    InputRequest {
        /// The prompt.
        prompt: String,
        /// Whether the answer should be hidden (a password).
        password: bool,
    },
    /// The kernel published more outputs than the bridge may hold for a consumer that is not
    /// reading; `count` events were dropped at this point.
    OutputsDropped {
        /// How many events were dropped.
        count: u64,
    },
    /// The execution is over.
    Finished(ExecutionEnd),
}

/// Turns one iopub message (already known to belong to this execution) into its event, or
/// `None` for message types an execution does not report (comms, debug events, …).
pub(crate) fn from_iopub(msg_type: &str, content: &Value) -> Option<ExecutionEvent> {
    let text = |key: &str| content.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let map = |key: &str| content.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
    let count = || content.get("execution_count").and_then(Value::as_u64);
    let display_id = || {
        content.get("transient").and_then(|t| t.get("display_id")).and_then(Value::as_str).map(str::to_string)
    };
    let event = match msg_type {
        "status" => match content.get("execution_state").and_then(Value::as_str) {
            Some("busy") => ExecutionEvent::Status { status: KernelStatus::Busy },
            Some("idle") => ExecutionEvent::Status { status: KernelStatus::Idle },
            _ => return None,
        },
        "execute_input" => ExecutionEvent::ExecuteInput { execution_count: count() },
        "stream" => ExecutionEvent::Output(Output::Stream {
            name: if text("name") == "stderr" { StreamName::Stderr } else { StreamName::Stdout },
            text: text("text"),
        }),
        "display_data" => ExecutionEvent::Output(Output::DisplayData {
            data: map("data"),
            metadata: map("metadata"),
            display_id: display_id(),
        }),
        "update_display_data" => ExecutionEvent::UpdateDisplayData {
            display_id: display_id()?,
            data: map("data"),
            metadata: map("metadata"),
        },
        "execute_result" => ExecutionEvent::Output(Output::ExecuteResult {
            execution_count: count(),
            data: map("data"),
            metadata: map("metadata"),
            display_id: display_id(),
        }),
        "error" => ExecutionEvent::Output(Output::Error {
            ename: text("ename"),
            evalue: text("evalue"),
            traceback: content
                .get("traceback")
                .and_then(Value::as_array)
                .map(|lines| lines.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
        }),
        "clear_output" => ExecutionEvent::ClearOutput {
            wait: content.get("wait").and_then(Value::as_bool).unwrap_or(false),
        },
        _ => return None,
    };
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iopub_messages_become_typed_events() {
        let stream = from_iopub("stream", &json!({"name": "stderr", "text": "oops\n"}));
        assert_eq!(
            stream,
            Some(ExecutionEvent::Output(Output::Stream { name: StreamName::Stderr, text: "oops\n".into() }))
        );
        let display = from_iopub(
            "display_data",
            &json!({"data": {"text/html": "<b>x</b>"}, "metadata": {}, "transient": {"display_id": "d1"}}),
        );
        let Some(ExecutionEvent::Output(Output::DisplayData { data, display_id, .. })) = display else {
            panic!("not display data: {display:?}")
        };
        assert_eq!(data["text/html"], "<b>x</b>");
        assert_eq!(display_id.as_deref(), Some("d1"));
        assert_eq!(from_iopub("update_display_data", &json!({"data": {}, "metadata": {}})), None);
        assert_eq!(
            from_iopub("clear_output", &json!({"wait": true})),
            Some(ExecutionEvent::ClearOutput { wait: true })
        );
        assert_eq!(from_iopub("comm_msg", &json!({})), None);
        assert_eq!(from_iopub("status", &json!({"execution_state": "starting"})), None);
    }

    #[test]
    fn outputs_serialise_as_nbformat() {
        let result = Output::ExecuteResult {
            execution_count: Some(3),
            data: json!({"text/plain": "2"}).as_object().cloned().unwrap_or_default(),
            metadata: Map::new(),
            display_id: Some("ignored".into()),
        };
        assert_eq!(
            result.to_nbformat(),
            json!({"output_type": "execute_result", "execution_count": 3, "data": {"text/plain": "2"}, "metadata": {}})
        );
        let error = Output::Error { ename: "E".into(), evalue: "v".into(), traceback: vec!["t".into()] };
        assert_eq!(
            error.to_nbformat(),
            json!({"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["t"]})
        );
    }
}
