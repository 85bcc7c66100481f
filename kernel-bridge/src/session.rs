//! One kernel process and its connections, from launch and `kernel_info` handshake to
//! shutdown. A restart replaces the whole session.

use std::time::Duration;

use jupyter_protocol::{KernelInfoRequest, ShutdownRequest};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::KernelError;
use crate::heartbeat;
use crate::kernel::{KernelInfo, KernelOptions};
use crate::kernelspec::KernelSpec;
use crate::process::{self, KernelProcess, LaunchPlan, describe_exit};
use crate::wire::{self, Channels, Incoming};

/// Replies (shell, control, stdin) waiting for the actor; they are few and small.
const REPLY_QUEUE: usize = 64;
/// iopub messages waiting for the actor. The actor reads them promptly and buffers per
/// execution itself, so this only absorbs scheduling delays.
const IOPUB_QUEUE: usize = 1024;
/// How often the handshake re-sends `kernel_info_request` while waiting for the iopub
/// subscription to carry something (each request makes the kernel publish a status).
const HANDSHAKE_RETRY: Duration = Duration::from_millis(500);
/// Launches tried when the kernel finds a port taken.
const PORT_ATTEMPTS: u32 = 3;
/// Pause before connecting again after a failed connection during start-up.
const CONNECT_RETRY: Duration = Duration::from_millis(100);

/// A live kernel process with its channels.
#[derive(Debug)]
pub(crate) struct Session {
    pub process: KernelProcess,
    pub channels: Channels,
    pub replies: mpsc::Receiver<Incoming>,
    pub iopub: mpsc::Receiver<Incoming>,
    /// Whether the replies' and iopub's readers are still running (a stopped one is not
    /// waited on again).
    pub replies_open: bool,
    pub iopub_open: bool,
    /// Fires once when the heartbeat monitor gives up; taken when it fires.
    pub heartbeat_lost: Option<oneshot::Receiver<u32>>,
    heartbeat_task: JoinHandle<()>,
    pub info: KernelInfo,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.heartbeat_task.abort();
    }
}

