//! Frontend (a Service) -> the NLB's desired resources, in CloudFormation's vocabulary.
//! Pure: everything read from the cloud (VPC, discovered subnets) comes in as [`AwsFacts`].

use super::annotations::{self as ann, HealthCheckPort, NlbAnnotations, TargetType};
use crate::aws::kinds::listener::certificates_mark;
use crate::aws::security_group as sg;
use crate::aws::{tags, KIND_LB, KIND_LISTENER, KIND_TG};
use crate::error::{Error, Result};
use crate::frontend::{Frontend, Protocol, ServicePort, TrafficPolicy};
use crate::naming::{hash_hex, sanitize};
use crate::plan::Resource;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The aws-load-balancer-controller's default TLS policy for NLB listeners.
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

/// What berth learned from the cloud before translating. Offline (`berth plan`) both are unknown
/// and the properties that need them are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsFacts {
    pub vpc_id: Option<String>,
    pub subnets: Option<Vec<String>>,
    /// The security group of each target (instance ID or pod IP) that berth adds the NLB's
    /// rules to (`manage-backend-security-group-rules`); unknown offline, then no rules are
    /// planned.
    pub target_security_groups: Option<crate::aws::backend_rules::TargetGroups>,
}

/// One listener: a Service port (or a TCP+UDP pair on the same port, which NLB serves as TCP_UDP).
struct Listen<'a> {
    port: &'a ServicePort,
    protocol: &'static str,
    tls: bool,
}

pub fn translate(fe: &Frontend, a: &NlbAnnotations, facts: &AwsFacts) -> Result<Vec<Resource>> {
    let listens = listeners(fe, a)?;
    let scheme = if a.internal {
        "internal"
    } else {
        "internet-facing"
    };
    let lb_name = match &a.name {
        Some(n) => n.clone(),
        None => generated_name(fe, &[scheme]),
    };

    let mut out = Vec::new();
    let mut lb = Map::new();
    lb.insert("Name".into(), json!(lb_name));
    lb.insert("Type".into(), json!("network"));
    lb.insert("Scheme".into(), json!(scheme));
    if let Some(s) = subnets(a, facts) {
        lb.insert("Subnets".into(), json!(s));
    }
    // Always written (ipv4 unless annotated), so removing the annotation goes back to ipv4.
    lb.insert(
        "IpAddressType".into(),
        json!(a.ip_address_type.as_deref().unwrap_or("ipv4")),
    );
    if !a.lb_attributes.is_empty() {
        lb.insert(
            "LoadBalancerAttributes".into(),
            key_values(&a.lb_attributes),
        );
    }
    let managed_sg = match &a.security_groups {
        Some(ids) => {
            lb.insert("SecurityGroups".into(), json!(ids));
            None
        }
        None => {
            let sg = managed_security_group(fe, a, &listens, facts)?;
            lb.insert("SecurityGroups".into(), json!([{"Ref": sg.name}]));
            Some(sg)
        }
    };
    lb.insert(
        "Tags".into(),
        tags::resource_tags(fe, "LoadBalancer", &a.tags),
    );
    out.push(Resource {
        kind: KIND_LB.into(),
        name: lb_name.clone(),
        properties: lb,
    });

    let mut tgs = Vec::new();
    let mut lis = Vec::new();
    for l in &listens {
        let tg = target_group(fe, a, l, &lb_name, facts)?;
        let mut m = Map::new();
        m.insert("LoadBalancerArn".into(), json!({"Ref": lb_name}));
        m.insert("Port".into(), json!(l.port.port));
        m.insert("Protocol".into(), json!(l.protocol));
        if l.tls {
            let certs: Vec<Value> = a
                .ssl_certs
                .iter()
                .map(|c| json!({"CertificateArn": c}))
                .collect();
            m.insert("Certificates".into(), Value::Array(certs));
            m.insert(
                "SslPolicy".into(),
                json!(a.ssl_policy.as_deref().unwrap_or(DEFAULT_SSL_POLICY)),
            );
            if let Some(p) = &a.alpn_policy {
                m.insert("AlpnPolicy".into(), json!([p]));
            }
        }
        m.insert(
            "DefaultActions".into(),
            json!([{"Type": "forward", "TargetGroupArn": {"Ref": tg.name}}]),
        );
        // Ownership marks: a listener someone else adds to the NLB carries none and is left alone.
        let mark = if l.tls {
            certificates_mark(&a.ssl_certs)
        } else {
            BTreeMap::new()
        };
        m.insert("Tags".into(), tags::resource_tags(fe, "Listener", &mark));
        lis.push(Resource {
            kind: KIND_LISTENER.into(),
            name: listener_name(&lb_name, l.port.port),
            properties: m,
        });
        tgs.push(tg);
    }
    let backend_rules = match (&managed_sg, &facts.target_security_groups) {
        (Some(sg), Some(groups)) if a.manage_backend_rules => {
            crate::aws::backend_rules::desired(&fe.object, &tgs, &sg.name, groups)?
        }
        _ => Vec::new(),
    };
    out.extend(tgs);
    out.extend(lis);
    out.extend(managed_sg);
    out.extend(backend_rules);
    crate::aws::attributes::mark(&mut out);
    Ok(out)
}

