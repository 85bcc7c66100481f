//! The admin commands (`talkbook user|token|import|export|migrate`) against the running
//! server's own database, checked through the API.

use serde_json::{Value, json};

use super::*;
use crate::support::{assert_equivalent, describe, notebooks_dir};

pub fn cli_manages_users_and_tokens_on_the_servers_database(backend: Backend) {
    let env = Env::new(backend);
    let migrated = env.cli(&["migrate"], "");
    assert!(String::from_utf8_lossy(&migrated.stderr).contains("migrated"), "{}", describe(&migrated));
    stdout(&migrated);

    let added = stdout(&env.cli(&["user", "add", "carol", "--display-name", "Carol C"], ""));
    assert!(added.starts_with("created user carol (id "), "{added}");
    let password = added
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no generated password in {added}"))
        .to_owned();
    let login =
        env.api.post_json("/api/auth/login", Auth::None, &json!({"name": "carol", "password": password}));
    login.expect(200);
    assert_eq!(login.json()["user"]["display_name"], json!("Carol C"));

    let dave = stdout(&env.cli(&["user", "add", "dave", "--admin", "--password-stdin"], "dave-password\n"));
    assert!(!dave.contains("password:"), "a password from stdin is not echoed: {dave}");
    let login = env.api.post_json(
        "/api/auth/login",
        Auth::None,
        &json!({"name": "dave", "password": "dave-password"}),
    );
    login.expect(200);
    assert_eq!(login.json()["user"]["is_admin"], json!(true));

    assert_eq!(failure(&env.cli(&["user", "add", "carol"], "")), "error: user `carol` already exists");
    assert!(failure(&env.cli(&["user", "add", "Bad Name"], "")).contains("not a valid user name"));
    assert!(
        failure(&env.cli(&["user", "add", "erin", "--password-stdin"], "short\n")).contains("at least 8")
    );

    let list = stdout(&env.cli(&["user", "list"], ""));
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], vec!["ID", "NAME", "DISPLAY", "NAME", "ADMIN", "CREATED"], "{list}");
    // NAME is the second column; ADMIN comes before the three words of CREATED.
    let users: Vec<(&str, &str)> = rows[1..].iter().map(|r| (r[1], r[r.len() - 4])).collect();
    assert_eq!(users, vec![("admin", "yes"), ("carol", "no"), ("dave", "yes")], "{list}");
    assert!(list.contains("Carol C"), "{list}");

    let changed = env.cli(&["user", "passwd", "carol", "--password-stdin"], "carols-new-password\n");
    stdout(&changed);
    env.api
        .post_json(
            "/api/auth/login",
            Auth::None,
            &json!({"name": "carol", "password": "carols-new-password"}),
        )
        .expect(200);
    error_of(
        &env.api.post_json("/api/auth/login", Auth::None, &json!({"name": "carol", "password": password})),
        401,
    );
    assert_eq!(
        failure(&env.cli(&["user", "passwd", "zed", "--password-stdin"], "long-enough\n")),
        "error: there is no user named `zed`"
    );

    let token =
        stdout(&env.cli(&["token", "create", "carol", "--name", "nightly", "--expires-days", "7"], ""));
    assert_eq!(token.lines().count(), 1, "only the secret on stdout: {token}");
    let secret = token.trim();
    assert!(secret.starts_with("tb_"), "{secret}");
    let me = env.api.get("/api/me", Auth::Bearer(secret));
    me.expect(200);
    assert_eq!(me.json()["name"], json!("carol"));
    let tokens = env.api.get("/api/me/tokens", Auth::Bearer(secret)).json();
    assert!(
        tokens
            .as_array()
            .expect("list")
            .iter()
            .any(|t| t["name"] == json!("nightly") && t["expires_at"].is_string()),
        "{tokens}"
    );
    assert!(
        failure(&env.cli(&["token", "create", "carol", "--expires-days", "0"], ""))
            .contains("1 to 3650 days")
    );
}

