//! Talkbook's bridge to Jupyter kernels. It knows nothing about HTTP or documents: a server
//! finds a kernelspec, starts a [`Kernel`], queues [`ExecutionRequest`]s on it and writes
//! each [`ExecutionEvent`] of an [`Execution`] into its notebook as it arrives.
//!
//! - [`kernelspec`]: discovery as Jupyter does it ([`JupyterPaths`], [`KernelSpec`]).
//! - [`process`]: launching a kernel process (connection file, ports, HMAC key) that dies
//!   with its parent.
//! - [`Kernel`]: a handle to the kernel's actor, a tokio task with a bounded inbox that owns
//!   the process, its ZeroMQ channels (Jupyter messaging 5.x through runtimed's
//!   `jupyter-protocol` and `jupyter-zmq-client`) and a FIFO queue of executions run one at a
//!   time; it does the `kernel_info` handshake, watches the heartbeat and the process, and
//!   interrupts, restarts and shuts down.
//! - [`events`]: the typed events of an execution (stream, display data, results, errors,
//!   clear output, status…) and of a kernel (death, restart).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kernel_bridge::{ExecutionEvent, ExecutionRequest, JupyterPaths, Kernel, KernelOptions};
//!
//! let spec = JupyterPaths::from_env().find("python3")?;
//! let kernel = Kernel::start(spec, KernelOptions::new("/srv/project")).await?;
//! let mut run = kernel.execute(ExecutionRequest::new("1 + 1")).await?;
//! while let Some(event) = run.next_event().await {
//!     if let ExecutionEvent::Output(output) = event {
//!         let _nbformat_json = output.to_nbformat();
//!     }
//! }
//! kernel.shutdown().await?;
//! # Ok(()) }
//! ```

mod actor;
mod error;
pub mod events;
mod heartbeat;
mod kernel;
pub mod kernelspec;
pub mod process;
mod session;
mod wire;

pub use error::{DiscoveryError, KernelError};
pub use events::{
    EndCause, ExecutionEnd, ExecutionEvent, ExecutionId, ExecutionStatus, KernelStatus, Output, StreamName,
};
pub use heartbeat::HeartbeatOptions;
pub use kernel::{
    DeathCause, Execution, ExecutionRequest, Kernel, KernelEvent, KernelInfo, KernelOptions, KernelState,
};
pub use kernelspec::{InterruptMode, JupyterPaths, KernelSpec};
