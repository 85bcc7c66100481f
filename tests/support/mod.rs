//! Helpers shared by the end-to-end tests: paths, the `talkbook` binary, the project's
//! Python environment.

#![allow(dead_code)]

pub mod backends;
pub mod fixture;
pub mod server;
pub mod yclient;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared test notebooks (`../shared/notebooks` beside the repository).
pub fn notebooks_dir(kind: &str) -> PathBuf {
    repo_root().join("../shared/notebooks").join(kind)
}

/// Every `.ipynb` in one folder of the shared corpus, sorted.
pub fn notebooks(kind: &str) -> Vec<PathBuf> {
    let dir = notebooks_dir(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no notebooks in {}", dir.display());
    files
}

/// The Python of the project's virtual environment (set up by `scripts/test`). Tests that
/// need it fail rather than skip when it is missing: skipping would hide lost coverage.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TALKBOOK_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no project Python at {}: run scripts/test (or scripts/python-env) first",
        venv.display()
    );
    venv
}

/// Runs a script from `tests/py/` with the project's Python.
pub fn run_py(script: &str, args: &[&Path]) -> Output {
    Command::new(python())
        .arg(repo_root().join("tests/py").join(script))
        .args(args)
        .output()
        .expect("start python")
}

/// Runs the `talkbook` binary built for this test run.
pub fn talkbook(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_talkbook"))
        .args(args)
        .env("TALKBOOK_LOG", "warn")
        .output()
        .expect("start talkbook")
}

/// `talkbook convert IN OUT`.
pub fn convert(input: &Path, output: &Path) -> Output {
    talkbook(&["convert".as_ref(), input.as_os_str(), output.as_os_str()])
}

/// Text of a process's output streams, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts success and returns stdout.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "command failed: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that nbformat finds `exported` equivalent to `original`.
pub fn assert_equivalent(original: &Path, exported: &Path) {
    let out = run_py("nb_compare.py", &[original, exported]);
    assert!(
        out.status.success(),
        "{} and {} differ:\n{}",
        original.display(),
        exported.display(),
        describe(&out)
    );
}

/// A file name without folders, for naming outputs.
pub fn stem(path: &Path) -> String {
    path.file_stem().expect("file name").to_string_lossy().into_owned()
}

/// The Jupyter data folder of the project's `.venv`, with the `python3` (ipykernel) and
/// `bash` (bash_kernel) kernelspecs that `scripts/python-env` installs. Servers that run
/// kernels get it as `JUPYTER_PATH`. Fails (never skips) when they are missing.
pub fn jupyter_path() -> PathBuf {
    let path = repo_root().join(".venv/share/jupyter");
    for kernel in ["python3", "bash"] {
        assert!(
            path.join("kernels").join(kernel).join("kernel.json").is_file(),
            "no `{kernel}` kernelspec in {}: run scripts/test (or scripts/python-env) first",
            path.display()
        );
    }
    path
}
