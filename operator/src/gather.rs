//! Step 1 of the pipeline: Kubernetes objects -> a cloud-neutral Frontend. The generic
//! Kubernetes facts (ports, sessionAffinity, source ranges, traffic policy, health-check node
//! port, ready endpoints, eligible nodes) are read here, once; annotations pass through to the
//! provider, which owns their meaning.

pub mod ingress;

use k8s_openapi::api::core::v1::{Node as KubeNode, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use providers::cidr::{normalize_cidr, sort_dedup};
use providers::frontend::{
    Endpoint, Frontend, Node, ObjectRef, Protocol, ServicePort, TrafficPolicy,
    SOURCE_RANGES_ANNOTATION,
};
use providers::profile::Profile;
use providers::Error;

/// Label that keeps a node out of every load balancer's targets (upstream Kubernetes meaning).
pub const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// The label EndpointSlices carry to name their Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Which Services this berth acts on.
#[derive(Clone)]
pub struct Selection {
    /// The cloud: its legacy selection annotations, finalizer, policy vocabulary.
    pub profile: &'static Profile,
    /// `spec.loadBalancerClass` values berth serves.
    pub classes: Vec<String>,
    /// Also serve LoadBalancer Services with no class (berth is the cluster's default).
    pub default_class: bool,
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selection")
            .field("cloud", &self.profile.cloud)
            .field("classes", &self.classes)
            .field("default_class", &self.default_class)
            .finish()
    }
}

impl Default for Selection {
    /// The build's default cloud with its default classes.
    fn default() -> Self {
        Selection::of(providers::profile::default_profile())
    }
}

impl Selection {
    /// The cloud's default classes, not the cluster's default class.
    pub fn of(profile: &'static Profile) -> Self {
        Selection {
            profile,
            classes: profile
                .service
                .classes
                .iter()
                .map(|c| c.to_string())
                .collect(),
            default_class: false,
        }
    }

    pub fn selects(&self, svc: &Service) -> bool {
        let Some(spec) = &svc.spec else { return false };
        if spec.type_.as_deref() != Some("LoadBalancer") {
            return false;
        }
        match &spec.load_balancer_class {
            Some(class) => self.classes.iter().any(|c| c == class),
            None => {
                let p = &self.profile.service;
                let ann = svc.metadata.annotations.as_ref();
                self.default_class
                    || p.legacy_annotations
                        .iter()
                        .filter_map(|k| ann.and_then(|a| a.get(*k)))
                        .any(|v| p.legacy_values.contains(&v.trim()))
            }
        }
    }
}

pub fn object_ref(svc: &Service) -> ObjectRef {
    ObjectRef::service(
        svc.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        svc.metadata.name.clone().unwrap_or_default(),
    )
}

/// Taints of nodes on their way out (the cluster autoscaler's, Karpenter's): they leave the
/// load balancer first, so their connections drain before the node goes.
pub const LEAVING_TAINTS: [&str; 2] = ["ToBeDeletedByClusterAutoscaler", "karpenter.sh/disrupted"];

/// Nodes that may receive load-balancer traffic: not being deleted, not leaving (a removal
/// taint), not excluded by the label.
pub fn eligible_nodes(nodes: &[KubeNode]) -> Vec<Node> {
    let mut out: Vec<Node> = nodes
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .filter(|n| {
            !n.spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|t| t.iter().any(|t| LEAVING_TAINTS.contains(&t.key.as_str())))
        })
        .filter(|n| {
            !n.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(EXCLUDE_LABEL))
        })
        .map(|n| Node {
            name: n.metadata.name.clone().unwrap_or_default(),
            provider_id: n.spec.as_ref().and_then(|s| s.provider_id.clone()),
            internal_ip: n
                .status
                .as_ref()
                .and_then(|s| s.addresses.as_ref())
                .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
                .map(|a| a.address.clone()),
            labels: n.metadata.labels.clone().unwrap_or_default(),
        })
        .collect();
    out.sort();
    out
}

