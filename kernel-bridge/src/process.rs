//! Starting a kernel's process from its kernelspec: connection file, command line,
//! environment, output capture, and the guarantee that the kernel dies with its parent.
//!
//! # Dying with the parent, without `unsafe`
//!
//! Linux's `prctl(PR_SET_PDEATHSIG)` makes the kernel receive SIGKILL when the server dies,
//! however it dies (SIGKILL or a crash included). It has to be called in the child between
//! `fork` and `exec`, which in Rust means `CommandExt::pre_exec`, an `unsafe` function the
//! workspace forbids, and no small maintained crate wraps it safely. So the kernel is
//! started through util-linux's `setpriv --pdeathsig KILL` (util-linux is part of every
//! Debian/Ubuntu base system), which sets the flag and then `exec`s the kernel; one `/bin/sh`
//! step between them exits if the server already died before the flag was set (the parent
//! pid it sees is no longer ours), closing the fork-to-prctl race. Both steps `exec`, so the
//! pid we hold is the kernel's own.
//!
//! The death signal fires when the *thread* that forked the child exits, not the process.
//! Tokio may fork from a short-lived blocking thread, so every kernel is forked by one
//! dedicated launcher thread that lives as long as the process.
//!
//! As a second line, the child is `kill_on_drop` (an actor that is dropped kills its
//! kernel) and `JPY_PARENT_PID` is set, which makes ipykernel exit when its parent changes,
//! as under Jupyter.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};

use jupyter_protocol::{ConnectionInfo, Transport};
use rand::RngCore as _;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::Child;

use crate::error::KernelError;
use crate::kernelspec::{KernelSpec, substitute_env};

/// How many of the kernel's last output lines are kept to explain a failed start or a death.
const TAIL_LINES: usize = 40;

/// The last lines a kernel wrote to stdout/stderr.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutputTail(Arc<Mutex<VecDeque<String>>>);

impl OutputTail {
    fn push(&self, line: String) {
        let Ok(mut lines) = self.0.lock() else { return };
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The kept lines, one per line.
    pub(crate) fn text(&self) -> String {
        self.0.lock().map(|lines| lines.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }
}

/// What a launch needs besides the kernelspec.
#[derive(Debug, Clone)]
pub(crate) struct LaunchPlan {
    pub working_dir: PathBuf,
    pub extra_env: Vec<(String, String)>,
    pub runtime_dir: Option<PathBuf>,
    pub parent_death_signal: bool,
}

/// A running kernel process.
#[derive(Debug)]
pub(crate) struct KernelProcess {
    pub child: Child,
    pub pid: u32,
    pub connection: ConnectionInfo,
    pub tail: OutputTail,
    /// The kernel's ports, kept from other kernels while this one lives.
    _ports: ports::Reservation,
    /// The tasks logging stdout and stderr; they end when the process closes its pipes.
    pumps: Vec<tokio::task::JoinHandle<()>>,
    /// The private directory holding the connection file; removed when the process is.
    _runtime_dir: tempfile::TempDir,
}

impl KernelProcess {
    /// Sends `signal` to the kernel's process group (the kernel leads its own group, so
    /// this reaches whatever it started too, as jupyter_client's `killpg` does).
    pub(crate) fn signal_group(&self, signal: rustix::process::Signal) -> std::io::Result<()> {
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| std::io::Error::other("invalid pid"))?;
        rustix::process::kill_process_group(pid, signal).map_err(std::io::Error::from)
    }

    /// After the process exited: waits (briefly) until its last output lines are logged, so
    /// an error message can quote them.
    pub(crate) async fn collect_output(&mut self) {
        let pumps = std::mem::take(&mut self.pumps);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            for pump in pumps {
                let _ = pump.await;
            }
        })
        .await;
    }
}

/// Describes an exit status in words ("exit code 1", "signal 9").
pub(crate) fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown exit status".into(),
    }
}