/// The NLB's own security group (the aws-load-balancer-controller's managed frontend group):
/// every listener port, for its protocols, from each source range (default everyone: 0.0.0.0/0,
/// and ::/0 when dualstack; nobody but the prefix lists when only those are set) and from each
/// prefix list. Always created with the NLB: AWS cannot add security groups to an NLB created
/// without one, so restricting access later must not need a new load balancer.
/// AWS's quota of listeners per Network Load Balancer.
const MAX_LISTENERS: usize = 50;

fn managed_security_group(
    fe: &Frontend,
    a: &NlbAnnotations,
    listens: &[Listen<'_>],
    facts: &AwsFacts,
) -> Result<Resource> {
    let mut sources = fe.source_ranges.clone();
    if sources.is_empty() && a.prefix_lists.is_empty() {
        sources = sg::everyone(sg::dualstack(a.ip_address_type.as_deref()));
    }
    sources.extend(a.prefix_lists.iter().cloned());
    let mut rules = Vec::new();
    for l in listens {
        let protocols: &[&str] = match l.protocol {
            "UDP" => &["udp"],
            "TCP_UDP" => &["tcp", "udp"],
            _ => &["tcp"],
        };
        for proto in protocols {
            rules.extend(
                sources
                    .iter()
                    .map(|s| sg::ingress_rule(proto, l.port.port, s)),
            );
        }
    }
    sg::check_rule_quota(&fe.object, "spec.loadBalancerSourceRanges", &rules)?;
    Ok(sg::managed(
        &fe.cluster,
        &fe.object,
        facts.vpc_id.as_deref(),
        rules,
        &a.tags,
    ))
}

/// The targets whose security groups the backend rules go to: the EC2 instances of the nodes
/// (instance targets) or the ready pod IPs (ip targets).
pub fn target_ids(fe: &Frontend, a: &NlbAnnotations) -> (Vec<String>, Vec<String>) {
    let mut ids: Vec<String> = match a.target_type {
        TargetType::Instance => instance_targets(&target_nodes(fe, a), 0)
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
        TargetType::Ip => fe
            .ports
            .iter()
            .flat_map(|p| p.endpoints.iter().map(|e| e.ip.clone()))
            .collect(),
    };
    ids.sort();
    ids.dedup();
    match a.target_type {
        TargetType::Instance => (ids, Vec::new()),
        TargetType::Ip => (Vec::new(), ids),
    }
}

pub fn listener_name(lb_name: &str, port: u16) -> String {
    format!("{lb_name}:{port}")
}

/// `k8s-<namespace>-<name>-<hash>`, 32 characters at most (the AWS limit for LB and TG names).
fn generated_name(fe: &Frontend, extra: &[&str]) -> String {
    let mut parts = vec![
        fe.cluster.as_str(),
        fe.object.namespace.as_str(),
        fe.object.name.as_str(),
    ];
    parts.extend_from_slice(extra);
    format!(
        "k8s-{}-{}-{}",
        sanitize(&fe.object.namespace, 8),
        sanitize(&fe.object.name, 8),
        hash_hex(&parts, 10)
    )
}

fn subnets(a: &NlbAnnotations, facts: &AwsFacts) -> Option<Vec<String>> {
    if let Some(s) = &facts.subnets {
        return Some(s.clone());
    }
    match &a.subnets {
        ann::Subnets::Listed(l) if l.iter().all(|s| s.starts_with("subnet-")) => Some(l.clone()),
        _ => None,
    }
}

fn key_values(m: &BTreeMap<String, String>) -> Value {
    Value::Array(
        m.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

fn listeners<'a>(fe: &'a Frontend, a: &NlbAnnotations) -> Result<Vec<Listen<'a>>> {
    if fe.ports.is_empty() {
        return Err(Error::InvalidField {
            object: fe.object.clone(),
            field: "spec.ports".into(),
            value: "[]".into(),
            expected: "a LoadBalancer Service needs at least one port".into(),
        });
    }
    let wants_tls = |p: &crate::frontend::ServicePort| {
        !a.ssl_certs.is_empty()
            && a.ssl_ports.as_ref().is_none_or(|ports| {
                ports
                    .iter()
                    .any(|i| *i == p.port.to_string() || p.name.as_deref() == Some(i.as_str()))
            })
    };
    let mut out: Vec<Listen<'a>> = Vec::new();
    let distinct: BTreeSet<u16> = fe.ports.iter().map(|p| p.port).collect();
    if distinct.len() > MAX_LISTENERS {
        return Err(Error::InvalidField {
            object: fe.object.clone(),
            field: "spec.ports".into(),
            value: format!("{} ports", distinct.len()),
            expected: format!("at most {MAX_LISTENERS} ports: AWS's quota of listeners per Network Load Balancer (one per port)"),
        });
    }
    for p in &fe.ports {
        if p.protocol == Protocol::Sctp {
            return Err(Error::InvalidField {
                object: fe.object.clone(),
                field: format!("spec.ports[{}/{}].protocol", p.port, p.protocol.as_str()),
                value: "SCTP".into(),
                expected: "a Network Load Balancer serves TCP and UDP".into(),
            });
        }
        if let Some(prev) = out.iter_mut().find(|l| l.port.port == p.port) {
            // TCP and UDP on one port become one TCP_UDP listener (as the AWS controller does).
            if prev.port.node_port != p.node_port && a.target_type == TargetType::Instance {
                return Err(Error::InvalidField {
                    object: fe.object.clone(),
                    field: format!("spec.ports[{}/{}].nodePort", p.port, p.protocol.as_str()),
                    value: format!("{:?} and {:?}", prev.port.node_port, p.node_port),
                    expected: "TCP and UDP on the same port are served as TCP_UDP and need the same nodePort".into(),
                });
            }
            // A TCP_UDP listener has no TLS: never drop TLS silently.
            if wants_tls(p) || wants_tls(prev.port) {
                let ssl_ports = format!("{}{}", ann::PREFIXES[0], ann::SSL_PORTS);
                return Err(Error::InvalidAnnotation {
                    object: fe.object.clone(),
                    annotation: ssl_ports.clone(),
                    value: a.ssl_ports.as_ref().map_or_else(|| "(unset: every TCP port)".into(), |v| v.join(",")),
                    expected: format!("ports that are not also served over UDP: port {} has TCP and UDP, which one TCP_UDP listener serves, and TLS cannot; list the TLS ports in {ssl_ports} without it, or drop its UDP entry", p.port),
                });
            }
            prev.protocol = "TCP_UDP";
            continue;
        }
        let tls = p.protocol == Protocol::Tcp && wants_tls(p);
        let protocol = match (p.protocol, tls) {
            (_, true) => "TLS",
            (Protocol::Udp, _) => "UDP",
            _ => "TCP",
        };
        out.push(Listen {
            port: p,
            protocol,
            tls,
        });
    }
    Ok(out)
}

/// The name hashes the load balancer's name too: an NLB target group serves one load balancer,
/// so a replaced load balancer needs new target groups.
fn target_group(
    fe: &Frontend,
    a: &NlbAnnotations,
    l: &Listen<'_>,
    lb_name: &str,
    facts: &AwsFacts,
) -> Result<Resource> {
    let p = l.port;
    let protocol = if l.tls && a.backend_tls {
        "TLS"
    } else if l.tls {
        "TCP"
    } else {
        l.protocol
    };
    let (port, targets) = match a.target_type {
        TargetType::Instance => {
            let node_port = p.node_port.ok_or_else(|| Error::InvalidField {
                object: fe.object.clone(),
                field: format!("spec.ports[{}/{}].nodePort", p.port, p.protocol.as_str()),
                value: "unset".into(),
                expected: "instance targets need a NodePort: set spec.allocateLoadBalancerNodePorts to true, or use the annotation aws-load-balancer-nlb-target-type: ip".into(),
            })?;
            (node_port, instance_targets(&target_nodes(fe, a), node_port))
        }
        TargetType::Ip => {
            if let Some(why) = &fe.endpoints_unavailable {
                return Err(Error::Unavailable(format!(
                    "{}: ip targets need pod endpoints, which are unavailable: {why}",
                    fe.object
                )));
            }
            ip_targets(p)
        }
    };
    let tg_name = generated_name(
        fe,
        &[
            lb_name,
            &p.port.to_string(),
            protocol,
            a.target_type.as_str(),
            &port.to_string(),
        ],
    );

    let mut m = Map::new();
    m.insert("Name".into(), json!(tg_name));
    m.insert("Protocol".into(), json!(protocol));
    m.insert("Port".into(), json!(port));
    m.insert("TargetType".into(), json!(a.target_type.as_str()));
    if let Some(vpc) = &facts.vpc_id {
        m.insert("VpcId".into(), json!(vpc));
    }
    health_check(fe, a, &mut m)?;

    let mut attrs = a.tg_attributes.clone();
    if let Some(per) = a.tg_attributes_by_port.get(&p.port) {
        attrs.extend(per.clone());
    }
    if a.proxy_protocol {
        attrs
            .entry("proxy_protocol_v2.enabled".into())
            .or_insert_with(|| "true".into());
    }
    // sessionAffinity: ClientIP -> source_ip stickiness, unless the annotation sets stickiness.
    if fe.session_affinity_client_ip && !attrs.keys().any(|k| k.starts_with("stickiness.")) {
        attrs.insert("stickiness.enabled".into(), "true".into());
        attrs.insert("stickiness.type".into(), "source_ip".into());
    }
    if !attrs.is_empty() {
        m.insert("TargetGroupAttributes".into(), key_values(&attrs));
    }
    m.insert("Targets".into(), targets_value(&targets));
    let resource = format!("{}:{}", fe.object.stack(), p.port);
    m.insert("Tags".into(), tags::resource_tags(fe, &resource, &a.tags));
    Ok(Resource {
        kind: KIND_TG.into(),
        name: tg_name,
        properties: m,
    })
}

fn health_check(fe: &Frontend, a: &NlbAnnotations, m: &mut Map<String, Value>) -> Result<()> {
    let local =
        fe.external_traffic_policy == TrafficPolicy::Local && a.target_type == TargetType::Instance;
    let (def_proto, def_interval, def_timeout, def_threshold) = if local {
        ("HTTP", 10, 6, 2)
    } else {
        ("TCP", 10, 10, 3)
    };
    let protocol = a
        .hc_protocol
        .clone()
        .unwrap_or_else(|| def_proto.to_string());
    let port = match &a.hc_port {
        Some(HealthCheckPort::TrafficPort) => "traffic-port".to_string(),
        Some(HealthCheckPort::Number(n)) => n.to_string(),
        Some(HealthCheckPort::Named(name)) => {
            let p = fe.ports.iter().find(|p| p.name.as_deref() == Some(name)).map(|sp| match a.target_type {
                TargetType::Instance => sp.node_port,
                TargetType::Ip => sp.target_port,
            });
            match p.flatten() {
                Some(n) => n.to_string(),
                None => {
                    return Err(Error::InvalidAnnotation {
                        object: fe.object.clone(),
                        annotation: format!("{}{}", ann::PREFIXES[0], ann::HC_PORT),
                        value: name.clone(),
                        expected: "the named Service port has no NodePort (instance targets) or no numeric targetPort (ip targets); use a port number".into(),
                    })
                }
            }
        }
        None if local => match fe.health_check_node_port {
            Some(n) => n.to_string(),
            None => {
                return Err(Error::InvalidField {
                    object: fe.object.clone(),
                    field: "spec.healthCheckNodePort".into(),
                    value: "unset".into(),
                    expected: "externalTrafficPolicy: Local needs a healthCheckNodePort (Kubernetes allocates one for LoadBalancer Services)".into(),
                })
            }
        },
        None => "traffic-port".to_string(),
    };
    m.insert("HealthCheckEnabled".into(), json!(true));
    m.insert("HealthCheckProtocol".into(), json!(protocol));
    m.insert("HealthCheckPort".into(), json!(port));
    if protocol != "TCP" {
        let path = a.hc_path.clone().unwrap_or_else(|| {
            if local && a.hc_protocol.is_none() {
                "/healthz".into()
            } else {
                "/".into()
            }
        });
        m.insert("HealthCheckPath".into(), json!(path));
    }
    let (interval, timeout) = (
        a.hc_interval.unwrap_or(def_interval),
        a.hc_timeout.unwrap_or(def_timeout),
    );
    // ELBv2 refuses a timeout above the interval at CreateTargetGroup: refuse it here, before
    // any call, naming what was set.
    if timeout > interval {
        let (key, value, expected) = match a.hc_timeout {
            Some(t) => (
                ann::HC_TIMEOUT,
                t,
                format!(
                    "at most the health-check interval ({interval} s{})",
                    if a.hc_interval.is_none() {
                        ", the default"
                    } else {
                        ""
                    }
                ),
            ),
            None => (
                ann::HC_INTERVAL,
                interval,
                format!(
                    "at least the health-check timeout (the default {timeout} s), or set {}{} too",
                    ann::PREFIXES[0],
                    ann::HC_TIMEOUT
                ),
            ),
        };
        return Err(Error::InvalidAnnotation {
            object: fe.object.clone(),
            annotation: format!("{}{key}", ann::PREFIXES[0]),
            value: value.to_string(),
            expected,
        });
    }
    m.insert("HealthCheckIntervalSeconds".into(), json!(interval));
    m.insert("HealthCheckTimeoutSeconds".into(), json!(timeout));
    m.insert(
        "HealthyThresholdCount".into(),
        json!(a.hc_healthy.unwrap_or(def_threshold)),
    );
    m.insert(
        "UnhealthyThresholdCount".into(),
        json!(a.hc_unhealthy.unwrap_or(def_threshold)),
    );
    if protocol != "TCP" {
        m.insert(
            "Matcher".into(),
            json!({"HttpCode": a.hc_success_codes.clone().unwrap_or_else(|| "200-399".into())}),
        );
    }
    Ok(())
}

/// The nodes instance targets come from: all eligible ones, or those carrying every label of
/// `aws-load-balancer-target-node-labels`.
fn target_nodes(fe: &Frontend, a: &NlbAnnotations) -> Vec<crate::frontend::Node> {
    fe.nodes
        .iter()
        .filter(|n| {
            a.target_node_labels
                .iter()
                .all(|(k, v)| n.labels.get(k) == Some(v))
        })
        .cloned()
        .collect()
}

/// The EC2 instances of `nodes` on `port`, sorted, each once (nodes that are not EC2 instances
/// cannot be instance targets).
pub fn instance_targets(nodes: &[crate::frontend::Node], port: u16) -> Vec<(String, u16)> {
    let mut t: Vec<(String, u16)> = nodes
        .iter()
        .filter_map(|n| instance_id(n.provider_id.as_deref()?))
        .map(|id| (id, port))
        .collect();
    t.sort();
    t.dedup();
    t
}

/// `Targets` as a target group lists them: `[{Id, Port}]`.
pub fn targets_value(targets: &[(String, u16)]) -> Value {
    Value::Array(
        targets
            .iter()
            .map(|(id, port)| json!({"Id": id, "Port": port}))
            .collect(),
    )
}

/// The ready pod endpoints of a Service port, sorted, each once, and the target group's port:
/// the port's targetPort when numeric, else the endpoints' (a named port), else the port itself.
pub fn ip_targets(p: &crate::frontend::ServicePort) -> (u16, Vec<(String, u16)>) {
    let mut t: Vec<(String, u16)> = p.endpoints.iter().map(|e| (e.ip.clone(), e.port)).collect();
    t.sort();
    t.dedup();
    let port = p
        .target_port
        .or_else(|| t.first().map(|x| x.1))
        .unwrap_or(p.port);
    (port, t)
}

/// `aws:///us-east-1a/i-0123456789abcdef0` -> `i-0123456789abcdef0`. Nodes that are not EC2
/// instances (Fargate, other clouds) cannot be instance targets.
pub fn instance_id(provider_id: &str) -> Option<String> {
    let rest = provider_id.strip_prefix("aws://")?;
    let id = rest.rsplit('/').next()?;
    id.starts_with("i-").then(|| id.to_string())
}

#[cfg(test)]
mod tests;
