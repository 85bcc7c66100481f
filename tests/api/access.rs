//! Access control through the API, beyond the matrix: managing members, listing owned and
//! collaborating projects, changing and deleting projects, notebook modes, manual blocks
//! (423 and 409 with the holder), and rights changes reaching open WebSocket connections.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use sync_server::store::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::*;

/// Creates a notebook through the API and returns its JSON.
fn notebook(env: &Env, token: &str, project: i64, name: &str) -> Value {
    let reply = env.api.post_json(
        &format!("/api/projects/{project}/notebooks"),
        Auth::Bearer(token),
        &json!({"name": name}),
    );
    reply.expect(201);
    reply.json()
}

fn names_and_roles(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["role"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub fn the_owner_manages_members_and_the_owner_stays(backend: Backend) {
    let env = Env::new(backend);
    let alice = env.user("alice");
    let bob = env.user("bob");
    let carol = env.user("carol");
    let owner = Auth::Bearer(&alice.token);
    let project = env.project(&alice.token, "team");
    let members = format!("/api/projects/{project}/members");

    let added = env.api.post_json(&members, owner, &json!({"user": "bob", "role": "editor"}));
    added.expect(201);
    let body = added.json();
    assert_eq!(
        (body["user"]["id"].clone(), body["user"]["name"].clone(), body["role"].clone()),
        (json!(bob.user.id.0), json!("bob"), json!("editor"))
    );
    assert_eq!(body["user"]["display_name"], json!("bob (display)"));
    assert!(body["user"].get("is_admin").is_none(), "members are shown without account details");
    env.api.post_json(&members, owner, &json!({"user": "carol", "role": "viewer"})).expect(201);

    // Bob now edits; carol reads but does not edit.
    notebook(&env, &bob.token, project, "bob's");
    let (code, _) = error_of(
        &env.api.post_json(
            &format!("/api/projects/{project}/notebooks"),
            Auth::Bearer(&carol.token),
            &json!({"name": "c"}),
        ),
        403,
    );
    assert_eq!(code, "forbidden");
    let listed = env.api.get(&members, Auth::Bearer(&carol.token));
    listed.expect(200);
    let roles: Vec<(Value, Value)> = listed
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|m| (m["user"]["name"].clone(), m["role"].clone()))
        .collect();
    assert_eq!(
        roles,
        vec![
            (json!("alice"), json!("owner")),
            (json!("bob"), json!("editor")),
            (json!("carol"), json!("viewer"))
        ]
    );

    // Refusals, each with its code; nothing changes.
    let refuse = |reply: Reply, status: u16, expected: &str| {
        let (code, message) = error_of(&reply, status);
        assert_eq!(code, expected, "{message}");
        message
    };
    refuse(
        env.api.post_json(&members, owner, &json!({"user": "nobody", "role": "viewer"})),
        422,
        "unknown_user",
    );
    refuse(env.api.post_json(&members, owner, &json!({"user": "bob", "role": "viewer"})), 409, "conflict");
    refuse(
        env.api.post_json(&members, owner, &json!({"user": "dave", "role": "admin"})),
        422,
        "invalid_request",
    );
    let dave = env.user("dave");
    refuse(
        env.api.post_json(&members, owner, &json!({"user": "dave", "role": "owner"})),
        422,
        "invalid_role",
    );
    refuse(
        env.api.post_json(&members, Auth::Bearer(&bob.token), &json!({"user": "dave", "role": "viewer"})),
        403,
        "forbidden",
    );
    let alice_member = format!("{members}/{}", alice.user.id.0);
    let message =
        refuse(env.api.patch_json(&alice_member, owner, &json!({"role": "viewer"})), 409, "owner_is_fixed");
    assert!(message.contains("owner"), "{message}");
    let message = refuse(env.api.delete(&alice_member, owner), 409, "owner_is_fixed");
    assert!(message.contains("removed"), "{message}");
    let bob_member = format!("{members}/{}", bob.user.id.0);
    refuse(env.api.patch_json(&bob_member, owner, &json!({"role": "owner"})), 422, "invalid_role");
    refuse(
        env.api.patch_json(&format!("{members}/{}", dave.user.id.0), owner, &json!({"role": "editor"})),
        404,
        "not_found",
    );
    refuse(env.api.delete(&format!("{members}/{}", dave.user.id.0), owner), 404, "not_found");
    refuse(env.api.delete(&bob_member, Auth::Bearer(&carol.token)), 403, "forbidden");
    let store = env.store();
    let role = |user: &TestUser| {
        env.rt
            .block_on(store.member_role(sync_server::store::ProjectId(project), user.user.id))
            .expect("role")
    };
    assert_eq!((role(&alice), role(&bob), role(&dave)), (Some(Role::Owner), Some(Role::Editor), None));

    // Bob becomes a viewer: he reads, but creates nothing any more.
    let changed = env.api.patch_json(&bob_member, owner, &json!({"role": "viewer"}));
    changed.expect(200);
    assert_eq!(changed.json()["role"], json!("viewer"));
    error_of(
        &env.api.post_json(
            &format!("/api/projects/{project}/notebooks"),
            Auth::Bearer(&bob.token),
            &json!({"name": "b2"}),
        ),
        403,
    );
    env.api.get(&format!("/api/projects/{project}"), Auth::Bearer(&bob.token)).expect(200);

    // Removed, he no longer sees the private project at all.
    env.api.delete(&bob_member, owner).expect(204);
    assert_eq!(role(&bob), None);
    let (code, _) =
        error_of(&env.api.get(&format!("/api/projects/{project}"), Auth::Bearer(&bob.token)), 403);
    assert_eq!(code, "forbidden");
    assert_eq!(env.api.get("/api/projects", Auth::Bearer(&bob.token)).json(), json!([]));
    // Administrators get no implicit access to content.
    let (code, _) =
        error_of(&env.api.get(&format!("/api/projects/{project}"), Auth::Bearer(&env.admin)), 403);
    assert_eq!(code, "forbidden");
    error_of(&env.api.get(&members, Auth::Bearer(&env.admin)), 403);
}

pub fn projects_are_listed_as_owned_or_collaborating_with_the_callers_role(backend: Backend) {
    let env = Env::new(backend);
    let alice = env.user("alice");
    let bob = env.user("bob");
    let first = env.project(&bob.token, "bob's first");
    let edited = env.project(&alice.token, "alice's, bob edits");
    let viewed = env.project(&alice.token, "alice's, bob views");
    env.api
        .post_json(
            "/api/projects",
            Auth::Bearer(&alice.token),
            &json!({"name": "alice's public", "visibility": "public"}),
        )
        .expect(201);
    let second = env.project(&bob.token, "bob's second");
    env.member(edited, &bob, Role::Editor);
    env.member(viewed, &bob, Role::Viewer);
    let list = |query: &str| {
        let reply = env.api.get(&format!("/api/projects{query}"), Auth::Bearer(&bob.token));
        reply.expect(200);
        reply.json()
    };
    let pair = |name: &str, role: &str| (name.to_owned(), role.to_owned());
    assert_eq!(
        names_and_roles(&list("")),
        vec![
            pair("bob's second", "owner"),
            pair("alice's, bob views", "viewer"),
            pair("alice's, bob edits", "editor"),
            pair("bob's first", "owner"),
        ],
        "newest first; public projects he is no member of are not his"
    );
    assert_eq!(
        names_and_roles(&list("?filter=owned")),
        vec![pair("bob's second", "owner"), pair("bob's first", "owner")]
    );
    assert_eq!(
        names_and_roles(&list("?filter=collaborating")),
        vec![pair("alice's, bob views", "viewer"), pair("alice's, bob edits", "editor")]
    );
    let all = list("");
    let access: Vec<Value> = all.as_array().expect("list").iter().map(|p| p["access"].clone()).collect();
    assert_eq!(access, vec![json!("own"), json!("view"), json!("edit"), json!("own")]);
    assert_eq!(all[0]["id"], json!(second));
    assert_eq!(all[3]["id"], json!(first));
    let (code, _) = error_of(&env.api.get("/api/projects?filter=mine", Auth::Bearer(&bob.token)), 400);
    assert_eq!(code, "bad_request");
    error_of(&env.api.get("/api/projects", Auth::None), 401);
}

pub fn the_owner_changes_and_deletes_a_project(backend: Backend) {
    let env = Env::new(backend);
    let alice = env.user("alice");
    let bob = env.user("bob");
    let owner = Auth::Bearer(&alice.token);
    let project = env.project(&alice.token, "draft");
    env.member(project, &bob, Role::Editor);
    let path = format!("/api/projects/{project}");
    let nb = notebook(&env, &bob.token, project, "notes")["id"].as_i64().expect("id");

    // Private: anonymous readers are asked to sign in.
    error_of(&env.api.get(&format!("/api/notebooks/{nb}"), Auth::None), 401);
    let changed = env.api.patch_json(
        &path,
        owner,
        &json!({"name": " Published ", "description": "for all", "visibility": "public"}),
    );
    changed.expect(200);
    let body = changed.json();
    assert_eq!(
        (body["name"].clone(), body["description"].clone(), body["visibility"].clone(), body["role"].clone()),
        (json!("Published"), json!("for all"), json!("public"), json!("owner"))
    );
    // Public: anyone reads, anonymously too, but only as a viewer.
    let anonymous = env.api.get(&format!("/api/notebooks/{nb}"), Auth::None);
    anonymous.expect(200);
    assert_eq!(anonymous.json()["access"], json!("view"));
    let project_read = env.api.get(&path, Auth::None);
    project_read.expect(200);
    assert_eq!(
        (project_read.json()["role"].clone(), project_read.json()["access"].clone()),
        (Value::Null, json!("view"))
    );
    error_of(&env.api.patch_json(&format!("/api/notebooks/{nb}"), Auth::None, &json!({"name": "x"})), 401);

    // Only the owner changes it, and only to valid values.
    let (code, _) =
        error_of(&env.api.patch_json(&path, Auth::Bearer(&bob.token), &json!({"description": "mine"})), 403);
    assert_eq!(code, "forbidden");
    let (code, _) = error_of(&env.api.patch_json(&path, owner, &json!({"name": "  "})), 422);
    assert_eq!(code, "invalid_name");
    let (code, _) = error_of(&env.api.patch_json(&path, owner, &json!({"visibility": "secret"})), 422);
    assert_eq!(code, "invalid_request");
    assert_eq!(env.api.get(&path, owner).json()["description"], json!("for all"), "refusals changed nothing");

    // Deleting takes the notebooks along.
    error_of(&env.api.delete(&path, Auth::Bearer(&bob.token)), 403);
    env.api.delete(&path, owner).expect(204);
    error_of(&env.api.get(&path, owner), 404);
    error_of(&env.api.get(&format!("/api/notebooks/{nb}"), owner), 404);
    error_of(&env.api.delete(&path, owner), 404);
    assert_eq!(env.api.get("/api/projects", Auth::Bearer(&bob.token)).json(), json!([]));
}

pub fn the_mode_is_changed_by_the_owner_or_the_notebooks_creator(backend: Backend) {
    let env = Env::new(backend);
    let alice = env.user("alice");
    let bob = env.user("bob");
    let carol = env.user("carol");
    let project = env.project(&alice.token, "modes");
    env.member(project, &bob, Role::Editor);
    env.member(project, &carol, Role::Editor);
    let created = notebook(&env, &bob.token, project, "bob's");
    assert_eq!(created["mode"], json!("thread"), "thread is the default");
    let id = created["id"].as_i64().expect("id");
    let mode = format!("/api/notebooks/{id}/mode");
    let set = |token: &str, mode_name: &str| {
        env.api.put_json(&mode, Auth::Bearer(token), &json!({"mode": mode_name}))
    };

    // The creator may.
    let paired = set(&bob.token, "pair");
    paired.expect(200);
    assert_eq!(paired.json()["mode"], json!("pair"));
    assert_eq!(
        env.api.get(&format!("/api/notebooks/{id}"), Auth::Bearer(&carol.token)).json()["mode"],
        json!("pair")
    );
    // Another editor may not.
    let (code, message) = error_of(&set(&carol.token, "thread"), 403);
    assert_eq!(code, "forbidden");
    assert!(message.contains("creator"), "{message}");
    // The owner may.
    set(&alice.token, "thread").expect(200);
    // A creator who is only a viewer now may not.
    env.api
        .patch_json(
            &format!("/api/projects/{project}/members/{}", bob.user.id.0),
            Auth::Bearer(&alice.token),
            &json!({"role": "viewer"}),
        )
        .expect(200);
    error_of(&set(&bob.token, "pair"), 403);
    let listed = env.api.get(&format!("/api/projects/{project}/notebooks"), Auth::Bearer(&bob.token)).json();
    assert_eq!(listed[0]["mode"], json!("thread"), "refusals changed nothing");
    let (code, _) = error_of(&set(&alice.token, "solo"), 422);
    assert_eq!(code, "invalid_request");
    error_of(
        &env.api.put_json("/api/notebooks/999999/mode", Auth::Bearer(&alice.token), &json!({"mode": "pair"})),
        404,
    );
}

fn auth(user: &TestUser) -> Auth<'_> {
    Auth::Bearer(&user.token)
}

