//! The room's view of one WebSocket connection: who it is and how to reach it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;
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
    pub frames: Frames,
    pub closer: Closer,
}

impl Outbox {
    /// Queues a frame; a connection whose queue is full is too slow to keep up and is
    /// closed (it resyncs when it reconnects) rather than silently skipped.
    pub fn send(&self, frame: Bytes) {
        if self.closer.is_requested() {
            return;
        }
        if !self.frames.push(frame) {
            tracing::warn!(queue = self.frames.capacity(), "closing a connection too slow to keep up (4429)");
            self.closer
                .close(close::TOO_SLOW, "too slow to keep up: outbound queue full; reconnect to resync");
        }
    }
}

/// A connection's frames waiting to be sent: bounded, filled by the room without waiting,
/// emptied by the connection's writer.
///
/// Not a tokio mpsc channel: that allocates a cache-padded header and its first block of
/// 32 slots up front, about 1.5 KB that every idle connection would keep. This queue holds
/// no buffer while nothing waits, and gives back what a burst made it grow to.
#[derive(Clone)]
pub struct Frames(Arc<FramesInner>);

struct FramesInner {
    queue: Mutex<VecDeque<Bytes>>,
    ready: Notify,
    capacity: usize,
}

/// A drained queue keeps a buffer of up to this many frames; a bigger one is freed.
const FRAMES_KEPT: usize = 32;

impl Frames {
    /// A queue that holds at most `capacity` frames (at least one).
    pub fn new(capacity: usize) -> Self {
        Self(Arc::new(FramesInner {
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }))
    }

    pub fn capacity(&self) -> usize {
        self.0.capacity
    }

    /// Queues `frame`; false (and nothing queued) when `capacity` frames already wait.
    pub fn push(&self, frame: Bytes) -> bool {
        {
            let mut queue = self.lock();
            if queue.len() >= self.0.capacity {
                return false;
            }
            queue.push_back(frame);
        }
        self.0.ready.notify_one();
        true
    }

    /// The oldest frame, waiting until there is one. Cancel safe: a frame leaves the queue
    /// only when this returns it.
    pub async fn next(&self) -> Bytes {
        loop {
            if let Some(frame) = self.pop() {
                return frame;
            }
            // `notify_one` keeps a permit when nobody waits, so a push between the pop
            // above and this wait is not missed.
            self.0.ready.notified().await;
        }
    }

    fn pop(&self) -> Option<Bytes> {
        let mut queue = self.lock();
        let frame = queue.pop_front();
        if queue.is_empty() && queue.capacity() > FRAMES_KEPT {
            *queue = VecDeque::new();
        }
        frame
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Bytes>> {
        self.0.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Frames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frames")
            .field("waiting", &self.lock().len())
            .field("capacity", &self.0.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_come_out_in_order_and_a_full_queue_refuses_more() {
        let frames = Frames::new(2);
        assert!(frames.push(Bytes::from_static(b"a")));
        assert!(frames.push(Bytes::from_static(b"b")));
        assert!(!frames.push(Bytes::from_static(b"c")), "a third frame exceeds the capacity");
        assert_eq!(frames.next().await, "a");
        assert!(frames.push(Bytes::from_static(b"d")));
        assert_eq!(frames.next().await, "b");
        assert_eq!(frames.next().await, "d");
    }

    #[tokio::test]
    async fn a_waiting_writer_gets_the_next_frame() {
        let frames = Frames::new(8);
        let writer = tokio::spawn({
            let frames = frames.clone();
            async move { frames.next().await }
        });
        tokio::task::yield_now().await;
        assert!(frames.push(Bytes::from_static(b"late")));
        assert_eq!(writer.await.expect("writer"), "late");
    }

    #[tokio::test]
    async fn a_cancelled_wait_takes_nothing() {
        let frames = Frames::new(8);
        // Waits that are given up (as `select!` does when another branch wins) lose no frame.
        for _ in 0..3 {
            let waited = tokio::time::timeout(std::time::Duration::from_millis(1), frames.next()).await;
            assert!(waited.is_err());
        }
        assert!(frames.push(Bytes::from_static(b"kept")));
        assert_eq!(frames.next().await, "kept");
    }

    #[test]
    fn a_drained_queue_gives_back_what_a_burst_took() {
        let frames = Frames::new(4096);
        for _ in 0..1000 {
            assert!(frames.push(Bytes::from_static(b"x")));
        }
        assert!(frames.lock().capacity() >= 1000);
        while frames.pop().is_some() {}
        assert!(frames.lock().capacity() <= FRAMES_KEPT, "{}", frames.lock().capacity());
    }
}
