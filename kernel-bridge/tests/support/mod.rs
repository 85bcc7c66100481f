//! Shared set-up for the kernel tests: real kernels from the project's `.venv` (prepared by
//! `scripts/python-env`), found the way a server finds them, with `JUPYTER_PATH` pointing at
//! `<repo>/.venv/share/jupyter`. The tests pass that variable through
//! `JupyterPaths::from_lookup` instead of setting it in the process environment, so they
//! need nothing from `scripts/test` beyond the venv itself.

#![allow(dead_code)]

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use kernel_bridge::{
    ExecutionEnd, ExecutionEvent, ExecutionRequest, JupyterPaths, Kernel, KernelOptions, KernelSpec, Output,
    StreamName,
};

/// Every wait in these tests: long enough for a loaded two-core machine, short enough that
/// a hang fails the test instead of the whole run.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The project's virtual environment.
pub fn venv() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv");
    for kernel in ["python3", "bash"] {
        assert!(
            venv.join("share/jupyter/kernels").join(kernel).join("kernel.json").is_file(),
            "no `{kernel}` kernelspec in {}: run scripts/python-env (or scripts/test -p kernel-bridge)",
            venv.display()
        );
    }
    venv
}

/// Jupyter's search with `JUPYTER_PATH=<repo>/.venv/share/jupyter` and the rest of this
/// process's environment.
pub fn jupyter_paths() -> JupyterPaths {
    let jupyter_path: OsString = venv().join("share/jupyter").into_os_string();
    JupyterPaths::from_lookup(move |name| {
        if name == "JUPYTER_PATH" { Some(jupyter_path.clone()) } else { std::env::var_os(name) }
    })
}

pub fn spec(name: &str) -> KernelSpec {
    jupyter_paths().find(name).expect("kernelspec")
}

pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Options for a test kernel: a fresh working directory (kept alive by the returned guard).
pub fn options() -> (KernelOptions, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    (KernelOptions::new(dir.path()), dir)
}

/// Starts the named kernel in a fresh working directory.
pub async fn start(name: &str) -> (Kernel, tempfile::TempDir) {
    init_tracing();
    let (options, dir) = options();
    let kernel = within(Kernel::start(spec(name), options)).await.expect("kernel starts");
    (kernel, dir)
}

/// Awaits `future`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future).await.expect("timed out")
}

/// Runs `code` to the end and returns its events.
pub async fn run(kernel: &Kernel, code: &str) -> Vec<ExecutionEvent> {
    run_request(kernel, ExecutionRequest::new(code)).await
}

pub async fn run_request(kernel: &Kernel, request: ExecutionRequest) -> Vec<ExecutionEvent> {
    let execution = kernel.execute(request).await.expect("execute");
    within(execution.collect()).await
}

/// The `Finished` event, which must be the last.
pub fn end(events: &[ExecutionEvent]) -> ExecutionEnd {
    match events.last() {
        Some(ExecutionEvent::Finished(end)) => end.clone(),
        other => panic!("the last event is not Finished: {other:?} in {events:#?}"),
    }
}

pub fn outputs(events: &[ExecutionEvent]) -> Vec<Output> {
    events
        .iter()
        .filter_map(|event| match event {
            ExecutionEvent::Output(output) => Some(output.clone()),
            _ => None,
        })
        .collect()
}

/// All stdout text, in order.
pub fn stdout(events: &[ExecutionEvent]) -> String {
    outputs(events)
        .into_iter()
        .filter_map(|output| match output {
            Output::Stream { name: StreamName::Stdout, text } => Some(text),
            _ => None,
        })
        .collect()
}

/// `text/plain` of the execute_result.
pub fn result_text(events: &[ExecutionEvent]) -> Option<String> {
    outputs(events).into_iter().find_map(|output| match output {
        Output::ExecuteResult { data, .. } => {
            data.get("text/plain").and_then(|v| v.as_str()).map(str::to_string)
        }
        _ => None,
    })
}

/// Whether process `pid` is gone (or a zombie no one has reaped yet: it has exited).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits until process `pid` is gone, failing the test after [`PATIENCE`].
pub async fn wait_until_gone(pid: u32) {
    within(async {
        while !process_gone(pid) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}
