//! The operator's HTTP endpoint: `/metrics` (Prometheus), `/healthz` (the process answers),
//! `/readyz` (parameters loaded and peers found; 503 with what is missing otherwise), and the
//! dashboard (`/`, polling `/dashboard.json`; see [`crate::dashboard`]).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::metrics::NodeMetrics;

/// What the endpoint's handlers share.
#[derive(Clone)]
struct Endpoint {
    metrics: Arc<NodeMetrics>,
    /// The dashboard's JSON (or why it could not be read), read at most once a refresh.
    dashboard: Arc<crate::dashboard::Cached<Result<String, String>>>,
}

async fn get_metrics(State(e): State<Endpoint>) -> impl IntoResponse {
    let body = e.metrics.encode();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

async fn dashboard_page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::dashboard::PAGE,
    )
}

async fn dashboard_json(State(e): State<Endpoint>) -> axum::response::Response {
    let m = e.metrics.clone();
    let body = e
        .dashboard
        .get(|| async move {
            let snapshot = tokio::task::spawn_blocking(move || {
                crate::dashboard::snapshot(&m, crate::clock::now_ms())
            })
            .await;
            match snapshot {
                Ok(Ok(s)) => serde_json::to_string(&s).map_err(|e| e.to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
    match &*body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.clone()).into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(e): State<Endpoint>) -> (StatusCode, String) {
    match e.metrics.readiness.missing() {
        None => (StatusCode::OK, "ready\n".into()),
        Some(missing) => (StatusCode::SERVICE_UNAVAILABLE, format!("{missing}\n")),
    }
}

/// Binds `addr` (port 0 picks one) and serves the endpoint until the task is aborted.
/// Returns the bound address and the server task.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<NodeMetrics>,
) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "binding the metrics endpoint on {addr} (is another node on this host using it? \
                 give each node its own --metrics)"
        )
    })?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/", get(dashboard_page))
        .route("/dashboard.json", get(dashboard_json))
        .route("/metrics", get(get_metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Endpoint {
            metrics,
            dashboard: Arc::new(crate::dashboard::Cached::new(crate::dashboard::REFRESH)),
        });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "metrics endpoint stopped");
        }
    });
    info!(%local, "metrics endpoint listening");
    Ok((local, task))
}
