//! Matrix rows for project files and folders: listing, uploads, downloads, zips, moves,
//! copies and blocks.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
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
    ]
}
