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

/// The backend port name that points at `actions.<service name>` instead of a Service.
pub const USE_ANNOTATION: &str = "use-annotation";

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

fn add_member(
    acc: &mut Acc,
    group: &IngressGroup,
    m: &Member,
    s: &IngressSettings,
    facts: &AwsFacts,
) -> Result<()> {
    let me = &m.object;
    let g = &group.object;
    agree(&mut acc.scheme, &s.scheme, me, g, ann::SCHEME, |v| {
        v.clone()
    })?;
    agree(&mut acc.subnets, &s.subnets, me, g, ann::SUBNETS, |v| {
        v.join(",")
    })?;
    agree(
        &mut acc.security_groups,
        &s.security_groups,
        me,
        g,
        ann::SECURITY_GROUPS,
        |v| v.join(","),
    )?;
    agree(
        &mut acc.ip_address_type,
        &s.ip_address_type,
        me,
        g,
        ann::IP_ADDRESS_TYPE,
        |v| v.clone(),
    )?;
    agree(
        &mut acc.inbound_cidrs,
        &s.inbound_cidrs,
        me,
        g,
        ann::INBOUND_CIDRS,
        |v| v.join(","),
    )?;
    if let Some(c) = &acc.inbound_cidrs {
        let v6 = c.value.iter().find(|x| x.contains(':'));
        let ip_type = acc.ip_address_type.as_ref().map(|t| t.value.as_str());
        if let (Some(v6), None, false) = (v6, &acc.security_groups, dualstack(ip_type)) {
            return Err(ann::ctx(me).err(
                ann::INBOUND_CIDRS,
                &c.value.join(","),
                format!(
                    "{v6} is an IPv6 CIDR, but the load balancer of the Ingress group {} is {} (IPv6 clients need {}{}: dualstack)",
                    display_group(g),
                    ip_type.unwrap_or("ipv4"),
                    ann::PREFIX,
                    ann::IP_ADDRESS_TYPE
                ),
            ));
        }
    }
    // With `security-groups` the load balancer's groups are the user's, which berth never
    // changes: `inbound-cidrs` could not be honoured, so it is refused rather than ignored.
    if let (Some(c), Some(sgs)) = (&acc.inbound_cidrs, &acc.security_groups) {
        return Err(ann::ctx(me).err(
            ann::INBOUND_CIDRS,
            &c.value.join(","),
            format!(
                "the Ingress group {} uses the security groups {} ({}{}), which berth does not change, so inbound-cidrs cannot be applied: allow these CIDRs in those groups and remove inbound-cidrs, or remove security-groups to let berth manage the load balancer's security group",
                display_group(g),
                sgs.value.join(","),
                ann::PREFIX,
                ann::SECURITY_GROUPS
            ),
        ));
    }
    agree(&mut acc.lb_name, &s.lb_name, me, g, ann::LB_NAME, |v| {
        v.clone()
    })?;
    agree(
        &mut acc.ssl_policy,
        &s.ssl_policy,
        me,
        g,
        ann::SSL_POLICY,
        |v| v.clone(),
    )?;
    agree(
        &mut acc.ssl_redirect,
        &s.ssl_redirect,
        me,
        g,
        ann::SSL_REDIRECT,
        |v| v.to_string(),
    )?;
    agree_map(&mut acc.tags, &s.tags, me, g, ann::TAGS)?;
    agree_map(
        &mut acc.lb_attributes,
        &s.lb_attributes,
        me,
        g,
        ann::LB_ATTRIBUTES,
    )?;
    for (proto, port) in &s.listen_ports {
        agree(
            &mut acc.listeners.get(port).cloned(),
            &Some(*proto),
            me,
            g,
            ann::LISTEN_PORTS,
            |p| format!("{}:{port}", p.as_str()),
        )?;
        acc.listeners.entry(*port).or_insert(Set {
            value: *proto,
            by: me.clone(),
        });
    }
    for c in &s.certificates {
        if !acc.certificates.contains(c) {
            acc.certificates.push(c.clone());
        }
    }
    if !m.tls.is_empty() && s.certificates.is_empty() {
        return Err(Error::InvalidField {
            object: me.clone(),
            field: "spec.tls".into(),
            value: m
                .tls
                .iter()
                .flat_map(|t| t.hosts.iter().cloned())
                .collect::<Vec<_>>()
                .join(","),
            expected: format!(
                "berth does not discover ACM certificates by host yet; set {}{}",
                ann::PREFIX,
                ann::CERTIFICATE_ARN
            ),
        });
    }

    if let Some(b) = &m.default_backend {
        let action = backend_action(acc, group, m, s, b, "spec.defaultBackend", facts)?;
        agree(&mut acc.default_action, &Some(action), me, g, "spec.defaultBackend", |v| Value::Array(v.clone()).to_string())
            .map_err(|_| Error::InvalidField {
                object: me.clone(),
                field: "spec.defaultBackend".into(),
                value: format!("{}:{}", b.service, port_str(&b.port)),
                expected: format!(
                    "the Ingress group {} already has a different default backend from {}; only one member of a group may set one",
                    display_group(g),
                    acc.default_action.as_ref().map(|s| s.by.to_string()).unwrap_or_default()
                ),
            })?;
    }

    // Rules, most specific first within this member.
    let mut paths = Vec::new();
    for (i, r) in m.rules.iter().enumerate() {
        for (j, p) in r.paths.iter().enumerate() {
            paths.push((i, j, r.host.as_deref(), p));
        }
    }
    paths.sort_by_key(|(_, _, host, p)| rules::specificity(*host, &p.path, p.path_type));
    let mut mine: Vec<(Vec<Value>, Vec<Value>, String)> = Vec::new();
    for (i, j, host, p) in paths {
        let field = format!("spec.rules[{i}].http.paths[{j}]");
        let action = backend_action(
            acc,
            group,
            m,
            s,
            &p.backend,
            &format!("{field}.backend"),
            facts,
        )?;
        let mut conditions = Vec::new();
        if let Some(h) = host {
            conditions.push(json!({"Field": "host-header", "HostHeaderConfig": {"Values": [h]}}));
        }
        let patterns = if p.path.is_empty() && p.path_type == PathType::ImplementationSpecific {
            Vec::new()
        } else {
            rules::path_patterns(&p.path, p.path_type)
        };
        if !patterns.is_empty() {
            conditions
                .push(json!({"Field": "path-pattern", "PathPatternConfig": {"Values": patterns}}));
        }
        if let Some(extra) = s.conditions.get(&p.backend.service) {
            conditions.extend(extra.iter().cloned());
        }
        if conditions.is_empty() {
            conditions
                .push(json!({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}));
        }
        let key = canonical(&conditions);
        if mine.iter().any(|(_, _, k)| *k == key) {
            return Err(Error::InvalidField {
                object: me.clone(),
                field,
                value: format!("{}{}", host.unwrap_or(""), p.path),
                expected: "another path of this Ingress has the same host, path and conditions; remove one".into(),
            });
        }
        for (_, port) in &s.listen_ports {
            if let Some(by) = acc.conditions.get(&(*port, key.clone())) {
                return Err(Error::InvalidField {
                    object: me.clone(),
                    field,
                    value: format!("{}{}", host.unwrap_or(""), p.path),
                    expected: format!(
                        "{by} (earlier in the Ingress group {} by group.order, namespace and name) already routes the same host and path on port {port}",
                        display_group(g)
                    ),
                });
            }
        }
        mine.push((conditions, action, key));
    }
    for (_, port) in &s.listen_ports {
        for (conditions, action, key) in &mine {
            acc.conditions.insert((*port, key.clone()), me.clone());
            acc.rules.push(RuleDraft {
                port: *port,
                conditions: conditions.clone(),
                actions: action.clone(),
            });
        }
    }
    Ok(())
}

