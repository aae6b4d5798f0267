//! The berth operator: gathers Kubernetes objects into Frontends, drives a cloud provider
//! through translate -> observe -> plan -> apply, and reports back on the objects.

// Provider errors carry the object, annotation, value and what is accepted (see providers'
// lib.rs); they are on the cold path, so their size is fine.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod context;
pub mod controller;
pub mod error;
pub mod gather;
pub mod http;
pub mod leader;
pub mod manifests;
pub mod metrics;
pub mod policy;
pub mod render;
pub mod report;

pub use error::{Error, Result};

/// rustls finds two crypto backends in this dependency tree (ring via kube, aws-lc via the AWS
/// SDK's HTTP client); installing one explicitly keeps it from panicking at the first TLS use.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
