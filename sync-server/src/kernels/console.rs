//! Consoles (SPEC §2, §9): interactive kernel sessions owned by one user, outside any
//! notebook. Code sent to a console runs in its own kernel (counted against the same
//! limits as notebook kernels) and its events stream to the owner as JSON messages.
//!
//! - Each user has one default console per project, attached to nothing; opening it again
//!   returns the same console.
//! - A console may be opened on a project file, which it then holds: the file is blocked
//!   (reason `console`) for everyone else until the console closes, and cannot be
//!   unblocked by hand meanwhile. Console blocks are released at start-up: consoles do not
//!   survive the server.
//! - A console closes when its owner closes it, when its kernel dies or is shut down (idle
//!   culling included), when a file console has had nobody listening for the grace period,
//!   and when the server stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use kernel_bridge::{ExecutionEvent, ExecutionRequest, KernelState};
use tokio::sync::broadcast;

use super::{KernelKey, KernelOwner, KernelScope, Kernels, KernelsError, ManagedKernel, uuid_like};
use crate::files::path::FilePath;
use crate::store::{BlockReason, FileBlock, FileKind, ProjectId, StoreError, Timestamp, UserId};

/// Messages kept for a listener that falls behind; past that it is told how many it
/// missed.
const BACKLOG: usize = 1024;

/// An open console.
#[derive(Debug)]
pub struct Console {
    pub id: String,
    pub project: ProjectId,
    pub owner: UserId,
    pub kernelspec: String,
    /// The project file it holds; `None` for the owner's default console.
    pub path: Option<FilePath>,
    pub created_at: Timestamp,
    pub kernel: Arc<ManagedKernel>,
    events: broadcast::Sender<ConsoleMessage>,
    closed: AtomicBool,
    /// Cancelled once the console is closed, so event streams end.
    gone: tokio_util::sync::CancellationToken,
}

/// One event of one input run in a console, as its listeners receive it: the execution's
/// number in this console plus the event (`started`, `output` with the nbformat output,
/// `update_display_data`, `clear_output`, `finished` with status and execution count…).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConsoleMessage {
    pub execution: u64,
    #[serde(flatten)]
    pub event: ExecutionEvent,
}

impl Console {
    /// Receives every message from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ConsoleMessage> {
        self.events.subscribe()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Resolves once the console is closed (its kernel shut down, its file free).
    pub async fn closed(&self) {
        self.gone.cancelled().await;
    }
}

/// Why a console could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("{path} is held by another console (of user {holder}); it is free when that console closes")]
    Held { path: FilePath, holder: UserId },
    /// Someone else blocks the file (by hand or with their console).
    #[error("{path} is blocked by user {}", block.holder)]
    Blocked { path: FilePath, block: FileBlock },
    #[error("`{0}` is not a file of this project")]
    NoSuchFile(FilePath),
    #[error("this console holds no file; open a console on a file to run it")]
    NoFile,
    #[error("console {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kernels(#[from] KernelsError),
}

impl Kernels {
    /// Opens a console for `owner` in `project`: the default one (no `path`; the existing
    /// default console is returned if there is one) or one holding the file `path`
    /// (returned if the owner already holds it with a console).
    pub async fn open_console(
        self: &Arc<Self>,
        project: ProjectId,
        owner: UserId,
        kernelspec: &str,
        path: Option<FilePath>,
    ) -> Result<(Arc<Console>, bool), ConsoleError> {
        let existing = self
            .consoles
            .iter()
            .find(|c| {
                c.project == project
                    && c.path == path
                    && (path.is_some() || c.owner == owner)
                    && !c.is_closed()
            })
            .map(|c| c.value().clone());
        if let Some(console) = existing {
            return match &console.path {
                Some(held) if console.owner != owner => {
                    Err(ConsoleError::Held { path: held.clone(), holder: console.owner })
                }
                _ => Ok((console, false)),
            };
        }
        if let Some(path) = &path {
            self.hold(project, path, owner).await?;
        }
        let id = uuid_like();
        let key = KernelKey { scope: KernelScope::Console(id.clone()), owner: KernelOwner::User(owner) };
        let kernel = match self.acquire(key, project, kernelspec, owner).await {
            Ok(kernel) => kernel,
            Err(e) => {
                if let Some(path) = &path {
                    self.let_go(project, path, owner).await;
                }
                return Err(e.into());
            }
        };
        let (events, _) = broadcast::channel(BACKLOG);
        let console = Arc::new(Console {
            id: id.clone(),
            project,
            owner,
            kernelspec: kernelspec.to_owned(),
            path,
            created_at: Utc::now(),
            kernel,
            events,
            closed: AtomicBool::new(false),
            gone: tokio_util::sync::CancellationToken::new(),
        });
        self.consoles.insert(id, console.clone());
        tracing::info!(console = %console.id, project = %project, owner = %owner, path = ?console.path, "console opened");
        self.pumps.spawn(watch(Arc::downgrade(self), console.clone(), self.config.console_grace));
        Ok((console, true))
    }

    /// Blocks the file for the console's owner (reason `console`), unless someone else
    /// holds it.
    async fn hold(&self, project: ProjectId, path: &FilePath, owner: UserId) -> Result<(), ConsoleError> {
        let entry = self.store.file_entry(project, path).await?;
        if !entry.is_some_and(|e| e.kind == FileKind::File) {
            return Err(ConsoleError::NoSuchFile(path.clone()));
        }
        let after = self.store.block_file(project, path, owner, BlockReason::Console, Utc::now()).await?;
        match after.block {
            Some(block) if block.holder != owner => Err(ConsoleError::Blocked { path: path.clone(), block }),
            _ => Ok(()),
        }
    }

