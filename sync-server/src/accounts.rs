//! Accounts: creating users, setting passwords, checking a sign-in, and issuing session
//! and personal tokens. Shared by the HTTP API and the `talkbook user`/`token` commands so
//! both apply the same rules.
//!
//! Password hashing (argon2) is deliberately slow, so it runs on tokio's blocking pool
//! rather than on a worker thread that serves other requests.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use rand::RngCore;

use crate::auth;
use crate::error::ApiError;
use crate::names::{self, NameError};
use crate::store::{DynStore, NewToken, NewUser, StoreError, Token, TokenKind, User, UserId};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes; bounds the work one sign-in can cause.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest lifetime a personal token may be given, in days.
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// Colours given to users, chosen to stay readable on light and dark backgrounds.
const PALETTE: [&str; 12] = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42a5a5", "#f032e6", "#808000", "#9a6324",
    "#800000", "#000075", "#d4a017",
];

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{0}")]
    Password(String),
    #[error("{0}")]
    Expiry(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::Name(e) => ApiError::Invalid { code: "invalid_name", message: e.0 },
            AccountError::Password(message) => ApiError::Invalid { code: "invalid_password", message },
            AccountError::Expiry(message) => ApiError::Invalid { code: "invalid_expiry", message },
            AccountError::Store(e) => e.into(),
            AccountError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    /// Defaults to the user name.
    pub display_name: Option<String>,
    pub password: String,
    pub is_admin: bool,
}

/// The colour of a user: a hash of the name picks one from a fixed palette, so the same
/// name always gets the same colour on every instance. FNV-1a rather than std's hasher,
/// whose output is not promised to stay the same across Rust versions.
pub fn color_for(name: &str) -> &'static str {
    let hash = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

/// A random password for accounts created without one: 20 URL-safe characters (120 bits).
pub fn generate_password() -> String {
    let mut bytes = [0u8; 15];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Refuses passwords that are too short to be worth having or long enough to be abuse.
pub fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::Password(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::Password(format!(
            "the password must not be longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Creates a user after checking the name, display name and password (409 when the name
/// is taken).
pub async fn create_user(store: &DynStore, account: NewAccount) -> Result<User, AccountError> {
    let name = names::user_name(&account.name)?;
    let display_name = match &account.display_name {
        Some(d) => names::name("display name", d)?,
        None => name.clone(),
    };
    check_password(&account.password)?;
    let password_hash = hash(account.password).await?;
    let user = store
        .create_user(&NewUser {
            color: color_for(&name).to_owned(),
            name,
            display_name,
            is_admin: account.is_admin,
            password_hash: Some(password_hash),
        })
        .await?;
    Ok(user)
}

/// Replaces a user's password.
pub async fn set_password(store: &DynStore, user: UserId, password: &str) -> Result<(), AccountError> {
    check_password(password)?;
    let hash = hash(password.to_owned()).await?;
    store.set_password_hash(user, &hash).await?;
    Ok(())
}

/// The user whose name and password these are, or `None`. An unknown name costs the same
/// hashing work as a wrong password, so timing does not tell which one was wrong.
pub async fn check_sign_in(
    store: &DynStore,
    name: &str,
    password: &str,
) -> Result<Option<User>, AccountError> {
    let user = store.user_by_name(name).await?;
    let stored = match &user {
        Some(user) => store.password_hash(user.id).await?,
        None => None,
    };
    let password = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || match stored {
        Some(stored) => auth::verify_password(&password, &stored),
        None => {
            let _ = auth::verify_password(&password, dummy_hash());
            false
        }
    })
    .await
    .map_err(|e| AccountError::Internal(e.into()))?;
    Ok(if matches { user } else { None })
}

/// Starts a session for a user who signed in: a token that expires after `lifetime`.
pub async fn create_session(
    store: &DynStore,
    user: UserId,
    lifetime: chrono::Duration,
) -> Result<(String, Token), AccountError> {
    issue(store, user, TokenKind::Session, "session".to_owned(), Some(lifetime)).await
}

/// Creates a personal token for scripts, named by its owner, optionally expiring after
/// `expires_in_days`. Returns the secret (shown once, never stored) and the token.
pub async fn create_personal_token(
    store: &DynStore,
    user: UserId,
    name: &str,
    expires_in_days: Option<u32>,
) -> Result<(String, Token), AccountError> {
    let name = names::name("token name", name)?;
    let lifetime = match expires_in_days {
        None => None,
        Some(days) if (1..=MAX_TOKEN_DAYS).contains(&days) => Some(chrono::Duration::days(i64::from(days))),
        Some(days) => {
            return Err(AccountError::Expiry(format!(
                "a token may expire after 1 to {MAX_TOKEN_DAYS} days, not {days}; leave it out for a token that does not expire"
            )));
        }
    };
    issue(store, user, TokenKind::Personal, name, lifetime).await
}

async fn issue(
    store: &DynStore,
    user: UserId,
    kind: TokenKind,
    name: String,
    lifetime: Option<chrono::Duration>,
) -> Result<(String, Token), AccountError> {
    let (secret, hash) = auth::new_token_secret();
    let expires_at = lifetime.map(|l| Utc::now() + l);
    let token = store.create_token(&NewToken { user_id: user, kind, name, hash, expires_at }).await?;
    Ok((secret, token))
}

async fn hash(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AccountError::Internal(e.into()))?
        .map_err(AccountError::Internal)
}

/// A valid hash of a password nobody knows, for the unknown-user path of a sign-in.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| auth::hash_password(&generate_password()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stable_and_from_the_palette() {
        assert_eq!(color_for("alice"), color_for("alice"));
        assert!(PALETTE.contains(&color_for("bob")));
        let distinct: std::collections::HashSet<_> =
            ["alice", "bob", "carol", "dave", "erin", "frank"].iter().map(|n| color_for(n)).collect();
        assert!(distinct.len() > 1, "every name got the same colour");
    }

    #[test]
    fn generated_passwords_are_long_and_different() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(check_password(&a).is_ok());
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }
}
