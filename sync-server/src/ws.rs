//! The WebSocket endpoint `GET /ws/{notebook_id}`: the standard y-websocket protocol.
//!
//! Authentication and access are settled on the upgrade request (401/403/404 before any
//! WebSocket exists). After that each connection is one loop that, in turn, decodes the
//! client's frames into y-protocol messages (several per frame) for the room, and sends
//! what the room queued, pings, and at the end the close frame with its code and reason.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_util::task::task_tracker::TaskTrackerToken;
use yrs::encoding::read::Cursor;
use yrs::sync::{Message, MessageReader, SyncMessage};
use yrs::updates::decoder::DecoderV1;
use yrs::updates::encoder::Encode;

use crate::access::Access;
use crate::app::AppState;
use crate::auth::MaybeUser;
use crate::error::ApiError;
use crate::metrics::METRICS;
use crate::rooms::{Closer, Frames, JoinError, Outbox, Peer, RoomHandle, RoomMsg, close};
use crate::store::NotebookId;

/// Extra bytes the WebSocket layer accepts beyond the configured limit, so an oversized
/// message is seen whole and answered with 4413 rather than a transport error.
const SLACK: usize = 64 * 1024;

/// A connection's read buffer: tungstenite allocates it up front and keeps it, so every idle
/// connection holds it. Typing sends frames of tens of bytes; a larger frame makes the
/// buffer grow for it.
const READ_BUFFER: usize = 1024;
/// How much tungstenite may buffer before it writes (each send also flushes).
const WRITE_BUFFER: usize = 4 * 1024;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// `GET /ws/{notebook_id}`.
pub async fn upgrade(
    State(state): State<AppState>,
    Path(notebook): Path<String>,
    MaybeUser(auth): MaybeUser,
    // Taken as a `Result` so that access is answered first (401/403/404), whatever the
    // request's upgrade headers say.
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let id = notebook
        .parse::<i64>()
        .map(NotebookId)
        .map_err(|_| ApiError::NotFound(format!("notebook `{notebook}`")))?;
    let user = auth.map(|a| a.user);
    let (_, access) = crate::access::notebook_access(&state, user.as_ref(), id).await?;
    access.require(Access::View)?;
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let peer = Peer { conn_id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed), user, access };
    let limit = state.config.max_message_bytes;
    // One box for everything joining needs: axum keeps the callback's captures in the
    // connection's task for its whole life.
    let start = Box::new(Start { state, id, peer });
    Ok(ws
        // tungstenite's 128 KiB default buffers per connection would make an idle room with
        // two clients cost over 256 KiB; small ones grow as big messages need.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(limit + SLACK)
        .max_frame_size(limit + SLACK)
        .on_upgrade(move |socket| serve(socket, start))
        .into_response())
}

/// What a connection joins with.
struct Start {
    state: AppState,
    id: NotebookId,
    peer: Peer,
}

/// A connection that joined its room.
struct Live {
    room: RoomHandle,
    outbox: Outbox,
    conn_id: u64,
    ping_every: Duration,
    limit: usize,
    /// Shutdown waits for open connections to send their close frames.
    _open: TaskTrackerToken,
}

/// How a connection's loop ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The close frame can be sent.
    Writable,
    /// A send to the client failed or was stuck (it stopped reading): no close frame
    /// would get through, so the connection is just dropped.
    Stuck,
}

/// What the connection does after a frame from the client.
enum Next {
    Continue,
    /// Hand these messages to the room.
    Forward(Vec<Message>),
    /// The client closed or broke the protocol (the closer says how to answer).
    Stop,
}

/// Runs one connection until it closes.
///
/// One task reads and writes the socket in turn: it is not split, which would put it
/// behind a lock of its own, and every idle connection keeps this future, so what happens
/// only at the start and the end (joining, the close frame, leaving) is boxed and lives
/// only meanwhile. Not an `async fn`: that would keep the socket twice, as its argument
/// and as the local it moves into.
#[allow(clippy::manual_async_fn)]
fn serve(mut socket: WebSocket, start: Box<Start>) -> impl Future<Output = ()> {
    async move {
        let joined = Box::pin(join(start)).await;
        match &joined {
            Ok(live) => {
                METRICS.connections.fetch_add(1, Ordering::Relaxed);
                let ended = live.run(&mut socket).await;
                live.room.send(RoomMsg::Leave { conn_id: live.conn_id }).await;
                METRICS.connections.fetch_sub(1, Ordering::Relaxed);
                if ended == Ended::Writable {
                    Box::pin(send_close(&mut socket, &live.outbox.closer)).await;
                }
            }
            Err(closer) => Box::pin(send_close(&mut socket, closer)).await,
        }
    }
}