    /// Lifts the console block of the owner on the file.
    async fn let_go(&self, project: ProjectId, path: &FilePath, owner: UserId) {
        if let Err(e) = self.store.unblock_file(project, path, owner, BlockReason::Console).await {
            tracing::warn!(project = %project, path = %path, error = %e, "cannot release a console's file block");
        }
    }

    /// Runs the file the console holds (its current content, from the project).
    pub async fn console_run_file(&self, console: &Arc<Console>) -> Result<u64, ConsoleError> {
        let path = console.path.as_ref().ok_or(ConsoleError::NoFile)?;
        let (_, content) = self
            .store
            .file_content(console.project, path)
            .await?
            .ok_or_else(|| ConsoleError::NoSuchFile(path.clone()))?;
        let code = String::from_utf8_lossy(&content).into_owned();
        self.console_execute(console, code).await
    }

    /// A console by id.
    pub fn console(&self, id: &str) -> Option<Arc<Console>> {
        self.consoles.get(id).map(|c| c.value().clone())
    }

    /// The open consoles of a user.
    pub fn consoles_of(&self, owner: UserId) -> Vec<Arc<Console>> {
        let mut mine: Vec<_> =
            self.consoles.iter().filter(|c| c.owner == owner).map(|c| c.value().clone()).collect();
        mine.sort_by_key(|c| c.created_at);
        mine
    }

    /// Queues `code` on the console's kernel; returns the run's number, which its messages
    /// carry.
    pub async fn console_execute(&self, console: &Arc<Console>, code: String) -> Result<u64, ConsoleError> {
        if console.is_closed() {
            return Err(ConsoleError::NotFound(console.id.clone()));
        }
        if let Err(e) = console.kernel.workdir.refresh(&self.store).await {
            tracing::warn!(console = %console.id, error = %e, "working directory not refreshed");
        }
        let mut execution =
            console.kernel.kernel.execute(ExecutionRequest::new(code)).await.map_err(KernelsError::from)?;
        let number = execution.id().0;
        console.kernel.outstanding.fetch_add(1, Ordering::SeqCst);
        let console = console.clone();
        let store = self.store.clone();
        let max_file_bytes = self.config.max_file_bytes;
        self.pumps.spawn(async move {
            console.kernel.touch();
            while let Some(event) = execution.next_event().await {
                if let ExecutionEvent::Finished(_) = &event {
                    // Files the run wrote go into the project; what could not be stored is
                    // said before the run's end.
                    for note in
                        console.kernel.workdir.collect(&store, console.owner, max_file_bytes).await.notes
                    {
                        let text = format!("[talkbook] {note}\n");
                        let output =
                            kernel_bridge::Output::Stream { name: kernel_bridge::StreamName::Stderr, text };
                        let _ = console.events.send(ConsoleMessage {
                            execution: number,
                            event: ExecutionEvent::Output(output),
                        });
                    }
                }
                // Nobody listening is fine: the run goes on.
                let _ = console.events.send(ConsoleMessage { execution: number, event });
            }
            let _ = console
                .kernel
                .outstanding
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            console.kernel.touch();
        });
        Ok(number)
    }

    /// Closes a console: its kernel is shut down and the file it held is free.
    pub async fn close_console(&self, console: &Arc<Console>, why: &str) {
        if console.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if !matches!(console.kernel.kernel.state(), KernelState::ShutDown) {
            let _ = self.shut_down(&console.kernel).await;
        } else {
            self.forget(&console.kernel);
        }
        if let Some(path) = &console.path {
            self.let_go(console.project, path, console.owner).await;
        }
        // Gone from the list only now: a console that is listed still holds its file.
        self.consoles.remove(&console.id);
        console.gone.cancel();
        tracing::info!(console = %console.id, path = ?console.path, why, "console closed");
    }
}

/// Closes the console when its kernel dies or is shut down, or when a file console has
/// had no listener for `grace`; ends when the console is closed.
async fn watch(kernels: std::sync::Weak<Kernels>, console: Arc<Console>, grace: Duration) {
    let mut states = console.kernel.kernel.watch_state();
    let check = (grace / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
    let mut unheard_since = tokio::time::Instant::now();
    loop {
        if console.is_closed() {
            return;
        }
        let why = match &*states.borrow_and_update() {
            KernelState::Dead { .. } => Some("its kernel died"),
            KernelState::ShutDown => Some("its kernel was shut down"),
            _ => None,
        };
        if console.events.receiver_count() > 0 {
            unheard_since = tokio::time::Instant::now();
        }
        let why = why.or_else(|| {
            (console.path.is_some() && unheard_since.elapsed() >= grace)
                .then_some("its owner left (nobody listened)")
        });
        if let Some(why) = why {
            if let Some(kernels) = kernels.upgrade() {
                kernels.close_console(&console, why).await;
            }
            return;
        }
        tokio::select! {
            changed = states.changed() => if changed.is_err() {
                // The kernel's actor is gone: so is the kernel.
                if let Some(kernels) = kernels.upgrade() {
                    kernels.close_console(&console, "its kernel stopped").await;
                }
                return;
            },
            _ = tokio::time::sleep(check) => {}
        }
    }
}
