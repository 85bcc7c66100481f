//! The server's kernels (SPEC §8): which kernel runs a cell, starting it on first use,
//! limits, idle culling and shutdown. The Jupyter side is the `kernel-bridge` crate; this
//! module decides *whose* kernel a run goes to and keeps the books.
//!
//! - A kernel belongs to a notebook and an owner ([`KernelOwner`]): in thread mode each
//!   cell author has their own kernel for the notebook; in pair mode the notebook has one
//!   shared kernel. A kernel is started on the first run that needs it, with the notebook's
//!   kernelspec, in the project's working directory.
//! - Limits: kernels per user (the owner, or whoever started a shared kernel, is charged)
//!   and per server; reaching one is a clear error, never a queue.
//! - [`run`] turns a run request into a queued execution and pumps its events into the
//!   document ([`pump`]); [`Kernels`] keeps what is queued so runs can be cancelled.
//! - Kernels idle longer than the timeout are shut down; all are shut down (and their
//!   last outputs written) when the server stops. Kernel processes die with the server
//!   even when it crashes (parent-death signal, see `kernel_bridge::process`).

pub mod console;
mod pump;
pub mod run;
pub mod view;
pub mod workdir;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use dashmap::DashMap;
use kernel_bridge::{DiscoveryError, JupyterPaths, Kernel, KernelError, KernelOptions, KernelState};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::rooms::Rooms;
use crate::store::{DynStore, NotebookId, ProjectId, Timestamp, UserId};

pub use run::{RunError, RunRequest};

/// Settings of the kernel side of the server.
#[derive(Debug, Clone)]
pub struct KernelConfig {
    /// Kernels one user may have running at once.
    pub per_user: usize,
    /// Kernels the whole server may have running at once.
    pub per_server: usize,
    /// Shut down kernels idle this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Output bytes one run may leave in its cell; the rest is dropped with a note.
    pub max_output_bytes: usize,
    /// Runs one kernel may have queued or running.
    pub max_queued: usize,
    /// Kernels run in `<work_root>/<project id>`.
    pub work_root: PathBuf,
    /// A console holding a file closes after nobody has listened to it this long.
    pub console_grace: Duration,
    /// Largest file a kernel's run may store back into the project.
    pub max_file_bytes: u64,
}

/// Whose kernel it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelOwner {
    /// Thread mode: one author's kernel for the notebook.
    User(UserId),
    /// Pair mode: the notebook's one shared kernel.
    Shared,
}

/// What a kernel serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KernelScope {
    /// A notebook's cells.
    Notebook(NotebookId),
    /// A console (by id).
    Console(String),
}

/// Which kernel: what it serves and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelKey {
    pub scope: KernelScope,
    pub owner: KernelOwner,
}

impl KernelKey {
    /// The notebook it runs cells of, if it is a notebook's kernel.
    pub fn notebook(&self) -> Option<NotebookId> {
        match self.scope {
            KernelScope::Notebook(id) => Some(id),
            KernelScope::Console(_) => None,
        }
    }
}

/// A run waiting in a kernel's queue, kept so it can be cancelled.
#[derive(Debug, Clone)]
struct QueuedRun {
    /// Set once the record is written (just after the run is queued).
    record: Arc<std::sync::OnceLock<crate::store::ExecutionId>>,
    bridge: kernel_bridge::ExecutionId,
    cell_id: String,
    requested_by: UserId,
}

/// A kernel the server runs, with its books.
#[derive(Debug)]
pub struct ManagedKernel {
    /// Stable id in the API (kept across restarts).
    pub id: String,
    pub key: KernelKey,
    pub project: ProjectId,
    /// Who is charged for it: the owner, or whoever started a shared kernel.
    pub charged_to: UserId,
    pub kernelspec: String,
    pub started_at: Timestamp,
    pub kernel: Kernel,
    /// Its copy of the project's files.
    pub workdir: workdir::WorkDir,
    /// Runs queued or running.
    outstanding: AtomicUsize,
    queued: Mutex<Vec<QueuedRun>>,
    last_activity: Mutex<(Instant, Timestamp)>,
}

