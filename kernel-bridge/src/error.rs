//! The crate's error types: one for finding kernelspecs, one for running kernels.

use std::path::PathBuf;
use std::time::Duration;

use crate::events::ExecutionId;
use crate::kernel::DeathCause;

/// Why a kernelspec could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// No `kernels/<name>/kernel.json` in any searched data directory.
    #[error("no kernelspec named `{name}` (available: {available:?}; searched: {searched:?})")]
    NotFound {
        /// The name that was asked for.
        name: String,
        /// The names that do exist, so the message says what to use instead.
        available: Vec<String>,
        /// The data directories searched, in order.
        searched: Vec<PathBuf>,
    },
    /// The `kernel.json` exists but cannot be read.
    #[error("cannot read kernelspec {path}: {source}")]
    Read {
        /// The `kernel.json` file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The `kernel.json` is not valid JSON of the kernelspec shape.
    #[error("invalid kernelspec {path}: {source}")]
    Parse {
        /// The `kernel.json` file.
        path: PathBuf,
        /// The underlying JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The `kernel.json` parses but cannot be launched (for example an empty `argv`).
    #[error("invalid kernelspec {path}: {reason}")]
    Invalid {
        /// The `kernel.json` file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why a kernel could not be started or asked to do something.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The connection file (ports and key) could not be prepared.
    #[error("cannot prepare the connection file for kernel `{kernel}`: {source}")]
    ConnectionFile {
        /// The kernelspec name.
        kernel: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel's process could not be created (missing program, bad working directory…).
    #[error("cannot start kernel `{kernel}` (`{program}`): {source}")]
    Spawn {
        /// The kernelspec name.
        kernel: String,
        /// `argv[0]` of the kernelspec.
        program: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel's process exited before answering `kernel_info`.
    #[error("kernel `{kernel}` exited during start-up ({status}){}", tail_suffix(.stderr_tail))]
    ExitedDuringStartup {
        /// The kernelspec name.
        kernel: String,
        /// How the process ended.
        status: String,
        /// The last lines the process wrote to standard error, usually the reason.
        stderr_tail: String,
    },
    /// The kernel did not answer `kernel_info` (and publish on iopub) in time.
    #[error("kernel `{kernel}` did not answer kernel_info within {timeout:?}{}", tail_suffix(.stderr_tail))]
    StartupTimeout {
        /// The kernelspec name.
        kernel: String,
        /// The start-up timeout that ran out.
        timeout: Duration,
        /// The last lines the process wrote to standard error.
        stderr_tail: String,
    },
    /// A ZeroMQ socket could not be set up or used.
    #[error("kernel messaging failed: {0}")]
    Transport(#[from] jupyter_zmq_client::RuntimeError),
    /// The kernel is dead; `restart` starts a new process.
    #[error("the kernel is dead ({0}); restart it to run code again")]
    Dead(DeathCause),
    /// The kernel was shut down (or its actor is gone); nothing more can be asked of it.
    #[error("the kernel has been shut down")]
    ShutDown,
    /// `cancel` of an execution that is not waiting in the queue.
    #[error("execution {0} is not queued (it has started, finished or never existed)")]
    NotQueued(ExecutionId),
    /// `send_input` for an execution that is not the one running.
    #[error("execution {0} is not running, so it cannot be sent input")]
    NotRunning(ExecutionId),
    /// Sending SIGINT (or SIGKILL) to the kernel's process group failed.
    #[error("cannot signal the kernel process: {0}")]
    Signal(#[source] std::io::Error),
}

fn tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() { String::new() } else { format!("; its last output:\n{tail}") }
}
