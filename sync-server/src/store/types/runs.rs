//! Records of kernel runs (executions) and background jobs.

use super::*;

/// Where a run is: queued → running → ok | error | aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Waiting for the kernel, behind earlier runs.
    Queued,
    /// Sent to the kernel, which has not answered yet.
    Running,
    /// The kernel finished it without an error.
    Ok,
    /// The kernel reported an error (`ename: evalue` in the record's `error`).
    Error,
    /// It never finished: cancelled, the kernel died or was restarted, or the server
    /// stopped (the record's `error` says which).
    Aborted,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "queued",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Ok => "ok",
            ExecutionStatus::Error => "error",
            ExecutionStatus::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(ExecutionStatus::Queued),
            "running" => Some(ExecutionStatus::Running),
            "ok" => Some(ExecutionStatus::Ok),
            "error" => Some(ExecutionStatus::Error),
            "aborted" => Some(ExecutionStatus::Aborted),
            _ => None,
        }
    }

    /// Whether this is a final status: a finished record does not change any more.
    pub fn is_finished(self) -> bool {
        matches!(self, ExecutionStatus::Ok | ExecutionStatus::Error | ExecutionStatus::Aborted)
    }
}

/// A run to record when it is queued.
#[derive(Debug, Clone)]
pub struct NewExecution {
    pub notebook_id: NotebookId,
    /// The cell's id in the document.
    pub cell_id: String,
    /// Who asked for the run (in thread mode not necessarily the cell's author).
    pub user_id: UserId,
    /// Opaque id of the kernel process session that runs it.
    pub kernel_id: String,
    /// The kernel's kernelspec (e.g. `python3`).
    pub kernelspec: String,
    /// The source sent to the kernel, which the cell may no longer have.
    pub source: String,
    pub queued_at: Timestamp,
}

/// One stored run of one cell (SPEC §2). Times round-trip to the millisecond (SQLite keeps
/// no more).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ExecutionRecord {
    pub id: ExecutionId,
    pub notebook_id: NotebookId,
    /// The cell's id in the document.
    pub cell_id: String,
    /// Who asked for the run.
    #[schema(value_type = i64)]
    pub user_id: UserId,
    /// Opaque id of the kernel process session that ran it.
    pub kernel_id: String,
    pub kernelspec: String,
    /// The source as it was sent to the kernel.
    pub source: String,
    pub status: ExecutionStatus,
    /// The kernel's execution count; `None` until the kernel answers, and for runs it
    /// never answered.
    pub execution_count: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub queued_at: Timestamp,
    /// When the kernel started it; `None` while queued and for runs aborted in the queue.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    /// When it reached its final status; `None` while queued or running.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    /// For status `error` or `aborted`: a short sentence for people (`ename: evalue`, or
    /// why the run was aborted).
    pub error: Option<String>,
}

/// Which executions to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionFilter {
    /// Only runs this user asked for.
    pub user: Option<UserId>,
    /// Only runs of this cell.
    pub cell: Option<String>,
    /// At most this many (the caller clamps it, e.g. 1..=1000); zero or less lists none.
    pub limit: i64,
    /// Only ids below this one (paging backwards).
    pub before: Option<ExecutionId>,
}

/// Id of one background job.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a background job is: queued → running → finished | failed | terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be started.
    Queued,
    /// Its script is running.
    Running,
    /// The script exited with code 0.
    Finished,
    /// The script exited with another code, could not be started, or the server stopped
    /// while it ran (the record's `error` says which).
    Failed,
    /// Someone terminated it (the record's `error` says who).
    Terminated,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Finished => "finished",
            JobState::Failed => "failed",
            JobState::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(JobState::Queued),
            "running" => Some(JobState::Running),
            "finished" => Some(JobState::Finished),
            "failed" => Some(JobState::Failed),
            "terminated" => Some(JobState::Terminated),
            _ => None,
        }
    }

    /// Whether this is a final state: a job that is over does not change any more.
    pub fn is_over(self) -> bool {
        matches!(self, JobState::Finished | JobState::Failed | JobState::Terminated)
    }
}

/// A background job to record when it is queued.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub project_id: ProjectId,
    /// Who starts it.
    pub owner: UserId,
    /// The project path of the script it runs.
    pub script: String,
    /// The project paths of the files its stdout and stderr go to.
    pub stdout_path: String,
    pub stderr_path: String,
    pub created_at: Timestamp,
}

/// One stored background job (SPEC §9). Times round-trip to the millisecond (SQLite keeps
/// no more).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct JobRecord {
    pub id: JobId,
    pub project_id: ProjectId,
    /// Who started it.
    #[schema(value_type = i64)]
    pub owner: UserId,
    /// The project path of the script it runs.
    pub script: String,
    /// The project paths of its stdout and stderr logs.
    pub stdout_path: String,
    pub stderr_path: String,
    pub state: JobState,
    /// The script's exit code, once it exited.
    pub exit_code: Option<i32>,
    /// For a failed or terminated job: why, in a sentence for people.
    pub error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When its script started; `None` while queued and for jobs ended in the queue.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    /// When it reached its final state; `None` while queued or running.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    /// Every path the job generated: its stdout and stderr logs first, then the files it
    /// wrote in byte order. None of them can be deleted while the job exists.
    pub generated: Vec<String>,
}
