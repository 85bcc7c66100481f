//! Process-wide counters, served as Prometheus text at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The one set of counters of this process.
pub static METRICS: Metrics = Metrics::new();

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0];

/// A Prometheus histogram of durations.
#[derive(Debug)]
pub struct Histogram {
    count: AtomicU64,
    micros_sum: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

impl Histogram {
    const fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            micros_sum: AtomicU64::new(0),
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len()],
        }
    }

    pub fn record(&self, elapsed: Duration) {
        self.count.fetch_add(1, Relaxed);
        self.micros_sum.fetch_add(elapsed.as_micros() as u64, Relaxed);
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", bucket.load(Relaxed));
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.micros_sum.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Debug)]
pub struct Metrics {
    pub rooms: AtomicU64,
    pub connections: AtomicU64,
    pub kernels: AtomicU64,
    pub updates_accepted: AtomicU64,
    pub updates_rejected: AtomicU64,
    commits: Histogram,
    committed_updates: AtomicU64,
    /// From a client's update arriving to its broadcast (after its commit).
    pub update_delay: Histogram,
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
            commits: Histogram::new(),
            committed_updates: AtomicU64::new(0),
            update_delay: Histogram::new(),
            checkpoints_encoded: AtomicU64::new(0),
            checkpoints_rebuilt: AtomicU64::new(0),
        }
    }

    /// Records one group commit of `updates` updates that took `elapsed`.
    pub fn record_commit(&self, elapsed: Duration, updates: usize) {
        self.commits.record(elapsed);
        self.committed_updates.fetch_add(updates as u64, Relaxed);
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
        self.commits.render(&mut out, "talkbook_commit_seconds", "Duration of one group commit.");
        self.update_delay.render(
            &mut out,
            "talkbook_update_delay_seconds",
            "From a client's update arriving to its broadcast: checks, queueing and the commit.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_duration_in_every_bucket_at_or_above_it() {
        let histogram = Histogram::new();
        histogram.record(Duration::from_micros(700));
        histogram.record(Duration::from_millis(30));
        histogram.record(Duration::from_secs(10));
        let mut out = String::new();
        histogram.render(&mut out, "t_seconds", "Test.");
        let line = |le: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("t_seconds_bucket{{le=\"{le}\"}} ")))
                .map(str::to_owned)
        };
        assert_eq!(line("0.0005").as_deref(), Some("0"));
        assert_eq!(line("0.001").as_deref(), Some("1"));
        assert_eq!(line("0.05").as_deref(), Some("2"));
        assert_eq!(line("5").as_deref(), Some("2"));
        assert_eq!(line("+Inf").as_deref(), Some("3"));
        assert!(out.contains("t_seconds_count 3\n"), "{out}");
        assert!(out.contains("t_seconds_sum 10.0307\n"), "{out}");
        assert!(out.starts_with("# HELP t_seconds Test.\n# TYPE t_seconds histogram\n"), "{out}");
    }
}
