//! Ownership tags. The first three are the aws-load-balancer-controller's (so a cluster can
//! migrate); `berth.dev/*` are berth's own. observe trusts a resource only when all are present.
//!
//! Tags berth adds beyond those (the user's additional tags, its own bookkeeping) are named in
//! [`TAGS_MARK`] by a short hash of their keys, so that berth can remove one it added when the
//! annotation drops it, and never touches a tag someone else put on the resource: observe
//! reports only berth's tags ([`berth_tags`]), and the plan compares them exactly.

use crate::frontend::{Frontend, FrontendKind, ObjectRef};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const CLUSTER: &str = "elbv2.k8s.aws/cluster";
pub const STACK: &str = "service.k8s.aws/stack";
pub const RESOURCE: &str = "service.k8s.aws/resource";
pub const MANAGED_BY: &str = "berth.dev/managed-by";
pub const MANAGED_BY_VALUE: &str = "berth";

/// The tag naming (by 6-hex hashes of their keys, sorted) the tags berth added beyond its
/// ownership tags; 256 characters hold 36 of them, more than AWS's 50-tag limit leaves.
pub const TAGS_MARK: &str = "berth.dev/tags";

fn key_mark(key: &str) -> String {
    crate::naming::hash_hex(&[key], 6)
}

/// The ownership tags, then `extra`, then the mark naming `extra`'s keys.
fn with_extra(mut tags: Vec<Value>, extra: &BTreeMap<String, String>) -> Value {
    tags.extend(extra.iter().map(|(k, v)| json!({"Key": k, "Value": v})));
    if !extra.is_empty() {
        let mut marks: Vec<String> = extra.keys().map(|k| key_mark(k)).collect();
        marks.sort();
        marks.dedup();
        tags.push(json!({"Key": TAGS_MARK, "Value": marks.join(",")}));
    }
    Value::Array(tags)
}

/// Adds one of berth's own tags to a desired `Tags` list (keeping its mark current).
pub fn add_extra(tags: &mut Value, key: &str, value: &str) {
    let Value::Array(items) = tags else { return };
    items.retain(|t| t.get("Key").and_then(Value::as_str) != Some(TAGS_MARK));
    items.push(json!({"Key": key, "Value": value}));
    let mut marks: Vec<String> = items
        .iter()
        .filter_map(|t| t.get("Key").and_then(Value::as_str))
        .filter(|k| !OWNERSHIP.contains(k))
        .map(key_mark)
        .collect();
    marks.sort();
    marks.dedup();
    items.push(json!({"Key": TAGS_MARK, "Value": marks.join(",")}));
}

/// The ownership tag keys (never in the mark: always berth's).
const OWNERSHIP: [&str; 6] = [
    CLUSTER,
    STACK,
    RESOURCE,
    INGRESS_STACK,
    INGRESS_RESOURCE,
    MANAGED_BY,
];

/// Of a resource's tags, those that are berth's: its ownership tags, the mark, and what the
/// mark names. (Tags of a resource from before the mark read as someone else's: berth adds
/// them again, with the mark, at the next update — one AddTags.)
pub fn berth_tags(t: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let marked: Vec<&str> = t
        .get(TAGS_MARK)
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    t.iter()
        .filter(|(k, _)| {
            OWNERSHIP.contains(&k.as_str())
                || k.as_str() == TAGS_MARK
                || marked.contains(&key_mark(k).as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Tags for one resource: ownership first, then the user's additional tags, then the mark.
pub fn resource_tags(fe: &Frontend, resource: &str, extra: &BTreeMap<String, String>) -> Value {
    let tags = vec![
        json!({"Key": CLUSTER, "Value": fe.cluster}),
        json!({"Key": STACK, "Value": fe.object.stack()}),
        json!({"Key": RESOURCE, "Value": resource}),
        json!({"Key": MANAGED_BY, "Value": MANAGED_BY_VALUE}),
    ];
    with_extra(tags, extra)
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
    let tags = vec![
        json!({"Key": CLUSTER, "Value": cluster}),
        json!({"Key": stack_key(owner), "Value": stack_value(owner)}),
        json!({"Key": resource_key(owner), "Value": resource}),
        json!({"Key": MANAGED_BY, "Value": MANAGED_BY_VALUE}),
    ];
    with_extra(tags, extra)
}

/// Whether a resource's tags mark it as berth's, for this cluster and this owner (the stack key
/// chosen by the owner's kind).
pub fn owned_by_owner(tags: &BTreeMap<String, String>, cluster: &str, owner: &ObjectRef) -> bool {
    tags.get(CLUSTER).map(String::as_str) == Some(cluster)
        && tags.get(stack_key(owner)) == Some(&stack_value(owner))
        && tags.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tags_berth_marked_are_its_own() {
        let fe = Frontend::new(ObjectRef::service("shop", "web"), "c1");
        let extra = BTreeMap::from([("team".to_string(), "a".to_string())]);
        let desired: BTreeMap<String, String> = resource_tags(&fe, "LoadBalancer", &extra)
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["Key"].as_str().unwrap().to_string(),
                    t["Value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(desired.contains_key(TAGS_MARK));
        // On the resource: berth's tags plus one someone else added.
        let mut on_aws = desired.clone();
        on_aws.insert("cost-center".into(), "x".into());
        assert_eq!(
            berth_tags(&on_aws),
            desired,
            "someone else's tag is not berth's"
        );
        // Without any extra tags there is no mark, and nothing but ownership is berth's.
        let plain = resource_tags(&fe, "LoadBalancer", &BTreeMap::new());
        assert!(!plain.to_string().contains(TAGS_MARK));
        let mut legacy = on_aws.clone();
        legacy.remove(TAGS_MARK);
        assert!(
            !berth_tags(&legacy).contains_key("team"),
            "unmarked: read as someone else's"
        );
    }
}