/// Joins the connection's room; a refusal is the close to send.
async fn join(start: Box<Start>) -> Result<Live, Closer> {
    let Start { state, id, peer } = *start;
    let _open = state.connections.token();
    let outbox = Outbox { frames: Frames::new(state.config.outbound_queue), closer: Closer::default() };
    let conn_id = peer.conn_id;
    match state.rooms.join(id, peer, outbox.clone()).await {
        Ok(room) => Ok(Live {
            room,
            outbox,
            conn_id,
            ping_every: state.config.ping_interval(),
            limit: state.config.max_message_bytes,
            _open,
        }),
        Err(e) => {
            let code = match e {
                JoinError::Unavailable(_) => close::INTERNAL,
                JoinError::Closing => close::GOING_AWAY,
            };
            outbox.closer.close(code, e.to_string());
            Err(outbox.closer)
        }
    }
}

impl Live {
    /// Passes frames between the client and the room until either side ends it: the room
    /// by a close request (its code goes out in the close frame), the client by closing,
    /// going away or breaking the protocol.
    async fn run(&self, socket: &mut WebSocket) -> Ended {
        let closer = &self.outbox.closer;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + self.ping_every, self.ping_every);
        let mut missed_pongs = 0u32;
        loop {
            if closer.is_requested() {
                return Ended::Writable;
            }
            // Not biased: a client that keeps sending must not keep its own updates from
            // it, nor a busy room keep its pongs from being read.
            let outgoing = tokio::select! {
                _ = closer.requested() => return Ended::Writable,
                frame = self.outbox.frames.next() => WsMessage::Binary(frame),
                _ = ping.tick() => {
                    if missed_pongs >= 2 {
                        closer.close(close::PING_TIMEOUT, "no pong received; connection presumed dead");
                        return Ended::Writable;
                    }
                    missed_pongs += 1;
                    WsMessage::Ping(Bytes::new())
                }
                frame = socket.next() => {
                    if let Some(Ok(WsMessage::Pong(_))) = frame {
                        missed_pongs = 0;
                    }
                    match self.received(frame) {
                        Next::Continue => continue,
                        Next::Stop => return Ended::Writable,
                        Next::Forward(messages) => {
                            if !self.room.send(RoomMsg::Messages { conn_id: self.conn_id, messages, received: std::time::Instant::now() }).await {
                                closer.close(close::GOING_AWAY, "room closed; reconnect");
                                return Ended::Writable;
                            }
                            continue;
                        }
                    }
                }
            };
            // A client that stopped reading can block this send forever; a close request
            // (e.g. 4429 from the room) abandons it and drops the connection.
            tokio::select! {
                result = socket.send(outgoing) => if result.is_err() { return Ended::Stuck },
                _ = closer.requested() => return Ended::Stuck,
            }
        }
    }

    /// Takes one frame from the client (`None`: it went away).
    fn received(&self, frame: Option<Result<WsMessage, axum::Error>>) -> Next {
        let (closer, limit) = (&self.outbox.closer, self.limit);
        let data = match frame {
            Some(Ok(WsMessage::Binary(data))) => data,
            Some(Ok(WsMessage::Pong(_) | WsMessage::Ping(_))) => return Next::Continue,
            None | Some(Ok(WsMessage::Close(_))) => {
                closer.close(close::NORMAL, "");
                return Next::Stop;
            }
            Some(Ok(WsMessage::Text(_))) => {
                closer.close(close::MALFORMED, "text frames are not part of the y-websocket protocol");
                return Next::Stop;
            }
            Some(Err(e)) => {
                let text = e.to_string();
                if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                    closer.close(close::TOO_LARGE, format!("message larger than {limit} bytes"));
                } else {
                    tracing::debug!(conn = self.conn_id, error = %e, "websocket read error");
                    closer.close(close::NORMAL, "");
                }
                return Next::Stop;
            }
        };
        if data.len() > limit {
            closer.close(
                close::TOO_LARGE,
                format!("message of {} bytes is larger than {limit} bytes", data.len()),
            );
            return Next::Stop;
        }
        let messages = match decode_frame(&data) {
            Ok(messages) => messages,
            Err(reason) => {
                closer.close(close::MALFORMED, reason);
                return Next::Stop;
            }
        };
        let messages = refuse_edits_while_paused(messages, &self.room, &self.outbox);
        if messages.is_empty() { Next::Continue } else { Next::Forward(messages) }
    }
}

