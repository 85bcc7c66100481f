//! The JSON API and the admin commands against a real `talkbook serve` process, on SQLite
//! and on PostgreSQL: accounts and tokens, projects and notebooks, `.ipynb` import and
//! export judged by the real nbformat, and the `talkbook user|token|import|export`
//! commands on the server's own database. Access control: the permission matrix over
//! every route, members, modes, blocks, and the OpenAPI document checked by the real
//! openapi-spec-validator against the router's own list of routes. Project files:
//! uploads, downloads, folders, zips, limits, path attacks and file blocks. Background
//! jobs: logs, generated files, termination, the per-user queue.

mod support;

#[path = "api/access.rs"]
mod access;
#[path = "api/cli.rs"]
mod cli;
#[path = "api/client.rs"]
mod client;
#[path = "api/files.rs"]
mod files;
#[path = "api/ipynb.rs"]
mod ipynb;
#[path = "api/jobs.rs"]
mod jobs;
#[path = "api/matrix.rs"]
mod matrix;
#[path = "api/openapi.rs"]
mod openapi;

use std::process::{Command, Output, Stdio};

use client::{Api, Auth, Reply};
use serde_json::{Value, json};
use support::describe;
use support::fixture::runtime;
use support::server::*;

use access::*;
use cli::*;
use files::*;
use ipynb::*;
use jobs::*;
use matrix::*;

/// Password the test fixture gives the first administrator.
const ADMIN_PASSWORD: &str = "admin-password";

/// A server on a fresh database, with the first administrator signed in.
struct Env {
    // Declared (so dropped) before `db`: the server stops before its database is removed.
    server: TestServer,
    api: Api,
    admin: String,
    /// The server's database, opened once by the test itself.
    store: sync_server::store::DynStore,
    db: TestDb,
    rt: tokio::runtime::Runtime,
}

impl Env {
    fn new(backend: Backend) -> Self {
        Self::with_env(backend, &[])
    }

    fn with_env(backend: Backend, env: &[(&str, &str)]) -> Self {
        let rt = runtime();
        let db = rt.block_on(TestDb::new(backend));
        let store = rt.block_on(db.store());
        let server = TestServer::start_with(&db, env);
        let api = Api::new(&server.http());
        let login = api.post_json(
            "/api/auth/login",
            Auth::None,
            &json!({"name": "admin", "password": ADMIN_PASSWORD}),
        );
        login.expect(200);
        let admin = login.json()["token"].as_str().expect("token").to_owned();
        Self { server, api, admin, store, db, rt }
    }

    /// A non-admin user with a personal token, made directly in the store.
    fn user(&self, name: &str) -> TestUser {
        self.rt.block_on(add_user(&self.store, name))
    }

    fn store(&self) -> sync_server::store::DynStore {
        self.store.clone()
    }

    /// Makes `user` a member of `project` directly in the store.
    fn member(&self, project: i64, user: &TestUser, role: sync_server::store::Role) {
        let project = sync_server::store::ProjectId(project);
        self.rt.block_on(self.store.add_member(project, user.user.id, role)).expect("add member");
    }

    /// Creates a project as `token`'s user and returns its id.
    fn project(&self, token: &str, name: &str) -> i64 {
        let reply = self.api.post_json("/api/projects", Auth::Bearer(token), &json!({"name": name}));
        reply.expect(201);
        reply.json()["id"].as_i64().expect("project id")
    }

    /// Imports a file into a project and returns the reply.
    fn import(&self, token: &str, project: i64, query: &str, bytes: &[u8]) -> Reply {
        self.api.post_bytes(
            &format!("/api/projects/{project}/notebooks/import{query}"),
            Auth::Bearer(token),
            bytes,
        )
    }

