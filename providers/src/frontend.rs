//! A Frontend is one Service (or one Ingress group) with every Kubernetes fact a cloud needs,
//! gathered once by the operator. No cloud types here.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FrontendKind {
    Service,
    Ingress,
    IngressGroup,
}

/// Which Kubernetes object a Frontend (and every cloud resource made for it) belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: FrontendKind,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn service(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectRef {
            kind: FrontendKind::Service,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `namespace/name`, the value of the stack ownership tag.
    pub fn stack(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FrontendKind::Service => "Service",
            FrontendKind::Ingress => "Ingress",
            FrontendKind::IngressGroup => "IngressGroup",
        };
        // Cluster-wide objects (an explicit Ingress group) have no namespace.
        if self.namespace.is_empty() {
            write!(f, "{kind} {}", self.name)
        } else {
            write!(f, "{kind} {}/{}", self.namespace, self.name)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// A ready backend address for one service port (a pod IP and its container port).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub ip: String,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub protocol: Protocol,
    pub port: u16,
    pub node_port: Option<u16>,
    /// `targetPort` when it is a number; a named target port is resolved per endpoint.
    pub target_port: Option<u16>,
    /// Ready endpoints of this port (empty when none are ready, or when unavailable: see
    /// [`Frontend::endpoints_unavailable`]).
    pub endpoints: Vec<Endpoint>,
}

/// A node eligible to receive traffic (exclusion labels already applied by the operator).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    /// `spec.providerID`, e.g. `aws:///us-east-1a/i-0123456789abcdef0`.
    pub provider_id: Option<String>,
    pub internal_ip: Option<String>,
    /// The node's labels (a provider may select target nodes by them).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The upstream annotation that restricts a load balancer's clients when
/// `spec.loadBalancerSourceRanges` is not set (every cloud provider honours it).
pub const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontend {
    pub object: ObjectRef,
    /// The cluster name berth is configured with (ownership tags, subnet discovery).
    pub cluster: String,
    pub annotations: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
    pub session_affinity_client_ip: bool,
    /// The clients allowed to reach the load balancer: normalised CIDRs, IPv4 first, from
    /// `spec.loadBalancerSourceRanges`, else from [`SOURCE_RANGES_ANNOTATION`]. Empty: everyone.
    pub source_ranges: Vec<String>,
    /// Whether [`Self::source_ranges`] came from the annotation (errors name where they came from).
    #[serde(default)]
    pub source_ranges_from_annotation: bool,
    pub external_traffic_policy: TrafficPolicy,
    pub health_check_node_port: Option<u16>,
    pub nodes: Vec<Node>,
    /// Why pod endpoints are unknown (e.g. the API server does not serve
    /// `discovery.k8s.io/v1`), if they are. Providers that need pod IPs report it.
    pub endpoints_unavailable: Option<String>,
}

impl Frontend {
    pub fn new(object: ObjectRef, cluster: impl Into<String>) -> Self {
        Frontend {
            object,
            cluster: cluster.into(),
            annotations: BTreeMap::new(),
            ports: Vec::new(),
            session_affinity_client_ip: false,
            source_ranges: Vec::new(),
            source_ranges_from_annotation: false,
            external_traffic_policy: TrafficPolicy::Cluster,
            health_check_node_port: None,
            nodes: Vec::new(),
            endpoints_unavailable: None,
        }
    }
}
