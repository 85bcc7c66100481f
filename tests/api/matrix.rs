//! The permission matrix (SPEC §2, issue 4): every route of the server, the WebSocket
//! upgrade included, × {anonymous, another signed-in user, viewer, editor, owner} ×
//! {private, internal, public} projects, in one table. Each row names the rule its route
//! follows and runs the request; the run also checks the effect (a refused rename left
//! the name as it was, an accepted one changed it), so a route that answers the right
//! status but does the wrong thing fails too.
//!
//! The table must cover exactly the routes the router registers
//! (`sync_server::app::route_table`), and every status it observes must be documented for
//! that route in `/api/openapi.json`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sync_server::store::{DynStore, NewProject, NotebookId, NotebookMode, ProjectId, Role, Visibility};

use super::*;

#[path = "matrix/accounts.rs"]
mod accounts;
#[path = "matrix/consoles.rs"]
mod consoles;
#[path = "matrix/files.rs"]
mod files;
#[path = "matrix/history.rs"]
mod history;
#[path = "matrix/jobs.rs"]
mod jobs;
#[path = "matrix/notebooks.rs"]
mod notebooks;
#[path = "matrix/projects.rs"]
mod projects;
#[path = "matrix/runs.rs"]
mod runs;
#[path = "matrix/service.rs"]
mod service;

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Who {
    Anonymous,
    /// Signed in, no member of the project.
    Other,
    Viewer,
    Editor,
    Owner,
}

const EVERYONE: [Who; 5] = [Who::Anonymous, Who::Other, Who::Viewer, Who::Editor, Who::Owner];

const VISIBILITIES: [Visibility; 3] = [Visibility::Private, Visibility::Internal, Visibility::Public];

/// What a route requires, and the status it answers when that is met.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone, signed in or not.
    Anyone(u16),
    /// Any signed-in user (401 for anonymous callers).
    SignedIn(u16),
    /// Instance administrators only (none of the five callers is one).
    Admin,
    /// View access to the project: members, any signed-in user for internal and public
    /// projects, anyone for public ones.
    View(u16),
    /// Edit access: editors and the owner.
    Edit(u16),
    /// The project's owner.
    Own(u16),
    /// Unblocking a notebook the editor holds: the holder or the project's owner.
    HolderOrOwner(u16),
    /// Something of the editor's own (their console): only the editor.
    EditorsOwn(u16),
}

impl Rule {
    fn expect(self, visibility: Visibility, who: Who) -> u16 {
        let refused = if who == Who::Anonymous { 401 } else { 403 };
        let views = match who {
            Who::Anonymous => visibility == Visibility::Public,
            Who::Other => visibility != Visibility::Private,
            _ => true,
        };
        match self {
            Rule::Anyone(ok) => ok,
            Rule::SignedIn(ok) => {
                if who == Who::Anonymous {
                    401
                } else {
                    ok
                }
            }
            Rule::Admin => refused,
            Rule::View(ok) => {
                if views {
                    ok
                } else {
                    refused
                }
            }
            Rule::Edit(ok) => {
                if matches!(who, Who::Editor | Who::Owner) {
                    ok
                } else {
                    refused
                }
            }
            Rule::Own(ok) => {
                if who == Who::Owner {
                    ok
                } else {
                    refused
                }
            }
            Rule::EditorsOwn(ok) => {
                if who == Who::Editor {
                    ok
                } else {
                    refused
                }
            }
            Rule::HolderOrOwner(ok) => {
                if matches!(who, Who::Editor | Who::Owner) {
                    ok
                } else {
                    refused
                }
            }
        }
    }
}

/// One row: a route (`METHOD /path` as the router registers it), its rule, and a run that
/// makes the request as `who` against `scene`, checks the effect and returns the status.
struct Case {
    route: &'static str,
    rule: Rule,
    run: fn(&Matrix<'_>, &Scene, Who) -> u16,
}

/// A project of one visibility, owned by the owner, with the editor and the viewer as
/// members, and a notebook the owner created.
#[derive(Debug)]
struct Scene {
    visibility: Visibility,
    project: i64,
    notebook: i64,
}

/// The server, its store and the four signed-in callers.
struct Matrix<'a> {
    env: &'a Env,
    store: DynStore,
    owner: TestUser,
    editor: TestUser,
    viewer: TestUser,
    other: TestUser,
    next: Cell<u32>,
    /// Per scene (project id): a kernel of the editor's, started when first needed.
    kernels: RefCell<BTreeMap<i64, String>>,
    /// Per scene: a pair-mode notebook the editor imported, with code cell `k1`.
    pair_notebooks: RefCell<BTreeMap<i64, i64>>,
}

