//! Ownership tags. The first three are the aws-load-balancer-controller's (so a cluster can
//! migrate); `berth.dev/*` are berth's own. observe trusts a resource only when all are present.

use crate::frontend::Frontend;
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