    /// Runs `talkbook ARGS --database URL` with `stdin` as standard input.
    fn cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_talkbook"))
            .args(args)
            .args(["--database", &self.db.url])
            .arg("--data-dir")
            .arg(self.db.dir().join("cli-data"))
            .env("TALKBOOK_LOG", "warn")
            .env_remove("TALKBOOK_DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start talkbook");
        {
            use std::io::Write;
            let mut input = child.stdin.take().expect("stdin");
            input.write_all(stdin.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("talkbook output")
    }
}

/// The error code and message of an error reply, after checking its shape.
fn error_of(reply: &Reply, status: u16) -> (String, String) {
    reply.expect(status);
    let body = reply.json();
    let error = body["error"].as_object().unwrap_or_else(|| panic!("no `error` object in {body}"));
    assert_eq!(error.len(), 2, "the error has exactly `code` and `message`: {body}");
    let code = error["code"].as_str().expect("code").to_owned();
    let message = error["message"].as_str().expect("message").to_owned();
    assert!(!message.is_empty(), "empty error message");
    (code, message)
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "talkbook failed: {}", describe(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that a command failed with exit code 1 and one `error:` line; returns it.
fn failure(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected exit code 1: {}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line: {}", describe(out));
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    lines[0].to_owned()
}

// --- accounts ---

fn first_start_admin_signs_in_and_out_with_cookie_bearer_and_query_token(backend: Backend) {
    let env = Env::with_env(backend, &[("TALKBOOK_SESSION_HOURS", "2")]);
    let login = env.api.post_json(
        "/api/auth/login",
        Auth::None,
        &json!({"name": "admin", "password": ADMIN_PASSWORD}),
    );
    login.expect(200);
    let body = login.json();
    let token = body["token"].as_str().expect("token");
    assert!(token.starts_with("tb_"), "{token}");
    assert_eq!(body["user"]["name"], json!("admin"));
    assert_eq!(body["user"]["is_admin"], json!(true));
    let cookie = login.header("set-cookie").expect("a session cookie");
    assert!(cookie.starts_with(&format!("talkbook_session={token};")), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.split("; ").any(|a| a == attribute), "cookie lacks {attribute}: {cookie}");
    }

    for auth in [Auth::Cookie(token), Auth::Bearer(token), Auth::Query(token)] {
        let me = env.api.get("/api/me", auth);
        me.expect(200);
        assert_eq!(me.json()["name"], json!("admin"), "as {auth:?}");
    }

    // The session expires after the configured lifetime (2 hours here).
    let tokens = env.api.get("/api/me/tokens", Auth::Bearer(token));
    tokens.expect(200);
    let list = tokens.json();
    let current: Vec<&Value> =
        list.as_array().expect("list").iter().filter(|t| t["current"] == json!(true)).collect();
    assert_eq!(current.len(), 1, "{list}");
    assert_eq!(current[0]["kind"], json!("session"));
    let seconds = |key: &str| {
        chrono::DateTime::parse_from_rfc3339(current[0][key].as_str().expect("time"))
            .expect("rfc3339")
            .timestamp()
    };
    let lifetime = seconds("expires_at") - seconds("created_at");
    assert!((7190..=7210).contains(&lifetime), "session lifetime {lifetime} s, expected 7200");

    let logout = env.api.post_json("/api/auth/logout", Auth::Cookie(token), &json!({}));
    logout.expect(204);
    let cleared = logout.header("set-cookie").expect("logout clears the cookie");
    assert!(cleared.starts_with("talkbook_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let (code, _) = error_of(&env.api.get("/api/me", Auth::Bearer(token)), 401);
    assert_eq!(code, "unauthenticated", "the token is gone after logout");
    // The other session still works.
    env.api.get("/api/me", Auth::Bearer(&env.admin)).expect(200);
}

fn wrong_name_or_password_is_one_401(backend: Backend) {
    let env = Env::new(backend);
    let wrong_password = env.api.post_json(
        "/api/auth/login",
        Auth::None,
        &json!({"name": "admin", "password": "not-the-password"}),
    );
    let unknown_user = env.api.post_json(
        "/api/auth/login",
        Auth::None,
        &json!({"name": "nobody", "password": ADMIN_PASSWORD}),
    );
    let a = error_of(&wrong_password, 401);
    let b = error_of(&unknown_user, 401);
    assert_eq!(a.0, "invalid_credentials");
    assert_eq!(a, b, "an unknown name and a wrong password must look the same");
    assert!(wrong_password.header("set-cookie").is_none(), "no cookie for a failed sign-in");
    let (code, _) = error_of(&env.api.get("/api/me", Auth::None), 401);
    assert_eq!(code, "unauthenticated");
    let (code, _) = error_of(&env.api.get("/api/me", Auth::Bearer("tb_made_up")), 401);
    assert_eq!(code, "unauthenticated");
}

fn personal_tokens_made_through_the_api_work(backend: Backend) {
    let env = Env::new(backend);
    let bob = env.user("bob");
    let created = env.api.post_json(
        "/api/me/tokens",
        Auth::Bearer(&bob.token),
        &json!({"name": "ci job", "expires_in_days": 30}),
    );
    created.expect(201);
    let body = created.json();
    let secret = body["token"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("tb_"));
    assert_eq!((body["name"].clone(), body["kind"].clone()), (json!("ci job"), json!("personal")));
    assert!(body["expires_at"].is_string(), "{body}");

    let me = env.api.get("/api/me", Auth::Bearer(&secret));
    me.expect(200);
    assert_eq!(me.json()["name"], json!("bob"));

    let listed = env.api.get("/api/me/tokens", Auth::Bearer(&secret));
    listed.expect(200);
    assert!(!listed.text().contains(&secret), "a listed token never shows its secret");
    let names: Vec<Value> =
        listed.json().as_array().expect("list").iter().map(|t| t["name"].clone()).collect();
    assert!(names.contains(&json!("ci job")) && names.contains(&json!("test")), "{names:?}");

    let forever = env.api.post_json("/api/me/tokens", Auth::Bearer(&bob.token), &json!({"name": "forever"}));
    forever.expect(201);
    assert_eq!(forever.json()["expires_at"], Value::Null);
    let (code, _) = error_of(
        &env.api.post_json(
            "/api/me/tokens",
            Auth::Bearer(&bob.token),
            &json!({"name": "x", "expires_in_days": 0}),
        ),
        422,
    );
    assert_eq!(code, "invalid_expiry");
    let (code, _) =
        error_of(&env.api.post_json("/api/me/tokens", Auth::Bearer(&bob.token), &json!({"name": "  "})), 422);
    assert_eq!(code, "invalid_name");
}

fn only_admins_manage_users(backend: Backend) {
    let env = Env::new(backend);
    let admin = Auth::Bearer(&env.admin);
    let carol = env.api.post_json(
        "/api/users",
        admin,
        &json!({"name": "carol", "display_name": "Carol C", "password": "carol-password"}),
    );
    carol.expect(201);
    let body = carol.json();
    assert_eq!(
        (body["name"].clone(), body["display_name"].clone(), body["is_admin"].clone()),
        (json!("carol"), json!("Carol C"), json!(false))
    );
    assert_eq!(
        body["color"],
        json!(sync_server::accounts::color_for("carol")),
        "colour picked from the name"
    );
    assert!(
        env.api.post_json("/api/users", admin, &json!({"name": "dave", "password": "dave-password"})).json()
            ["display_name"]
            == json!("dave")
    );

    let login = env.api.post_json(
        "/api/auth/login",
        Auth::None,
        &json!({"name": "carol", "password": "carol-password"}),
    );
    login.expect(200);
    let carol_token = login.json()["token"].as_str().expect("token").to_owned();
    let carol_auth = Auth::Bearer(&carol_token);
    let (code, _) = error_of(&env.api.get("/api/users", carol_auth), 403);
    assert_eq!(code, "forbidden");
    let (code, _) = error_of(
        &env.api.post_json("/api/users", carol_auth, &json!({"name": "eve", "password": "eve-password"})),
        403,
    );
    assert_eq!(code, "forbidden");
    error_of(&env.api.get("/api/users", Auth::None), 401);

    let (code, message) = error_of(
        &env.api.post_json("/api/users", admin, &json!({"name": "carol", "password": "another-password"})),
        409,
    );
    assert_eq!(code, "conflict");
    assert!(message.contains("carol"), "{message}");
    let (code, _) = error_of(
        &env.api.post_json("/api/users", admin, &json!({"name": "Carol!", "password": "carol-password"})),
        422,
    );
    assert_eq!(code, "invalid_name");
    let (code, _) = error_of(
        &env.api.post_json("/api/users", admin, &json!({"name": "frank", "password": "short"})),
        422,
    );
    assert_eq!(code, "invalid_password");

    let users = env.api.get("/api/users", admin);
    users.expect(200);
    let names: Vec<Value> =
        users.json().as_array().expect("list").iter().map(|u| u["name"].clone()).collect();
    assert_eq!(names, vec![json!("admin"), json!("carol"), json!("dave")], "eve and frank were refused");
    assert!(!users.text().contains("password"), "no password hashes in the list");
}

// --- projects and notebooks ---

fn projects_and_notebooks_are_created_listed_renamed_and_deleted(backend: Backend) {
    let env = Env::new(backend);
    let bob = env.user("bob");
    let admin = Auth::Bearer(&env.admin);

    let created = env.api.post_json(
        "/api/projects",
        admin,
        &json!({"name": " Research ", "description": "notes\nand more"}),
    );
    created.expect(201);
    let project = created.json();
    assert_eq!(
        (project["name"].clone(), project["visibility"].clone()),
        (json!("Research"), json!("private"))
    );
    let pid = project["id"].as_i64().expect("id");
    let read = env.api.get(&format!("/api/projects/{pid}"), admin);
    read.expect(200);
    assert_eq!(read.json(), project);
    let mine = env.api.get("/api/projects", admin).json();
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(env.api.get("/api/projects", Auth::Bearer(&bob.token)).json(), json!([]), "bob is no member");
    error_of(&env.api.get("/api/projects/999999", admin), 404);
    let (code, _) =
        error_of(&env.api.post_json("/api/projects", admin, &json!({"name": "bad\u{1}name"})), 422);
    assert_eq!(code, "invalid_name");
    let (code, _) =
        error_of(&env.api.post_json("/api/projects", admin, &json!({"name": "x".repeat(201)})), 422);
    assert_eq!(code, "invalid_name");
    error_of(&env.api.post_json("/api/projects", Auth::None, &json!({"name": "anon"})), 401);

    let notebooks = format!("/api/projects/{pid}/notebooks");
    let made = env.api.post_json(&notebooks, admin, &json!({"name": "Beta"}));
    made.expect(201);
    let beta = made.json();
    assert_eq!((beta["mode"].clone(), beta["kernelspec"].clone()), (json!("thread"), json!("python3")));
    let beta_id = beta["id"].as_i64().expect("id");
    // Bob may create notebooks once he edits the project.
    let (code, _) =
        error_of(&env.api.post_json(&notebooks, Auth::Bearer(&bob.token), &json!({"name": "Alpha"})), 403);
    assert_eq!(code, "forbidden");
    env.api
        .post_json(&format!("/api/projects/{pid}/members"), admin, &json!({"user": "bob", "role": "editor"}))
        .expect(201);
    let alpha =
        env.api.post_json(&notebooks, Auth::Bearer(&bob.token), &json!({"name": "Alpha", "mode": "pair"}));
    alpha.expect(201);
    assert_eq!(alpha.json()["mode"], json!("pair"));
    let (code, message) = error_of(&env.api.post_json(&notebooks, admin, &json!({"name": "Beta"})), 409);
    assert_eq!(code, "conflict");
    assert!(message.contains("Beta"), "{message}");
    let (code, _) = error_of(
        &env.api.post_json(&notebooks, admin, &json!({"name": "K", "kernelspec": "no spaces"})),
        422,
    );
    assert_eq!(code, "invalid_kernelspec");
    error_of(&env.api.post_json("/api/projects/999999/notebooks", admin, &json!({"name": "Lost"})), 404);

    let listed = env.api.get(&notebooks, admin);
    listed.expect(200);
    let names: Vec<Value> =
        listed.json().as_array().expect("list").iter().map(|n| n["name"].clone()).collect();
    assert_eq!(names, vec![json!("Alpha"), json!("Beta")]);

    // The document exists from the start, written as the first update by its creator.
    let store = env.store();
    let log = env
        .rt
        .block_on(store.updates_between(sync_server::store::NotebookId(beta_id), 0, None))
        .expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].user_id,
        Some(sync_server::store::UserId(beta["created_by"].as_i64().expect("creator")))
    );
    assert_eq!(log[0].client_ids.len(), 1);
    let exported = env.api.get(&format!("/api/notebooks/{beta_id}/ipynb"), admin);
    exported.expect(200);
    let file = exported.json();
    assert_eq!(file["metadata"]["kernelspec"]["name"], json!("python3"));
    assert_eq!(file["metadata"]["language_info"]["name"], json!("python"));
    assert_eq!(
        (file["nbformat"].clone(), file["nbformat_minor"].clone(), file["cells"].clone()),
        (json!(4), json!(5), json!([]))
    );

    let nb = format!("/api/notebooks/{beta_id}");
    assert_eq!(env.api.get(&nb, admin).json(), beta);
    let renamed = env.api.patch_json(&nb, admin, &json!({"name": "Gamma"}));
    renamed.expect(200);
    assert_eq!(renamed.json()["name"], json!("Gamma"));
    assert_eq!(env.api.get(&nb, admin).json()["name"], json!("Gamma"));
    let (code, _) = error_of(&env.api.patch_json(&nb, admin, &json!({"name": "Alpha"})), 409);
    assert_eq!(code, "conflict");
    let (code, _) = error_of(&env.api.patch_json(&nb, admin, &json!({"name": ""})), 422);
    assert_eq!(code, "invalid_name");

    error_of(&env.api.delete(&nb, Auth::None), 401);
    env.api.delete(&nb, admin).expect(204);
    let (code, _) = error_of(&env.api.get(&nb, admin), 404);
    assert_eq!(code, "not_found");
    error_of(&env.api.delete(&nb, admin), 404);
    error_of(&env.api.get(&format!("{nb}/ipynb"), admin), 404);
    error_of(&env.api.patch_json(&nb, admin, &json!({"name": "Back"})), 404);
    let left: Vec<Value> = env
        .api
        .get(&notebooks, admin)
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["name"].clone())
        .collect();
    assert_eq!(left, vec![json!("Alpha")]);
    assert!(
        env.rt
            .block_on(store.updates_between(sync_server::store::NotebookId(beta_id), 0, None))
            .expect("log")
            .is_empty()
    );
    // Ids that are not numbers name nothing.
    let (_, message) = error_of(&env.api.get("/api/notebooks/abc", admin), 404);
    assert!(message.contains("/api/notebooks/abc"), "{message}");
}

fn malformed_requests_answer_in_the_error_shape(backend: Backend) {
    let env = Env::new(backend);
    let admin = Auth::Bearer(&env.admin);
    let (code, message) =
        error_of(&env.api.post_raw("/api/projects", admin, "application/json", b"{\"name\": "), 400);
    assert_eq!(code, "bad_request");
    assert!(message.contains("JSON"), "{message}");
    let (code, _) =
        error_of(&env.api.post_raw("/api/projects", admin, "text/plain", b"{\"name\": \"x\"}"), 400);
    assert_eq!(code, "bad_request");
    let (code, message) = error_of(&env.api.post_json("/api/projects", admin, &json!({"name": 5})), 422);
    assert_eq!(code, "invalid_request");
    assert!(message.contains("name"), "{message}");
    let (code, _) = error_of(
        &env.api.post_json("/api/projects", admin, &json!({"name": "x", "visibility": "secret"})),
        422,
    );
    assert_eq!(code, "invalid_request");
    let (code, _) = error_of(&env.api.get("/api/no/such/route", admin), 404);
    assert_eq!(code, "not_found");
    let (code, _) = error_of(&env.api.delete("/api/me", admin), 405);
    assert_eq!(code, "method_not_allowed");
    let (code, _) =
        error_of(&env.api.post_bytes("/api/projects/1/notebooks/import?mode=solo", admin, b"{}"), 400);
    assert_eq!(code, "bad_request");
}

/// Each scenario runs once per backend, as `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

on_both_backends!(
    first_start_admin_signs_in_and_out_with_cookie_bearer_and_query_token,
    wrong_name_or_password_is_one_401,
    personal_tokens_made_through_the_api_work,
    only_admins_manage_users,
    projects_and_notebooks_are_created_listed_renamed_and_deleted,
    malformed_requests_answer_in_the_error_shape,
    every_valid_notebook_survives_import_and_export,
    the_importer_authors_every_cell_unless_the_claim_is_their_own,
    invalid_notebooks_are_refused_naming_the_problem_and_path,
    notebooks_over_the_import_limit_are_refused,
    cli_manages_users_and_tokens_on_the_servers_database,
    cli_imports_and_exports_like_the_api,
    permission_matrix,
    the_owner_manages_members_and_the_owner_stays,
    projects_are_listed_as_owned_or_collaborating_with_the_callers_role,
    the_owner_changes_and_deletes_a_project,
    the_mode_is_changed_by_the_owner_or_the_notebooks_creator,
    a_block_leaves_the_notebook_to_its_holder,
    access_changes_reach_open_connections,
    files_round_trip_byte_for_byte_and_list_with_their_authors,
    files_and_folders_move_copy_and_delete,
    a_folder_downloads_as_a_zip_with_everything_in_it,
    uploads_over_the_limit_are_refused_and_store_nothing,
    path_attacks_are_refused_and_touch_nothing,
    a_blocked_file_is_left_to_its_holder,
    a_job_stores_its_logs_and_files_which_stay_until_the_job_is_deleted,
    a_long_job_is_terminated_and_a_queued_one_then_runs,
    scripts_that_cannot_run_as_jobs_are_refused,
);
