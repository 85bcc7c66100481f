//! A running server on a fresh database with two users, a project and one empty notebook,
//! plus helpers to compare what clients see with what is stored.

use serde_json::{Value, json};
use sync_server::store::{NotebookId, NotebookMode, ProjectId, Role};

use super::server::*;
use super::yclient::{Kind, YClient};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

/// A server on a fresh database with a private project owned by alice, where bob and
/// carol are editors and vera a viewer, and one empty notebook.
pub struct Fixture {
    pub server: TestServer,
    pub alice: TestUser,
    pub bob: TestUser,
    pub carol: TestUser,
    pub vera: TestUser,
    pub project: ProjectId,
    pub notebook: NotebookId,
    pub db: TestDb,
    pub rt: tokio::runtime::Runtime,
}

impl Fixture {
    /// A pair-mode notebook: every editor may change every cell.
    pub fn new(backend: Backend) -> Self {
        Self::with_env(backend, &[])
    }

    pub fn with_env(backend: Backend, env: &[(&str, &str)]) -> Self {
        Self::build(backend, NotebookMode::Pair, env)
    }

    /// A thread-mode notebook: everyone changes only their own cells.
    pub fn thread(backend: Backend) -> Self {
        Self::build(backend, NotebookMode::Thread, &[])
    }

    pub fn build(backend: Backend, mode: NotebookMode, env: &[(&str, &str)]) -> Self {
        let rt = runtime();
        let (db, [alice, bob, carol, vera], project, notebook) = rt.block_on(async {
            let db = TestDb::new(backend).await;
            let store = db.store().await;
            let alice = add_user(&store, "alice").await;
            let bob = add_user(&store, "bob").await;
            let carol = add_user(&store, "carol").await;
            let vera = add_user(&store, "vera").await;
            let project = add_project(&store, &alice).await;
            for (user, role) in [(&bob, Role::Editor), (&carol, Role::Editor), (&vera, Role::Viewer)] {
                store.add_member(project, user.user.id, role).await.expect("add member");
            }
            let notebook = add_notebook(&store, project, &alice, "thread").await;
            store.set_notebook_mode(notebook, mode, alice.user.id).await.expect("set mode");
            (db, [alice, bob, carol, vera], project, notebook)
        });
        let server = TestServer::start_with(&db, env);
        Self { server, alice, bob, carol, vera, project, notebook, db, rt }
    }

    pub fn client(&self, kind: Kind, name: &str, user: &TestUser) -> YClient {
        let mut client =
            YClient::start(kind, name, &self.server.ws(), &self.notebook.to_string(), Some(&user.token));
        client.connect();
        client
    }

    /// The notebook as stored in the database, read the way a cold server loads it.
    pub fn stored(&self) -> doc_model::NotebookDoc {
        self.rt.block_on(async {
            let store = self.db.store().await;
            sync_server::rooms::load(&store, self.notebook).await.expect("load").doc
        })
    }
}

/// The cells of a client's dump, comparable across clients.
pub fn cells(dump: &Value) -> Value {
    dump["notebook"]["cells"].clone()
}

/// The cell ids of a client's dump, in notebook order.
pub fn cell_ids(dump: &Value) -> Vec<String> {
    ids(&dump["notebook"]["cells"])
}

/// The ids of a list of cells (a dump's or an exported notebook's), in order.
pub fn ids(cells: &Value) -> Vec<String> {
    cells.as_array().into_iter().flatten().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect()
}

/// The stored notebook in the dump's shape (nbformat cells without execution_state).
pub fn stored_cells(doc: &doc_model::NotebookDoc) -> Value {
    let exported = doc_model::ipynb::export(&doc.read(), &Default::default());
    let mut cells = exported["cells"].clone();
    for cell in cells.as_array_mut().expect("cells") {
        let source: String =
            cell["source"].as_array().expect("lines").iter().filter_map(Value::as_str).collect();
        cell["source"] = json!(source);
        if let Some(outputs) = cell.get_mut("outputs") {
            *outputs = json!(outputs.as_array().cloned().unwrap_or_default());
        }
    }
    cells
}
