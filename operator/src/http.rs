//! The operator's HTTP endpoints: `/healthz`, `/readyz` and `/metrics`.

use crate::metrics::Metrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Where the process is in its life. `/readyz` is 200 in [`Phase::Standby`] and [`Phase::Leader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Started, no answer from leader election yet.
    Starting = 0,
    /// Another replica holds the leader Lease; this one waits to take over.
    Standby = 1,
    /// Leader, caches not yet synced.
    Syncing = 2,
    /// Leader with synced caches: reconciling.
    Leader = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Standby,
            2 => Phase::Syncing,
            3 => Phase::Leader,
            _ => Phase::Starting,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Standby => "standby",
            Phase::Syncing => "syncing",
            Phase::Leader => "leader",
        }
    }
}

#[derive(Clone)]
pub struct Health {
    pub metrics: Metrics,
    phase: Arc<AtomicU8>,
}

impl Health {
    pub fn new(metrics: Metrics) -> Self {
        Health {
            metrics,
            phase: Arc::new(AtomicU8::new(Phase::Starting as u8)),
        }
    }

    pub fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::SeqCst))
    }
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    let phase = h.phase();
    let code = match phase {
        Phase::Standby | Phase::Leader => StatusCode::OK,
        Phase::Starting | Phase::Syncing => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, format!("{}\n", phase.as_str()))
}

async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        h.metrics.encode(),
    )
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until the process ends.
pub async fn serve(listener: TcpListener, health: Health) -> std::io::Result<()> {
    axum::serve(listener, router(health)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn endpoints_follow_the_phase() {
        let health = Health::new(Metrics::new());
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, health.clone()));
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        let r = get(addr, "/readyz").await;
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("starting"),
            "{r}"
        );
        health.set(Phase::Standby);
        let r = get(addr, "/readyz").await;
        assert!(
            r.starts_with("HTTP/1.1 200") && r.contains("standby"),
            "{r}"
        );
        health.set(Phase::Syncing);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        health.set(Phase::Leader);
        health.metrics.set_leader(true);
        assert!(get(addr, "/readyz").await.contains("leader"));
        let m = get(addr, "/metrics").await;
        assert!(m.contains("berth_leader 1"), "{m}");
    }
}
