//! Who is asking: passwords (argon2), tokens (random secrets stored as SHA-256 hashes) and
//! the extractor that finds a caller's token in a header, a query parameter or a cookie.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::{DynStore, StoreResult, Token, User};

/// Name of the cookie that carries a browser's session token.
pub const SESSION_COOKIE: &str = "talkbook_session";

/// Prefix of every token, so a leaked one is easy to recognise and search for.
const TOKEN_PREFIX: &str = "tb_";

/// A new random token secret (shown once) and the hash that is stored.
pub fn new_token_secret() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_token(&secret);
    (secret, hash)
}

/// The stored form of a token secret.
pub fn hash_token(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches a stored argon2 hash (a malformed hash never matches).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
        .unwrap_or(false)
}

/// Resolves a token secret to its user, if the token exists and has not expired.
pub async fn user_for_token(store: &DynStore, secret: &str) -> StoreResult<Option<(Token, User)>> {
    store.token_by_hash(&hash_token(secret), chrono::Utc::now()).await
}

/// Finds the token a request carries: `Authorization: Bearer`, then `?token=`, then the
/// session cookie.
pub fn token_from_parts(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))
    {
        return Some(token.trim().to_owned());
    }
    if let Some(query) = parts.uri.query() {
        for pair in query.split('&') {
            if let Some(value) = pair.strip_prefix("token=") {
                return Some(percent_decode(value));
            }
        }
    }
    for header in parts.headers.get_all(COOKIE) {
        let Ok(cookies) = header.to_str() else { continue };
        for cookie in cookies.split(';') {
            if let Some(value) = cookie.trim().strip_prefix(SESSION_COOKIE).and_then(|v| v.strip_prefix('='))
            {
                return Some(value.to_owned());
            }
        }
    }
    None
}

/// Decodes `%XX` escapes; tokens are URL-safe, so this only matters for odd clients.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = value.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A signed-in caller. Extracting it answers 401 when the request has no valid token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub token: Token,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let secret = token_from_parts(parts).ok_or(ApiError::Unauthenticated)?;
        match user_for_token(&state.store, &secret).await? {
            Some((token, user)) => Ok(AuthUser { user, token }),
            None => Err(ApiError::Unauthenticated),
        }
    }
}

/// A caller who may or may not be signed in (public projects are readable anonymously).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match token_from_parts(parts) {
            None => Ok(MaybeUser(None)),
            Some(_) => AuthUser::from_request_parts(parts, state).await.map(|u| MaybeUser(Some(u))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn token_secrets_are_unique_and_hash_deterministically() {
        let (a, ha) = new_token_secret();
        let (b, _) = new_token_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(hash_token(&a), ha);
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("end%"), "end%");
    }
}
