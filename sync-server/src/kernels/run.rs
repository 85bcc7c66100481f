//! Running a cell (SPEC §8): who may, which kernel, and queueing it.
//!
//! A run takes the cell's source as the document has it at the request, goes to the
//! cell author's kernel for the notebook in thread mode (whoever asked) or to the
//! notebook's shared kernel in pair mode, and is queued there behind earlier runs. The
//! request returns as soon as the run is queued and recorded; its outputs arrive in the
//! document.

use std::sync::Arc;

use chrono::Utc;
use doc_model::{CellId, CellKind, ExecutionState};
use kernel_bridge::ExecutionRequest;

use super::pump::{self, DocOp, PumpedRun};
use super::{KernelKey, KernelOwner, KernelScope, Kernels, KernelsError, ManagedKernel, QueuedRun};
use crate::access::Access;
use crate::rooms::EditError;
use crate::store::{
    ExecutionId, ExecutionRecord, NewExecution, NotebookId, NotebookMode, NotebookRow, StoreError, User,
    UserId,
};

/// A request to run one cell.
#[derive(Debug)]
pub struct RunRequest<'a> {
    pub notebook: &'a NotebookRow,
    pub cell_id: CellId,
    pub runner: &'a User,
    /// The runner's access to the notebook's project.
    pub access: Access,
}

