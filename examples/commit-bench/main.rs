//! Group-commit latency of a store alone: N appends of BATCH small updates each (default
//! 1: as an idle server commits), one after the other. Prints one JSON line.
//!
//!   cargo run --release -p sync-server --example commit-bench -- DATABASE_URL [N] [BATCH]

use std::time::Instant;

use sync_server::store::{NewNotebook, NewProject, NewUpdate, NewUser, NotebookMode, Visibility};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or_else(|| anyhow::anyhow!("usage: commit-bench DATABASE_URL [N] [BATCH]"))?;
    let n: usize = args.next().map_or(Ok(2000), |s| s.parse())?;
    let batch: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let store = sync_server::store::open(&url).await?;
    store.migrate().await?;
    let suffix = std::process::id();
    let user = store
        .create_user(&NewUser {
            name: format!("bench{suffix}"),
            display_name: "bench".into(),
            color: "#000000".into(),
            is_admin: false,
            password_hash: None,
        })
        .await?;
    let project = store
        .create_project(&NewProject {
            owner_id: user.id,
            name: format!("bench{suffix}"),
            description: String::new(),
            visibility: Visibility::Private,
        })
        .await?;
    let nb = store
        .create_notebook(&NewNotebook {
            project_id: project.id,
            name: "bench.ipynb".into(),
            mode: NotebookMode::Thread,
            kernelspec: "python3".into(),
            created_by: user.id,
        })
        .await?;
    let mut micros = Vec::with_capacity(n);
    for i in 0..n {
        let updates: Vec<NewUpdate> = (0..batch)
            .map(|j| NewUpdate {
                notebook_id: nb.id,
                user_id: Some(user.id),
                actor_id: None,
                client_ids: vec![42],
                at: chrono::Utc::now(),
                data: vec![(i + j) as u8; 40],
            })
            .collect();
        let started = Instant::now();
        store.append_updates(&updates).await?;
        micros.push(started.elapsed().as_micros() as u64);
    }
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    let mean = micros.iter().sum::<u64>() as f64 / micros.len() as f64 / 1000.0;
    // The figures are this tool's output: one JSON line on stdout.
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{{\"appends\":{n},\"batch\":{batch},\"mean_ms\":{mean:.3},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    Ok(())
}