/// The error object of a 423 or 409 about someone else's block, checked field by field.
fn block_error(reply: &Reply, status: u16, code: &str, holder: &TestUser, since: &Value) {
    reply.expect(status);
    let body = reply.json();
    let error = body["error"].as_object().unwrap_or_else(|| panic!("no error object in {body}"));
    let keys: Vec<&String> = error.keys().collect();
    assert_eq!(keys, vec!["code", "holder", "message", "reason", "since"], "{body}");
    assert_eq!(error["code"], json!(code));
    assert_eq!(
        error["holder"],
        json!({"id": holder.user.id.0, "name": holder.user.name, "display_name": holder.user.display_name, "color": holder.user.color})
    );
    assert_eq!((&error["since"], &error["reason"]), (since, &json!("manual")));
    let message = error["message"].as_str().expect("message");
    assert!(message.contains(&holder.user.display_name), "{message}");
}

pub fn a_block_leaves_the_notebook_to_its_holder(backend: Backend) {
    let env = Env::new(backend);
    let alice = env.user("alice");
    let bob = env.user("bob");
    let carol = env.user("carol");
    let vera = env.user("vera");
    let project = env.project(&alice.token, "blocks");
    env.member(project, &bob, Role::Editor);
    env.member(project, &carol, Role::Editor);
    env.member(project, &vera, Role::Viewer);
    let id = notebook(&env, &carol.token, project, "shared")["id"].as_i64().expect("id");
    let nb = format!("/api/notebooks/{id}");
    let block = format!("{nb}/block");

    assert_eq!(env.api.get(&nb, auth(&bob)).json()["block"], Value::Null);
    error_of(&env.api.post_empty(&block, auth(&vera)), 403);
    let blocked = env.api.post_empty(&block, auth(&bob));
    blocked.expect(200);
    let shown = blocked.json()["block"].clone();
    assert_eq!(
        (shown["holder"]["id"].clone(), shown["holder"]["name"].clone(), shown["reason"].clone()),
        (json!(bob.user.id.0), json!("bob"), json!("manual"))
    );
    let since = shown["since"].clone();
    assert!(since.is_string(), "{shown}");
    // Everyone sees it, in the notebook and in the list.
    assert_eq!(env.api.get(&nb, auth(&vera)).json()["block"], shown);
    assert_eq!(
        env.api.get(&format!("/api/projects/{project}/notebooks"), auth(&vera)).json()[0]["block"],
        shown
    );
    // Blocking again as the holder changes nothing.
    let again = env.api.post_empty(&block, auth(&bob));
    again.expect(200);
    assert_eq!(again.json()["block"], shown, "the original time stays");

    // Another editor: 409 when blocking, 423 for every write, 403 when unblocking.
    block_error(&env.api.post_empty(&block, auth(&carol)), 409, "already_blocked", &bob, &since);
    block_error(
        &env.api.patch_json(&nb, auth(&carol), &json!({"name": "carol's"})),
        423,
        "blocked",
        &bob,
        &since,
    );
    block_error(
        &env.api.put_json(&format!("{nb}/mode"), auth(&carol), &json!({"mode": "pair"})),
        423,
        "blocked",
        &bob,
        &since,
    );
    block_error(&env.api.delete(&nb, auth(&carol)), 423, "blocked", &bob, &since);
    let (code, message) = error_of(&env.api.delete(&block, auth(&carol)), 403);
    assert_eq!(code, "forbidden");
    assert!(message.contains("bob (display)"), "{message}");
    // The owner too is refused writes while bob holds it.
    block_error(
        &env.api.patch_json(&nb, auth(&alice), &json!({"name": "alice's"})),
        423,
        "blocked",
        &bob,
        &since,
    );
    let unchanged = env.api.get(&nb, auth(&alice)).json();
    assert_eq!((unchanged["name"].clone(), unchanged["mode"].clone()), (json!("shared"), json!("thread")));
    // A viewer's attempt is refused for lack of rights first.
    error_of(&env.api.patch_json(&nb, auth(&vera), &json!({"name": "vera's"})), 403);

    // The holder writes.
    env.api.patch_json(&nb, auth(&bob), &json!({"name": "bob's"})).expect(200);
    // The holder unblocks; unblocking again changes nothing.
    let lifted = env.api.delete(&block, auth(&bob));
    lifted.expect(200);
    assert_eq!(lifted.json()["block"], Value::Null);
    env.api.delete(&block, auth(&bob)).expect(200);
    error_of(&env.api.delete(&block, auth(&vera)), 403);
    env.api.patch_json(&nb, auth(&carol), &json!({"name": "carol's"})).expect(200);

    // The owner breaks carol's block; then carol's writes no longer have to wait for her.
    env.api.post_empty(&block, auth(&carol)).expect(200);
    block_error(
        &env.api.delete(&nb, auth(&bob)),
        423,
        "blocked",
        &carol,
        &env.api.get(&nb, auth(&bob)).json()["block"]["since"],
    );
    let broken = env.api.delete(&block, auth(&alice));
    broken.expect(200);
    assert_eq!(broken.json()["block"], Value::Null);
    env.api.delete(&nb, auth(&bob)).expect(204);
    error_of(&env.api.post_empty(&block, auth(&bob)), 404);
}

