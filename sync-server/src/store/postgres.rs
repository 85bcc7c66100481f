//! The production backend: PostgreSQL (SPEC §7), required when several server processes
//! share one database (SPEC §12).
//!
//! Nothing here assumes a single process: sequence numbers are reserved on the notebook's
//! row inside the appending transaction, migrations take sqlx's advisory lock.

mod accounts;
mod executions;
mod files;
mod history;
mod jobs;
mod log;
mod projects;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{
    BlockReason, ClientBinding, ExecutionFilter, ExecutionId, ExecutionRecord, ExecutionStatus, LoggedUpdate,
    Member, NewExecution, NewNotebook, NewProject, NewToken, NewUpdate, NewUser, NotebookId, NotebookMode,
    NotebookRow, Project, ProjectId, ProjectUpdate, Role, Seq, Store, StoreResult, StoredDocument, Timestamp,
    Token, User, UserId,
};
use super::{Checkpoint, ClockSpan, HistoryBatch, HistoryEventRow, HistoryFilter, UpdateMeta};
use super::{FileContent, FileEntry, FilePath, FileWritten, JobId, JobRecord, JobState, NewJob};

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

/// Connections per server process: enough for group commits, room loads and API calls to
/// overlap, few enough that several nodes stay under PostgreSQL's default limit of 100.
const MAX_CONNECTIONS: u32 = 16;

/// Connections for appending to the update log, apart from the main pool. Appends are
/// written one transaction after another anyway (the group committer; each notebook's row
/// lock), and the main pool hands out its idle connections in turn, so every commit woke
/// another of up to 16 database backends, each with cold caches and its own first, slower,
/// runs of the append statement. One connection stays warm.
const APPEND_CONNECTIONS: u32 = 1;

/// How long a call waits for a free connection (or for the database to answer a connect)
/// before it fails and the caller reports the database as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How both of the store's pools are set up.
fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // No ping before each use: that is a round trip ahead of every commit, and under
        // fanout load it cost 216 µs on average and 1 ms at p99 (5 µs without). A connection
        // that died since its last use fails its statement instead; the pool drops it, and
        // the room retries as in any database outage.
        .test_before_acquire(false)
}

/// A Talkbook database on a PostgreSQL server.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// One connection of its own for appending to the update log (see [`APPEND_CONNECTIONS`]).
    appends: PgPool,
}

