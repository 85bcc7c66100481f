//! A kernel dies with the process that started it, even when that process is SIGKILLed and
//! cannot clean up. The test binary runs itself as the parent: the `hold_a_kernel` test,
//! when `KERNEL_BRIDGE_HOLD` is set, starts a kernel, prints its pid and waits forever; the
//! real tests kill that process and watch the kernel's pid.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use kernel_bridge::Kernel;
use support::*;

/// Environment variable that turns `hold_a_kernel` into the helper; its value says whether
/// the parent-death signal is on (`pdeathsig`) or off (`none`).
const HOLD: &str = "KERNEL_BRIDGE_HOLD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_a_kernel() {
    let Some(mode) = std::env::var_os(HOLD) else { return };
    let (mut options, _dir) = options();
    options.parent_death_signal = mode == "pdeathsig";
    // Switch off ipykernel's own parent polling, so only the bridge's mechanism is tested.
    options.env.insert("JPY_PARENT_PID".into(), String::new());
    let kernel = Kernel::start(spec("python3"), options).await.expect("kernel starts");
    #[allow(clippy::print_stdout)] // the parent test reads this line
    {
        println!("KERNEL_PID {}", kernel.pid());
    }
    std::future::pending::<()>().await;
}

/// Runs the helper, returns (helper, kernel pid).
fn spawn_holder(mode: &str) -> (std::process::Child, u32) {
    let mut helper = Command::new(std::env::current_exe().expect("test binary"))
        .args(["hold_a_kernel", "--exact", "--nocapture", "--test-threads=1"])
        .env(HOLD, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("helper starts");
    let stdout = helper.stdout.take().expect("stdout");
    let pid = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest prints `test hold_a_kernel ... ` on the same line.
        .find_map(|line| line.split_once("KERNEL_PID ").and_then(|(_, pid)| pid.trim().parse().ok()))
        .expect("the helper reports its kernel's pid");
    (helper, pid)
}

#[tokio::test]
async fn the_kernel_dies_when_its_parent_is_killed() {
    venv();
    let (mut helper, kernel_pid) =
        tokio::task::spawn_blocking(|| spawn_holder("pdeathsig")).await.expect("join");
    assert!(!process_gone(kernel_pid));
    helper.kill().expect("SIGKILL the parent");
    helper.wait().expect("reap the parent");
    wait_until_gone(kernel_pid).await;
}

#[tokio::test]
async fn without_the_parent_death_signal_the_kernel_would_be_orphaned() {
    venv();
    let (mut helper, kernel_pid) = tokio::task::spawn_blocking(|| spawn_holder("none")).await.expect("join");
    helper.kill().expect("SIGKILL the parent");
    helper.wait().expect("reap the parent");
    // Nothing else kills it: the mechanism above is what makes kernels die with the server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let orphaned = !process_gone(kernel_pid);
    if let Some(pid) = rustix::process::Pid::from_raw(kernel_pid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    assert!(orphaned, "the kernel died without a parent-death signal; the test proves nothing");
    wait_until_gone(kernel_pid).await;
}
