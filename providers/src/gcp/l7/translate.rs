//! Ingress -> global external Application Load Balancer, as ingress-gce builds it with
//! instance-group backends: per backend Service port a HealthCheck and a BackendService on the
//! cluster's instance groups (reaching the NodePort through a named port `port<NodePort>`), a
//! firewall rule from Google's L7 health-check and proxy ranges to those NodePorts, a UrlMap
//! (a host rule and path matcher per host, `*` for rules without one; GKE's path semantics), a
//! target HTTP proxy and forwarding rule on :80 unless `allow-http: "false"`, a target HTTPS
//! proxy and forwarding rule on :443 with the pre-shared certificates, and, when both listen,
//! one global address they share. One load balancer per Ingress. Pure.

use super::annotations::{self, IngressAnnotations};
use crate::error::{Error, Result};
use crate::frontend::ObjectRef;
use crate::gcp::description;
use crate::gcp::facts::{Facts, API};
use crate::gcp::kinds::*;
use crate::gcp::names;
use crate::ingress::{
    Backend, BackendPort, GroupDesired, HttpPath, IngressGroup, Member, PathType,
};
use crate::plan::Resource;
use serde_json::{json, Value};

/// Where Google's L7 health checkers and proxies come from (GKE's L7 firewall rule).
pub const L7_RANGES: [&str; 2] = ["130.211.0.0/22", "35.191.0.0/16"];
/// GKE's defaults for instance-group backends.
const CHECK_INTERVAL_SEC: u32 = 60;
const CHECK_TIMEOUT_SEC: u32 = 60;
const UNHEALTHY_THRESHOLD: u32 = 10;
const BACKEND_TIMEOUT_SEC: u32 = 30;

/// One backend Service port of the Ingress, as the load balancer reaches it.
struct Target {
    /// The backend service's name.
    name: String,
    /// Its health check's.
    check: String,
    service: String,
    port: u16,
    node_port: u16,
    protocol: &'static str,
    /// The serving pods' readiness probe, when its scheme is the backend's (ingress-gce's rule).
    probe: Option<crate::ingress::HttpProbe>,
    /// Why the pods' probe is not used, when it is not.
    note: Option<String>,
}

/// GKE's meaning of a path: Exact as given (no wildcard), Prefix `/foo` as `/foo` and `/foo/*`
/// (`/` as `/*`), ImplementationSpecific as given.
pub fn paths(m: &Member, p: &HttpPath, field: &str) -> Result<Vec<String>> {
    let bad = |expected: &str| Error::InvalidField {
        object: m.object.clone(),
        field: field.to_string(),
        value: p.path.clone(),
        expected: expected.to_string(),
    };
    if p.path.is_empty() {
        return Err(bad("a path starting with /"));
    }
    match p.path_type {
        PathType::ImplementationSpecific => Ok(vec![p.path.clone()]),
        _ if p.path.contains('*') => Err(bad("no wildcard in an Exact or Prefix path (GKE refuses it; ImplementationSpecific paths may end in /*)")),
        PathType::Exact => Ok(vec![p.path.clone()]),
        PathType::Prefix if p.path == "/" => Ok(vec!["/*".to_string()]),
        PathType::Prefix => {
            let base = p.path.trim_end_matches('/');
            Ok(vec![base.to_string(), format!("{base}/*")])
        }
    }
}

