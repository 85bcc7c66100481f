//! The public face of a running kernel: a cheap, cloneable [`Kernel`] handle that sends
//! commands to the kernel's actor, and the types it hands back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::actor::{self, Command};
use crate::error::KernelError;
use crate::events::{ExecutionEnd, ExecutionEvent, ExecutionId};
use crate::heartbeat::HeartbeatOptions;
use crate::kernelspec::KernelSpec;

/// How to run a kernel. `working_dir` is the only thing without a sensible default.
#[derive(Debug, Clone)]
pub struct KernelOptions {
    /// The kernel process's working directory (the project's files, SPEC §9).
    pub working_dir: PathBuf,
    /// How long start-up (process, sockets, `kernel_info`) may take. Generous by default:
    /// a Python kernel needs under a second, but a loaded two-core machine starting several
    /// at once needs many.
    pub startup_timeout: Duration,
    /// How long a kernel may take to exit after `shutdown_request` before it is killed.
    pub shutdown_timeout: Duration,
    /// Heartbeat monitoring.
    pub heartbeat: HeartbeatOptions,
    /// Commands (execute, cancel, interrupt…) that may wait for the actor; when full,
    /// callers wait. The actor never blocks for long, so this only smooths bursts.
    pub inbox_capacity: usize,
    /// Events one execution's channel holds before the consumer must read; events beyond
    /// that wait inside the actor (see `max_pending_events`). At least 2.
    pub event_capacity: usize,
    /// Events the actor keeps for an execution whose consumer is not reading. Beyond this,
    /// outputs are dropped and an [`ExecutionEvent::OutputsDropped`] says how many; the
    /// kernel's iopub is never left unread, because a ZeroMQ publisher silently drops
    /// messages (perhaps the final `idle`) for a subscriber that falls behind.
    pub max_pending_events: usize,
    /// Extra environment variables for the kernel process (after the kernelspec's).
    pub env: BTreeMap<String, String>,
    /// Where the private connection-file directory is made (default: the system temp dir).
    pub runtime_dir: Option<PathBuf>,
    /// Kill the kernel when this process dies (Linux, through `setpriv`; see
    /// [`crate::process`]). Only tests that need an orphan turn it off.
    pub parent_death_signal: bool,
}

impl KernelOptions {
    /// Defaults, with the kernel running in `working_dir`.
    pub fn new(working_dir: impl Into<PathBuf>) -> KernelOptions {
        KernelOptions {
            working_dir: working_dir.into(),
            startup_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(5),
            heartbeat: HeartbeatOptions::default(),
            inbox_capacity: 64,
            event_capacity: 256,
            max_pending_events: 100_000,
            env: BTreeMap::new(),
            runtime_dir: None,
            parent_death_signal: true,
        }
    }
}

/// What to execute and how (the options of Jupyter's `execute_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRequest {
    /// The code.
    pub code: String,
    /// Let the code call `input()`. Off by default: then `input()` fails at once with an
    /// error output instead of waiting for an answer nobody may give (SPEC §8).
    pub allow_stdin: bool,
    /// Count the run in the kernel's history and execution count (`In[n]`).
    pub store_history: bool,
    /// Run without outputs or history (Jupyter's `silent`).
    pub silent: bool,
    /// Ask the kernel to abort requests queued *inside the kernel* after an error. The
    /// bridge sends one request at a time, so this does not touch the bridge's own queue.
    pub stop_on_error: bool,
}

impl ExecutionRequest {
    /// `code` with Jupyter's defaults and stdin off.
    pub fn new(code: impl Into<String>) -> ExecutionRequest {
        ExecutionRequest {
            code: code.into(),
            allow_stdin: false,
            store_history: true,
            silent: false,
            stop_on_error: true,
        }
    }

    /// Sets `allow_stdin`.
    pub fn allow_stdin(mut self, allow: bool) -> ExecutionRequest {
        self.allow_stdin = allow;
        self
    }

    /// Sets `store_history`.
    pub fn store_history(mut self, store: bool) -> ExecutionRequest {
        self.store_history = store;
        self
    }

    /// Sets `silent`.
    pub fn silent(mut self, silent: bool) -> ExecutionRequest {
        self.silent = silent;
        self
    }
}

/// A queued or running execution: its id and the stream of its events.
#[derive(Debug)]
pub struct Execution {
    id: ExecutionId,
    events: mpsc::Receiver<ExecutionEvent>,
}

impl Execution {
    pub(crate) fn new(id: ExecutionId, events: mpsc::Receiver<ExecutionEvent>) -> Execution {
        Execution { id, events }
    }

    /// The id to cancel it with or send input to.
    pub fn id(&self) -> ExecutionId {
        self.id
    }

    /// The next event, as soon as the kernel produced it; `None` after
    /// [`ExecutionEvent::Finished`]. Dropping the `Execution` does not stop the run.
    pub async fn next_event(&mut self) -> Option<ExecutionEvent> {
        self.events.recv().await
    }

    /// Waits for the end and returns every event (for tests and benchmarks; a server writes
    /// each event as it arrives with [`Execution::next_event`]).
    pub async fn collect(mut self) -> Vec<ExecutionEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.events.recv().await {
            events.push(event);
        }
        events
    }

    /// Waits for the end, ignoring the outputs.
    pub async fn end(self) -> Option<ExecutionEnd> {
        self.collect().await.into_iter().rev().find_map(|event| match event {
            ExecutionEvent::Finished(end) => Some(end),
            _ => None,
        })
    }
}

/// How a kernel died.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeathCause {
    /// The process exited (or was killed) on its own.
    Exited {
        /// "exit code 1", "killed by signal 9".
        status: String,
    },
    /// The process stopped answering heartbeats and was killed.
    HeartbeatLost {
        /// Consecutive pings that went unanswered.
        missed: u32,
    },
    /// A restart could not start the new process.
    StartFailed {
        /// The start-up error.
        error: String,
    },
}

