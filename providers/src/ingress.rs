//! The cloud-neutral picture of an Ingress group: several Ingresses (possibly across namespaces)
//! served by one L7 load balancer (an AWS ALB, a GCP URL map, an Azure Application Gateway).
//! The operator gathers it (backends resolved to Service ports, endpoints and nodes); a provider
//! translates it. Nothing cloud-specific here: annotations pass through untouched.

use crate::frontend::{Node, ObjectRef, ServicePort};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `pathType` of an Ingress path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PathType {
    Exact,
    Prefix,
    ImplementationSpecific,
}

/// A backend Service port as the Ingress names it (`port.number` or `port.name`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BackendPort {
    Number(u16),
    Name(String),
}

/// What the operator found for a backend: the Service's port (with NodePort, targetPort and
/// ready endpoints), the Service's annotations (per-service settings, e.g. health checks), and
/// the serving pods' HTTP readiness probe on the target port, if the cloud reads pods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedBackend {
    pub service_annotations: BTreeMap<String, String>,
    pub port: ServicePort,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<HttpProbe>,
    /// Why no probe was taken although a serving container has a readiness probe (not
    /// `httpGet`, or on another port): told to the user as an Event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_note: Option<String>,
}

/// A pod's `readinessProbe.httpGet` on the container port a Service targets (ingress-gce's
/// choice: the oldest matching pod's first container with such a probe).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpProbe {
    /// With a leading `/`.
    pub path: String,
    /// `httpGet.host`, or a `Host` header.
    pub host: Option<String>,
    /// `HTTP` or `HTTPS`.
    pub scheme: String,
    pub period_seconds: u32,
    pub timeout_seconds: u32,
}

/// An Ingress backend: a Service port in the Ingress's namespace. `resolved` is `Err` with a
/// message when the Service or port does not exist (the member is then left out of its group
/// and told so), except for backends a provider handles itself (e.g. ALB's `use-annotation`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub service: String,
    pub port: BackendPort,
    pub resolved: Result<ResolvedBackend, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpPath {
    pub path: String,
    pub path_type: PathType,
    pub backend: Backend,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `None`: every host.
    pub host: Option<String>,
    pub paths: Vec<HttpPath>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tls {
    pub hosts: Vec<String>,
    pub secret_name: Option<String>,
}

/// One Ingress of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The Ingress (kind [`crate::frontend::FrontendKind::Ingress`]).
    pub object: ObjectRef,
    pub annotations: BTreeMap<String, String>,
    pub default_backend: Option<Backend>,
    pub rules: Vec<Rule>,
    pub tls: Vec<Tls>,
    /// Backends that the Ingress's annotations name rather than its spec (e.g. the services of
    /// an ALB weighted `actions.<name>`): every JSON object with `serviceName` and `servicePort`
    /// found in an annotation value, resolved like the spec's backends.
    #[serde(default)]
    pub annotation_backends: Vec<Backend>,
}

/// An Ingress group: the unit that gets one L7 load balancer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressGroup {
    /// The group (kind [`crate::frontend::FrontendKind::IngressGroup`]): for an explicit group its
    /// name (namespace empty), else the single Ingress's namespace and name.
    pub object: ObjectRef,
    pub cluster: String,
    /// Members in a stable order (the operator sorts them by namespace/name; providers apply
    /// their own ordering annotations on top).
    pub members: Vec<Member>,
    /// Nodes eligible for instance targets.
    pub nodes: Vec<Node>,
    /// Why pod endpoints are unknown, if they are (see [`crate::frontend::Frontend`]).
    pub endpoints_unavailable: Option<String>,
}

/// A provider's translation of a group: the resources for the members it accepted, and for
/// each member it left out, why (the operator reports it on that Ingress; the rest converge).
#[derive(Debug, Default)]
pub struct GroupDesired {
    pub resources: Vec<crate::plan::Resource>,
    pub rejected: Vec<(ObjectRef, crate::error::Error)>,
    /// What an accepted member should know that does not stop it (a readiness probe berth could
    /// not use for a health check): reported as Events when its load balancer changes.
    pub notes: Vec<(ObjectRef, String)>,
}

impl GroupDesired {
    /// Whether the group should be converged to `resources`. False when the group has members
    /// but every one of them was rejected: then `resources` is empty, and applying it would
    /// delete a load balancer that a fix would bring straight back. Report the rejections and
    /// change nothing instead. (A group with no members at all converges to nothing: deletion.)
    pub fn converge(&self) -> bool {
        !self.resources.is_empty() || self.rejected.is_empty()
    }
}