/// Reads a WebSocket until it closes and returns the close code.
async fn close_code(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> u16 {
    let wait = async {
        while let Some(frame) = socket.next().await {
            match frame {
                Ok(Message::Close(Some(close))) => return u16::from(close.code),
                Ok(Message::Close(None)) => return u16::from(CloseCode::Status),
                Ok(_) => continue,
                Err(e) => panic!("the connection failed instead of closing: {e}"),
            }
        }
        panic!("the connection ended without a close frame");
    };
    tokio::time::timeout(Duration::from_secs(15), wait).await.expect("closed within 15 s")
}

pub fn access_changes_reach_open_connections(backend: Backend) {
    let env = Env::new(backend);
    let alice = env.user("alice");
    let bob = env.user("bob");
    let owner = Auth::Bearer(&alice.token);
    let project = env.project(&alice.token, "live");
    env.member(project, &bob, Role::Editor);
    let nb = notebook(&env, &alice.token, project, "live")["id"].as_i64().expect("id");
    let url = |token: Option<&str>| match token {
        Some(token) => format!("{}/{nb}?token={token}", env.server.ws()),
        None => format!("{}/{nb}", env.server.ws()),
    };
    env.rt.block_on(async {
        // Removing bob closes his connection with 4403.
        let (mut bobs, _) =
            tokio_tungstenite::connect_async(url(Some(&bob.token))).await.expect("bob connects");
        let path = format!("/api/projects/{project}/members/{}", bob.user.id.0);
        let api = &env.api;
        tokio::task::block_in_place(|| api.delete(&path, owner).expect(204));
        assert_eq!(close_code(&mut bobs).await, 4403, "removed from a private project");

        // Making the project private again closes anonymous readers with 4403.
        let project_path = format!("/api/projects/{project}");
        tokio::task::block_in_place(|| {
            api.patch_json(&project_path, owner, &json!({"visibility": "public"})).expect(200)
        });
        let (mut anonymous, _) =
            tokio_tungstenite::connect_async(url(None)).await.expect("anonymous reader connects");
        tokio::task::block_in_place(|| {
            api.patch_json(&project_path, owner, &json!({"visibility": "private"})).expect(200)
        });
        assert_eq!(close_code(&mut anonymous).await, 4403, "the project is no longer public");

        // Deleting the project closes the owner's own connection with 4404.
        let (mut alices, _) =
            tokio_tungstenite::connect_async(url(Some(&alice.token))).await.expect("alice connects");
        tokio::task::block_in_place(|| api.delete(&project_path, owner).expect(204));
        assert_eq!(close_code(&mut alices).await, 4404, "the notebook went with its project");
    });
}
