//! `throughput`: raises the total edit rate step by step until a step's p99 edit-to-everyone
//! latency passes the limit, edits are lost, or the clients cannot even send at the rate;
//! the highest step that passed is the sustained rate.
//!
//! Steps are separated by a drain, so each step is judged on its own rate and not on the
//! backlog of the one before.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::swarm::{Cells, SETTLE, StepFigures, Swarm};
use super::{Context, parse_duration};
use crate::procstat::{self, Proc};
use crate::stats::round3;

/// A step whose clients sent less than this share of the asked rate did not sustain it.
const MIN_ACHIEVED_SHARE: f64 = 0.9;

#[derive(Debug, clap::Args)]
pub struct ThroughputArgs {
    /// Clients in the room.
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Total edits per second of the first step.
    #[arg(long, default_value_t = 500.0)]
    start_rate: f64,
    /// Added to the rate at each step.
    #[arg(long, default_value_t = 500.0)]
    step: f64,
    /// How long each step edits.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    step_duration: Duration,
    /// No step goes above this rate.
    #[arg(long, default_value_t = 50_000.0)]
    max_rate: f64,
    /// A step passes only if its p99 latency is at most this.
    #[arg(long, default_value_t = 100.0)]
    p99_limit_ms: f64,
    /// Wait after each step for its edits to arrive everywhere; later ones are lost.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    drain: Duration,
    /// Where the edits go: one cell everyone shares, or a cell per client.
    #[arg(long, value_enum, default_value_t = Cells::Shared)]
    cells: Cells,
    /// Room name (with --talkbook-api: the notebook's name).
    #[arg(long, default_value = "loadgen-throughput")]
    room: String,
}

/// Why a step did not pass, if it did not.
fn verdict(step: &StepFigures, p99_limit_ms: f64) -> Option<String> {
    let p99 = step.figures.latency.map(|l| l.p99);
    if step.figures.lost > 0 {
        Some(format!("{} edits lost", step.figures.lost))
    } else if step.clients_stopped > 0 {
        Some(format!("{} clients stopped", step.clients_stopped))
    } else if p99.is_none_or(|p99| p99 > p99_limit_ms) {
        Some(format!("p99 over {p99_limit_ms} ms"))
    } else if step.achieved_rate() < MIN_ACHIEVED_SHARE * step.rate {
        Some("load generator could not send at the rate".into())
    } else {
        None
    }
}

pub async fn run(ctx: &Context, args: &ThroughputArgs) -> anyhow::Result<Value> {
    let room = ctx.rooms(vec![args.room.clone()]).await?.remove(0);
    let mut swarm = Swarm::join(ctx, &room, args.clients, &ctx.run, args.cells).await?;
    let watches = procstat::watch_both(ctx.server_pid)?;
    let server = ctx.server_pid.map(Proc::pid);
    let own = Proc::current();

    let mut steps = Vec::new();
    let mut best: Option<f64> = None;
    let mut rate = args.start_rate;
    let mut sent_total = 0;
    let stop_reason = loop {
        if rate > args.max_rate {
            break "max rate reached".to_owned();
        }
        if ctx.remaining() < args.step_duration + args.drain + Duration::from_secs(1) {
            break "time budget (--max-seconds) spent".to_owned();
        }
        eprintln!("loadgen: throughput step at {rate}/s");
        let started = Instant::now();
        let server_cpu = server.as_ref().map(Proc::cpu_seconds).transpose()?;
        let own_cpu = own.cpu_seconds()?;
        let step = swarm.run_rate(rate, args.step_duration, args.drain).await?;
        sent_total += step.figures.sent;
        let wall = started.elapsed().as_secs_f64();

        let mut figures = step.to_json();
        if let (Some(proc), Some(before)) = (&server, server_cpu) {
            figures.insert(
                "server_cpu_percent".into(),
                json!(round3(100.0 * (proc.cpu_seconds()? - before) / wall)),
            );
        }
        figures.insert(
            "loadgen_cpu_percent".into(),
            json!(round3(100.0 * (own.cpu_seconds()? - own_cpu) / wall)),
        );
        let failed = verdict(&step, args.p99_limit_ms);
        figures.insert("passed".into(), json!(failed.is_none()));
        steps.push(Value::Object(figures));
        if let Some(reason) = failed {
            break reason;
        }
        best = Some(rate);
        rate += args.step.max(1.0);
    };

    let mut out = ctx.header("throughput");
    out.insert("room".into(), json!(room));
    out.insert("clients".into(), json!(args.clients));
    out.insert("cells".into(), json!(args.cells.name()));
    out.insert("p99_limit_ms".into(), json!(args.p99_limit_ms));
    out.insert("max_sustained_rate".into(), json!(best));
    out.insert("stop_reason".into(), json!(stop_reason));
    out.insert("steps".into(), Value::Array(steps));
    procstat::finish_both(watches, &mut out)?;
    out.insert("edits_sent_total".into(), json!(sent_total));
    out.extend(swarm.verify(&ctx.run, SETTLE.min(ctx.remaining())).await);
    swarm.close().await;
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Summary;
    use crate::tracker::Figures;

    fn step(rate: f64, sent: usize, lost: usize, p99: f64) -> StepFigures {
        let mut samples = vec![p99; sent - lost];
        StepFigures {
            rate,
            duration: Duration::from_secs(1),
            figures: Figures { sent, lost, latency: Summary::of(&mut samples), first_latency: None },
            drain: Duration::ZERO,
            clients_stopped: 0,
            denied: 0,
        }
    }

    #[test]
    fn a_step_passes_only_fast_complete_and_at_rate() {
        assert_eq!(verdict(&step(100.0, 100, 0, 20.0), 100.0), None);
        assert!(verdict(&step(100.0, 100, 1, 20.0), 100.0).is_some_and(|r| r.contains("lost")));
        assert!(verdict(&step(100.0, 100, 0, 150.0), 100.0).is_some_and(|r| r.contains("p99")));
        assert!(verdict(&step(100.0, 50, 0, 20.0), 100.0).is_some_and(|r| r.contains("rate")));
    }
}
