//! Storage tests: notebook modes and manual blocks (SPEC §2, §9).

use sync_server::store::{DynStore, NotebookBlock, NotebookMode, NotebookRow, StoreError};

use super::fixtures::*;

pub async fn mode_changes_are_stored(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    assert_eq!((nb.mode, nb.block.clone()), (NotebookMode::Thread, None));
    let pair = store.set_notebook_mode(nb.id, NotebookMode::Pair, alice.id).await.expect("pair");
    assert_eq!(pair.mode, NotebookMode::Pair);
    assert_eq!(store.notebook(nb.id).await.expect("read"), Some(pair.clone()));
    assert_eq!(store.notebooks_in(nb.project_id).await.expect("list"), vec![pair]);
    let ghost = sync_server::store::NotebookId(nb.id.0 + 1000);
    assert_not_found(store.set_notebook_mode(ghost, NotebookMode::Pair, alice.id).await);
}

pub async fn a_block_is_held_by_one_user_and_keeps_its_time(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let bob = user(&store, "bob").await;
    let blocked = store.block_notebook(nb.id, alice.id, at(1_000)).await.expect("block");
    let held = NotebookBlock { holder: alice.id, since: at(1_000) };
    assert_eq!(blocked.block, Some(held.clone()));
    assert_eq!(store.notebook(nb.id).await.expect("read").and_then(|n| n.block), Some(held.clone()));

    // Blocking again as the holder changes nothing; another user does not get it.
    let again = store.block_notebook(nb.id, alice.id, at(5_000)).await.expect("again");
    assert_eq!(again.block, Some(held.clone()), "the original time stays");
    let refused = store.block_notebook(nb.id, bob.id, at(6_000)).await.expect("bob tries");
    assert_eq!(refused.block, Some(held.clone()), "bob sees alice's block");

    // Only the holder's block is lifted by an unblock naming them.
    let still = store.unblock_notebook(nb.id, bob.id).await.expect("bob unblocks nothing");
    assert_eq!(still.block, Some(held));
    let free = store.unblock_notebook(nb.id, alice.id).await.expect("unblock");
    assert_eq!(free.block, None);
    assert_eq!(store.notebook(nb.id).await.expect("read").and_then(|n| n.block), None);
    let bobs = store.block_notebook(nb.id, bob.id, at(7_000)).await.expect("bob blocks");
    assert_eq!(bobs.block, Some(NotebookBlock { holder: bob.id, since: at(7_000) }));

    let ghost = sync_server::store::NotebookId(nb.id.0 + 1000);
    assert_not_found(store.block_notebook(ghost, bob.id, at(0)).await);
    assert_not_found(store.unblock_notebook(ghost, bob.id).await);
}

pub async fn of_concurrent_block_requests_exactly_one_wins(store: DynStore) {
    const USERS: usize = 8;
    let (_, nb) = one_notebook(&store).await;
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(user(&store, &format!("u{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let store = store.clone();
        let id = u.id;
        tasks.push(tokio::spawn(async move {
            let after = store.block_notebook(nb.id, id, at(i as i64)).await.expect("block");
            after.block.expect("blocked by someone").holder == id
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.expect("task"));
    }
    assert_eq!(winners, 1, "exactly one of {USERS} concurrent requests holds the block");
}

pub async fn writes_to_a_notebook_blocked_by_someone_else_are_refused(store: DynStore) {
    let (alice, nb) = one_notebook(&store).await;
    let bob = user(&store, "bob").await;
    let held = NotebookBlock { holder: alice.id, since: at(0) };
    store.block_notebook(nb.id, alice.id, at(0)).await.expect("block");
    let blocked = |result: Result<_, StoreError>| match result {
        Err(StoreError::Blocked(block)) => assert_eq!(block, held),
        other => panic!("expected Blocked, got {other:?}"),
    };
    blocked(store.rename_notebook(nb.id, "bobs.ipynb", bob.id).await.map(|_| ()));
    blocked(store.set_notebook_mode(nb.id, NotebookMode::Pair, bob.id).await.map(|_| ()));
    blocked(store.delete_notebook(nb.id, bob.id).await);
    let unchanged = NotebookRow { block: Some(held.clone()), ..nb.clone() };
    assert_eq!(store.notebook(nb.id).await.expect("read"), Some(unchanged));

    // The holder may.
    let renamed = store.rename_notebook(nb.id, "alices.ipynb", alice.id).await.expect("holder renames");
    assert_eq!((renamed.name.as_str(), renamed.block), ("alices.ipynb", Some(held)));
    store.set_notebook_mode(nb.id, NotebookMode::Pair, alice.id).await.expect("holder changes the mode");
    store.delete_notebook(nb.id, alice.id).await.expect("holder deletes");
    assert_eq!(store.notebook(nb.id).await.expect("read"), None);
}
