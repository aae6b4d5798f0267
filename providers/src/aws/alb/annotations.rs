//! The `alb.ingress.kubernetes.io/*` annotations, parsed and validated with the
//! aws-load-balancer-controller's meaning. Ingress-level settings come from the Ingress; the
//! target-group settings may also sit on the backend Service, whose value wins for its target
//! group. Every error names the Ingress, the annotation (and the Service it sits on), the value
//! and what would be accepted.

use super::rules::{self, ActionSpec, ConditionSpec};
pub use crate::aws::annotation_values::Ctx;
use crate::aws::annotation_values::{list, unsupported};
use crate::error::Result;
use crate::frontend::ObjectRef;
use std::collections::BTreeMap;

pub const PREFIX: &str = "alb.ingress.kubernetes.io/";

pub const GROUP_NAME: &str = "group.name";
pub const GROUP_ORDER: &str = "group.order";
pub const SCHEME: &str = "scheme";
pub const SUBNETS: &str = "subnets";
pub const SECURITY_GROUPS: &str = "security-groups";
pub const INBOUND_CIDRS: &str = "inbound-cidrs";
pub const IP_ADDRESS_TYPE: &str = "ip-address-type";
pub const TAGS: &str = "tags";
pub const LB_NAME: &str = "load-balancer-name";
pub const LB_ATTRIBUTES: &str = "load-balancer-attributes";
pub const LISTEN_PORTS: &str = "listen-ports";
pub const SSL_REDIRECT: &str = "ssl-redirect";
pub const CERTIFICATE_ARN: &str = "certificate-arn";
pub const SSL_POLICY: &str = "ssl-policy";
pub const TARGET_TYPE: &str = "target-type";
pub const BACKEND_PROTOCOL: &str = "backend-protocol";
pub const BACKEND_PROTOCOL_VERSION: &str = "backend-protocol-version";
pub const TG_ATTRIBUTES: &str = "target-group-attributes";
pub const HC_PORT: &str = "healthcheck-port";
pub const HC_PROTOCOL: &str = "healthcheck-protocol";
pub const HC_PATH: &str = "healthcheck-path";
pub const HC_INTERVAL: &str = "healthcheck-interval-seconds";
pub const HC_TIMEOUT: &str = "healthcheck-timeout-seconds";
pub const HC_HEALTHY: &str = "healthy-threshold-count";
pub const HC_UNHEALTHY: &str = "unhealthy-threshold-count";
pub const SUCCESS_CODES: &str = "success-codes";
pub const ACTIONS: &str = "actions.";
pub const CONDITIONS: &str = "conditions.";

/// Ingress-level annotations berth implements.
pub const SUPPORTED: [&str; 27] = [
    GROUP_NAME,
    GROUP_ORDER,
    SCHEME,
    SUBNETS,
    SECURITY_GROUPS,
    INBOUND_CIDRS,
    IP_ADDRESS_TYPE,
    TAGS,
    LB_NAME,
    LB_ATTRIBUTES,
    LISTEN_PORTS,
    SSL_REDIRECT,
    CERTIFICATE_ARN,
    SSL_POLICY,
    TARGET_TYPE,
    BACKEND_PROTOCOL,
    BACKEND_PROTOCOL_VERSION,
    TG_ATTRIBUTES,
    HC_PORT,
    HC_PROTOCOL,
    HC_PATH,
    HC_INTERVAL,
    HC_TIMEOUT,
    HC_HEALTHY,
    HC_UNHEALTHY,
    SUCCESS_CODES,
    // `actions.<name>` and `conditions.<name>` are matched by prefix.
    "actions.<name>, conditions.<name>",
];

/// The target-group annotations, which a backend Service may carry too.
pub const TARGET_GROUP_KEYS: [&str; 12] = [
    TARGET_TYPE,
    BACKEND_PROTOCOL,
    BACKEND_PROTOCOL_VERSION,
    TG_ATTRIBUTES,
    HC_PORT,
    HC_PROTOCOL,
    HC_PATH,
    HC_INTERVAL,
    HC_TIMEOUT,
    HC_HEALTHY,
    HC_UNHEALTHY,
    SUCCESS_CODES,
];

