//! berth's cloud side: the cloud-neutral [`frontend::Frontend`] (what Kubernetes wants) and
//! [`plan::Plan`] (what will change), the [`provider::Provider`] trait, and one module tree per
//! cloud. Nothing here knows about kube-runtime; the operator hands in Frontends.

// Errors carry the object, the annotation, the value and what is accepted, so that the message
// on the Service says exactly what to fix; they are on the cold path, so their size is fine.
#![allow(clippy::result_large_err)]

pub mod cidr;
pub mod engine;
pub mod error;
pub mod frontend;
pub mod ingress;
#[cfg(any(feature = "aws", feature = "gcp"))]
pub mod limit;
pub mod metrics;
pub mod naming;
pub mod plan;
pub mod profile;
pub mod provider;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "azure")]
pub mod azure;
#[cfg(feature = "gcp")]
pub mod gcp;

pub use error::{Error, Result};
pub use frontend::{Frontend, ObjectRef};
pub use plan::{Action, Change, Observed, ObservedResource, Plan, Resource};
pub use provider::{Address, ApplyOutcome, Provider};
