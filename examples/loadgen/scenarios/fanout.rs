//! `fanout`: N clients in one room edit at a total rate; how long until an edit has reached
//! everyone else, how many never do, and what it costs the server.

use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use super::swarm::{Cells, SETTLE, Swarm};
use super::{Context, parse_duration};
use crate::procstat;
use crate::stats::Summary;

#[derive(Debug, clap::Args)]
pub struct FanoutArgs {
    /// Clients in the room.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Edits per second, all clients together.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// How long edits are made.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Where the edits go: one cell everyone shares, or a cell per client.
    #[arg(long, value_enum, default_value_t = Cells::Shared)]
    cells: Cells,
    /// Room name (with --talkbook-api: the notebook's name).
    #[arg(long, default_value = "loadgen-fanout")]
    room: String,
    /// How long to wait after the last edit for every edit to arrive everywhere; edits still
    /// missing somewhere then count as lost.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    drain: Duration,
}

pub async fn run(ctx: &Context, args: &FanoutArgs) -> anyhow::Result<Value> {
    let room = ctx.rooms(vec![args.room.clone()]).await?.remove(0);
    let mut swarm = Swarm::join(ctx, &room, args.clients, &ctx.run, args.cells).await?;

    // Shorten the run rather than overrun --max-seconds; the output says so.
    let budget = ctx.remaining().saturating_sub(args.drain + Duration::from_secs(1));
    let duration = args.duration.min(budget);
    if duration.is_zero() {
        bail!("no time left for edits within --max-seconds");
    }
    eprintln!("loadgen: fanout: {} clients, {}/s for {duration:?}", swarm.len(), args.rate);

    let watches = procstat::watch_both(ctx.server_pid)?;
    let step = swarm.run_rate(args.rate, duration, args.drain).await?;
    let mut out = ctx.header("fanout");
    out.insert("room".into(), json!(room));
    out.insert("clients".into(), json!(args.clients));
    out.insert("cells".into(), json!(args.cells.name()));
    out.insert("shortened_to_fit".into(), json!(duration < args.duration));
    out.extend(step.to_json());
    let mut connect_ms = swarm.connect_ms.clone();
    Summary::insert_ms(Summary::of(&mut connect_ms), "connect_sync", &mut out);
    procstat::finish_both(watches, &mut out)?;
    out.extend(swarm.verify(&ctx.run, SETTLE.min(ctx.remaining())).await);
    swarm.close().await;
    Ok(Value::Object(out))
}
