//! GCP: Service -> regional passthrough Network Load Balancer (so far); Ingress -> global
//! external Application Load Balancer comes next (issue 8), on the shared engine. Here: the
//! profile (how the operator selects and finalizes this cloud's objects), the facts a
//! translation needs, ownership descriptions, resource names, the kinds and their calls, the
//! L4 translation, observe, the executor and the provider.

mod apply;
pub mod client;
pub mod description;
pub mod facts;
pub mod kinds;
pub mod l4;
pub mod l7;
pub mod metadata;
pub mod names;
mod observe;
mod operation;
pub mod permissions;
pub mod profile;
mod provider;
mod shared;

pub use client::{GcpProvider, Timeouts};

use crate::error::Result;
use crate::frontend::Frontend;
use crate::plan::{Observed, Plan, Resource};
use crate::profile::Settings;

/// A Service's desired resources, with the facts from `settings` and the Service's Nodes.
pub fn desired(fe: &Frontend, settings: &Settings) -> Result<Vec<Resource>> {
    let facts = facts::Facts::resolve(settings, &fe.nodes)?;
    l4::translate::desired(fe, &facts)
}

/// An Ingress group's desired resources (every GCE Ingress is its own group).
pub fn desired_group(
    group: &crate::ingress::IngressGroup,
    settings: &Settings,
) -> crate::ingress::GroupDesired {
    let facts = facts::Facts::resolve(settings, &group.nodes);
    l7::translate::desired_group(group, facts.as_ref())
}

/// Desired vs observed, by the GCP kinds' specs.
pub fn plan(desired: &[Resource], observed: &Observed) -> Result<Plan> {
    crate::engine::diff::diff(desired, observed, &kinds::KINDS)
}
