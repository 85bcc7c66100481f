//! What unit tests that need a real store start from: a migrated SQLite database in a
//! temporary directory, with one user and one project.

use super::{
    DynStore, NewNotebook, NewProject, NewUser, NotebookId, NotebookMode, Project, User, Visibility,
};

/// A store with a user and a project; keep the directory alive as long as the store.
pub(crate) async fn store_with_project() -> (tempfile::TempDir, DynStore, User, Project) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = super::open(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("open");
    store.migrate().await.expect("migrate");
    let user = store
        .create_user(&NewUser {
            name: "a".into(),
            display_name: "A".into(),
            color: "#000000".into(),
            is_admin: false,
            password_hash: None,
        })
        .await
        .expect("user");
    let project = store
        .create_project(&NewProject {
            owner_id: user.id,
            name: "p".into(),
            description: String::new(),
            visibility: Visibility::Private,
        })
        .await
        .expect("project");
    (dir, store, user, project)
}

/// A new thread-mode notebook in `project`.
pub(crate) async fn notebook(store: &DynStore, project: &Project, name: &str) -> NotebookId {
    store
        .create_notebook(&NewNotebook {
            project_id: project.id,
            name: name.into(),
            mode: NotebookMode::Thread,
            kernelspec: "python3".into(),
            created_by: project.owner_id,
        })
        .await
        .expect("notebook")
        .id
}
