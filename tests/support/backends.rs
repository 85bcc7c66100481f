//! Fresh, empty, migrated stores for the storage tests: one SQLite file in a temporary
//! folder, or one throwaway database on the test PostgreSQL cluster that `scripts/test`
//! starts (its admin URL in `TALKBOOK_TEST_POSTGRES_URL`). Every test gets its own, so
//! tests run in parallel without seeing each other's rows.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use sync_server::store::{self, DynStore};

/// The variable `scripts/test` sets to the test cluster's admin URL.
const POSTGRES_URL_VAR: &str = "TALKBOOK_TEST_POSTGRES_URL";

/// Runs `body` on a new SQLite store, created through a `sqlite://` URL whose folder does
/// not exist yet.
pub async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(DynStore) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("data/talkbook.db").display());
    let store = store::open(&url).await.expect("open SQLite store");
    store.migrate().await.expect("migrate SQLite store");
    run(body(store)).await;
}

/// Runs `body` on a new database of the test PostgreSQL cluster and drops the database
/// afterwards, whether the body passed or panicked.
///
/// Fails (never skips) without the cluster: a skipped backend would look like a pass.
pub async fn on_postgres<F, Fut>(body: F)
where
    F: FnOnce(DynStore) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin = admin_url();
    let name = database_name();
    admin_sql(&admin, &format!("CREATE DATABASE {name}")).await;
    let store = store::open(&database_url(&admin, &name)).await.expect("open PostgreSQL store");
    store.migrate().await.expect("migrate PostgreSQL store");
    let outcome = tokio::spawn(body(store)).await;
    // FORCE: connections of the dropped store's pool may still be closing.
    admin_sql(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// The test cluster's admin URL. Fails (never skips) without it: a skipped backend would
/// look like a pass.
pub fn admin_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set, so there is no PostgreSQL to test against: \
             run the tests through scripts/test, which starts a throwaway cluster \
             (e.g. scripts/test -p sync-server --test storage)"
        )
    })
}

/// Runs the test body as its own task (so that it may spawn tasks of its own on the
/// multi-threaded runtime) and re-raises its panic here.
async fn run(body: impl Future<Output = ()> + Send + 'static) {
    if let Err(err) = tokio::spawn(body).await {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// A database name no other test, and no concurrent test run, uses.
pub fn database_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!("talkbook_test_{}_{}_{}", std::process::id(), nanos, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The admin URL with its database replaced by `name`.
pub fn database_url(admin: &str, name: &str) -> String {
    let (without_query, query) = admin.split_once('?').map_or((admin, None), |(a, q)| (a, Some(q)));
    let (server, _) = without_query.rsplit_once('/').expect("a postgres:// URL with a database");
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// Runs one statement on the cluster's admin database.
pub async fn admin_sql(admin: &str, sql: &str) {
    let mut conn = PgConnection::connect(admin).await.unwrap_or_else(|e| {
        panic!("cannot reach the test PostgreSQL at {admin} ({e}): is scripts/test's cluster running?")
    });
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
}
