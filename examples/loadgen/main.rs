//! `loadgen`: a load generator for any server speaking the y-websocket protocol (Talkbook or
//! another Yjs server), with the scenarios of SPEC §11.
//!
//! Each run prints one JSON line of figures on stdout; progress goes to stderr. Modules:
//! [`client`] (one WebSocket client task) on [`replica`] (its yrs document and y-sync
//! handling, no IO); [`notebook`] (the edits, on the jupyter_ydoc layout) and [`marker`]
//! (how receivers recognise timed edits); [`tracker`] and [`stats`] (latency figures);
//! [`procstat`] (server CPU and memory); [`api`] (`--talkbook-api` set-up); [`scenarios`].
//! README.md beside this file lists the scenarios, their figures and how to run them.
//!
//! ```text
//! cargo run --release --example loadgen -p sync-server -- --url ws://127.0.0.1:1234 \
//!     fanout --clients 50 --rate 200 --duration 20s --server-pid "$SERVER_PID"
//! ```

mod api;
mod client;
mod marker;
mod notebook;
mod procstat;
mod replica;
mod scenarios;
mod stats;
mod tracker;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::api::TalkbookApi;
use crate::client::Target;
use crate::scenarios::Context;
use crate::scenarios::bigdoc::BigdocArgs;
use crate::scenarios::fanout::FanoutArgs;
use crate::scenarios::rooms::RoomsArgs;
use crate::scenarios::throughput::ThroughputArgs;

/// Time kept back from `--max-seconds` for closing connections and printing figures.
const WIND_DOWN: Duration = Duration::from_secs(3);

/// Load generator for y-websocket servers: prints one JSON line of figures per run.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Server base URL; a room is reached at `{url}/{room}`, as y-websocket clients do
    /// (Talkbook: ws://HOST:PORT/ws).
    #[arg(long, global = true, default_value = "ws://127.0.0.1:1234")]
    url: String,
    /// Access token, sent as `Authorization: Bearer` and as `?token=`.
    #[arg(long, global = true, env = "LOADGEN_TOKEN")]
    token: Option<String>,
    /// Pid of the server process, to report its CPU time and memory (Linux /proc).
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// The whole run stops after this many seconds.
    #[arg(long, global = true, default_value_t = 120)]
    max_seconds: u64,
    /// Talkbook HTTP API base (e.g. http://127.0.0.1:8080): create a project and the
    /// notebooks first and use their ids as rooms.
    #[arg(long, global = true)]
    talkbook_api: Option<String>,
    /// fanout, throughput: write every timed edit to this CSV file (rate, send time in Unix
    /// microseconds, ms until the first and the last other client had it), to find out
    /// when slow edits happen.
    #[arg(long, global = true)]
    timeline: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N clients in one room editing at a total rate: edit-to-everyone latency.
    Fanout(FanoutArgs),
    /// Raise the rate until p99 latency passes a limit: highest sustained rate.
    Throughput(ThroughputArgs),
    /// Many rooms with a few clients each: connect+sync latency, server memory per room.
    Rooms(RoomsArgs),
    /// A long edit history: time for a new client to load it from a cold server.
    Bigdoc(BigdocArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(figures) => {
            emit(&figures);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Value> {
    let Common { url, token, server_pid, max_seconds, talkbook_api, timeline } = cli.common;
    let limit = Duration::from_secs(max_seconds);
    let deadline = Instant::now() + limit.saturating_sub(WIND_DOWN);
    let api = talkbook_api.map(|base| TalkbookApi::new(&base, token.clone())).transpose()?;
    let ctx = Context::new(Target { base_url: url, token }, server_pid, deadline, api, timeline);
    let scenario = async {
        match &cli.scenario {
            Scenario::Fanout(args) => scenarios::fanout::run(&ctx, args).await,
            Scenario::Throughput(args) => scenarios::throughput::run(&ctx, args).await,
            Scenario::Rooms(args) => scenarios::rooms::run(&ctx, args).await,
            Scenario::Bigdoc(args) => scenarios::bigdoc::run(&ctx, args).await,
        }
    };
    tokio::time::timeout(limit, scenario)
        .await
        .map_err(|_| anyhow!("stopped by --max-seconds {max_seconds}"))?
}

/// Prints the run's figures: stdout is this tool's output, one JSON line per run.
#[allow(clippy::print_stdout)]
fn emit(figures: &Value) {
    println!("{figures}");
}
