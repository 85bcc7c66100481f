//! One y-websocket client: a WebSocket (tokio-tungstenite, TCP_NODELAY) driving a
//! [`Replica`], run as a task that scenarios steer with commands.
//!
//! Each client is two tasks. The *worker* owns the document: it reads frames, answers them,
//! and makes edits when told to. The *writer* owns the socket's sending half, so a slow
//! server delays our sends without stopping us from reading what it sends (which could
//! otherwise deadlock both sides on full buffers).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};
use yrs::{StateVector, TextRef};

use crate::marker::{EditId, RunTag};
use crate::notebook::{self, Typist};
use crate::replica::{InsertWatch, Replica, covers};
use crate::tracker::{EditKey, SharedLog, lock, micros_since};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Frames queued for the writer. When full the worker waits (back-pressure), which shows as
/// latency in the figures rather than as memory growth.
const OUTBOUND_QUEUE: usize = 1024;
/// The socket's read buffer. tungstenite zero-fills the free part of its read buffer before
/// every read, the reads that find nothing included; with its 128 KiB default that was the
/// load generator's largest cost under fanout (a memset of 128 KiB for each of 49 receivers
/// of every edit), slowing the very deliveries being timed. Large frames still arrive whole:
/// the buffer grows to a frame's length, filled this much per read.
const READ_BUFFER: usize = 16 * 1024;
/// Longest wait for the server's answer to our sync step 1 on connect, by default.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Most edits one pacing wake-up or typing round makes before reading again, so a client that
/// fell behind catches up without starving its reader.
const EDITS_PER_ROUND: u64 = 256;

/// The server to load: base URL plus credentials.
#[derive(Debug, Clone)]
pub struct Target {
    /// e.g. `ws://127.0.0.1:8080/ws`; the room is appended as a path segment, as
    /// y-websocket's `WebsocketProvider(serverUrl, room)` does.
    pub base_url: String,
    pub token: Option<String>,
}

impl Target {
    /// The room's URL without credentials, safe to print.
    pub fn display_url(&self, room: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), room)
    }

    /// The upgrade request: the token goes both in `Authorization: Bearer` and in `?token=`,
    /// because servers accept one or the other (browsers cannot set headers, SPEC §5).
    fn request(&self, room: &str) -> anyhow::Result<tungstenite::handshake::client::Request> {
        let mut url = self.display_url(room);
        if let Some(token) = &self.token {
            url.push_str(if url.contains('?') { "&token=" } else { "?token=" });
            url.push_str(&percent_encode(token));
        }
        let mut request = url.into_client_request().context("invalid --url")?;
        if let Some(token) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .context("token is not a valid header value")?;
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        Ok(request)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How one client is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Index of the client within the scenario; part of its edit markers.
    pub index: u32,
    pub room: String,
    /// Set for clients whose edits are timed.
    pub timed: Option<Timed>,
    /// Set for a client that loads a known document: [`Status::covered_at`] is stamped when
    /// its state vector first covers this one.
    pub expect: Option<StateVector>,
}

/// What a client whose edits are timed needs: the run's marker tag, and the log (with its
/// time origin) where its sends and what it receives are recorded.
#[derive(Debug, Clone)]
pub struct Timed {
    pub run: RunTag,
    pub epoch: Instant,
    pub log: SharedLog,
}

/// Timed edits at a steady rate: the `k`-th at `first + k / per_sec`, stopping at `until`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub first: Instant,
    pub per_sec: f64,
    pub until: Instant,
}

/// What the worker has reached, published for scenarios to wait on.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// When the server's sync step 2 first arrived: the client has the document.
    pub synced_at: Option<Instant>,
    /// When the document first covered [`Options::expect`].
    pub covered_at: Option<Instant>,
    /// The document has a cell with a `source` text to edit.
    pub has_source: bool,
    /// Timed edits of the last [`Pace`] are still being made.
    pub pacing: bool,
    /// Permission-denied messages received, and the last reason given.
    pub denied: u64,
    pub last_denial: Option<String>,
    /// Why the worker stopped, once it has.
    pub ended: Option<String>,
}

