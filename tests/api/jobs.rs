//! Background jobs (SPEC §9, issue 6): a script run in a fresh process with the project's
//! files, its logs stored next to it, the files it writes stored for its owner and kept
//! from deletion while the job exists; termination; the per-user queue.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

/// The job as its owner reads it.
fn job(env: &Env, token: &str, id: i64) -> Value {
    let reply = env.api.get(&format!("/api/jobs/{id}"), Auth::Bearer(token));
    reply.expect(200);
    reply.json()
}

/// Polls the job until `done` holds (a minute at most), returning it.
fn job_until(env: &Env, token: &str, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let current = job(env, token, id);
        if done(&current) {
            return current;
        }
        assert!(Instant::now() < deadline, "job {id} never got {what}: {current}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn submit(env: &Env, token: &str, project: i64, path: &str) -> Reply {
    env.api.post_json(&format!("/api/projects/{project}/jobs"), Auth::Bearer(token), &json!({"path": path}))
}

fn content(env: &Env, token: &str, project: i64, path: &str) -> String {
    let reply = env.api.get(&file_url(project, "/content", path), Auth::Bearer(token));
    reply.expect(200);
    String::from_utf8(reply.body().to_vec()).expect("utf-8")
}

/// A project of `owner`'s with `editor` as an editor.
fn project_with(env: &Env, owner: &TestUser, editor: &TestUser) -> i64 {
    let project = env.project(&owner.token, "jobs");
    env.member(project, editor, sync_server::store::Role::Editor);
    project
}

pub fn a_job_stores_its_logs_and_files_which_stay_until_the_job_is_deleted(backend: Backend) {
    let env = Env::new(backend);
    let (alice, bob) = (env.user("alice"), env.user("bob"));
    let project = project_with(&env, &alice, &bob);
    seed_file(&env, project, "data/input.txt", b"21", &alice);
    let script = "import sys\nn = int(open('data/input.txt').read())\nprint('doubled', n * 2)\n\
                  print('a warning', file=sys.stderr)\nopen('data/result.txt', 'w').write(str(n * 2))\n";
    seed_file(&env, project, "scripts/double.py", script.as_bytes(), &bob);

    let reply = submit(&env, &bob.token, project, "scripts/double.py");
    reply.expect(201);
    let queued = reply.json();
    let id = queued["id"].as_i64().expect("id");
    assert_eq!(
        (queued["owner"].clone(), queued["script"].clone()),
        (json!(bob.user.id.0), json!("scripts/double.py"))
    );
    let (stdout, stderr) = (
        queued["stdout_path"].as_str().expect("stdout").to_owned(),
        queued["stderr_path"].as_str().expect("stderr").to_owned(),
    );
    assert!(stdout.starts_with("scripts/double.py.job-") && stdout.ends_with(".stdout.txt"), "{stdout}");
    assert!(stderr.starts_with("scripts/double.py.job-") && stderr.ends_with(".stderr.txt"), "{stderr}");

    let done =
        job_until(&env, &bob.token, id, "an end", |j| j["state"] != "queued" && j["state"] != "running");
    assert_eq!(
        (done["state"].clone(), done["exit_code"].clone(), done["error"].clone()),
        (json!("finished"), json!(0), Value::Null)
    );
    assert!(done["started_at"].is_string() && done["ended_at"].is_string());
    assert_eq!(done["generated"], json!([stdout, stderr, "data/result.txt"]));
    assert_eq!(content(&env, &alice.token, project, &stdout), "doubled 42\n");
    assert_eq!(content(&env, &alice.token, project, &stderr), "a warning\n");
    assert_eq!(content(&env, &alice.token, project, "data/result.txt"), "42");
    let entry = stored_entry(&env, project, "data/result.txt").expect("stored");
    assert_eq!(entry.updated_by, bob.user.id, "the job's owner wrote it");
    assert_eq!(
        stored_entry(&env, project, "data/input.txt").expect("input").updated_by,
        alice.user.id,
        "inputs untouched"
    );

    // The job's files stay while it exists, a folder holding one too.
    for path in ["data/result.txt", stdout.as_str(), "data"] {
        let reply = env.api.delete(&file_url(project, "", path), Auth::Bearer(&alice.token));
        reply.expect(409);
        assert_eq!(reply.json()["error"]["code"], json!("job_output"), "{path}");
        assert!(stored_entry(&env, project, path).is_some(), "{path} is still there");
    }
    env.api.delete(&file_url(project, "", "data/input.txt"), Auth::Bearer(&alice.token)).expect(204);

    // Deleting the job lets them go.
    env.api.delete(&format!("/api/jobs/{id}"), Auth::Bearer(&bob.token)).expect(204);
    env.api.get(&format!("/api/jobs/{id}"), Auth::Bearer(&bob.token)).expect(404);
    env.api.delete(&file_url(project, "", "data/result.txt"), Auth::Bearer(&alice.token)).expect(204);
    env.api.delete(&file_url(project, "", &stdout), Auth::Bearer(&alice.token)).expect(204);
}

pub fn a_long_job_is_terminated_and_a_queued_one_then_runs(backend: Backend) {
    let env = Env::with_env(backend, &[("TALKBOOK_MAX_JOBS_PER_USER", "1")]);
    let (alice, bob) = (env.user("alice"), env.user("bob"));
    let project = project_with(&env, &alice, &bob);
    seed_file(&env, project, "long.sh", b"echo started\nsleep 600\necho never\n", &bob);
    seed_file(&env, project, "quick.sh", b"echo quick > quick.out\n", &bob);

    let long = submit(&env, &bob.token, project, "long.sh");
    long.expect(201);
    let long = long.json()["id"].as_i64().expect("id");
    let running = job_until(&env, &bob.token, long, "running", |j| j["state"] == "running");
    let stdout = running["stdout_path"].as_str().expect("stdout").to_owned();
    // Its log is stored while it runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored_entry(&env, project, &stdout).is_none_or(|e| e.size == 0) {
        assert!(Instant::now() < deadline, "the running job's log never arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(content(&env, &bob.token, project, &stdout), "started\n");

    // Bob's one slot is taken: his next job waits.
    let quick = submit(&env, &bob.token, project, "quick.sh");
    quick.expect(201);
    let quick = quick.json()["id"].as_i64().expect("id");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(job(&env, &bob.token, quick)["state"], json!("queued"));

    // A stranger to the job may not stop it, nor delete it while it runs; its owner may.
    let carol = env.user("carol");
    env.member(project, &carol, sync_server::store::Role::Editor);
    env.api.post_empty(&format!("/api/jobs/{long}/terminate"), Auth::Bearer(&carol.token)).expect(403);
    let refused = env.api.delete(&format!("/api/jobs/{long}"), Auth::Bearer(&bob.token));
    refused.expect(409);
    assert_eq!(refused.json()["error"]["code"], json!("job_running"));
    let stopped = env.api.post_empty(&format!("/api/jobs/{long}/terminate"), Auth::Bearer(&bob.token));
    stopped.expect(200);
    assert_eq!(stopped.json()["state"], json!("terminated"));
    assert_eq!(stopped.json()["error"], json!("terminated on request"));
    assert_eq!(content(&env, &bob.token, project, &stdout), "started\n", "it never got further");
    let again = env.api.post_empty(&format!("/api/jobs/{long}/terminate"), Auth::Bearer(&bob.token));
    again.expect(409);
    assert_eq!(again.json()["error"]["code"], json!("job_over"));

    // The queued job got the slot and ran.
    let finished = job_until(&env, &bob.token, quick, "an end", |j| j["state"] == "finished");
    assert_eq!(finished["generated"].as_array().expect("generated").last(), Some(&json!("quick.out")));
    assert_eq!(content(&env, &alice.token, project, "quick.out"), "quick\n");

    // Listing: newest first.
    let listed = env.api.get(&format!("/api/projects/{project}/jobs"), Auth::Bearer(&alice.token));
    listed.expect(200);
    let ids: Vec<Value> =
        listed.json()["jobs"].as_array().expect("jobs").iter().map(|j| j["id"].clone()).collect();
    assert_eq!(ids, vec![json!(quick), json!(long)]);
}

pub fn scripts_that_cannot_run_as_jobs_are_refused(backend: Backend) {
    let env = Env::new(backend);
    let (alice, vera) = (env.user("alice"), env.user("vera"));
    let project = env.project(&alice.token, "jobs");
    env.member(project, &vera, sync_server::store::Role::Viewer);
    seed_file(&env, project, "notes.md", b"# notes", &alice);
    seed_file(&env, project, "run.py", b"print(1)", &alice);

    let unsupported = submit(&env, &alice.token, project, "notes.md");
    unsupported.expect(422);
    assert_eq!(unsupported.json()["error"]["code"], json!("unsupported_script"));
    submit(&env, &alice.token, project, "missing.py").expect(404);
    let attack = submit(&env, &alice.token, project, "../etc/passwd.py");
    attack.expect(400);
    assert_eq!(attack.json()["error"]["code"], json!("invalid_path"));
    submit(&env, &vera.token, project, "run.py").expect(403);
    let listed = env.api.get(&format!("/api/projects/{project}/jobs"), Auth::Bearer(&vera.token));
    listed.expect(200);
    assert_eq!(listed.json()["jobs"], json!([]), "nothing was queued");
}