impl Matrix<'_> {
    fn user(&self, who: Who) -> Option<&TestUser> {
        match who {
            Who::Anonymous => None,
            Who::Other => Some(&self.other),
            Who::Viewer => Some(&self.viewer),
            Who::Editor => Some(&self.editor),
            Who::Owner => Some(&self.owner),
        }
    }

    fn auth(&self, who: Who) -> Auth<'_> {
        self.user(who).map_or(Auth::None, |u| Auth::Bearer(&u.token))
    }

    fn api(&self) -> &Api {
        &self.env.api
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.env.rt.block_on(future)
    }

    /// A name no other run uses.
    fn unique(&self, prefix: &str) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        format!("{prefix}{n}")
    }

    /// A project like the scene's, for runs that delete it.
    fn fresh_project(&self, visibility: Visibility) -> ProjectId {
        let new = NewProject {
            owner_id: self.owner.user.id,
            name: self.unique("throwaway-"),
            description: String::new(),
            visibility,
        };
        let project = self.block_on(self.store.create_project(&new)).expect("create project").id;
        self.block_on(self.store.add_member(project, self.editor.user.id, Role::Editor)).expect("editor");
        self.block_on(self.store.add_member(project, self.viewer.user.id, Role::Viewer)).expect("viewer");
        project
    }

    /// A notebook of the scene's project made by the owner, for runs that change it.
    fn fresh_notebook(&self, scene: &Scene) -> NotebookId {
        let name = self.unique("nb-");
        let new = sync_server::notebooks::NewEmpty {
            project: ProjectId(scene.project),
            name: &name,
            mode: NotebookMode::Thread,
            kernelspec: None,
            creator: &self.owner.user,
            at: chrono::Utc::now(),
        };
        self.block_on(sync_server::notebooks::create_empty(&self.store, new)).expect("create notebook").id
    }

    /// A user who is a viewer of the scene's project, to be re-roled or removed.
    fn fresh_member(&self, scene: &Scene) -> TestUser {
        let user = self.block_on(add_user(&self.store, &self.unique("member-")));
        self.block_on(self.store.add_member(ProjectId(scene.project), user.user.id, Role::Viewer))
            .expect("add member");
        user
    }

    fn role_of(&self, scene: &Scene, user: &TestUser) -> Option<Role> {
        self.block_on(self.store.member_role(ProjectId(scene.project), user.user.id)).expect("role")
    }

    fn notebook(&self, id: i64) -> Option<sync_server::store::NotebookRow> {
        self.block_on(self.store.notebook(NotebookId(id))).expect("notebook")
    }

    fn notebook_names(&self, scene: &Scene) -> Vec<String> {
        let rows = self.block_on(self.store.notebooks_in(ProjectId(scene.project))).expect("notebooks");
        rows.into_iter().map(|n| n.name).collect()
    }

    /// Imports a notebook with one code cell `k1` as the editor (its author).
    fn editor_notebook(&self, scene: &Scene, mode: NotebookMode) -> i64 {
        let name = self.unique("code-");
        let path = format!("/api/projects/{}/notebooks/import?name={name}", scene.project);
        let reply = self.api().post_bytes(&path, Auth::Bearer(&self.editor.token), &code_ipynb());
        reply.expect(201);
        let id = reply.json()["notebook"]["id"].as_i64().expect("notebook id");
        self.block_on(self.store.set_notebook_mode(NotebookId(id), mode, self.editor.user.id)).expect("mode");
        id
    }

    /// The scene's pair-mode notebook (cell `k1`, by the editor).
    fn pair_notebook(&self, scene: &Scene) -> i64 {
        if let Some(id) = self.pair_notebooks.borrow().get(&scene.project) {
            return *id;
        }
        let id = self.editor_notebook(scene, NotebookMode::Pair);
        self.pair_notebooks.borrow_mut().insert(scene.project, id);
        id
    }

    /// A running kernel of the editor's in the scene's project (thread mode), started by
    /// running cell `k1` if the last one is gone.
    fn editor_kernel(&self, scene: &Scene) -> String {
        if let Some(id) = self.kernels.borrow().get(&scene.project)
            && self.kernel_ids(&self.editor).contains(id)
        {
            return id.clone();
        }
        let notebook = self.editor_notebook(scene, NotebookMode::Thread);
        let path = format!("/api/notebooks/{notebook}/cells/k1/run");
        let reply = self.api().post_empty(&path, Auth::Bearer(&self.editor.token));
        reply.expect(202);
        let id = reply.json()["kernel_id"].as_str().expect("kernel id").to_owned();
        self.kernels.borrow_mut().insert(scene.project, id.clone());
        id
    }

    /// The editor's default console in the scene's project, opened if there is none.
    fn editor_console(&self, scene: &Scene) -> String {
        let reply = self.api().get("/api/consoles", Auth::Bearer(&self.editor.token));
        reply.expect(200);
        let consoles = reply.json()["consoles"].as_array().expect("consoles").clone();
        if let Some(console) = consoles.iter().find(|c| c["project_id"] == json!(scene.project)) {
            return console["id"].as_str().expect("id").to_owned();
        }
        let path = format!("/api/projects/{}/consoles", scene.project);
        let reply = self.api().post_json(&path, Auth::Bearer(&self.editor.token), &json!({}));
        reply.expect(201);
        reply.json()["id"].as_str().expect("id").to_owned()
    }

    /// The status of a GET whose body may never end (an event stream): only the status
    /// line is read.
    fn status_of_stream(&self, path: &str, who: Who) -> u16 {
        use std::io::{BufRead, Write};
        let authority = self.env.server.http().trim_start_matches("http://").to_owned();
        let mut stream = std::net::TcpStream::connect(&authority).expect("connect");
        let auth =
            self.user(who).map(|u| format!("Authorization: Bearer {}\r\n", u.token)).unwrap_or_default();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\n{auth}Connection: close\r\n\r\n")
            .expect("send");
        let mut line = String::new();
        std::io::BufReader::new(stream).read_line(&mut line).expect("status line");
        line.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {line:?}"))
    }

    /// Submits a job of the editor's running `script` (written into the scene's project
    /// with `content` first); its id.
    fn editor_job(&self, scene: &Scene, script: &str, content: &str) -> i64 {
        seed_file(self.env, scene.project, script, content.as_bytes(), &self.editor);
        let path = format!("/api/projects/{}/jobs", scene.project);
        let reply = self.api().post_json(&path, Auth::Bearer(&self.editor.token), &json!({"path": script}));
        reply.expect(201);
        reply.json()["id"].as_i64().expect("job id")
    }

    /// The job's state as its owner sees it.
    fn job_state(&self, id: i64) -> String {
        let reply = self.api().get(&format!("/api/jobs/{id}"), Auth::Bearer(&self.editor.token));
        reply.expect(200);
        reply.json()["state"].as_str().expect("state").to_owned()
    }

    /// Waits until the job has ended (a short script).
    fn job_ended(&self, id: i64) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let state = self.job_state(id);
            if ["finished", "failed", "terminated"].contains(&state.as_str())
                || std::time::Instant::now() > deadline
            {
                return state;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Ids of the user's running kernels.
    fn kernel_ids(&self, user: &TestUser) -> Vec<String> {
        let reply = self.api().get("/api/kernels", Auth::Bearer(&user.token));
        reply.expect(200);
        let listed = reply.json()["kernels"].as_array().expect("kernels").clone();
        listed.iter().map(|k| k["id"].as_str().expect("id").to_owned()).collect()
    }

    /// The access a caller should see in a project's or notebook's JSON.
    fn access_of(who: Who) -> Value {
        json!(match who {
            Who::Owner => "own",
            Who::Editor => "edit",
            _ => "view",
        })
    }

    /// Opens the WebSocket as `who` (token as `?token=`): 101 when upgraded, else the
    /// refusal's status.
    fn ws_status(&self, notebook: i64, who: Who) -> u16 {
        let mut url = format!("{}/{notebook}", self.env.server.ws());
        if let Some(user) = self.user(who) {
            url = format!("{url}?token={}", user.token);
        }
        self.block_on(async {
            match tokio_tungstenite::connect_async(&url).await {
                Ok((mut socket, response)) => {
                    assert_eq!(response.status().as_u16(), 101);
                    let _ = futures_util::SinkExt::close(&mut socket).await;
                    101
                }
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
                Err(e) => panic!("connecting to {url}: {e}"),
            }
        })
    }
}

