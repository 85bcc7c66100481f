//! Matrix rows for running cells and for kernels.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
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
    ]
}
