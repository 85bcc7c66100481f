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
use sync_server::store::{
    DynStore, NewProject, NewToken, NotebookBlock, NotebookId, NotebookMode, ProjectId, Role, TokenKind,
    Visibility,
};

use super::*;

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

fn cases() -> Vec<Case> {
    vec![
        // --- accounts ---
        Case {
            route: "POST /api/auth/login",
            rule: Rule::Anyone(200),
            run: |m, _, who| {
                let body = json!({"name": m.owner.user.name, "password": "pw"});
                let reply = m.api().post_json("/api/auth/login", m.auth(who), &body);
                if ok(reply.status) {
                    let token = reply.json()["token"].as_str().expect("token").to_owned();
                    m.api().get("/api/me", Auth::Bearer(&token)).expect(200);
                }
                reply.status
            },
        },
        Case {
            route: "POST /api/auth/logout",
            rule: Rule::SignedIn(204),
            run: |m, _, who| {
                // A token of its own, so the caller's stays valid for the other rows.
                let token = m.user(who).map(|u| {
                    let (secret, hash) = sync_server::auth::new_token_secret();
                    let new = NewToken {
                        user_id: u.user.id,
                        kind: TokenKind::Personal,
                        name: "logout".into(),
                        hash,
                        expires_at: None,
                    };
                    m.block_on(m.store.create_token(&new)).expect("token");
                    secret
                });
                let auth = token.as_deref().map_or(Auth::None, Auth::Bearer);
                let status = m.api().post_json("/api/auth/logout", auth, &json!({})).status;
                if let Some(token) = &token {
                    let after = m.api().get("/api/me", Auth::Bearer(token)).status;
                    assert_eq!(after, if ok(status) { 401 } else { 200 }, "the token after logout");
                }
                status
            },
        },
        Case {
            route: "GET /api/me",
            rule: Rule::SignedIn(200),
            run: |m, _, who| {
                let reply = m.api().get("/api/me", m.auth(who));
                if ok(reply.status) {
                    assert_eq!(reply.json()["id"], json!(m.user(who).expect("signed in").user.id.0));
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/me/tokens",
            rule: Rule::SignedIn(200),
            run: |m, _, who| m.api().get("/api/me/tokens", m.auth(who)).status,
        },
        Case {
            route: "POST /api/me/tokens",
            rule: Rule::SignedIn(201),
            run: |m, _, who| {
                let reply = m.api().post_json("/api/me/tokens", m.auth(who), &json!({"name": "matrix"}));
                if ok(reply.status) {
                    let token = reply.json()["token"].as_str().expect("secret").to_owned();
                    m.api().get("/api/me", Auth::Bearer(&token)).expect(200);
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/users",
            rule: Rule::Admin,
            run: |m, _, who| m.api().get("/api/users", m.auth(who)).status,
        },
        Case {
            route: "POST /api/users",
            rule: Rule::Admin,
            run: |m, _, who| {
                let name = m.unique("made-");
                let body = json!({"name": name, "password": "a-long-password"});
                let status = m.api().post_json("/api/users", m.auth(who), &body).status;
                let exists = m.block_on(m.store.user_by_name(&name)).expect("user").is_some();
                assert_eq!(exists, ok(status), "the user exists only if made");
                status
            },
        },
        // --- projects ---
        Case {
            route: "GET /api/projects",
            rule: Rule::SignedIn(200),
            run: |m, scene, who| {
                let reply = m.api().get("/api/projects", m.auth(who));
                if ok(reply.status) {
                    let listed = reply.json();
                    let mine =
                        listed.as_array().expect("list").iter().find(|p| p["id"] == json!(scene.project));
                    let role = match who {
                        Who::Owner => Some("owner"),
                        Who::Editor => Some("editor"),
                        Who::Viewer => Some("viewer"),
                        _ => None,
                    };
                    assert_eq!(
                        mine.map(|p| p["role"].clone()),
                        role.map(|r| json!(r)),
                        "only members list it"
                    );
                }
                reply.status
            },
        },
        Case {
            route: "POST /api/projects",
            rule: Rule::SignedIn(201),
            run: |m, _, who| {
                let reply = m.api().post_json("/api/projects", m.auth(who), &json!({"name": "mine"}));
                if ok(reply.status) {
                    let id = ProjectId(reply.json()["id"].as_i64().expect("id"));
                    let stored = m.block_on(m.store.project(id)).expect("project").expect("stored");
                    assert_eq!(stored.owner_id, m.user(who).expect("signed in").user.id);
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/projects/{id}",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let reply = m.api().get(&format!("/api/projects/{}", scene.project), m.auth(who));
                if ok(reply.status) {
                    let body = reply.json();
                    assert_eq!(
                        (body["id"].clone(), body["access"].clone()),
                        (json!(scene.project), Matrix::access_of(who))
                    );
                }
                reply.status
            },
        },
        Case {
            route: "PATCH /api/projects/{id}",
            rule: Rule::Own(200),
            run: |m, scene, who| {
                let id = ProjectId(scene.project);
                let before = m.block_on(m.store.project(id)).expect("project").expect("exists");
                let description = m.unique("described by the matrix ");
                let body = json!({"description": description});
                let status = m
                    .api()
                    .patch_json(&format!("/api/projects/{}", scene.project), m.auth(who), &body)
                    .status;
                let after = m.block_on(m.store.project(id)).expect("project").expect("exists");
                let expected = if ok(status) { description } else { before.description };
                assert_eq!(after.description, expected);
                assert_eq!(after.visibility, scene.visibility);
                status
            },
        },
        Case {
            route: "DELETE /api/projects/{id}",
            rule: Rule::Own(204),
            run: |m, scene, who| {
                let doomed = m.fresh_project(scene.visibility);
                let status = m.api().delete(&format!("/api/projects/{doomed}"), m.auth(who)).status;
                let exists = m.block_on(m.store.project(doomed)).expect("project").is_some();
                assert_eq!(exists, !ok(status), "the project is gone only if deleted");
                status
            },
        },
        // --- members ---
        Case {
            route: "GET /api/projects/{id}/members",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let reply = m.api().get(&format!("/api/projects/{}/members", scene.project), m.auth(who));
                if ok(reply.status) {
                    let members = reply.json();
                    assert_eq!(members[0]["user"]["id"], json!(m.owner.user.id.0), "the owner first");
                    assert_eq!(members[0]["role"], json!("owner"));
                }
                reply.status
            },
        },
        Case {
            route: "POST /api/projects/{id}/members",
            rule: Rule::Own(201),
            run: |m, scene, who| {
                let user = m.block_on(add_user(&m.store, &m.unique("joining-")));
                let body = json!({"user": user.user.name, "role": "viewer"});
                let path = format!("/api/projects/{}/members", scene.project);
                let status = m.api().post_json(&path, m.auth(who), &body).status;
                assert_eq!(m.role_of(scene, &user), ok(status).then_some(Role::Viewer));
                status
            },
        },
        Case {
            route: "PATCH /api/projects/{id}/members/{user_id}",
            rule: Rule::Own(200),
            run: |m, scene, who| {
                let member = m.fresh_member(scene);
                let path = format!("/api/projects/{}/members/{}", scene.project, member.user.id.0);
                let status = m.api().patch_json(&path, m.auth(who), &json!({"role": "editor"})).status;
                let expected = if ok(status) { Role::Editor } else { Role::Viewer };
                assert_eq!(m.role_of(scene, &member), Some(expected));
                status
            },
        },
        Case {
            route: "DELETE /api/projects/{id}/members/{user_id}",
            rule: Rule::Own(204),
            run: |m, scene, who| {
                let member = m.fresh_member(scene);
                let path = format!("/api/projects/{}/members/{}", scene.project, member.user.id.0);
                let status = m.api().delete(&path, m.auth(who)).status;
                assert_eq!(m.role_of(scene, &member), (!ok(status)).then_some(Role::Viewer));
                status
            },
        },
        // --- notebooks ---
        Case {
            route: "GET /api/projects/{id}/notebooks",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let reply = m.api().get(&format!("/api/projects/{}/notebooks", scene.project), m.auth(who));
                if ok(reply.status) {
                    let listed = reply.json();
                    assert!(
                        listed.as_array().expect("list").iter().any(|n| n["id"] == json!(scene.notebook))
                    );
                }
                reply.status
            },
        },
        Case {
            route: "POST /api/projects/{id}/notebooks",
            rule: Rule::Edit(201),
            run: |m, scene, who| {
                let name = m.unique("created-");
                let path = format!("/api/projects/{}/notebooks", scene.project);
                let status = m.api().post_json(&path, m.auth(who), &json!({"name": name})).status;
                assert_eq!(m.notebook_names(scene).contains(&name), ok(status));
                status
            },
        },
        Case {
            route: "POST /api/projects/{id}/notebooks/import",
            rule: Rule::Edit(201),
            run: |m, scene, who| {
                let name = m.unique("imported-");
                let path = format!("/api/projects/{}/notebooks/import?name={name}", scene.project);
                let status = m.api().post_bytes(&path, m.auth(who), &small_ipynb()).status;
                assert_eq!(m.notebook_names(scene).contains(&name), ok(status));
                status
            },
        },
        Case {
            route: "GET /api/notebooks/{id}",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let reply = m.api().get(&format!("/api/notebooks/{}", scene.notebook), m.auth(who));
                if ok(reply.status) {
                    let body = reply.json();
                    assert_eq!(
                        (body["id"].clone(), body["access"].clone()),
                        (json!(scene.notebook), Matrix::access_of(who))
                    );
                }
                reply.status
            },
        },
        Case {
            route: "PATCH /api/notebooks/{id}",
            rule: Rule::Edit(200),
            run: |m, scene, who| {
                let before = m.notebook(scene.notebook).expect("notebook").name;
                let name = m.unique("renamed-");
                let path = format!("/api/notebooks/{}", scene.notebook);
                let status = m.api().patch_json(&path, m.auth(who), &json!({"name": name})).status;
                let after = m.notebook(scene.notebook).expect("notebook").name;
                assert_eq!(after, if ok(status) { name } else { before }, "a refused rename changes nothing");
                status
            },
        },
        Case {
            route: "DELETE /api/notebooks/{id}",
            rule: Rule::Edit(204),
            run: |m, scene, who| {
                let doomed = m.fresh_notebook(scene);
                let status = m.api().delete(&format!("/api/notebooks/{doomed}"), m.auth(who)).status;
                assert_eq!(m.notebook(doomed.0).is_some(), !ok(status), "gone only if deleted");
                status
            },
        },
        Case {
            // The notebook is the owner's: editors did not create it, so only the owner may.
            route: "PUT /api/notebooks/{id}/mode",
            rule: Rule::Own(200),
            run: |m, scene, who| {
                let before = m.notebook(scene.notebook).expect("notebook").mode;
                let wanted = if before == NotebookMode::Thread { "pair" } else { "thread" };
                let path = format!("/api/notebooks/{}/mode", scene.notebook);
                let status = m.api().put_json(&path, m.auth(who), &json!({"mode": wanted})).status;
                let after = m.notebook(scene.notebook).expect("notebook").mode;
                assert_eq!(after != before, ok(status), "the mode changes only if allowed");
                status
            },
        },
        // --- blocks ---
        Case {
            route: "POST /api/notebooks/{id}/block",
            rule: Rule::Edit(200),
            run: |m, scene, who| {
                let target = m.fresh_notebook(scene);
                let status =
                    m.api().post_empty(&format!("/api/notebooks/{target}/block"), m.auth(who)).status;
                let holder = m.notebook(target.0).expect("notebook").block.map(|b| b.holder);
                assert_eq!(holder, ok(status).then(|| m.user(who).expect("signed in").user.id));
                status
            },
        },
        Case {
            // The editor holds the block.
            route: "DELETE /api/notebooks/{id}/block",
            rule: Rule::HolderOrOwner(200),
            run: |m, scene, who| {
                let target = m.fresh_notebook(scene);
                let held = NotebookBlock { holder: m.editor.user.id, since: chrono::Utc::now() };
                m.block_on(m.store.block_notebook(target, held.holder, held.since)).expect("block");
                let status = m.api().delete(&format!("/api/notebooks/{target}/block"), m.auth(who)).status;
                let holder = m.notebook(target.0).expect("notebook").block.map(|b| b.holder);
                assert_eq!(holder, (!ok(status)).then_some(held.holder), "lifted only if allowed");
                status
            },
        },
        // --- import and export ---
        Case {
            route: "GET /api/notebooks/{id}/ipynb",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let reply = m.api().get(&format!("/api/notebooks/{}/ipynb", scene.notebook), m.auth(who));
                if ok(reply.status) {
                    assert_eq!(reply.json()["nbformat"], json!(4));
                }
                reply.status
            },
        },
        // --- runs and kernels ---
        Case {
            // Pair mode, so every editor may run the editor's cell.
            route: "POST /api/notebooks/{id}/cells/{cell_id}/run",
            rule: Rule::Edit(202),
            run: |m, scene, who| {
                let notebook = m.pair_notebook(scene);
                let records = || {
                    let filter = sync_server::store::ExecutionFilter {
                        user: None,
                        cell: None,
                        limit: 1000,
                        before: None,
                    };
                    m.block_on(m.store.executions(NotebookId(notebook), &filter)).expect("executions").len()
                };
                let before = records();
                let path = format!("/api/notebooks/{notebook}/cells/k1/run");
                let status = m.api().post_empty(&path, m.auth(who)).status;
                assert_eq!(records(), before + usize::from(ok(status)), "a run is recorded only if allowed");
                status
            },
        },
        Case {
            // Nothing is queued, so an allowed cancel finds nothing to take back.
            route: "POST /api/notebooks/{id}/cells/{cell_id}/cancel",
            rule: Rule::Edit(409),
            run: |m, scene, who| {
                let path = format!("/api/notebooks/{}/cells/k1/cancel", scene.notebook);
                let reply = m.api().post_empty(&path, m.auth(who));
                if reply.status == 409 {
                    assert_eq!(reply.json()["error"]["code"], json!("nothing_queued"));
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/notebooks/{id}/executions",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let reply =
                    m.api().get(&format!("/api/notebooks/{}/executions", scene.notebook), m.auth(who));
                if ok(reply.status) {
                    assert!(reply.json()["executions"].is_array());
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/kernelspecs",
            rule: Rule::SignedIn(200),
            run: |m, _, who| {
                let reply = m.api().get("/api/kernelspecs", m.auth(who));
                if ok(reply.status) {
                    let names: Vec<Value> = reply.json()["kernelspecs"]
                        .as_array()
                        .expect("list")
                        .iter()
                        .map(|k| k["name"].clone())
                        .collect();
                    assert!(names.contains(&json!("python3")), "{names:?}");
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/kernels",
            rule: Rule::SignedIn(200),
            run: |m, _, who| {
                let reply = m.api().get("/api/kernels", m.auth(who));
                if ok(reply.status) {
                    let me = m.user(who).expect("signed in").user.id.0;
                    for kernel in reply.json()["kernels"].as_array().expect("list") {
                        assert!(
                            kernel["owner"] == json!(me) || kernel["charged_to"] == json!(me),
                            "{kernel}"
                        );
                    }
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/projects/{id}/kernels",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let kernel = m.editor_kernel(scene);
                let reply = m.api().get(&format!("/api/projects/{}/kernels", scene.project), m.auth(who));
                if ok(reply.status) {
                    let listed = reply.json()["kernels"]
                        .as_array()
                        .expect("list")
                        .iter()
                        .any(|k| k["id"] == json!(kernel));
                    // The editor's own kernel: seen by the editor and the project's owner.
                    assert_eq!(listed, matches!(who, Who::Editor | Who::Owner), "{who:?}");
                }
                reply.status
            },
        },
        Case {
            // The editor's kernel: the editor and the project's owner control it.
            route: "POST /api/kernels/{kernel_id}/interrupt",
            rule: Rule::Edit(200),
            run: |m, scene, who| {
                let kernel = m.editor_kernel(scene);
                m.api().post_empty(&format!("/api/kernels/{kernel}/interrupt"), m.auth(who)).status
            },
        },
        Case {
            route: "POST /api/kernels/{kernel_id}/restart",
            rule: Rule::Edit(200),
            run: |m, scene, who| {
                let kernel = m.editor_kernel(scene);
                let pid = |m: &Matrix<'_>| {
                    let reply = m.api().get("/api/kernels", Auth::Bearer(&m.editor.token));
                    let kernels = reply.json()["kernels"].as_array().expect("list").clone();
                    kernels.iter().find(|k| k["id"] == json!(kernel)).map(|k| k["pid"].clone())
                };
                let before = pid(m);
                let status =
                    m.api().post_empty(&format!("/api/kernels/{kernel}/restart"), m.auth(who)).status;
                assert_eq!(pid(m) != before, ok(status), "a new process only if allowed");
                status
            },
        },
        Case {
            route: "DELETE /api/kernels/{kernel_id}",
            rule: Rule::Edit(204),
            run: |m, scene, who| {
                let kernel = m.editor_kernel(scene);
                let status = m.api().delete(&format!("/api/kernels/{kernel}"), m.auth(who)).status;
                assert_eq!(m.kernel_ids(&m.editor).contains(&kernel), !ok(status), "gone only if allowed");
                status
            },
        },
        // --- project files ---
        Case {
            route: "GET /api/projects/{id}/files",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let path = m.unique("listed-");
                seed_file(m.env, scene.project, &path, b"x", &m.owner);
                let url = format!("/api/projects/{}/files?recursive=true", scene.project);
                let reply = m.api().get(&url, m.auth(who));
                if ok(reply.status) {
                    let files = reply.json()["files"].as_array().expect("files").clone();
                    assert!(files.iter().any(|f| f["path"] == json!(path)), "{files:?}");
                }
                reply.status
            },
        },
        Case {
            route: "PUT /api/projects/{id}/files",
            rule: Rule::Edit(201),
            run: |m, scene, who| {
                let path = format!("{}/new.txt", m.unique("uploaded-"));
                let status =
                    put(m.env, m.user(who).map(|u| u.token.as_str()), scene.project, &path, b"matrix").status;
                let stored = stored_entry(m.env, scene.project, &path).map(|e| e.size);
                assert_eq!(stored, ok(status).then_some(6), "stored only if allowed");
                status
            },
        },
        Case {
            route: "DELETE /api/projects/{id}/files",
            rule: Rule::Edit(204),
            run: |m, scene, who| {
                let path = m.unique("doomed-");
                seed_file(m.env, scene.project, &path, b"x", &m.owner);
                let status = m.api().delete(&file_url(scene.project, "", &path), m.auth(who)).status;
                assert_eq!(
                    stored_entry(m.env, scene.project, &path).is_some(),
                    !ok(status),
                    "gone only if deleted"
                );
                status
            },
        },
        Case {
            route: "GET /api/projects/{id}/files/content",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let path = m.unique("readable-");
                seed_file(m.env, scene.project, &path, b"bytes for the matrix", &m.owner);
                let reply = m.api().get(&file_url(scene.project, "/content", &path), m.auth(who));
                if ok(reply.status) {
                    assert_eq!(reply.body(), b"bytes for the matrix");
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/projects/{id}/files/zip",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let folder = m.unique("zipped-");
                seed_file(m.env, scene.project, &format!("{folder}/inner.txt"), b"zipped", &m.owner);
                let reply = m.api().get(&file_url(scene.project, "/zip", &folder), m.auth(who));
                if ok(reply.status) {
                    let archive =
                        zip::ZipArchive::new(std::io::Cursor::new(reply.body().to_vec())).expect("zip");
                    let names: Vec<String> =
                        archive.file_names().map(|n| n.expect("name").into_owned()).collect();
                    assert!(names.contains(&format!("{folder}/inner.txt")), "{names:?}");
                }
                reply.status
            },
        },
        Case {
            route: "POST /api/projects/{id}/files/move",
            rule: Rule::Edit(200),
            run: |m, scene, who| {
                let (from, to) = (m.unique("moving-"), m.unique("moved-"));
                seed_file(m.env, scene.project, &from, b"x", &m.owner);
                let url = format!("/api/projects/{}/files/move", scene.project);
                let status = m.api().post_json(&url, m.auth(who), &json!({"from": from, "to": to})).status;
                let moved = (
                    stored_entry(m.env, scene.project, &from).is_none(),
                    stored_entry(m.env, scene.project, &to).is_some(),
                );
                assert_eq!(moved, (ok(status), ok(status)), "moved only if allowed");
                status
            },
        },
        Case {
            route: "POST /api/projects/{id}/files/copy",
            rule: Rule::Edit(201),
            run: |m, scene, who| {
                let (from, to) = (m.unique("original-"), m.unique("copy-"));
                seed_file(m.env, scene.project, &from, b"x", &m.owner);
                let url = format!("/api/projects/{}/files/copy", scene.project);
                let status = m.api().post_json(&url, m.auth(who), &json!({"from": from, "to": to})).status;
                assert!(stored_entry(m.env, scene.project, &from).is_some(), "the original stays");
                assert_eq!(
                    stored_entry(m.env, scene.project, &to).is_some(),
                    ok(status),
                    "copied only if allowed"
                );
                status
            },
        },
        Case {
            route: "POST /api/projects/{id}/folders",
            rule: Rule::Edit(201),
            run: |m, scene, who| {
                let path = m.unique("folder-");
                let url = format!("/api/projects/{}/folders", scene.project);
                let status = m.api().post_json(&url, m.auth(who), &json!({"path": path})).status;
                let made = stored_entry(m.env, scene.project, &path).map(|e| e.kind);
                assert_eq!(made, ok(status).then_some(sync_server::store::FileKind::Folder));
                status
            },
        },
        Case {
            route: "POST /api/projects/{id}/files/block",
            rule: Rule::Edit(200),
            run: |m, scene, who| {
                let path = m.unique("blockable-");
                seed_file(m.env, scene.project, &path, b"x", &m.owner);
                let status =
                    m.api().post_empty(&file_url(scene.project, "/block", &path), m.auth(who)).status;
                let holder =
                    stored_entry(m.env, scene.project, &path).and_then(|e| e.block).map(|b| b.holder);
                assert_eq!(holder, ok(status).then(|| m.user(who).expect("signed in").user.id));
                status
            },
        },
        Case {
            // The editor holds a manual block.
            route: "DELETE /api/projects/{id}/files/block",
            rule: Rule::HolderOrOwner(200),
            run: |m, scene, who| {
                let path = m.unique("held-");
                seed_file(m.env, scene.project, &path, b"x", &m.owner);
                let file = sync_server::store::FilePath::parse(&path).expect("path");
                let (holder, manual) = (m.editor.user.id, sync_server::store::BlockReason::Manual);
                let project = ProjectId(scene.project);
                m.block_on(m.store.block_file(project, &file, holder, manual, chrono::Utc::now()))
                    .expect("block");
                let status = m.api().delete(&file_url(scene.project, "/block", &path), m.auth(who)).status;
                let after = stored_entry(m.env, scene.project, &path).and_then(|e| e.block).map(|b| b.holder);
                assert_eq!(after, (!ok(status)).then_some(holder), "lifted only if allowed");
                status
            },
        },
        // --- consoles ---
        Case {
            // Each caller's own default console in the project; the first open makes it.
            route: "POST /api/projects/{id}/consoles",
            rule: Rule::Edit(201),
            run: |m, scene, who| {
                let path = format!("/api/projects/{}/consoles", scene.project);
                let reply = m.api().post_json(&path, m.auth(who), &json!({}));
                if ok(reply.status) {
                    let console = reply.json();
                    assert_eq!(console["path"], Value::Null);
                    assert_eq!(console["owner"], json!(m.user(who).expect("signed in").user.id.0));
                    let again = m.api().post_json(&path, m.auth(who), &json!({}));
                    assert_eq!(
                        (again.status, again.json()["id"].clone()),
                        (200, console["id"].clone()),
                        "one default console"
                    );
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/consoles",
            rule: Rule::SignedIn(200),
            run: |m, _, who| {
                let reply = m.api().get("/api/consoles", m.auth(who));
                if ok(reply.status) {
                    let me = m.user(who).expect("signed in").user.id.0;
                    for console in reply.json()["consoles"].as_array().expect("list") {
                        assert_eq!(console["owner"], json!(me));
                    }
                }
                reply.status
            },
        },
        Case {
            route: "POST /api/consoles/{console_id}/execute",
            rule: Rule::EditorsOwn(202),
            run: |m, scene, who| {
                let console = m.editor_console(scene);
                let path = format!("/api/consoles/{console}/execute");
                m.api().post_json(&path, m.auth(who), &json!({"code": "1 + 1"})).status
            },
        },
        Case {
            // The editor's default console holds no file: allowed, and answered 409 `no_file`.
            route: "POST /api/consoles/{console_id}/run-file",
            rule: Rule::EditorsOwn(409),
            run: |m, scene, who| {
                let console = m.editor_console(scene);
                let reply = m.api().post_empty(&format!("/api/consoles/{console}/run-file"), m.auth(who));
                if reply.status == 409 {
                    assert_eq!(reply.json()["error"]["code"], json!("no_file"));
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/consoles/{console_id}/events",
            rule: Rule::EditorsOwn(200),
            run: |m, scene, who| {
                let console = m.editor_console(scene);
                m.status_of_stream(&format!("/api/consoles/{console}/events"), who)
            },
        },
        Case {
            route: "DELETE /api/consoles/{console_id}",
            rule: Rule::EditorsOwn(204),
            run: |m, scene, who| {
                let console = m.editor_console(scene);
                let status = m.api().delete(&format!("/api/consoles/{console}"), m.auth(who)).status;
                let reply = m.api().get("/api/consoles", Auth::Bearer(&m.editor.token));
                let open = reply.json()["consoles"]
                    .as_array()
                    .expect("list")
                    .iter()
                    .any(|c| c["id"] == json!(console));
                assert_eq!(open, !ok(status), "closed only if allowed");
                status
            },
        },
        // --- jobs ---
        Case {
            route: "POST /api/projects/{id}/jobs",
            rule: Rule::Edit(201),
            run: |m, scene, who| {
                seed_file(m.env, scene.project, "quick.py", b"print('quick')", &m.owner);
                let path = format!("/api/projects/{}/jobs", scene.project);
                let reply = m.api().post_json(&path, m.auth(who), &json!({"path": "quick.py"}));
                if ok(reply.status) {
                    let job = reply.json();
                    assert_eq!(job["owner"], json!(m.user(who).expect("signed in").user.id.0));
                    let id = job["id"].as_i64().expect("id");
                    assert_eq!(m.job_ended(id), "finished");
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/projects/{id}/jobs",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let reply = m.api().get(&format!("/api/projects/{}/jobs", scene.project), m.auth(who));
                if ok(reply.status) {
                    for job in reply.json()["jobs"].as_array().expect("list") {
                        assert_eq!(job["project_id"], json!(scene.project));
                    }
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/jobs/{job_id}",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let job = m.editor_job(scene, "read.py", "print('read')");
                let reply = m.api().get(&format!("/api/jobs/{job}"), m.auth(who));
                if ok(reply.status) {
                    assert_eq!(reply.json()["script"], json!("read.py"));
                }
                m.job_ended(job);
                reply.status
            },
        },
        Case {
            // The editor's job: the editor and the project's owner may stop it.
            route: "POST /api/jobs/{job_id}/terminate",
            rule: Rule::HolderOrOwner(200),
            run: |m, scene, who| {
                let job = m.editor_job(scene, "long.sh", "sleep 120");
                let status = m.api().post_empty(&format!("/api/jobs/{job}/terminate"), m.auth(who)).status;
                if ok(status) {
                    assert_eq!(m.job_state(job), "terminated");
                } else {
                    assert_ne!(m.job_state(job), "terminated", "a refused terminate stops nothing");
                    m.api()
                        .post_empty(&format!("/api/jobs/{job}/terminate"), Auth::Bearer(&m.editor.token))
                        .expect(200);
                }
                status
            },
        },
        Case {
            route: "DELETE /api/jobs/{job_id}",
            rule: Rule::HolderOrOwner(204),
            run: |m, scene, who| {
                let job = m.editor_job(scene, "done.py", "print('done')");
                m.job_ended(job);
                let status = m.api().delete(&format!("/api/jobs/{job}"), m.auth(who)).status;
                let exists =
                    m.api().get(&format!("/api/jobs/{job}"), Auth::Bearer(&m.editor.token)).status == 200;
                assert_eq!(exists, !ok(status), "gone only if deleted");
                status
            },
        },
        // --- the service ---
        Case {
            route: "GET /api/openapi.json",
            rule: Rule::Anyone(200),
            run: |m, _, who| {
                let reply = m.api().get("/api/openapi.json", m.auth(who));
                assert!(reply.json()["openapi"].is_string());
                reply.status
            },
        },
        Case {
            route: "GET /healthz",
            rule: Rule::Anyone(200),
            run: |m, _, who| m.api().get("/healthz", m.auth(who)).status,
        },
        Case {
            route: "GET /readyz",
            rule: Rule::Anyone(200),
            run: |m, _, who| m.api().get("/readyz", m.auth(who)).status,
        },
        Case {
            route: "GET /metrics",
            rule: Rule::Anyone(200),
            run: |m, _, who| m.api().get("/metrics", m.auth(who)).status,
        },
        // --- the WebSocket ---
        Case {
            route: "GET /ws/{notebook_id}",
            rule: Rule::View(101),
            run: |m, scene, who| m.ws_status(scene.notebook, who),
        },
    ]
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