impl PostgresStore {
    /// Connects a pool to `url` (`postgres://…` or `postgresql://…`); fails if the server
    /// cannot be reached. Does not run migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = pool_options(MAX_CONNECTIONS).connect(url).await?;
        let appends = pool_options(APPEND_CONNECTIONS).connect_lazy(url)?;
        tracing::debug!("connected to PostgreSQL store");
        Ok(PostgresStore { pool, appends })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        accounts::create_user(&self.pool, user).await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        accounts::user_by_id(&self.pool, id).await
    }

    async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        accounts::user_by_name(&self.pool, name).await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        accounts::list_users(&self.pool).await
    }

    async fn count_users(&self) -> StoreResult<i64> {
        accounts::count_users(&self.pool).await
    }

    async fn password_hash(&self, id: UserId) -> StoreResult<Option<String>> {
        accounts::password_hash(&self.pool, id).await
    }

    async fn set_password_hash(&self, id: UserId, hash: &str) -> StoreResult<()> {
        accounts::set_password_hash(&self.pool, id, hash).await
    }

    async fn create_token(&self, token: &NewToken) -> StoreResult<Token> {
        accounts::create_token(&self.pool, token).await
    }

    async fn token_by_hash(&self, hash: &[u8], now: Timestamp) -> StoreResult<Option<(Token, User)>> {
        accounts::token_by_hash(&self.pool, hash, now).await
    }

    async fn delete_token(&self, hash: &[u8]) -> StoreResult<()> {
        accounts::delete_token(&self.pool, hash).await
    }

    async fn list_tokens(&self, user: UserId) -> StoreResult<Vec<Token>> {
        accounts::list_tokens(&self.pool, user).await
    }

    async fn create_project(&self, project: &NewProject) -> StoreResult<Project> {
        projects::create_project(self.pool.begin().await?, project).await
    }

    async fn project(&self, id: ProjectId) -> StoreResult<Option<Project>> {
        projects::project(&self.pool, id).await
    }

    async fn projects_for(&self, user: UserId) -> StoreResult<Vec<(Project, Role)>> {
        projects::projects_for(&self.pool, user).await
    }

    async fn update_project(&self, id: ProjectId, update: &ProjectUpdate) -> StoreResult<Project> {
        projects::update_project(&self.pool, id, update).await
    }

    async fn delete_project(&self, id: ProjectId) -> StoreResult<()> {
        projects::delete_project(&self.pool, id).await
    }

    async fn members(&self, project: ProjectId) -> StoreResult<Vec<Member>> {
        projects::members(&self.pool, project).await
    }

    async fn member_role(&self, project: ProjectId, user: UserId) -> StoreResult<Option<Role>> {
        projects::member_role(&self.pool, project, user).await
    }

    async fn add_member(&self, project: ProjectId, user: UserId, role: Role) -> StoreResult<Member> {
        projects::add_member(&self.pool, project, user, role).await
    }

    async fn set_member_role(&self, project: ProjectId, user: UserId, role: Role) -> StoreResult<Member> {
        projects::set_member_role(&self.pool, project, user, role).await
    }

    async fn remove_member(&self, project: ProjectId, user: UserId) -> StoreResult<()> {
        projects::remove_member(&self.pool, project, user).await
    }

    async fn create_notebook(&self, notebook: &NewNotebook) -> StoreResult<NotebookRow> {
        projects::create_notebook(&self.pool, notebook).await
    }

    async fn notebook(&self, id: NotebookId) -> StoreResult<Option<NotebookRow>> {
        projects::notebook(&self.pool, id).await
    }

    async fn notebooks_in(&self, project: ProjectId) -> StoreResult<Vec<NotebookRow>> {
        projects::notebooks_in(&self.pool, project).await
    }

    async fn rename_notebook(&self, id: NotebookId, name: &str, actor: UserId) -> StoreResult<NotebookRow> {
        projects::rename_notebook(&self.pool, id, name, actor).await
    }

    async fn set_notebook_mode(
        &self,
        id: NotebookId,
        mode: NotebookMode,
        actor: UserId,
    ) -> StoreResult<NotebookRow> {
        projects::set_notebook_mode(&self.pool, id, mode, actor).await
    }

    async fn delete_notebook(&self, id: NotebookId, actor: UserId) -> StoreResult<()> {
        projects::delete_notebook(&self.pool, id, actor).await
    }

    async fn block_notebook(
        &self,
        id: NotebookId,
        holder: UserId,
        at: Timestamp,
    ) -> StoreResult<NotebookRow> {
        projects::block_notebook(&self.pool, id, holder, at).await
    }

    async fn unblock_notebook(&self, id: NotebookId, holder: UserId) -> StoreResult<NotebookRow> {
        projects::unblock_notebook(&self.pool, id, holder).await
    }

    async fn set_others_may_run(
        &self,
        id: NotebookId,
        allowed: bool,
        actor: UserId,
    ) -> StoreResult<NotebookRow> {
        projects::set_others_may_run(&self.pool, id, allowed, actor).await
    }

    async fn append_updates(&self, updates: &[NewUpdate]) -> StoreResult<Vec<Seq>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        log::append_updates(&self.appends, updates).await
    }

    async fn client_bindings(&self, notebook: NotebookId) -> StoreResult<Vec<ClientBinding>> {
        log::client_bindings_of(&self.pool, notebook).await
    }

    async fn load_document(&self, notebook: NotebookId) -> StoreResult<StoredDocument> {
        log::load_document(&self.pool, notebook).await
    }

    async fn latest_checkpoint(&self, notebook: NotebookId) -> StoreResult<Option<Checkpoint>> {
        log::latest_checkpoint(&self.pool, notebook).await
    }

    async fn updates_between(
        &self,
        notebook: NotebookId,
        after: Seq,
        upto: Option<Seq>,
    ) -> StoreResult<Vec<LoggedUpdate>> {
        Ok(log::updates_between(&self.pool, notebook, after, upto).await?)
    }

    async fn write_checkpoint(&self, notebook: NotebookId, seq: Seq, state: &[u8]) -> StoreResult<()> {
        log::write_checkpoint(&self.pool, notebook, seq, state).await
    }

    async fn last_seq(&self, notebook: NotebookId) -> StoreResult<Seq> {
        log::last_seq(&self.pool, notebook).await
    }

    async fn history_progress(&self, notebook: NotebookId) -> StoreResult<Seq> {
        history::history_progress(&self.pool, notebook).await
    }

    async fn write_history(&self, batch: &HistoryBatch) -> StoreResult<bool> {
        history::write_history(&self.pool, batch).await
    }

    async fn history_events(
        &self,
        notebook: NotebookId,
        filter: &HistoryFilter,
    ) -> StoreResult<Vec<HistoryEventRow>> {
        history::history_events(&self.pool, notebook, filter).await
    }

    async fn history_events_since(
        &self,
        notebook: NotebookId,
        since: Timestamp,
    ) -> StoreResult<Vec<HistoryEventRow>> {
        history::history_events_since(&self.pool, notebook, since).await
    }

    async fn clock_spans(
        &self,
        notebook: NotebookId,
        deleted: bool,
        client: u64,
        from: u32,
        to: u32,
    ) -> StoreResult<Vec<ClockSpan>> {
        history::clock_spans(&self.pool, notebook, deleted, client, from, to).await
    }

    async fn update_meta(&self, notebook: NotebookId, seqs: &[Seq]) -> StoreResult<Vec<UpdateMeta>> {
        history::update_meta(&self.pool, notebook, seqs).await
    }

    async fn spans_between(
        &self,
        notebook: NotebookId,
        from: Seq,
        to: Seq,
    ) -> StoreResult<Vec<(bool, ClockSpan)>> {
        history::spans_between(&self.pool, notebook, from, to).await
    }

    async fn mark_undone(
        &self,
        notebook: NotebookId,
        first_seq: Seq,
        part: i32,
        user: UserId,
        at: Timestamp,
    ) -> StoreResult<()> {
        history::mark_undone(&self.pool, notebook, first_seq, part, user, at).await
    }

    async fn undone_events(&self, notebook: NotebookId, user: UserId) -> StoreResult<Vec<(Seq, i32)>> {
        history::undone_events(&self.pool, notebook, user).await
    }

    async fn seq_at(&self, notebook: NotebookId, at: Timestamp) -> StoreResult<Seq> {
        history::seq_at(&self.pool, notebook, at).await
    }

    async fn nearest_state(&self, notebook: NotebookId, upto: Seq) -> StoreResult<Option<Checkpoint>> {
        history::nearest_state(&self.pool, notebook, upto).await
    }

    async fn create_execution(&self, new: &NewExecution) -> StoreResult<ExecutionRecord> {
        executions::create_execution(&self.pool, new).await
    }

    async fn execution_started(&self, id: ExecutionId, at: Timestamp) -> StoreResult<()> {
        executions::execution_started(&self.pool, id, at).await
    }

    async fn execution_finished(
        &self,
        id: ExecutionId,
        status: ExecutionStatus,
        execution_count: Option<i64>,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()> {
        executions::execution_finished(&self.pool, id, status, execution_count, error, at).await
    }

    async fn execution(&self, id: ExecutionId) -> StoreResult<Option<ExecutionRecord>> {
        executions::execution(&self.pool, id).await
    }

    async fn executions(
        &self,
        notebook: NotebookId,
        filter: &ExecutionFilter,
    ) -> StoreResult<Vec<ExecutionRecord>> {
        executions::executions(&self.pool, notebook, filter).await
    }

    async fn abort_unfinished_executions(&self, reason: &str, at: Timestamp) -> StoreResult<u64> {
        executions::abort_unfinished_executions(&self.pool, reason, at).await
    }

    async fn file_entry(&self, project: ProjectId, path: &FilePath) -> StoreResult<Option<FileEntry>> {
        files::file_entry(&self.pool, project, path).await
    }

    async fn list_files(
        &self,
        project: ProjectId,
        folder: Option<&FilePath>,
        recursive: bool,
    ) -> StoreResult<Vec<FileEntry>> {
        files::list_files(&self.pool, project, folder, recursive).await
    }

    async fn file_content(
        &self,
        project: ProjectId,
        path: &FilePath,
    ) -> StoreResult<Option<(FileEntry, Vec<u8>)>> {
        files::file_content(&self.pool, project, path).await
    }

    async fn write_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        content: &FileContent,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileWritten> {
        files::write_file(&self.pool, project, path, content, actor, at).await
    }

    async fn create_folder(
        &self,
        project: ProjectId,
        path: &FilePath,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileEntry> {
        files::create_folder(&self.pool, project, path, actor, at).await
    }

    async fn move_file(
        &self,
        project: ProjectId,
        from: &FilePath,
        to: &FilePath,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileEntry> {
        files::move_file(&self.pool, project, from, to, actor, at).await
    }

    async fn copy_file(
        &self,
        project: ProjectId,
        from: &FilePath,
        to: &FilePath,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileEntry> {
        files::copy_file(&self.pool, project, from, to, actor, at).await
    }

    async fn delete_file(&self, project: ProjectId, path: &FilePath, actor: UserId) -> StoreResult<u64> {
        files::delete_file(&self.pool, project, path, actor).await
    }

    async fn block_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        holder: UserId,
        reason: BlockReason,
        at: Timestamp,
    ) -> StoreResult<FileEntry> {
        files::block_file(&self.pool, project, path, holder, reason, at).await
    }

    async fn unblock_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        holder: UserId,
        reason: BlockReason,
    ) -> StoreResult<FileEntry> {
        files::unblock_file(&self.pool, project, path, holder, reason).await
    }

    async fn release_console_blocks(&self) -> StoreResult<u64> {
        files::release_console_blocks(&self.pool).await
    }

    async fn create_job(&self, new: &NewJob) -> StoreResult<JobRecord> {
        jobs::create_job(&self.pool, new).await
    }

    async fn job(&self, id: JobId) -> StoreResult<Option<JobRecord>> {
        jobs::job(&self.pool, id).await
    }

    async fn jobs_in(&self, project: ProjectId) -> StoreResult<Vec<JobRecord>> {
        jobs::jobs_in(&self.pool, project).await
    }

    async fn job_started(&self, id: JobId, at: Timestamp) -> StoreResult<()> {
        jobs::job_started(&self.pool, id, at).await
    }

    async fn add_job_files(&self, id: JobId, paths: &[String]) -> StoreResult<()> {
        jobs::add_job_files(&self.pool, id, paths).await
    }

    async fn job_ended(
        &self,
        id: JobId,
        state: JobState,
        exit_code: Option<i32>,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()> {
        jobs::job_ended(&self.pool, id, state, exit_code, error, at).await
    }

    async fn delete_job(&self, id: JobId) -> StoreResult<()> {
        jobs::delete_job(&self.pool, id).await
    }

    async fn jobs_holding(&self, project: ProjectId, path: &str) -> StoreResult<Vec<JobId>> {
        jobs::jobs_holding(&self.pool, project, path).await
    }

    async fn abort_unfinished_jobs(&self, reason: &str, at: Timestamp) -> StoreResult<u64> {
        jobs::abort_unfinished_jobs(&self.pool, reason, at).await
    }
}
