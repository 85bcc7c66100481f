//! Background jobs (SPEC §9): a project's script run in a fresh process (not a kernel)
//! with a copy of the project's files, its stdout and stderr stored as files next to the
//! script while it runs.
//!
//! - A job is `queued` until one of its owner's job slots is free (`--max-jobs-per-user`
//!   run at once), then `running`, then `finished` (exit code 0), `failed` (another exit
//!   code, or it could not start) or `terminated` (by request or server shutdown).
//! - The interpreter comes from the script's extension: `.py` with the Python of the
//!   `python3` kernelspec (the environment notebooks use), `.sh` with `bash`.
//! - Files the job creates or changes in its directory are stored into the project when it
//!   ends, on behalf of its owner; they and its logs are the job's generated files, which
//!   cannot be deleted while the job exists.
//! - The process dies with the server (parent-death signal, as kernels); a job that was
//!   queued or running when a server stopped is marked failed at the next start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dashmap::DashMap;
use kernel_bridge::JupyterPaths;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::files::path::FilePath;
use crate::kernels::workdir::WorkDir;
use crate::store::{
    DynStore, FileContent, FileKind, JobId, JobRecord, JobState, NewJob, ProjectId, StoreError, UserId,
};

/// How often a running job's logs are written into the project.
const LOG_FLUSH: Duration = Duration::from_secs(1);

/// Settings of the job runner.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Jobs one user may have running at once; more wait queued.
    pub per_user: usize,
    /// Jobs run in `<work_root>/<project>/job-<id>`.
    pub work_root: PathBuf,
    /// Largest file a job may store back into the project.
    pub max_file_bytes: u64,
}