impl ManagedKernel {
    fn touch(&self) {
        *self.last_activity.lock().expect("activity lock") = (Instant::now(), Utc::now());
    }

    /// When it last started or finished a run.
    pub fn last_activity(&self) -> Timestamp {
        self.last_activity.lock().expect("activity lock").1
    }

    /// Runs queued or running on it.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::SeqCst)
    }

    fn idle_for(&self) -> Duration {
        self.last_activity.lock().expect("activity lock").0.elapsed()
    }
}

/// Why a kernel could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KernelsError {
    #[error(
        "you already have {limit} kernels running, the most one user may have; shut one down or wait until an idle one is stopped"
    )]
    UserLimit { limit: usize },
    #[error("the server runs {limit} kernels, the most it allows; try again later")]
    ServerLimit { limit: usize },
    #[error("the kernelspec `{name}` is not installed on this server")]
    NoSuchKernelspec { name: String },
    #[error("the kernel could not be started: {0}")]
    StartFailed(String),
    #[error("kernel {0} not found")]
    NotFound(String),
    #[error("the kernel has {limit} runs queued, the most it takes; wait or cancel some")]
    QueueFull { limit: usize },
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Kernel(#[from] KernelError),
}

/// How many kernels each user and the server hold (reserved before a start, so two
/// concurrent starts cannot both pass a limit).
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_user: HashMap<UserId, usize>,
}

/// The server's kernels.
#[derive(Debug)]
pub struct Kernels {
    /// One slot per key; its lock is held while a kernel is started, so concurrent first
    /// runs start one kernel.
    slots: DashMap<KernelKey, Arc<tokio::sync::Mutex<Option<Arc<ManagedKernel>>>>>,
    by_id: DashMap<String, Arc<ManagedKernel>>,
    counts: Mutex<Counts>,
    /// Runs queued or running per cell, so a cell shows idle only when none is left.
    cell_runs: DashMap<(NotebookId, String), usize>,
    consoles: DashMap<String, Arc<console::Console>>,
    config: KernelConfig,
    paths: JupyterPaths,
    store: DynStore,
    rooms: Arc<Rooms>,
    /// The tasks writing executions' events into documents.
    pumps: TaskTracker,
    stop: CancellationToken,
}

impl Kernels {
    /// A kernel manager finding kernelspecs as Jupyter does from this process's
    /// environment, and its idle culler.
    pub fn new(config: KernelConfig, store: DynStore, rooms: Arc<Rooms>) -> Arc<Kernels> {
        // Working directories of kernels a stopped or crashed server ran: nothing uses them.
        if config.work_root.exists()
            && let Err(e) = std::fs::remove_dir_all(&config.work_root)
        {
            tracing::warn!(dir = %config.work_root.display(), error = %e, "cannot remove old working directories");
        }
        let kernels = Arc::new(Kernels {
            slots: DashMap::new(),
            by_id: DashMap::new(),
            counts: Mutex::new(Counts::default()),
            cell_runs: DashMap::new(),
            consoles: DashMap::new(),
            config,
            paths: JupyterPaths::from_env(),
            store,
            rooms,
            pumps: TaskTracker::new(),
            stop: CancellationToken::new(),
        });
        let probe = Arc::downgrade(&kernels);
        kernels.rooms.set_run_probe(Arc::new(move |notebook| {
            probe.upgrade().map(|k| k.live_cells(notebook)).unwrap_or_default()
        }));
        if let Some(timeout) = kernels.config.idle_timeout {
            tokio::spawn(cull_idle(Arc::downgrade(&kernels), timeout, kernels.stop.clone()));
        }
        kernels
    }

