//! Storage tests: migrations, users and tokens.

use sync_server::store::{DynStore, NewToken, NewUser, Timestamp, TokenKind, User, UserId};

use super::fixtures::*;

// --- schema ---

pub async fn migrations_can_run_again(store: DynStore) {
    store.migrate().await.expect("second migration run");
    store.migrate().await.expect("third migration run");
    store.ping().await.expect("ping");
    user(&store, "alice").await;
    assert_eq!(store.count_users().await.expect("count"), 1);
}

// --- users ---

pub async fn users_are_found_by_id_and_by_name(store: DynStore) {
    let alice = user(&store, "alice").await;
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.display_name, "alice (display)");
    assert_eq!(alice.color, "#336699");
    assert!(!alice.is_admin);
    assert_eq!(store.user_by_id(alice.id).await.expect("by id"), Some(alice.clone()));
    assert_eq!(store.user_by_name("alice").await.expect("by name"), Some(alice));
    assert_eq!(store.user_by_name("bob").await.expect("by name"), None);
}

pub async fn duplicate_user_name_is_a_conflict(store: DynStore) {
    user(&store, "alice").await;
    let again = NewUser {
        name: "alice".to_owned(),
        display_name: "Another Alice".to_owned(),
        color: "#000000".to_owned(),
        is_admin: true,
        password_hash: None,
    };
    assert_conflict(store.create_user(&again).await, "alice");
    assert_eq!(store.count_users().await.expect("count"), 1);
}

pub async fn users_are_listed_in_creation_order_and_counted(store: DynStore) {
    let admin = NewUser {
        name: "root".to_owned(),
        display_name: "Root".to_owned(),
        color: "#ff0000".to_owned(),
        is_admin: true,
        password_hash: Some("$argon2id$v=19$...".to_owned()),
    };
    let root = store.create_user(&admin).await.expect("create admin");
    assert!(root.is_admin);
    let bob = user(&store, "bob").await;
    let alice = user(&store, "alice").await;
    assert_eq!(store.list_users().await.expect("list"), vec![root, bob, alice]);
    assert_eq!(store.count_users().await.expect("count"), 3);
}

pub async fn password_hash_can_be_set_and_read(store: DynStore) {
    let alice = user(&store, "alice").await;
    assert_eq!(store.password_hash(alice.id).await.expect("read"), None);
    store.set_password_hash(alice.id, "$argon2id$v=19$new").await.expect("set");
    assert_eq!(store.password_hash(alice.id).await.expect("read"), Some("$argon2id$v=19$new".to_owned()));
    let nobody = UserId(alice.id.0 + 1000);
    assert_not_found(store.set_password_hash(nobody, "x").await);
    assert_not_found(store.password_hash(nobody).await);
}

// --- tokens ---

pub fn new_token(owner: &User, hash: &[u8], expires_at: Option<Timestamp>) -> NewToken {
    NewToken {
        user_id: owner.id,
        kind: TokenKind::Personal,
        name: "ci".to_owned(),
        hash: hash.to_vec(),
        expires_at,
    }
}

pub async fn token_is_found_by_hash_with_its_user(store: DynStore) {
    let alice = user(&store, "alice").await;
    let token = store.create_token(&new_token(&alice, &[1; 32], None)).await.expect("create token");
    assert_eq!(
        (token.user_id, token.kind, token.name.as_str(), token.expires_at),
        (alice.id, TokenKind::Personal, "ci", None)
    );
    let (found, owner) = store.token_by_hash(&[1; 32], at(0)).await.expect("lookup").expect("token exists");
    assert_eq!((found, owner), (token.clone(), alice.clone()));
    assert_eq!(store.token_by_hash(&[2; 32], at(0)).await.expect("lookup"), None);
    assert_eq!(store.list_tokens(alice.id).await.expect("list"), vec![token]);
    assert_conflict(store.create_token(&new_token(&alice, &[1; 32], None)).await, "token");
}

pub async fn expired_token_is_not_returned(store: DynStore) {
    let alice = user(&store, "alice").await;
    let expiry = at(60_000);
    let token = NewToken { kind: TokenKind::Session, ..new_token(&alice, &[3; 32], Some(expiry)) };
    let created = store.create_token(&token).await.expect("create token");
    assert_eq!(created.expires_at, Some(expiry));
    assert!(
        store.token_by_hash(&[3; 32], at(59_999)).await.expect("lookup").is_some(),
        "valid until its expiry"
    );
    assert_eq!(store.token_by_hash(&[3; 32], expiry).await.expect("lookup"), None, "expired at its expiry");
    assert_eq!(store.token_by_hash(&[3; 32], at(3_600_000)).await.expect("lookup"), None);
}

pub async fn deleted_token_is_no_longer_found(store: DynStore) {
    let alice = user(&store, "alice").await;
    store.create_token(&new_token(&alice, &[4; 32], None)).await.expect("create token");
    let kept = store.create_token(&new_token(&alice, &[5; 32], None)).await.expect("create token");
    store.delete_token(&[4; 32]).await.expect("delete");
    assert_eq!(store.token_by_hash(&[4; 32], at(0)).await.expect("lookup"), None);
    assert_eq!(store.list_tokens(alice.id).await.expect("list"), vec![kept]);
    store.delete_token(&[4; 32]).await.expect("deleting twice is not an error");
}
