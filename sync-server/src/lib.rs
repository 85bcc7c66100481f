//! Talkbook's server: the `talkbook` command line and the HTTP + WebSocket sync service.
//!
//! - [`cli`] parses the command line and dispatches subcommands; [`config`] holds settings.
//! - [`app`] builds the axum application and runs it with ordered shutdown.
//! - [`ws`] speaks the y-websocket protocol; [`rooms`] keeps one live document per open
//!   notebook, durable before broadcast through group commit.
//! - [`store`] is the storage interface with its PostgreSQL and SQLite backends.
//! - [`api`] is the JSON API; [`auth`] resolves tokens, sessions and passwords;
//!   [`access`] decides who may read or change a project or notebook.
//! - [`accounts`], [`names`] and [`notebooks`] hold the rules and steps the API and the
//!   admin commands ([`cli_admin`]) share: users and tokens, valid names, creating,
//!   importing and exporting notebooks.
//! - [`kernels`] routes cell runs to Jupyter kernels (through `kernel-bridge`) and writes
//!   their outputs into the documents.
//! - [`files`] holds the rules for project files: valid paths, media types, zip archives.
//! - [`convert`] moves notebooks between `.ipynb` and Yjs update files.

pub mod access;
pub mod accounts;
pub mod api;
pub mod app;
pub mod auth;
pub mod background;
pub mod cli;
pub mod cli_admin;
pub mod cli_history;
pub mod clock;
pub mod config;
pub mod convert;
pub mod error;
pub mod files;
pub mod history;
pub mod jobs;
pub mod kernels;
pub mod metrics;
pub mod names;
pub mod notebooks;
pub mod rooms;
pub mod serve;
pub mod state_writes;
pub mod store;
pub mod ws;
