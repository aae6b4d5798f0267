//! The Ingress controller: `networking.k8s.io/v1` Ingresses of a class berth serves are put into
//! IngressGroups (`alb.ingress.kubernetes.io/group.name`, or one group per Ingress), and every
//! group gets one L7 load balancer, kept converged, and deleted with its last member.
//!
//! The unit of work is the GROUP, not the Ingress: a kube-runtime Controller runs over a
//! synthetic [`IngressGroupRef`] resource whose cache ([`GroupIndex`]) is derived from the
//! Ingress cache. Every trigger is mapped to the group keys it affects, so the runtime dedupes
//! them and never reconciles one group twice at once:
//! - an Ingress change -> the group it asks for and every group whose finalizer it carries (a
//!   member that moved, was deselected or is being deleted is cleaned up by its old group);
//! - a Service or EndpointSlice change -> the groups of the Ingresses in that namespace that
//!   name the Service (in a backend or in an `actions.*` annotation);
//! - a relevant Node change, any IngressClass change or a LoadBalancerPolicy spec change (seen
//!   in the Service controller's policy cache) -> every group;
//! - a periodic resync per group (drift in the cloud).
//!
//! Reconciling a group: gather (members, backends, nodes) -> each member's LoadBalancerPolicy
//! (a member it forbids is rejected; the others get its defaults merged into their annotations)
//! -> `provider.desired_group` (which accepts some members and rejects others with a reason) -> observe (owner: the group) -> plan
//! -> apply -> report. Accepted members get `status.loadBalancer.ingress[0].hostname`; rejected
//! members get a Warning Event, their hostname cleared and a False condition; the others still
//! converge. The Ingress API has no `status.conditions`, so the condition is kept in the
//! annotation [`STATUS_ANNOTATION`] (JSON), which berth alone writes and ignores as a trigger.
//!
//! Finalizers (the aws-load-balancer-controller's, so clusters can migrate):
//! `group.ingress.k8s.aws/<group>` for explicit groups, `ingress.k8s.aws/resources` for implicit
//! ones. An accepted member gets it before any cloud write; any other member loses it only after
//! a successful apply of the group without it (its rules and its unshared target groups are then
//! gone). A group with no accepted member has no load balancer.

mod group;
mod index;
mod reconcile;
mod status;
mod triggers;

pub use group::*;
pub use index::*;
pub use reconcile::*;
pub use status::*;
pub use triggers::*;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::gather::SERVICE_NAME_LABEL;
use crate::report;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use providers::frontend::{FrontendKind, ObjectRef as FeRef};
use providers::ingress::{GroupDesired, IngressGroup};
use providers::Address;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn, Instrument};

pub use crate::gather::ingress::{
    IngressSelection, DEFAULT_CLASS_ANNOTATION, LEGACY_CLASS_ANNOTATION,
};
/// Where berth keeps its condition on an Ingress (the Ingress API has no status.conditions):
/// JSON `{"type","status","reason","message","observedGeneration"}`.
pub const STATUS_ANNOTATION: &str = "berth.dev/status";

/// What the Ingress controller shares with the Service controller (client, provider, Event
/// recorder, metrics, cluster, resync, back-off) plus its own caches.
pub struct IngressContext {
    pub base: Arc<Context>,
    pub selection: IngressSelection,
    pub ingresses: Store<Ingress>,
    pub classes: Store<IngressClass>,
    pub services: Store<Service>,
    pub nodes: Store<Node>,
    /// `None` when the API server does not serve `discovery.k8s.io/v1`.
    pub slices: Option<Store<EndpointSlice>>,
    /// Pods with only what berth reads (labels, ports, readiness probes), when the cloud reads
    /// them (GCP's health checks follow readiness probes).
    pub pods: Option<Store<Pod>>,
}

impl IngressContext {
    /// The caches the policies' status task counts governed Ingresses from.
    pub fn policy_caches(&self) -> crate::policy::status::IngressCaches {
        crate::policy::status::IngressCaches {
            ingresses: self.ingresses.clone(),
            classes: self.classes.clone(),
            selection: self.selection.clone(),
        }
    }

    fn class_list(&self) -> Vec<IngressClass> {
        self.classes.state().iter().map(|c| (**c).clone()).collect()
    }

    fn failure_key(group: &GroupKey) -> String {
        format!("IngressGroup {group}")
    }
}

#[cfg(all(test, feature = "aws"))]
mod tests;