pub fn cli_imports_and_exports_like_the_api(backend: Backend) {
    let env = Env::new(backend);
    let bob = env.user("bob");
    let project = env.project(&env.admin, "cli");
    let original = notebooks_dir("valid").join("test4.5.ipynb");
    let file = original.to_str().expect("utf-8 path");
    let id: i64 = stdout(&env.cli(
        &["import", file, "--project", &project.to_string(), "--user", "bob", "--name", "From CLI"],
        "",
    ))
    .trim()
    .parse()
    .expect("the notebook id on stdout");
    let notebook = env.api.get(&format!("/api/notebooks/{id}"), Auth::Bearer(&env.admin));
    notebook.expect(200);
    let row = notebook.json();
    assert_eq!(
        (row["name"].clone(), row["created_by"].clone(), row["project_id"].clone()),
        (json!("From CLI"), json!(bob.user.id.0), json!(project))
    );

    let out = env.db.dir().join("cli-export.ipynb");
    stdout(&env.cli(&["export", &id.to_string(), "-o", out.to_str().expect("utf-8 path")], ""));
    assert_equivalent(&original, &out);
    let written: Value = serde_json::from_slice(&std::fs::read(&out).expect("export")).expect("json");
    for cell in written["cells"].as_array().expect("cells") {
        assert_eq!(cell["metadata"]["talkbook"]["author_name"], json!("bob"));
    }
    let to_stdout = stdout(&env.cli(&["export", &id.to_string()], ""));
    let from_api = env.api.get(&format!("/api/notebooks/{id}/ipynb"), Auth::Bearer(&env.admin)).text();
    assert_eq!(to_stdout, from_api, "the CLI and the API export the same file");

    let invalid = notebooks_dir("invalid").join("invalid.ipynb");
    let refused = failure(&env.cli(
        &["import", invalid.to_str().expect("path"), "--project", &project.to_string(), "--user", "bob"],
        "",
    ));
    assert!(refused.contains("invalid notebook: $.cells[0]"), "{refused}");
    assert_eq!(failure(&env.cli(&["export", "987654"], "")), "error: notebook 987654 does not exist");
    assert_eq!(
        failure(&env.cli(&["import", file, "--project", "987654", "--user", "bob"], "")),
        "error: project 987654 does not exist"
    );
    assert_eq!(
        failure(&env.cli(&["import", file, "--project", &project.to_string(), "--user", "nobody"], "")),
        "error: there is no user named `nobody`"
    );
    let listed = env.api.get(&format!("/api/projects/{project}/notebooks"), Auth::Bearer(&env.admin)).json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "refused imports created nothing: {listed}");

    // The history of the import: every cell created by bob, the same as the API says.
    let events: Vec<Value> = stdout(&env.cli(&["history", &id.to_string(), "--json"], ""))
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    let cells = written["cells"].as_array().expect("cells");
    let created: Vec<&Value> = events.iter().filter(|e| e["kind"] == "cell_created").collect();
    assert_eq!(created.len(), cells.len(), "{events:?}");
    assert!(created.iter().all(|e| e["user"] == json!("bob")), "{events:?}");
    let api_events = env.api.get(&format!("/api/notebooks/{id}/history"), Auth::Bearer(&env.admin)).json();
    let api_ids: Vec<&Value> =
        api_events["events"].as_array().expect("events").iter().map(|e| &e["id"]).collect();
    assert_eq!(events.iter().map(|e| &e["id"]).collect::<Vec<_>>(), api_ids);
    // Blame of the first cell: each line is bob's.
    let first = &cells[0];
    let cell_id = first["id"].as_str().expect("cell id");
    let blame = stdout(&env.cli(&["blame", &id.to_string(), cell_id], ""));
    let source: String =
        first["source"].as_array().expect("lines").iter().filter_map(Value::as_str).collect();
    for (line, text) in blame.lines().zip(source.lines()) {
        assert!(line.contains(" bob ") && line.ends_with(&format!("│ {text}")), "{line:?} for {text:?}");
    }
    assert_eq!(
        failure(&env.cli(&["blame", &id.to_string(), "no-such-cell"], "")),
        "error: no cell `no-such-cell` in the notebook at that point"
    );
}

#[test]
pub fn the_help_lists_every_admin_command() {
    let out = support::talkbook(&["--help".as_ref()]);
    let help = stdout(&out);
    for command in ["serve", "convert", "migrate", "user", "token", "import", "export", "history", "blame"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "`{command}` missing from:\n{help}"
        );
    }
    let user_help = stdout(&support::talkbook(&["user".as_ref(), "add".as_ref(), "--help".as_ref()]));
    for flag in
        ["--display-name", "--admin", "--password-stdin", "--database", "--data-dir", "TALKBOOK_DATABASE_URL"]
    {
        assert!(user_help.contains(flag), "`{flag}` missing from `user add --help`:\n{user_help}");
    }
}
