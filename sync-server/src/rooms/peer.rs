//! The room's view of one WebSocket connection: who it is and how to reach it.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::access::Access;
use crate::store::User;

/// WebSocket close codes of SPEC §5.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const INTERNAL: u16 = 1011;
    pub const MALFORMED: u16 = 4400;
    pub const AUTH_EXPIRED: u16 = 4401;
    pub const PERMISSION_REVOKED: u16 = 4403;
    pub const NOTEBOOK_DELETED: u16 = 4404;
    /// No pong arrived for two ping intervals.
    pub const PING_TIMEOUT: u16 = 4408;
    pub const TOO_LARGE: u16 = 4413;
    pub const TOO_SLOW: u16 = 4429;
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Unique per connection within this process.
    pub conn_id: u64,
    /// `None` for an anonymous reader of a public project.
    pub user: Option<User>,
    /// What this connection may do; changed by the room when rights change.
    pub access: Access,
}

impl Peer {
    pub fn can_edit(&self) -> bool {
        self.access.can_edit() && self.user.is_some()
    }
}

/// Asks a connection to close with a code and reason; the first request wins.
#[derive(Debug, Clone, Default)]
pub struct Closer {
    token: CancellationToken,
    reason: Arc<OnceLock<(u16, String)>>,
}

impl Closer {
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        let _ = self.reason.set((code, reason.into()));
        self.token.cancel();
    }

    /// Resolves once a close was requested.
    pub async fn requested(&self) {
        self.token.cancelled().await;
    }

    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The code and reason of the close, once requested.
    pub fn reason(&self) -> Option<(u16, String)> {
        self.reason.get().cloned()
    }
}

/// The sending side of a connection, held by its room.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub frames: mpsc::Sender<Bytes>,
    pub closer: Closer,
}

impl Outbox {
    /// Queues a frame; a connection whose queue is full is too slow to keep up and is
    /// closed (it resyncs when it reconnects) rather than silently skipped.
    pub fn send(&self, frame: Bytes) {
        if self.closer.is_requested() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.frames.try_send(frame) {
            tracing::warn!(
                queue = self.frames.max_capacity(),
                "closing a connection too slow to keep up (4429)"
            );
            self.closer
                .close(close::TOO_SLOW, "too slow to keep up: outbound queue full; reconnect to resync");
        }
    }
}
