//! The HTTP application: shared state, routes, and the serve loop with ordered shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::api::{RouteEntry, Routes};
use crate::config::ServeConfig;
use crate::history::History;
use crate::jobs::Jobs;
use crate::kernels::Kernels;
use crate::metrics::METRICS;
use crate::rooms::{CheckpointHook, RoomConfig, Rooms};
use crate::store::DynStore;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: DynStore,
    pub rooms: Arc<Rooms>,
    pub kernels: Arc<Kernels>,
    pub jobs: Arc<Jobs>,
    pub history: Arc<History>,
    pub config: Arc<ServeConfig>,
    /// Open WebSocket connections, so shutdown can wait for their close frames to go out.
    pub connections: TaskTracker,
}

impl AppState {
    pub fn new(store: DynStore, config: ServeConfig) -> Self {
        let history = Arc::new(History::new(store.clone(), config.history_gap()));
        let room_config = RoomConfig {
            grace: config.room_grace(),
            checkpoint_every: config.checkpoint_every.max(1),
            checkpoint_idle: config.checkpoint_idle(),
            skip_update_checks: config.bench_skip_update_checks,
            clock: config.clock(),
            after_checkpoint: Some(CheckpointHook(Arc::new({
                let history = Arc::downgrade(&history);
                move |id| {
                    if let Some(history) = history.upgrade() {
                        history.index_soon(id);
                    }
                }
            }))),
        };
        let rooms = Arc::new(Rooms::new(store.clone(), room_config));
        let kernels = Kernels::new(config.kernels(), store.clone(), rooms.clone());
        let jobs = Jobs::new(config.jobs(), store.clone());
        Self {
            rooms,
            kernels,
            jobs,
            history,
            store,
            config: Arc::new(config),
            connections: TaskTracker::new(),
        }
    }
}

/// All routes. Every route is registered through [`Routes`] (here or in [`crate::api`]),
/// which records it for [`route_table`].
pub fn router(state: AppState) -> Router {
    routes().into_router().nest("/api", crate::api::router()).with_state(state)
}

/// The routes outside `/api`.
fn routes() -> Routes {
    Routes::new("")
        .get("/healthz", healthz)
        .get("/readyz", readyz)
        .get("/metrics", metrics)
        .get("/ws/{notebook_id}", crate::ws::upgrade)
}

/// Every route the router registers (method and full path), in registration order: what
/// the tests hold against the OpenAPI document.
pub fn route_table() -> Vec<RouteEntry> {
    let mut table = routes().entries().to_vec();
    table.extend_from_slice(crate::api::routes().entries());
    table
}

/// How long shutdown waits for WebSocket connections to send their close frames.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves until `shutdown` resolves, then stops accepting, lets every room commit and
/// checkpoint (closing its connections with 1001), and returns.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let rooms = state.rooms.clone();
    let kernels = state.kernels.clone();
    let jobs = state.jobs.clone();
    let connections = state.connections.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = router(state);
    // Small WebSocket frames would otherwise wait for the peer's delayed ACK (SPEC §14).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|stopped| *stopped).await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown.await;
    // Kernels first: the last outputs and states of their runs go into the rooms.
    kernels.shutdown().await;
    jobs.shutdown().await;
    tracing::info!("shutting down: flushing rooms");
    // Rooms first: they close their WebSockets, which lets the HTTP server finish.
    rooms.shutdown().await;
    // Upgraded connections are no longer the HTTP server's: wait for them to send their
    // close frames, or clients would see the connection drop instead of 1001.
    connections.close();
    if tokio::time::timeout(CLOSE_GRACE, connections.wait()).await.is_err() {
        tracing::warn!(open = connections.len(), "connections still closing; going on");
    }
    let _ = stop_tx.send(true);
    match tokio::time::timeout(std::time::Duration::from_secs(10), server).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_) => {
            tracing::warn!("connections still open after 10 s; exiting anyway");
            Ok(())
        }
    }
}

/// Liveness: answers while the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "service", security(()),
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)))]
pub(crate) async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: ready when the database answers.
#[utoipa::path(get, path = "/readyz", tag = "service", security(()),
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = Object),
        (status = 503, description = "`database_unavailable`: the database is not reachable", body = crate::api::views::ErrorBody),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(
                    serde_json::json!({"error": {"code": "database_unavailable", "message": "the database is not reachable"}}),
                ),
            )
        }
    }
}

/// Prometheus metrics: rooms, connections, updates, commit latency.
#[utoipa::path(get, path = "/metrics", tag = "service", security(()),
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], METRICS.render())
}