fn port_str(p: &BackendPort) -> String {
    match p {
        BackendPort::Number(n) => n.to_string(),
        BackendPort::Name(n) => n.clone(),
    }
}

/// The actions for a backend: `use-annotation` -> the member's `actions.<service>`, else a
/// forward to the backend's target group (created in `acc` if new).
fn backend_action(
    acc: &mut Acc,
    group: &IngressGroup,
    m: &Member,
    s: &IngressSettings,
    b: &Backend,
    field: &str,
    facts: &AwsFacts,
) -> Result<Vec<Value>> {
    if b.port == BackendPort::Name(USE_ANNOTATION.into()) {
        let spec = s
            .actions
            .get(&b.service)
            .cloned()
            .ok_or_else(|| Error::InvalidField {
                object: m.object.clone(),
                field: format!("{field}.service.name"),
                value: b.service.clone(),
                expected: format!(
                    "port use-annotation needs the annotation {}{}{}",
                    ann::PREFIX,
                    ann::ACTIONS,
                    b.service
                ),
            })?;
        return Ok(vec![match spec {
            ActionSpec::Redirect(r) => json!({"Type": "redirect", "RedirectConfig": r}),
            ActionSpec::FixedResponse(f) => {
                json!({"Type": "fixed-response", "FixedResponseConfig": f})
            }
            ActionSpec::Forward {
                targets,
                stickiness,
            } => {
                let mut refs = Vec::new();
                for t in targets {
                    match t {
                        ForwardTarget::Arn { arn, weight } => refs.push((json!(arn), weight)),
                        ForwardTarget::Service { name, port, weight } => {
                            let found = m
                                .annotation_backends
                                .iter()
                                .chain(
                                    m.rules
                                        .iter()
                                        .flat_map(|r| r.paths.iter().map(|p| &p.backend)),
                                )
                                .find(|x| x.service == name && x.port == port)
                                .cloned()
                                .unwrap_or(Backend {
                                    service: name.clone(),
                                    port: port.clone(),
                                    resolved: Err(format!(
                                        "Service {}/{name} was not gathered",
                                        m.object.namespace
                                    )),
                                });
                            let key = format!("{}{}{}", ann::PREFIX, ann::ACTIONS, b.service);
                            let tg = target_group(acc, group, m, &found, &key, facts)?;
                            refs.push((json!({"Ref": tg}), weight));
                        }
                    }
                }
                rules::forward(&refs, stickiness)
            }
        }]);
    }
    let tg = target_group(acc, group, m, b, field, facts)?;
    Ok(vec![rules::forward(&[(json!({"Ref": tg}), None)], None)])
}

