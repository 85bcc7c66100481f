//! The scenarios of SPEC §11 and what they share: the run's context (target, time budget,
//! room creation) and connecting many clients with bounded concurrency.

pub mod bigdoc;
pub mod fanout;
pub mod rooms;
pub mod swarm;
pub mod throughput;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde_json::{Map, Value, json};
use tokio::sync::{OnceCell, Semaphore};
use tokio::task::JoinSet;

use crate::api::TalkbookApi;
use crate::client::{self, Connected, Options, Target};
use crate::marker::RunTag;

/// Notebooks created at once in `--talkbook-api` mode.
const API_CONCURRENCY: usize = 8;

/// What every scenario gets: where to connect and how long it may take.
#[derive(Debug)]
pub struct Context {
    pub target: Target,
    pub server_pid: Option<u32>,
    /// When the scenario must have finished, leaving time to close and report before
    /// `--max-seconds` stops the process.
    pub deadline: Instant,
    pub run: RunTag,
    pub api: Option<TalkbookApi>,
    /// `--timeline`: the file fanout and throughput write every edit's latency to.
    pub timeline: Option<std::path::PathBuf>,
    /// The project this run's notebooks go into, created on first need.
    project: OnceCell<String>,
}

impl Context {
    pub fn new(
        target: Target,
        server_pid: Option<u32>,
        deadline: Instant,
        api: Option<TalkbookApi>,
        timeline: Option<std::path::PathBuf>,
    ) -> Self {
        Context {
            target,
            server_pid,
            deadline,
            run: RunTag::random(),
            api,
            timeline,
            project: OnceCell::new(),
        }
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Room names to connect to. Any y-websocket server takes the names as given; with
    /// `--talkbook-api`, a notebook is created for each name and its id is the room.
    pub async fn rooms(&self, names: Vec<String>) -> anyhow::Result<Vec<String>> {
        let Some(api) = &self.api else {
            return Ok(names);
        };
        let name = format!("loadgen-{}", self.run);
        let project = self.project.get_or_try_init(|| api.create_project(&name)).await?.clone();
        eprintln!("loadgen: creating {} notebook(s) in project {project}", names.len());
        let limit = Arc::new(Semaphore::new(API_CONCURRENCY));
        let mut tasks = JoinSet::new();
        for (i, name) in names.into_iter().enumerate() {
            let (api, project, limit) = (api.clone(), project.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await?;
                anyhow::Ok((i, api.create_notebook(&project, &name).await?))
            });
        }
        let mut ids = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            ids.push(joined??);
        }
        ids.sort();
        Ok(ids.into_iter().map(|(_, id)| id).collect())
    }

    /// Fields every JSON line starts with.
    pub fn header(&self, scenario: &str) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("scenario".into(), json!(scenario));
        out.insert("url".into(), json!(self.target.base_url));
        out.insert("run".into(), json!(self.run.as_str()));
        out
    }
}

/// Connects every client, at most `concurrency` connection attempts at a time (a burst of
/// thousands of simultaneous handshakes measures the accept queue, not the server). Results
/// come back in the order of `options`; attempts not started by `deadline` fail.
pub async fn connect_all(
    target: &Target,
    options: Vec<Options>,
    concurrency: usize,
    deadline: Instant,
) -> Vec<anyhow::Result<Connected>> {
    let total = options.len();
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (i, options) in options.into_iter().enumerate() {
        let (target, limit) = (target.clone(), limit.clone());
        tasks.spawn(async move {
            let attempt = async {
                let _permit = limit.acquire_owned().await?;
                if Instant::now() >= deadline {
                    bail!("time budget (--max-seconds) spent before connecting");
                }
                client::connect(&target, options).await
            };
            (i, attempt.await)
        });
    }
    let mut results: Vec<Option<anyhow::Result<Connected>>> = (0..total).map(|_| None).collect();
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        done += 1;
        if done % 500 == 0 {
            eprintln!("loadgen: {done}/{total} connections attempted");
        }
        match joined {
            Ok((i, result)) => results[i] = Some(result),
            Err(e) => eprintln!("loadgen: connect task failed: {e}"),
        }
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(anyhow!("connect task failed")))).collect()
}

/// Parses durations such as `20s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("invalid duration {text:?}"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        _ => {
            return Err(format!("invalid duration unit in {text:?} (use ms, s or m)"));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_common_units() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("s").is_err());
    }
}
