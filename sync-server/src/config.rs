//! Server configuration, from flags and `TALKBOOK_*` environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of `talkbook serve` (and of the commands that open the database).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "TALKBOOK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    #[command(flatten)]
    pub db: DbConfig,

    /// Largest WebSocket message accepted, in bytes (larger ones close with 4413).
    #[arg(long, env = "TALKBOOK_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_message_bytes: usize,

    /// Messages queued for one connection before it is closed with 4429 as too slow.
    #[arg(long, env = "TALKBOOK_OUTBOUND_QUEUE", default_value_t = 4096)]
    pub outbound_queue: usize,

    /// Seconds between WebSocket pings; a connection that misses two pongs is closed.
    #[arg(long, env = "TALKBOOK_PING_SECONDS", default_value_t = 30)]
    pub ping_seconds: u64,

    /// Seconds a room stays in memory after its last client leaves.
    #[arg(long, env = "TALKBOOK_ROOM_GRACE_SECONDS", default_value_t = 30)]
    pub room_grace_seconds: u64,

    /// Write a checkpoint after this many updates to a busy notebook (one whose state is
    /// over 64 KiB also waits until they add up to its size, so a load replays at most that
    /// much log).
    #[arg(long, env = "TALKBOOK_CHECKPOINT_EVERY", default_value_t = 1000)]
    pub checkpoint_every: u64,

    /// Write a checkpoint after a notebook has been quiet this many seconds.
    #[arg(long, env = "TALKBOOK_CHECKPOINT_IDLE_SECONDS", default_value_t = 10)]
    pub checkpoint_idle_seconds: u64,

    /// Lifetime of a sign-in session, in hours.
    #[arg(long, env = "TALKBOOK_SESSION_HOURS", default_value_t = 24 * 14)]
    pub session_hours: u64,

    /// Largest `.ipynb` accepted by import, in bytes.
    #[arg(long, env = "TALKBOOK_MAX_IMPORT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_import_bytes: usize,

    /// Largest project file an upload may store, in bytes; larger uploads are refused with
    /// 413 and store nothing. At most 1000000000, the largest value both databases keep.
    #[arg(long, env = "TALKBOOK_MAX_FILE_BYTES", default_value_t = 100 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000_000))]
    pub max_file_bytes: u64,

    /// Kernels one user may have running at once (SPEC §8); the next start is refused
    /// with 429.
    #[arg(long, env = "TALKBOOK_MAX_KERNELS_PER_USER", default_value_t = 4)]
    pub max_kernels_per_user: usize,

    /// Kernels the server may have running at once; the next start is refused with 503.
    #[arg(long, env = "TALKBOOK_MAX_KERNELS", default_value_t = 32)]
    pub max_kernels: usize,

    /// Shut down a kernel after it has been idle this many seconds (0: never).
    #[arg(long, env = "TALKBOOK_KERNEL_IDLE_SECONDS", default_value_t = 3600)]
    pub kernel_idle_seconds: u64,

    /// Output bytes one run may leave in its cell; the rest is dropped with a visible note.
    #[arg(long, env = "TALKBOOK_MAX_OUTPUT_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_output_bytes: usize,

    /// Seconds a console holding a file stays open with nobody listening to it (its
    /// owner disconnected); then it closes and the file is free again.
    #[arg(long, env = "TALKBOOK_CONSOLE_GRACE_SECONDS", default_value_t = 300)]
    pub console_grace_seconds: u64,

    /// Background jobs one user may have running at once; more wait queued.
    #[arg(long, env = "TALKBOOK_MAX_JOBS_PER_USER", default_value_t = 2)]
    pub max_jobs_per_user: usize,

    /// Runs one kernel may have queued or running (at least 1); more are refused with 429.
    #[arg(long, env = "TALKBOOK_MAX_QUEUED_RUNS", default_value_t = 100)]
    pub max_queued_runs: usize,

    /// In the history, a user's consecutive edits to the same part of one cell are one
    /// event while less than this many seconds apart (e.g. a burst of typing).
    #[arg(long, env = "TALKBOOK_HISTORY_GROUP_SECONDS", default_value_t = 60)]
    pub history_group_seconds: u64,

    /// Tests only: read the time stamped on history from this file (RFC 3339) instead of
    /// the system clock, so a test can build a notebook over a simulated day.
    #[arg(long, env = "TALKBOOK_CLOCK_FILE", hide = true)]
    pub clock_file: Option<PathBuf>,

    /// Benchmarks only: apply client updates without the permission checks of SPEC §6, to
    /// measure what the checks cost. Never use this for real work: anyone may then change
    /// anything and forge anyone's authorship.
    #[arg(long, env = "TALKBOOK_BENCH_SKIP_UPDATE_CHECKS", hide = true)]
    pub bench_skip_update_checks: bool,
}

/// Where the data lives; shared by every command that opens the database.
#[derive(Debug, Clone, clap::Args)]
pub struct DbConfig {
    /// Database URL: `postgres://USER@HOST/DB` or `sqlite://PATH`. Default: SQLite in the
    /// data directory.
    #[arg(long = "database", env = "TALKBOOK_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory for the embedded database and other local data.
    #[arg(long, env = "TALKBOOK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl DbConfig {
    /// The database URL to open: the configured one, else SQLite in the data directory.
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("talkbook.db").display()),
        }
    }
}

impl ServeConfig {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_seconds.max(1))
    }

    pub fn room_grace(&self) -> Duration {
        Duration::from_secs(self.room_grace_seconds)
    }

    /// The clock history is stamped with.
    pub fn clock(&self) -> crate::clock::Clock {
        self.clock_file.clone().map_or_else(crate::clock::Clock::system, crate::clock::Clock::from_file)
    }

    pub fn history_gap(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.history_group_seconds.min(i64::MAX as u64 / 1000) as i64)
    }

    pub fn checkpoint_idle(&self) -> Duration {
        Duration::from_secs(self.checkpoint_idle_seconds.max(1))
    }

    /// The kernel settings; kernels work in `<data dir>/projects/<project id>`.
    pub fn kernels(&self) -> crate::kernels::KernelConfig {
        crate::kernels::KernelConfig {
            per_user: self.max_kernels_per_user,
            per_server: self.max_kernels,
            idle_timeout: (self.kernel_idle_seconds > 0)
                .then(|| Duration::from_secs(self.kernel_idle_seconds)),
            max_output_bytes: self.max_output_bytes.max(1),
            max_queued: self.max_queued_runs.max(1),
            work_root: self.db.data_dir.join("projects"),
            console_grace: Duration::from_secs(self.console_grace_seconds.max(1)),
            max_file_bytes: self.max_file_bytes,
        }
    }

    /// The job runner's settings; jobs work in `<data dir>/projects/<project id>/job-<id>`.
    pub fn jobs(&self) -> crate::jobs::JobsConfig {
        crate::jobs::JobsConfig {
            per_user: self.max_jobs_per_user.max(1),
            work_root: self.db.data_dir.join("projects"),
            max_file_bytes: self.max_file_bytes,
        }
    }

    pub fn session_lifetime(&self) -> chrono::Duration {
        chrono::Duration::hours(self.session_hours.min(24 * 365) as i64)
    }
}
