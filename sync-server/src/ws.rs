//! The WebSocket endpoint `GET /ws/{notebook_id}`: the standard y-websocket protocol.
//!
//! Authentication and access are settled on the upgrade request (401/403/404 before any
//! WebSocket exists). After that each connection is two loops: the reader decodes frames
//! into y-protocol messages (several per frame) and hands them to the room; the writer
//! sends what the room queued, pings, and the close frame with its code and reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
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
    Ok(ws
        // tungstenite's 128 KiB default buffers per connection would make an idle room with
        // two clients cost over 256 KiB; small ones grow as big messages need.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(limit + SLACK)
        .max_frame_size(limit + SLACK)
        // Split here: the socket itself would stay in the connection's future for its life.
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            serve(sink, stream, state, id, peer)
        })
        .into_response())
}

type Sink = futures_util::stream::SplitSink<WebSocket, WsMessage>;
type Stream = futures_util::stream::SplitStream<WebSocket>;

/// Runs one connection until it closes.
///
/// Every idle connection keeps this future, so what happens only at its start and end
/// (joining, refusing, the last wait for the writer) is boxed and lives only meanwhile.
async fn serve(sink: Sink, stream: Stream, state: AppState, id: NotebookId, peer: Peer) {
    let _open = state.connections.token();
    let frames = Frames::new(state.config.outbound_queue);
    let closer = Closer::default();
    let outbox = Outbox { frames: frames.clone(), closer: closer.clone() };
    let conn_id = peer.conn_id;
    let room = match Box::pin(state.rooms.join(id, peer, outbox.clone())).await {
        Ok(room) => room,
        Err(e) => {
            let code = match e {
                JoinError::Unavailable(_) => close::INTERNAL,
                JoinError::Closing => close::GOING_AWAY,
            };
            closer.close(code, e.to_string());
            let missed_pongs = Arc::new(AtomicU32::new(0));
            Box::pin(write_loop(sink, frames, closer, missed_pongs, state.config.ping_interval())).await;
            return;
        }
    };
    METRICS.connections.fetch_add(1, Ordering::Relaxed);
    let missed_pongs = Arc::new(AtomicU32::new(0));
    let writer = write_loop(sink, frames, closer.clone(), missed_pongs.clone(), state.config.ping_interval());
    let reader = read_loop(stream, &room, conn_id, &outbox, missed_pongs, state.config.max_message_bytes);
    tokio::pin!(writer);
    tokio::pin!(reader);
    tokio::select! {
        _ = &mut writer => {}
        _ = &mut reader => {
            closer.close(close::NORMAL, "");
            let _ = Box::pin(tokio::time::timeout(Duration::from_secs(5), &mut writer)).await;
        }
    }
    Box::pin(room.send(RoomMsg::Leave { conn_id })).await;
    METRICS.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Reads frames until the client leaves or breaks the protocol.
async fn read_loop(
    mut stream: Stream,
    room: &RoomHandle,
    conn_id: u64,
    outbox: &Outbox,
    missed_pongs: Arc<AtomicU32>,
    limit: usize,
) {
    while let Some(frame) = stream.next().await {
        let data = match frame {
            Ok(WsMessage::Binary(data)) => data,
            Ok(WsMessage::Pong(_)) => {
                missed_pongs.store(0, Ordering::Relaxed);
                continue;
            }
            Ok(WsMessage::Ping(_)) => continue,
            Ok(WsMessage::Close(_)) => return,
            Ok(WsMessage::Text(_)) => {
                outbox.closer.close(close::MALFORMED, "text frames are not part of the y-websocket protocol");
                return;
            }
            Err(e) => {
                let text = e.to_string();
                if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                    outbox.closer.close(close::TOO_LARGE, format!("message larger than {limit} bytes"));
                } else {
                    tracing::debug!(conn = conn_id, error = %e, "websocket read error");
                }
                return;
            }
        };
        if data.len() > limit {
            outbox.closer.close(
                close::TOO_LARGE,
                format!("message of {} bytes is larger than {limit} bytes", data.len()),
            );
            return;
        }
        let messages = match decode_frame(&data) {
            Ok(messages) => messages,
            Err(reason) => {
                outbox.closer.close(close::MALFORMED, reason);
                return;
            }
        };
        let messages = refuse_edits_while_paused(messages, room, outbox);
        if !messages.is_empty() && !room.send(RoomMsg::Messages { conn_id, messages }).await {
            outbox.closer.close(close::GOING_AWAY, "room closed; reconnect");
            return;
        }
    }
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

/// Sends queued frames and pings until a close is requested, then sends the close frame.
async fn write_loop(
    mut sink: Sink,
    frames: Frames,
    closer: Closer,
    missed_pongs: Arc<AtomicU32>,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    loop {
        let outgoing = tokio::select! {
            biased;
            _ = closer.requested() => break,
            frame = frames.next() => WsMessage::Binary(frame),
            _ = ping.tick() => {
                if missed_pongs.fetch_add(1, Ordering::Relaxed) >= 2 {
                    closer.close(close::PING_TIMEOUT, "no pong received; connection presumed dead");
                    break;
                }
                WsMessage::Ping(Bytes::new())
            }
        };
        // A client that stopped reading can block this send forever; a close request
        // (e.g. 4429 from the room) abandons it and drops the connection.
        tokio::select! {
            result = sink.send(outgoing) => if result.is_err() { return },
            _ = closer.requested() => return,
        }
    }
    let (code, reason) = closer.reason().unwrap_or((close::NORMAL, String::new()));
    let frame = CloseFrame { code, reason: Utf8Bytes::from(truncate(&reason, 120)) };
    // Bounded: a peer that stopped reading cannot take the close frame either. Boxed, as
    // it happens once, at the end.
    let _ = Box::pin(tokio::time::timeout(Duration::from_secs(2), async {
        let _ = sink.send(WsMessage::Close(Some(frame))).await;
        let _ = sink.close().await;
    }))
    .await;
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
