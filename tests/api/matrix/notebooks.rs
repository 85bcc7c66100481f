//! Matrix rows for notebooks: listing, creating, importing, renaming and deleting them,
//! their mode, their blocks and their `.ipynb` export.

use sync_server::store::NotebookBlock;

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
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
    ]
}
