//! The `talkbook` command: a thin wrapper around [`sync_server::cli`].

fn main() -> std::process::ExitCode {
    sync_server::cli::main()
}
