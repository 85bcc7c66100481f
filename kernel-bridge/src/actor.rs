//! The kernel actor: one tokio task per kernel owns the process, the sockets and the FIFO
//! queue of executions, and serves the [`crate::Kernel`] handles through a bounded inbox.
//!
//! One task owning everything means no locks, and an order that is easy to reason about:
//! one execution at a time, in request order; an execution ends only when the kernel has
//! both replied on shell *and* published `idle` on iopub (the two arrive on different
//! sockets, in either order), so no output can arrive after its `Finished`; a kernel that
//! goes idle and never replies ends it after [`NO_REPLY_GRACE`]. The actor never
//! awaits a slow consumer: events wait in a per-execution outbox and are handed over as
//! the consumer's channel has room, so commands (interrupt, cancel) are served at once.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jupyter_protocol::{InputReply, InterruptRequest, ReplyStatus};
use serde_json::Value;
use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::mpsc::{self, OwnedPermit};
use tokio::sync::{broadcast, oneshot, watch};
use tracing::Instrument as _;

use crate::error::KernelError;
use crate::events::{
    EndCause, ExecutionEnd, ExecutionEvent, ExecutionId, ExecutionStatus, KernelStatus, Output, from_iopub,
};
use crate::kernel::{
    DeathCause, Execution, ExecutionRequest, KernelEvent, KernelInfo, KernelOptions, KernelState,
};
use crate::kernelspec::{InterruptMode, KernelSpec};
use crate::process::describe_exit;
use crate::session::{self, Session};
use crate::wire::{Channel, Incoming};

/// After the process exits, how long to keep reading what it sent just before.
const LAST_WORDS: Duration = Duration::from_millis(200);
/// How long a shutdown waits for consumers to take the last events.
const FINAL_DELIVERY: Duration = Duration::from_secs(10);
/// How long an execution waits for its `execute_reply` after the kernel went idle for it.
/// The reply normally comes within milliseconds (it travels on another socket); ipykernel
/// sends none at all when a second interrupt lands while it is handling the first, and
/// without this the execution, and every one queued behind it, would wait forever.
const NO_REPLY_GRACE: Duration = Duration::from_secs(5);

/// A request from a [`crate::Kernel`] handle.
#[derive(Debug)]
pub(crate) enum Command {
    Execute { request: ExecutionRequest, reply: oneshot::Sender<Result<Execution, KernelError>> },
    Cancel { id: ExecutionId, reply: oneshot::Sender<Result<(), KernelError>> },
    Interrupt { reply: oneshot::Sender<Result<(), KernelError>> },
    Input { id: ExecutionId, value: String, reply: oneshot::Sender<Result<(), KernelError>> },
    Restart { reply: oneshot::Sender<Result<KernelInfo, KernelError>> },
    Shutdown { reply: oneshot::Sender<Result<(), KernelError>> },
}

/// What a started actor hands back to the [`crate::Kernel`] it serves.
pub(crate) struct Started {
    pub state: watch::Receiver<KernelState>,
    pub info: watch::Receiver<KernelInfo>,
}

/// Starts the first kernel process, then the actor task.
pub(crate) async fn start(
    spec: Arc<KernelSpec>,
    options: KernelOptions,
    inbox: mpsc::Receiver<Command>,
    events: broadcast::Sender<KernelEvent>,
) -> Result<Started, KernelError> {
    let span = tracing::info_span!("kernel", name = %spec.name);
    let session = Session::start(&spec, &options).instrument(span.clone()).await?;
    let (state_tx, state) = watch::channel(KernelState::Idle);
    let (info_tx, info) = watch::channel(session.info.clone());
    let actor = Actor {
        spec,
        options,
        inbox,
        events,
        state: state_tx,
        info: info_tx,
        session: Some(session),
        dead: None,
        queue: VecDeque::new(),
        running: None,
        next_id: 1,
    };
    tokio::spawn(actor.run().instrument(span));
    Ok(Started { state, info })
}

