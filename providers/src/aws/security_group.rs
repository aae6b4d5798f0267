//! The load balancer's managed ("frontend") security group, as berth builds it for an NLB (a
//! Service) and an ALB (an Ingress group): one `AWS::EC2::SecurityGroup` owned by the object,
//! created before its load balancer and deleted after it, whose ingress rules open each listener
//! port to the allowed sources (CIDRs, or managed prefix lists) and nothing else. Its SDK side
//! (create, rules as a delta, delete) is in `apply`, its reading in `observe`.

use super::{tags, KIND_LB, KIND_SG};
use crate::error::{Error, Result};
use crate::frontend::{FrontendKind, ObjectRef};
use crate::naming::{hash_hex, sanitize};
use crate::plan::{Observed, Resource};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The managed security group's description (the aws-load-balancer-controller's).
pub const DESCRIPTION: &str = "[k8s] Managed SecurityGroup for LoadBalancer";

/// The `*.k8s.aws/resource` tag of the managed security group (the aws-load-balancer-controller's
/// value).
pub const RESOURCE: &str = "ManagedLBSecurityGroup";

/// `k8s-<group>-<hash>` or `k8s-<namespace>-<name>-<hash>`: from the owner alone, so it survives
/// a scheme or name change of the load balancer. A Service and an Ingress of the same
/// namespace/name get different hashes (both may exist in one VPC).
pub fn name(cluster: &str, owner: &ObjectRef) -> String {
    let salt = match owner.kind {
        FrontendKind::Service => "service-managed-sg",
        FrontendKind::Ingress | FrontendKind::IngressGroup => "managed-sg",
    };
    let hash = hash_hex(&[cluster, &owner.namespace, &owner.name, salt], 10);
    if owner.namespace.is_empty() {
        format!("k8s-{}-{hash}", sanitize(&owner.name, 17))
    } else {
        format!(
            "k8s-{}-{}-{hash}",
            sanitize(&owner.namespace, 8),
            sanitize(&owner.name, 8)
        )
    }
}

/// One ingress rule, in the shape observe reads it back: `protocol` (`tcp`, `udp`) on one
/// listener port from one source, an IPv4 or IPv6 CIDR or a managed prefix list (`pl-…`).
pub fn ingress_rule(protocol: &str, port: u16, source: &str) -> Value {
    let mut m = Map::new();
    m.insert("IpProtocol".into(), json!(protocol));
    m.insert("FromPort".into(), json!(port));
    m.insert("ToPort".into(), json!(port));
    let key = if source.starts_with("pl-") {
        "SourcePrefixListId"
    } else if crate::cidr::is_v6(source) {
        "CidrIpv6"
    } else {
        "CidrIp"
    };
    m.insert(key.into(), json!(source));
    m.insert(
        "Description".into(),
        json!(format!("berth: listener port {port}")),
    );
    Value::Object(m)
}

/// The managed security group of `owner`, with these ingress rules.
pub fn managed(
    cluster: &str,
    owner: &ObjectRef,
    vpc_id: Option<&str>,
    rules: Vec<Value>,
    user_tags: &BTreeMap<String, String>,
) -> Resource {
    let name = name(cluster, owner);
    let mut p = Map::new();
    p.insert("GroupName".into(), json!(name));
    p.insert("GroupDescription".into(), json!(DESCRIPTION));
    if let Some(vpc) = vpc_id {
        p.insert("VpcId".into(), json!(vpc));
    }
    p.insert("SecurityGroupIngress".into(), Value::Array(rules));
    p.insert(
        "Tags".into(),
        tags::owner_tags(cluster, owner, RESOURCE, user_tags),
    );
    Resource {
        kind: KIND_SG.into(),
        name,
        properties: p,
    }
}

/// The sources a load balancer open to everyone allows: `0.0.0.0/0`, and `::/0` when it also
/// serves IPv6 clients.
pub fn everyone(dualstack: bool) -> Vec<String> {
    let mut d = vec!["0.0.0.0/0".to_string()];
    if dualstack {
        d.push("::/0".into());
    }
    d
}

/// Whether an ingress rule (as [`ingress_rule`] writes it) admits every client.
pub fn is_open_to_everyone(rule: &Value) -> bool {
    ["CidrIp", "CidrIpv6"]
        .iter()
        .filter_map(|k| rule.get(*k).and_then(Value::as_str))
        .any(|c| c == "0.0.0.0/0" || c == "::/0")
}

