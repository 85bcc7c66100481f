//! Storage: one interface ([`Store`]), two implementations (PostgreSQL for production and
//! several nodes, SQLite as the embedded default), one shared test suite.
//!
//! SQL lives in `migrations/{postgres,sqlite}` and in the named query functions of each
//! backend. Everything a notebook's history needs is here: the append-only update log
//! (who, which Yjs client ids, when, the update bytes) and checkpoints of the full state.

mod postgres;
mod sql_common;
mod sqlite;
#[cfg(test)]
pub(crate) mod testing;
mod types;

use std::sync::Arc;

use async_trait::async_trait;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use types::*;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. a user or notebook name already taken).
    #[error("{0} already exists")]
    Conflict(String),
    /// The row the call refers to does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The notebook is blocked by another user, who alone may change it.
    #[error("the notebook is blocked by user {}", .0.holder)]
    Blocked(NotebookBlock),
    /// A project file is blocked by another user, who alone may change it: the file
    /// itself, or (moving or deleting a folder) the first such file inside it.
    #[error("`{path}` is blocked by user {}", .block.holder)]
    FileBlocked { path: FilePath, block: FileBlock },
    /// A change the file tree cannot take (a folder where a file is needed…).
    #[error(transparent)]
    FileTree(#[from] FileTreeError),
    /// The database could not be reached or the statement failed; callers treat this as
    /// "the database is unavailable" and retry later.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A failure already reported elsewhere, passed on as text (e.g. to every request
    /// that shared one failed group commit).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything Talkbook keeps in its database.
///
/// Implementations must make `append_updates` atomic (all rows of one call or none) and
/// durable when it returns: the sync server broadcasts an update only after this call
/// succeeds.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Runs the embedded migrations of this backend.
    async fn migrate(&self) -> StoreResult<()>;
    /// A cheap round trip to the database, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    // --- users and tokens ---
    async fn create_user(&self, user: &NewUser) -> StoreResult<User>;
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>>;
    async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    async fn count_users(&self) -> StoreResult<i64>;
    /// The stored argon2 hash of a user's password (`None` if the user has none).
    async fn password_hash(&self, id: UserId) -> StoreResult<Option<String>>;
    async fn set_password_hash(&self, id: UserId, hash: &str) -> StoreResult<()>;
    /// Stores a token by the SHA-256 hash of its secret; the secret itself is never stored.
    async fn create_token(&self, token: &NewToken) -> StoreResult<Token>;
    /// The token with this hash and its user, if it exists and has not expired at `now`.
    async fn token_by_hash(&self, hash: &[u8], now: Timestamp) -> StoreResult<Option<(Token, User)>>;
    async fn delete_token(&self, hash: &[u8]) -> StoreResult<()>;
    async fn list_tokens(&self, user: UserId) -> StoreResult<Vec<Token>>;

    // --- projects and their members ---
    /// Creates the project with its owner as a member of role `owner`.
    async fn create_project(&self, project: &NewProject) -> StoreResult<Project>;
    async fn project(&self, id: ProjectId) -> StoreResult<Option<Project>>;
    /// Projects the user owns or is a member of, each with the user's role, newest first.
    async fn projects_for(&self, user: UserId) -> StoreResult<Vec<(Project, Role)>>;
    /// Changes the fields of `update` that are set.
    async fn update_project(&self, id: ProjectId, update: &ProjectUpdate) -> StoreResult<Project>;
    /// Deletes the project with its members and notebooks (and their logs).
    async fn delete_project(&self, id: ProjectId) -> StoreResult<()>;
    /// The project's members, the owner first, then by user name.
    async fn members(&self, project: ProjectId) -> StoreResult<Vec<Member>>;
    /// The user's role in the project, `None` if they are no member.
    async fn member_role(&self, project: ProjectId, user: UserId) -> StoreResult<Option<Role>>;
    /// Adds a member: `Conflict` if the user already is one (or, for `Role::Owner`, if the
    /// project has its owner), `NotFound` for an unknown project or user.
    async fn add_member(&self, project: ProjectId, user: UserId, role: Role) -> StoreResult<Member>;
    /// Changes a member's role; the owner's membership is never changed here (`NotFound`
    /// like a user who is no member), and no second owner can be made (`Conflict`).
    async fn set_member_role(&self, project: ProjectId, user: UserId, role: Role) -> StoreResult<Member>;
    /// Removes a member; the owner is never removed (`NotFound` like a user who is no
    /// member).
    async fn remove_member(&self, project: ProjectId, user: UserId) -> StoreResult<()>;

    // --- notebooks ---
    async fn create_notebook(&self, notebook: &NewNotebook) -> StoreResult<NotebookRow>;
    async fn notebook(&self, id: NotebookId) -> StoreResult<Option<NotebookRow>>;
    async fn notebooks_in(&self, project: ProjectId) -> StoreResult<Vec<NotebookRow>>;
    /// Renames the notebook on behalf of `actor`: `Blocked` if someone else holds a block
    /// on it (checked in the same statement, so a block taken meanwhile is respected).
    async fn rename_notebook(&self, id: NotebookId, name: &str, actor: UserId) -> StoreResult<NotebookRow>;
    /// Changes the notebook's mode on behalf of `actor`; `Blocked` as for renaming.
    async fn set_notebook_mode(
        &self,
        id: NotebookId,
        mode: NotebookMode,
        actor: UserId,
    ) -> StoreResult<NotebookRow>;
    /// Deletes the notebook with its whole log and checkpoints on behalf of `actor`;
    /// `Blocked` as for renaming.
    async fn delete_notebook(&self, id: NotebookId, actor: UserId) -> StoreResult<()>;
    /// Blocks the notebook for `holder` since `at`, unless someone else holds a block, and
    /// returns the row as it is afterwards: its `block` says who won. One conditional
    /// statement, so of two concurrent requests only one gets the block. Blocking again as
    /// the holder keeps the original time.
    async fn block_notebook(&self, id: NotebookId, holder: UserId, at: Timestamp)
    -> StoreResult<NotebookRow>;
    /// Lifts the block if `holder` holds it, and returns the row as it is afterwards (still
    /// blocked if someone else holds it, e.g. after a concurrent unblock and block).
    async fn unblock_notebook(&self, id: NotebookId, holder: UserId) -> StoreResult<NotebookRow>;
    /// Sets whether editors other than a cell's author may run it in thread mode, on behalf
    /// of `actor`; `Blocked` as for renaming, `NotFound` for an unknown notebook.
    async fn set_others_may_run(
        &self,
        id: NotebookId,
        allowed: bool,
        actor: UserId,
    ) -> StoreResult<NotebookRow>;

    // --- the update log and checkpoints ---
    /// Appends updates (possibly of several notebooks) in one transaction and returns the
    /// sequence number given to each, in order. Sequence numbers are per notebook, start
    /// at 1 and have no gaps. In the same transaction, each client id an update carries
    /// that is not yet bound in its notebook is bound to the update's user (the first
    /// update, in input order, wins).
    async fn append_updates(&self, updates: &[NewUpdate]) -> StoreResult<Vec<Seq>>;
    /// Every client id bound in the notebook with its user, by client id (empty for an
    /// unknown notebook).
    async fn client_bindings(&self, notebook: NotebookId) -> StoreResult<Vec<ClientBinding>>;
    /// The latest checkpoint and every update after it: what loading a notebook needs.
    async fn load_document(&self, notebook: NotebookId) -> StoreResult<StoredDocument>;
    /// The newest checkpoint alone (`None`: none yet, or no such notebook).
    async fn latest_checkpoint(&self, notebook: NotebookId) -> StoreResult<Option<Checkpoint>>;
    /// Log entries with `after < seq <= upto` (all after `after` when `upto` is `None`).
    async fn updates_between(
        &self,
        notebook: NotebookId,
        after: Seq,
        upto: Option<Seq>,
    ) -> StoreResult<Vec<LoggedUpdate>>;
    /// Stores the full document state as of `seq`.
    async fn write_checkpoint(&self, notebook: NotebookId, seq: Seq, state: &[u8]) -> StoreResult<()>;
    /// The highest sequence number in the notebook's log (0 when empty).
    async fn last_seq(&self, notebook: NotebookId) -> StoreResult<Seq>;

    // --- the history index (derived from the log by the history indexer) ---
    /// The highest sequence number whose update is indexed (0 when nothing is).
    async fn history_progress(&self, notebook: NotebookId) -> StoreResult<Seq>;
    /// Writes one indexing step in one transaction: events (inserted, or replaced by
    /// `(first_seq, part)`), clock spans (a span already stored is left alone), the
    /// snapshot, and the progress `batch.upto`. Returns false and writes nothing if the
    /// stored progress is not `batch.after` (another indexer got there first).
    async fn write_history(&self, batch: &HistoryBatch) -> StoreResult<bool>;
    /// Events matching `filter`, by `(first_seq, part)` ascending, at most `filter.limit`.
    async fn history_events(
        &self,
        notebook: NotebookId,
        filter: &HistoryFilter,
    ) -> StoreResult<Vec<HistoryEventRow>>;
    /// Events whose `last_at` is at or after `since`: the groups an indexer may extend.
    async fn history_events_since(
        &self,
        notebook: NotebookId,
        since: Timestamp,
    ) -> StoreResult<Vec<HistoryEventRow>>;
    /// Spans of `client` overlapping the clocks `[from, to)`, inserted ones (`deleted`
    /// false) or deleted ones, by `clock_start` then `seq`.
    async fn clock_spans(
        &self,
        notebook: NotebookId,
        deleted: bool,
        client: u64,
        from: u32,
        to: u32,
    ) -> StoreResult<Vec<ClockSpan>>;
    /// Who made the logged updates `seqs` and when (unknown numbers are left out), by seq.
    async fn update_meta(&self, notebook: NotebookId, seqs: &[Seq]) -> StoreResult<Vec<UpdateMeta>>;
    /// Every span (`true`: deleted, `false`: inserted) written by the updates
    /// `from..=to`, by seq.
    async fn spans_between(
        &self,
        notebook: NotebookId,
        from: Seq,
        to: Seq,
    ) -> StoreResult<Vec<(bool, ClockSpan)>>;
    /// Records that `user` undid the event `(first_seq, part)` at `at` (again: no change).
    async fn mark_undone(
        &self,
        notebook: NotebookId,
        first_seq: Seq,
        part: i32,
        user: UserId,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// The events `user` has undone in the notebook.
    async fn undone_events(&self, notebook: NotebookId, user: UserId) -> StoreResult<Vec<(Seq, i32)>>;
    /// The highest sequence number logged at or before `at` (0 if none was).
    async fn seq_at(&self, notebook: NotebookId, at: Timestamp) -> StoreResult<Seq>;
    /// The newest full state at or before `upto`, from the room's checkpoints or the
    /// history's snapshots, with the sequence number it covers.
    async fn nearest_state(&self, notebook: NotebookId, upto: Seq) -> StoreResult<Option<Checkpoint>>;

    // --- executions ---
    /// Records a run as it is queued (status `queued`); `NotFound` for an unknown notebook
    /// or user.
    async fn create_execution(&self, new: &NewExecution) -> StoreResult<ExecutionRecord>;
    /// Queued → running at `at`; `NotFound` for an unknown id. A record that is already
    /// running or finished is left unchanged.
    async fn execution_started(&self, id: ExecutionId, at: Timestamp) -> StoreResult<()>;
    /// Ends the record with its final status (`ok`, `error` or `aborted`), execution count
    /// and error text at `at`. A record already finished is left unchanged (the first end
    /// wins, e.g. a cancel racing the kernel's reply); `NotFound` for an unknown id. A status
    /// that is not final is a caller's bug and fails as a database error.
    async fn execution_finished(
        &self,
        id: ExecutionId,
        status: ExecutionStatus,
        execution_count: Option<i64>,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()>;
    async fn execution(&self, id: ExecutionId) -> StoreResult<Option<ExecutionRecord>>;
    /// A notebook's executions matching `filter`, newest first (empty for an unknown
    /// notebook).
    async fn executions(
        &self,
        notebook: NotebookId,
        filter: &ExecutionFilter,
    ) -> StoreResult<Vec<ExecutionRecord>>;
    /// Ends every record still queued or running as `aborted` with `reason` at `at`, and
    /// returns how many: a server that stopped or crashed left them, and their kernels are
    /// gone. Called at start-up, so only where one server owns every kernel (a single
    /// node): on several nodes it would abort the other nodes' live runs.
    async fn abort_unfinished_executions(&self, reason: &str, at: Timestamp) -> StoreResult<u64>;

    // --- project files ---
    //
    // A tree of files and folders per project, by path. Every folder above an entry exists
    // as an entry of its own: writes, moves, copies and new folders create the missing
    // ones (by `actor`, at `at`). A file blocked by someone other than `actor` refuses to
    // be written, moved, replaced by a copy or deleted (`FileBlocked`), and so does a
    // folder holding one when it is moved or deleted; the check and the change are atomic
    // (every change to a project's files is serialised per project). Folders are never
    // blocked. Lists are in tree order: each folder directly followed by its contents.

    /// The entry at `path`, if there is one.
    async fn file_entry(&self, project: ProjectId, path: &FilePath) -> StoreResult<Option<FileEntry>>;
    /// The entries in `folder` (the whole project when `None`): its direct contents, or
    /// everything below it when `recursive`. `NotFound` for a missing folder; a file is
    /// listed as itself.
    async fn list_files(
        &self,
        project: ProjectId,
        folder: Option<&FilePath>,
        recursive: bool,
    ) -> StoreResult<Vec<FileEntry>>;
    /// A file with its bytes (whose SHA-256 is the entry's), if there is one; `FileTree`
    /// for a folder.
    async fn file_content(
        &self,
        project: ProjectId,
        path: &FilePath,
    ) -> StoreResult<Option<(FileEntry, Vec<u8>)>>;
    /// Creates or replaces the file at `path` on behalf of `actor`. `FileTree` when `path`
    /// is a folder or a folder above it is a file; `NotFound` for an unknown project.
    async fn write_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        content: &FileContent,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileWritten>;
    /// Creates an empty folder; `Conflict` when something is at `path` already.
    async fn create_folder(
        &self,
        project: ProjectId,
        path: &FilePath,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileEntry>;
    /// Moves (renames) a file, or a folder with everything in it, in one transaction, and
    /// returns the entry at `to`. Entries keep their ids, times and blocks. `NotFound`
    /// for a missing `from`, `Conflict` when `to` exists (`FileBlocked` if someone else
    /// blocks it), `FileTree` for a folder moved into itself.
    async fn move_file(
        &self,
        project: ProjectId,
        from: &FilePath,
        to: &FilePath,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileEntry>;
    /// Copies a file, or a folder with everything in it, and returns the entry at `to`.
    /// The copies are new entries by `actor` at `at`, without blocks. Errors as for
    /// moving (blocks on `from` do not matter: copying only reads it).
    async fn copy_file(
        &self,
        project: ProjectId,
        from: &FilePath,
        to: &FilePath,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileEntry>;
    /// Deletes a file, or a folder with everything in it, and returns how many entries
    /// went. `NotFound` for a missing `path`.
    async fn delete_file(&self, project: ProjectId, path: &FilePath, actor: UserId) -> StoreResult<u64>;
    /// Blocks the file for `holder` since `at`, unless someone else holds a block, and
    /// returns the entry as it is afterwards: its `block` says who won. One conditional
    /// statement, so of two concurrent requests only one gets it. Blocking again as the
    /// holder keeps the original time; a `Console` block replaces the holder's own
    /// `Manual` one (never the reverse). `FileTree` for a folder.
    async fn block_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        holder: UserId,
        reason: BlockReason,
        at: Timestamp,
    ) -> StoreResult<FileEntry>;
    /// Lifts the block if `holder` holds it for `reason`, and returns the entry as it is
    /// afterwards (still blocked if not).
    async fn unblock_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        holder: UserId,
        reason: BlockReason,
    ) -> StoreResult<FileEntry>;
    /// Lifts every console block (consoles do not survive the server that opened them)
    /// and returns how many there were. Called at start-up (single node).
    async fn release_console_blocks(&self) -> StoreResult<u64>;

    // --- jobs ---
    //
    // Background jobs (SPEC §9): a project's script run in the background, its stdout and
    // stderr written to project files. A job records every path it generated (its two
    // logs, then what it wrote); none of them may be deleted while the job exists. Paths
    // are project paths as `FilePath` prints them. A job moves only forward: queued →
    // running → finished | failed | terminated.

    /// A new job, `queued`, whose generated files are its two logs; `NotFound` for an
    /// unknown project or user.
    async fn create_job(&self, new: &NewJob) -> StoreResult<JobRecord>;
    /// The job with its generated paths, if it exists.
    async fn job(&self, id: JobId) -> StoreResult<Option<JobRecord>>;
    /// A project's jobs, newest first (empty for an unknown project).
    async fn jobs_in(&self, project: ProjectId) -> StoreResult<Vec<JobRecord>>;
    /// Queued → running at `at` (unchanged otherwise); `NotFound` for an unknown id.
    async fn job_started(&self, id: JobId, at: Timestamp) -> StoreResult<()>;
    /// Records more paths the job generated (already recorded ones are ignored), whatever
    /// its state; `NotFound` for an unknown id.
    async fn add_job_files(&self, id: JobId, paths: &[String]) -> StoreResult<()>;
    /// Ends the job with its final state (`finished`, `failed` or `terminated`), exit code
    /// and error text at `at`. A job already over is left unchanged (the first end wins,
    /// e.g. a terminate racing the script's exit); `NotFound` for an unknown id. A state
    /// that is not final is a caller's bug and fails as a database error.
    async fn job_ended(
        &self,
        id: JobId,
        state: JobState,
        exit_code: Option<i32>,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes the job record, whatever its state (stopping a running one is the caller's
    /// business); its generated files stay, and may now be deleted. `NotFound` for an
    /// unknown id.
    async fn delete_job(&self, id: JobId) -> StoreResult<()>;
    /// The existing jobs of the project that generated `path` or, when `path` is a
    /// folder, a file below it: their ids, oldest first, for refusing to delete or replace
    /// it. `data` holds `data` and `data/x.csv`, not `data2`.
    async fn jobs_holding(&self, project: ProjectId, path: &str) -> StoreResult<Vec<JobId>>;
    /// Ends every queued or running job as `failed` with `reason` at `at`, and returns how
    /// many: their processes went with the server that stopped. Called at start-up, so
    /// only where one server runs every job (a single node).
    async fn abort_unfinished_jobs(&self, reason: &str, at: Timestamp) -> StoreResult<u64>;
}

/// A shared handle to whichever backend is configured.
pub type DynStore = Arc<dyn Store>;

/// Opens the store a database URL names: `postgres://…`/`postgresql://…` or
/// `sqlite://PATH` (created if missing).
pub async fn open(url: &str) -> StoreResult<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    }
}