/// Known to the aws-load-balancer-controller, not implemented by berth yet: refused, so that an
/// ALB is never built silently without (say) its WAF or authentication.
pub const NOT_YET: [&str; 19] = [
    "security-group-prefix-lists",
    "manage-backend-security-group-rules",
    "customer-owned-ipv4-pool",
    "ipam-ipv4-pool-id",
    "wafv2-acl-arn",
    "waf-acl-id",
    "shield-advanced-protection",
    "auth-type",
    "auth-idp-cognito",
    "auth-idp-oidc",
    "auth-on-unauthenticated-request",
    "auth-scope",
    "auth-session-cookie",
    "auth-session-timeout",
    "target-node-labels",
    "mutual-authentication",
    "load-balancer-capacity-reservation",
    "use-regex-path-match",
    "frontend-nlb-scheme",
];

/// The aws-load-balancer-controller's default TLS policy for ALB HTTPS listeners.
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

pub const ALB_TG_ATTRIBUTES: [&str; 16] = [
    "deregistration_delay.timeout_seconds",
    "slow_start.duration_seconds",
    "stickiness.enabled",
    "stickiness.type",
    "stickiness.lb_cookie.duration_seconds",
    "stickiness.app_cookie.cookie_name",
    "stickiness.app_cookie.duration_seconds",
    "load_balancing.algorithm.type",
    "load_balancing.algorithm.anomaly_mitigation",
    "load_balancing.cross_zone.enabled",
    "target_group_health.dns_failover.minimum_healthy_targets.count",
    "target_group_health.dns_failover.minimum_healthy_targets.percentage",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
    "lambda.multi_value_headers.enabled",
    "target_failover.on_deregistration",
];

pub const ALB_LB_ATTRIBUTES: [&str; 18] = [
    "access_logs.s3.enabled",
    "access_logs.s3.bucket",
    "access_logs.s3.prefix",
    "connection_logs.s3.enabled",
    "connection_logs.s3.bucket",
    "connection_logs.s3.prefix",
    "deletion_protection.enabled",
    "idle_timeout.timeout_seconds",
    "client_keep_alive.seconds",
    "routing.http.desync_mitigation_mode",
    "routing.http.drop_invalid_header_fields.enabled",
    "routing.http.preserve_host_header.enabled",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
    "routing.http.xff_client_port.enabled",
    "routing.http.xff_header_processing.mode",
    "routing.http2.enabled",
    "waf.fail_open.enabled",
    "zonal_shift.config.enabled",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListenProtocol {
    Http,
    Https,
}

impl ListenProtocol {
    pub fn as_str(&self) -> &'static str {
        match self {
            ListenProtocol::Http => "HTTP",
            ListenProtocol::Https => "HTTPS",
        }
    }
}

/// Everything an Ingress's own annotations say (the target-group ones are in [`TgSettings`]).
/// `None`: not set (a group takes it from another member, or the default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IngressSettings {
    pub group: Option<String>,
    pub order: i32,
    pub scheme: Option<String>,
    pub subnets: Option<Vec<String>>,
    pub security_groups: Option<Vec<String>>,
    /// `inbound-cidrs`, each normalised to its network address (`10.1.2.3/8` -> `10.0.0.0/8`),
    /// sorted (IPv4 first) and without duplicates. Only used for the managed security group
    /// (refused when the group sets `security-groups`: those groups are not berth's to change).
    pub inbound_cidrs: Option<Vec<String>>,
    pub ip_address_type: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub lb_name: Option<String>,
    pub lb_attributes: BTreeMap<String, String>,
    /// As set, or the default (HTTPS:443 with a certificate, else HTTP:80), sorted.
    pub listen_ports: Vec<(ListenProtocol, u16)>,
    pub ssl_redirect: Option<u16>,
    pub certificates: Vec<String>,
    pub ssl_policy: Option<String>,
    pub actions: BTreeMap<String, ActionSpec>,
    pub conditions: BTreeMap<String, Vec<ConditionSpec>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HcPort {
    TrafficPort,
    Number(u16),
    Named(String),
}

/// A target group's settings: from the backend Service's annotations where set, else the
/// Ingress's, else the aws-load-balancer-controller's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TgSettings {
    pub target_type: String,
    pub protocol: String,
    pub protocol_version: Option<String>,
    pub hc_port: HcPort,
    pub hc_protocol: Option<String>,
    pub hc_path: Option<String>,
    pub hc_interval: u16,
    pub hc_timeout: u16,
    pub hc_healthy: u16,
    pub hc_unhealthy: u16,
    pub success_codes: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// Errors about an Ingress's own annotations.
