//! A real `talkbook serve` process for end-to-end tests, on SQLite or on a throwaway
//! PostgreSQL database, with users, tokens and notebooks made directly in its store.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sync_server::store::{
    self, DynStore, NewProject, NewToken, NewUser, NotebookId, NotebookMode, ProjectId, TokenKind, User,
    Visibility,
};

/// The storage backends every server test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A database for one test, removed when dropped.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("talkbook.db").display());
                Self { backend, url, dir, pg_name: None }
            }
            Backend::Postgres => {
                let admin = super::backends::admin_url();
                let name = super::backends::database_name();
                super::backends::admin_sql(&admin, &format!("CREATE DATABASE {name}")).await;
                let url = super::backends::database_url(&admin, &name);
                Self { backend, url, dir, pg_name: Some(name) }
            }
        }
    }

    /// A folder that lives as long as the database (for data dirs and scratch files).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// PostgreSQL only: refuses (or allows again) every connection to this database and
    /// drops the open ones, which looks to the server like the database going away.
    pub async fn set_reachable(&self, reachable: bool) {
        let name = self.pg_name.as_ref().expect("only a PostgreSQL database can be made unreachable");
        let admin = super::backends::admin_url();
        super::backends::admin_sql(&admin, &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}"))
            .await;
        if !reachable {
            super::backends::admin_sql(
                &admin,
                &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
            )
            .await;
        }
    }

    /// Opens (and migrates) the store, as the server will.
    pub async fn store(&self) -> DynStore {
        let store = store::open(&self.url).await.expect("open store");
        store.migrate().await.expect("migrate");
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let admin = super::backends::admin_url();
            // Drop runs outside any runtime: use a small one of its own.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(super::backends::admin_sql(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ));
        }
    }
}

/// A user with a personal token, made directly in the store.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub user: User,
    pub token: String,
}

pub async fn add_user(store: &DynStore, name: &str) -> TestUser {
    let user = store
        .create_user(&NewUser {
            name: name.into(),
            display_name: format!("{name} (display)"),
            color: "#112233".into(),
            is_admin: false,
            password_hash: Some(sync_server::auth::hash_password("pw").expect("hash")),
        })
        .await
        .expect("create user");
    let (token, hash) = sync_server::auth::new_token_secret();
    store
        .create_token(&NewToken {
            user_id: user.id,
            kind: TokenKind::Personal,
            name: "test".into(),
            hash,
            expires_at: None,
        })
        .await
        .expect("create token");
    TestUser { user, token }
}

pub async fn add_project(store: &DynStore, owner: &TestUser) -> ProjectId {
    store
        .create_project(&NewProject {
            owner_id: owner.user.id,
            name: "project".into(),
            description: String::new(),
            visibility: Visibility::Private,
        })
        .await
        .expect("create project")
        .id
}

/// An empty notebook, made by the same code the API and CLI use.
pub async fn add_notebook(store: &DynStore, project: ProjectId, owner: &TestUser, name: &str) -> NotebookId {
    let new = sync_server::notebooks::NewEmpty {
        project,
        name,
        mode: NotebookMode::Thread,
        kernelspec: None,
        creator: &owner.user,
        at: chrono::Utc::now(),
    };
    sync_server::notebooks::create_empty(store, new).await.expect("create notebook").id
}

/// A running `talkbook serve`.
pub struct TestServer {
    child: Child,
    pub addr: SocketAddr,
    db_url: String,
    data_dir: PathBuf,
    extra_env: Vec<(String, String)>,
}

impl TestServer {
    /// Starts a server on a free port of 127.0.0.1 against `db`.
    pub fn start(db: &TestDb) -> Self {
        Self::start_with(db, &[])
    }

    /// Starts a server with extra `TALKBOOK_*` settings.
    pub fn start_with(db: &TestDb, env: &[(&str, &str)]) -> Self {
        let extra_env: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (child, addr) = spawn(&db.url, &db.dir().join("data"), &extra_env, "127.0.0.1:0");
        Self { child, addr, db_url: db.url.clone(), data_dir: db.dir().join("data"), extra_env }
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The y-websocket server URL (clients add `/NOTEBOOK_ID`).
    pub fn ws(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A minimal HTTP/1.1 GET (no keep-alive), enough for `/metrics`, health checks and
    /// error bodies: status and body.
    pub fn http_get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(self.addr).expect("connect");
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (k, v) in headers {
            if *k != "Connection" {
                request.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        (status, body)
    }

    /// One value of `/metrics`, by its name with labels (`talkbook_rooms`,
    /// `talkbook_checkpoints_total{source="room"}`); `None` if it is not there.
    pub fn metric(&self, name: &str) -> Option<u64> {
        let (_, body) = self.http_get("/metrics", &[]);
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
            .and_then(|v| v.trim().parse().ok())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server with SIGTERM and waits for its orderly exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "server did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same port and database.
    pub fn restart(&mut self) {
        let _ = self.child.try_wait();
        let (child, addr) = spawn(&self.db_url, &self.data_dir, &self.extra_env, &self.addr.to_string());
        self.child = child;
        self.addr = addr;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `talkbook serve` and waits for the line that says where it listens.
fn spawn(
    db_url: &str,
    data_dir: &std::path::Path,
    env: &[(String, String)],
    bind: &str,
) -> (Child, SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_talkbook"));
    command
        .args(["serve", "--bind", bind, "--database", db_url])
        .env("TALKBOOK_DATA_DIR", data_dir)
        .env("TALKBOOK_ADMIN_PASSWORD", "admin-password")
        .env("TALKBOOK_LOG", std::env::var("TALKBOOK_LOG").unwrap_or_else(|_| "info".into()))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // A restart may race with the old socket's release; retry binding briefly.
    for _ in 0..50 {
        let mut child = command.spawn().expect("start talkbook serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.split("Talkbook is running at http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send(Ok(addr));
                    sent = true;
                    continue;
                }
                eprintln!("[server] {line}");
            }
            if !sent {
                let _ = tx.send(Err(()));
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(addr)) => return (child, addr.parse().expect("address")),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    panic!("talkbook serve did not start (see [server] lines above)");
}