impl Session {
    /// Launches the kernel and waits for its `kernel_info_reply` and for iopub to deliver,
    /// within the start-up timeout; a process that exits first is reported with its output.
    pub(crate) async fn start(spec: &KernelSpec, options: &KernelOptions) -> Result<Session, KernelError> {
        let mut attempt = 1;
        loop {
            match Session::start_once(spec, options).await {
                // Another process took one of the free ports before the kernel bound it
                // (ports are only reserved within this process): try again with new ones.
                Err(KernelError::ExitedDuringStartup { stderr_tail, .. })
                    if attempt < PORT_ATTEMPTS && stderr_tail.contains("Address already in use") =>
                {
                    tracing::warn!(attempt, "a kernel port was taken before the kernel bound it; retrying");
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn start_once(spec: &KernelSpec, options: &KernelOptions) -> Result<Session, KernelError> {
        let plan = LaunchPlan {
            working_dir: options.working_dir.clone(),
            extra_env: options.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            runtime_dir: options.runtime_dir.clone(),
            parent_death_signal: options.parent_death_signal,
        };
        let mut process = process::launch(spec, &plan).await?;
        let connection = process.connection.clone();
        let ready = async {
            loop {
                match connect(&connection).await {
                    // A connection reset while the kernel is starting (seen on loopback when
                    // several kernels start and stop at once; zeromq only retries refused
                    // connections) is worth another try with fresh sockets.
                    Err(KernelError::Transport(error)) => {
                        tracing::debug!(%error, "kernel connection failed during start-up; retrying");
                        tokio::time::sleep(CONNECT_RETRY).await;
                    }
                    outcome => return outcome,
                }
            }
        };
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(options.startup_timeout, ready) => outcome,
            status = process.child.wait() => {
                process.collect_output().await;
                let status = status.map(|s| describe_exit(&s)).unwrap_or_else(|e| e.to_string());
                return Err(KernelError::ExitedDuringStartup {
                    kernel: spec.name.clone(),
                    status,
                    stderr_tail: process.tail.text(),
                });
            }
        };
        let (channels, replies, iopub, mut info) = match outcome {
            Ok(Ok(ready)) => ready,
            Ok(Err(error)) => {
                kill(&mut process).await;
                return Err(error);
            }
            Err(_) => {
                kill(&mut process).await;
                return Err(KernelError::StartupTimeout {
                    kernel: spec.name.clone(),
                    timeout: options.startup_timeout,
                    stderr_tail: process.tail.text(),
                });
            }
        };
        info.pid = process.pid;
        let (lost_tx, lost_rx) = oneshot::channel();
        let heartbeat_task = tokio::spawn(heartbeat::monitor(connection, options.heartbeat, lost_tx));
        tracing::info!(
            pid = info.pid,
            implementation = %info.implementation,
            protocol = %info.protocol_version,
            "kernel ready"
        );
        Ok(Session {
            process,
            channels,
            replies,
            iopub,
            replies_open: true,
            iopub_open: true,
            heartbeat_lost: Some(lost_rx),
            heartbeat_task,
            info,
        })
    }

    /// Asks the kernel to exit, waits up to `timeout`, then kills its process group.
    pub(crate) async fn stop(mut self, restart: bool, timeout: Duration) {
        let request = ShutdownRequest { restart };
        if let Err(error) = self.channels.control.send(request.into()).await {
            tracing::debug!(%error, "shutdown_request not sent");
        }
        match tokio::time::timeout(timeout, self.process.child.wait()).await {
            Ok(status) => {
                tracing::info!(pid = self.process.pid, status = ?status.ok(), "kernel process exited")
            }
            Err(_) => {
                tracing::warn!(
                    pid = self.process.pid,
                    ?timeout,
                    "kernel did not exit after shutdown_request; killing it"
                );
                kill(&mut self.process).await;
            }
        }
    }
}

/// Kills the kernel's process group and reaps the kernel.
pub(crate) async fn kill(process: &mut KernelProcess) {
    if let Err(error) = process.signal_group(rustix::process::Signal::KILL) {
        tracing::debug!(%error, "killpg failed; killing the process alone");
        let _ = process.child.start_kill();
    }
    let _ = process.child.wait().await;
}

/// Connects to the kernel's channels and does the handshake.
async fn connect(
    connection: &jupyter_protocol::ConnectionInfo,
) -> Result<(Channels, mpsc::Receiver<Incoming>, mpsc::Receiver<Incoming>, KernelInfo), KernelError> {
    let (reply_tx, mut replies) = mpsc::channel(REPLY_QUEUE);
    let (iopub_tx, mut iopub) = mpsc::channel(IOPUB_QUEUE);
    let mut channels = wire::connect(connection, reply_tx, iopub_tx).await?;
    let info = handshake(&mut channels, &mut replies, &mut iopub).await?;
    Ok((channels, replies, iopub, info))
}

/// `kernel_info_request` until the reply has come *and* iopub has delivered something: a
/// ZeroMQ subscription takes effect asynchronously, and outputs published before it does
/// are lost, so the first execution must not be sent earlier (jupyter_client's
/// `wait_for_ready` does the same). ipykernel 7 greets a new subscriber with
/// `iopub_welcome`; older kernels publish a status for each request.
async fn handshake(
    channels: &mut Channels,
    replies: &mut mpsc::Receiver<Incoming>,
    iopub: &mut mpsc::Receiver<Incoming>,
) -> Result<KernelInfo, KernelError> {
    let closed = || {
        KernelError::Transport(jupyter_zmq_client::RuntimeError::ZmqMessageError(
            "kernel sockets closed during the handshake".into(),
        ))
    };
    channels.shell.send(KernelInfoRequest {}.into()).await?;
    let mut info = None;
    let mut iopub_live = false;
    loop {
        if let (Some(info), true) = (&info, iopub_live) {
            return Ok(KernelInfo::clone(info));
        }
        tokio::select! {
            reply = replies.recv() => match reply {
                Some(reply) if reply.msg_type == "kernel_info_reply" => info = Some(parse_info(&reply.content)),
                Some(_) => {}
                None => return Err(closed()),
            },
            message = iopub.recv() => match message {
                Some(_) => iopub_live = true,
                None => return Err(closed()),
            },
            _ = tokio::time::sleep(HANDSHAKE_RETRY), if info.is_some() => {
                channels.shell.send(KernelInfoRequest {}.into()).await?;
            }
        }
    }
}

/// The parts of `kernel_info_reply` callers care about; missing fields stay empty rather
/// than failing the start (kernels differ in what they fill in).
fn parse_info(content: &Value) -> KernelInfo {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_string();
    let language = content.get("language_info");
    KernelInfo {
        pid: 0,
        protocol_version: text(content.get("protocol_version")),
        implementation: text(content.get("implementation")),
        implementation_version: text(content.get("implementation_version")),
        language: text(language.and_then(|l| l.get("name"))),
        language_version: text(language.and_then(|l| l.get("version"))),
        banner: text(content.get("banner")),
    }
}
