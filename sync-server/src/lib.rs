//! Talkbook's server: the `talkbook` command line and the HTTP + WebSocket sync service.
//!
//! - [`cli`] parses the command line and dispatches subcommands; [`config`] holds settings.
//! - [`app`] builds the axum application and runs it with ordered shutdown.
//! - [`ws`] speaks the y-websocket protocol; [`rooms`] keeps one live document per open
//!   notebook, durable before broadcast through group commit.
//! - [`store`] is the storage interface with its PostgreSQL and SQLite backends.
//! - [`api`] is the JSON API; [`auth`] resolves tokens, sessions and passwords.
//! - [`convert`] moves notebooks between `.ipynb` and Yjs update files.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod convert;
pub mod error;
pub mod metrics;
pub mod rooms;
pub mod serve;
pub mod store;
pub mod ws;
