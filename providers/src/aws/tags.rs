//! Ownership tags. The first three are the aws-load-balancer-controller's (so a cluster can
//! migrate); `berth.dev/*` are berth's own. observe trusts a resource only when all are present.

use crate::frontend::{Frontend, FrontendKind, ObjectRef};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const CLUSTER: &str = "elbv2.k8s.aws/cluster";
pub const STACK: &str = "service.k8s.aws/stack";
pub const RESOURCE: &str = "service.k8s.aws/resource";
pub const MANAGED_BY: &str = "berth.dev/managed-by";
pub const MANAGED_BY_VALUE: &str = "berth";

/// Tags for one resource: ownership first, then the user's additional tags.
pub fn resource_tags(fe: &Frontend, resource: &str, extra: &BTreeMap<String, String>) -> Value {
    let mut tags = vec![
        json!({"Key": CLUSTER, "Value": fe.cluster}),
        json!({"Key": STACK, "Value": fe.object.stack()}),
        json!({"Key": RESOURCE, "Value": resource}),
        json!({"Key": MANAGED_BY, "Value": MANAGED_BY_VALUE}),
    ];
    tags.extend(extra.iter().map(|(k, v)| json!({"Key": k, "Value": v})));
    Value::Array(tags)
}

/// Whether a resource's tags mark it as berth's, for this cluster and this object.
pub fn owned_by(tags: &BTreeMap<String, String>, cluster: &str, stack: &str) -> bool {
    tags.get(CLUSTER).map(String::as_str) == Some(cluster)
        && tags.get(STACK).map(String::as_str) == Some(stack)
        && tags.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
}

/// The stack and resource tag keys for an owner: Services use the `service.k8s.aws/` pair,
/// Ingress groups the `ingress.k8s.aws/` pair (as the aws-load-balancer-controller does).
pub const INGRESS_STACK: &str = "ingress.k8s.aws/stack";
pub const INGRESS_RESOURCE: &str = "ingress.k8s.aws/resource";

pub fn stack_key(owner: &ObjectRef) -> &'static str {
    match owner.kind {
        FrontendKind::Service => STACK,
        FrontendKind::Ingress | FrontendKind::IngressGroup => INGRESS_STACK,
    }
}

pub fn resource_key(owner: &ObjectRef) -> &'static str {
    match owner.kind {
        FrontendKind::Service => RESOURCE,
        FrontendKind::Ingress | FrontendKind::IngressGroup => INGRESS_RESOURCE,
    }
}

/// The stack tag's value: `namespace/name`, or for an explicit Ingress group (no namespace) the
/// group's name.
pub fn stack_value(owner: &ObjectRef) -> String {
    if owner.kind == FrontendKind::IngressGroup && owner.namespace.is_empty() {
        owner.name.clone()
    } else {
        owner.stack()
    }
}

/// Tags for one resource of any owner: ownership first, then the user's additional tags.
pub fn owner_tags(
    cluster: &str,
    owner: &ObjectRef,
    resource: &str,
    extra: &BTreeMap<String, String>,
) -> Value {
    let mut tags = vec![
        json!({"Key": CLUSTER, "Value": cluster}),
        json!({"Key": stack_key(owner), "Value": stack_value(owner)}),
        json!({"Key": resource_key(owner), "Value": resource}),
        json!({"Key": MANAGED_BY, "Value": MANAGED_BY_VALUE}),
    ];
    tags.extend(extra.iter().map(|(k, v)| json!({"Key": k, "Value": v})));
    Value::Array(tags)
}

/// Whether a resource's tags mark it as berth's, for this cluster and this owner (the stack key
/// chosen by the owner's kind).
pub fn owned_by_owner(tags: &BTreeMap<String, String>, cluster: &str, owner: &ObjectRef) -> bool {
    tags.get(CLUSTER).map(String::as_str) == Some(cluster)
        && tags.get(stack_key(owner)) == Some(&stack_value(owner))
        && tags.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
}