/// Builds the Frontend of a Service. `slices` is `None` when the API server does not serve
/// `discovery.k8s.io/v1` (then providers that need pod IPs say so on the Service).
pub fn frontend(
    svc: &Service,
    slices: Option<&[EndpointSlice]>,
    nodes: &[KubeNode],
    cluster: &str,
) -> Result<Frontend, Error> {
    let object = object_ref(svc);
    let spec = svc.spec.clone().unwrap_or_default();
    let mut fe = Frontend::new(object.clone(), cluster);
    fe.annotations = svc.metadata.annotations.clone().unwrap_or_default();
    fe.session_affinity_client_ip = spec.session_affinity.as_deref() == Some("ClientIP");
    (fe.source_ranges, fe.source_ranges_from_annotation) =
        source_ranges(&object, &spec, &fe.annotations)?;
    fe.external_traffic_policy = match spec.external_traffic_policy.as_deref() {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    };
    let field_err = |field: String, value: String, expected: &str| Error::InvalidField {
        object: object.clone(),
        field,
        value,
        expected: expected.into(),
    };
    const RANGE: &str = "expected a port number from 1 to 65535";
    fe.health_check_node_port =
        match spec.health_check_node_port {
            None => None,
            Some(n) => Some(valid_port(n).ok_or_else(|| {
                field_err("spec.healthCheckNodePort".into(), n.to_string(), RANGE)
            })?),
        };
    fe.nodes = eligible_nodes(nodes);
    if slices.is_none() {
        fe.endpoints_unavailable =
            Some("the API server does not serve discovery.k8s.io/v1 EndpointSlices".into());
    }

    for (i, p) in spec.ports.unwrap_or_default().iter().enumerate() {
        let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            other => {
                return Err(field_err(
                    format!("spec.ports[{i}].protocol"),
                    other.into(),
                    "expected TCP, UDP or SCTP",
                ))
            }
        };
        let port = valid_port(p.port)
            .ok_or_else(|| field_err(format!("spec.ports[{i}].port"), p.port.to_string(), RANGE))?;
        // From here on the port is named by its number, as users think of it.
        let at = |field: &str| format!("spec.ports[{port}/{}].{field}", protocol.as_str());
        if fe
            .ports
            .iter()
            .any(|q| q.port == port && q.protocol == protocol)
        {
            return Err(field_err(
                format!("spec.ports[{i}]"),
                format!("{port}/{}", protocol.as_str()),
                "each port and protocol once: this one is listed twice",
            ));
        }
        // A nodePort of 0 is "not allocated yet" (a manifest before the API server saw it):
        // nothing can reach it.
        let node_port = match p.node_port {
            None => None,
            Some(n) => Some(valid_port(n).ok_or_else(|| {
                field_err(at("nodePort"), n.to_string(), "expected a port number from 1 to 65535 (0 is not allocated yet: apply the Service first, or set the nodePort)")
            })?),
        };
        let target_port = match &p.target_port {
            Some(IntOrString::Int(n)) => Some(
                valid_port(*n).ok_or_else(|| field_err(at("targetPort"), n.to_string(), RANGE))?,
            ),
            Some(IntOrString::String(name)) => {
                if !valid_port_name(name) {
                    return Err(field_err(at("targetPort"), name.clone(), "expected a port number or a port name (at most 15 lower-case letters, digits and '-', with a letter)"));
                }
                None
            }
            None => Some(port),
        };
        let endpoints = slices
            .map(|s| ready_endpoints(s, &object.name, p.name.as_deref(), protocol))
            .unwrap_or_default();
        if let (Some(IntOrString::String(name)), Some(s)) = (&p.target_port, slices) {
            if endpoints.is_empty()
                && has_endpoints_without_port(s, &object.name, p.name.as_deref())
            {
                return Err(field_err(
                    at("targetPort"),
                    name.clone(),
                    "a port name the Service's pods declare: their EndpointSlices carry no such port (check the containers' ports[].name)",
                ));
            }
        }
        fe.ports.push(ServicePort {
            name: p.name.clone(),
            protocol,
            port,
            node_port,
            target_port,
            endpoints,
        });
    }
    Ok(fe)
}

