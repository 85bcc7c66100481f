//! A listener for server-sent events, read as they arrive from a plain HTTP/1.1 socket:
//! the blocking client in `api/client.rs` reads whole bodies, and an event stream has no
//! end. A thread parses the (chunked) body into events and hands them over a channel, so
//! a test waits for the next one with a deadline instead of blocking forever.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};

use serde_json::Value;

use super::PATIENCE;

/// One server-sent event: its type (`message` unless the server named another) and data.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub kind: String,
    pub data: String,
}

/// An open `text/event-stream` response. Dropping it closes the connection, which is
/// how a listener goes away.
pub struct EventStream {
    /// A second handle on the socket, to shut it down (which ends the reading thread).
    socket: TcpStream,
    events: Receiver<SseEvent>,
    what: String,
}

impl EventStream {
    /// `GET path` with a bearer token; returns once the response head has arrived, which
    /// must say 200 and `text/event-stream` (errors are for the ordinary client to read).
    pub fn open(addr: SocketAddr, path: &str, token: &str) -> EventStream {
        let what = format!("GET {path}");
        let mut socket = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{what}: connect: {e}"));
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Accept: text/event-stream\r\n\r\n"
        );
        socket.write_all(request.as_bytes()).unwrap_or_else(|e| panic!("{what}: send: {e}"));
        // The head comes at once (the body is what waits), but a hang must still fail.
        socket.set_read_timeout(Some(PATIENCE)).expect("read timeout");
        let mut reader = BufReader::new(socket.try_clone().expect("clone the socket"));
        let head = read_head(&mut reader, &what);
        socket.set_read_timeout(None).expect("no read timeout");
        let status = head.first().and_then(|l| l.split(' ').nth(1)).unwrap_or_default();
        assert_eq!(status, "200", "{what}: {head:?}");
        let header = |name: &str| {
            head.iter()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_ascii_lowercase())
        };
        let content_type = header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("text/event-stream"), "{what}: {head:?}");
        let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let (sender, events) = mpsc::channel();
        // Detached: shutting the socket down (on drop) ends its reads, and so the thread.
        std::thread::spawn(move || read_events(reader, chunked, &sender));
        EventStream { socket, events, what }
    }

    /// The next event, if one comes within [`PATIENCE`]; `None` when the stream ended.
    fn next_event(&self) -> Option<SseEvent> {
        match self.events.recv_timeout(PATIENCE) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("{}: no event within {PATIENCE:?}", self.what),
        }
    }

    /// The next message's JSON; fails on any other event (`lagged`) or the stream's end.
    pub fn next(&self) -> Value {
        let event = self.next_event().unwrap_or_else(|| panic!("{}: the stream ended", self.what));
        assert_eq!(event.kind, "message", "{}: {event:?}", self.what);
        serde_json::from_str(&event.data)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {event:?}", self.what))
    }

    /// The messages of one execution, the next ones on the stream, up to and including its
    /// `finished`: nothing of another execution may come in between.
    pub fn run(&self, execution: u64) -> Vec<Value> {
        let mut messages = Vec::new();
        loop {
            let message = self.next();
            assert_eq!(message["execution"], execution, "{}: after {messages:?}", self.what);
            let finished = message["event"] == "finished";
            messages.push(message);
            if finished {
                return messages;
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// The status line and header lines of a response, up to the blank line.
fn read_head(reader: &mut impl BufRead, what: &str) -> Vec<String> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line).unwrap_or_else(|e| panic!("{what}: reading the head: {e}"));
        let line = line.trim_end_matches(['\r', '\n']);
        if read == 0 || line.is_empty() {
            assert!(!head.is_empty(), "{what}: the connection closed without a response");
            return head;
        }
        head.push(line.to_owned());
    }
}

/// Reads the body to its end (or until the socket is shut down), sending each event.
fn read_events(mut reader: BufReader<TcpStream>, chunked: bool, sender: &Sender<SseEvent>) {
    let mut parser = Parser::default();
    loop {
        let bytes = if chunked { read_chunk(&mut reader) } else { read_some(&mut reader) };
        let Some(bytes) = bytes.filter(|b| !b.is_empty()) else { return };
        for event in parser.feed(&bytes) {
            if sender.send(event).is_err() {
                return;
            }
        }
    }
}

/// One chunk of a chunked body; `None` at its end or when the connection fails.
fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut size = String::new();
    reader.read_line(&mut size).ok()?;
    let size = size.trim().split(';').next()?;
    let size = usize::from_str_radix(size, 16).ok()?;
    let mut chunk = vec![0; size + 2]; // and its CRLF
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    Some(chunk)
}

fn read_some(reader: &mut impl Read) -> Option<Vec<u8>> {
    let mut buffer = vec![0; 8192];
    let read = reader.read(&mut buffer).ok()?;
    buffer.truncate(read);
    Some(buffer)
}

/// The event-stream format: `field: value` lines, an event per blank line, comments
/// (`:` lines, the server's keep-alives) ignored.
#[derive(Default)]
struct Parser {
    pending: Vec<u8>,
    kind: Option<String>,
    data: Option<String>,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8(line).expect("an event-stream line is UTF-8");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    let kind = self.kind.take().unwrap_or_else(|| "message".into());
                    events.push(SseEvent { kind, data });
                }
                self.kind = None;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.kind = Some(value.to_owned()),
                "data" => match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                },
                _ => {}
            }
        }
        events
    }
}