enum Command {
    EnsureCell { cell_id: String },
    OwnCell { cell_id: String },
    Pace(Pace),
    StopPace,
    Type { count: u64, cell_every: u64, id_prefix: String, done: oneshot::Sender<Instant> },
    RoundTrip(oneshot::Sender<Instant>),
    Snapshot(oneshot::Sender<(StateVector, usize)>),
    SourceText(oneshot::Sender<Option<String>>),
    Close,
}

/// A connected, synced client.
#[derive(Debug)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Status>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A client and the moments of its connection: start, WebSocket open, document synced.
#[derive(Debug)]
pub struct Connected {
    pub client: Client,
    pub started: Instant,
    pub open: Instant,
    pub synced: Instant,
}

impl Connected {
    /// Connect plus sync time, the figure a user waits through when opening a notebook.
    pub fn connect_sync_ms(&self) -> f64 {
        (self.synced - self.started).as_secs_f64() * 1000.0
    }
}

/// Opens a connection, starts the client and waits until it has synced with the server.
pub async fn connect(target: &Target, options: Options) -> anyhow::Result<Connected> {
    connect_within(target, options, SYNC_TIMEOUT).await
}

/// [`connect`] with a chosen limit for the first sync (a cold server may take long to load a
/// big document).
pub async fn connect_within(
    target: &Target,
    options: Options,
    sync_limit: Duration,
) -> anyhow::Result<Connected> {
    let started = Instant::now();
    let request = target.request(&options.room)?;
    // `true` disables Nagle (TCP_NODELAY): small frames otherwise wait for a delayed ACK and
    // every latency gains a ~40 ms floor (SPEC §14).
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (ws, _response) = connect_async_with_config(request, Some(config), true)
        .await
        .with_context(|| format!("connecting to {}", target.display_url(&options.room)))?;
    let open = Instant::now();
    let client = Client::start(ws, options)?;
    let status = client.wait_for(|s| s.synced_at.is_some(), sync_limit).await.context("waiting for sync")?;
    let synced = status.synced_at.ok_or_else(|| anyhow!("synced without a time"))?;
    Ok(Connected { client, started, open, synced })
}

impl Client {
    fn start(ws: Ws, options: Options) -> anyhow::Result<Client> {
        let name = format!("loadgen-{}", options.index);
        let replica = Replica::new(&name);
        if let Some(timed) = &options.timed {
            replica.watch_inserts(InsertWatch { epoch: timed.epoch, log: timed.log.clone() })?;
        }
        let hello = replica.hello()?;
        let (sink, stream) = ws.split();
        let (out, out_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let (commands, commands_rx) = mpsc::channel(16);
        let (status_tx, status) = watch::channel(Status::default());
        let worker = Worker {
            index: options.index,
            replica,
            out,
            status: status_tx,
            timed: options.timed,
            expect: options.expect,
            source: None,
            own_cell: None,
            next_seq: 0,
            pace: None,
            typing: None,
            round_trips: VecDeque::new(),
        };
        let task = tokio::spawn(async move {
            let writer = tokio::spawn(write_frames(sink, out_rx));
            let status = worker.status.clone();
            let result = worker.run(stream, commands_rx, hello).await;
            let reason = match &result {
                Ok(()) => "closed".to_owned(),
                Err(e) => format!("{e:#}"),
            };
            status.send_modify(|s| s.ended = Some(reason));
            // The worker (and with it the writer's queue) is gone: the writer sends a close
            // frame and stops.
            let _ = timeout(Duration::from_secs(2), writer).await;
            result
        });
        Ok(Client { commands, status, task })
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Waits until `ready` holds, failing if the client stops first or `limit` passes.
    pub async fn wait_for(&self, ready: impl Fn(&Status) -> bool, limit: Duration) -> anyhow::Result<Status> {
        let mut status = self.status.clone();
        let waited = timeout(limit, status.wait_for(|s| ready(s) || s.ended.is_some())).await;
        let status = waited
            .map_err(|_| anyhow!("timed out after {limit:?}"))?
            .map_err(|_| anyhow!("client task is gone"))?
            .clone();
        match (&status.ended, ready(&status)) {
            (_, true) => Ok(status),
            (Some(reason), false) => bail!("client stopped: {reason}"),
            (None, false) => bail!("client stopped"),
        }
    }

    async fn command(&self, command: Command) -> anyhow::Result<()> {
        self.commands.send(command).await.map_err(|_| anyhow!("client stopped: {}", self.ended_reason()))
    }

    fn ended_reason(&self) -> String {
        self.status.borrow().ended.clone().unwrap_or_else(|| "unknown".into())
    }

    /// Creates the notebook's code cell if the document has none.
    pub async fn ensure_cell(&self, cell_id: String) -> anyhow::Result<()> {
        self.command(Command::EnsureCell { cell_id }).await
    }

    /// Creates a cell of this client's own (unless the document has it) and makes it the
    /// one its timed edits go into, as a user in a thread edits only their own cells.
    pub async fn own_cell(&self, cell_id: String) -> anyhow::Result<()> {
        self.command(Command::OwnCell { cell_id }).await
    }

    /// Starts timed edits (the client needs [`Options::timed`] and a cell).
    pub async fn pace(&self, pace: Pace) -> anyhow::Result<()> {
        self.command(Command::Pace(pace)).await
    }

    /// Stops timed edits now, even if the pace is behind schedule: what was sent until
    /// then is all that a step's figures count.
    pub async fn stop_pace(&self) -> anyhow::Result<()> {
        self.command(Command::StopPace).await
    }

    /// Types `count` keystroke edits as fast as the connection takes them; returns when the
    /// last one has been queued for sending.
    pub async fn type_edits(
        &self,
        count: u64,
        cell_every: u64,
        id_prefix: String,
    ) -> anyhow::Result<Instant> {
        let (done, finished) = oneshot::channel();
        self.command(Command::Type { count, cell_every, id_prefix, done }).await?;
        finished.await.map_err(|_| anyhow!("client stopped while typing: {}", self.ended_reason()))
    }

    /// Sends a sync step 1 and returns when the server's step 2 answer arrives. The server
    /// handles one connection's messages in order, so by then it has every update sent before.
    pub async fn round_trip(&self) -> anyhow::Result<Instant> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::RoundTrip(tx)).await?;
        rx.await.map_err(|_| anyhow!("client stopped before the server answered: {}", self.ended_reason()))
    }