/// AWS cannot add security groups to a Network Load Balancer created without any (berth's before
/// it managed them, or another controller's). For such an NLB the desired state is reconciled
/// with what is possible: a managed group that admits everyone changes nothing for its clients,
/// so it is left out and the NLB kept as it is; any other restriction (source ranges, prefix
/// lists, the user's security groups) is refused with what to do, rather than silently not
/// applied or the NLB deleted and recreated under a new address.
pub fn for_existing_nlbs(desired: &[Resource], observed: &Observed) -> Result<Vec<Resource>> {
    let mut out = desired.to_vec();
    for lb in desired.iter().filter(|r| r.kind == KIND_LB) {
        let (Some(wanted), Some(current)) = (
            lb.properties.get("SecurityGroups"),
            observed.find(KIND_LB, &lb.name),
        ) else {
            continue;
        };
        if current
            .resource
            .properties
            .get("Type")
            .and_then(Value::as_str)
            != Some("network")
            || current.resource.properties.contains_key("SecurityGroups")
        {
            continue;
        }
        let managed = wanted
            .as_array()
            .filter(|a| a.len() == 1)
            .and_then(|a| a[0].get("Ref"))
            .and_then(Value::as_str)
            .and_then(|n| desired.iter().find(|r| r.kind == KIND_SG && r.name == n));
        let open = managed.is_some_and(|sg| {
            sg.properties
                .get("SecurityGroupIngress")
                .and_then(Value::as_array)
                .is_some_and(|rules| rules.iter().all(is_open_to_everyone))
        });
        if open {
            let sg = managed.map(|m| m.name.clone());
            out.retain(|r| !(r.kind == KIND_SG && Some(&r.name) == sg.as_ref()));
            if let Some(name) = &sg {
                super::backend_rules::without_source(&mut out, name);
            }
            if let Some(r) = out
                .iter_mut()
                .find(|r| r.kind == KIND_LB && r.name == lb.name)
            {
                r.properties.remove("SecurityGroups");
            }
            continue;
        }
        let owner = tag(lb, tags::STACK).unwrap_or_default();
        return Err(Error::NeedsReplacement {
            object: format!("Service {owner}"),
            kind: KIND_LB.into(),
            name: lb.name.clone(),
            id: current.id.clone(),
            why: "the Service restricts its clients (spec.loadBalancerSourceRanges, the load-balancer-source-ranges annotation, aws-load-balancer-security-group-prefix-lists or aws-load-balancer-security-groups), which needs a security group on the NLB, and AWS cannot add security groups to a Network Load Balancer created without any. The NLB stays as it is, open to every client its listeners and the targets' security groups admit. To apply the restriction, let berth create a new NLB (its DNS name changes): set service.beta.kubernetes.io/aws-load-balancer-name to a new name (berth then creates the new NLB with its security group, moves the Service's address to it and deletes this one), or delete and recreate the Service".into(),
        });
    }
    Ok(out)
}

fn tag<'a>(r: &'a Resource, key: &str) -> Option<&'a str> {
    r.properties
        .get("Tags")?
        .as_array()?
        .iter()
        .find(|t| t.get("Key").and_then(Value::as_str) == Some(key))?
        .get("Value")?
        .as_str()
}

pub fn dualstack(ip_address_type: Option<&str>) -> bool {
    ip_address_type.is_some_and(|t| t.starts_with("dualstack"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_aws_and_differ_between_a_service_and_an_ingress() {
        let svc = ObjectRef::service("shop", "web");
        let mut ing = svc.clone();
        ing.kind = FrontendKind::Ingress;
        let (a, b) = (name("c1", &svc), name("c1", &ing));
        assert_ne!(a, b);
        assert!(a.starts_with("k8s-shop-web-") && a.len() <= 255, "{a}");
        assert_eq!(name("c1", &svc), a, "deterministic");
    }

    #[test]
    fn rule_sources_pick_their_property() {
        assert_eq!(
            ingress_rule("tcp", 80, "10.0.0.0/8")["CidrIp"],
            "10.0.0.0/8"
        );
        assert_eq!(ingress_rule("udp", 53, "::/0")["CidrIpv6"], "::/0");
        assert_eq!(
            ingress_rule("tcp", 80, "pl-0123")["SourcePrefixListId"],
            "pl-0123"
        );
        assert!(is_open_to_everyone(&ingress_rule("tcp", 80, "::/0")));
        assert!(!is_open_to_everyone(&ingress_rule("tcp", 80, "10.0.0.0/8")));
        assert!(!is_open_to_everyone(&ingress_rule("tcp", 80, "pl-0123")));
    }
}
