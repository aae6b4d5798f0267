//! Service -> regional passthrough Network Load Balancer, backend-service based, as GKE's L4
//! controllers build it: the cluster's instance group per zone (the Nodes), a health check
//! (kube-proxy's `/healthz` on 10256 shared by every `externalTrafficPolicy: Cluster` Service, or
//! the Service's own `healthCheckNodePort` for `Local`) with its firewall rule for Google's
//! checkers, a firewall rule for the clients, a RegionBackendService, and one ForwardingRule
//! (`L3_DEFAULT` when the Service mixes TCP and UDP). Pure.

use super::annotations::{self, NetworkTier, Scheme};
use crate::error::{Error, Result};
use crate::frontend::{Frontend, Protocol, TrafficPolicy};
use crate::gcp::description;
use crate::gcp::facts::{Facts, Instance};
use crate::gcp::kinds::*;
use crate::gcp::names;
use crate::plan::Resource;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Where Google's health checkers and passthrough load balancers' probes come from.
pub const HEALTH_CHECK_RANGES: [&str; 4] = [
    "130.211.0.0/22",
    "35.191.0.0/16",
    "209.85.152.0/22",
    "209.85.204.0/22",
];
/// kube-proxy's health endpoint on every node (what `externalTrafficPolicy: Cluster` checks).
pub const KUBE_PROXY_HEALTH_PORT: u16 = 10256;
/// A forwarding rule lists at most this many ports; more become a range (external) or all
/// ports (internal), as GKE does.
pub const MAX_LISTED_PORTS: usize = 5;
/// GKE's health-check firewall priority (ahead of default-priority deny rules).
const HEALTH_CHECK_FIREWALL_PRIORITY: u32 = 999;

fn field_err(fe: &Frontend, field: String, value: String, expected: &str) -> Error {
    Error::InvalidField {
        object: fe.object.clone(),
        field,
        value,
        expected: expected.to_string(),
    }
}

/// The ports by protocol (`tcp`, `udp`), refusing what a passthrough load balancer cannot carry.
fn ports_by_protocol(fe: &Frontend) -> Result<BTreeMap<&'static str, BTreeSet<u16>>> {
    if fe.ports.is_empty() {
        return Err(field_err(
            fe,
            "spec.ports".into(),
            "[]".into(),
            "at least one port",
        ));
    }
    let mut by: BTreeMap<&'static str, BTreeSet<u16>> = BTreeMap::new();
    for p in &fe.ports {
        let field = format!("spec.ports[{}/{}]", p.port, p.protocol.as_str());
        let proto = match p.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => {
                return Err(field_err(
                    fe,
                    format!("{field}.protocol"),
                    "SCTP".into(),
                    "TCP or UDP (GCP passthrough load balancers carry no SCTP)",
                ))
            }
        };
        if !by.entry(proto).or_default().insert(p.port) {
            return Err(field_err(
                fe,
                field,
                p.port.to_string(),
                "each port and protocol once",
            ));
        }
    }
    Ok(by)
}

/// The clients allowed in: IPv4 ranges (berth builds IPv4 load balancers on GCP).
fn client_ranges(fe: &Frontend) -> Result<Vec<String>> {
    if let Some(v6) = fe.source_ranges.iter().find(|r| r.contains(':')) {
        let field = if fe.source_ranges_from_annotation {
            crate::frontend::SOURCE_RANGES_ANNOTATION.to_string()
        } else {
            "spec.loadBalancerSourceRanges".to_string()
        };
        return Err(field_err(
            fe,
            field,
            v6.clone(),
            "IPv4 ranges (berth's GCP load balancers are IPv4 only)",
        ));
    }
    Ok(if fe.source_ranges.is_empty() {
        vec!["0.0.0.0/0".to_string()]
    } else {
        fe.source_ranges.clone()
    })
}