    /// The document's state vector and encoded size.
    pub async fn snapshot(&self) -> anyhow::Result<(StateVector, usize)> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Snapshot(tx)).await?;
        rx.await.map_err(|_| anyhow!("client stopped: {}", self.ended_reason()))
    }

    /// Every cell's source, in order (with one cell: the text timed edits go into).
    pub async fn source_text(&self) -> anyhow::Result<Option<String>> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::SourceText(tx)).await?;
        rx.await.map_err(|_| anyhow!("client stopped: {}", self.ended_reason()))
    }

    /// Closes the connection (with a close frame) and waits briefly for the tasks to end.
    pub async fn close(self) {
        let _ = self.commands.send(Command::Close).await;
        let _ = timeout(Duration::from_secs(5), self.task).await;
    }
}

/// The task that owns the document.
struct Worker {
    index: u32,
    replica: Replica,
    out: mpsc::Sender<WsMessage>,
    status: watch::Sender<Status>,
    timed: Option<Timed>,
    expect: Option<StateVector>,
    /// The cell source timed edits go into, once the document has one.
    source: Option<TextRef>,
    /// The id of this client's own cell, if it edits one (else the first cell).
    own_cell: Option<String>,
    next_seq: u32,
    /// The current pace and how many of its edits were made.
    pace: Option<(Pace, u64)>,
    typing: Option<Typing>,
    /// Round trips waiting for a sync step 2, oldest first.
    round_trips: VecDeque<oneshot::Sender<Instant>>,
}

struct Typing {
    typist: Typist,
    remaining: u64,
    done: oneshot::Sender<Instant>,
}