    /// Cells of a notebook with runs queued or running.
    pub fn live_cells(&self, notebook: NotebookId) -> std::collections::HashSet<String> {
        self.cell_runs
            .iter()
            .filter(|e| e.key().0 == notebook && *e.value() > 0)
            .map(|e| e.key().1.clone())
            .collect()
    }

    /// Where kernelspecs are looked up.
    pub fn paths(&self) -> &JupyterPaths {
        &self.paths
    }

    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// Every kernel the server runs.
    pub fn all(&self) -> Vec<Arc<ManagedKernel>> {
        let mut all: Vec<_> = self.by_id.iter().map(|k| k.value().clone()).collect();
        all.sort_by_key(|k| k.started_at);
        all
    }

    /// A kernel by its API id.
    pub fn get(&self, id: &str) -> Option<Arc<ManagedKernel>> {
        self.by_id.get(id).map(|k| k.value().clone())
    }

    /// The kernel for `key`, started (and charged to `charge_to`) if there is none; a dead
    /// kernel is restarted, so the next run after a crash gets a fresh process.
    async fn acquire(
        &self,
        key: KernelKey,
        project: ProjectId,
        kernelspec: &str,
        charge_to: UserId,
    ) -> Result<Arc<ManagedKernel>, KernelsError> {
        if self.stop.is_cancelled() {
            return Err(KernelsError::ShuttingDown);
        }
        let slot = self.slots.entry(key.clone()).or_default().clone();
        let mut held = slot.lock().await;
        if let Some(managed) = held.as_ref() {
            match managed.kernel.state() {
                KernelState::ShutDown => {
                    self.forget(managed);
                    *held = None;
                }
                KernelState::Dead { cause } => {
                    tracing::info!(kernel = %managed.id, %cause, "starting a fresh process for a dead kernel");
                    managed.kernel.restart().await?;
                    managed.touch();
                    return Ok(managed.clone());
                }
                _ => return Ok(managed.clone()),
            }
        }
        self.reserve(charge_to)?;
        match self.start(key, project, kernelspec, charge_to).await {
            Ok(managed) => {
                self.by_id.insert(managed.id.clone(), managed.clone());
                *held = Some(managed.clone());
                crate::metrics::METRICS.kernels.fetch_add(1, Ordering::Relaxed);
                Ok(managed)
            }
            Err(e) => {
                self.release(charge_to);
                Err(e)
            }
        }
    }

    async fn start(
        &self,
        key: KernelKey,
        project: ProjectId,
        kernelspec: &str,
        charge_to: UserId,
    ) -> Result<Arc<ManagedKernel>, KernelsError> {
        let spec = self.paths.find(kernelspec).map_err(|e| match e {
            DiscoveryError::NotFound { .. } => KernelsError::NoSuchKernelspec { name: kernelspec.to_owned() },
            other => KernelsError::StartFailed(other.to_string()),
        })?;
        let id = uuid_like();
        let dir = self.config.work_root.join(project.0.to_string()).join(&id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| KernelsError::StartFailed(format!("cannot create {}: {e}", dir.display())))?;
        let mut options = KernelOptions::new(&dir);
        match &key.scope {
            KernelScope::Notebook(id) => options.env.insert("TALKBOOK_NOTEBOOK_ID".into(), id.to_string()),
            KernelScope::Console(id) => options.env.insert("TALKBOOK_CONSOLE_ID".into(), id.clone()),
        };
        let kernel =
            Kernel::start(spec, options).await.map_err(|e| KernelsError::StartFailed(e.to_string()))?;
        tracing::info!(kernel = %id, scope = ?key.scope, owner = ?key.owner, pid = kernel.pid(), kernelspec, "kernel started");
        let now = Utc::now();
        Ok(Arc::new(ManagedKernel {
            id,
            key,
            project,
            charged_to: charge_to,
            kernelspec: kernelspec.to_owned(),
            started_at: now,
            kernel,
            workdir: workdir::WorkDir::new(dir, project),
            outstanding: AtomicUsize::new(0),
            queued: Mutex::new(Vec::new()),
            last_activity: Mutex::new((Instant::now(), now)),
        }))
    }

