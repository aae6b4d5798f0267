//! An Ingress group -> the ALB's desired resources (load balancer, target groups, listeners,
//! listener rules, and without `security-groups` the managed security group), in
//! CloudFormation's vocabulary. Pure: cloud facts come in as [`AwsFacts`].
//!
//! The managed security group (the aws-load-balancer-controller's "frontend" group): when no
//! member sets `security-groups`, berth owns one `AWS::EC2::SecurityGroup` per ALB, allowing TCP
//! on every listen port from each `inbound-cidrs` CIDR (default `0.0.0.0/0`, plus `::/0` for
//! dualstack). With `security-groups` the groups are the user's and `inbound-cidrs` is refused
//! (that controller ignores it; berth never silently drops an access restriction).
//! Traffic from the ALB to the targets (node or pod security groups) is not managed.
//!
//! Group semantics (isolation): members are taken in the order `group.order`, namespace, name.
//! Each member is validated on its own (annotations, backends, rules) and then merged; a member
//! that fails, or that disagrees with what earlier members already set (scheme, subnets,
//! security groups, inbound-cidrs, listen-port protocol, ssl-policy, ssl-redirect, tag or attribute values, default backend,
//! target-group settings of a shared backend, the same conditions on a listener), is left out
//! and reported; the rest of the group is translated as if it did not exist. The first member
//! wins, so adding a bad member never changes what the good ones get.

use super::annotations::{self as ann, HcPort, IngressSettings, ListenProtocol, TgSettings};
use super::rules::{self, ActionSpec, ForwardTarget};
use crate::aws::kinds::listener::certificates_mark;
use crate::aws::security_group::{self as sg, dualstack};
use crate::aws::translate::{instance_targets, listener_name, AwsFacts};
use crate::aws::{tags, KIND_LB, KIND_LISTENER, KIND_RULE, KIND_TG};
use crate::error::{Error, Result};
use crate::frontend::{FrontendKind, ObjectRef};
use crate::ingress::{Backend, BackendPort, GroupDesired, IngressGroup, Member, PathType};
use crate::naming::{hash_hex, sanitize};
use crate::plan::Resource;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

mod backends;
mod member;
mod resources;

use backends::*;
use member::*;
use resources::*;

/// The backend port name that points at `actions.<service name>` instead of a Service.
pub const USE_ANNOTATION: &str = "use-annotation";

impl Acc {
    /// The managed security group's rules: TCP on every listener port from `inbound-cidrs`
    /// (default 0.0.0.0/0, and ::/0 when dualstack).
    fn managed_sg_rules(&self) -> Vec<Value> {
        let ip_type = self.ip_address_type.as_ref().map(|t| t.value.as_str());
        let cidrs = self
            .inbound_cidrs
            .as_ref()
            .map(|c| c.value.clone())
            .unwrap_or_else(|| sg::everyone(sg::dualstack(ip_type)));
        self.listeners
            .keys()
            .flat_map(|port| cidrs.iter().map(|c| sg::ingress_rule("tcp", *port, c)))
            .collect()
    }
}

/// A group-wide setting and the member that set it first.
#[derive(Clone, Debug)]
struct Set<T> {
    value: T,
    by: ObjectRef,
}

#[derive(Clone, Debug)]
struct RuleDraft {
    port: u16,
    conditions: Vec<Value>,
    actions: Vec<Value>,
}

/// What the accepted members add up to.
#[derive(Clone, Debug, Default)]
struct Acc {
    scheme: Option<Set<String>>,
    subnets: Option<Set<Vec<String>>>,
    security_groups: Option<Set<Vec<String>>>,
    inbound_cidrs: Option<Set<Vec<String>>>,
    ip_address_type: Option<Set<String>>,
    lb_name: Option<Set<String>>,
    ssl_policy: Option<Set<String>>,
    ssl_redirect: Option<Set<u16>>,
    tags: BTreeMap<String, Set<String>>,
    lb_attributes: BTreeMap<String, Set<String>>,
    listeners: BTreeMap<u16, Set<ListenProtocol>>,
    certificates: Vec<String>,
    default_action: Option<Set<Vec<Value>>>,
    /// Target groups by name, in first-use order.
    tgs: Vec<(Resource, ObjectRef)>,
    rules: Vec<RuleDraft>,
    /// (port, canonical conditions) -> the member whose rule it is.
    conditions: BTreeMap<(u16, String), ObjectRef>,
    accepted: usize,
}

fn display_group(g: &ObjectRef) -> String {
    if g.namespace.is_empty() {
        g.name.clone()
    } else {
        g.stack()
    }
}

/// `k8s-<group>-<hash>` (explicit group) or `k8s-<namespace>-<name>-<hash>`, at most 32 chars.
fn lb_generated_name(cluster: &str, group: &ObjectRef, scheme: &str) -> String {
    let hash = hash_hex(&[cluster, &group.namespace, &group.name, scheme], 10);
    if group.namespace.is_empty() {
        format!("k8s-{}-{hash}", sanitize(&group.name, 17))
    } else {
        format!(
            "k8s-{}-{}-{hash}",
            sanitize(&group.namespace, 8),
            sanitize(&group.name, 8)
        )
    }
}

