//! Round-trip latency of `1+1` straight through the bridge: from `execute` to the
//! execution's `Finished` event (execute_reply received and the kernel idle), the same span
//! `roundtrip_jupyter_client.py` measures with jupyter_client. Prints one JSON line.
//!
//! ```sh
//! scripts/python-env
//! JUPYTER_PATH=$PWD/.venv/share/jupyter cargo run --release -p kernel-bridge --example roundtrip -- --runs 200
//! ```

#![allow(clippy::print_stdout)] // a measurement program: its output is the result

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kernel_bridge::{ExecutionEvent, ExecutionRequest, JupyterPaths, Kernel, KernelOptions, Output};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut kernel_name = "python3".to_string();
    let mut runs = 200usize;
    let mut warmup = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--kernel" => kernel_name = value()?,
            "--runs" => runs = value()?.parse()?,
            "--warmup" => warmup = value()?.parse()?,
            other => bail!("unknown argument {other} (use --kernel NAME --runs N --warmup N)"),
        }
    }
    let spec = JupyterPaths::from_env().find(&kernel_name)?;
    let dir = tempfile::tempdir()?;
    let kernel = Kernel::start(spec, KernelOptions::new(dir.path())).await?;

    let mut samples = Vec::with_capacity(runs);
    for i in 0..warmup + runs {
        let started = Instant::now();
        let events = kernel.execute(ExecutionRequest::new("1+1")).await?.collect().await;
        let elapsed = started.elapsed();
        let result = events.iter().find_map(|event| match event {
            ExecutionEvent::Output(Output::ExecuteResult { data, .. }) => data.get("text/plain").cloned(),
            _ => None,
        });
        if result.as_ref().and_then(|v| v.as_str()) != Some("2") {
            bail!("unexpected result {result:?} in {events:?}");
        }
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    kernel.shutdown().await?;

    samples.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let pick = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    let line = serde_json::json!({
        "client": "kernel-bridge",
        "kernel": kernel_name,
        "runs": samples.len(),
        "p50_ms": ms(pick(0.50)),
        "p99_ms": ms(pick(0.99)),
        "max_ms": ms(samples[samples.len() - 1]),
    });
    println!("{line}");
    Ok(())
}