    fn reserve(&self, user: UserId) -> Result<(), KernelsError> {
        let mut counts = self.counts.lock().expect("counts lock");
        if counts.total >= self.config.per_server {
            return Err(KernelsError::ServerLimit { limit: self.config.per_server });
        }
        let mine = counts.per_user.entry(user).or_default();
        if *mine >= self.config.per_user {
            return Err(KernelsError::UserLimit { limit: self.config.per_user });
        }
        *mine += 1;
        counts.total += 1;
        Ok(())
    }

    fn release(&self, user: UserId) {
        let mut counts = self.counts.lock().expect("counts lock");
        counts.total = counts.total.saturating_sub(1);
        if let Some(mine) = counts.per_user.get_mut(&user) {
            *mine = mine.saturating_sub(1);
        }
    }

    /// Drops a kernel that is shut down from the books.
    fn forget(&self, managed: &ManagedKernel) {
        if self.by_id.remove(&managed.id).is_some() {
            self.release(managed.charged_to);
            crate::metrics::METRICS.kernels.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Interrupts the kernel's running execution.
    pub async fn interrupt(&self, managed: &ManagedKernel) -> Result<(), KernelsError> {
        Ok(managed.kernel.interrupt().await?)
    }

    /// Restarts the kernel: its runs end aborted, its state is gone.
    pub async fn restart(&self, managed: &ManagedKernel) -> Result<(), KernelsError> {
        managed.kernel.restart().await?;
        managed.touch();
        Ok(())
    }

    /// Shuts the kernel down and forgets it; its runs end aborted.
    pub async fn shut_down(&self, managed: &Arc<ManagedKernel>) -> Result<(), KernelsError> {
        let slot = self.slots.get(&managed.key).map(|s| s.clone());
        let result = managed.kernel.shutdown().await;
        if let Some(slot) = slot {
            let mut held = slot.lock().await;
            if held.as_ref().is_some_and(|k| Arc::ptr_eq(k, managed)) {
                *held = None;
            }
        }
        self.forget(managed);
        managed.workdir.remove().await;
        tracing::info!(kernel = %managed.id, "kernel shut down");
        Ok(result?)
    }

    /// Shuts every kernel down and waits until the last outputs and states of their runs
    /// are written into the documents. Call before the rooms stop.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let all = self.all();
        if !all.is_empty() {
            tracing::info!(kernels = all.len(), "shutting kernels down");
        }
        let stops = all.iter().map(|k| self.shut_down(k));
        for result in futures_util::future::join_all(stops).await {
            if let Err(e) = result {
                tracing::warn!(error = %e, "a kernel did not shut down cleanly");
            }
        }
        self.pumps.close();
        self.pumps.wait().await;
    }

    /// Shuts down kernels with nothing to do that have been idle longer than `timeout`.
    async fn cull(&self, timeout: Duration) {
        for managed in self.all() {
            let idle = managed.outstanding() == 0
                && !matches!(managed.kernel.state(), KernelState::Busy)
                && managed.idle_for() >= timeout;
            if idle {
                tracing::info!(kernel = %managed.id, idle_seconds = managed.idle_for().as_secs(), "shutting down an idle kernel");
                if let Err(e) = self.shut_down(&managed).await {
                    tracing::warn!(kernel = %managed.id, error = %e, "idle kernel did not shut down cleanly");
                }
            }
        }
    }
}

/// Checks for idle kernels every quarter of the timeout (at most every 30 s) until `stop`.
async fn cull_idle(kernels: std::sync::Weak<Kernels>, timeout: Duration, stop: CancellationToken) {
    let every = (timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        let Some(kernels) = kernels.upgrade() else { return };
        kernels.cull(timeout).await;
    }
}

/// A random 128-bit id in UUID text form (as Jupyter names kernels).
pub(crate) fn uuid_like() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
