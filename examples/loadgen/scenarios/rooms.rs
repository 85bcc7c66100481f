//! `rooms`: many small rooms open at once, as a busy server has; connect+sync latency and
//! the server's memory per open room.
//!
//! The first client of each room writes a one-cell notebook and the others wait to see it,
//! so every room holds a (tiny) real document and is known to relay, not just to accept.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use super::{Context, connect_all};
use crate::client::{Client, Options};
use crate::procstat::Proc;
use crate::stats::{Summary, round3};

/// How long the other clients of a room may take to see its first client's cell.
const CELL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct RoomsArgs {
    /// Rooms to open.
    #[arg(long, default_value_t = 2000)]
    rooms: usize,
    /// Clients per room.
    #[arg(long, default_value_t = 2)]
    per_room: usize,
    /// Room names are this prefix plus a number (with --talkbook-api: notebook names).
    #[arg(long, default_value = "loadgen-room-")]
    prefix: String,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Pause before reading the server's memory, so it reflects a settled state.
    #[arg(long, default_value = "1s", value_parser = super::parse_duration)]
    settle: Duration,
}

fn rss_kb(proc: Option<&Proc>) -> anyhow::Result<Option<u64>> {
    proc.map(|p| p.memory_kb().map(|(rss, _)| rss)).transpose()
}

pub async fn run(ctx: &Context, args: &RoomsArgs) -> anyhow::Result<Value> {
    if args.rooms == 0 || args.per_room == 0 {
        bail!("--rooms and --per-room must be at least 1");
    }
    let names = (0..args.rooms).map(|i| format!("{}{i}", args.prefix)).collect();
    let rooms = ctx.rooms(names).await?;
    let server = ctx.server_pid.map(Proc::pid);
    let rss_before = rss_kb(server.as_ref())?;

    eprintln!("loadgen: rooms: opening {} rooms x {} clients", args.rooms, args.per_room);
    let options = rooms
        .iter()
        .enumerate()
        .flat_map(|(r, room)| {
            (0..args.per_room).map(move |k| Options {
                index: (r * args.per_room + k) as u32,
                room: room.clone(),
                timed: None,
                expect: None,
            })
        })
        .collect();
    let started = Instant::now();
    let results = connect_all(&ctx.target, options, args.concurrency, ctx.deadline).await;
    let connect_wall = started.elapsed();

    // Group clients by room; a room counts as open only if all its clients connected.
    let mut connect_ms = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut by_room: Vec<Vec<Client>> = (0..rooms.len()).map(|_| Vec::new()).collect();
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(connected) => {
                connect_ms.push(connected.connect_sync_ms());
                by_room[i / args.per_room].push(connected.client);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    if let Some(e) = &first_error {
        if connect_ms.is_empty() {
            bail!("no connection succeeded; first error: {e}");
        }
        eprintln!("loadgen: {errors} connections failed; first: {e}");
    }

    let relayed = relay_check(ctx, &by_room, args.per_room).await;
    tokio::time::sleep(args.settle.min(ctx.remaining())).await;
    let rss_open = rss_kb(server.as_ref())?;

    eprintln!("loadgen: rooms: closing");
    let clients: Vec<Client> = by_room.into_iter().flatten().collect();
    futures_util::future::join_all(clients.into_iter().map(Client::close)).await;
    tokio::time::sleep(args.settle.min(ctx.remaining())).await;
    let rss_closed = rss_kb(server.as_ref())?;

    let mut out = ctx.header("rooms");
    out.insert("rooms".into(), json!(args.rooms));
    out.insert("per_room".into(), json!(args.per_room));
    out.insert("connections_ok".into(), json!(connect_ms.len()));
    out.insert("connections_failed".into(), json!(errors));
    out.insert("first_error".into(), json!(first_error));
    out.insert("rooms_relaying".into(), json!(relayed));
    out.insert("connect_wall_s".into(), json!(round3(connect_wall.as_secs_f64())));
    Summary::insert_ms(Summary::of(&mut connect_ms), "connect_sync", &mut out);
    out.insert("server_rss_before_kb".into(), json!(rss_before));
    out.insert("server_rss_open_kb".into(), json!(rss_open));
    out.insert("server_rss_after_close_kb".into(), json!(rss_closed));
    if let (Some(before), Some(open)) = (rss_before, rss_open) {
        let per_room = (open as f64 - before as f64) / args.rooms as f64;
        out.insert("server_kb_per_room".into(), json!(round3(per_room)));
    }
    Ok(Value::Object(out))
}

/// Has the first client of each complete room write its cell and waits for the others to
/// see it; returns how many rooms relayed it.
async fn relay_check(ctx: &Context, by_room: &[Vec<Client>], per_room: usize) -> usize {
    let complete = || by_room.iter().enumerate().filter(|(_, clients)| clients.len() == per_room);
    for (r, clients) in complete() {
        if let Err(e) = clients[0].ensure_cell(format!("loadgen-{}-{r}", ctx.run)).await {
            eprintln!("loadgen: room {r}: {e:#}");
        }
    }
    let checks = complete().map(|(r, clients)| async move {
        for client in clients {
            if let Err(e) = client.wait_for(|s| s.has_source, CELL_TIMEOUT).await {
                eprintln!("loadgen: room {r} did not relay the cell: {e:#}");
                return false;
            }
        }
        true
    });
    futures_util::future::join_all(checks).await.into_iter().filter(|ok| *ok).count()
}
