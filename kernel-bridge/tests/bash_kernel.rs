//! The same bridge drives a second, non-Python kernelspec: bash_kernel from PyPI, installed
//! into the project's venv by scripts/python-env. Nothing in the bridge is Python-specific.

mod support;

use kernel_bridge::{ExecutionEvent, ExecutionRequest, ExecutionStatus, Output};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bash_runs_commands_and_keeps_its_state() {
    let (kernel, _dir) = start("bash").await;
    assert_eq!(kernel.info().language, "bash");
    assert_eq!(kernel.info().implementation, "bash_kernel");

    let events = run(&kernel, "echo hello from bash").await;
    assert_eq!(stdout(&events), "hello from bash\n");
    let end = end(&events);
    assert_eq!(end.status, ExecutionStatus::Ok);
    assert!(end.execution_count.is_some());

    run(&kernel, "x=21").await;
    assert_eq!(stdout(&run(&kernel, "echo $((x * 2))").await).trim(), "42");
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_is_an_error() {
    let (kernel, _dir) = start("bash").await;
    let events = run(&kernel, "ls /definitely/not/here").await;
    assert_eq!(end(&events).status, ExecutionStatus::Error);
    assert!(
        outputs(&events).iter().any(|output| matches!(output, Output::Error { .. })),
        "bash_kernel reports a non-zero exit as an error output: {events:#?}"
    );
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bash_can_be_interrupted_and_queued() {
    let (kernel, _dir) = start("bash").await;
    let mut sleeping = kernel.execute(ExecutionRequest::new("echo sleeping; sleep 60")).await.expect("sleep");
    let after = kernel.execute(ExecutionRequest::new("echo after")).await.expect("queued");
    while let Some(event) = within(sleeping.next_event()).await {
        if matches!(event, ExecutionEvent::Output(Output::Stream { .. })) {
            break;
        }
    }
    // bash_kernel turns SIGINT into a Ctrl-C on its bash's terminal only while it waits for
    // the command; a signal that lands just before (while it is still sending "sleeping")
    // is lost. Interrupt again until the run ends, as a user would press the button again.
    let mut rest = Vec::new();
    for _ in 0..20 {
        kernel.interrupt().await.expect("interrupt");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, sleeping.next_event()).await {
            rest.push(event);
        }
        if matches!(rest.last(), Some(ExecutionEvent::Finished(_))) {
            break;
        }
    }
    assert!(matches!(rest.last(), Some(ExecutionEvent::Finished(_))), "{rest:#?}");
    assert_eq!(stdout(&within(after.collect()).await), "after\n");
    kernel.shutdown().await.expect("shutdown");
}
