//! A stateful fake of the GCP Compute v1 REST API subset berth uses, held to the official
//! discovery document (`discovery/compute.v1.lb-subset.json`): routes, query parameters and
//! request bodies are checked against it, and every response it sends is checked against the
//! method's response schema. See `localstack/README.md` ("GCP Compute fake").
//!
//! ```no_run
//! # async fn demo() {
//! let fake = gcp_fake::Fake::start().await;
//! let endpoint = fake.url(); // http://127.0.0.1:PORT; clients add /compute/v1/...
//! fake.fail_next("POST", "/global/backendServices", 503, 2);
//! # }
//! ```

pub mod discovery;
mod error;
mod handlers;
mod members;
mod refs;
pub mod schema;
mod server;
mod state;

pub use error::ApiError;
pub use server::ROUTED_HEADER;
pub use state::{OpFault, Request};

use server::Shared;
use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard};
use tokio::sync::oneshot;

/// A running fake. The server stops when this is dropped.
pub struct Fake {
    addr: SocketAddr,
    state: Shared,
    stop: Option<oneshot::Sender<()>>,
}

impl Fake {
    /// Serves on a free port of 127.0.0.1.
    pub async fn start() -> Fake {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind 127.0.0.1:0")
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Fake> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            let _ = serve.await;
        });
        Ok(Fake {
            addr,
            state,
            stop: Some(stop),
        })
    }

    /// `http://127.0.0.1:PORT`, without `/compute/v1`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `n` requests whose method is `method` (any when empty) and whose path contains
    /// `path_contains` fail with `status` (429 `rateLimitExceeded`, 503 `backendError`, or any
    /// other status) before they reach the method.
    pub fn fail_next(&self, method: &str, path_contains: &str, status: u16, n: usize) {
        self.state()
            .add_http_fault(method, path_contains, status, n);
    }

    /// The next operation of `operation_type` (`insert`, `delete`, `patch`, `setUrlMap`, ...)
    /// ends `DONE` with `error.errors[0].code` = `code`; its change is not applied.
    pub fn fail_next_operation(&self, operation_type: &str, code: &str, message: &str) {
        let fault = OpFault::Fail {
            code: code.to_string(),
            message: message.to_string(),
        };
        self.state().add_op_fault(operation_type, fault);
    }

    /// The next operation of `operation_type` stays `RUNNING` forever; its change is not applied.
    pub fn stall_next_operation(&self, operation_type: &str) {
        self.state().add_op_fault(operation_type, OpFault::Stall);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.state().log.clone()
    }

    /// How many requests had this method (any when empty) and a path containing `path_contains`.
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        let st = self.state();
        let hit = |r: &&Request| {
            (method.is_empty() || r.method.eq_ignore_ascii_case(method))
                && r.path.contains(path_contains)
        };
        st.log.iter().filter(hit).count()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Every stored resource as (key, body), the key being its path below `compute/v1/`
    /// (`projects/p/global/healthChecks/hc`), in key order: for asserting what is left.
    pub fn resources(&self) -> Vec<(String, serde_json::Value)> {
        let st = self.state();
        st.resources
            .iter()
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect()
    }

    /// Responses the fake built that broke their schema (each was sent as a 500): a bug in the
    /// fake. Tests assert this is empty.
    pub fn schema_violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
