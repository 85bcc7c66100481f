//! Process-wide counters, served as Prometheus text at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The one set of counters of this process.
pub static METRICS: Metrics = Metrics::new();

/// Upper bounds (seconds) of the commit latency histogram's buckets.
const COMMIT_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0];

#[derive(Debug)]
pub struct Metrics {
    pub rooms: AtomicU64,
    pub connections: AtomicU64,
    pub kernels: AtomicU64,
    pub updates_accepted: AtomicU64,
    pub updates_rejected: AtomicU64,
    commits: AtomicU64,
    commit_micros_sum: AtomicU64,
    commit_buckets: [AtomicU64; COMMIT_BUCKETS.len()],
    committed_updates: AtomicU64,
    /// Checkpoints written, by where their state came from (see `rooms::room::checkpoints`).
    pub checkpoints_encoded: AtomicU64,
    pub checkpoints_rebuilt: AtomicU64,
}

impl Metrics {
    const fn new() -> Self {
        Self {
            rooms: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            kernels: AtomicU64::new(0),
            updates_accepted: AtomicU64::new(0),
            updates_rejected: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            commit_micros_sum: AtomicU64::new(0),
            commit_buckets: [const { AtomicU64::new(0) }; COMMIT_BUCKETS.len()],
            committed_updates: AtomicU64::new(0),
            checkpoints_encoded: AtomicU64::new(0),
            checkpoints_rebuilt: AtomicU64::new(0),
        }
    }

    /// Records one group commit of `updates` updates that took `elapsed`.
    pub fn record_commit(&self, elapsed: Duration, updates: usize) {
        self.commits.fetch_add(1, Relaxed);
        self.committed_updates.fetch_add(updates as u64, Relaxed);
        self.commit_micros_sum.fetch_add(elapsed.as_micros() as u64, Relaxed);
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in self.commit_buckets.iter().zip(COMMIT_BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        gauge(&mut out, "talkbook_rooms", "Notebook rooms in memory.", "gauge", self.rooms.load(Relaxed));
        gauge(
            &mut out,
            "talkbook_connections",
            "Open WebSocket connections.",
            "gauge",
            self.connections.load(Relaxed),
        );
        gauge(&mut out, "talkbook_kernels", "Jupyter kernels running.", "gauge", self.kernels.load(Relaxed));
        gauge(
            &mut out,
            "talkbook_updates_accepted_total",
            "Client updates stored and broadcast.",
            "counter",
            self.updates_accepted.load(Relaxed),
        );
        gauge(
            &mut out,
            "talkbook_updates_rejected_total",
            "Client updates refused.",
            "counter",
            self.updates_rejected.load(Relaxed),
        );
        gauge(
            &mut out,
            "talkbook_committed_updates_total",
            "Updates written by group commit.",
            "counter",
            self.committed_updates.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP talkbook_checkpoints_total Checkpoints written: encoded by their room, or rebuilt from storage beside it.\n\
             # TYPE talkbook_checkpoints_total counter\n\
             talkbook_checkpoints_total{{source=\"room\"}} {}\n\
             talkbook_checkpoints_total{{source=\"storage\"}} {}",
            self.checkpoints_encoded.load(Relaxed),
            self.checkpoints_rebuilt.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP talkbook_commit_seconds Duration of one group commit.\n# TYPE talkbook_commit_seconds histogram"
        );
        for (bucket, bound) in self.commit_buckets.iter().zip(COMMIT_BUCKETS) {
            let _ =
                writeln!(out, "talkbook_commit_seconds_bucket{{le=\"{bound}\"}} {}", bucket.load(Relaxed));
        }
        let count = self.commits.load(Relaxed);
        let _ = writeln!(out, "talkbook_commit_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "talkbook_commit_seconds_sum {}",
            self.commit_micros_sum.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "talkbook_commit_seconds_count {count}");
        out
    }
}
