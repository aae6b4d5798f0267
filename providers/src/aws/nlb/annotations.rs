//! The `service.beta.kubernetes.io/aws-load-balancer-*` annotations (also accepted under
//! `service.kubernetes.io/`), parsed and validated with the aws-load-balancer-controller's
//! meaning. Every error names the annotation, the value and what would be accepted.

use crate::aws::annotation_values::{list, unsupported, Ctx};
use crate::error::Result;
use crate::frontend::{Frontend, SOURCE_RANGES_ANNOTATION};
use std::collections::BTreeMap;

mod names;
pub use names::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetType {
    Instance,
    Ip,
}

impl TargetType {
    pub fn as_str(&self) -> &'static str {
        match self {
            TargetType::Instance => "instance",
            TargetType::Ip => "ip",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthCheckPort {
    TrafficPort,
    Number(u16),
    /// A Service port name, resolved to that port's NodePort (instance) or targetPort (ip).
    Named(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subnets {
    Discover,
    /// IDs (`subnet-…`) and/or `Name` tag values, as written.
    Listed(Vec<String>),
}

/// Everything the annotations say, validated. `None` means "not set: use the default".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NlbAnnotations {
    pub target_type: TargetType,
    pub name: Option<String>,
    pub internal: bool,
    pub subnets: Subnets,
    pub ip_address_type: Option<String>,
    pub hc_protocol: Option<String>,
    pub hc_port: Option<HealthCheckPort>,
    pub hc_path: Option<String>,
    pub hc_interval: Option<u16>,
    pub hc_timeout: Option<u16>,
    pub hc_healthy: Option<u16>,
    pub hc_unhealthy: Option<u16>,
    pub hc_success_codes: Option<String>,
    pub ssl_certs: Vec<String>,
    /// `None`: every TCP port is TLS when a certificate is set.
    pub ssl_ports: Option<Vec<String>>,
    pub ssl_policy: Option<String>,
    pub alpn_policy: Option<String>,
    /// Target-group protocol for TLS listeners: TLS when `backend-protocol: ssl`.
    pub backend_tls: bool,
    pub proxy_protocol: bool,
    /// Attributes for every target group, then per service port (`key.80=value`).
    pub tg_attributes: BTreeMap<String, String>,
    pub tg_attributes_by_port: BTreeMap<u16, BTreeMap<String, String>>,
    pub lb_attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// `security-groups`: the user's groups instead of berth's managed one (IDs).
    pub security_groups: Option<Vec<String>>,
    /// `security-group-prefix-lists`: managed prefix lists allowed on every listener port.
    pub prefix_lists: Vec<String>,
    /// `manage-backend-security-group-rules`: berth adds the rules its NLB needs to the targets'
    /// security groups (default: with berth's managed group).
    pub manage_backend_rules: bool,
    /// Instance targets only on nodes carrying every one of these labels.
    pub target_node_labels: BTreeMap<String, String>,
}

/// Reads one annotation under either accepted prefix (`service.beta.` wins when both are set).
pub fn get<'a>(fe: &'a Frontend, key: &str) -> Option<&'a str> {
    PREFIXES
        .iter()
        .find_map(|p| fe.annotations.get(&format!("{p}{key}")))
        .map(|s| s.trim())
}

pub fn parse(fe: &Frontend) -> Result<NlbAnnotations> {
    let cx = Ctx::new(&fe.object, PREFIXES[0]);

    // Unknown or unsupported annotations under the prefix berth honours are errors, so a typo
    // never silently yields a different load balancer.
    for full in fe.annotations.keys() {
        let Some(key) = PREFIXES.iter().find_map(|p| full.strip_prefix(p)) else {
            continue;
        };
        // The same annotation under both prefixes must say the same: which one wins is not
        // something a user should have to know.
        if let Some(first) = PREFIXES
            .iter()
            .map(|p| format!("{p}{key}"))
            .find(|f| f != full)
        {
            if let Some(other) = fe.annotations.get(&first) {
                if other.trim() != fe.annotations[full].trim() && full.as_str() > first.as_str() {
                    return Err(crate::Error::InvalidAnnotation {
                        object: fe.object.clone(),
                        annotation: full.clone(),
                        value: fe.annotations[full].clone(),
                        expected: format!("the same value as {first}={other:?}, which is set too: set it under one prefix only"),
                    });
                }
            }
        }
        if !key.starts_with(OWNED) || SUPPORTED.contains(&key) {
            continue;
        }
        return Err(unsupported(
            &fe.object,
            full,
            &fe.annotations[full],
            NOT_YET.contains(&key),
            "Service",
            &SUPPORTED.join(", "),
        ));
    }

    let lb_type = get(fe, TYPE)
        .map(|v| cx.one_of(TYPE, v, &["external", "nlb-ip", "nlb"]))
        .transpose()?;
    let target_type = match get(fe, TARGET_TYPE) {
        Some(v) => match cx.one_of(TARGET_TYPE, v, &["instance", "ip"])?.as_str() {
            "ip" => TargetType::Ip,
            _ => TargetType::Instance,
        },
        None if lb_type.as_deref() == Some("nlb-ip") => TargetType::Ip,
        None => TargetType::Instance,
    };

    let name = get(fe, NAME).map(|v| cx.lb_name(NAME, v)).transpose()?;

    let internal = match (get(fe, SCHEME), get(fe, INTERNAL)) {
        (Some(v), _) => cx.one_of(SCHEME, v, &["internal", "internet-facing"])? == "internal",
        (None, Some(v)) => cx.bool(INTERNAL, v)?,
        (None, None) => true,
    };

    let subnets = match get(fe, SUBNETS) {
        Some(v) if list(v).is_empty() => {
            return Err(cx.err(
                SUBNETS,
                v,
                "expected a comma-separated list of subnet IDs or Name tags",
            ))
        }
        Some(v) => Subnets::Listed(list(v)),
        None => Subnets::Discover,
    };

    let ip_address_type = get(fe, IP_ADDRESS_TYPE)
        .map(|v| cx.one_of(IP_ADDRESS_TYPE, v, &["ipv4", "dualstack"]))
        .transpose()?;

    let hc_protocol = get(fe, HC_PROTOCOL)
        .map(|v| cx.one_of(HC_PROTOCOL, v, &["TCP", "HTTP", "HTTPS"]))
        .transpose()?;
    let hc_port = get(fe, HC_PORT)
        .map(|v| {
            if v == "traffic-port" {
                Ok(HealthCheckPort::TrafficPort)
            } else if v.chars().all(|c| c.is_ascii_digit()) {
                cx.small(HC_PORT, v, 1, 65535).map(HealthCheckPort::Number)
            } else if fe.ports.iter().any(|p| p.name.as_deref() == Some(v)) {
                Ok(HealthCheckPort::Named(v.to_string()))
            } else {
                let names: Vec<&str> = fe.ports.iter().filter_map(|p| p.name.as_deref()).collect();
                Err(cx.err(
                    HC_PORT,
                    v,
                    format!(
                        "expected traffic-port, a port number, or the name of a Service port ({})",
                        names.join(", ")
                    ),
                ))
            }
        })
        .transpose()?;
    let hc_path = get(fe, HC_PATH)
        .map(|v| cx.hc_path(HC_PATH, v))
        .transpose()?;
    let hc_interval = get(fe, HC_INTERVAL)
        .map(|v| cx.small(HC_INTERVAL, v, 5, 300))
        .transpose()?;
    let hc_timeout = get(fe, HC_TIMEOUT)
        .map(|v| cx.small(HC_TIMEOUT, v, 2, 120))
        .transpose()?;
    let hc_healthy = get(fe, HC_HEALTHY)
        .map(|v| cx.small(HC_HEALTHY, v, 2, 10))
        .transpose()?;
    let hc_unhealthy = get(fe, HC_UNHEALTHY)
        .map(|v| cx.small(HC_UNHEALTHY, v, 2, 10))
        .transpose()?;
    let hc_success_codes = get(fe, HC_SUCCESS_CODES)
        .map(|v| {
            cx.codes(HC_SUCCESS_CODES, v, 200, 599, "expected HTTP codes from 200 to 599: a code (200), a range (200-399) or a list (200,202)")
        })
        .transpose()?;
    if hc_protocol.as_deref() == Some("TCP") {
        if let Some(p) = &hc_path {
            return Err(cx.err(HC_PATH, p, "a TCP health check has no path; set healthcheck-protocol to HTTP or HTTPS, or remove the path"));
        }
    }

    let ssl_certs = get(fe, SSL_CERT)
        .map(|v| cx.certificate_arns(SSL_CERT, v))
        .transpose()?
        .unwrap_or_default();
    let ssl_ports = get(fe, SSL_PORTS)
        .map(|v| {
            let items = list(v);
            if items.is_empty() {
                return Err(cx.err(
                    SSL_PORTS,
                    v,
                    "expected * or a comma-separated list of Service port numbers or names",
                ));
            }
            if items.iter().any(|i| i == "*") {
                return Ok(None);
            }
            for i in &items {
                let known = fe
                    .ports
                    .iter()
                    .any(|p| p.name.as_deref() == Some(i.as_str()) || p.port.to_string() == *i);
                if !known {
                    let ports: Vec<String> = fe
                        .ports
                        .iter()
                        .map(|p| match &p.name {
                            Some(n) => format!("{}({n})", p.port),
                            None => p.port.to_string(),
                        })
                        .collect();
                    return Err(cx.err(
                        SSL_PORTS,
                        v,
                        format!(
                            "port {i:?} matches no Service port; the Service has {}",
                            ports.join(", ")
                        ),
                    ));
                }
            }
            Ok(Some(items))
        })
        .transpose()?
        .flatten();
    if ssl_certs.is_empty() {
        if let Some(v) = get(fe, SSL_PORTS) {
            return Err(cx.err(
                SSL_PORTS,
                v,
                format!(
                    "TLS ports need a certificate: set {}{SSL_CERT}",
                    PREFIXES[0]
                ),
            ));
        }
    }
    let ssl_policy = get(fe, SSL_POLICY)
        .map(|v| cx.ssl_policy(SSL_POLICY, v))
        .transpose()?;
    let alpn_policy = get(fe, ALPN_POLICY)
        .map(|v| {
            cx.one_of(
                ALPN_POLICY,
                v,
                &[
                    "HTTP1Only",
                    "HTTP2Only",
                    "HTTP2Optional",
                    "HTTP2Preferred",
                    "None",
                ],
            )
        })
        .transpose()?;
    let backend_tls = match get(fe, BACKEND_PROTOCOL) {
        Some(v) => matches!(
            cx.one_of(BACKEND_PROTOCOL, v, &["tcp", "ssl", "tls"])?
                .as_str(),
            "ssl" | "tls"
        ),
        None => false,
    };
    let proxy_protocol = match get(fe, PROXY_PROTOCOL) {
        Some("*") => true,
        Some(v) => {
            return Err(cx.err(
                PROXY_PROTOCOL,
                v,
                "expected * (proxy protocol v2 on every target group)",
            ))
        }
        None => false,
    };

    let mut tg_attributes = BTreeMap::new();
    let mut tg_attributes_by_port: BTreeMap<u16, BTreeMap<String, String>> = BTreeMap::new();
    if let Some(v) = get(fe, TG_ATTRIBUTES) {
        for (k, val) in cx.pairs(TG_ATTRIBUTES, v)? {
            // `key.80=value` applies to service port 80 only.
            let per_port = k.rsplit_once('.').and_then(|(base, port)| {
                let port: u16 = port.parse().ok()?;
                fe.ports
                    .iter()
                    .any(|p| p.port == port)
                    .then(|| (base.to_string(), port))
            });
            let (base, port) = match per_port {
                Some((b, p)) => (b, Some(p)),
                None => (k.clone(), None),
            };
            if !NLB_TG_ATTRIBUTES.contains(&base.as_str()) {
                return Err(cx.err(TG_ATTRIBUTES, v, format!("unknown target-group attribute {k:?}; accepted: {} (optionally suffixed .<service port>)", NLB_TG_ATTRIBUTES.join(", "))));
            }
            if val.is_empty() {
                return Err(cx.err(
                    TG_ATTRIBUTES,
                    v,
                    format!("attribute {k:?} has an empty value"),
                ));
            }
            match port {
                Some(p) => {
                    tg_attributes_by_port
                        .entry(p)
                        .or_default()
                        .insert(base, val);
                }
                None => {
                    tg_attributes.insert(base, val);
                }
            }
        }
    }

    let mut lb_attributes = BTreeMap::new();
    if let Some(v) = get(fe, LB_ATTRIBUTES) {
        for (k, val) in cx.pairs(LB_ATTRIBUTES, v)? {
            if !NLB_LB_ATTRIBUTES.contains(&k.as_str()) {
                return Err(cx.err(
                    LB_ATTRIBUTES,
                    v,
                    format!(
                        "unknown load-balancer attribute {k:?}; accepted: {}",
                        NLB_LB_ATTRIBUTES.join(", ")
                    ),
                ));
            }
            lb_attributes.insert(k, val);
        }
    }
    // The annotations that stand for one attribute each (as the aws-load-balancer-controller
    // reads them); one that disagrees with the same attribute in aws-load-balancer-attributes
    // is refused, never silently preferred.
    let mut specific = |key: &str, attr: &str, val: String| -> Result<()> {
        match lb_attributes.get(attr) {
            Some(prev) if *prev != val => Err(cx.err(
                key,
                &val,
                format!("the same as {}{LB_ATTRIBUTES}'s {attr}={prev}, which is set too: set it in one place", PREFIXES[0]),
            )),
            _ => {
                lb_attributes.insert(attr.into(), val);
                Ok(())
            }
        }
    };
    if let Some(v) = get(fe, CROSS_ZONE) {
        let on = cx.bool(CROSS_ZONE, v)?;
        specific(
            CROSS_ZONE,
            "load_balancing.cross_zone.enabled",
            on.to_string(),
        )?;
    }
    if let Some(v) = get(fe, ACCESS_LOG_ENABLED) {
        let on = cx.bool(ACCESS_LOG_ENABLED, v)?;
        specific(ACCESS_LOG_ENABLED, "access_logs.s3.enabled", on.to_string())?;
    }
    if let Some(v) = get(fe, ACCESS_LOG_BUCKET) {
        if !valid_bucket(v) {
            return Err(cx.err(ACCESS_LOG_BUCKET, v, "an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"));
        }
        specific(ACCESS_LOG_BUCKET, "access_logs.s3.bucket", v.to_string())?;
    }
    if let Some(v) = get(fe, ACCESS_LOG_PREFIX) {
        specific(
            ACCESS_LOG_PREFIX,
            "access_logs.s3.prefix",
            v.trim_matches('/').to_string(),
        )?;
    }
    if lb_attributes
        .get("access_logs.s3.enabled")
        .map(String::as_str)
        == Some("true")
        && !lb_attributes.contains_key("access_logs.s3.bucket")
    {
        return Err(cx.err(
            ACCESS_LOG_ENABLED,
            "true",
            format!("a bucket too: set {}{ACCESS_LOG_BUCKET}", PREFIXES[0]),
        ));
    }

    let target_node_labels = match get(fe, TARGET_NODE_LABELS) {
        Some(v) => {
            let pairs: BTreeMap<String, String> =
                cx.pairs(TARGET_NODE_LABELS, v)?.into_iter().collect();
            if pairs.is_empty() {
                return Err(cx.err(
                    TARGET_NODE_LABELS,
                    v,
                    "label pairs key=value, comma-separated",
                ));
            }
            pairs
        }
        None => BTreeMap::new(),
    };

    let tags = get(fe, TAGS)
        .map(|v| cx.tags(TAGS, v))
        .transpose()?
        .unwrap_or_default();

    let security_groups = get(fe, SECURITY_GROUPS)
        .map(|v| {
            let l = list(v);
            if l.is_empty() {
                return Err(cx.err(SECURITY_GROUPS, v, "expected a comma-separated list of security group IDs (sg-…)"));
            }
            if let Some(bad) = l.iter().find(|g| !is_id(g, "sg-")) {
                return Err(cx.err(SECURITY_GROUPS, v, format!("{bad:?} is not a security group ID; berth accepts IDs (sg-…) only, not names, so far")));
            }
            Ok(l)
        })
        .transpose()?;
    let prefix_lists = match get(fe, SG_PREFIX_LISTS) {
        Some(v) => {
            let mut l = list(v);
            if l.is_empty() || l.iter().any(|p| !is_id(p, "pl-")) {
                return Err(cx.err(
                    SG_PREFIX_LISTS,
                    v,
                    "expected a comma-separated list of managed prefix list IDs (pl-…)",
                ));
            }
            if let Some(sgs) = &security_groups {
                return Err(cx.err(SG_PREFIX_LISTS, v, format!("prefix lists are rules of berth's managed security group, and {}{SECURITY_GROUPS}={} replaces it with groups berth does not change: allow the prefix lists in those groups and remove this annotation, or remove {SECURITY_GROUPS}", PREFIXES[0], sgs.join(","))));
            }
            l.sort();
            l.dedup();
            l
        }
        None => Vec::new(),
    };
    // As the aws-load-balancer-controller: on with berth's managed group, off with the user's.
    let manage_backend_rules = match get(fe, MANAGE_BACKEND_SG_RULES) {
        Some(v) => {
            let on = cx.bool(MANAGE_BACKEND_SG_RULES, v)?;
            if let (true, Some(sgs)) = (on, &security_groups) {
                return Err(cx.err(MANAGE_BACKEND_SG_RULES, v, format!("the targets' rules admit traffic from berth's managed security group, and {}{SECURITY_GROUPS}={} replaces it: allow those groups in the targets' security groups yourself and set this to false, or remove {SECURITY_GROUPS}", PREFIXES[0], sgs.join(","))));
            }
            on
        }
        None => security_groups.is_none(),
    };
    let dualstack = crate::aws::security_group::dualstack(ip_address_type.as_deref());
    if let Some(v6) = fe.source_ranges.iter().find(|c| crate::cidr::is_v6(c)) {
        if !dualstack {
            return Err(source_ranges_error(fe, format!("{v6} is an IPv6 range, but the load balancer serves IPv4 only: set {}{IP_ADDRESS_TYPE}: dualstack, or remove the IPv6 ranges", PREFIXES[0])));
        }
    }
    if let (Some(sgs), false) = (&security_groups, fe.source_ranges.is_empty()) {
        return Err(source_ranges_error(fe, format!("{}{SECURITY_GROUPS}={} replaces berth's managed security group with groups berth does not change, so the source ranges cannot be applied: allow them in those groups and remove the source ranges, or remove {SECURITY_GROUPS}", PREFIXES[0], sgs.join(","))));
    }

    Ok(NlbAnnotations {
        target_type,
        name,
        internal,
        subnets,
        ip_address_type,
        hc_protocol,
        hc_port,
        hc_path,
        hc_interval,
        hc_timeout,
        hc_healthy,
        hc_unhealthy,
        hc_success_codes,
        ssl_certs,
        ssl_ports,
        ssl_policy,
        alpn_policy,
        backend_tls,
        proxy_protocol,
        tg_attributes,
        tg_attributes_by_port,
        lb_attributes,
        tags,
        security_groups,
        prefix_lists,
        manage_backend_rules,
        target_node_labels,
    })
}

/// `sg-0123abcd`, `pl-0123abcd`: the prefix, then hex digits.
/// S3's bucket-name rules (the ones that can be checked without asking S3).
fn valid_bucket(v: &str) -> bool {
    (3..=63).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_id(v: &str, prefix: &str) -> bool {
    v.strip_prefix(prefix)
        .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The source ranges cannot be honoured: named as the field (or annotation) they came from.
fn source_ranges_error(fe: &Frontend, expected: String) -> crate::Error {
    match fe.annotations.get(SOURCE_RANGES_ANNOTATION) {
        Some(v) if fe.source_ranges_from_annotation => crate::Error::InvalidAnnotation {
            object: fe.object.clone(),
            annotation: SOURCE_RANGES_ANNOTATION.into(),
            value: v.clone(),
            expected,
        },
        _ => crate::Error::InvalidField {
            object: fe.object.clone(),
            field: "spec.loadBalancerSourceRanges".into(),
            value: fe.source_ranges.join(","),
            expected,
        },
    }
}

#[cfg(test)]
mod tests;
