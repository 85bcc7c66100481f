//! The bridge driving a real ipykernel: outputs, the queue, interrupt, death, restart,
//! shutdown and stdin.

mod support;

use std::time::Duration;

use kernel_bridge::{
    DeathCause, EndCause, ExecutionEvent, ExecutionRequest, ExecutionStatus, HeartbeatOptions, InterruptMode,
    Kernel, KernelError, KernelEvent, KernelState, KernelStatus, Output,
};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_plus_one_gives_an_execute_result_of_two() {
    let (kernel, _dir) = start("python3").await;
    assert_eq!(kernel.info().implementation, "ipython");
    assert_eq!(kernel.info().language, "python");
    let events = run(&kernel, "1+1").await;
    assert_eq!(events.first(), Some(&ExecutionEvent::Started), "{events:#?}");
    assert_eq!(events.get(1), Some(&ExecutionEvent::Status { status: KernelStatus::Busy }), "{events:#?}");
    assert_eq!(result_text(&events).as_deref(), Some("2"));
    let end = end(&events);
    assert_eq!(end.status, ExecutionStatus::Ok);
    assert_eq!(end.cause, EndCause::Reply);
    let count = end.execution_count.expect("execution count");
    assert!(events.contains(&ExecutionEvent::ExecuteInput { execution_count: Some(count) }));
    assert!(outputs(&events).iter().any(
        |o| matches!(o, Output::ExecuteResult { execution_count, .. } if *execution_count == Some(count))
    ));
    // idle comes last before Finished: nothing can follow it.
    assert_eq!(events[events.len() - 2], ExecutionEvent::Status { status: KernelStatus::Idle });
    assert_eq!(end.execution_count, Some(1));
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_runs_in_the_working_directory_with_its_environment() {
    init_tracing();
    let (mut options, dir) = options();
    options.env.insert("TALKBOOK_TEST_VALUE".into(), "forty-two".into());
    let kernel = within(Kernel::start(spec("python3"), options)).await.expect("start");
    let events =
        run(&kernel, "import os; print(os.getcwd()); print(os.environ['TALKBOOK_TEST_VALUE'])").await;
    let cwd = dir.path().canonicalize().expect("canonical");
    assert_eq!(stdout(&events), format!("{}\nforty-two\n", cwd.display()));
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_print_loop_streams_in_order_while_it_runs() {
    let (kernel, _dir) = start("python3").await;
    let mut execution = kernel
        .execute(ExecutionRequest::new(
            "import time\nfor i in range(5):\n    print(i, flush=True)\n    time.sleep(0.3)",
        ))
        .await
        .expect("execute");
    let mut chunks = Vec::new();
    let mut finished = None;
    while let Some(event) = within(execution.next_event()).await {
        match event {
            ExecutionEvent::Output(Output::Stream { text, .. }) => chunks.push(text),
            ExecutionEvent::Finished(end) => finished = Some(end),
            _ => {}
        }
    }
    assert_eq!(chunks.concat(), "0\n1\n2\n3\n4\n");
    assert!(chunks.len() >= 2, "output should arrive while the cell runs, got {chunks:?}");
    assert_eq!(finished.map(|end| end.status), Some(ExecutionStatus::Ok));
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_outputs_and_display_updates_are_typed() {
    let (kernel, _dir) = start("python3").await;
    let events =
        run(&kernel, "from IPython.display import HTML, display\ndisplay(HTML('<b>bold</b>'))").await;
    match outputs(&events).as_slice() {
        [Output::DisplayData { data, display_id: None, .. }] => {
            assert_eq!(data["text/html"], "<b>bold</b>");
            assert!(data.contains_key("text/plain"));
        }
        other => panic!("expected one display_data, got {other:?}"),
    }

    let events = run(&kernel, "h = display('first', display_id=True)\nh.update('second')").await;
    let shown = outputs(&events);
    let Some(Output::DisplayData { data, display_id: Some(id), .. }) = shown.first() else {
        panic!("expected a display with an id: {events:#?}")
    };
    assert_eq!(data["text/plain"], "'first'");
    let update = events.iter().find_map(|event| match event {
        ExecutionEvent::UpdateDisplayData { display_id, data, .. } => {
            Some((display_id.clone(), data.clone()))
        }
        _ => None,
    });
    let (updated_id, updated) = update.expect("update_display_data");
    assert_eq!(&updated_id, id);
    assert_eq!(updated["text/plain"], "'second'");
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_gives_an_error_output_and_status() {
    let (kernel, _dir) = start("python3").await;
    let events = run(&kernel, "1/0").await;
    match outputs(&events).as_slice() {
        [Output::Error { ename, evalue, traceback }] => {
            assert_eq!(ename, "ZeroDivisionError");
            assert_eq!(evalue, "division by zero");
            assert!(traceback.iter().any(|line| line.contains("ZeroDivisionError")), "{traceback:?}");
        }
        other => panic!("expected one error output, got {other:?}"),
    }
    assert_eq!(end(&events).status, ExecutionStatus::Error);
    // The kernel carries on.
    assert_eq!(result_text(&run(&kernel, "2*3").await).as_deref(), Some("6"));
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_output_with_wait_is_reported_between_outputs() {
    let (kernel, _dir) = start("python3").await;
    let events = run(
        &kernel,
        "from IPython.display import clear_output\nprint('a')\nclear_output(wait=True)\nprint('b')",
    )
    .await;
    let interesting: Vec<&ExecutionEvent> = events
        .iter()
        .filter(|event| matches!(event, ExecutionEvent::Output(_) | ExecutionEvent::ClearOutput { .. }))
        .collect();
    let stream = |text: &str| {
        ExecutionEvent::Output(Output::Stream { name: kernel_bridge::StreamName::Stdout, text: text.into() })
    };
    assert_eq!(interesting, [&stream("a\n"), &ExecutionEvent::ClearOutput { wait: true }, &stream("b\n")]);
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_without_stdin_fails_fast_with_an_error_output() {
    let (kernel, _dir) = start("python3").await;
    let events = run(&kernel, "name = input('name? ')").await;
    assert!(!events.iter().any(|e| matches!(e, ExecutionEvent::InputRequest { .. })));
    match outputs(&events).as_slice() {
        [Output::Error { ename, .. }] => assert_eq!(ename, "StdinNotImplementedError"),
        other => panic!("expected an error output, got {other:?}"),
    }
    assert_eq!(end(&events).status, ExecutionStatus::Error);
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_with_stdin_allowed_is_answered_through_the_bridge() {
    let (kernel, _dir) = start("python3").await;
    let request = ExecutionRequest::new("name = input('name? ')\nprint('hello', name)").allow_stdin(true);
    let mut execution = kernel.execute(request).await.expect("execute");
    let id = execution.id();
    let mut events = Vec::new();
    while let Some(event) = within(execution.next_event()).await {
        if let ExecutionEvent::InputRequest { prompt, password } = &event {
            assert_eq!((prompt.as_str(), *password), ("name? ", false));
            kernel.send_input(id, "Ann").await.expect("input sent");
        }
        events.push(event);
    }
    assert_eq!(stdout(&events), "hello Ann\n");
    assert!(matches!(kernel.send_input(id, "late").await, Err(KernelError::NotRunning(_))));
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_executions_run_one_at_a_time_in_order() {
    let (kernel, _dir) = start("python3").await;
    run(&kernel, "import time\nlog = []").await;
    let first = kernel.execute(ExecutionRequest::new("time.sleep(0.5); log.append(1)")).await.expect("1");
    let second = kernel.execute(ExecutionRequest::new("log.append(2)")).await.expect("2");
    let third = kernel.execute(ExecutionRequest::new("log.append(3)")).await.expect("3");
    assert_eq!(kernel.state(), KernelState::Busy);
    let mut counts = Vec::new();
    for execution in [first, second, third] {
        let events = within(execution.collect()).await;
        let end = end(&events);
        assert_eq!(end.status, ExecutionStatus::Ok);
        counts.push(end.execution_count.expect("count"));
    }
    assert!(counts.windows(2).all(|pair| pair[0] < pair[1]), "{counts:?}");
    assert_eq!(result_text(&run(&kernel, "log").await).as_deref(), Some("[1, 2, 3]"));
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_queued_execution_is_aborted_and_never_runs() {
    let (kernel, _dir) = start("python3").await;
    run(&kernel, "import time\nlog = []").await;
    let running = kernel.execute(ExecutionRequest::new("time.sleep(2); log.append('a')")).await.expect("a");
    let cancelled = kernel.execute(ExecutionRequest::new("log.append('b')")).await.expect("b");
    let last = kernel.execute(ExecutionRequest::new("log.append('c')")).await.expect("c");
    kernel.cancel(cancelled.id()).await.expect("cancel a queued execution");
    assert!(matches!(kernel.cancel(cancelled.id()).await, Err(KernelError::NotQueued(_))));
    assert!(matches!(kernel.cancel(running.id()).await, Err(KernelError::NotQueued(_))), "already started");

    let events = within(cancelled.collect()).await;
    assert_eq!(events.len(), 1, "a cancelled execution never starts: {events:#?}");
    let end = end(&events);
    assert_eq!((end.status, end.cause), (ExecutionStatus::Aborted, EndCause::Cancelled));
    within(running.end()).await.expect("a ends");
    within(last.end()).await.expect("c ends");
    assert_eq!(result_text(&run(&kernel, "log").await).as_deref(), Some("['a', 'c']"));
    kernel.shutdown().await.expect("shutdown");
}

/// Interrupts `time.sleep(60)` and expects a KeyboardInterrupt well before the minute is up.
///
/// A SIGINT to the kernel process (sent by the bridge, or by ipykernel itself for an
/// `interrupt_request`) may be delivered by Linux to one of the kernel's other threads;
/// CPython then raises KeyboardInterrupt only when `time.sleep` returns. Jupyter users
/// press interrupt again in that case, and so does this test: after 10 s without an end.
async fn interrupt_a_sleep(kernel: &Kernel) {
    let code = "import time\nprint('sleeping', flush=True)\ntime.sleep(60)";
    let mut execution = kernel.execute(ExecutionRequest::new(code)).await.expect("execute");
    // Interrupt once the code is running (ipykernel ignores SIGINT between requests, so an
    // interrupt sent as the request arrives may come too early).
    while let Some(event) = within(execution.next_event()).await {
        if matches!(event, ExecutionEvent::Output(Output::Stream { .. })) {
            break;
        }
    }
    let interrupted_at = std::time::Instant::now();
    kernel.interrupt().await.expect("interrupt");
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), execution.next_event()).await {
            Ok(Some(event)) => events.push(event),
            Ok(None) => break,
            Err(_) => kernel.interrupt().await.expect("interrupt again"),
        }
    }
    assert!(
        interrupted_at.elapsed() < Duration::from_secs(45),
        "the interrupt took {:?}",
        interrupted_at.elapsed()
    );
    match outputs(&events).as_slice() {
        [Output::Error { ename, .. }] => assert_eq!(ename, "KeyboardInterrupt"),
        other => panic!("expected a KeyboardInterrupt error, got {other:?}"),
    }
    assert_eq!(end(&events).status, ExecutionStatus::Error);
    assert_eq!(result_text(&run(kernel, "'still here'").await).as_deref(), Some("'still here'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_by_signal_stops_a_sleep_with_keyboard_interrupt() {
    let (kernel, _dir) = start("python3").await;
    assert_eq!(kernel.spec().interrupt_mode, InterruptMode::Signal);
    interrupt_a_sleep(&kernel).await;
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_by_message_when_the_kernelspec_asks_for_it() {
    init_tracing();
    let mut spec = spec("python3");
    spec.interrupt_mode = InterruptMode::Message;
    let (options, _dir) = options();
    let kernel = within(Kernel::start(spec, options)).await.expect("start");
    interrupt_a_sleep(&kernel).await;
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_that_exits_is_reported_dead_and_can_be_restarted() {
    let (kernel, _dir) = start("python3").await;
    let mut kernel_events = kernel.subscribe();
    let pid = kernel.pid();
    let dying = kernel.execute(ExecutionRequest::new("import os; os._exit(1)")).await.expect("execute");
    let queued = kernel.execute(ExecutionRequest::new("1+1")).await.expect("queued");

    let events = within(dying.collect()).await;
    let end = end(&events);
    assert_eq!(end.status, ExecutionStatus::Error);
    let EndCause::KernelDied { cause: DeathCause::Exited { status } } = &end.cause else {
        panic!("expected a death by exit: {end:?}")
    };
    assert_eq!(status, "exit code 1");
    let queued_end = support::end(&within(queued.collect()).await);
    assert_eq!(queued_end.status, ExecutionStatus::Aborted);
    assert!(matches!(queued_end.cause, EndCause::KernelDied { .. }));

    let died = within(async {
        loop {
            if let KernelEvent::Died { cause } = kernel_events.recv().await.expect("event") {
                return cause;
            }
        }
    })
    .await;
    assert!(matches!(died, DeathCause::Exited { .. }));
    assert!(matches!(kernel.state(), KernelState::Dead { .. }));
    assert!(matches!(kernel.execute(ExecutionRequest::new("1")).await, Err(KernelError::Dead(_))));
    assert!(process_gone(pid));

    let info = within(kernel.restart()).await.expect("restart revives");
    assert_ne!(info.pid, pid);
    assert_eq!(kernel.state(), KernelState::Idle);
    assert_eq!(result_text(&run(&kernel, "1+1").await).as_deref(), Some("2"));
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_that_stops_answering_heartbeats_is_killed_and_reported_dead() {
    init_tracing();
    let (mut options, _dir) = options();
    options.heartbeat = HeartbeatOptions {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(500),
        max_missed: 3,
    };
    let kernel = within(Kernel::start(spec("python3"), options)).await.expect("start");
    let mut kernel_events = kernel.subscribe();
    let pid = kernel.pid();
    // A stopped process keeps its sockets open but answers nothing: only the heartbeat can tell.
    let raw_pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
    rustix::process::kill_process(raw_pid, rustix::process::Signal::STOP).expect("SIGSTOP");
    let cause = within(async {
        loop {
            if let KernelEvent::Died { cause } = kernel_events.recv().await.expect("event") {
                return cause;
            }
        }
    })
    .await;
    assert_eq!(cause, DeathCause::HeartbeatLost { missed: 3 });
    wait_until_gone(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_clears_variables_and_aborts_the_running_execution() {
    let (kernel, _dir) = start("python3").await;
    run(&kernel, "x = 42").await;
    let old_pid = kernel.pid();
    let mut sleeping =
        kernel.execute(ExecutionRequest::new("import time; time.sleep(60)")).await.expect("sleep");
    while let Some(event) = within(sleeping.next_event()).await {
        if matches!(event, ExecutionEvent::ExecuteInput { .. }) {
            break;
        }
    }
    let info = within(kernel.restart()).await.expect("restart");
    assert_ne!(info.pid, old_pid);
    assert!(process_gone(old_pid));
    let rest = within(sleeping.collect()).await;
    let end = end(&rest);
    assert_eq!((end.status, end.cause), (ExecutionStatus::Aborted, EndCause::Restarted));

    let events = run(&kernel, "x").await;
    match outputs(&events).as_slice() {
        [Output::Error { ename, .. }] => assert_eq!(ename, "NameError"),
        other => panic!("x should be gone after the restart, got {other:?}"),
    }
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_process() {
    let (kernel, _dir) = start("python3").await;
    let pid = kernel.pid();
    assert!(!process_gone(pid));
    within(kernel.shutdown()).await.expect("shutdown");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "kernel {pid} still in /proc");
    assert_eq!(kernel.state(), KernelState::ShutDown);
    assert!(matches!(kernel.execute(ExecutionRequest::new("1")).await, Err(KernelError::ShutDown)));
    kernel.shutdown().await.expect("a second shutdown is harmless");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_shuts_the_kernel_down() {
    let (kernel, _dir) = start("python3").await;
    let pid = kernel.pid();
    let other = kernel.clone();
    drop(kernel);
    assert_eq!(result_text(&run(&other, "3").await).as_deref(), Some("3"), "a clone keeps it alive");
    drop(other);
    wait_until_gone(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_runs_even_if_nobody_reads_its_events() {
    let (kernel, _dir) = start("python3").await;
    let unread =
        kernel.execute(ExecutionRequest::new("for i in range(1000): print(i)\ny = 7")).await.expect("x");
    drop(unread);
    assert_eq!(result_text(&run(&kernel, "y").await).as_deref(), Some("7"));
    kernel.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_that_cannot_start_is_reported_with_its_own_words() {
    init_tracing();
    let mut spec = spec("python3");
    spec.argv = vec![
        spec.argv[0].clone(),
        "-c".into(),
        "import sys; sys.stderr.write('no kernel here\\n'); sys.exit(3)".into(),
        "{connection_file}".into(),
    ];
    let (options, _dir) = options();
    match within(Kernel::start(spec, options)).await {
        Err(error @ KernelError::ExitedDuringStartup { .. }) => {
            let message = error.to_string();
            assert!(message.contains("exit code 3") && message.contains("no kernel here"), "{message}");
        }
        other => panic!("expected ExitedDuringStartup, got {other:?}"),
    }
}