/// `spec.loadBalancerSourceRanges`, else [`SOURCE_RANGES_ANNOTATION`]: normalised CIDRs (IPv4
/// first), and whether they came from the annotation. An
/// invalid CIDR, or both set with different ranges, is refused: an access restriction is never
/// dropped or guessed.
pub fn source_ranges(
    object: &ObjectRef,
    spec: &k8s_openapi::api::core::v1::ServiceSpec,
    annotations: &std::collections::BTreeMap<String, String>,
) -> Result<(Vec<String>, bool), Error> {
    const EXPECTED: &str =
        "expected IPv4 or IPv6 CIDRs (address/prefix length, e.g. 203.0.113.0/24, 2001:db8::/32)";
    let mut from_spec = Vec::new();
    for (i, c) in spec
        .load_balancer_source_ranges
        .iter()
        .flatten()
        .enumerate()
    {
        from_spec.push(normalize_cidr(c).ok_or_else(|| Error::InvalidField {
            object: object.clone(),
            field: format!("spec.loadBalancerSourceRanges[{i}]"),
            value: c.clone(),
            expected: EXPECTED.into(),
        })?);
    }
    sort_dedup(&mut from_spec);
    let Some(raw) = annotations.get(SOURCE_RANGES_ANNOTATION) else {
        return Ok((from_spec, false));
    };
    let ann_err = |expected: String| Error::InvalidAnnotation {
        object: object.clone(),
        annotation: SOURCE_RANGES_ANNOTATION.into(),
        value: raw.clone(),
        expected,
    };
    let mut from_ann = Vec::new();
    for c in raw.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        from_ann.push(
            normalize_cidr(c).ok_or_else(|| ann_err(format!("{c:?} is not a CIDR; {EXPECTED}")))?,
        );
    }
    if from_ann.is_empty() {
        return Err(ann_err(format!("empty; {EXPECTED}, comma-separated")));
    }
    sort_dedup(&mut from_ann);
    if !from_spec.is_empty() && from_spec != from_ann {
        return Err(ann_err(format!(
            "spec.loadBalancerSourceRanges is also set, to {}; the two disagree, so which clients to allow is ambiguous: keep one of them",
            from_spec.join(",")
        )));
    }
    Ok((from_ann, from_spec.is_empty()))
}

/// Ready addresses of one service port across the Service's EndpointSlices.
/// 1 to 65535.
fn valid_port(n: i32) -> Option<u16> {
    u16::try_from(n).ok().filter(|p| *p > 0)
}

/// An IANA_SVC_NAME, as Kubernetes validates a container port's name.
fn valid_port_name(n: &str) -> bool {
    (1..=15).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && n.chars().any(|c| c.is_ascii_lowercase())
        && !n.starts_with('-')
        && !n.ends_with('-')
        && !n.contains("--")
}

/// Whether the Service's EndpointSlices have endpoints but none carries the Service port
/// `port_name`: its named targetPort matches no port of the pods behind it.
fn has_endpoints_without_port(
    slices: &[EndpointSlice],
    service: &str,
    port_name: Option<&str>,
) -> bool {
    let mine: Vec<&EndpointSlice> = slices
        .iter()
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                .map(String::as_str)
                == Some(service)
        })
        .collect();
    mine.iter()
        .any(|s| s.endpoints.iter().flatten().next().is_some())
        && !mine.iter().any(|s| {
            s.ports
                .iter()
                .flatten()
                .any(|sp| sp.name.as_deref().unwrap_or("") == port_name.unwrap_or(""))
        })
}

pub(crate) fn ready_endpoints(
    slices: &[EndpointSlice],
    service: &str,
    port_name: Option<&str>,
    protocol: Protocol,
) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for s in slices {
        let owned = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
            .map(String::as_str)
            == Some(service);
        if !owned {
            continue;
        }
        let Some(slice_port) = s.ports.iter().flatten().find(|sp| {
            sp.name.as_deref().unwrap_or("") == port_name.unwrap_or("")
                && sp.protocol.as_deref().unwrap_or("TCP") == protocol.as_str()
        }) else {
            continue;
        };
        let Some(port) = slice_port.port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for e in s.endpoints.iter().flatten() {
            // An absent `ready` means ready (API semantics).
            if e.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            out.extend(e.addresses.iter().map(|ip| Endpoint {
                ip: ip.clone(),
                port,
            }));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests;
