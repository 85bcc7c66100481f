//! The embedded default backend: one SQLite file (SPEC §7).
//!
//! Durability: WAL journal with `synchronous=FULL`, so a transaction that returned from
//! `COMMIT` survives a process kill and a power cut. Concurrency: one writer connection
//! (SQLite allows one writer at a time; queueing for it in the pool is fair and async,
//! unlike SQLite's sleeping busy handler) beside a pool of readers, which WAL lets run
//! while the writer commits.

mod accounts;
mod executions;
mod files;
mod history;
mod jobs;
mod log;
mod projects;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{
    BlockReason, ClientBinding, ExecutionFilter, ExecutionId, ExecutionRecord, ExecutionStatus, LoggedUpdate,
    Member, NewExecution, NewNotebook, NewProject, NewToken, NewUpdate, NewUser, NotebookId, NotebookMode,
    NotebookRow, Project, ProjectId, ProjectUpdate, Role, Seq, Store, StoreResult, StoredDocument, Timestamp,
    Token, User, UserId,
};
use super::{Checkpoint, ClockSpan, HistoryBatch, HistoryEventRow, HistoryFilter, UpdateMeta};
use super::{FileContent, FileEntry, FilePath, FileWritten, JobId, JobRecord, JobState, NewJob};

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a statement waits for a lock held by another process on the same file (e.g.
/// `talkbook user add` while the server runs) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Readers are cheap in WAL mode; a few let room loads proceed while the writer commits.
const READERS: u32 = 4;

/// A Talkbook database in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The only connection that writes: SQLite serialises writers anyway, and waiting for
    /// the pool is FIFO and async where SQLite's busy handler would sleep and retry.
    writer: SqlitePool,
    /// Connections for reads, which WAL runs concurrently with the writer.
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing, parent folders included) the database at `url`:
    /// `sqlite://PATH`, `sqlite:PATH` or a bare path. Does not run migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let path = path_from_url(url);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(sqlx::Error::Io)?;
        }
        let options = connect_options(&path);
        // The writer connects first so that the file exists and is in WAL mode before any
        // reader opens it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new().max_connections(READERS).connect_lazy_with(options);
        tracing::debug!(path = %path.display(), "opened SQLite store");
        Ok(SqliteStore { writer, reader })
    }

    /// Starts a write transaction that takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// a transaction never fails halfway because another process began writing first.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

/// The file a database URL names.
fn path_from_url(url: &str) -> PathBuf {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    // Connection parameters (`?mode=rwc`) are set by this module, not taken from the URL.
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    PathBuf::from(path)
}

fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL, not the usual NORMAL: in WAL mode NORMAL may lose the last commits on power
        // loss, and the sync server broadcasts an update only once it is committed.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
}

/// Timestamps are stored as unix milliseconds.
fn to_millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

/// A timestamp column (unix milliseconds).
fn time_column(row: &SqliteRow, column: &str) -> Result<Timestamp, sqlx::Error> {
    millis_to_time(column, row.try_get(column)?)
}

/// A nullable timestamp column (unix milliseconds).
fn opt_time_column(row: &SqliteRow, column: &str) -> Result<Option<Timestamp>, sqlx::Error> {
    row.try_get::<Option<i64>, _>(column)?.map(|ms| millis_to_time(column, ms)).transpose()
}