/// Starts the kernel process: free ports and a random key in a private connection file,
/// `argv` with `{connection_file}`/`{resource_dir}` filled in, the kernelspec's environment,
/// the caller's working directory, stdin closed and stdout/stderr logged.
pub(crate) async fn launch(spec: &KernelSpec, plan: &LaunchPlan) -> Result<KernelProcess, KernelError> {
    let connection_error = |source| KernelError::ConnectionFile { kernel: spec.name.clone(), source };
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // The listeners hold the ports until the process exists; they are released right after
    // the spawn, well before the kernel (an interpreter still starting up) binds them. The
    // reservation keeps them from every other kernel of this process until this one ends.
    let (reservation, listeners) = ports::reserve(ip, 5).map_err(connection_error)?;
    let ports = reservation.ports().to_vec();
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let connection = ConnectionInfo {
        ip: ip.to_string(),
        transport: Transport::TCP,
        shell_port: ports[0],
        iopub_port: ports[1],
        stdin_port: ports[2],
        control_port: ports[3],
        hb_port: ports[4],
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
        signature_scheme: "hmac-sha256".into(),
        kernel_name: Some(spec.name.clone()),
    };

    let runtime_dir = match &plan.runtime_dir {
        Some(parent) => tempfile::Builder::new().prefix("kernel-").tempdir_in(parent),
        None => tempfile::Builder::new().prefix("talkbook-kernel-").tempdir(),
    }
    .map_err(connection_error)?;
    let connection_file = runtime_dir.path().join(format!("kernel-{}.json", uuid::Uuid::new_v4()));
    write_private(&connection_file, &serde_json::to_vec_pretty(&connection).unwrap_or_default())
        .map_err(connection_error)?;

    let argv = kernel_argv(spec, &connection_file);
    let mut env: Vec<(String, String)> = spec
        .env
        .iter()
        .map(|(name, value)| (name.clone(), substitute_env(value, |var| std::env::var(var).ok())))
        .collect();
    env.push(("JPY_PARENT_PID".into(), std::process::id().to_string()));
    env.extend(plan.extra_env.iter().cloned());

    let job = SpawnJob {
        argv: argv.clone(),
        env,
        working_dir: plan.working_dir.clone(),
        parent_death_signal: plan.parent_death_signal,
    };
    let mut child = launcher::spawn(job).await.map_err(|source| KernelError::Spawn {
        kernel: spec.name.clone(),
        program: argv[0].clone(),
        source,
    })?;
    drop(listeners);
    let pid = child.id().unwrap_or_default();

    let tail = OutputTail::default();
    let mut pumps = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(stdout, "stdout", spec.name.clone(), pid, tail.clone())));
    }
    if let Some(stderr) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(stderr, "stderr", spec.name.clone(), pid, tail.clone())));
    }
    tracing::info!(kernel = %spec.name, pid, cwd = %plan.working_dir.display(), ?ports, "kernel process started");
    Ok(KernelProcess { child, pid, connection, tail, _ports: reservation, pumps, _runtime_dir: runtime_dir })
}

/// `argv` with `{connection_file}` and `{resource_dir}` replaced wherever they occur, as
/// jupyter_client's `format_kernel_cmd` does; other `{…}` are left alone.
fn kernel_argv(spec: &KernelSpec, connection_file: &Path) -> Vec<String> {
    let connection_file = connection_file.to_string_lossy();
    let resource_dir = spec.resource_dir.to_string_lossy();
    spec.argv
        .iter()
        .map(|arg| {
            arg.replace("{connection_file}", &connection_file).replace("{resource_dir}", &resource_dir)
        })
        .collect()
}

/// Writes a file only its owner can read: the connection file holds the signing key.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Logs every line of a kernel's stdout or stderr and keeps the last ones.
async fn pump(
    stream: impl AsyncRead + Unpin,
    name: &'static str,
    kernel: String,
    pid: u32,
    tail: OutputTail,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                tracing::info!(target: "kernel_bridge::kernel_output", kernel = %kernel, pid, stream = name, "{text}");
                tail.push(text);
            }
        }
    }
}

mod ports {
    //! Free ports for kernels, never the same ones twice at a time.
    //!
    //! Asking the OS for port 0 and releasing the port for the kernel to bind is racy: a
    //! port released by one launch can be handed to the next launch before the first
    //! kernel has bound it, and two binds on different threads can even get the same port
    //! before either listens. Then a kernel fails with "Address already in use", or a client
    //! connects to another kernel's socket of the wrong type and is reset. So allocation
    //! is serialised and every port stays reserved until its kernel process is gone, as
    //! jupyter_client's `LocalPortCache` does.

    use std::collections::BTreeSet;
    use std::net::{IpAddr, SocketAddr, TcpListener};
    use std::sync::Mutex;

    static RESERVED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

    /// Ports reserved for one kernel; released when dropped.
    #[derive(Debug)]
    pub(super) struct Reservation(Vec<u16>);

    impl Reservation {
        pub(super) fn ports(&self) -> &[u16] {
            &self.0
        }
    }

    impl Drop for Reservation {
        fn drop(&mut self) {
            if let Ok(mut reserved) = RESERVED.lock() {
                for port in &self.0 {
                    reserved.remove(port);
                }
            }
        }
    }

    /// `count` free ports not reserved by another kernel, with listeners holding them.
    pub(super) fn reserve(ip: IpAddr, count: usize) -> std::io::Result<(Reservation, Vec<TcpListener>)> {
        let mut reserved =
            RESERVED.lock().map_err(|_| std::io::Error::other("port reservations poisoned"))?;
        let mut listeners = Vec::with_capacity(count);
        // Ports that are free but reserved stay bound here until the end, so the OS does
        // not offer them again in this loop.
        let mut skipped = Vec::new();
        while listeners.len() < count {
            let listener = TcpListener::bind(SocketAddr::new(ip, 0))?;
            let port = listener.local_addr()?.port();
            if reserved.contains(&port) && skipped.len() < 1000 {
                skipped.push(listener);
            } else {
                listeners.push(listener);
            }
        }
        let ports: Vec<u16> =
            listeners.iter().filter_map(|l| l.local_addr().ok()).map(|a| a.port()).collect();
        reserved.extend(ports.iter().copied());
        Ok((Reservation(ports), listeners))
    }
}