fn ok(status: u16) -> bool {
    (200..300).contains(&status) || status == 101
}

/// A minimal valid notebook file.
fn small_ipynb() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"id": "a1", "cell_type": "markdown", "metadata": {}, "source": "hello"}]
    }))
    .expect("json")
}

/// A notebook file with one code cell `k1`.
fn code_ipynb() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"id": "k1", "cell_type": "code", "metadata": {}, "source": "1 + 1",
                   "outputs": [], "execution_count": null}]
    }))
    .expect("json")
}

/// The whole table, in the order it runs: one file of rows per domain, under `matrix/`.
fn cases() -> Vec<Case> {
    [
        accounts::cases(),
        projects::cases(),
        notebooks::cases(),
        runs::cases(),
        history::cases(),
        files::cases(),
        consoles::cases(),
        jobs::cases(),
        service::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub fn permission_matrix(backend: Backend) {
    let jupyter = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/share/jupyter");
    // Kernels: the editor holds one per scene plus the shared ones they started first.
    let env = Env::with_env(backend, &[("JUPYTER_PATH", jupyter), ("TALKBOOK_MAX_KERNELS_PER_USER", "20")]);
    let m = Matrix {
        store: env.store(),
        owner: env.user("olga"),
        editor: env.user("ed"),
        viewer: env.user("vic"),
        other: env.user("otto"),
        next: Cell::new(0),
        kernels: RefCell::new(BTreeMap::new()),
        pair_notebooks: RefCell::new(BTreeMap::new()),
        env: &env,
    };
    let scenes: Vec<Scene> = VISIBILITIES
        .iter()
        .map(|&visibility| {
            let project = m.fresh_project(visibility);
            let mut scene = Scene { visibility, project: project.0, notebook: 0 };
            scene.notebook = m.fresh_notebook(&scene).0;
            scene
        })
        .collect();

    let cases = cases();
    let mut wrong = Vec::new();
    let mut seen: BTreeMap<&str, BTreeSet<u16>> = BTreeMap::new();
    for case in &cases {
        for scene in &scenes {
            for who in EVERYONE {
                let expected = case.rule.expect(scene.visibility, who);
                let got = (case.run)(&m, scene, who);
                seen.entry(case.route).or_default().insert(got);
                if got != expected {
                    wrong.push(format!(
                        "{} as {who:?} on a {:?} project: {got}, expected {expected}",
                        case.route, scene.visibility
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} answers differ:\n{}",
        wrong.len(),
        cases.len() * 15,
        wrong.join("\n")
    );

    // The table covers exactly the routes the router registers.
    let table: BTreeSet<String> = cases.iter().map(|c| c.route.to_owned()).collect();
    assert_eq!(table.len(), cases.len(), "a route appears twice in the matrix");
    let registered: BTreeSet<String> =
        sync_server::app::route_table().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        table.symmetric_difference(&registered).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "routes registered but not in the matrix, or in the matrix but not registered"
    );

    // Every status seen is documented for its route.
    let document = env.api.get("/api/openapi.json", Auth::None).json();
    for (route, statuses) in &seen {
        let (method, path) = route.split_once(' ').expect("METHOD /path");
        let responses = &document["paths"][path][method.to_lowercase()]["responses"];
        for status in statuses {
            assert!(
                responses.get(status.to_string()).is_some(),
                "{route} answered {status}, which /api/openapi.json does not document"
            );
        }
    }
}
