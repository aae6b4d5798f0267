//! The Compute resource kinds as the engine sees them. A kind is `compute.v1.<collection>`
//! with the discovery document's collection name, and its properties are the insert request
//! body in the document's property names, so a plan reads like the API. One exception of
//! shape: an instance group's members are their own kind, `compute.v1.instanceGroups.instances`,
//! whose properties are the `addInstances` request body (membership is not part of the group's
//! body, and it changes through `addInstances` / `removeInstances`).
//!
//! Zonal resources are named `<zone>/<name>` in plans (one name per zone); the others by
//! their name.

pub(crate) mod calls;
pub mod instance_group;

use super::description::marked_shared;
use crate::engine::{Compare, KindSpec, Kinds};
use crate::plan::Resource;
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

pub const INSTANCE_GROUP: &str = "compute.v1.instanceGroups";
pub const INSTANCE_GROUP_MEMBERS: &str = "compute.v1.instanceGroups.instances";
pub const REGION_HEALTH_CHECK: &str = "compute.v1.regionHealthChecks";
pub const FIREWALL: &str = "compute.v1.firewalls";
pub const REGION_BACKEND_SERVICE: &str = "compute.v1.regionBackendServices";
pub const FORWARDING_RULE: &str = "compute.v1.forwardingRules";
/// The named ports an instance group carries (the `setNamedPorts` body): a global backend
/// service reaches the NodePort through one.
pub const INSTANCE_GROUP_NAMED_PORTS: &str = "compute.v1.instanceGroups.namedPorts";
pub const HEALTH_CHECK: &str = "compute.v1.healthChecks";
pub const BACKEND_SERVICE: &str = "compute.v1.backendServices";
pub const URL_MAP: &str = "compute.v1.urlMaps";
pub const TARGET_HTTP_PROXY: &str = "compute.v1.targetHttpProxies";
pub const TARGET_HTTPS_PROXY: &str = "compute.v1.targetHttpsProxies";
pub const GLOBAL_ADDRESS: &str = "compute.v1.globalAddresses";
pub const GLOBAL_FORWARDING_RULE: &str = "compute.v1.globalForwardingRules";

/// Creation order (a backend service needs its groups and health check, a forwarding rule its
/// backend service); deletes run backward.
pub static KINDS: LazyLock<Kinds> = LazyLock::new(|| {
    let specs = vec![
        // The cluster's groups: created when missing, members follow the Nodes, never deleted
        // by one Service's plan.
        KindSpec::new(INSTANCE_GROUP).shared().mutable(&[]),
        KindSpec::new(INSTANCE_GROUP_MEMBERS)
            .shared()
            .parent(INSTANCE_GROUP),
        // The health check (and its firewall rule) of `externalTrafficPolicy: Cluster` is the
        // cluster's, as GKE's; a Service's own (eTP Local) is the Service's.
        KindSpec::new(REGION_HEALTH_CHECK)
            .shared_if(marked_shared)
            .mutable(&[
                "description",
                "type",
                "httpHealthCheck",
                "tcpHealthCheck",
                "checkIntervalSec",
                "timeoutSec",
                "healthyThreshold",
                "unhealthyThreshold",
            ]),
        KindSpec::new(FIREWALL).shared_if(marked_shared).mutable(&[
            "description",
            "allowed",
            "sourceRanges",
            "targetTags",
            "priority",
        ]),
        KindSpec::new(REGION_BACKEND_SERVICE).mutable(&[
            "description",
            "protocol",
            "sessionAffinity",
            "healthChecks",
            "backends",
            "connectionDraining",
        ]),
        // Compute patches a forwarding rule's tier and global access only; other changes
        // (ports, protocol, address) need a new rule.
        KindSpec::new(FORWARDING_RULE).mutable(&["networkTier", "allowGlobalAccess"]),
        // The global Application Load Balancer of an Ingress. Several Ingresses need ports on
        // the cluster's groups: each asks for its own to be there, others' stay.
        KindSpec::new(INSTANCE_GROUP_NAMED_PORTS)
            .shared()
            .parent(INSTANCE_GROUP)
            .compare("namedPorts", Compare::Includes),
        KindSpec::new(HEALTH_CHECK).mutable(&[
            "description",
            "type",
            "httpHealthCheck",
            "httpsHealthCheck",
            "http2HealthCheck",
            "checkIntervalSec",
            "timeoutSec",
            "healthyThreshold",
            "unhealthyThreshold",
        ]),
        KindSpec::new(BACKEND_SERVICE).mutable(&[
            "description",
            "protocol",
            "portName",
            "timeoutSec",
            "sessionAffinity",
            "affinityCookieTtlSec",
            "connectionDraining",
            "healthChecks",
            "backends",
        ]),
        KindSpec::new(URL_MAP).mutable(&[
            "description",
            "defaultService",
            "hostRules",
            "pathMatchers",
        ]),
        KindSpec::new(TARGET_HTTP_PROXY).mutable(&["urlMap"]),
        KindSpec::new(TARGET_HTTPS_PROXY).mutable(&["urlMap", "sslCertificates"]),
        KindSpec::new(GLOBAL_ADDRESS).mutable(&[]),
        // Compute patches only the tier of a global rule; the proxies' names are fixed.
        KindSpec::new(GLOBAL_FORWARDING_RULE).mutable(&[]),
    ];
    // Compute answers with its defaults filled in: what berth asked for must be there.
    Kinds::new(
        specs
            .into_iter()
            .map(|k| k.otherwise(Compare::Within))
            .collect(),
    )
});

/// A desired resource of `kind`: its plan name and its body.
pub fn resource(kind: &str, name: &str, properties: Value) -> Resource {
    Resource {
        kind: kind.to_string(),
        name: name.to_string(),
        properties: properties.as_object().cloned().unwrap_or_else(Map::new),
    }
}

/// A reference to another resource of the same plan. GCP names are unique across kinds within
/// a plan (each kind has its own token), so the name alone is unambiguous; an instance group and
/// its members and named ports share one name and one ID.
pub fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}