struct Actor {
    spec: Arc<KernelSpec>,
    options: KernelOptions,
    inbox: mpsc::Receiver<Command>,
    events: broadcast::Sender<KernelEvent>,
    state: watch::Sender<KernelState>,
    info: watch::Sender<KernelInfo>,
    /// The live process; `None` once dead or shut down.
    session: Option<Session>,
    /// Why the kernel is dead, while it is.
    dead: Option<DeathCause>,
    queue: VecDeque<Queued>,
    running: Option<Running>,
    next_id: u64,
}

struct Queued {
    id: ExecutionId,
    request: ExecutionRequest,
    events: mpsc::Sender<ExecutionEvent>,
}

/// The execution the kernel is working on (or that is handing over its last events).
struct Running {
    id: ExecutionId,
    msg_id: String,
    events: mpsc::Sender<ExecutionEvent>,
    /// Events not yet taken by the consumer, oldest first.
    outbox: VecDeque<ExecutionEvent>,
    /// The consumer dropped its `Execution`: events are discarded, the run goes on.
    consumer_gone: bool,
    /// Outputs dropped since the outbox filled up.
    dropped: u64,
    /// `execute_reply` status and execution count, once it came.
    reply: Option<(ExecutionStatus, Option<u64>)>,
    /// The kernel published `idle` for this request.
    idle: bool,
    /// When the execution ends without its reply: set when `idle` comes first.
    reply_deadline: Option<tokio::time::Instant>,
    /// `Finished` is in the outbox.
    finished: bool,
}

impl Running {
    /// Adds an event for the consumer. Outputs beyond `max_pending` are dropped (and
    /// counted); consecutive chunks of one stream are merged while they wait, which loses
    /// nothing (nbformat appends them into one output anyway).
    fn push(&mut self, event: ExecutionEvent, max_pending: usize) {
        if self.consumer_gone || self.finished {
            return;
        }
        let droppable = matches!(event, ExecutionEvent::Output(_) | ExecutionEvent::UpdateDisplayData { .. });
        if let (
            ExecutionEvent::Output(Output::Stream { name, text }),
            Some(ExecutionEvent::Output(Output::Stream { name: last_name, text: last_text })),
            0,
        ) = (&event, self.outbox.back_mut(), self.dropped)
            && name == last_name
        {
            last_text.push_str(text);
            return;
        }
        if droppable && self.outbox.len() >= max_pending {
            self.dropped += 1;
            return;
        }
        self.note_dropped();
        self.outbox.push_back(event);
    }

    fn note_dropped(&mut self) {
        if self.dropped > 0 {
            tracing::warn!(execution = %self.id, count = self.dropped, "consumer too slow: outputs dropped");
            self.outbox.push_back(ExecutionEvent::OutputsDropped { count: self.dropped });
            self.dropped = 0;
        }
    }

    fn finish(&mut self, end: ExecutionEnd) {
        if self.finished {
            return;
        }
        tracing::debug!(execution = %self.id, status = ?end.status, cause = ?end.cause, "execution finished");
        self.note_dropped();
        if !self.consumer_gone {
            self.outbox.push_back(ExecutionEvent::Finished(end));
        }
        self.finished = true;
    }

    /// Hands over as many events as the consumer's channel has room for.
    fn flush(&mut self) {
        while let Some(event) = self.outbox.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    self.outbox.push_front(event);
                    return;
                }
                Err(TrySendError::Closed(_)) => {
                    self.consumer_gone = true;
                    self.outbox.clear();
                }
            }
        }
    }

    fn waiting_for_room(&self) -> bool {
        !self.outbox.is_empty() && !self.consumer_gone
    }

    fn done(&self) -> bool {
        self.finished && (self.outbox.is_empty() || self.consumer_gone)
    }
}

