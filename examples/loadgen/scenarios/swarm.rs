//! N clients in one room making timed edits at a total rate: the engine of `fanout` and
//! `throughput`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use super::{Context, connect_all};
use crate::client::{Client, Options, Pace, Timed};
use crate::marker::RunTag;
use crate::stats::{Summary, round3};
use crate::tracker::{Figures, SharedLog, Tracker};

/// Connections opened at once while the swarm joins.
const CONNECT_CONCURRENCY: usize = 64;
/// How long everyone may take to see the shared cell after joining.
const CELL_TIMEOUT: Duration = Duration::from_secs(30);
/// Delay before the first edit of a step, so every client has its pace before it starts.
const LEAD_IN: Duration = Duration::from_millis(100);
/// How often logs are drained while a step runs (keeps them short) and while draining.
const ABSORB_EVERY: Duration = Duration::from_millis(250);
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// How long clients told to stop pacing may take to do so.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait, at the end of a run, for the replicas to become identical.
pub const SETTLE: Duration = Duration::from_secs(10);
/// How often [`Swarm::verify`] compares the replicas while waiting for them to settle.
const SETTLE_POLL: Duration = Duration::from_millis(250);

/// Where the swarm's timed edits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cells {
    /// Everyone prepends to one shared cell (pair mode; the most concurrent inserts at one
    /// place, which is what costs a CRDT most).
    Shared,
    /// Each client prepends to a cell of its own (thread mode: a user edits their own cells).
    Own,
}

impl Cells {
    pub fn name(self) -> &'static str {
        match self {
            Cells::Shared => "shared",
            Cells::Own => "own",
        }
    }
}

#[derive(Debug)]
pub struct Swarm {
    clients: Vec<Client>,
    logs: Vec<SharedLog>,
    tracker: Tracker,
    /// Permission-denied messages counted before the current step.
    denied_before: u64,
    /// Connect-plus-sync time of each client, in ms.
    pub connect_ms: Vec<f64>,
    /// The clients' time origin, and the same moment in Unix microseconds.
    epoch_unix_us: u64,
    /// Where each step's edits are written one per line (`--timeline`).
    timeline: Option<PathBuf>,
}

/// Figures of one step at one rate.
#[derive(Debug, Clone, Copy)]
pub struct StepFigures {
    pub rate: f64,
    pub duration: Duration,
    pub figures: Figures,
    /// Time after the last send until every edit was seen (or the drain limit).
    pub drain: Duration,
    /// Clients that stopped (disconnected or failed) by the end of the step.
    pub clients_stopped: usize,
    pub denied: u64,
}

impl StepFigures {
    pub fn achieved_rate(&self) -> f64 {
        self.figures.sent as f64 / self.duration.as_secs_f64()
    }

    /// The step's figures as JSON fields.
    pub fn to_json(self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("rate".into(), json!(self.rate));
        out.insert("duration_s".into(), json!(round3(self.duration.as_secs_f64())));
        out.insert("achieved_rate".into(), json!(round3(self.achieved_rate())));
        out.insert("edits_sent".into(), json!(self.figures.sent));
        out.insert("edits_lost".into(), json!(self.figures.lost));
        Summary::insert_ms(self.figures.latency, "latency", &mut out);
        Summary::insert_ms(self.figures.first_latency, "first_receiver", &mut out);
        out.insert("drain_ms".into(), json!(round3(self.drain.as_secs_f64() * 1000.0)));
        out.insert("clients_stopped".into(), json!(self.clients_stopped));
        out.insert("permission_denied".into(), json!(self.denied));
        out
    }
}

impl Swarm {
    /// Connects `count` clients to `room`, has the first create the notebook's code cell if
    /// the room has none (with [`Cells::Own`]: each client its own cell), and returns once
    /// every client has the cell it edits.
    pub async fn join(
        ctx: &Context,
        room: &str,
        count: usize,
        run: &RunTag,
        cells: Cells,
    ) -> anyhow::Result<Swarm> {
        if count < 2 {
            bail!("need at least 2 clients: latency is measured at the others");
        }
        let epoch = Instant::now();
        let epoch_unix_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let logs: Vec<SharedLog> = (0..count).map(|_| SharedLog::default()).collect();
        let options = logs
            .iter()
            .enumerate()
            .map(|(i, log)| Options {
                index: i as u32,
                room: room.to_owned(),
                timed: Some(Timed { run: run.clone(), epoch, log: log.clone() }),
                expect: None,
            })
            .collect();
        eprintln!("loadgen: connecting {count} clients to {}", ctx.target.display_url(room));
        let mut clients = Vec::with_capacity(count);
        let mut connect_ms = Vec::with_capacity(count);
        for (i, result) in
            connect_all(&ctx.target, options, CONNECT_CONCURRENCY, ctx.deadline).await.into_iter().enumerate()
        {
            let connected = result.with_context(|| format!("client {i}"))?;
            connect_ms.push(connected.connect_sync_ms());
            clients.push(connected.client);
        }
        match cells {
            Cells::Shared => clients[0].ensure_cell(format!("loadgen-{run}")).await?,
            Cells::Own => {
                for (i, client) in clients.iter().enumerate() {
                    client.own_cell(format!("loadgen-{run}-{i}")).await?;
                }
            }
        }
        for (i, client) in clients.iter().enumerate() {
            client
                .wait_for(|s| s.has_source, CELL_TIMEOUT)
                .await
                .with_context(|| format!("client {i} waiting for the cell"))?;
        }
        let timeline = ctx.timeline.clone();
        if let Some(path) = &timeline {
            std::fs::write(path, "rate,sent_unix_us,first_ms,last_ms\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(Swarm {
            clients,
            logs,
            tracker: Tracker::new(count),
            denied_before: 0,
            connect_ms,
            epoch_unix_us,
            timeline,
        })
    }

