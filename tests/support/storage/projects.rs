//! Storage tests: projects, membership and notebooks.

use sync_server::store::{
    DynStore, NewNotebook, NotebookId, NotebookMode, NotebookRow, Project, ProjectId, Role, Visibility,
};

use super::fixtures::*;

// --- projects and notebooks ---

pub async fn owner_is_a_member_of_a_new_project(store: DynStore) {
    let alice = user(&store, "alice").await;
    let created = project(&store, &alice, "analysis").await;
    assert_eq!(
        (created.owner_id, created.name.as_str(), created.description.as_str(), created.visibility),
        (alice.id, "analysis", "about analysis", Visibility::Internal)
    );
    assert_eq!(store.project(created.id).await.expect("project"), Some(created.clone()));
    assert_eq!(
        store.projects_for(alice.id).await.expect("projects_for"),
        vec![(created.clone(), Role::Owner)]
    );
    assert_eq!(store.member_role(created.id, alice.id).await.expect("role"), Some(Role::Owner));
}

pub async fn projects_for_lists_only_the_users_projects_newest_first(store: DynStore) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let first = project(&store, &alice, "first").await;
    let bobs = project(&store, &bob, "bobs").await;
    let second = project(&store, &alice, "second").await;
    assert_eq!(
        store.projects_for(alice.id).await.expect("alice"),
        vec![(second.clone(), Role::Owner), (first, Role::Owner)]
    );
    assert_eq!(store.projects_for(bob.id).await.expect("bob"), vec![(bobs.clone(), Role::Owner)]);
    let carol = user(&store, "carol").await;
    assert_eq!(store.projects_for(carol.id).await.expect("carol"), vec![]);
    // Collaborations are listed with the role, among the owned ones, newest first.
    store.add_member(second.id, bob.id, Role::Viewer).await.expect("add bob");
    store.add_member(bobs.id, carol.id, Role::Editor).await.expect("add carol");
    assert_eq!(
        store.projects_for(bob.id).await.expect("bob"),
        vec![(second, Role::Viewer), (bobs.clone(), Role::Owner)]
    );
    assert_eq!(store.projects_for(carol.id).await.expect("carol"), vec![(bobs, Role::Editor)]);
}

pub async fn notebook_names_are_unique_within_a_project_only(store: DynStore) {
    let alice = user(&store, "alice").await;
    let one = project(&store, &alice, "one").await;
    let two = project(&store, &alice, "two").await;
    let created = notebook(&store, &one, "main.ipynb").await;
    assert_eq!(
        (created.project_id, created.name.as_str(), created.mode),
        (one.id, "main.ipynb", NotebookMode::Thread)
    );
    assert_eq!((created.kernelspec.as_str(), created.created_by), ("python3", alice.id));
    assert_conflict(store.create_notebook(&new_notebook(&one, "main.ipynb")).await, "main.ipynb");
    let elsewhere = notebook(&store, &two, "main.ipynb").await;
    assert_ne!(elsewhere.id, created.id);
    assert_eq!(store.notebook(created.id).await.expect("notebook"), Some(created));
}

pub async fn notebook_for_unknown_project_is_not_found(store: DynStore) {
    let alice = user(&store, "alice").await;
    let real = project(&store, &alice, "real").await;
    let ghost = Project { id: ProjectId(real.id.0 + 1000), ..real };
    assert_not_found(store.create_notebook(&new_notebook(&ghost, "x.ipynb")).await);
}

pub async fn notebooks_are_listed_by_name(store: DynStore) {
    let alice = user(&store, "alice").await;
    let proj = project(&store, &alice, "p").await;
    let other = project(&store, &alice, "other").await;
    let c = notebook(&store, &proj, "c.ipynb").await;
    let a = notebook(&store, &proj, "a.ipynb").await;
    let b = NewNotebook { mode: NotebookMode::Pair, ..new_notebook(&proj, "b.ipynb") };
    let b = store.create_notebook(&b).await.expect("create pair notebook");
    notebook(&store, &other, "elsewhere.ipynb").await;
    assert_eq!(b.mode, NotebookMode::Pair);
    assert_eq!(store.notebooks_in(proj.id).await.expect("list"), vec![a, b, c]);
}

pub async fn renamed_notebook_keeps_its_id(store: DynStore) {
    let (_, nb) = one_notebook(&store).await;
    let renamed = store.rename_notebook(nb.id, "renamed.ipynb", nb.created_by).await.expect("rename");
    assert_eq!(renamed, NotebookRow { name: "renamed.ipynb".to_owned(), ..nb.clone() });
    assert_eq!(store.notebook(nb.id).await.expect("notebook"), Some(renamed));
}

pub async fn rename_to_a_taken_name_is_a_conflict(store: DynStore) {
    let alice = user(&store, "alice").await;
    let proj = project(&store, &alice, "p").await;
    let first = notebook(&store, &proj, "first.ipynb").await;
    notebook(&store, &proj, "second.ipynb").await;
    assert_conflict(store.rename_notebook(first.id, "second.ipynb", alice.id).await, "second.ipynb");
    assert_eq!(store.notebook(first.id).await.expect("notebook"), Some(first));
}

pub async fn rename_of_a_missing_notebook_is_not_found(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    assert_not_found(store.rename_notebook(NotebookId(nb.id.0 + 1000), "x.ipynb", alice.id).await);
}

pub async fn deleting_a_notebook_deletes_its_log_and_checkpoints(store: DynStore) {
    let alice = user(&store, "alice").await;
    let proj = project(&store, &alice, "p").await;
    let doomed = notebook(&store, &proj, "doomed.ipynb").await;
    let kept = notebook(&store, &proj, "kept.ipynb").await;
    append_many(&store, doomed.id, 5, 5).await;
    append_many(&store, kept.id, 3, 3).await;
    store.write_checkpoint(doomed.id, 4, b"state").await.expect("checkpoint");
    store.delete_notebook(doomed.id, alice.id).await.expect("delete");
    assert_eq!(store.notebook(doomed.id).await.expect("notebook"), None);
    assert_eq!(store.updates_between(doomed.id, 0, None).await.expect("log"), vec![]);
    assert_not_found(store.load_document(doomed.id).await);
    assert_not_found(store.delete_notebook(doomed.id, alice.id).await);
    assert_eq!(store.notebooks_in(proj.id).await.expect("list"), vec![kept.clone()]);
    assert_eq!(seqs_of(&store.updates_between(kept.id, 0, None).await.expect("log")), vec![1, 2, 3]);
    // The name is free again and the new notebook's history starts afresh.
    let reborn = notebook(&store, &proj, "doomed.ipynb").await;
    assert_ne!(reborn.id, doomed.id);
    let reborn_doc = store.load_document(reborn.id).await.expect("load");
    assert_eq!((reborn_doc.checkpoint, reborn_doc.tail), (None, vec![]));
}