/// Starts a process the way kernels are started: it dies with this process (see the module
/// docs), runs in its own process group, has stdin closed and stdout and stderr piped, and
/// is killed when its `Child` is dropped. For work that is not a kernel, such as a
/// server's background jobs.
pub async fn spawn_child(
    argv: Vec<String>,
    env: Vec<(String, String)>,
    working_dir: PathBuf,
) -> std::io::Result<Child> {
    if argv.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command to run"));
    }
    launcher::spawn(SpawnJob { argv, env, working_dir, parent_death_signal: true }).await
}

/// Everything needed to fork the kernel, handed to the launcher thread.
#[derive(Debug)]
struct SpawnJob {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    working_dir: PathBuf,
    parent_death_signal: bool,
}

mod launcher {
    //! The one long-lived thread that forks every kernel (see the module docs for why).

    use std::path::PathBuf;
    use std::process::Stdio;
    use std::sync::Mutex;
    use std::sync::mpsc;

    use tokio::process::{Child, Command};
    use tokio::sync::oneshot;

    use super::SpawnJob;

    /// Runs after `setpriv` has set the death signal and before the kernel: exit if our
    /// parent is no longer the server (it died in between), else become the kernel.
    const PARENT_CHECK: &str = r#"[ "$PPID" = "$1" ] || exit 111; shift; exec "$@""#;

    type Request = (SpawnJob, tokio::runtime::Handle, oneshot::Sender<std::io::Result<Child>>);

    static LAUNCHER: Mutex<Option<mpsc::Sender<Request>>> = Mutex::new(None);

    /// Forks the kernel on the launcher thread and hands back its `Child`.
    pub(super) async fn spawn(job: SpawnJob) -> std::io::Result<Child> {
        let (reply, answer) = oneshot::channel();
        submit((job, tokio::runtime::Handle::current(), reply))?;
        answer.await.unwrap_or_else(|_| Err(std::io::Error::other("kernel launcher stopped")))
    }

    /// Hands the request to the launcher thread, starting it on first use (or anew if it is
    /// gone, which cannot happen short of a panic in `spawn`).
    fn submit(request: Request) -> std::io::Result<()> {
        let mut launcher = LAUNCHER.lock().map_err(|_| std::io::Error::other("kernel launcher poisoned"))?;
        let request = match launcher.as_ref() {
            None => request,
            Some(sender) => match sender.send(request) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(request)) => request,
            },
        };
        let (sender, receiver) = mpsc::channel::<Request>();
        std::thread::Builder::new().name("kernel-launcher".into()).spawn(move || run(receiver))?;
        sender.send(request).map_err(|_| std::io::Error::other("kernel launcher stopped"))?;
        *launcher = Some(sender);
        Ok(())
    }

    fn run(requests: mpsc::Receiver<Request>) {
        let wrapper = parent_death_wrapper();
        if wrapper.is_none() {
            tracing::warn!(
                "`setpriv` (util-linux) with --pdeathsig not found: kernels will not be killed \
                 if this process is killed; install util-linux"
            );
        }
        for (job, runtime, reply) in requests {
            let _context = runtime.enter();
            let result = command(&job, wrapper.as_ref().filter(|_| job.parent_death_signal)).spawn();
            let _ = reply.send(result);
        }
    }

    fn command(job: &SpawnJob, setpriv: Option<&PathBuf>) -> Command {
        let mut command = match setpriv {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command
                    .args(["--pdeathsig", "KILL", "--", "/bin/sh", "-c", PARENT_CHECK, "talkbook-kernel"])
                    .arg(std::process::id().to_string())
                    .args(&job.argv);
                command
            }
            None => {
                let mut command = Command::new(&job.argv[0]);
                command.args(&job.argv[1..]);
                command
            }
        };
        command
            .envs(job.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&job.working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C in the server's terminal does not reach the
            // kernels, and an interrupt or kill reaches the kernel's own children.
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// `setpriv`, if it is there and knows `--pdeathsig` (util-linux 2.33 and later).
    fn parent_death_wrapper() -> Option<PathBuf> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let setpriv = std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
            .map(|dir| dir.join("setpriv"))
            .find(|candidate| candidate.is_file())?;
        let help = std::process::Command::new(&setpriv).arg("--help").stdin(Stdio::null()).output().ok()?;
        String::from_utf8_lossy(&help.stdout).contains("--pdeathsig").then_some(setpriv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_placeholders_are_filled_in() {
        let spec = KernelSpec {
            name: "k".into(),
            resource_dir: PathBuf::from("/specs/k"),
            argv: vec![
                "run".into(),
                "--logo={resource_dir}/logo.png".into(),
                "-f".into(),
                "{connection_file}".into(),
                "{other}".into(),
            ],
            display_name: "K".into(),
            language: "k".into(),
            interrupt_mode: Default::default(),
            env: Default::default(),
            metadata: Default::default(),
        };
        assert_eq!(
            kernel_argv(&spec, Path::new("/run/c.json")),
            ["run", "--logo=/specs/k/logo.png", "-f", "/run/c.json", "{other}"]
        );
    }
}