fn target(group: &IngressGroup, m: &Member, b: &Backend, field: &str) -> Result<Target> {
    let invalid = |expected: String| Error::InvalidField {
        object: m.object.clone(),
        field: field.to_string(),
        value: format!("{}:{}", b.service, port_text(&b.port)),
        expected,
    };
    let resolved = b.resolved.as_ref().map_err(|why| invalid(why.clone()))?;
    let node_port = resolved.port.node_port.ok_or_else(|| {
        invalid("a Service of type NodePort or LoadBalancer (GCE Ingresses reach instance-group backends on the NodePort)".into())
    })?;
    let protocol = annotations::app_protocol(
        &m.object,
        &b.service,
        &resolved.service_annotations,
        resolved.port.name.as_deref(),
    )?;
    let scheme = if protocol == "HTTP" { "HTTP" } else { "HTTPS" };
    let named = |kind: &str| {
        let port = resolved.port.port.to_string();
        let (ns, ing) = (&m.object.namespace, &m.object.name);
        names::l7_backend(kind, &group.cluster, ns, ing, &b.service, &port)
    };
    Ok(Target {
        name: named("be"),
        check: named("hc"),
        service: b.service.clone(),
        port: resolved.port.port,
        node_port,
        protocol,
        probe: resolved.probe.clone().filter(|p| p.scheme == scheme),
        note: match &resolved.probe {
            Some(p) if p.scheme != scheme => Some(format!(
                "Service {}/{}: the pods' readinessProbe is {} but the backend speaks {protocol}, so the health check uses the default (/ on the NodePort)",
                m.object.namespace, b.service, p.scheme
            )),
            _ => resolved.probe_note.clone(),
        },
    })
}

fn port_text(p: &BackendPort) -> String {
    match p {
        BackendPort::Number(n) => n.to_string(),
        BackendPort::Name(n) => n.clone(),
    }
}

/// The path matcher of a host (names are RFC 1035; hosts may be wildcards).
fn matcher_name(host: &str) -> String {
    format!("host{}", crate::naming::hash_hex(&[host], 16))
}

pub fn desired_group(
    group: &IngressGroup,
    facts: std::result::Result<&Facts, &Error>,
) -> GroupDesired {
    let mut out = GroupDesired::default();
    for m in &group.members {
        let translated = match facts {
            Ok(f) => member(group, m, f),
            Err(e) => Err(Error::CloudSetup(e.to_string())),
        };
        match translated {
            Ok((rs, notes)) => {
                out.resources.extend(rs);
                out.notes
                    .extend(notes.into_iter().map(|n| (m.object.clone(), n)));
            }
            Err(e) => out.rejected.push((m.object.clone(), e)),
        }
    }
    // Shared resources (the instance groups) appear once even when several members need them.
    let mut seen = std::collections::BTreeSet::new();
    out.resources
        .retain(|r| seen.insert((r.kind.clone(), r.name.clone())));
    out
}

