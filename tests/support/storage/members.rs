//! Storage tests: changing and deleting projects, and their members (SPEC §2).

use sync_server::store::{DynStore, ProjectUpdate, Role, StoreError, UserId, Visibility};

use super::fixtures::*;

pub async fn project_updates_change_only_the_fields_given(store: DynStore) {
    let alice = user(&store, "alice").await;
    let created = project(&store, &alice, "analysis").await;
    let renamed = store
        .update_project(created.id, &ProjectUpdate { name: Some("renamed".into()), ..Default::default() })
        .await
        .expect("rename");
    assert_eq!(renamed.name, "renamed");
    assert_eq!((renamed.description.as_str(), renamed.visibility), ("about analysis", Visibility::Internal));
    let public = store
        .update_project(
            created.id,
            &ProjectUpdate {
                description: Some(String::new()),
                visibility: Some(Visibility::Public),
                ..Default::default()
            },
        )
        .await
        .expect("publish");
    assert_eq!(
        (public.name.as_str(), public.description.as_str(), public.visibility),
        ("renamed", "", Visibility::Public)
    );
    assert_eq!((public.id, public.owner_id, public.created_at), (created.id, alice.id, created.created_at));
    assert_eq!(store.project(created.id).await.expect("read"), Some(public));
    let ghost = sync_server::store::ProjectId(created.id.0 + 1000);
    assert_not_found(store.update_project(ghost, &ProjectUpdate::default()).await);
}

pub async fn deleting_a_project_deletes_its_members_notebooks_and_logs(store: DynStore) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let doomed = project(&store, &alice, "doomed").await;
    let kept = project(&store, &alice, "kept").await;
    store.add_member(doomed.id, bob.id, Role::Editor).await.expect("add bob");
    let nb = notebook(&store, &doomed, "n.ipynb").await;
    let other = notebook(&store, &kept, "n.ipynb").await;
    append_many(&store, nb.id, 3, 3).await;
    store.write_checkpoint(nb.id, 2, b"state").await.expect("checkpoint");
    store.block_notebook(nb.id, bob.id, at(0)).await.expect("block");

    store.delete_project(doomed.id).await.expect("delete");
    assert_eq!(store.project(doomed.id).await.expect("project"), None);
    assert_eq!(store.notebook(nb.id).await.expect("notebook"), None);
    assert_eq!(store.updates_between(nb.id, 0, None).await.expect("log"), vec![]);
    assert_eq!(store.client_bindings(nb.id).await.expect("bindings"), vec![]);
    assert_eq!(store.members(doomed.id).await.expect("members"), vec![]);
    assert_eq!(store.projects_for(bob.id).await.expect("bob's"), vec![]);
    assert_not_found(store.delete_project(doomed.id).await);
    assert_eq!(store.notebook(other.id).await.expect("other"), Some(other), "other projects are untouched");
    assert_eq!(store.projects_for(alice.id).await.expect("alice's"), vec![(kept, Role::Owner)]);
}

pub async fn members_are_listed_owner_first_then_by_name(store: DynStore) {
    let alice = user(&store, "alice").await;
    let zoe = user(&store, "zoe").await;
    let bob = user(&store, "bob").await;
    let proj = project(&store, &zoe, "p").await;
    let added = store.add_member(proj.id, bob.id, Role::Viewer).await.expect("add bob");
    assert_eq!((added.user.clone(), added.role), (bob.clone(), Role::Viewer));
    store.add_member(proj.id, alice.id, Role::Editor).await.expect("add alice");
    let members = store.members(proj.id).await.expect("members");
    let listed: Vec<(String, Role)> = members.iter().map(|m| (m.user.name.clone(), m.role)).collect();
    assert_eq!(
        listed,
        vec![("zoe".into(), Role::Owner), ("alice".into(), Role::Editor), ("bob".into(), Role::Viewer)]
    );
    assert_eq!(members[2], added, "a member reads back as added");
    assert_eq!(store.member_role(proj.id, alice.id).await.expect("role"), Some(Role::Editor));
    let carol = user(&store, "carol").await;
    assert_eq!(store.member_role(proj.id, carol.id).await.expect("role"), None);
}

pub async fn adding_a_member_twice_or_a_second_owner_is_a_conflict(store: DynStore) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let proj = project(&store, &alice, "p").await;
    store.add_member(proj.id, bob.id, Role::Viewer).await.expect("add bob");
    assert!(matches!(store.add_member(proj.id, bob.id, Role::Editor).await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.add_member(proj.id, alice.id, Role::Viewer).await, Err(StoreError::Conflict(_))));
    assert!(
        matches!(store.add_member(proj.id, carol.id, Role::Owner).await, Err(StoreError::Conflict(_))),
        "a project has exactly one owner"
    );
    assert_eq!(store.member_role(proj.id, bob.id).await.expect("role"), Some(Role::Viewer), "unchanged");
    assert_eq!(store.member_role(proj.id, carol.id).await.expect("role"), None);
    assert_not_found(store.add_member(proj.id, UserId(bob.id.0 + 1000), Role::Viewer).await);
    let ghost = sync_server::store::ProjectId(proj.id.0 + 1000);
    assert_not_found(store.add_member(ghost, bob.id, Role::Viewer).await);
}

pub async fn roles_change_and_members_leave_but_the_owner_stays(store: DynStore) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let proj = project(&store, &alice, "p").await;
    store.add_member(proj.id, bob.id, Role::Viewer).await.expect("add bob");
    let promoted = store.set_member_role(proj.id, bob.id, Role::Editor).await.expect("promote");
    assert_eq!((promoted.user.id, promoted.role), (bob.id, Role::Editor));
    assert_eq!(store.member_role(proj.id, bob.id).await.expect("role"), Some(Role::Editor));

    // The owner's membership is never changed or removed, and no second owner is made.
    assert_not_found(store.set_member_role(proj.id, alice.id, Role::Viewer).await);
    assert!(matches!(
        store.set_member_role(proj.id, bob.id, Role::Owner).await,
        Err(StoreError::Conflict(_))
    ));
    assert_not_found(store.remove_member(proj.id, alice.id).await);
    assert_eq!(store.member_role(proj.id, alice.id).await.expect("role"), Some(Role::Owner));
    assert_eq!(store.member_role(proj.id, bob.id).await.expect("role"), Some(Role::Editor));

    assert_not_found(store.set_member_role(proj.id, carol.id, Role::Editor).await);
    assert_not_found(store.remove_member(proj.id, carol.id).await);
    store.remove_member(proj.id, bob.id).await.expect("remove bob");
    assert_eq!(store.member_role(proj.id, bob.id).await.expect("role"), None);
    assert_eq!(store.projects_for(bob.id).await.expect("bob's"), vec![]);
    assert_not_found(store.remove_member(proj.id, bob.id).await);
}
