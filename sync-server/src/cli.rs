//! Command-line interface of the `talkbook` binary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli_admin::{self, ExportArgs, ImportArgs, TokenCommand, UserCommand};
use crate::config::{DbConfig, ServeConfig};
use crate::convert::{self, Format};

/// Talkbook: real-time collaborative notebooks on Yjs, with per-author Jupyter kernels.
#[derive(Debug, Parser)]
#[command(
    name = "talkbook",
    version,
    about = "Talkbook: real-time collaborative notebooks on Yjs. Each cell records its author; every edit is kept.",
    after_help = "Start with `talkbook serve`; every command reads TALKBOOK_* environment variables (see each --help)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sync server (HTTP API + WebSocket).
    ///
    /// With no database configured, everything is kept in SQLite under the data directory
    /// (`./data/talkbook.db`). The first start on an empty database creates an `admin`
    /// account and prints how to sign in.
    Serve(ServeConfig),
    /// Convert a notebook between .ipynb and a Yjs update file (.yjs).
    ///
    /// The formats are taken from the file extensions unless given with --from/--to;
    /// `-` reads standard input or writes standard output (then the flag is required).
    /// Authorship is kept: .ipynb cells' `metadata.talkbook` becomes the document's
    /// provenance map and the other way round.
    #[command(
        after_help = "Examples:\n  talkbook convert analysis.ipynb analysis.yjs\n  talkbook convert analysis.yjs analysis.ipynb\n  talkbook convert --from yjs --to ipynb - - < doc.bin > doc.ipynb"
    )]
    Convert {
        /// Input file (`-` for standard input).
        input: PathBuf,
        /// Output file (`-` for standard output).
        output: PathBuf,
        /// Input format, when the extension does not say.
        #[arg(long, value_enum)]
        from: Option<Format>,
        /// Output format, when the extension does not say.
        #[arg(long, value_enum)]
        to: Option<Format>,
    },
    /// Create or upgrade the database schema, then exit (`serve` also does this on start).
    Migrate {
        #[command(flatten)]
        db: DbConfig,
    },
    /// Manage user accounts: add, list, passwd.
    #[command(subcommand)]
    User(UserCommand),
    /// Create personal API tokens for scripts.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Import an .ipynb file as a new notebook of a project; prints the notebook's id.
    ///
    /// The importing user becomes the author of every cell. Invalid notebooks are refused
    /// with the problem and its JSON path.
    Import(ImportArgs),
    /// Export a notebook as an nbformat 4.5 .ipynb file, with each cell's authorship under
    /// `metadata.talkbook`.
    Export(ExportArgs),
    /// A notebook's history as readable events, oldest first: cells created, deleted and
    /// moved, sources edited, outputs of runs, metadata, mode and blocks, with who and when.
    History(crate::cli_history::HistoryArgs),
    /// Who wrote each line of a cell, when, and who else touched it.
    Blame(crate::cli_history::BlameArgs),
}

/// Runs the command line; errors are printed as one readable message.
pub fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(config) => crate::serve::serve(config),
        Command::Convert { input, output, from, to } => {
            convert::run(&convert::Request { input, output, from, to })
        }
        Command::Migrate { db } => cli_admin::migrate(&db),
        Command::User(command) => cli_admin::user(command),
        Command::Token(command) => cli_admin::token(command),
        Command::Import(args) => cli_admin::import(args),
        Command::Export(args) => cli_admin::export(args),
        Command::History(args) => crate::cli_history::history(args),
        Command::Blame(args) => crate::cli_history::blame(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TALKBOOK_LOG")
        // The ZeroMQ library reports every kernel socket it loses (a kernel shut down or
        // restarted) as a reconnect warning; the bridge reports what matters itself.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,zeromq=error"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