/// Sends the close frame with the code and reason the closer holds.
async fn send_close(socket: &mut WebSocket, closer: &Closer) {
    let (code, reason) = closer.reason().unwrap_or((close::NORMAL, String::new()));
    let frame = CloseFrame { code, reason: Utf8Bytes::from(truncate(&reason, 120)) };
    // Bounded: a peer that stopped reading cannot take the close frame either.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = socket.send(WsMessage::Close(Some(frame))).await;
        let _ = socket.close().await;
    })
    .await;
}

/// Decodes every y-protocol message of a frame.
///
/// yrs's reader stops quietly when the buffer ends, also in the middle of a message, so the
/// decoded messages' sizes are checked against the frame: a truncated frame is malformed,
/// not an empty one.
fn decode_frame(data: &[u8]) -> Result<Vec<Message>, String> {
    if data.is_empty() {
        return Err("empty message".into());
    }
    let mut decoder = DecoderV1::new(Cursor::new(data));
    let mut messages = Vec::new();
    let mut decoded = 0;
    for message in MessageReader::new(&mut decoder) {
        let message = message.map_err(|e| format!("malformed message: {e}"))?;
        decoded += encoded_len(&message);
        messages.push(message);
    }
    if decoded != data.len() {
        return Err(format!("malformed message: frame of {} bytes ends inside a message", data.len()));
    }
    Ok(messages)
}

/// The encoded size of a message, computed without copying updates.
fn encoded_len(message: &Message) -> usize {
    let buf = |len: usize| var_len(len as u64) + len;
    match message {
        Message::Sync(SyncMessage::SyncStep2(data) | SyncMessage::Update(data)) => 2 + buf(data.len()),
        Message::Custom(tag, data) => var_len(u64::from(*tag)) + buf(data.len()),
        other => other.encode_v1().len(),
    }
}

/// Bytes of a lib0 variable-length unsigned integer.
fn var_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// While the database is unavailable the room takes no edits: the sender is told at once
/// (and will resend when the room asks after recovery) instead of waiting on a queue.
fn refuse_edits_while_paused(messages: Vec<Message>, room: &RoomHandle, outbox: &Outbox) -> Vec<Message> {
    if room.accepting() {
        return messages;
    }
    let (edits, rest): (Vec<_>, Vec<_>) = messages
        .into_iter()
        .partition(|m| matches!(m, Message::Sync(SyncMessage::SyncStep2(_) | SyncMessage::Update(_))));
    if !edits.is_empty() {
        METRICS.updates_rejected.fetch_add(edits.len() as u64, Ordering::Relaxed);
        let notice = Message::Auth(Some(
            "database unavailable: edit not saved; it will sync when the database returns".into(),
        ));
        outbox.send(Bytes::from(notice.encode_v1()));
    }
    rest
}

/// Close reasons must fit a control frame (125 bytes); cut on a character boundary.
fn truncate(reason: &str, max: usize) -> String {
    let mut end = reason.len().min(max);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_messages_in_one_frame_are_all_decoded() {
        let mut frame = Message::AwarenessQuery.encode_v1();
        frame.extend(Message::Sync(SyncMessage::Update(vec![0, 0])).encode_v1());
        let messages = decode_frame(&frame).expect("decodes");
        assert_eq!(messages.len(), 2);
        assert!(matches!(messages[1], Message::Sync(SyncMessage::Update(_))));
    }

    #[test]
    fn garbage_and_truncated_frames_are_reported_as_malformed() {
        assert!(decode_frame(&[0, 9, 1]).is_err());
        assert!(decode_frame(&[]).is_err());
        assert!(decode_frame(&[0, 2, 0x20, 1]).is_err(), "update claims 32 bytes, has 1");
        let mut two = Message::Sync(SyncMessage::Update(vec![0; 200])).encode_v1();
        two.extend(Message::AwarenessQuery.encode_v1());
        assert_eq!(decode_frame(&two).expect("whole frame").len(), 2);
        two.pop();
        two.pop();
        assert!(decode_frame(&two).is_err());
    }

    #[test]
    fn close_reasons_are_cut_on_character_boundaries() {
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
