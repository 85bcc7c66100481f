//! How a kernel is shown in the API.

use kernel_bridge::KernelState;

use super::{KernelOwner, KernelScope, ManagedKernel};
use crate::store::{NotebookId, ProjectId, Timestamp, UserId};

/// A running kernel.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct KernelView {
    /// Stable id (kept across restarts).
    pub id: String,
    /// The notebook whose cells it runs (`null` for a console's kernel).
    pub notebook_id: Option<NotebookId>,
    /// The console it serves (`null` for a notebook's kernel).
    pub console_id: Option<String>,
    pub project_id: ProjectId,
    /// The user whose kernel it is (thread mode), `null` for a notebook's shared kernel
    /// (pair mode).
    #[schema(value_type = Option<i64>)]
    pub owner: Option<UserId>,
    /// Who it counts against in the per-user limit.
    #[schema(value_type = i64)]
    pub charged_to: UserId,
    pub kernelspec: String,
    /// Process id of the kernel (changes on restart).
    pub pid: u32,
    /// `idle`, `busy`, `restarting`, `dead` or `shut_down`.
    pub state: String,
    /// Runs queued or running.
    pub runs: usize,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// When it last started or finished a run (idle kernels are shut down some time after).
    #[schema(value_type = String, format = DateTime)]
    pub last_activity: Timestamp,
}

impl KernelView {
    pub fn of(kernel: &ManagedKernel) -> KernelView {
        let state = match kernel.kernel.state() {
            KernelState::Idle => "idle",
            KernelState::Busy => "busy",
            KernelState::Restarting => "restarting",
            KernelState::Dead { .. } => "dead",
            KernelState::ShutDown => "shut_down",
        };
        KernelView {
            id: kernel.id.clone(),
            notebook_id: kernel.key.notebook(),
            console_id: match &kernel.key.scope {
                KernelScope::Console(id) => Some(id.clone()),
                KernelScope::Notebook(_) => None,
            },
            project_id: kernel.project,
            owner: match kernel.key.owner {
                KernelOwner::User(user) => Some(user),
                KernelOwner::Shared => None,
            },
            charged_to: kernel.charged_to,
            kernelspec: kernel.kernelspec.clone(),
            pid: kernel.kernel.pid(),
            state: state.into(),
            runs: kernel.outstanding(),
            started_at: kernel.started_at,
            last_activity: kernel.last_activity(),
        }
    }
}
