//! CPU-heavy work nobody is waiting on (rebuilding a large checkpoint), run on a thread of
//! its own at the lowest scheduling priority.
//!
//! Such work is bursty: a checkpoint of a large notebook replays megabytes of state in a
//! few hundred milliseconds. At normal priority that burst takes a core from the rooms and
//! connections, and on a small machine every live edit waits behind it. At nice 19 it gets
//! only the CPU that editing leaves idle, and takes longer when the machine is busy.
//!
//! A new thread per job, not tokio's blocking pool: a lowered priority cannot be raised
//! again without privileges, so a pooled thread would keep it for whatever ran next.

use tokio::sync::oneshot;

/// The nice value of background threads: the lowest priority.
const NICE: i32 = 19;

/// Why background work produced no result.
#[derive(Debug, thiserror::Error)]
pub enum BackgroundError {
    #[error("cannot start a background thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Runs `work` on a new low-priority thread named `name` and waits for its result. A panic
/// in `work` is resumed in the caller.
pub async fn run<T, F>(name: &str, work: F) -> Result<T, BackgroundError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (done, result) = oneshot::channel();
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        lower_priority();
        let _ = done.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
    })?;
    match result.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // The thread ends only after sending, unless it could not even send (never).
        Err(_) => unreachable!("a background thread ended without a result"),
    }
}

/// Gives the calling thread the lowest priority (on Linux the nice value is per thread). A
/// failure is harmless: the work runs at normal priority.
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), NICE) {
        tracing::debug!(error = %e, "cannot lower a background thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_at_the_lowest_priority_and_returns_its_result() {
        let own =
            || rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("getpriority");
        let before = own();
        let (nice, name) = run("bg-test", move || (own(), std::thread::current().name().map(str::to_owned)))
            .await
            .expect("ran");
        assert_eq!(nice, NICE);
        assert_eq!(name.as_deref(), Some("bg-test"));
        assert_eq!(own(), before, "the caller's own priority is unchanged");
    }

    #[tokio::test(flavor = "current_thread")]
    #[should_panic(expected = "broken")]
    async fn a_panic_reaches_the_caller() {
        let _ = run("bg-test", || panic!("broken")).await;
    }
}
