//! Kernelspec discovery against the project's real environment (ipykernel's `python3` and
//! bash_kernel's `bash` in `.venv/share/jupyter`) and against prepared directories.

mod support;

use std::path::Path;

use kernel_bridge::{DiscoveryError, InterruptMode, JupyterPaths};
use support::*;

fn write_spec(data_dir: &Path, name: &str, json: &str) {
    let dir = data_dir.join("kernels").join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("kernel.json"), json).expect("write kernel.json");
}

#[test]
fn jupyter_path_finds_python3_of_the_environment() {
    let venv = venv();
    let spec = jupyter_paths().find("python3").expect("python3 found");
    assert_eq!(spec.name, "python3");
    assert_eq!(spec.language, "python");
    assert_eq!(spec.interrupt_mode, InterruptMode::Signal);
    assert!(spec.resource_dir.ends_with("share/jupyter/kernels/python3"), "{}", spec.resource_dir.display());
    // ipykernel's kernel.json says just `python`: it means this environment's interpreter.
    assert_eq!(Path::new(&spec.argv[0]), venv.join("bin/python"));
    assert!(spec.argv.iter().any(|arg| arg == "{connection_file}"), "{:?}", spec.argv);
}

#[test]
fn listing_shows_every_kernel_once_with_its_details() {
    let specs = jupyter_paths().list();
    let bash = specs.get("bash").expect("bash_kernel installed with --sys-prefix");
    assert_eq!(bash.language, "bash");
    assert_eq!(bash.display_name, "Bash");
    assert_eq!(bash.env.get("PS1").map(String::as_str), Some("$"));
    assert!(specs.contains_key("python3"));
}

#[test]
fn the_environment_prefix_is_searched_like_sys_prefix() {
    let venv = venv();
    let paths = JupyterPaths::from_lookup(|_| None).with_env_prefix(&venv);
    assert_eq!(paths.data_dirs()[0], venv.join("share/jupyter"));
    assert_eq!(paths.find("PYTHON3").expect("case-insensitive").name, "python3");
}

#[test]
fn the_first_directory_with_a_name_wins() {
    let first = tempfile::tempdir().expect("tmp");
    write_spec(
        first.path(),
        "python3",
        r#"{"argv": ["shadow", "{connection_file}"], "display_name": "Shadow", "language": "python",
            "interrupt_mode": "message"}"#,
    );
    let venv = venv();
    let path = std::env::join_paths([first.path().to_path_buf(), venv.join("share/jupyter")]).expect("join");
    let paths = JupyterPaths::from_lookup(move |name| (name == "JUPYTER_PATH").then(|| path.clone()));
    let spec = paths.find("python3").expect("found");
    assert_eq!(spec.display_name, "Shadow");
    assert_eq!(spec.interrupt_mode, InterruptMode::Message);
    assert_eq!(paths.list()["python3"].display_name, "Shadow");
    assert!(paths.list().contains_key("bash"), "later directories still contribute other names");
}

#[test]
fn broken_kernelspecs_are_reported_by_find_and_skipped_by_list() {
    let dir = tempfile::tempdir().expect("tmp");
    write_spec(dir.path(), "broken", "{not json");
    write_spec(dir.path(), "noargv", r#"{"argv": [], "display_name": "x", "language": "x"}"#);
    write_spec(
        dir.path(),
        "good",
        r#"{"argv": ["k", "{connection_file}"], "display_name": "Good", "language": "k"}"#,
    );
    let data = dir.path().as_os_str().to_owned();
    let paths = JupyterPaths::from_lookup(move |name| (name == "JUPYTER_PATH").then(|| data.clone()));
    assert!(matches!(paths.find("broken"), Err(DiscoveryError::Parse { .. })));
    assert!(matches!(paths.find("noargv"), Err(DiscoveryError::Invalid { .. })));
    let listed: Vec<String> = paths.list().into_keys().collect();
    assert!(listed.contains(&"good".to_string()) && !listed.contains(&"broken".to_string()), "{listed:?}");
    match paths.find("nope") {
        Err(error @ DiscoveryError::NotFound { .. }) => {
            let message = error.to_string();
            assert!(message.contains("nope") && message.contains("good"), "{message}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}
