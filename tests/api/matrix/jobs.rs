//! Matrix rows for background jobs.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
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
    ]
}