/// Why a job could not be submitted or changed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("`{0}` is not a file of this project")]
    NoSuchFile(FilePath),
    #[error("`{0}` cannot run as a job: scripts ending in .py (Python) or .sh (bash) can")]
    Unsupported(FilePath),
    #[error("job {0} has already ended")]
    Over(JobId),
    #[error("job {0} is still {1}; terminate it first")]
    NotOver(JobId, &'static str),
    #[error("job {0} not found")]
    NotFound(JobId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The server's background jobs.
#[derive(Debug)]
pub struct Jobs {
    store: DynStore,
    config: JobsConfig,
    paths: JupyterPaths,
    /// Jobs queued or running, by id: cancelling the token terminates the job.
    live: DashMap<JobId, CancellationToken>,
    slots: DashMap<UserId, Arc<Semaphore>>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Jobs {
    pub fn new(config: JobsConfig, store: DynStore) -> Arc<Jobs> {
        Arc::new(Jobs {
            store,
            config,
            paths: JupyterPaths::from_env(),
            live: DashMap::new(),
            slots: DashMap::new(),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
        })
    }

    /// Queues a run of the project file `script` for `owner`.
    pub async fn submit(
        self: &Arc<Self>,
        project: ProjectId,
        owner: UserId,
        script: FilePath,
    ) -> Result<JobRecord, JobError> {
        let entry = self.store.file_entry(project, &script).await?;
        if !entry.is_some_and(|e| e.kind == FileKind::File) {
            return Err(JobError::NoSuchFile(script));
        }
        let interpreter = self.interpreter(&script).ok_or_else(|| JobError::Unsupported(script.clone()))?;
        let now = Utc::now();
        let (stdout_path, stderr_path) = log_paths(&script, now);
        let new = NewJob {
            project_id: project,
            owner,
            script: script.as_str().to_owned(),
            stdout_path: stdout_path.as_str().to_owned(),
            stderr_path: stderr_path.as_str().to_owned(),
            created_at: now,
        };
        let record = self.store.create_job(&new).await?;
        let token = self.stop.child_token();
        self.live.insert(record.id, token.clone());
        let run = JobRun { record: record.clone(), script, stdout_path, stderr_path, interpreter, token };
        self.tasks.spawn(run.run(self.clone()));
        tracing::info!(job = %record.id, project = %project, owner = %owner, script = %record.script, "job queued");
        Ok(record)
    }

    /// Terminates a queued or running job (a running one's process group is killed).
    pub async fn terminate(&self, id: JobId) -> Result<(), JobError> {
        match self.live.get(&id).map(|t| t.clone()) {
            Some(token) => {
                token.cancel();
                Ok(())
            }
            None => match self.store.job(id).await? {
                Some(_) => Err(JobError::Over(id)),
                None => Err(JobError::NotFound(id)),
            },
        }
    }

    /// Waits until the job has ended (for a terminate request to answer with the end).
    pub async fn wait_ended(&self, id: JobId) {
        for _ in 0..200 {
            if !self.live.contains_key(&id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Deletes a job that has ended; its generated files become deletable.
    pub async fn delete(&self, record: &JobRecord) -> Result<(), JobError> {
        if !record.state.is_over() || self.live.contains_key(&record.id) {
            return Err(JobError::NotOver(record.id, record.state.as_str()));
        }
        self.store.delete_job(record.id).await?;
        Ok(())
    }

    /// Terminates every job and waits until each has written its end.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// The command line that runs `script`, by its extension.
    fn interpreter(&self, script: &FilePath) -> Option<Vec<String>> {
        let extension = Path::new(script.as_str()).extension()?.to_str()?;
        match extension {
            "py" => {
                let python = self
                    .paths
                    .find("python3")
                    .ok()
                    .and_then(|spec| spec.argv.first().cloned())
                    .unwrap_or_else(|| "python3".into());
                Some(vec![python, "-u".into()])
            }
            "sh" => Some(vec!["bash".into()]),
            _ => None,
        }
    }

    fn slot(&self, owner: UserId) -> Arc<Semaphore> {
        self.slots
            .entry(owner)
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_user.max(1))))
            .clone()
    }
}

/// Where a script's logs go: next to it, named after it and the job's start.
fn log_paths(script: &FilePath, at: chrono::DateTime<Utc>) -> (FilePath, FilePath) {
    let stamp = at.format("%Y%m%d-%H%M%S-%3f");
    let base = format!("{}.job-{stamp}", script.as_str());
    let parse =
        |suffix: &str| FilePath::parse(&format!("{base}.{suffix}")).unwrap_or_else(|_| script.clone());
    (parse("stdout.txt"), parse("stderr.txt"))
}

/// One job from queue to end.
struct JobRun {
    record: JobRecord,
    script: FilePath,
    stdout_path: FilePath,
    stderr_path: FilePath,
    interpreter: Vec<String>,
    token: CancellationToken,
}

/// How a job ended.
struct Outcome {
    state: JobState,
    exit_code: Option<i32>,
    error: Option<String>,
}

impl JobRun {
    async fn run(self, jobs: Arc<Jobs>) {
        let id = self.record.id;
        let outcome = self.queue_and_run(&jobs).await;
        if let Err(e) = jobs
            .store
            .job_ended(id, outcome.state, outcome.exit_code, outcome.error.as_deref(), Utc::now())
            .await
        {
            tracing::warn!(job = %id, error = %e, "cannot record the end of a job");
        }
        jobs.live.remove(&id);
        tracing::info!(job = %id, state = outcome.state.as_str(), exit_code = ?outcome.exit_code, "job ended");
    }

    async fn queue_and_run(&self, jobs: &Arc<Jobs>) -> Outcome {
        let slot = jobs.slot(self.record.owner);
        let _permit = tokio::select! {
            permit = slot.acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return failed("the job runner stopped"),
            },
            _ = self.token.cancelled() => return terminated("terminated before it started"),
        };
        let dir = jobs
            .config
            .work_root
            .join(self.record.project_id.0.to_string())
            .join(format!("job-{}", self.record.id));
        let workdir = WorkDir::new(dir.clone(), self.record.project_id);
        let outcome = self.run_in(jobs, &workdir).await;
        workdir.remove().await;
        outcome
    }

    async fn run_in(&self, jobs: &Arc<Jobs>, workdir: &WorkDir) -> Outcome {
        if let Err(e) = tokio::fs::create_dir_all(workdir.root()).await {
            return failed(&format!("cannot create its working directory: {e}"));
        }
        if let Err(e) = workdir.refresh(&jobs.store).await {
            return failed(&format!("cannot copy the project's files: {e}"));
        }
        if let Err(e) = jobs.store.job_started(self.record.id, Utc::now()).await {
            tracing::warn!(job = %self.record.id, error = %e, "cannot record the start of a job");
        }
        let mut argv = self.interpreter.clone();
        argv.push(self.script.as_str().to_owned());
        let env = vec![("TALKBOOK_JOB_ID".to_owned(), self.record.id.to_string())];
        let mut child =
            match kernel_bridge::process::spawn_child(argv, env, workdir.root().to_path_buf()).await {
                Ok(child) => child,
                Err(e) => return failed(&format!("could not start: {e}")),
            };
        let mut logs = Logs::default();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let mut flush = tokio::time::interval(LOG_FLUSH);
        let (mut out_buf, mut err_buf) = ([0u8; 8192], [0u8; 8192]);
        let mut terminated_by: Option<&str> = None;
        let status = loop {
            tokio::select! {
                read = read_some(&mut stdout, &mut out_buf) => match read {
                    Some(n) => logs.stdout.extend_from_slice(&out_buf[..n]),
                    None => stdout = None,
                },
                read = read_some(&mut stderr, &mut err_buf) => match read {
                    Some(n) => logs.stderr.extend_from_slice(&err_buf[..n]),
                    None => stderr = None,
                },
                status = child.wait(), if stdout.is_none() && stderr.is_none() => break status,
                _ = flush.tick() => logs.flush(jobs, self).await,
                _ = self.token.cancelled(), if terminated_by.is_none() => {
                    terminated_by = Some(if jobs.stop.is_cancelled() { "the server stopped" } else { "terminated on request" });
                    kill_group(&child);
                }
            }
        };
        // What it wrote goes into the project; what could not is said in its stderr.
        let stored = workdir.collect(&jobs.store, self.record.owner, jobs.config.max_file_bytes).await;
        for note in &stored.notes {
            logs.stderr.extend_from_slice(format!("[talkbook] {note}\n").as_bytes());
        }
        logs.flush(jobs, self).await;
        let generated: Vec<String> = stored.paths.iter().map(|p| p.as_str().to_owned()).collect();
        if !generated.is_empty()
            && let Err(e) = jobs.store.add_job_files(self.record.id, &generated).await
        {
            tracing::warn!(job = %self.record.id, error = %e, "cannot record a job's files");
        }
        match (terminated_by, status) {
            (Some(why), status) => Outcome {
                state: JobState::Terminated,
                exit_code: status.ok().and_then(|s| s.code()),
                error: Some(why.to_owned()),
            },
            (None, Ok(status)) if status.success() => {
                Outcome { state: JobState::Finished, exit_code: Some(0), error: None }
            }
            (None, Ok(status)) => Outcome {
                state: JobState::Failed,
                exit_code: status.code(),
                error: Some(match status.code() {
                    Some(code) => format!("the script exited with code {code}"),
                    None => format!("the script was killed ({status})"),
                }),
            },
            (None, Err(e)) => failed(&format!("lost the process: {e}")),
        }
    }
}

/// A job's logs so far, and what was last stored of them.
#[derive(Default)]
struct Logs {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stored: HashMap<&'static str, usize>,
}

impl Logs {
    /// Stores each log into the project if it grew since the last time (the first time
    /// even if empty, so both files exist from the start).
    async fn flush(&mut self, jobs: &Jobs, run: &JobRun) {
        for (name, bytes, path) in
            [("stdout", &self.stdout, &run.stdout_path), ("stderr", &self.stderr, &run.stderr_path)]
        {
            if self.stored.get(name) == Some(&bytes.len()) {
                continue;
            }
            let content = FileContent::new(bytes.clone());
            match jobs
                .store
                .write_file(run.record.project_id, path, &content, run.record.owner, Utc::now())
                .await
            {
                Ok(_) => {
                    self.stored.insert(name, bytes.len());
                }
                Err(e) => {
                    tracing::warn!(job = %run.record.id, path = %path, error = %e, "cannot store a job's log")
                }
            }
        }
    }
}

/// Reads what is there from a pipe; `None` at its end (or when there is no pipe, forever
/// pending so the select arm is off).
async fn read_some<R: tokio::io::AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(pipe) => match pipe.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

/// Kills the job's whole process group (the script and anything it started).
fn kill_group(child: &tokio::process::Child) {
    let Some(pid) = child.id() else { return };
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else { return };
    if let Err(e) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
        tracing::warn!(%pid, error = %e, "cannot kill a job's process group");
    }
}

fn failed(why: &str) -> Outcome {
    Outcome { state: JobState::Failed, exit_code: None, error: Some(why.to_owned()) }
}

fn terminated(why: &str) -> Outcome {
    Outcome { state: JobState::Terminated, exit_code: None, error: Some(why.to_owned()) }
}