impl Worker {
    async fn run(
        mut self,
        mut stream: SplitStream<Ws>,
        mut commands: mpsc::Receiver<Command>,
        hello: Vec<Vec<u8>>,
    ) -> anyhow::Result<()> {
        for frame in hello {
            self.send(frame).await?;
        }
        // Wakes the client when its next timed edit is due. Each client sleeps until its own
        // edits' times: a shared polling tick would line the clients up on the same phase and
        // send their edits in bursts instead of spread over time.
        let pacer = sleep_until(tokio::time::Instant::now());
        tokio::pin!(pacer);
        loop {
            tokio::select! {
                frame = stream.next() => match frame {
                    None => bail!("connection closed by server"),
                    Some(Err(e)) => return Err(e).context("reading from server"),
                    Some(Ok(WsMessage::Binary(data))) => self.on_frame(&data).await?,
                    Some(Ok(WsMessage::Close(frame))) => {
                        bail!("server closed the connection: {}", describe_close(frame))
                    }
                    // Pings are answered by tungstenite itself; text frames are not y-websocket.
                    Some(Ok(_)) => {}
                },
                command = commands.recv() => match command {
                    None | Some(Command::Close) => return Ok(()),
                    Some(command) => {
                        self.on_command(command).await?;
                        if let Some(due) = self.next_edit_due() {
                            pacer.as_mut().reset(due.into());
                        }
                    }
                },
                () = &mut pacer, if self.pace.is_some() => {
                    self.on_tick().await?;
                    if let Some(due) = self.next_edit_due() {
                        pacer.as_mut().reset(due.into());
                    }
                }
                () = std::future::ready(()), if self.typing.is_some() => self.type_some().await?,
            }
        }
    }

    async fn send(&self, frame: Vec<u8>) -> anyhow::Result<()> {
        self.out.send(WsMessage::binary(frame)).await.map_err(|_| anyhow!("connection writer stopped"))
    }

    async fn on_frame(&mut self, data: &[u8]) -> anyhow::Result<()> {
        let incoming = self.replica.handle_frame(data)?;
        let now = Instant::now();
        for reply in incoming.replies {
            self.send(reply).await?;
        }
        for _ in 0..incoming.sync_step2 {
            if self.status.borrow().synced_at.is_none() {
                self.status.send_modify(|s| s.synced_at = Some(now));
            } else if let Some(waiter) = self.round_trips.pop_front() {
                let _ = waiter.send(now);
            }
        }
        if !incoming.denied.is_empty() {
            let last = incoming.denied.last().cloned();
            self.status.send_modify(|s| {
                s.denied += incoming.denied.len() as u64;
                s.last_denial = last;
            });
        }
        if incoming.updates > 0 {
            self.refresh_source();
            if let Some(expect) = &self.expect
                && self.status.borrow().covered_at.is_none()
                && covers(&self.replica.state_vector(), expect)
            {
                self.status.send_modify(|s| s.covered_at = Some(now));
            }
        }
        Ok(())
    }

    fn refresh_source(&mut self) {
        if self.source.is_none() {
            let txn = yrs::Transact::transact(self.replica.doc());
            self.source = match &self.own_cell {
                Some(id) => notebook::source_by_id(&txn, self.replica.cells(), id),
                None => notebook::first_source(&txn, self.replica.cells()),
            };
            drop(txn);
            if self.source.is_some() {
                self.status.send_modify(|s| s.has_source = true);
            }
        }
    }

    /// Handles a command (the caller then sets the pacer for a new pace).
    async fn on_command(&mut self, command: Command) -> anyhow::Result<()> {
        match command {
            Command::EnsureCell { cell_id } => {
                if let Some(update) =
                    notebook::ensure_code_cell(self.replica.doc(), self.replica.cells(), &cell_id)
                {
                    self.send(Replica::update_message(update)).await?;
                }
                self.refresh_source();
            }
            Command::OwnCell { cell_id } => {
                if let Some(update) =
                    notebook::ensure_cell_with_id(self.replica.doc(), self.replica.cells(), &cell_id)
                {
                    self.send(Replica::update_message(update)).await?;
                }
                self.own_cell = Some(cell_id);
                self.source = None;
                self.refresh_source();
            }
            Command::Pace(pace) => {
                if self.timed.is_none() || self.source.is_none() {
                    bail!("client {} cannot make timed edits: no edit log or no cell", self.index);
                }
                self.pace = Some((pace, 0));
                self.status.send_modify(|s| s.pacing = true);
            }
            Command::StopPace => {
                self.pace = None;
                self.status.send_modify(|s| s.pacing = false);
            }
            Command::Type { count, cell_every, id_prefix, done } => {
                self.typing =
                    Some(Typing { typist: Typist::new(cell_every, id_prefix), remaining: count, done });
            }
            Command::RoundTrip(waiter) => {
                self.round_trips.push_back(waiter);
                self.send(self.replica.sync_step1()).await?;
            }
            Command::Snapshot(reply) => {
                let _ = reply.send((self.replica.state_vector(), self.replica.encoded_len()));
            }
            Command::SourceText(reply) => {
                let _ = reply.send(self.replica.source_text());
            }
            Command::Close => {}
        }
        Ok(())
    }