    /// Edits at `rate` per second in total for `duration`, spread evenly: client `i` starts
    /// `i / rate` seconds in and then edits every `clients / rate` seconds. Then waits up to
    /// `drain` for every edit to reach every other client, and reports.
    pub async fn run_rate(
        &mut self,
        rate: f64,
        duration: Duration,
        drain: Duration,
    ) -> anyhow::Result<StepFigures> {
        if !rate.is_finite() || rate <= 0.0 {
            bail!("rate must be a positive number");
        }
        let n = self.clients.len();
        let start = Instant::now() + LEAD_IN;
        let until = start + duration;
        for (i, client) in self.clients.iter().enumerate() {
            let first = start + Duration::from_secs_f64(i as f64 / rate);
            client.pace(Pace { first, per_sec: rate / n as f64, until }).await?;
        }
        while Instant::now() < until {
            tokio::time::sleep(ABSORB_EVERY.min(until.saturating_duration_since(Instant::now()))).await;
            self.tracker.absorb(&self.logs);
        }

        let sent_all = Instant::now();
        let drain_end = sent_all + drain;
        // Clients behind schedule may still be sending: give them until the end of the
        // drain, then stop them, so that no edit is sent after the step's figures are taken.
        let still_pacing =
            |clients: &[Client]| clients.iter().any(|c| c.status().pacing && c.status().ended.is_none());
        while Instant::now() < drain_end && still_pacing(&self.clients) {
            tokio::time::sleep(DRAIN_POLL).await;
        }
        if still_pacing(&self.clients) {
            eprintln!("loadgen: clients fell behind the rate; stopping them");
            for client in &self.clients {
                let _ = client.stop_pace().await;
            }
            let stopped_by = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < stopped_by && still_pacing(&self.clients) {
                tokio::time::sleep(DRAIN_POLL).await;
            }
        }
        loop {
            self.tracker.absorb(&self.logs);
            if self.tracker.pending() == 0 || Instant::now() >= drain_end {
                break;
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
        let drained = sent_all.elapsed();
        let statuses: Vec<_> = self.clients.iter().map(Client::status).collect();
        if let Some(reason) = statuses.iter().find_map(|s| s.ended.clone()) {
            eprintln!("loadgen: a client stopped: {reason}");
        }
        if let Some(reason) = statuses.iter().find_map(|s| s.last_denial.clone()) {
            eprintln!("loadgen: the server denied an edit: {reason}");
        }
        if let Some(path) = &self.timeline {
            self.append_timeline(path, rate).with_context(|| format!("writing {}", path.display()))?;
        }
        let denied: u64 = statuses.iter().map(|s| s.denied).sum();
        let denied_in_step = denied - self.denied_before;
        self.denied_before = denied;
        Ok(StepFigures {
            rate,
            duration,
            figures: self.tracker.finish(),
            drain: drained,
            clients_stopped: statuses.iter().filter(|s| s.ended.is_some()).count(),
            denied: denied_in_step,
        })
    }

    /// End-of-run cross-check, independent of the id-based tracking: whether every client
    /// ends with the same cell text, and how many of this run's markers that text holds
    /// (it should equal the edits sent). Edits still in flight (after an overloaded step)
    /// are given up to `settle` to arrive; `settle_ms` says how long that took.
    pub async fn verify(&self, run: &RunTag, settle: Duration) -> Map<String, Value> {
        let started = Instant::now();
        let texts = loop {
            let mut texts = Vec::with_capacity(self.clients.len());
            for client in &self.clients {
                texts.push(client.source_text().await.ok().flatten());
            }
            if texts.windows(2).all(|pair| pair[0] == pair[1]) || started.elapsed() >= settle {
                break texts;
            }
            tokio::time::sleep(SETTLE_POLL).await;
        };
        let mut markers = 0usize;
        if let Some(Some(text)) = texts.first() {
            run.scan(text, |_| markers += 1);
        }
        let mut out = Map::new();
        out.insert("replicas_identical".into(), json!(texts.windows(2).all(|pair| pair[0] == pair[1])));
        out.insert("settle_ms".into(), json!(round3(started.elapsed().as_secs_f64() * 1000.0)));
        out.insert("markers_in_doc".into(), json!(markers));
        out
    }

    /// Appends the step's edits to the timeline file: when each was sent, and how long it
    /// took to reach the first and the last other client (empty: it never did).
    fn append_timeline(&self, path: &Path, rate: f64) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::OpenOptions::new().append(true).open(path)?);
        let ms = |at: Option<u64>, sent: u64| {
            at.map_or(String::new(), |at| format!("{:.3}", at.saturating_sub(sent) as f64 / 1000.0))
        };
        for (sent, first, last) in self.tracker.timeline() {
            writeln!(out, "{rate},{},{},{}", self.epoch_unix_us + sent, ms(first, sent), ms(last, sent))?;
        }
        out.flush()
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub async fn close(self) {
        futures_util::future::join_all(self.clients.into_iter().map(Client::close)).await;
    }
}
