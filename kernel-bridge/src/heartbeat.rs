//! Heartbeat monitoring: a kernel whose process is alive but no longer answers (hung in C
//! code, stopped, swapped to death) is found by pinging its heartbeat socket, which Jupyter
//! kernels answer from a separate thread even while they execute code.

use std::time::Duration;

use jupyter_protocol::ConnectionInfo;
use tokio::sync::oneshot;

/// How often to ping, how long to wait for each pong, and how many consecutive misses mean
/// the kernel is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatOptions {
    /// Pause between pings.
    pub interval: Duration,
    /// How long one ping may wait for its pong.
    pub timeout: Duration,
    /// Consecutive missed pongs after which the kernel is declared dead.
    pub max_missed: u32,
}

impl Default for HeartbeatOptions {
    /// One ping a second, three seconds per pong, five misses: a hung kernel is detected in
    /// about 20 s, and a kernel slowed down by a busy machine is not declared dead.
    fn default() -> Self {
        HeartbeatOptions { interval: Duration::from_secs(1), timeout: Duration::from_secs(3), max_missed: 5 }
    }
}

/// Pings until `max_missed` pongs in a row are missing, then reports the count and stops.
/// After a miss the REQ socket is replaced: a ZeroMQ REQ socket whose reply never came
/// cannot send again (jupyter_client's heartbeat channel does the same).
pub(crate) async fn monitor(info: ConnectionInfo, options: HeartbeatOptions, dead: oneshot::Sender<u32>) {
    let mut socket = None;
    let mut missed = 0;
    loop {
        tokio::time::sleep(options.interval).await;
        let beat = tokio::time::timeout(options.timeout, async {
            if socket.is_none() {
                socket = Some(jupyter_zmq_client::create_client_heartbeat_connection(&info).await?);
            }
            match socket.as_mut() {
                Some(socket) => socket.single_heartbeat().await,
                None => Ok(()),
            }
        })
        .await;
        match beat {
            Ok(Ok(())) => missed = 0,
            outcome => {
                socket = None;
                missed += 1;
                tracing::debug!(missed, failed = outcome.is_ok(), "kernel heartbeat missed");
                if missed >= options.max_missed {
                    let _ = dead.send(missed);
                    return;
                }
            }
        }
    }
}