pub fn ctx(object: &ObjectRef) -> Ctx<'_> {
    Ctx::new(object, PREFIX)
}

fn get<'a>(a: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    a.get(&format!("{PREFIX}{key}")).map(|s| s.trim())
}

pub use crate::cidr::normalize_cidr;

/// `group.name`: what the aws-load-balancer-controller accepts (a DNS-label-like name).
pub fn valid_group_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !v.starts_with(['-', '.'])
        && !v.ends_with(['-', '.'])
}

/// Parses an Ingress's annotations (not the target-group ones: see [`tg_settings`]).
pub fn parse(object: &ObjectRef, a: &BTreeMap<String, String>) -> Result<IngressSettings> {
    let cx = ctx(object);
    for (full, value) in a {
        let Some(key) = full.strip_prefix(PREFIX) else {
            continue;
        };
        if SUPPORTED.contains(&key) || key.starts_with(ACTIONS) || key.starts_with(CONDITIONS) {
            continue;
        }
        return Err(unsupported(
            object,
            full,
            value,
            NOT_YET.contains(&key) || key.starts_with("listener-attributes."),
            "Ingress",
            &SUPPORTED.map(|k| format!("{PREFIX}{k}")).join(", "),
        ));
    }

    let mut s = IngressSettings::default();
    if let Some(v) = get(a, GROUP_NAME) {
        if !valid_group_name(v) {
            return Err(cx.err(GROUP_NAME, v, "expected 1-63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"));
        }
        s.group = Some(v.to_string());
    }
    if let Some(v) = get(a, GROUP_ORDER) {
        s.order = i32::try_from(cx.int(GROUP_ORDER, v, -1000, 1000)?).unwrap_or_default();
    }
    s.scheme = get(a, SCHEME)
        .map(|v| cx.one_of(SCHEME, v, &["internal", "internet-facing"]))
        .transpose()?;
    s.subnets = get(a, SUBNETS)
        .map(|v| {
            let l = list(v);
            if l.is_empty() {
                Err(cx.err(
                    SUBNETS,
                    v,
                    "expected a comma-separated list of subnet IDs or Name tags",
                ))
            } else {
                Ok(l)
            }
        })
        .transpose()?;
    s.security_groups = get(a, SECURITY_GROUPS)
        .map(|v| {
            let l = list(v);
            if l.is_empty() {
                return Err(cx.err(SECURITY_GROUPS, v, "expected a comma-separated list of security group IDs (sg-…)"));
            }
            if let Some(bad) = l.iter().find(|g| !g.starts_with("sg-")) {
                return Err(cx.err(SECURITY_GROUPS, v, format!("{bad:?} is not a security group ID; berth accepts IDs (sg-…) only, not names, so far")));
            }
            Ok(l)
        })
        .transpose()?;
    s.inbound_cidrs = get(a, INBOUND_CIDRS)
        .map(|v| {
            let l = list(v);
            if l.is_empty() {
                return Err(cx.err(INBOUND_CIDRS, v, "expected a comma-separated list of IPv4 or IPv6 CIDRs (e.g. 10.0.0.0/8, 2001:db8::/32)"));
            }
            let mut out = Vec::new();
            for c in &l {
                let n = normalize_cidr(c).ok_or_else(|| {
                    cx.err(INBOUND_CIDRS, v, format!("{c:?} is not an IPv4 or IPv6 CIDR (address/prefix length, e.g. 10.0.0.0/8, 2001:db8::/32)"))
                })?;
                out.push(n);
            }
            crate::cidr::sort_dedup(&mut out);
            Ok(out)
        })
        .transpose()?;
    s.ip_address_type = get(a, IP_ADDRESS_TYPE)
        .map(|v| {
            cx.one_of(
                IP_ADDRESS_TYPE,
                v,
                &["ipv4", "dualstack", "dualstack-without-public-ipv4"],
            )
        })
        .transpose()?;
    if let Some(v) = get(a, TAGS) {
        s.tags = cx.tags(TAGS, v)?;
    }
    s.lb_name = get(a, LB_NAME)
        .map(|v| cx.lb_name(LB_NAME, v))
        .transpose()?;
    if let Some(v) = get(a, LB_ATTRIBUTES) {
        s.lb_attributes = cx.attributes(LB_ATTRIBUTES, v, &ALB_LB_ATTRIBUTES)?;
    }
    s.certificates = get(a, CERTIFICATE_ARN)
        .map(|v| cx.certificate_arns(CERTIFICATE_ARN, v))
        .transpose()?
        .unwrap_or_default();
    if let (Some(v), true) = (get(a, CERTIFICATE_ARN), s.certificates.is_empty()) {
        return Err(cx.err(
            CERTIFICATE_ARN,
            v,
            "expected ACM or IAM certificate ARNs (arn:aws:acm:…), separated by commas",
        ));
    }
    s.ssl_policy = get(a, SSL_POLICY)
        .map(|v| cx.ssl_policy(SSL_POLICY, v))
        .transpose()?;
    s.listen_ports = match get(a, LISTEN_PORTS) {
        Some(v) => listen_ports(&cx, v)?,
        None if s.certificates.is_empty() => vec![(ListenProtocol::Http, 80)],
        None => vec![(ListenProtocol::Https, 443)],
    };
    if s.listen_ports
        .iter()
        .any(|(p, _)| *p == ListenProtocol::Https)
        && s.certificates.is_empty()
    {
        return Err(cx.err(
            LISTEN_PORTS,
            get(a, LISTEN_PORTS).unwrap_or_default(),
            format!("HTTPS listeners need a certificate: set {PREFIX}{CERTIFICATE_ARN} (berth does not discover certificates by host yet)"),
        ));
    }
    if let Some(v) = get(a, SSL_REDIRECT) {
        let port = cx.small(SSL_REDIRECT, v, 1, 65535)?;
        if !s.listen_ports.contains(&(ListenProtocol::Https, port)) {
            return Err(cx.err(
                SSL_REDIRECT,
                v,
                format!("the redirect target must be an HTTPS port of {PREFIX}{LISTEN_PORTS}"),
            ));
        }
        s.ssl_redirect = Some(port);
    }
    for (full, v) in a {
        if let Some(name) = full.strip_prefix(&format!("{PREFIX}{ACTIONS}")) {
            let key = format!("{ACTIONS}{name}");
            s.actions
                .insert(name.to_string(), rules::parse_action(&cx, &key, v)?);
        } else if let Some(name) = full.strip_prefix(&format!("{PREFIX}{CONDITIONS}")) {
            let key = format!("{CONDITIONS}{name}");
            s.conditions
                .insert(name.to_string(), rules::parse_conditions(&cx, &key, v)?);
        }
    }
    Ok(s)
}