    /// When the next timed edit of the pace is due: the `k`-th (from 0) at
    /// `first + k / per_sec`.
    fn next_edit_due(&self) -> Option<Instant> {
        let (pace, made) = self.pace?;
        Some(pace.first + Duration::from_secs_f64(made as f64 / pace.per_sec))
    }

    /// Makes the timed edits that are due by now (at most [`EDITS_PER_ROUND`]).
    async fn on_tick(&mut self) -> anyhow::Result<()> {
        let Some((pace, made)) = self.pace else {
            return Ok(());
        };
        let now = Instant::now();
        if now < pace.first {
            return Ok(());
        }
        let total =
            ((pace.until.saturating_duration_since(pace.first)).as_secs_f64() * pace.per_sec).ceil() as u64;
        let elapsed = now.min(pace.until).saturating_duration_since(pace.first);
        let due = ((elapsed.as_secs_f64() * pace.per_sec).floor() as u64 + 1).min(total);
        let batch = due.saturating_sub(made).min(EDITS_PER_ROUND);
        for _ in 0..batch {
            self.timed_edit().await?;
        }
        // Only now, with every edit of the pace logged, may the scenario start counting.
        self.pace = (made + batch < total).then_some((pace, made + batch));
        if self.pace.is_none() {
            self.status.send_modify(|s| s.pacing = false);
        }
        Ok(())
    }

    /// One marked edit at the start of the cell source, logged as sent just before it is
    /// queued, under the Yjs id of its first character.
    async fn timed_edit(&mut self) -> anyhow::Result<()> {
        let (Some(timed), Some(source)) = (&self.timed, &self.source) else {
            bail!("timed edit without an edit log or a cell");
        };
        let id = EditId { client: self.index, seq: self.next_seq };
        self.next_seq += 1;
        let (update, clock) = notebook::prepend(self.replica.doc(), source, &timed.run.marker(id));
        let clock = clock.ok_or_else(|| anyhow!("an edit inserted nothing"))?;
        let key = EditKey { client: self.replica.doc().client_id(), clock };
        lock(&timed.log).sent.push((key, micros_since(timed.epoch, Instant::now())));
        self.send(Replica::update_message(update)).await
    }

    /// Types the next round of keystrokes; reports the end when all are queued.
    async fn type_some(&mut self) -> anyhow::Result<()> {
        let Some(typing) = &mut self.typing else {
            return Ok(());
        };
        let batch = typing.remaining.min(EDITS_PER_ROUND);
        typing.remaining -= batch;
        let frames: Vec<Vec<u8>> = (0..batch)
            .map(|_| {
                Replica::update_message(typing.typist.next_edit(self.replica.doc(), self.replica.cells()))
            })
            .collect();
        for frame in frames {
            self.send(frame).await?;
        }
        if self.typing.as_ref().is_some_and(|t| t.remaining == 0)
            && let Some(typing) = self.typing.take()
        {
            let _ = typing.done.send(Instant::now());
        }
        Ok(())
    }
}

fn describe_close(frame: Option<CloseFrame>) -> String {
    match frame {
        Some(frame) => format!("{} {}", u16::from(frame.code), frame.reason),
        None => "no close frame".into(),
    }
}

/// The writer task: sends queued frames, flushing once per burst rather than per frame.
async fn write_frames(
    mut sink: SplitSink<Ws, WsMessage>,
    mut queue: mpsc::Receiver<WsMessage>,
) -> anyhow::Result<()> {
    while let Some(first) = queue.recv().await {
        sink.feed(first).await?;
        for _ in 0..OUTBOUND_QUEUE {
            match queue.try_recv() {
                Ok(next) => sink.feed(next).await?,
                Err(_) => break,
            }
        }
        sink.flush().await?;
    }
    let close = CloseFrame { code: CloseCode::Normal, reason: "loadgen done".into() };
    sink.send(WsMessage::Close(Some(close))).await?;
    Ok(())
}
