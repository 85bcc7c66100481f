//! The same bridge drives a second, non-Python kernelspec: bash_kernel from PyPI, installed
//! into the project's venv by scripts/python-env. Nothing in the bridge is Python-specific.

mod support;

use kernel_bridge::{
    EndCause, Execution, ExecutionEvent, ExecutionRequest, ExecutionStatus, KernelStatus, Output,
};
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
    // The subshell prints the marker itself, so by then it is the terminal's foreground job
    // and the Ctrl-C that bash_kernel sends reaches it. With `echo sleeping; sleep 60` the
    // Ctrl-C could land while bash was still starting `sleep`, and was lost.
    let mut sleeping =
        kernel.execute(ExecutionRequest::new("(echo sleeping; sleep 60)")).await.expect("sleep");
    let after = kernel.execute(ExecutionRequest::new("echo after")).await.expect("queued");
    wait_for_output(&mut sleeping).await;
    kernel.interrupt().await.expect("interrupt");
    let rest = within(sleeping.collect()).await;
    assert_eq!(end(&rest).cause, EndCause::Reply, "{rest:#?}");
    assert_eq!(stdout(&within(after.collect()).await), "after\n");
    kernel.shutdown().await.expect("shutdown");
}

/// ipykernel sends no `execute_reply` when a second interrupt lands while bash_kernel is
/// still waiting for its shell to come back from the first; the kernel only goes idle. The
/// execution must end anyway, or it and everything queued behind it would wait forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_the_kernel_never_answers_ends_after_it_went_idle() {
    let (kernel, _dir) = start("bash").await;
    // The shell and its `sleep` ignore Ctrl-C, so the first interrupt leaves bash_kernel
    // waiting for the prompt and the next one escapes its handler.
    let code = "trap '' INT; echo stubborn; sleep 60";
    let mut stubborn = kernel.execute(ExecutionRequest::new(code)).await.expect("execute");
    wait_for_output(&mut stubborn).await;
    let mut rest = Vec::new();
    for _ in 0..30 {
        kernel.interrupt().await.expect("interrupt");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, stubborn.next_event()).await {
            rest.push(event);
        }
        if matches!(rest.last(), Some(ExecutionEvent::Finished(_))) {
            break;
        }
    }
    let end = end(&rest);
    assert_eq!((end.status, &end.cause), (ExecutionStatus::Error, &EndCause::NoReply), "{rest:#?}");
    assert!(rest.contains(&ExecutionEvent::Status { status: KernelStatus::Idle }), "{rest:#?}");
    kernel.shutdown().await.expect("shutdown");
}

/// Reads events until the first output: the code is running.
async fn wait_for_output(execution: &mut Execution) {
    while let Some(event) = within(execution.next_event()).await {
        if matches!(event, ExecutionEvent::Output(Output::Stream { .. })) {
            return;
        }
    }
    panic!("the execution ended before printing anything");
}