/// A member's resources, and what it should be told (probes berth could not use).
fn member(group: &IngressGroup, m: &Member, facts: &Facts) -> Result<(Vec<Resource>, Vec<String>)> {
    let a: IngressAnnotations = annotations::parse_ingress(&m.object, &m.annotations)?;
    if let Some(t) = m.tls.iter().find(|t| t.secret_name.is_some()) {
        return Err(Error::InvalidField {
            object: m.object.clone(),
            field: "spec.tls[].secretName".into(),
            value: t.secret_name.clone().unwrap_or_default(),
            expected: format!(
                "no Secret: berth does not upload Ingress TLS Secrets to GCP yet; name SslCertificates with {}",
                annotations::PRE_SHARED_CERT
            ),
        });
    }
    if !a.allow_http && a.pre_shared_certs.is_empty() {
        return Err(Error::InvalidAnnotation {
            object: m.object.clone(),
            annotation: annotations::ALLOW_HTTP.into(),
            value: "false".into(),
            expected: format!(
                "HTTP allowed, or certificates for HTTPS ({})",
                annotations::PRE_SHARED_CERT
            ),
        });
    }
    if facts.node_tags.is_empty() {
        return Err(Error::CloudSetup(
            "the network tags of the cluster's nodes are unknown, so no firewall rule can target them: pass --gcp-node-tags".into(),
        ));
    }
    let default = m.default_backend.as_ref().ok_or_else(|| Error::InvalidField {
        object: m.object.clone(),
        field: "spec.defaultBackend".into(),
        value: String::new(),
        expected: "a default backend: GKE sends unmatched requests to kube-system/default-http-backend, which berth does not read yet".into(),
    })?;
    let (cluster, ns, name) = (&group.cluster, &m.object.namespace, &m.object.name);
    let owner: &ObjectRef = &m.object;
    let owned = description::owned(cluster, owner);

    // Every backend, once, in the order the Ingress names them.
    let mut targets: Vec<Target> = Vec::new();
    let mut add = |t: Target| -> String {
        let n = t.name.clone();
        if !targets.iter().any(|x| x.name == n) {
            targets.push(t);
        }
        n
    };
    let default_name = add(target(group, m, default, "spec.defaultBackend")?);
    // host -> ordered (path, backend name); a later equal path wins, as GKE.
    let mut hosts: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (ri, rule) in m.rules.iter().enumerate() {
        let host = rule.host.clone().unwrap_or_else(|| "*".to_string());
        let mut rules = Vec::new();
        for (pi, p) in rule.paths.iter().enumerate() {
            let field = format!("spec.rules[{ri}].http.paths[{pi}]");
            let be = add(target(group, m, &p.backend, &format!("{field}.backend"))?);
            for path in paths(m, p, &format!("{field}.path"))? {
                rules.push((path, be.clone()));
            }
        }
        match hosts.iter_mut().find(|(h, _)| *h == host) {
            Some((_, existing)) => existing.extend(rules),
            None => hosts.push((host, rules)),
        }
    }

    let network = facts.network_url();
    let mut out = Vec::new();
    // The cluster's instance groups, with the NodePorts this Ingress reaches as named ports.
    let groups = crate::gcp::l4::translate::instance_groups(cluster, &group.nodes, &network)?;
    let mut named: Vec<Value> = targets
        .iter()
        .map(|t| json!({"name": format!("port{}", t.node_port), "port": t.node_port}))
        .collect();
    named.sort_by_key(|v| v["port"].as_u64());
    named.dedup();
    for (plan_name, resources) in &groups {
        out.extend(resources.iter().cloned());
        out.push(resource(
            INSTANCE_GROUP_NAMED_PORTS,
            plan_name,
            json!({ "namedPorts": named }),
        ));
    }

    for t in &targets {
        let d = description::owned_backend(cluster, owner, &t.service, &t.port.to_string());
        let check = match t.protocol {
            "HTTPS" => "httpsHealthCheck",
            "HTTP2" => "http2HealthCheck",
            _ => "httpHealthCheck",
        };
        let mut hc = json!({
            "name": t.check,
            "description": d,
            "type": t.protocol,
            "checkIntervalSec": CHECK_INTERVAL_SEC,
            "timeoutSec": CHECK_TIMEOUT_SEC,
            "healthyThreshold": 1,
            "unhealthyThreshold": UNHEALTHY_THRESHOLD,
        });
        // GKE's default, or the readiness probe's path and host, its timeout, and its period
        // plus GKE's 60 s (instance-group backends: a short interval floods the nodes).
        hc[check] = json!({"port": t.node_port, "requestPath": "/"});
        if let Some(p) = &t.probe {
            hc[check]["requestPath"] = json!(p.path);
            if let Some(h) = &p.host {
                hc[check]["host"] = json!(h);
            }
            hc["timeoutSec"] = json!(p.timeout_seconds);
            hc["checkIntervalSec"] = json!(p.period_seconds + CHECK_INTERVAL_SEC);
        }
        out.push(resource(HEALTH_CHECK, &t.check, hc));
    }
    let mut node_ports: Vec<u16> = targets.iter().map(|t| t.node_port).collect();
    node_ports.sort();
    node_ports.dedup();
    let fw = names::typed("l7", cluster, ns, name);
    out.push(resource(
        FIREWALL,
        &fw,
        json!({
            "name": fw,
            "description": owned,
            "network": network,
            "sourceRanges": L7_RANGES,
            "targetTags": facts.node_tags,
            "allowed": [{"IPProtocol": "tcp", "ports": node_ports.iter().map(u16::to_string).collect::<Vec<_>>()}],
        }),
    ));
    for t in &targets {
        let backends: Vec<Value> = groups
            .iter()
            .map(|(g, _)| json!({"group": reference(g), "balancingMode": "UTILIZATION", "capacityScaler": 1.0}))
            .collect();
        out.push(resource(
            BACKEND_SERVICE,
            &t.name,
            json!({
                "name": t.name,
                "description": description::owned_backend(cluster, owner, &t.service, &t.port.to_string()),
                "protocol": t.protocol,
                "portName": format!("port{}", t.node_port),
                "loadBalancingScheme": "EXTERNAL",
                "timeoutSec": BACKEND_TIMEOUT_SEC,
                "healthChecks": [reference(&t.check)],
                "backends": backends,
            }),
        ));
    }

    let um = names::typed("um", cluster, ns, name);
    let host_rules: Vec<Value> = hosts
        .iter()
        .map(|(h, _)| json!({"hosts": [h], "pathMatcher": matcher_name(h)}))
        .collect();
    let matchers: Vec<Value> = hosts
        .iter()
        .map(|(h, rules)| {
            // A later equal path wins; each path once, in first-seen order.
            let mut by_path: Vec<(String, String)> = Vec::new();
            for (p, be) in rules {
                by_path.retain(|(q, _)| q != p);
                by_path.push((p.clone(), be.clone()));
            }
            let path_rules: Vec<Value> = by_path
                .iter()
                .map(|(p, be)| json!({"paths": [p], "service": reference(be)}))
                .collect();
            json!({"name": matcher_name(h), "defaultService": reference(&default_name), "pathRules": path_rules})
        })
        .collect();
    let mut url_map =
        json!({"name": um, "description": owned, "defaultService": reference(&default_name)});
    if !host_rules.is_empty() {
        url_map["hostRules"] = json!(host_rules);
        url_map["pathMatchers"] = json!(matchers);
    }
    out.push(resource(URL_MAP, &um, url_map));

    let https = !a.pre_shared_certs.is_empty();
    let address: Option<Value> = match (&a.static_ip, a.allow_http && https) {
        (Some(ip), _) => Some(json!(format!(
            "{API}projects/{}/global/addresses/{ip}",
            facts.project
        ))),
        (None, true) => {
            let ip = names::typed("ip", cluster, ns, name);
            out.push(resource(
                GLOBAL_ADDRESS,
                &ip,
                json!({"name": ip, "description": owned, "ipVersion": "IPV4"}),
            ));
            Some(reference(&ip))
        }
        (None, false) => None,
    };
    let mut frontend =
        |proxy_kind: &str, proxy: String, rule: String, range: &str, extra: Value| {
            let mut p = json!({"name": proxy, "description": owned, "urlMap": reference(&um)});
            if let (Some(pm), Some(em)) = (p.as_object_mut(), extra.as_object()) {
                pm.extend(em.clone());
            }
            out.push(resource(proxy_kind, &proxy, p));
            let mut fr = json!({
                "name": rule,
                "description": owned,
                "IPProtocol": "TCP",
                "portRange": range,
                "target": reference(&proxy),
                "loadBalancingScheme": "EXTERNAL",
            });
            if let Some(ip) = &address {
                fr["IPAddress"] = ip.clone();
            }
            out.push(resource(GLOBAL_FORWARDING_RULE, &rule, fr));
        };
    if a.allow_http {
        frontend(
            TARGET_HTTP_PROXY,
            names::typed("tp", cluster, ns, name),
            names::typed("fr", cluster, ns, name),
            "80-80",
            json!({}),
        );
    }
    if https {
        let certs: Vec<String> = a
            .pre_shared_certs
            .iter()
            .map(|c| format!("{API}projects/{}/global/sslCertificates/{c}", facts.project))
            .collect();
        frontend(
            TARGET_HTTPS_PROXY,
            names::typed("ts", cluster, ns, name),
            names::typed("fs", cluster, ns, name),
            "443-443",
            json!({ "sslCertificates": certs }),
        );
    }
    let notes = targets.iter().filter_map(|t| t.note.clone()).collect();
    Ok((out, notes))
}

#[cfg(test)]
mod tests;