/// Rules carry no name in AWS: berth names them by listener and conditions, so observe can name
/// an existing rule the same way and a rule keeps its name when only its priority moves.
pub fn rule_name(listener: &str, conditions: &[Value]) -> String {
    format!("{listener}:{}", hash_hex(&[&canonical(conditions)], 12))
}

/// Conditions as a string independent of their order and of the order of their values.
pub fn canonical(conditions: &[Value]) -> String {
    fn norm(v: &Value) -> Value {
        match v {
            Value::Array(a) => {
                let mut items: Vec<Value> = a.iter().map(norm).collect();
                items.sort_by_key(|x| x.to_string());
                Value::Array(items)
            }
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), norm(v))).collect())
            }
            other => other.clone(),
        }
    }
    norm(&Value::Array(conditions.to_vec())).to_string()
}

fn conflict(
    member: &ObjectRef,
    group: &ObjectRef,
    key: &str,
    value: &str,
    existing: &str,
    by: &ObjectRef,
) -> Error {
    Error::InvalidAnnotation {
        object: member.clone(),
        annotation: format!("{}{key}", ann::PREFIX),
        value: value.to_string(),
        expected: format!(
            "the Ingress group {} already has {key}={existing:?} from {by} (earlier by group.order, namespace and name); the members of a group must agree",
            display_group(group)
        ),
    }
}

fn agree<T: Clone + PartialEq + std::fmt::Debug>(
    slot: &mut Option<Set<T>>,
    value: &Option<T>,
    member: &ObjectRef,
    group: &ObjectRef,
    key: &str,
    show: impl Fn(&T) -> String,
) -> Result<()> {
    let Some(v) = value else { return Ok(()) };
    match slot {
        Some(s) if s.value != *v => Err(conflict(
            member,
            group,
            key,
            &show(v),
            &show(&s.value),
            &s.by,
        )),
        Some(_) => Ok(()),
        None => {
            *slot = Some(Set {
                value: v.clone(),
                by: member.clone(),
            });
            Ok(())
        }
    }
}

fn agree_map(
    slot: &mut BTreeMap<String, Set<String>>,
    values: &BTreeMap<String, String>,
    member: &ObjectRef,
    group: &ObjectRef,
    key: &str,
) -> Result<()> {
    for (k, v) in values {
        match slot.get(k) {
            Some(s) if s.value != *v => {
                return Err(conflict(
                    member,
                    group,
                    key,
                    &format!("{k}={v}"),
                    &format!("{k}={}", s.value),
                    &s.by,
                ))
            }
            Some(_) => {}
            None => {
                slot.insert(
                    k.clone(),
                    Set {
                        value: v.clone(),
                        by: member.clone(),
                    },
                );
            }
        }
    }
    Ok(())
}

/// Where the group's load balancer goes, as its accepted members say: (internal, the `subnets`
/// annotation if any member set it). The provider discovers subnets from this, then translates
/// again with the facts.
pub fn placement(group: &IngressGroup) -> Option<(bool, Option<Vec<String>>)> {
    let (_, acc) = translate_acc(group, &AwsFacts::default());
    (acc.accepted > 0).then(|| {
        (
            acc.scheme.is_none_or(|s| s.value == "internal"),
            acc.subnets.map(|s| s.value),
        )
    })
}

/// Translates a group. Members are never fatal: each failure rejects only that member.
pub fn translate(group: &IngressGroup, facts: &AwsFacts) -> GroupDesired {
    let (mut out, acc) = translate_acc(group, facts);
    if acc.accepted > 0 {
        out.resources = finish(group, acc, facts);
        crate::aws::attributes::mark(&mut out.resources);
    }
    out
}

fn translate_acc(group: &IngressGroup, facts: &AwsFacts) -> (GroupDesired, Acc) {
    let mut out = GroupDesired::default();
    let mut parsed: Vec<(&Member, IngressSettings)> = Vec::new();
    for m in &group.members {
        match ann::parse(&m.object, &m.annotations) {
            Ok(s) => parsed.push((m, s)),
            Err(e) => out.rejected.push((m.object.clone(), e)),
        }
    }
    parsed.sort_by(|(a, sa), (b, sb)| {
        (sa.order, &a.object.namespace, &a.object.name).cmp(&(
            sb.order,
            &b.object.namespace,
            &b.object.name,
        ))
    });
    let mut acc = Acc::default();
    for (m, s) in parsed {
        let mut next = acc.clone();
        match add_member(&mut next, group, m, &s, facts) {
            Ok(()) => {
                next.accepted += 1;
                acc = next;
            }
            Err(e) => out.rejected.push((m.object.clone(), e)),
        }
    }
    (out, acc)
}

/// The group's owner reference for an explicit group name (no namespace).
pub fn explicit_group(name: &str) -> ObjectRef {
    ObjectRef {
        kind: FrontendKind::IngressGroup,
        namespace: String::new(),
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests;
