//! `talkbook serve`: open the database, make sure someone can sign in, and serve until
//! Ctrl-C or SIGTERM.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::{self, AppState};
use crate::auth;
use crate::config::ServeConfig;
use crate::store::{self, DynStore, NewUser};

/// Name of the account created on first start.
pub const FIRST_ADMIN: &str = "admin";

/// Runs the server on a fresh tokio runtime.
pub fn serve(config: ServeConfig) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve_async(config))
}

async fn serve_async(config: ServeConfig) -> anyhow::Result<()> {
    let store = open_store(&config.db).await?;
    bootstrap_admin(&store, config.bind).await?;
    // Kernels do not outlive the server that started them (they die with it), so runs it
    // left queued or running never finish: say so in their records.
    let stale = store
        .abort_unfinished_executions("the server stopped before the run finished", chrono::Utc::now())
        .await?;
    if stale > 0 {
        tracing::info!(runs = stale, "runs left unfinished by the last server marked aborted");
    }
    let stale_jobs = store
        .abort_unfinished_jobs("the server stopped while the job was queued or running", chrono::Utc::now())
        .await?;
    if stale_jobs > 0 {
        tracing::info!(jobs = stale_jobs, "jobs left unfinished by the last server marked failed");
    }
    let released = store.release_console_blocks().await?;
    if released > 0 {
        tracing::info!(files = released, "file blocks of consoles the last server held released");
    }
    let listener =
        TcpListener::bind(config.bind).await.with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %redact(&config.db.url()), "talkbook serving");
    eprintln!("Talkbook is running at http://{addr} (WebSocket: ws://{addr}/ws/NOTEBOOK_ID)");
    let state = AppState::new(store, config);
    app::run(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the configured database (creating the SQLite data directory if needed) and runs
/// its migrations.
pub async fn open_store(db: &crate::config::DbConfig) -> anyhow::Result<DynStore> {
    if db.database_url.is_none() {
        std::fs::create_dir_all(&db.data_dir)
            .with_context(|| format!("cannot create data directory {}", db.data_dir.display()))?;
    }
    let url = db.url();
    let store = store::open(&url).await.with_context(|| format!("cannot open database {}", redact(&url)))?;
    store.migrate().await.context("database migrations failed")?;
    Ok(store)
}

/// On an empty database, creates an admin whose password comes from
/// `TALKBOOK_ADMIN_PASSWORD` or is generated, and says how to sign in.
async fn bootstrap_admin(store: &DynStore, bind: std::net::SocketAddr) -> anyhow::Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match std::env::var("TALKBOOK_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (auth::new_token_secret().0.trim_start_matches("tb_")[..16].to_owned(), true),
    };
    let hash = auth::hash_password(&password)?;
    store
        .create_user(&NewUser {
            name: FIRST_ADMIN.into(),
            display_name: "Administrator".into(),
            color: "#6b7280".into(),
            is_admin: true,
            password_hash: Some(hash),
        })
        .await?;
    let shown = if generated { password.as_str() } else { "(from TALKBOOK_ADMIN_PASSWORD)" };
    eprintln!(
        "\nFirst start: created the administrator account.\n  user:     {FIRST_ADMIN}\n  password: {shown}\n\
         Sign in:  curl -s -X POST http://{bind}/api/auth/login -H 'content-type: application/json' \\\n            \
         -d '{{\"name\":\"{FIRST_ADMIN}\",\"password\":\"PASSWORD\"}}'\n\
         Change it: talkbook user passwd {FIRST_ADMIN}\n"
    );
    Ok(())
}

/// Hides the password of a database URL for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_hidden_in_database_urls() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
