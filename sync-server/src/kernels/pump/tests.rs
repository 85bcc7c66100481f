//! The planner's rules: streams, clear_output with wait, the output cap, a dead kernel.

use kernel_bridge::{DeathCause, EndCause, ExecutionEnd, ExecutionEvent, ExecutionStatus, StreamName};

use super::{DocOp, Planner};
use doc_model::{ExecutionState, Output};

fn stream(text: &str) -> ExecutionEvent {
    ExecutionEvent::Output(kernel_bridge::Output::Stream { name: StreamName::Stdout, text: text.into() })
}

fn plan(planner: &mut Planner, events: &[ExecutionEvent]) -> Vec<DocOp> {
    let mut ops = Vec::new();
    for event in events {
        planner.plan(event, &mut ops);
    }
    ops
}

fn appended(ops: &[DocOp]) -> Vec<Output> {
    ops.iter()
        .filter_map(|op| match op {
            DocOp::Append(output) => Some(output.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_start_clears_the_previous_run_and_shows_busy() {
    let mut planner = Planner::new(1000);
    let ops = plan(
        &mut planner,
        &[ExecutionEvent::Started, ExecutionEvent::ExecuteInput { execution_count: Some(3) }],
    );
    assert_eq!(
        ops,
        vec![
            DocOp::State(ExecutionState::Busy),
            DocOp::ClearOutputs,
            DocOp::Count(None),
            DocOp::Count(Some(3)),
        ]
    );
}

#[test]
fn clear_output_with_wait_clears_only_when_the_next_output_comes() {
    let mut planner = Planner::new(1000);
    let ops = plan(&mut planner, &[stream("a"), ExecutionEvent::ClearOutput { wait: true }]);
    assert_eq!(ops, vec![DocOp::Append(Output::Stream { name: "stdout".into(), text: "a".into() })]);
    let ops = plan(&mut planner, &[stream("b")]);
    assert_eq!(
        ops,
        vec![DocOp::ClearOutputs, DocOp::Append(Output::Stream { name: "stdout".into(), text: "b".into() })]
    );
    let ops = plan(&mut planner, &[ExecutionEvent::ClearOutput { wait: false }]);
    assert_eq!(ops, vec![DocOp::ClearOutputs]);
}

#[test]
fn output_past_the_cap_is_cut_with_one_note_and_an_error_still_lands() {
    let mut planner = Planner::new(10);
    let ops = plan(&mut planner, &[stream("12345678"), stream("abcdef"), stream("more")]);
    let out = appended(&ops);
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0], Output::Stream { name: "stdout".into(), text: "12345678".into() });
    assert_eq!(out[1], Output::Stream { name: "stdout".into(), text: "ab".into() });
    let Output::Stream { name, text } = &out[2] else { panic!("note expected") };
    assert_eq!(name, "stderr");
    assert!(text.contains("output truncated") && text.contains("10 bytes"), "{text}");
    let error =
        kernel_bridge::Output::Error { ename: "ValueError".into(), evalue: "x".into(), traceback: vec![] };
    let ops = plan(&mut planner, &[ExecutionEvent::Output(error)]);
    assert_eq!(appended(&ops).len(), 1, "errors pass the cap");
    assert_eq!(planner.last_error.as_deref(), Some("ValueError: x"));
}

#[test]
fn a_cut_never_splits_a_character() {
    let mut planner = Planner::new(3);
    let ops = plan(&mut planner, &[stream("aé€")]);
    assert_eq!(appended(&ops)[0], Output::Stream { name: "stdout".into(), text: "aé".into() });
}

#[test]
fn clearing_makes_room_again() {
    let mut planner = Planner::new(5);
    plan(&mut planner, &[stream("12345")]);
    let ops = plan(&mut planner, &[ExecutionEvent::ClearOutput { wait: false }, stream("abc")]);
    assert_eq!(ops[1], DocOp::Append(Output::Stream { name: "stdout".into(), text: "abc".into() }));
}

#[test]
fn a_dead_kernel_leaves_an_error_output() {
    let mut planner = Planner::new(1000);
    let end = ExecutionEnd {
        status: ExecutionStatus::Error,
        execution_count: None,
        cause: EndCause::KernelDied { cause: DeathCause::Exited { status: "exit code 1".into() } },
    };
    let out = appended(&plan(&mut planner, &[ExecutionEvent::Finished(end)]));
    let [Output::Error { ename, evalue, .. }] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!(ename, "DeadKernelError");
    assert!(evalue.contains("exit code 1") && evalue.contains("new kernel"), "{evalue}");
}
