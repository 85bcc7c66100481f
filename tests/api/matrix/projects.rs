//! Matrix rows for projects and their members.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
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
    ]
}