/// Why a run (or a cancel) was refused.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Forbidden(String),
    #[error("cell {0} not found in this notebook")]
    NoSuchCell(String),
    #[error("cell {0} is not a code cell; only code cells run")]
    NotCode(String),
    #[error("{0}")]
    NothingQueued(String),
    #[error(transparent)]
    Kernels(#[from] KernelsError),
    #[error(transparent)]
    Room(#[from] EditError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The cell as a run needs it.
#[derive(Debug, Clone)]
struct CellToRun {
    kind: CellKind,
    source: String,
    author: Option<(UserId, String)>,
}

impl Kernels {
    /// Queues a run of a cell and returns its record (status `queued`).
    pub async fn run(self: &Arc<Self>, request: RunRequest<'_>) -> Result<ExecutionRecord, RunError> {
        let RunRequest { notebook, cell_id, runner, access } = request;
        if !access.can_edit() {
            return Err(RunError::Forbidden(
                "you may view this notebook but not run its cells; running needs edit access".into(),
            ));
        }
        let cell = self.read_cell(notebook.id, &cell_id).await?;
        if cell.kind != CellKind::Code {
            return Err(RunError::NotCode(cell_id.as_str().to_owned()));
        }
        let owner = match notebook.mode {
            NotebookMode::Pair => KernelOwner::Shared,
            NotebookMode::Thread => {
                let author = cell.author.as_ref().map_or(runner.id, |(id, _)| *id);
                if author != runner.id && !notebook.others_may_run {
                    let name = cell.author.as_ref().map_or("someone else", |(_, name)| name.as_str());
                    return Err(RunError::Forbidden(format!(
                        "cell {} belongs to {name}: in thread mode only its author may run it, unless the \
                         notebook allows other editors to run cells",
                        cell_id.as_str()
                    )));
                }
                KernelOwner::User(author)
            }
        };
        let charge_to = match owner {
            KernelOwner::User(user) => user,
            KernelOwner::Shared => runner.id,
        };
        let key = KernelKey { scope: KernelScope::Notebook(notebook.id), owner };
        let kernel = self.acquire(key, notebook.project_id, &notebook.kernelspec, charge_to).await?;
        if kernel.outstanding() >= self.config.max_queued {
            return Err(KernelsError::QueueFull { limit: self.config.max_queued }.into());
        }
        // The project's files as they are now, for the code to read.
        if let Err(e) = kernel.workdir.refresh(&self.store).await {
            tracing::warn!(kernel = %kernel.id, error = %e, "working directory not refreshed");
        }
        // Sent to the kernel first, so its records and the document are written while it
        // already runs.
        let execution = kernel
            .kernel
            .execute(ExecutionRequest::new(cell.source.clone()))
            .await
            .map_err(KernelsError::from)?;
        // The cell shows "queued" while the run waits behind others (not when it starts at
        // once: that would cost a commit before its first output) and unless an earlier run
        // of the same cell is still going.
        let waits = kernel.outstanding() > 0;
        kernel.outstanding.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let record_id = Arc::new(std::sync::OnceLock::new());
        kernel.queued.lock().expect("queue lock").push(QueuedRun {
            record: record_id.clone(),
            bridge: execution.id(),
            cell_id: cell_id.as_str().to_owned(),
            requested_by: runner.id,
        });
        let earlier = {
            let mut runs = self.cell_runs.entry((notebook.id, cell_id.as_str().to_owned())).or_insert(0);
            *runs += 1;
            *runs - 1
        };
        let first_ops =
            if earlier == 0 && waits { vec![DocOp::State(ExecutionState::Queued)] } else { Vec::new() };
        // Outputs are written from now on; the record is written beside them.
        let (record_tx, record_rx) = tokio::sync::oneshot::channel();
        let bridge_id = execution.id();
        // Files the run writes are stored as the kernel's user (whoever asked, for a
        // shared kernel).
        let writer = match owner {
            KernelOwner::User(user) => user,
            KernelOwner::Shared => runner.id,
        };
        let run = PumpedRun {
            notebook: notebook.id,
            cell: cell_id.clone(),
            record: record_rx,
            kernel: kernel.clone(),
            writer,
            runner: runner.id,
            execution,
        };
        self.pumps.spawn(pump::pump(self.clone(), run, first_ops));
        let new = NewExecution {
            notebook_id: notebook.id,
            cell_id: cell_id.as_str().to_owned(),
            user_id: runner.id,
            kernel_id: kernel.id.clone(),
            kernelspec: kernel.kernelspec.clone(),
            source: cell.source,
            queued_at: Utc::now(),
        };
        let record = match self.store.create_execution(&new).await {
            Ok(record) => record,
            Err(e) => {
                // A run nobody can find later must not run: take it back if it has not
                // started (it then ends aborted, and no record is written).
                let _ = kernel.kernel.cancel(bridge_id).await;
                return Err(e.into());
            }
        };
        let _ = record_id.set(record.id);
        let _ = record_tx.send(record.id);
        tracing::info!(notebook = %notebook.id, cell = cell_id.as_str(), execution = %record.id, kernel = %kernel.id, user = %runner.name, "run queued");
        Ok(record)
    }

    /// Cancels the queued (not yet started) runs of a cell and returns their records' ids.
    /// Allowed to whoever asked for the run, the kernel's owner, the project's owner, and
    /// any editor in pair mode.
    pub async fn cancel(
        &self,
        notebook: &NotebookRow,
        cell_id: &CellId,
        caller: &User,
        access: Access,
    ) -> Result<Vec<ExecutionId>, RunError> {
        if !access.can_edit() {
            return Err(RunError::Forbidden("you may view this notebook but not cancel its runs".into()));
        }
        let mut cancelled = Vec::new();
        let mut refused = false;
        for kernel in self.all().into_iter().filter(|k| k.key.notebook() == Some(notebook.id)) {
            let mine = match kernel.key.owner {
                KernelOwner::Shared => true,
                KernelOwner::User(owner) => owner == caller.id,
            };
            let runs: Vec<QueuedRun> = kernel
                .queued
                .lock()
                .expect("queue lock")
                .iter()
                .filter(|r| r.cell_id == cell_id.as_str())
                .cloned()
                .collect();
            for run in runs {
                if !(mine || run.requested_by == caller.id || access == Access::Own) {
                    refused = true;
                    continue;
                }
                // A run that started meanwhile is not cancelled (NotQueued).
                if kernel.kernel.cancel(run.bridge).await.is_ok()
                    && let Some(record) = run.record.get()
                {
                    cancelled.push(*record);
                }
            }
        }
        if cancelled.is_empty() {
            if refused {
                return Err(RunError::Forbidden(
                    "the queued runs of this cell are someone else's; only who asked for them, the kernel's owner \
                     or the project's owner may cancel them"
                        .into(),
                ));
            }
            let running =
                self.cell_runs.get(&(notebook.id, cell_id.as_str().to_owned())).is_some_and(|n| *n > 0);
            return Err(RunError::NothingQueued(if running {
                format!(
                    "the run of cell {} has already started; interrupt its kernel to stop it",
                    cell_id.as_str()
                )
            } else {
                format!("cell {} has no queued runs", cell_id.as_str())
            }));
        }
        Ok(cancelled)
    }

    /// The cell's kind, source and author as the document has them now.
    async fn read_cell(&self, notebook: NotebookId, id: &CellId) -> Result<CellToRun, RunError> {
        let wanted = id.clone();
        let found = self
            .rooms
            .edit(notebook, "read a cell to run", move |editor| {
                let cell = editor.cell(&wanted).ok()?;
                let author = editor.provenance(&wanted).map(|p| (p.author, p.author_name));
                Some(CellToRun { kind: cell.kind, source: cell.source, author })
            })
            .await?;
        found.ok_or_else(|| RunError::NoSuchCell(id.as_str().to_owned()))
    }

    /// A run started: it can no longer be cancelled.
    pub(super) fn run_started(&self, kernel: &ManagedKernel, run: kernel_bridge::ExecutionId) {
        kernel.queued.lock().expect("queue lock").retain(|r| r.bridge != run);
        kernel.touch();
    }

    /// A run ended: returns how many runs of the same cell are still queued or running.
    pub(super) fn run_ended(
        &self,
        notebook: NotebookId,
        cell: &str,
        kernel: &ManagedKernel,
        run: kernel_bridge::ExecutionId,
    ) -> usize {
        kernel.queued.lock().expect("queue lock").retain(|r| r.bridge != run);
        let _ = kernel.outstanding.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        );
        kernel.touch();
        let key = (notebook, cell.to_owned());
        let left = match self.cell_runs.get_mut(&key) {
            Some(mut runs) => {
                *runs = runs.saturating_sub(1);
                *runs
            }
            None => 0,
        };
        if left == 0 {
            self.cell_runs.remove_if(&key, |_, n| *n == 0);
        }
        left
    }
}
