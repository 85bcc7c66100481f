//! CPU time and memory of a process (the server under test, or the load generator itself),
//! read from Linux's `/proc`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

use crate::stats::round3;

/// `/proc/PID/stat` counts CPU time in clock ticks of USER_HZ, which Linux fixes at 100 for
/// this interface on every mainstream architecture (reading `sysconf` would need libc).
const TICKS_PER_SECOND: f64 = 100.0;
/// How often the peak-RSS sampler looks.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// A process to watch: `"self"` or a pid.
#[derive(Debug, Clone)]
pub struct Proc(String);

impl Proc {
    pub fn pid(pid: u32) -> Self {
        Proc(pid.to_string())
    }

    pub fn current() -> Self {
        Proc("self".into())
    }

    /// User plus system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0))
            .with_context(|| format!("reading /proc/{}/stat", self.0))?;
        parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / TICKS_PER_SECOND)
    }

    /// Current resident set (`VmRSS`) and its lifetime peak (`VmHWM`), in KiB.
    pub fn memory_kb(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0))
            .with_context(|| format!("reading /proc/{}/status", self.0))?;
        let rss =
            status_kb(&status, "VmRSS:").ok_or_else(|| anyhow!("no VmRSS in /proc/{}/status", self.0))?;
        let hwm = status_kb(&status, "VmHWM:").unwrap_or(rss);
        Ok((rss, hwm))
    }
}

/// utime + stime: fields 14 and 15 of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may itself contain spaces or parentheses, so fields are counted from the
/// last `)`.
fn parse_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let after_name =
        stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| anyhow!("odd /proc stat line"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    let field = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| anyhow!("no field {n} in /proc stat line"))
    };
    Ok(field(14)? + field(15)?)
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Watches a process across a measured interval: CPU seconds used and the highest RSS seen
/// (sampled, since `VmHWM` is the peak of the process's whole life, not of this run).
#[derive(Debug)]
pub struct Watch {
    proc: Proc,
    started: Instant,
    cpu_start: f64,
    rss_start: u64,
    peak_rss: Arc<AtomicU64>,
    sampler: JoinHandle<()>,
}

impl Watch {
    pub fn start(proc: Proc) -> anyhow::Result<Watch> {
        let started = Instant::now();
        let cpu_start = proc.cpu_seconds()?;
        let (rss_start, _) = proc.memory_kb()?;
        let peak_rss = Arc::new(AtomicU64::new(rss_start));
        let sampler = {
            let (proc, peak) = (proc.clone(), peak_rss.clone());
            tokio::spawn(async move {
                while let Ok((rss, _)) = proc.memory_kb() {
                    peak.fetch_max(rss, Ordering::Relaxed);
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
            })
        };
        Ok(Watch { proc, started, cpu_start, rss_start, peak_rss, sampler })
    }

    /// Figures since [`Watch::start`], as JSON fields named `{prefix}_…`.
    pub fn finish(self, prefix: &str, into: &mut Map<String, Value>) -> anyhow::Result<()> {
        self.sampler.abort();
        let cpu = self.proc.cpu_seconds()? - self.cpu_start;
        let (rss, hwm) = self.proc.memory_kb()?;
        let peak = self.peak_rss.load(Ordering::Relaxed).max(rss);
        let wall = self.started.elapsed().as_secs_f64();
        into.insert(format!("{prefix}_cpu_s"), json!(round3(cpu)));
        // Percent of one core over the watched interval (200 = both cores of a 2-core box).
        into.insert(format!("{prefix}_cpu_percent"), json!(round3(100.0 * cpu / wall.max(1e-9))));
        into.insert(format!("{prefix}_rss_start_kb"), json!(self.rss_start));
        into.insert(format!("{prefix}_rss_end_kb"), json!(rss));
        into.insert(format!("{prefix}_rss_peak_kb"), json!(peak));
        into.insert(format!("{prefix}_vm_hwm_kb"), json!(hwm));
        Ok(())
    }
}

/// Starts watching the server (if a pid was given) and the load generator itself, whose
/// CPU use tells whether it, rather than the server, was the bottleneck on a small machine.
pub fn watch_both(server_pid: Option<u32>) -> anyhow::Result<(Option<Watch>, Option<Watch>)> {
    let server = server_pid.map(|pid| Watch::start(Proc::pid(pid))).transpose()?;
    let own = Watch::start(Proc::current()).ok();
    Ok((server, own))
}

/// Ends both watches and writes `server_…` and `loadgen_…` fields.
pub fn finish_both(
    watches: (Option<Watch>, Option<Watch>),
    into: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    if let Some(server) = watches.0 {
        server.finish("server", into)?;
    }
    if let Some(own) = watches.1 {
        own.finish("loadgen", into)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 7 0 1 2 3";
        assert_eq!(parse_cpu_ticks(stat).expect("parses"), 300);
    }

    #[test]
    fn status_values_are_read_in_kb() {
        let status = "Name:\tnode\nVmHWM:\t  81234 kB\nVmRSS:\t   70000 kB\n";
        assert_eq!(status_kb(status, "VmRSS:"), Some(70_000));
        assert_eq!(status_kb(status, "VmHWM:"), Some(81_234));
        assert_eq!(status_kb(status, "VmSwap:"), None);
    }

    #[test]
    fn own_process_can_be_read() {
        let me = Proc::current();
        assert!(me.cpu_seconds().expect("cpu") >= 0.0);
        assert!(me.memory_kb().expect("memory").0 > 0);
    }
}
