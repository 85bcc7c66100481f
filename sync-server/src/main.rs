//! The `talkbook` command: a thin wrapper around [`sync_server::cli`].

/// jemalloc, not the system allocator: a server with thousands of open rooms holds many
/// small long-lived allocations between the short-lived ones of every request, and glibc's
/// malloc keeps the pages between them. Measured with 2,000 idle rooms x 2 clients
/// (docs/benchmarks.md): 35.9 KB per room with glibc, 26 KB with jemalloc. Its options are
/// compiled in from `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    sync_server::cli::main()
}
