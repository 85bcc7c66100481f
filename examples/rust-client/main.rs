//! A minimal Talkbook client in Rust: joins a notebook over the y-websocket protocol,
//! prints its cells with their authors, adds a code cell, runs it (`--run`) and follows
//! live changes, printing the cell's outputs as the kernel sends them.
//!
//! ```sh
//! cargo run -p sync-server --example rust-client -- \
//!     --url ws://127.0.0.1:8080/ws --notebook 1 --token tb_... --run
//! ```
//!
//! It uses `doc-model` for the notebook layout (the same one jupyter_ydoc uses) and
//! yrs's own sync messages; the server does the rest. The run is asked for over HTTP
//! (`POST /api/notebooks/{id}/cells/{cell}/run`) once the server has recorded the new
//! cell's author, which is how the client knows the cell is stored.

#![allow(clippy::print_stdout)] // printing the notebook is what this example is for

#[path = "../loadgen/api.rs"]
#[allow(dead_code)] // shared with the load generator, which uses the rest
mod api;

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use doc_model::{Cell, NotebookDoc};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::encoding::read::Cursor;
use yrs::sync::{Message, MessageReader, SyncMessage};
use yrs::updates::decoder::DecoderV1;
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, Transact};

#[derive(Debug, Parser)]
struct Args {
    /// The server's WebSocket base URL.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// Notebook id (the room).
    #[arg(long)]
    notebook: String,
    /// A personal token (`talkbook token create USER`).
    #[arg(long, env = "TALKBOOK_TOKEN")]
    token: String,
    /// Source of the cell to add.
    #[arg(long, default_value = "print('hello from Rust')")]
    source: String,
    /// Seconds to keep following changes after adding the cell (0 = forever; with
    /// `--run`, until the run has finished).
    #[arg(long, default_value_t = 0)]
    follow: u64,
    /// Run the new cell and print its outputs as they arrive.
    #[arg(long)]
    run: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = format!("{}/{}?token={}", args.url, args.notebook, args.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .with_context(|| format!("cannot connect to {}", args.url))?;
    let doc = NotebookDoc::new();

    // Sync step 1: tell the server what we have (nothing); it answers with step 2.
    let sv = doc.doc().transact().state_vector();
    ws.send(WsMessage::binary(Message::Sync(SyncMessage::SyncStep1(sv)).encode_v1())).await?;
    loop {
        let frame = ws.next().await.context("server closed the connection")??;
        if handle(&doc, &mut ws, frame).await? {
            break;
        }
    }
    print_cells(&doc);

    // Add a code cell; the server records us as its author.
    let cell = Cell::code(args.source.as_str());
    let ((), update) = doc.edit(|ed| ed.push_cell(&cell))?;
    ws.send(WsMessage::binary(Message::Sync(SyncMessage::Update(update)).encode_v1())).await?;
    println!("added cell {}", cell.id);
    let mut run = args.run.then(|| Run { cell: cell.id.clone(), asked: false, seen: String::new() });

    let deadline = (args.follow > 0).then(|| tokio::time::Instant::now() + Duration::from_secs(args.follow));
    loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, ws.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => ws.next().await,
        };
        let Some(frame) = next else { break };
        if !handle(&doc, &mut ws, frame?).await? {
            continue;
        }
        let Some(run) = run.as_mut() else {
            print_cells(&doc);
            continue;
        };
        if !run.asked && doc.provenance_of(run.cell.as_str()).is_some() {
            let api = api::TalkbookApi::new(&http_base(&args.url)?, Some(args.token.clone()))?;
            let record = api.run_cell(&args.notebook, run.cell.as_str()).await?;
            println!("run {} queued on kernel {}", record["id"], record["kernel_id"]);
            run.asked = true;
        }
        if run.asked && run.progress(&doc) {
            break;
        }
    }
    ws.close(None).await.ok();
    Ok(())
}

/// Handles one frame; returns true when the document changed.
async fn handle<S>(doc: &NotebookDoc, ws: &mut S, frame: WsMessage) -> anyhow::Result<bool>
where
    S: futures_util::Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    let data = match frame {
        WsMessage::Binary(data) => data,
        WsMessage::Close(frame) => bail!("server closed the connection: {frame:?}"),
        _ => return Ok(false),
    };
    let mut changed = false;
    let mut decoder = DecoderV1::new(Cursor::new(&data));
    for message in MessageReader::new(&mut decoder) {
        match message? {
            // The server asks what it lacks: answer with our changes since its state.
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                let diff = doc.encode_diff(&sv.encode_v1())?;
                ws.send(WsMessage::binary(Message::Sync(SyncMessage::SyncStep2(diff)).encode_v1())).await?;
            }
            Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) => {
                doc.apply_update(&update)?;
                changed = true;
            }
            Message::Auth(Some(reason)) => eprintln!("server refused an edit: {reason}"),
            _ => {}
        }
    }
    Ok(changed)
}

fn print_cells(doc: &NotebookDoc) {
    let notebook = doc.read();
    let authors = doc.provenance();
    println!("--- {} cells", notebook.cells.len());
    for cell in &notebook.cells {
        let author = authors.get(&cell.id).map_or("?", |p| p.author_name.as_str());
        let first_line = cell.source.lines().next().unwrap_or_default();
        println!("[{}] {:<8} {author:>10}: {first_line}", cell.id, cell.kind.as_str());
    }
}

/// A run this client asked for, followed until it has finished.
struct Run {
    cell: doc_model::CellId,
    asked: bool,
    /// The outputs already printed, as text.
    seen: String,
}

impl Run {
    /// Prints what is new in the cell's outputs; true once the run has finished.
    fn progress(&mut self, doc: &NotebookDoc) -> bool {
        let notebook = doc.read();
        let Some(cell) = notebook.cells.iter().find(|c| c.id == self.cell) else { return false };
        let text: String = cell.outputs.iter().map(output_text).collect();
        if let Some(new) = text.strip_prefix(self.seen.as_str()) {
            print!("{new}");
        } else {
            print!("{text}");
        }
        self.seen = text;
        let state = doc.execution_state(&self.cell);
        let finished = cell.execution_count.is_some() && state == Some(doc_model::ExecutionState::Idle);
        if finished {
            println!("[{}] finished", cell.execution_count.unwrap_or_default());
        }
        finished
    }
}

/// What a terminal shows of an output.
fn output_text(output: &doc_model::Output) -> String {
    match output {
        doc_model::Output::Stream { text, .. } => text.clone(),
        doc_model::Output::ExecuteResult { data, .. } | doc_model::Output::DisplayData { data, .. } => {
            let plain = data.get("text/plain").map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
                other => other.to_string(),
            });
            format!("{}\n", plain.unwrap_or_else(|| "<rich output>".into()))
        }
        doc_model::Output::Error { ename, evalue, .. } => format!("{ename}: {evalue}\n"),
    }
}

/// `ws://host:port/ws` → `http://host:port`.
fn http_base(ws_url: &str) -> anyhow::Result<String> {
    let rest = ws_url.strip_prefix("ws://").context("--url must start with ws:// to run cells")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    Ok(format!("http://{authority}"))
}