fn millis_to_time(column: &str, ms: i64) -> Result<Timestamp, sqlx::Error> {
    Timestamp::from_timestamp_millis(ms).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("{ms} ms is out of the range of timestamps").into(),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        accounts::create_user(&self.writer, user).await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        accounts::user_by_id(&self.reader, id).await
    }

    async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        accounts::user_by_name(&self.reader, name).await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        accounts::list_users(&self.reader).await
    }

    async fn count_users(&self) -> StoreResult<i64> {
        accounts::count_users(&self.reader).await
    }

    async fn password_hash(&self, id: UserId) -> StoreResult<Option<String>> {
        accounts::password_hash(&self.reader, id).await
    }

    async fn set_password_hash(&self, id: UserId, hash: &str) -> StoreResult<()> {
        accounts::set_password_hash(&self.writer, id, hash).await
    }

    async fn create_token(&self, token: &NewToken) -> StoreResult<Token> {
        accounts::create_token(&self.writer, token).await
    }

    async fn token_by_hash(&self, hash: &[u8], now: Timestamp) -> StoreResult<Option<(Token, User)>> {
        accounts::token_by_hash(&self.reader, hash, now).await
    }

    async fn delete_token(&self, hash: &[u8]) -> StoreResult<()> {
        accounts::delete_token(&self.writer, hash).await
    }

    async fn list_tokens(&self, user: UserId) -> StoreResult<Vec<Token>> {
        accounts::list_tokens(&self.reader, user).await
    }

    async fn create_project(&self, project: &NewProject) -> StoreResult<Project> {
        projects::create_project(self.write().await?, project).await
    }

    async fn project(&self, id: ProjectId) -> StoreResult<Option<Project>> {
        projects::project(&self.reader, id).await
    }

    async fn projects_for(&self, user: UserId) -> StoreResult<Vec<(Project, Role)>> {
        projects::projects_for(&self.reader, user).await
    }

    async fn update_project(&self, id: ProjectId, update: &ProjectUpdate) -> StoreResult<Project> {
        projects::update_project(&self.writer, id, update).await
    }

    async fn delete_project(&self, id: ProjectId) -> StoreResult<()> {
        projects::delete_project(&self.writer, id).await
    }

    async fn members(&self, project: ProjectId) -> StoreResult<Vec<Member>> {
        projects::members(&self.reader, project).await
    }

    async fn member_role(&self, project: ProjectId, user: UserId) -> StoreResult<Option<Role>> {
        projects::member_role(&self.reader, project, user).await
    }

    async fn add_member(&self, project: ProjectId, user: UserId, role: Role) -> StoreResult<Member> {
        projects::add_member(self.write().await?, project, user, role).await
    }

    async fn set_member_role(&self, project: ProjectId, user: UserId, role: Role) -> StoreResult<Member> {
        projects::set_member_role(self.write().await?, project, user, role).await
    }

    async fn remove_member(&self, project: ProjectId, user: UserId) -> StoreResult<()> {
        projects::remove_member(&self.writer, project, user).await
    }

    async fn create_notebook(&self, notebook: &NewNotebook) -> StoreResult<NotebookRow> {
        projects::create_notebook(&self.writer, notebook).await
    }

    async fn notebook(&self, id: NotebookId) -> StoreResult<Option<NotebookRow>> {
        projects::notebook(&self.reader, id).await
    }

    async fn notebooks_in(&self, project: ProjectId) -> StoreResult<Vec<NotebookRow>> {
        projects::notebooks_in(&self.reader, project).await
    }

    async fn rename_notebook(&self, id: NotebookId, name: &str, actor: UserId) -> StoreResult<NotebookRow> {
        projects::rename_notebook(self.write().await?, id, name, actor).await
    }

    async fn set_notebook_mode(
        &self,
        id: NotebookId,
        mode: NotebookMode,
        actor: UserId,
    ) -> StoreResult<NotebookRow> {
        projects::set_notebook_mode(self.write().await?, id, mode, actor).await
    }

    async fn delete_notebook(&self, id: NotebookId, actor: UserId) -> StoreResult<()> {
        projects::delete_notebook(self.write().await?, id, actor).await
    }

    async fn block_notebook(
        &self,
        id: NotebookId,
        holder: UserId,
        at: Timestamp,
    ) -> StoreResult<NotebookRow> {
        projects::block_notebook(self.write().await?, id, holder, at).await
    }

    async fn unblock_notebook(&self, id: NotebookId, holder: UserId) -> StoreResult<NotebookRow> {
        projects::unblock_notebook(self.write().await?, id, holder).await
    }

    async fn set_others_may_run(
        &self,
        id: NotebookId,
        allowed: bool,
        actor: UserId,
    ) -> StoreResult<NotebookRow> {
        projects::set_others_may_run(self.write().await?, id, allowed, actor).await
    }

    async fn append_updates(&self, updates: &[NewUpdate]) -> StoreResult<Vec<Seq>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        log::append_updates(self.write().await?, updates).await
    }

    async fn client_bindings(&self, notebook: NotebookId) -> StoreResult<Vec<ClientBinding>> {
        log::client_bindings_of(&self.reader, notebook).await
    }

    async fn load_document(&self, notebook: NotebookId) -> StoreResult<StoredDocument> {
        log::load_document(&self.reader, notebook).await
    }

    async fn latest_checkpoint(&self, notebook: NotebookId) -> StoreResult<Option<Checkpoint>> {
        log::latest_checkpoint(&self.reader, notebook).await
    }

    async fn updates_between(
        &self,
        notebook: NotebookId,
        after: Seq,
        upto: Option<Seq>,
    ) -> StoreResult<Vec<LoggedUpdate>> {
        Ok(log::updates_between(&self.reader, notebook, after, upto).await?)
    }

    async fn write_checkpoint(&self, notebook: NotebookId, seq: Seq, state: &[u8]) -> StoreResult<()> {
        log::write_checkpoint(self.write().await?, notebook, seq, state).await
    }

    async fn last_seq(&self, notebook: NotebookId) -> StoreResult<Seq> {
        log::last_seq(&self.reader, notebook).await
    }

    async fn history_progress(&self, notebook: NotebookId) -> StoreResult<Seq> {
        history::history_progress(&self.reader, notebook).await
    }

    async fn write_history(&self, batch: &HistoryBatch) -> StoreResult<bool> {
        history::write_history(self.write().await?, batch).await
    }

    async fn history_events(
        &self,
        notebook: NotebookId,
        filter: &HistoryFilter,
    ) -> StoreResult<Vec<HistoryEventRow>> {
        history::history_events(&self.reader, notebook, filter).await
    }

    async fn history_events_since(
        &self,
        notebook: NotebookId,
        since: Timestamp,
    ) -> StoreResult<Vec<HistoryEventRow>> {
        history::history_events_since(&self.reader, notebook, since).await
    }

    async fn clock_spans(
        &self,
        notebook: NotebookId,
        deleted: bool,
        client: u64,
        from: u32,
        to: u32,
    ) -> StoreResult<Vec<ClockSpan>> {
        history::clock_spans(&self.reader, notebook, deleted, client, from, to).await
    }

    async fn update_meta(&self, notebook: NotebookId, seqs: &[Seq]) -> StoreResult<Vec<UpdateMeta>> {
        history::update_meta(&self.reader, notebook, seqs).await
    }

    async fn spans_between(
        &self,
        notebook: NotebookId,
        from: Seq,
        to: Seq,
    ) -> StoreResult<Vec<(bool, ClockSpan)>> {
        history::spans_between(&self.reader, notebook, from, to).await
    }

    async fn mark_undone(
        &self,
        notebook: NotebookId,
        first_seq: Seq,
        part: i32,
        user: UserId,
        at: Timestamp,
    ) -> StoreResult<()> {
        history::mark_undone(&self.writer, notebook, first_seq, part, user, at).await
    }

    async fn undone_events(&self, notebook: NotebookId, user: UserId) -> StoreResult<Vec<(Seq, i32)>> {
        history::undone_events(&self.reader, notebook, user).await
    }

    async fn seq_at(&self, notebook: NotebookId, at: Timestamp) -> StoreResult<Seq> {
        history::seq_at(&self.reader, notebook, at).await
    }

    async fn nearest_state(&self, notebook: NotebookId, upto: Seq) -> StoreResult<Option<Checkpoint>> {
        history::nearest_state(&self.reader, notebook, upto).await
    }

    async fn create_execution(&self, new: &NewExecution) -> StoreResult<ExecutionRecord> {
        executions::create_execution(&self.writer, new).await
    }

    async fn execution_started(&self, id: ExecutionId, at: Timestamp) -> StoreResult<()> {
        executions::execution_started(self.write().await?, id, at).await
    }

    async fn execution_finished(
        &self,
        id: ExecutionId,
        status: ExecutionStatus,
        execution_count: Option<i64>,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()> {
        executions::execution_finished(self.write().await?, id, status, execution_count, error, at).await
    }

    async fn execution(&self, id: ExecutionId) -> StoreResult<Option<ExecutionRecord>> {
        executions::execution(&self.reader, id).await
    }

    async fn executions(
        &self,
        notebook: NotebookId,
        filter: &ExecutionFilter,
    ) -> StoreResult<Vec<ExecutionRecord>> {
        executions::executions(&self.reader, notebook, filter).await
    }

    async fn abort_unfinished_executions(&self, reason: &str, at: Timestamp) -> StoreResult<u64> {
        executions::abort_unfinished_executions(&self.writer, reason, at).await
    }

    async fn file_entry(&self, project: ProjectId, path: &FilePath) -> StoreResult<Option<FileEntry>> {
        files::file_entry(&self.reader, project, path).await
    }

    async fn list_files(
        &self,
        project: ProjectId,
        folder: Option<&FilePath>,
        recursive: bool,
    ) -> StoreResult<Vec<FileEntry>> {
        files::list_files(&self.reader, project, folder, recursive).await
    }

    async fn file_content(
        &self,
        project: ProjectId,
        path: &FilePath,
    ) -> StoreResult<Option<(FileEntry, Vec<u8>)>> {
        files::file_content(&self.reader, project, path).await
    }

    async fn write_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        content: &FileContent,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileWritten> {
        files::write_file(self.write().await?, project, path, content, actor, at).await
    }

    async fn create_folder(
        &self,
        project: ProjectId,
        path: &FilePath,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileEntry> {
        files::create_folder(self.write().await?, project, path, actor, at).await
    }

    async fn move_file(
        &self,
        project: ProjectId,
        from: &FilePath,
        to: &FilePath,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileEntry> {
        files::move_file(self.write().await?, project, from, to, actor, at).await
    }

    async fn copy_file(
        &self,
        project: ProjectId,
        from: &FilePath,
        to: &FilePath,
        actor: UserId,
        at: Timestamp,
    ) -> StoreResult<FileEntry> {
        files::copy_file(self.write().await?, project, from, to, actor, at).await
    }

    async fn delete_file(&self, project: ProjectId, path: &FilePath, actor: UserId) -> StoreResult<u64> {
        files::delete_file(self.write().await?, project, path, actor).await
    }

    async fn block_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        holder: UserId,
        reason: BlockReason,
        at: Timestamp,
    ) -> StoreResult<FileEntry> {
        files::block_file(self.write().await?, project, path, holder, reason, at).await
    }

    async fn unblock_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        holder: UserId,
        reason: BlockReason,
    ) -> StoreResult<FileEntry> {
        files::unblock_file(self.write().await?, project, path, holder, reason).await
    }

    async fn release_console_blocks(&self) -> StoreResult<u64> {
        files::release_console_blocks(self.write().await?).await
    }

    async fn create_job(&self, new: &NewJob) -> StoreResult<JobRecord> {
        jobs::create_job(self.write().await?, new).await
    }

    async fn job(&self, id: JobId) -> StoreResult<Option<JobRecord>> {
        jobs::job(&self.reader, id).await
    }

    async fn jobs_in(&self, project: ProjectId) -> StoreResult<Vec<JobRecord>> {
        jobs::jobs_in(&self.reader, project).await
    }

    async fn job_started(&self, id: JobId, at: Timestamp) -> StoreResult<()> {
        jobs::job_started(self.write().await?, id, at).await
    }

    async fn add_job_files(&self, id: JobId, paths: &[String]) -> StoreResult<()> {
        jobs::add_job_files(self.write().await?, id, paths).await
    }

    async fn job_ended(
        &self,
        id: JobId,
        state: JobState,
        exit_code: Option<i32>,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()> {
        jobs::job_ended(self.write().await?, id, state, exit_code, error, at).await
    }

    async fn delete_job(&self, id: JobId) -> StoreResult<()> {
        jobs::delete_job(&self.writer, id).await
    }

    async fn jobs_holding(&self, project: ProjectId, path: &str) -> StoreResult<Vec<JobId>> {
        jobs::jobs_holding(&self.reader, project, path).await
    }

    async fn abort_unfinished_jobs(&self, reason: &str, at: Timestamp) -> StoreResult<u64> {
        jobs::abort_unfinished_jobs(&self.writer, reason, at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_bare_paths_name_the_same_file() {
        assert_eq!(path_from_url("sqlite://data/talkbook.db"), PathBuf::from("data/talkbook.db"));
        assert_eq!(path_from_url("sqlite:///var/lib/t.db"), PathBuf::from("/var/lib/t.db"));
        assert_eq!(path_from_url("sqlite:t.db?mode=rwc"), PathBuf::from("t.db"));
        assert_eq!(path_from_url("./t.db"), PathBuf::from("./t.db"));
    }
}