/// The target group for a backend (added to `acc` unless an identical one is there); its name.
fn target_group(
    acc: &mut Acc,
    group: &IngressGroup,
    m: &Member,
    b: &Backend,
    field: &str,
    facts: &AwsFacts,
) -> Result<String> {
    let me = &m.object;
    let svc_ref = format!("{}/{}", me.namespace, b.service);
    let resolved = b.resolved.as_ref().map_err(|why| Error::InvalidField {
        object: me.clone(),
        field: field.to_string(),
        value: format!("{}:{}", b.service, port_str(&b.port)),
        expected: why.clone(),
    })?;
    let s: TgSettings =
        ann::tg_settings(me, &m.annotations, &svc_ref, &resolved.service_annotations)?;
    let sp = &resolved.port;
    let (port, targets): (u16, Vec<(String, u16)>) = if s.target_type == "instance" {
        let node_port = sp.node_port.ok_or_else(|| Error::InvalidField {
            object: me.clone(),
            field: field.to_string(),
            value: format!("{}:{}", b.service, port_str(&b.port)),
            expected: format!("instance targets need a NodePort, and Service {svc_ref} port {} has none: make the Service type NodePort or LoadBalancer, or set {}{}: ip", sp.port, ann::PREFIX, ann::TARGET_TYPE),
        })?;
        (node_port, instance_targets(&group.nodes, node_port))
    } else {
        if let Some(why) = &group.endpoints_unavailable {
            return Err(Error::Unavailable(format!(
                "{me}: ip targets for Service {svc_ref} need pod endpoints, which are unavailable: {why}"
            )));
        }
        let mut t: Vec<(String, u16)> = sp
            .endpoints
            .iter()
            .map(|e| (e.ip.clone(), e.port))
            .collect();
        t.sort();
        t.dedup();
        let port = sp
            .target_port
            .or_else(|| t.first().map(|x| x.1))
            .unwrap_or(sp.port);
        (port, t)
    };
    let version = s.protocol_version.clone().unwrap_or_else(|| "HTTP1".into());
    let stack = tags::stack_value(&group.object);
    let name_hash = hash_hex(
        &[
            &group.cluster,
            &stack,
            &me.namespace,
            &b.service,
            &sp.port.to_string(),
            &s.target_type,
            &s.protocol,
            &version,
            &port.to_string(),
        ],
        10,
    );
    let tg_name = format!(
        "k8s-{}-{}-{name_hash}",
        sanitize(&me.namespace, 8),
        sanitize(&b.service, 8)
    );

    let mut p = Map::new();
    p.insert("Name".into(), json!(tg_name));
    p.insert("Protocol".into(), json!(s.protocol));
    p.insert("ProtocolVersion".into(), json!(version));
    p.insert("Port".into(), json!(port));
    p.insert("TargetType".into(), json!(s.target_type));
    if let Some(vpc) = &facts.vpc_id {
        p.insert("VpcId".into(), json!(vpc));
    }
    let hc_port = match &s.hc_port {
        HcPort::TrafficPort => "traffic-port".to_string(),
        HcPort::Number(n) => n.to_string(),
        HcPort::Named(name) => {
            let n = (sp.name.as_deref() == Some(name.as_str()))
                .then(|| {
                    if s.target_type == "instance" {
                        sp.node_port
                    } else {
                        sp.target_port
                    }
                })
                .flatten();
            match n {
                Some(n) => n.to_string(),
                None => {
                    return Err(ann::ctx(me).err(
                        ann::HC_PORT,
                        name,
                        format!("expected traffic-port, a port number, or the name of the backend's Service port ({}) when it has a NodePort (instance) or numeric targetPort (ip)", sp.name.clone().unwrap_or_default()),
                    ))
                }
            }
        }
    };
    let grpc = version == "GRPC";
    p.insert("HealthCheckEnabled".into(), json!(true));
    p.insert(
        "HealthCheckProtocol".into(),
        json!(s.hc_protocol.clone().unwrap_or_else(|| s.protocol.clone())),
    );
    p.insert("HealthCheckPort".into(), json!(hc_port));
    let default_path = if grpc { "/AWS.ALB/healthcheck" } else { "/" };
    p.insert(
        "HealthCheckPath".into(),
        json!(s.hc_path.clone().unwrap_or_else(|| default_path.into())),
    );
    p.insert("HealthCheckIntervalSeconds".into(), json!(s.hc_interval));
    p.insert("HealthCheckTimeoutSeconds".into(), json!(s.hc_timeout));
    p.insert("HealthyThresholdCount".into(), json!(s.hc_healthy));
    p.insert("UnhealthyThresholdCount".into(), json!(s.hc_unhealthy));
    if grpc {
        p.insert(
            "Matcher".into(),
            json!({"GrpcCode": s.success_codes.clone().unwrap_or_else(|| "12".into())}),
        );
    } else {
        p.insert(
            "Matcher".into(),
            json!({"HttpCode": s.success_codes.clone().unwrap_or_else(|| "200".into())}),
        );
    }
    if !s.attributes.is_empty() {
        p.insert(
            "TargetGroupAttributes".into(),
            Value::Array(
                s.attributes
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect(),
            ),
        );
    }
    p.insert(
        "Targets".into(),
        Value::Array(
            targets
                .iter()
                .map(|(id, port)| json!({"Id": id, "Port": port}))
                .collect(),
        ),
    );
    let resource = format!("{svc_ref}:{}", sp.port);
    let tg_tags: BTreeMap<String, String> = acc
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    p.insert(
        "Tags".into(),
        tags::owner_tags(&group.cluster, &group.object, &resource, &tg_tags),
    );

    if let Some((existing, by)) = acc.tgs.iter().find(|(r, _)| r.name == tg_name) {
        // Tags follow the group (filled in at the end); compare the rest.
        let differ: Vec<&String> = p
            .iter()
            .filter(|(k, v)| *k != "Tags" && existing.properties.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        if !differ.is_empty() {
            return Err(Error::InvalidField {
                object: me.clone(),
                field: field.to_string(),
                value: format!("{}:{}", b.service, port_str(&b.port)),
                expected: format!(
                    "{by} already uses Service {svc_ref} port {} with different target-group settings ({}); put the settings on the Service, or make them agree",
                    sp.port,
                    differ.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        return Ok(tg_name);
    }
    acc.tgs.push((
        Resource {
            kind: KIND_TG.into(),
            name: tg_name.clone(),
            properties: p,
        },
        me.clone(),
    ));
    Ok(tg_name)
}

fn finish(group: &IngressGroup, acc: Acc, facts: &AwsFacts) -> Vec<Resource> {
    let owner = &group.object;
    let user_tags: BTreeMap<String, String> = acc
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let scheme = acc
        .scheme
        .map(|s| s.value)
        .unwrap_or_else(|| "internal".into());
    let lb_name = acc
        .lb_name
        .map(|s| s.value)
        .unwrap_or_else(|| lb_generated_name(&group.cluster, owner, &scheme));

    let mut out = Vec::new();
    // Without `security-groups`, berth creates and owns the load balancer's security group:
    // TCP on every listener port from `inbound-cidrs` (default 0.0.0.0/0, and ::/0 when
    // dualstack), as the aws-load-balancer-controller's managed frontend security group.
    let managed_sg = acc.security_groups.is_none().then(|| {
        let ip_type = acc.ip_address_type.as_ref().map(|t| t.value.as_str());
        let cidrs = acc
            .inbound_cidrs
            .as_ref()
            .map(|c| c.value.clone())
            .unwrap_or_else(|| sg::everyone(sg::dualstack(ip_type)));
        let rules: Vec<Value> = acc
            .listeners
            .keys()
            .flat_map(|port| cidrs.iter().map(|c| sg::ingress_rule("tcp", *port, c)))
            .collect();
        let r = sg::managed(
            &group.cluster,
            owner,
            facts.vpc_id.as_deref(),
            rules,
            &user_tags,
        );
        let name = r.name.clone();
        out.push(r);
        name
    });
    let mut lb = Map::new();
    lb.insert("Name".into(), json!(lb_name));
    lb.insert("Type".into(), json!("application"));
    lb.insert("Scheme".into(), json!(scheme));
    let subnets = facts.subnets.clone().or_else(|| {
        acc.subnets
            .as_ref()
            .map(|s| s.value.clone())
            .filter(|l| l.iter().all(|s| s.starts_with("subnet-")))
    });
    if let Some(s) = subnets {
        lb.insert("Subnets".into(), json!(s));
    }
    if let Some(sg) = &acc.security_groups {
        lb.insert("SecurityGroups".into(), json!(sg.value));
    } else if let Some(name) = &managed_sg {
        lb.insert("SecurityGroups".into(), json!([{"Ref": name}]));
    }
    if let Some(t) = &acc.ip_address_type {
        lb.insert("IpAddressType".into(), json!(t.value));
    }
    if !acc.lb_attributes.is_empty() {
        lb.insert(
            "LoadBalancerAttributes".into(),
            Value::Array(
                acc.lb_attributes
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v.value}))
                    .collect(),
            ),
        );
    }
    lb.insert(
        "Tags".into(),
        tags::owner_tags(&group.cluster, owner, "LoadBalancer", &user_tags),
    );
    out.push(Resource {
        kind: KIND_LB.into(),
        name: lb_name.clone(),
        properties: lb,
    });

    for (mut tg, _) in acc.tgs {
        // Every target group carries the group's tags (a later member may have added some).
        let resource = tg
            .properties
            .get("Tags")
            .and_then(|t| {
                t.as_array()?
                    .iter()
                    .find(|x| x["Key"] == tags::resource_key(owner))
                    .cloned()
            })
            .and_then(|x| x["Value"].as_str().map(String::from))
            .unwrap_or_default();
        tg.properties.insert(
            "Tags".into(),
            tags::owner_tags(&group.cluster, owner, &resource, &user_tags),
        );
        out.push(tg);
    }

    let default_action = acc
        .default_action
        .map(|s| s.value)
        .unwrap_or_else(|| vec![rules::fixed_404()]);
    let redirect = acc.ssl_redirect.map(|s| s.value);
    let mut listener_rules = Vec::new();
    for (port, proto) in &acc.listeners {
        let l_name = listener_name(&lb_name, *port);
        let mut m = Map::new();
        m.insert("LoadBalancerArn".into(), json!({"Ref": lb_name}));
        m.insert("Port".into(), json!(port));
        m.insert("Protocol".into(), json!(proto.value.as_str()));
        let redirected = proto.value == ListenProtocol::Http && redirect.is_some();
        if proto.value == ListenProtocol::Https {
            m.insert(
                "Certificates".into(),
                Value::Array(
                    acc.certificates
                        .iter()
                        .map(|c| json!({"CertificateArn": c}))
                        .collect(),
                ),
            );
            m.insert(
                "SslPolicy".into(),
                json!(acc
                    .ssl_policy
                    .as_ref()
                    .map(|s| s.value.as_str())
                    .unwrap_or(ann::DEFAULT_SSL_POLICY)),
            );
        }
        let actions = match redirect {
            Some(to) if redirected => vec![
                json!({"Type": "redirect", "RedirectConfig": rules::redirect_config("HTTPS", &to.to_string(), "#{host}", "/#{path}", "#{query}", "HTTP_301")}),
            ],
            _ => default_action.clone(),
        };
        m.insert("DefaultActions".into(), Value::Array(actions));
        // Ownership marks: listeners and rules someone else adds to the ALB carry none and are
        // left alone.
        m.insert(
            "Tags".into(),
            tags::owner_tags(&group.cluster, owner, "Listener", &BTreeMap::new()),
        );
        out.push(Resource {
            kind: KIND_LISTENER.into(),
            name: l_name.clone(),
            properties: m,
        });
        if redirected {
            // With ssl-redirect every HTTP request is redirected: no rules on HTTP listeners.
            continue;
        }
        for (i, r) in acc.rules.iter().filter(|r| r.port == *port).enumerate() {
            let mut p = Map::new();
            p.insert("ListenerArn".into(), json!({"Ref": l_name}));
            p.insert("Priority".into(), json!(i + 1));
            p.insert("Conditions".into(), Value::Array(r.conditions.clone()));
            p.insert("Actions".into(), Value::Array(r.actions.clone()));
            p.insert(
                "Tags".into(),
                tags::owner_tags(&group.cluster, owner, "ListenerRule", &BTreeMap::new()),
            );
            listener_rules.push(Resource {
                kind: KIND_RULE.into(),
                name: rule_name(&l_name, &r.conditions),
                properties: p,
            });
        }
    }
    out.extend(listener_rules);
    out
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