impl std::fmt::Display for DeathCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeathCause::Exited { status } => write!(f, "the kernel process ended: {status}"),
            DeathCause::HeartbeatLost { missed } => {
                write!(f, "the kernel stopped answering ({missed} heartbeats missed) and was killed")
            }
            DeathCause::StartFailed { error } => write!(f, "the kernel could not be restarted: {error}"),
        }
    }
}

/// Where a kernel is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KernelState {
    /// Waiting for work.
    Idle,
    /// Running an execution (others may be queued).
    Busy,
    /// Stopping the old process and starting a new one.
    Restarting,
    /// Dead; `restart` brings it back.
    Dead {
        /// How it died.
        cause: DeathCause,
    },
    /// Shut down for good.
    ShutDown,
}

/// Something that happened to the kernel as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum KernelEvent {
    /// The state changed.
    State(KernelState),
    /// The kernel died: its process exited, or it missed its heartbeats.
    Died {
        /// How.
        cause: DeathCause,
    },
    /// A new process replaced the old one.
    Restarted {
        /// The new process id.
        pid: u32,
    },
}

/// What the kernel said about itself in `kernel_info_reply`, and its process id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct KernelInfo {
    /// The kernel process id (changes on restart).
    pub pid: u32,
    /// The messaging protocol version the kernel speaks.
    pub protocol_version: String,
    /// `ipykernel`, `bash_kernel`, …
    pub implementation: String,
    /// The implementation's version.
    pub implementation_version: String,
    /// The language's name.
    pub language: String,
    /// The language's version, when given.
    pub language_version: String,
    /// The kernel's banner text.
    pub banner: String,
}

/// A running Jupyter kernel. Cloning gives another handle to the same kernel; when the last
/// handle is dropped the kernel is shut down.
#[derive(Debug, Clone)]
pub struct Kernel {
    spec: Arc<KernelSpec>,
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<KernelState>,
    info: watch::Receiver<KernelInfo>,
    events: broadcast::Sender<KernelEvent>,
}

impl Kernel {
    /// Starts the kernel described by `spec` and waits until it has answered `kernel_info`
    /// and publishes on iopub, so the first execution's outputs cannot be missed.
    pub async fn start(spec: KernelSpec, options: KernelOptions) -> Result<Kernel, KernelError> {
        let spec = Arc::new(spec);
        let (commands, inbox) = mpsc::channel(options.inbox_capacity.max(1));
        let (events, _) = broadcast::channel(64);
        let started = actor::start(spec.clone(), options, inbox, events.clone()).await?;
        Ok(Kernel { spec, commands, state: started.state, info: started.info, events })
    }

    /// The kernelspec it runs.
    pub fn spec(&self) -> &KernelSpec {
        &self.spec
    }

    /// What the kernel reported about itself, with its current pid.
    pub fn info(&self) -> KernelInfo {
        self.info.borrow().clone()
    }

    /// The kernel process id (of the current process, after restarts).
    pub fn pid(&self) -> u32 {
        self.info.borrow().pid
    }

    /// The current state.
    pub fn state(&self) -> KernelState {
        self.state.borrow().clone()
    }

    /// A watch on the state, to await changes.
    pub fn watch_state(&self) -> watch::Receiver<KernelState> {
        self.state.clone()
    }

    /// Kernel-wide events from now on (death, restart, state changes). The channel keeps
    /// the last 64; a receiver that falls further behind gets `Lagged` and can read
    /// [`Kernel::state`] for the present.
    pub fn subscribe(&self) -> broadcast::Receiver<KernelEvent> {
        self.events.subscribe()
    }

    /// Queues `request` behind the executions already waiting; it runs when they are done.
    /// Its events arrive on the returned [`Execution`].
    pub async fn execute(&self, request: ExecutionRequest) -> Result<Execution, KernelError> {
        self.ask(|reply| Command::Execute { request, reply }).await?
    }

    /// Removes a queued execution before it starts; it ends `aborted` (cause `Cancelled`)
    /// without having run. Fails with [`KernelError::NotQueued`] once it has started.
    pub async fn cancel(&self, id: ExecutionId) -> Result<(), KernelError> {
        self.ask(|reply| Command::Cancel { id, reply }).await?
    }

    /// Interrupts the running execution (SIGINT, or `interrupt_request` when the
    /// kernelspec's `interrupt_mode` is `message`). Queued executions stay queued.
    pub async fn interrupt(&self) -> Result<(), KernelError> {
        self.ask(|reply| Command::Interrupt { reply }).await?
    }

    /// Answers the `input()` of the running execution `id`.
    pub async fn send_input(&self, id: ExecutionId, value: impl Into<String>) -> Result<(), KernelError> {
        let value = value.into();
        self.ask(|reply| Command::Input { id, value, reply }).await?
    }

    /// Replaces the kernel process with a new one (same kernelspec and working directory);
    /// the running and queued executions end `aborted` (cause `Restarted`). Also revives a
    /// dead kernel.
    pub async fn restart(&self) -> Result<KernelInfo, KernelError> {
        self.ask(|reply| Command::Restart { reply }).await?
    }

    /// Asks the kernel to exit (`shutdown_request`), waits, kills it if it does not, and
    /// ends every execution. Returns when the process is gone.
    pub async fn shutdown(&self) -> Result<(), KernelError> {
        match self.ask(|reply| Command::Shutdown { reply }).await {
            Err(KernelError::ShutDown) => Ok(()),
            other => other?,
        }
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, KernelError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).await.map_err(|_| KernelError::ShutDown)?;
        answer.await.map_err(|_| KernelError::ShutDown)
    }
}
