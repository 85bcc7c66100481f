//! The client side of a kernel's five ZeroMQ channels, through jupyter-zmq-client.
//!
//! Messages are sent as jupyter-protocol's typed requests. Incoming messages are checked
//! against the HMAC key by jupyter-zmq-client's `RawMessage`, then kept as raw JSON
//! content: a typed parse fails on the whole message when one field is unexpected (a MIME
//! bundle that is not the shape the crate expects, a kernel that omits
//! `language_info.version`), and losing an output or an `execute_reply` that way would leave
//! a cell wrong or an execution hanging. Each receiving socket is read by its own task, so
//! the actor's `select!` only waits on channels (whose `recv` can be cancelled safely).

use jupyter_protocol::{ConnectionInfo, Header, JupyterMessage};
use jupyter_zmq_client::{
    ClientIoPubConnection, Connection, DealerRecvConnection, DealerSendConnection, RawMessage,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zeromq::SocketRecv as _;

use crate::error::KernelError;

/// Which channel a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Shell,
    Control,
    Stdin,
    IoPub,
}

/// A received, signature-checked message.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub channel: Channel,
    pub msg_type: String,
    /// `msg_id` of the request this message answers or belongs to.
    pub parent_msg_id: Option<String>,
    pub content: Value,
}

/// The sending halves of one kernel process's channels, and the tasks reading the others.
#[derive(Debug)]
pub(crate) struct Channels {
    pub shell: SendHalf,
    pub control: SendHalf,
    pub stdin: SendHalf,
    readers: Vec<JoinHandle<()>>,
}

/// A sending socket; wrapped so the struct holding it can be `Debug`.
pub(crate) struct SendHalf(DealerSendConnection);

impl std::fmt::Debug for SendHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendHalf")
    }
}

impl SendHalf {
    /// Sends a request and returns its `msg_id`, which replies and outputs will name as
    /// their parent.
    pub(crate) async fn send(&mut self, mut message: JupyterMessage) -> Result<String, KernelError> {
        message.header.username = "talkbook".into();
        let msg_id = message.header.msg_id.clone();
        self.0.send(message).await?;
        Ok(msg_id)
    }
}

impl Drop for Channels {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// Connects the shell, control, stdin and iopub sockets of a kernel (waiting until the
/// kernel has bound them) and starts their readers. Replies (shell, control, stdin) and
/// iopub messages go to separate queues so a burst of outputs cannot delay a reply.
pub(crate) async fn connect(
    info: &ConnectionInfo,
    replies: mpsc::Sender<Incoming>,
    iopub: mpsc::Sender<Incoming>,
) -> Result<Channels, KernelError> {
    let session = uuid::Uuid::new_v4().to_string();
    // Shell and stdin share one ZeroMQ identity so the kernel can route `input_request`
    // to the client that sent the `execute_request`.
    let identity = jupyter_zmq_client::peer_identity_for_session(&session)?;
    let (shell, control, stdin, iopub_conn) = tokio::try_join!(
        jupyter_zmq_client::create_client_shell_connection_with_identity(info, &session, identity.clone()),
        jupyter_zmq_client::create_client_control_connection(info, &session),
        jupyter_zmq_client::create_client_stdin_connection_with_identity(info, &session, identity),
        jupyter_zmq_client::create_client_iopub_connection(info, "", &session),
    )?;
    let (shell_tx, shell_rx) = shell.split();
    let (control_tx, control_rx) = control.split();
    let (stdin_tx, stdin_rx) = stdin.split();
    let readers = vec![
        tokio::spawn(read_dealer(shell_rx, Channel::Shell, replies.clone())),
        tokio::spawn(read_dealer(control_rx, Channel::Control, replies.clone())),
        tokio::spawn(read_dealer(stdin_rx, Channel::Stdin, replies)),
        tokio::spawn(read_iopub(iopub_conn, iopub)),
    ];
    Ok(Channels {
        shell: SendHalf(shell_tx),
        control: SendHalf(control_tx),
        stdin: SendHalf(stdin_tx),
        readers,
    })
}

async fn read_dealer(mut conn: DealerRecvConnection, channel: Channel, out: mpsc::Sender<Incoming>) {
    loop {
        let received = conn.socket.recv().await;
        if !forward(received, &conn, channel, &out).await {
            return;
        }
    }
}

async fn read_iopub(mut conn: ClientIoPubConnection, out: mpsc::Sender<Incoming>) {
    loop {
        let received = conn.socket.recv().await;
        if !forward(received, &conn, Channel::IoPub, &out).await {
            return;
        }
    }
}

/// Checks and parses one received multipart message and passes it on; `false` when the
/// reader should stop (socket closed, or nobody listening any more).
async fn forward<S>(
    received: zeromq::ZmqResult<zeromq::ZmqMessage>,
    conn: &Connection<S>,
    channel: Channel,
    out: &mpsc::Sender<Incoming>,
) -> bool {
    let multipart = match received {
        Ok(multipart) => multipart,
        Err(error) => {
            tracing::debug!(?channel, %error, "kernel socket closed");
            return false;
        }
    };
    match RawMessage::from_multipart(multipart, &conn.mac).map_err(KernelError::from).and_then(parse) {
        Ok(mut incoming) => {
            incoming.channel = channel;
            out.send(incoming).await.is_ok()
        }
        Err(error) => {
            // A message with a bad signature or shape is dropped, as Jupyter clients do.
            tracing::warn!(?channel, %error, "ignoring a malformed or unsigned kernel message");
            true
        }
    }
}

fn parse(raw: RawMessage) -> Result<Incoming, KernelError> {
    let bad = |what: &str, error: serde_json::Error| {
        KernelError::Transport(jupyter_zmq_client::RuntimeError::ZmqMessageError(format!("{what}: {error}")))
    };
    let header: Header = serde_json::from_slice(&raw.jparts[0]).map_err(|e| bad("header", e))?;
    let parent: Value = serde_json::from_slice(&raw.jparts[1]).map_err(|e| bad("parent header", e))?;
    let content: Value = serde_json::from_slice(&raw.jparts[3]).map_err(|e| bad("content", e))?;
    Ok(Incoming {
        channel: Channel::Shell,
        msg_type: header.msg_type,
        parent_msg_id: parent.get("msg_id").and_then(Value::as_str).map(str::to_string),
        content,
    })
}
