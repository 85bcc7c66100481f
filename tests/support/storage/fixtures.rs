//! Rows the storage tests start from, and assertions they share.

use chrono::{Duration, TimeZone, Utc};
use sync_server::store::{
    DynStore, LoggedUpdate, NewNotebook, NewProject, NewUpdate, NewUser, NotebookId, NotebookMode,
    NotebookRow, Project, Seq, StoreError, Timestamp, User, Visibility,
};

/// A fixed instant plus `ms` milliseconds: tests never read the clock for values they
/// compare.
pub fn at(ms: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).single().expect("valid date") + Duration::milliseconds(ms)
}

pub async fn user(store: &DynStore, name: &str) -> User {
    let new = NewUser {
        name: name.to_owned(),
        display_name: format!("{name} (display)"),
        color: "#336699".to_owned(),
        is_admin: false,
        password_hash: None,
    };
    store.create_user(&new).await.expect("create user")
}

pub async fn project(store: &DynStore, owner: &User, name: &str) -> Project {
    let new = NewProject {
        owner_id: owner.id,
        name: name.to_owned(),
        description: format!("about {name}"),
        visibility: Visibility::Internal,
    };
    store.create_project(&new).await.expect("create project")
}

pub fn new_notebook(project: &Project, name: &str) -> NewNotebook {
    NewNotebook {
        project_id: project.id,
        name: name.to_owned(),
        mode: NotebookMode::Thread,
        kernelspec: "python3".to_owned(),
        created_by: project.owner_id,
    }
}

pub async fn notebook(store: &DynStore, project: &Project, name: &str) -> NotebookRow {
    store.create_notebook(&new_notebook(project, name)).await.expect("create notebook")
}

/// A user, a project and one notebook: what most log tests start from.
pub async fn one_notebook(store: &DynStore) -> (User, NotebookRow) {
    let alice = user(store, "alice").await;
    let project = project(store, &alice, "analysis").await;
    let nb = notebook(store, &project, "main.ipynb").await;
    (alice, nb)
}

/// An update whose bytes say which it is, so tests can match rows to what they sent.
pub fn update(notebook: NotebookId, label: &str) -> NewUpdate {
    NewUpdate {
        notebook_id: notebook,
        user_id: None,
        client_ids: vec![7],
        actor_id: None,
        at: at(0),
        data: label.as_bytes().to_vec(),
    }
}

/// Appends `n` updates labelled `u1`, `u2`, … in batches of `batch`.
pub async fn append_many(store: &DynStore, nb: NotebookId, n: usize, batch: usize) {
    let all: Vec<NewUpdate> = (1..=n).map(|i| update(nb, &format!("u{i}"))).collect();
    for chunk in all.chunks(batch) {
        store.append_updates(chunk).await.expect("append");
    }
}

pub fn seqs_of(updates: &[LoggedUpdate]) -> Vec<Seq> {
    updates.iter().map(|u| u.seq).collect()
}

pub fn labels_of(updates: &[LoggedUpdate]) -> Vec<String> {
    updates.iter().map(|u| String::from_utf8_lossy(&u.data).into_owned()).collect()
}

pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, mentions: &str) {
    match result {
        Err(StoreError::Conflict(what)) => {
            assert!(what.contains(mentions), "conflict `{what}` should mention `{mentions}`")
        }
        other => panic!("expected a conflict about {mentions}, got {other:?}"),
    }
}

pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound(_))), "expected NotFound, got {result:?}");
}
