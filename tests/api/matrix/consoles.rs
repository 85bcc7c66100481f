//! Matrix rows for consoles: opening, listing, executing, running files, events, closing.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
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
    ]
}
