//! `bigdoc`: a notebook with a long edit history, and how long a new client takes to load it
//! from a cold server.
//!
//! `--phase fill` types the edits (each its own update, pipelined, as keystrokes arrive),
//! confirms the server has them all and records the document's state vector in
//! `--state-file`. The caller then restarts the server; `--phase load` connects a fresh
//! client and times it until its state vector covers the recorded one.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use yrs::StateVector;
use yrs::updates::decoder::Decode as _;
use yrs::updates::encoder::Encode as _;

use super::Context;
use crate::client::{self, Options};
use crate::procstat;
use crate::stats::round3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    Fill,
    Load,
}

#[derive(Debug, clap::Args)]
pub struct BigdocArgs {
    #[arg(long, value_enum)]
    phase: Phase,
    /// Where `fill` records the room and state vector for `load`.
    #[arg(long)]
    state_file: PathBuf,
    /// Room name (with --talkbook-api: the notebook's name) for `fill`; `load` takes the
    /// room from the state file unless this is given.
    #[arg(long)]
    room: Option<String>,
    /// Edits `fill` makes.
    #[arg(long, default_value_t = 100_000)]
    edits: u64,
    /// How long `load` waits for the whole document before reporting it incomplete.
    #[arg(long, default_value = "60s", value_parser = super::parse_duration)]
    load_timeout: Duration,
    /// `fill` starts a new code cell every this many edits.
    #[arg(long, default_value_t = 1000)]
    cell_every: u64,
}

/// How many Yjs clock ticks (inserted items, roughly edits) `want` has that `have` lacks.
fn missing_clocks(have: &StateVector, want: &StateVector) -> u64 {
    want.iter().map(|(client, clock)| u64::from(clock.saturating_sub(have.get(client)))).sum()
}

fn ms(from: Instant, to: Instant) -> Value {
    json!(round3(to.saturating_duration_since(from).as_secs_f64() * 1000.0))
}

pub async fn run(ctx: &Context, args: &BigdocArgs) -> anyhow::Result<Value> {
    match args.phase {
        Phase::Fill => fill(ctx, args).await,
        Phase::Load => load(ctx, args).await,
    }
}

async fn fill(ctx: &Context, args: &BigdocArgs) -> anyhow::Result<Value> {
    let name = args.room.clone().unwrap_or_else(|| "loadgen-bigdoc".into());
    let room = ctx.rooms(vec![name]).await?.remove(0);
    let options = Options { index: 0, room: room.clone(), timed: None, expect: None };
    let watches = procstat::watch_both(ctx.server_pid)?;
    let writer = client::connect(&ctx.target, options).await?;
    eprintln!("loadgen: bigdoc: typing {} edits into {}", args.edits, ctx.target.display_url(&room));

    let typing = writer.client.type_edits(args.edits, args.cell_every, format!("lg{}", ctx.run));
    let typed = tokio::time::timeout(ctx.remaining(), typing)
        .await
        .map_err(|_| anyhow!("typing did not finish in time"))??;
    // The answer to a sync step 1 sent after the last edit comes after the server has
    // handled every edit before it on this connection.
    let acked = tokio::time::timeout(ctx.remaining(), writer.client.round_trip())
        .await
        .map_err(|_| anyhow!("server did not answer in time"))??;
    let (state_vector, doc_bytes) = writer.client.snapshot().await?;

    // A second, fresh client proves the server really holds it all (and times a warm load).
    let check = Options { index: 1, room: room.clone(), timed: None, expect: Some(state_vector.clone()) };
    let reader = client::connect(&ctx.target, check).await?;
    let status = reader
        .client
        .wait_for(|s| s.covered_at.is_some(), ctx.remaining())
        .await
        .context("server lacks edits")?;
    let covered = status.covered_at.ok_or_else(|| anyhow!("covered without a time"))?;

    let state = json!({
        "room": room,
        "edits": args.edits,
        "state_vector": BASE64.encode(state_vector.encode_v1()),
        "doc_bytes": doc_bytes,
    });
    std::fs::write(&args.state_file, state.to_string())
        .with_context(|| format!("writing {}", args.state_file.display()))?;

    let mut out = ctx.header("bigdoc");
    out.insert("phase".into(), json!("fill"));
    out.insert("room".into(), json!(room));
    out.insert("edits".into(), json!(args.edits));
    out.insert("send_ms".into(), ms(writer.synced, typed));
    out.insert("fill_ms".into(), ms(writer.synced, acked));
    let fill_s = acked.saturating_duration_since(writer.synced).as_secs_f64();
    out.insert("edits_per_s".into(), json!(round3(args.edits as f64 / fill_s.max(1e-9))));
    out.insert("doc_bytes".into(), json!(doc_bytes));
    out.insert("warm_load_ms".into(), ms(reader.started, covered));
    out.insert("state_file".into(), json!(args.state_file.display().to_string()));
    procstat::finish_both(watches, &mut out)?;
    writer.client.close().await;
    reader.client.close().await;
    Ok(Value::Object(out))
}

async fn load(ctx: &Context, args: &BigdocArgs) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(&args.state_file)
        .with_context(|| format!("reading {} (run --phase fill first)", args.state_file.display()))?;
    let state: Value = serde_json::from_str(&text).context("state file is not JSON")?;
    let room = match (&args.room, state.get("room").and_then(Value::as_str)) {
        (Some(room), _) => room.clone(),
        (None, Some(room)) => room.to_owned(),
        (None, None) => bail!("state file has no room"),
    };
    let encoded = state
        .get("state_vector")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("state file has no state_vector"))?;
    let expect =
        StateVector::decode_v1(&BASE64.decode(encoded)?).context("state file's state_vector is invalid")?;

    eprintln!("loadgen: bigdoc: loading {}", ctx.target.display_url(&room));
    let options = Options { index: 0, room: room.clone(), timed: None, expect: Some(expect.clone()) };
    let watches = procstat::watch_both(ctx.server_pid)?;
    let limit = args.load_timeout.min(ctx.remaining()).max(Duration::from_secs(1));
    let loader = client::connect_within(&ctx.target, options, limit).await?;
    // A document that never completes is a figure too (the server lost edits), not a crash.
    let covered =
        loader.client.wait_for(|s| s.covered_at.is_some(), limit).await.ok().and_then(|s| s.covered_at);
    let (have, doc_bytes) = loader.client.snapshot().await?;

    let mut out = ctx.header("bigdoc");
    out.insert("phase".into(), json!("load"));
    out.insert("room".into(), json!(room));
    out.insert("edits".into(), state.get("edits").cloned().unwrap_or(Value::Null));
    out.insert("complete".into(), json!(covered.is_some()));
    out.insert("missing_clocks".into(), json!(missing_clocks(&have, &expect)));
    out.insert("ws_open_ms".into(), ms(loader.started, loader.open));
    out.insert("first_sync_ms".into(), ms(loader.started, loader.synced));
    out.insert("load_ms".into(), covered.map_or(Value::Null, |covered| ms(loader.started, covered)));
    out.insert("doc_bytes".into(), json!(doc_bytes));
    procstat::finish_both(watches, &mut out)?;
    loader.client.close().await;
    Ok(Value::Object(out))
}