/// What woke the actor up.
enum Wake {
    Command(Option<Command>),
    Exited(std::io::Result<std::process::ExitStatus>),
    HeartbeatLost(Result<u32, oneshot::error::RecvError>),
    Reply(Option<Incoming>),
    IoPub(Option<Incoming>),
    Room(Result<OwnedPermit<ExecutionEvent>, SendError<()>>),
    /// The running execution went idle and its reply is overdue.
    NoReply,
}

/// Awaits `future` if there is one, else never completes (a disabled `select!` branch).
async fn maybe<F: Future>(future: Option<F>) -> F::Output {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// Ends an execution that never started, by the same rules as one that did.
fn end_queued(queued: Queued, cause: EndCause) {
    let end = ExecutionEnd { status: ExecutionStatus::Aborted, execution_count: None, cause };
    // A queued execution's channel is empty, so this only fails if nobody listens.
    let _ = queued.events.try_send(ExecutionEvent::Finished(end));
}

impl Actor {
    async fn run(mut self) {
        loop {
            self.advance().await;
            match self.wait().await {
                Wake::Command(Some(command)) => {
                    if !self.handle(command).await {
                        break;
                    }
                }
                Wake::Command(None) => {
                    tracing::info!("last handle dropped; shutting the kernel down");
                    self.shut_down().await;
                    break;
                }
                Wake::Exited(status) => {
                    let status = status.map(|s| describe_exit(&s)).unwrap_or_else(|e| e.to_string());
                    self.died(DeathCause::Exited { status }).await;
                }
                Wake::HeartbeatLost(Ok(missed)) => self.died(DeathCause::HeartbeatLost { missed }).await,
                Wake::HeartbeatLost(Err(_)) => {
                    if let Some(session) = self.session.as_mut() {
                        session.heartbeat_lost = None;
                    }
                }
                Wake::Reply(Some(message)) => self.on_reply(message),
                Wake::IoPub(Some(message)) => self.on_iopub(message),
                // A reader stopped (its socket failed): stop waiting on it; the process watch
                // or the heartbeat tells whether the kernel is gone.
                Wake::Reply(None) => {
                    tracing::warn!("the kernel's reply sockets stopped");
                    if let Some(session) = self.session.as_mut() {
                        session.replies_open = false;
                    }
                }
                Wake::IoPub(None) => {
                    tracing::warn!("the kernel's iopub socket stopped");
                    if let Some(session) = self.session.as_mut() {
                        session.iopub_open = false;
                    }
                }
                Wake::Room(Ok(permit)) => {
                    if let Some(event) = self.running.as_mut().and_then(|r| r.outbox.pop_front()) {
                        permit.send(event);
                    }
                }
                Wake::Room(Err(_)) => {
                    if let Some(running) = self.running.as_mut() {
                        running.consumer_gone = true;
                        running.outbox.clear();
                    }
                }
                Wake::NoReply => {
                    if let Some(running) = self.running.as_mut() {
                        tracing::warn!(execution = %running.id, grace = ?NO_REPLY_GRACE, "the kernel went idle but sent no execute_reply; ending the execution");
                        let end = ExecutionEnd {
                            status: ExecutionStatus::Error,
                            execution_count: None,
                            cause: EndCause::NoReply,
                        };
                        running.finish(end);
                    }
                }
            }
        }
        self.deliver_remaining().await;
    }

    /// Waits for the next thing to do. Only the inbox is read while the kernel is dead.
    async fn wait(&mut self) -> Wake {
        let Actor { inbox, session, running, .. } = self;
        let room =
            running.as_ref().filter(|r| r.waiting_for_room()).map(|r| r.events.clone().reserve_owned());
        let no_reply = running
            .as_ref()
            .filter(|r| !r.finished && r.reply.is_none())
            .and_then(|r| r.reply_deadline)
            .map(tokio::time::sleep_until);
        let (child, heartbeat, replies, iopub) = match session.as_mut() {
            Some(Session { process, heartbeat_lost, replies, iopub, replies_open, iopub_open, .. }) => (
                Some(process.child.wait()),
                heartbeat_lost.as_mut(),
                if *replies_open { Some(replies.recv()) } else { None },
                if *iopub_open { Some(iopub.recv()) } else { None },
            ),
            None => (None, None, None, None),
        };
        tokio::select! {
            biased;
            command = inbox.recv() => Wake::Command(command),
            status = maybe(child) => Wake::Exited(status),
            missed = maybe(heartbeat) => Wake::HeartbeatLost(missed),
            message = maybe(replies) => Wake::Reply(message),
            message = maybe(iopub) => Wake::IoPub(message),
            permit = maybe(room) => Wake::Room(permit),
            () = maybe(no_reply) => Wake::NoReply,
        }
    }

    /// Finishes the running execution when it is complete, hands over events, starts the
    /// next queued execution, and publishes the state.
    async fn advance(&mut self) {
        loop {
            if let Some(running) = self.running.as_mut() {
                if let (Some((status, execution_count)), true) = (running.reply, running.idle) {
                    running.finish(ExecutionEnd { status, execution_count, cause: EndCause::Reply });
                }
                running.flush();
                if !running.done() {
                    break;
                }
                self.running = None;
            }
            if self.session.is_none() {
                break;
            }
            let Some(next) = self.queue.pop_front() else { break };
            self.begin(next).await;
        }
        let state = match (&self.dead, &self.running) {
            (Some(cause), _) => KernelState::Dead { cause: cause.clone() },
            (None, Some(_)) => KernelState::Busy,
            (None, None) => KernelState::Idle,
        };
        self.set_state(state);
    }

    /// Sends a queued execution to the kernel.
    async fn begin(&mut self, queued: Queued) {
        let Some(session) = self.session.as_mut() else { return };
        let request = &queued.request;
        let message = jupyter_protocol::ExecuteRequest {
            code: request.code.clone(),
            silent: request.silent,
            store_history: request.store_history,
            user_expressions: None,
            allow_stdin: request.allow_stdin,
            stop_on_error: request.stop_on_error,
        };
        let mut running = Running {
            id: queued.id,
            msg_id: String::new(),
            events: queued.events,
            outbox: VecDeque::new(),
            consumer_gone: false,
            dropped: 0,
            reply: None,
            idle: false,
            reply_deadline: None,
            finished: false,
        };
        match session.channels.shell.send(message.into()).await {
            Ok(msg_id) => {
                tracing::debug!(execution = %queued.id, %msg_id, "execution started");
                running.msg_id = msg_id;
                running.push(ExecutionEvent::Started, self.options.max_pending_events);
            }
            Err(error) => {
                // The shell socket failing means the kernel is going away; the process
                // watch reports that. This execution never reached the kernel.
                tracing::warn!(execution = %queued.id, %error, "execute_request could not be sent");
                running.finish(ExecutionEnd {
                    status: ExecutionStatus::Aborted,
                    execution_count: None,
                    cause: EndCause::KernelDied {
                        cause: DeathCause::Exited { status: format!("request not delivered: {error}") },
                    },
                });
            }
        }
        self.running = Some(running);
    }

    /// Serves one command; `false` when the actor should stop.
    async fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Execute { request, reply } => {
                let result = self.enqueue(request);
                let _ = reply.send(result);
            }
            Command::Cancel { id, reply } => {
                let result = match self.queue.iter().position(|queued| queued.id == id) {
                    Some(at) => {
                        if let Some(queued) = self.queue.remove(at) {
                            end_queued(queued, EndCause::Cancelled);
                        }
                        Ok(())
                    }
                    None => Err(KernelError::NotQueued(id)),
                };
                let _ = reply.send(result);
            }
            Command::Interrupt { reply } => {
                let result = self.interrupt().await;
                let _ = reply.send(result);
            }
            Command::Input { id, value, reply } => {
                let result = match (self.running.as_ref(), self.session.as_mut()) {
                    (Some(running), Some(session)) if running.id == id && !running.finished => {
                        let answer = InputReply { value, status: ReplyStatus::Ok, error: None };
                        session.channels.stdin.send(answer.into()).await.map(|_| ())
                    }
                    _ => Err(KernelError::NotRunning(id)),
                };
                let _ = reply.send(result);
            }
            Command::Restart { reply } => {
                let result = self.restart().await;
                let _ = reply.send(result);
            }
            Command::Shutdown { reply } => {
                self.shut_down().await;
                let _ = reply.send(Ok(()));
                return false;
            }
        }
        true
    }

    fn enqueue(&mut self, request: ExecutionRequest) -> Result<Execution, KernelError> {
        if let Some(cause) = &self.dead {
            return Err(KernelError::Dead(cause.clone()));
        }
        let id = ExecutionId(self.next_id);
        self.next_id += 1;
        let (events, receiver) = mpsc::channel(self.options.event_capacity.max(2));
        tracing::debug!(execution = %id, queued_behind = self.queue.len(), "execution queued");
        self.queue.push_back(Queued { id, request, events });
        Ok(Execution::new(id, receiver))
    }

    async fn interrupt(&mut self) -> Result<(), KernelError> {
        let Some(session) = self.session.as_mut() else {
            return Err(self.dead.clone().map(KernelError::Dead).unwrap_or(KernelError::ShutDown));
        };
        tracing::info!(mode = ?self.spec.interrupt_mode, "interrupting the kernel");
        match self.spec.interrupt_mode {
            InterruptMode::Signal => {
                session.process.signal_group(rustix::process::Signal::INT).map_err(KernelError::Signal)
            }
            InterruptMode::Message => {
                session.channels.control.send(InterruptRequest {}.into()).await.map(|_| ())
            }
        }
    }

    fn on_reply(&mut self, message: Incoming) {
        if message.msg_type == "interrupt_reply" {
            tracing::debug!(status = %message.content["status"], "interrupt_reply");
            return;
        }
        let Some(running) =
            self.running.as_mut().filter(|r| Some(&r.msg_id) == message.parent_msg_id.as_ref())
        else {
            tracing::trace!(msg_type = %message.msg_type, channel = ?message.channel, "reply for no running execution");
            return;
        };
        match (message.channel, message.msg_type.as_str()) {
            (Channel::Shell, "execute_reply") => {
                let status = match message.content.get("status").and_then(Value::as_str) {
                    Some("ok") => ExecutionStatus::Ok,
                    Some("aborted") => ExecutionStatus::Aborted,
                    _ => ExecutionStatus::Error,
                };
                let count = message.content.get("execution_count").and_then(Value::as_u64);
                running.reply = Some((status, count));
            }
            (Channel::Stdin, "input_request") => {
                let prompt =
                    message.content.get("prompt").and_then(Value::as_str).unwrap_or_default().to_string();
                let password = message.content.get("password").and_then(Value::as_bool).unwrap_or(false);
                running
                    .push(ExecutionEvent::InputRequest { prompt, password }, self.options.max_pending_events);
            }
            (channel, msg_type) => tracing::debug!(?channel, msg_type, "ignoring kernel message"),
        }
    }

    fn on_iopub(&mut self, message: Incoming) {
        let Some(running) =
            self.running.as_mut().filter(|r| Some(&r.msg_id) == message.parent_msg_id.as_ref())
        else {
            return;
        };
        if let Some(event) = from_iopub(&message.msg_type, &message.content) {
            if event == (ExecutionEvent::Status { status: KernelStatus::Idle }) {
                running.idle = true;
                if running.reply.is_none() {
                    running.reply_deadline = Some(tokio::time::Instant::now() + NO_REPLY_GRACE);
                }
            }
            running.push(event, self.options.max_pending_events);
        }
    }

    /// The process exited or stopped answering: end the running execution with an error
    /// and the queued ones as aborted, and wait for `restart`.
    async fn died(&mut self, cause: DeathCause) {
        let Some(mut session) = self.session.take() else { return };
        if matches!(cause, DeathCause::HeartbeatLost { .. }) {
            session::kill(&mut session.process).await;
        }
        // What the kernel sent just before dying (its last outputs, even a reply) may still
        // be on its way through the readers.
        loop {
            tokio::select! {
                Some(message) = session.iopub.recv() => self.on_iopub(message),
                Some(message) = session.replies.recv() => self.on_reply(message),
                _ = tokio::time::sleep(LAST_WORDS) => break,
            }
        }
        session.process.collect_output().await;
        tracing::warn!(pid = session.process.pid, %cause, last_output = %session.process.tail.text(), "kernel died");
        drop(session);
        let end_cause = EndCause::KernelDied { cause: cause.clone() };
        self.end_all(ExecutionStatus::Error, end_cause);
        self.dead = Some(cause.clone());
        self.set_state(KernelState::Dead { cause: cause.clone() });
        let _ = self.events.send(KernelEvent::Died { cause });
    }

    /// Ends the running execution (if it has not finished by itself) with `status`, and
    /// every queued one as aborted, all with `cause`.
    fn end_all(&mut self, status: ExecutionStatus, cause: EndCause) {
        if let Some(running) = self.running.as_mut() {
            let (status, execution_count) = match running.reply {
                Some((reply_status, count)) if running.idle => (reply_status, count),
                Some((_, count)) => (status, count),
                None => (status, None),
            };
            let cause = if running.reply.is_some() && running.idle { EndCause::Reply } else { cause.clone() };
            running.finish(ExecutionEnd { status, execution_count, cause });
        }
        for queued in std::mem::take(&mut self.queue) {
            end_queued(queued, cause.clone());
        }
    }

    async fn restart(&mut self) -> Result<KernelInfo, KernelError> {
        self.set_state(KernelState::Restarting);
        if let Some(session) = self.session.take() {
            session.stop(true, self.options.shutdown_timeout).await;
        }
        self.end_all(ExecutionStatus::Aborted, EndCause::Restarted);
        match Session::start(&self.spec, &self.options).await {
            Ok(session) => {
                let info = session.info.clone();
                tracing::info!(pid = info.pid, "kernel restarted");
                self.info.send_replace(info.clone());
                self.session = Some(session);
                self.dead = None;
                self.set_state(KernelState::Idle);
                let _ = self.events.send(KernelEvent::Restarted { pid: info.pid });
                Ok(info)
            }
            Err(error) => {
                let cause = DeathCause::StartFailed { error: error.to_string() };
                self.dead = Some(cause.clone());
                self.set_state(KernelState::Dead { cause: cause.clone() });
                let _ = self.events.send(KernelEvent::Died { cause });
                Err(error)
            }
        }
    }

    async fn shut_down(&mut self) {
        if let Some(session) = self.session.take() {
            session.stop(false, self.options.shutdown_timeout).await;
        }
        self.end_all(ExecutionStatus::Aborted, EndCause::ShutDown);
        self.dead = None;
        self.set_state(KernelState::ShutDown);
    }

    /// After a shutdown: lets the consumer of the last execution take its final events
    /// (within a bound, so an abandoned but undropped `Execution` cannot keep the task).
    async fn deliver_remaining(&mut self) {
        let Some(running) = self.running.as_mut() else { return };
        let deliver = async {
            while let Some(event) = running.outbox.pop_front() {
                if running.events.send(event).await.is_err() {
                    break;
                }
            }
        };
        if tokio::time::timeout(FINAL_DELIVERY, deliver).await.is_err() {
            tracing::warn!(execution = %running.id, "consumer did not take the last events of an execution");
        }
    }

    fn set_state(&self, state: KernelState) {
        let changed = self.state.send_if_modified(|current| {
            if *current == state {
                false
            } else {
                *current = state.clone();
                true
            }
        });
        if changed {
            let _ = self.events.send(KernelEvent::State(state));
        }
    }
}
