//! Users and tokens on PostgreSQL.

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use crate::store::sql_common::{constraint_error, parse_column};
use crate::store::{NewToken, NewUser, StoreError, StoreResult, Timestamp, Token, TokenKind, User, UserId};

pub(super) async fn create_user(pool: &PgPool, user: &NewUser) -> StoreResult<User> {
    let row = sqlx::query(
        "INSERT INTO users (name, display_name, color, is_admin, password_hash) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, name, display_name, color, is_admin, created_at",
    )
    .bind(&user.name)
    .bind(&user.display_name)
    .bind(&user.color)
    .bind(user.is_admin)
    .bind(&user.password_hash)
    .fetch_one(pool)
    .await
    .map_err(|e| constraint_error(e, || format!("user `{}`", user.name), || "user".to_owned()))?;
    Ok(user_from_row(&row, "")?)
}

pub(super) async fn user_by_id(pool: &PgPool, id: UserId) -> StoreResult<Option<User>> {
    let row =
        sqlx::query("SELECT id, name, display_name, color, is_admin, created_at FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|r| user_from_row(&r, "")).transpose()?)
}

pub(super) async fn user_by_name(pool: &PgPool, name: &str) -> StoreResult<Option<User>> {
    let row =
        sqlx::query("SELECT id, name, display_name, color, is_admin, created_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|r| user_from_row(&r, "")).transpose()?)
}

pub(super) async fn list_users(pool: &PgPool) -> StoreResult<Vec<User>> {
    let rows =
        sqlx::query("SELECT id, name, display_name, color, is_admin, created_at FROM users ORDER BY id")
            .fetch_all(pool)
            .await?;
    Ok(rows.iter().map(|r| user_from_row(r, "")).collect::<Result<_, _>>()?)
}

pub(super) async fn count_users(pool: &PgPool) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(pool).await?)
}

/// `NotFound` for an unknown user, so a typo is not mistaken for "has no password".
pub(super) async fn password_hash(pool: &PgPool, id: UserId) -> StoreResult<Option<String>> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))
}

pub(super) async fn set_password_hash(pool: &PgPool, id: UserId, hash: &str) -> StoreResult<()> {
    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id.0)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("user {id}")));
    }
    Ok(())
}

pub(super) async fn create_token(pool: &PgPool, token: &NewToken) -> StoreResult<Token> {
    let row = sqlx::query(
        "INSERT INTO tokens (hash, user_id, kind, name, expires_at) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, user_id, kind, name, created_at, expires_at",
    )
    .bind(&token.hash)
    .bind(token.user_id.0)
    .bind(token.kind.as_str())
    .bind(&token.name)
    .bind(token.expires_at)
    .fetch_one(pool)
    .await
    .map_err(|e| {
        constraint_error(e, || "token with this hash".to_owned(), || format!("user {}", token.user_id))
    })?;
    Ok(token_from_row(&row)?)
}

/// A token expires at `expires_at` itself: `now == expires_at` is already too late.
pub(super) async fn token_by_hash(
    pool: &PgPool,
    hash: &[u8],
    now: Timestamp,
) -> StoreResult<Option<(Token, User)>> {
    let row = sqlx::query(
        "SELECT t.id, t.user_id, t.kind, t.name, t.created_at, t.expires_at,
                u.id AS u_id, u.name AS u_name, u.display_name AS u_display_name, u.color AS u_color,
                u.is_admin AS u_is_admin, u.created_at AS u_created_at
         FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((token_from_row(&row)?, user_from_row(&row, "u_")?)))
}

/// Deleting a token that is already gone succeeds: signing out twice is not an error.
pub(super) async fn delete_token(pool: &PgPool, hash: &[u8]) -> StoreResult<()> {
    sqlx::query("DELETE FROM tokens WHERE hash = $1").bind(hash).execute(pool).await?;
    Ok(())
}

/// Newest first.
pub(super) async fn list_tokens(pool: &PgPool, user: UserId) -> StoreResult<Vec<Token>> {
    let rows = sqlx::query(
        "SELECT id, user_id, kind, name, created_at, expires_at FROM tokens
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
}

/// Reads a user from columns named `{prefix}id`, `{prefix}name`, … (a prefix keeps them
/// apart from another table's columns in a join).
pub(super) fn user_from_row(row: &PgRow, prefix: &str) -> Result<User, sqlx::Error> {
    let col = |name: &str| format!("{prefix}{name}");
    Ok(User {
        id: UserId(row.try_get(col("id").as_str())?),
        name: row.try_get(col("name").as_str())?,
        display_name: row.try_get(col("display_name").as_str())?,
        color: row.try_get(col("color").as_str())?,
        is_admin: row.try_get(col("is_admin").as_str())?,
        created_at: row.try_get(col("created_at").as_str())?,
    })
}

fn token_from_row(row: &PgRow) -> Result<Token, sqlx::Error> {
    Ok(Token {
        id: row.try_get("id")?,
        user_id: UserId(row.try_get("user_id")?),
        kind: parse_column("kind", row.try_get("kind")?, TokenKind::parse)?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}
