//! Matrix rows for the authorship history: timeline, blame, restore, undo.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            route: "GET /api/notebooks/{id}/history",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let notebook = m.pair_notebook(scene);
                let reply = m.api().get(&format!("/api/notebooks/{notebook}/history"), m.auth(who));
                if ok(reply.status) {
                    let events = reply.json()["events"].clone();
                    assert!(
                        events
                            .as_array()
                            .expect("events")
                            .iter()
                            .any(|e| e["kind"] == "cell_created" && e["cell_id"] == "k1"),
                        "{events}"
                    );
                }
                reply.status
            },
        },
        Case {
            route: "GET /api/notebooks/{id}/cells/{cell_id}/blame",
            rule: Rule::View(200),
            run: |m, scene, who| {
                let notebook = m.pair_notebook(scene);
                let reply = m.api().get(&format!("/api/notebooks/{notebook}/cells/k1/blame"), m.auth(who));
                if ok(reply.status) {
                    assert_eq!(reply.json()["source"], json!("1 + 1"));
                }
                reply.status
            },
        },
        Case {
            // Restoring the first state of an unchanged notebook changes nothing.
            route: "POST /api/notebooks/{id}/restore",
            rule: Rule::Edit(200),
            run: |m, scene, who| {
                let notebook = m.pair_notebook(scene);
                let path = format!("/api/notebooks/{notebook}/restore");
                let reply = m.api().post_json(&path, m.auth(who), &json!({"seq": 1}));
                if ok(reply.status) {
                    assert_eq!(reply.json()["seq"], json!(1));
                }
                reply.status
            },
        },
        Case {
            // Nobody has a change of their own to undo in the scene's notebook.
            route: "POST /api/notebooks/{id}/undo",
            rule: Rule::Edit(409),
            run: |m, scene, who| {
                let path = format!("/api/notebooks/{}/undo", scene.notebook);
                let reply = m.api().post_empty(&path, m.auth(who));
                if reply.status == 409 {
                    assert_eq!(reply.json()["error"]["code"], json!("nothing_to_undo"));
                }
                reply.status
            },
        },
    ]
}