/// `[{"HTTP": 80}, {"HTTPS": 443}]`.
fn listen_ports(cx: &Ctx<'_>, v: &str) -> Result<Vec<(ListenProtocol, u16)>> {
    let bad = |why: &str| {
        cx.err(
            LISTEN_PORTS,
            v,
            format!("expected a JSON list like [{{\"HTTP\": 80}}, {{\"HTTPS\": 443}}]: {why}"),
        )
    };
    let items: Vec<BTreeMap<String, serde_json::Value>> =
        serde_json::from_str(v).map_err(|e| bad(&e.to_string()))?;
    if items.is_empty() {
        return Err(bad("the list is empty"));
    }
    let mut out = Vec::new();
    for item in items {
        if item.len() != 1 {
            return Err(bad("each entry has exactly one protocol"));
        }
        for (proto, port) in item {
            let proto = match proto.as_str() {
                "HTTP" => ListenProtocol::Http,
                "HTTPS" => ListenProtocol::Https,
                other => return Err(bad(&format!("protocol {other:?} is not HTTP or HTTPS"))),
            };
            let port = port
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(&format!("port {port} is not 1-65535")))?;
            if out.iter().any(|(_, p)| *p == port) {
                return Err(bad(&format!("port {port} is listed twice")));
            }
            out.push((proto, port));
        }
    }
    out.sort_by_key(|(_, p)| *p);
    Ok(out)
}

mod target_group;
pub use target_group::tg_settings;

#[cfg(test)]
mod tests;