/// The cluster's instance group in every zone that has Nodes, with its members: by plan name
/// (`<zone>/<group>`), the group and its members resource.
pub fn instance_groups(
    cluster: &str,
    nodes: &[crate::frontend::Node],
    network: &str,
) -> Result<Vec<(String, Vec<Resource>)>> {
    let mut zones: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in nodes {
        let i = Instance::of(node)?;
        zones.entry(i.zone.clone()).or_default().push(i.url());
    }
    let group = names::instance_group(cluster);
    let shared = description::shared(cluster);
    Ok(zones
        .into_iter()
        .map(|(zone, mut instances)| {
            instances.sort();
            let plan_name = format!("{zone}/{group}");
            let members: Vec<Value> = instances.iter().map(|u| json!({"instance": u})).collect();
            let resources = vec![
                resource(
                    INSTANCE_GROUP,
                    &plan_name,
                    json!({"name": group, "description": shared, "network": network}),
                ),
                resource(
                    INSTANCE_GROUP_MEMBERS,
                    &plan_name,
                    json!({ "instances": members }),
                ),
            ];
            (plan_name, resources)
        })
        .collect())
}

pub fn desired(fe: &Frontend, facts: &Facts) -> Result<Vec<Resource>> {
    let a = annotations::parse(fe)?;
    let by_protocol = ports_by_protocol(fe)?;
    let sources = client_ranges(fe)?;
    if facts.node_tags.is_empty() {
        return Err(Error::CloudSetup(
            "the network tags of the cluster's nodes are unknown, so no firewall rule can target them: pass --gcp-node-tags (on GKE, the node pools' tag, e.g. gke-CLUSTER-1a2b3c4d-node)".into(),
        ));
    }
    let (ns, name, cluster) = (&fe.object.namespace, &fe.object.name, &fe.cluster);
    let owned = description::owned(cluster, &fe.object);
    let shared = description::shared(cluster);
    let network = facts.network_url();
    let mut out = Vec::new();

    // The cluster's instance group in every zone that has Nodes.
    let mut backends = Vec::new();
    for (plan_name, resources) in instance_groups(cluster, &fe.nodes, &network)? {
        out.extend(resources);
        backends.push(json!({"group": reference(&plan_name), "balancingMode": "CONNECTION"}));
    }

    // The health check and the firewall rule that lets Google's checkers reach it.
    let backend_name = names::l4_backend(cluster, ns, name);
    let local = fe.external_traffic_policy == TrafficPolicy::Local;
    let (hc_name, hc_fw_name, hc_port, interval, unhealthy, hc_description) = if local {
        let port = fe.health_check_node_port.ok_or_else(|| {
            Error::Unavailable(format!(
                "{}: externalTrafficPolicy is Local but spec.healthCheckNodePort is not allocated yet",
                fe.object
            ))
        })?;
        let fw = names::l4_health_check_firewall(cluster, ns, name);
        let hc = names::typed("hc", cluster, ns, name);
        (hc, fw, port, 3, 2, owned.clone())
    } else {
        (
            names::shared_health_check(cluster),
            names::shared_health_check_firewall(cluster),
            KUBE_PROXY_HEALTH_PORT,
            8,
            3,
            shared.clone(),
        )
    };
    out.push(resource(
        REGION_HEALTH_CHECK,
        &hc_name,
        json!({
            "name": hc_name,
            "description": hc_description,
            "type": "HTTP",
            "httpHealthCheck": {"port": hc_port, "requestPath": "/healthz"},
            "checkIntervalSec": interval,
            "timeoutSec": 1,
            "healthyThreshold": 1,
            "unhealthyThreshold": unhealthy,
        }),
    ));
    out.push(resource(
        FIREWALL,
        &hc_fw_name,
        json!({
            "name": hc_fw_name,
            "description": hc_description,
            "network": network,
            "sourceRanges": HEALTH_CHECK_RANGES,
            "targetTags": facts.node_tags,
            "allowed": [{"IPProtocol": "tcp", "ports": [hc_port.to_string()]}],
            "priority": HEALTH_CHECK_FIREWALL_PRIORITY,
        }),
    ));

    // The clients' firewall rule: passthrough keeps the destination, so nodes see the
    // Service's ports.
    let allowed: Vec<Value> = by_protocol
        .iter()
        .map(|(proto, ports)| {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            json!({"IPProtocol": proto, "ports": ports})
        })
        .collect();
    let client_fw = names::typed("fw", cluster, ns, name);
    out.push(resource(
        FIREWALL,
        &client_fw,
        json!({
            "name": client_fw,
            "description": owned,
            "network": network,
            "sourceRanges": sources,
            "targetTags": facts.node_tags,
            "allowed": allowed,
        }),
    ));

    let scheme = match a.scheme {
        Scheme::External => "EXTERNAL",
        Scheme::Internal => "INTERNAL",
    };
    let mixed = by_protocol.len() > 1;
    let (bs_protocol, fr_protocol, fr_suffix) = match (mixed, by_protocol.keys().next()) {
        (true, _) => ("UNSPECIFIED", "L3_DEFAULT", "l3"),
        (false, Some(&"udp")) => ("UDP", "UDP", "udp"),
        _ => ("TCP", "TCP", "tcp"),
    };
    let mut bs = json!({
        "name": backend_name,
        "description": owned,
        "protocol": bs_protocol,
        "loadBalancingScheme": scheme,
        "sessionAffinity": if fe.session_affinity_client_ip { "CLIENT_IP" } else { "NONE" },
        "healthChecks": [reference(&hc_name)],
        "backends": backends,
    });
    if a.scheme == Scheme::Internal {
        bs["network"] = json!(network);
    }
    out.push(resource(REGION_BACKEND_SERVICE, &backend_name, bs));

    let rule_name = names::l4_forwarding_rule(cluster, ns, name, fr_suffix);
    let mut rule = json!({
        "name": rule_name,
        "description": owned,
        "IPProtocol": fr_protocol,
        "loadBalancingScheme": scheme,
        "backendService": reference(&backend_name),
    });
    let ports: BTreeSet<u16> = by_protocol.values().flatten().copied().collect();
    if mixed || (ports.len() > MAX_LISTED_PORTS && a.scheme == Scheme::Internal) {
        rule["allPorts"] = json!(true);
    } else if ports.len() > MAX_LISTED_PORTS {
        let (lo, hi) = (ports.first(), ports.last());
        rule["portRange"] = json!(format!("{}-{}", lo.unwrap_or(&0), hi.unwrap_or(&0)));
    } else {
        let listed: Vec<String> = ports.iter().map(u16::to_string).collect();
        rule["ports"] = json!(listed);
    }
    match a.ip_addresses.as_slice() {
        [] => {}
        [one] => rule["IPAddress"] = json!(facts.address_url(one)),
        more => {
            return Err(Error::InvalidAnnotation {
                object: fe.object.clone(),
                annotation: annotations::IP_ADDRESSES.to_string(),
                value: more.join(","),
                expected: "one reserved IPv4 address (berth's GCP load balancers are IPv4 only)"
                    .into(),
            })
        }
    }
    match a.scheme {
        Scheme::External => {
            if let Some(tier) = a.network_tier {
                rule["networkTier"] = json!(match tier {
                    NetworkTier::Premium => "PREMIUM",
                    NetworkTier::Standard => "STANDARD",
                });
            }
        }
        Scheme::Internal => {
            let subnet = a.subnet.clone().or_else(|| facts.subnetwork.clone()).ok_or_else(|| {
                Error::CloudSetup(format!(
                    "{}: an internal load balancer needs a subnetwork: pass --gcp-subnetwork (the cluster's) or annotate {}",
                    fe.object,
                    annotations::SUBNET
                ))
            })?;
            rule["network"] = json!(network);
            rule["subnetwork"] = json!(facts.subnetwork_url(&subnet));
            rule["allowGlobalAccess"] = json!(a.global_access);
        }
    }
    out.push(resource(FORWARDING_RULE, &rule_name, rule));
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests;
