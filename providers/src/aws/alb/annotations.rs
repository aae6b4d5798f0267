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

/// The target-group settings for one backend: each key from the Service's annotations when set
/// there, else the Ingress's, else the default. `service` names the Service for errors.
pub fn tg_settings(
    object: &ObjectRef,
    ingress: &BTreeMap<String, String>,
    service: &str,
    service_annotations: &BTreeMap<String, String>,
) -> Result<TgSettings> {
    let on_service = Ctx {
        on: Some(format!("Service {service}")),
        ..ctx(object)
    };
    let on_ingress = ctx(object);
    let pick = |key: &str| -> Option<(&Ctx<'_>, &str)> {
        get(service_annotations, key)
            .map(|v| (&on_service, v))
            .or_else(|| get(ingress, key).map(|v| (&on_ingress, v)))
    };

    let target_type = pick(TARGET_TYPE)
        .map(|(cx, v)| cx.one_of(TARGET_TYPE, v, &["instance", "ip"]))
        .transpose()?
        .unwrap_or_else(|| "instance".into());
    let protocol = pick(BACKEND_PROTOCOL)
        .map(|(cx, v)| cx.one_of(BACKEND_PROTOCOL, v, &["HTTP", "HTTPS"]))
        .transpose()?
        .unwrap_or_else(|| "HTTP".into());
    let protocol_version = pick(BACKEND_PROTOCOL_VERSION)
        .map(|(cx, v)| cx.one_of(BACKEND_PROTOCOL_VERSION, v, &["HTTP1", "HTTP2", "GRPC"]))
        .transpose()?;
    let grpc = protocol_version.as_deref() == Some("GRPC");
    let hc_port = match pick(HC_PORT) {
        None => HcPort::TrafficPort,
        Some((_, "traffic-port")) => HcPort::TrafficPort,
        Some((cx, v)) if v.chars().all(|c| c.is_ascii_digit()) => {
            HcPort::Number(cx.small(HC_PORT, v, 1, 65535)?)
        }
        Some((_, v)) => HcPort::Named(v.to_string()),
    };
    let hc_protocol = pick(HC_PROTOCOL)
        .map(|(cx, v)| cx.one_of(HC_PROTOCOL, v, &["HTTP", "HTTPS"]))
        .transpose()?;
    let hc_path = pick(HC_PATH)
        .map(|(cx, v)| cx.hc_path(HC_PATH, v))
        .transpose()?;
    let num = |key: &str, min: u16, max: u16, default: u16| -> Result<u16> {
        pick(key)
            .map(|(cx, v)| cx.small(key, v, min, max))
            .transpose()
            .map(|x| x.unwrap_or(default))
    };
    let hc_interval = num(HC_INTERVAL, 5, 300, 15)?;
    let hc_timeout = num(HC_TIMEOUT, 2, 120, 5)?;
    let hc_healthy = num(HC_HEALTHY, 2, 10, 2)?;
    let hc_unhealthy = num(HC_UNHEALTHY, 2, 10, 2)?;
    if hc_timeout >= hc_interval {
        let (cx, v) = pick(HC_TIMEOUT).unwrap_or((&on_ingress, ""));
        return Err(cx.err(
            HC_TIMEOUT,
            v,
            format!("the timeout must be shorter than the health-check interval ({hc_interval}s)"),
        ));
    }
    let success_codes = pick(SUCCESS_CODES)
        .map(|(cx, v)| success_codes(cx, v, grpc))
        .transpose()?;
    let attributes = pick(TG_ATTRIBUTES)
        .map(|(cx, v)| cx.attributes(TG_ATTRIBUTES, v, &ALB_TG_ATTRIBUTES))
        .transpose()?
        .unwrap_or_default();
    if let Some(v) = attributes.get("stickiness.enabled") {
        let (cx, raw) = pick(TG_ATTRIBUTES).unwrap_or((&on_ingress, ""));
        if cx.bool(TG_ATTRIBUTES, v).is_err() {
            return Err(cx.err(TG_ATTRIBUTES, raw, "stickiness.enabled is true or false"));
        }
    }
    Ok(TgSettings {
        target_type,
        protocol,
        protocol_version,
        hc_port,
        hc_protocol,
        hc_path,
        hc_interval,
        hc_timeout,
        hc_healthy,
        hc_unhealthy,
        success_codes,
        attributes,
    })
}

/// HTTP codes 200-499 (`200`, `200-299`, `200,302`); gRPC codes 0-99 for GRPC targets.
fn success_codes(cx: &Ctx<'_>, v: &str, grpc: bool) -> Result<String> {
    let (lo, hi, what) = if grpc {
        (0, 99, "gRPC codes from 0 to 99")
    } else {
        (200, 499, "HTTP codes from 200 to 499")
    };
    cx.codes(
        SUCCESS_CODES,
        v,
        lo,
        hi,
        &format!("expected {what}: a code, a range (a-b) or a list (a,b)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::FrontendKind;

    fn obj() -> ObjectRef {
        ObjectRef {
            kind: FrontendKind::Ingress,
            namespace: "shop".into(),
            name: "web".into(),
        }
    }

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
            .collect()
    }

    const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/abc";

    /// Every supported annotation: valid values parse, invalid ones fail naming the Ingress, the
    /// annotation, the value and what is accepted.
    #[test]
    fn each_annotation_valid_and_invalid() {
        let valid: Vec<Vec<(&str, &str)>> = vec![
            vec![(GROUP_NAME, "shared.edge-1")],
            vec![(GROUP_ORDER, "-10")],
            vec![(SCHEME, "internet-facing")],
            vec![(SUBNETS, "subnet-1, subnet-2")],
            vec![(SUBNETS, "public-a,public-b")],
            vec![(SECURITY_GROUPS, "sg-1,sg-2")],
            vec![(INBOUND_CIDRS, "10.0.0.0/8, 192.168.1.0/24")],
            vec![(INBOUND_CIDRS, "2001:db8::/32,0.0.0.0/0")],
            vec![(SECURITY_GROUPS, "sg-1"), (INBOUND_CIDRS, "10.0.0.0/8")],
            vec![(IP_ADDRESS_TYPE, "dualstack")],
            vec![(TAGS, "team=web,env=prod")],
            vec![(LB_NAME, "edge")],
            vec![(
                LB_ATTRIBUTES,
                "deletion_protection.enabled=true,idle_timeout.timeout_seconds=120",
            )],
            vec![(LISTEN_PORTS, r#"[{"HTTP": 8080}]"#)],
            vec![(CERTIFICATE_ARN, CERT)],
            vec![
                (CERTIFICATE_ARN, "arn:a,arn:b"),
                (SSL_POLICY, "ELBSecurityPolicy-TLS13-1-2-2021-06"),
            ],
            vec![
                (CERTIFICATE_ARN, CERT),
                (LISTEN_PORTS, r#"[{"HTTP":80},{"HTTPS":443}]"#),
                (SSL_REDIRECT, "443"),
            ],
            vec![(
                "actions.blue-green",
                r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"blue","servicePort":"80","weight":20},{"serviceName":"green","servicePort":80,"weight":80}]}}"#,
            )],
            vec![(
                "actions.teapot",
                r#"{"type":"fixed-response","fixedResponseConfig":{"contentType":"text/plain","statusCode":"418","messageBody":"tea"}}"#,
            )],
            vec![(
                "actions.moved",
                r#"{"type":"redirect","redirectConfig":{"host":"new.example.com","statusCode":"HTTP_302"}}"#,
            )],
            vec![(
                "conditions.web",
                r#"[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["on"]}},{"field":"query-string","queryStringConfig":{"values":[{"key":"v","value":"2"}]}},{"field":"source-ip","sourceIpConfig":{"values":["10.0.0.0/8"]}}]"#,
            )],
        ];
        for pairs in valid {
            parse(&obj(), &ann(&pairs))
                .unwrap_or_else(|e| panic!("{pairs:?} should be valid: {e}"));
        }
        let invalid: Vec<(&str, &str, &str)> = vec![
            (GROUP_NAME, "Shared_Group", "lower-case letters"),
            (GROUP_ORDER, "1001", "from -1000 to 1000"),
            (GROUP_ORDER, "first", "from -1000 to 1000"),
            (SCHEME, "public", "internal, internet-facing"),
            (SUBNETS, ",", "subnet IDs or Name tags"),
            (SECURITY_GROUPS, "web-sg", "IDs (sg-…) only"),
            (IP_ADDRESS_TYPE, "ipv6", "ipv4, dualstack"),
            (TAGS, "ingress.k8s.aws/stack=x", "reserved"),
            (TAGS, "team", "has no '='"),
            (LB_NAME, "internal-edge", "internal-"),
            (LB_ATTRIBUTES, "foo=1", "unknown attribute \"foo\""),
            (LISTEN_PORTS, "80", "JSON list"),
            (LISTEN_PORTS, r#"[{"TCP": 80}]"#, "not HTTP or HTTPS"),
            (LISTEN_PORTS, r#"[{"HTTP": 0}]"#, "not 1-65535"),
            (LISTEN_PORTS, r#"[{"HTTPS": 443}]"#, "need a certificate"),
            (CERTIFICATE_ARN, "my-cert", "certificate ARNs"),
            (SSL_REDIRECT, "443", "HTTPS port of"),
            (SSL_REDIRECT, "https", "from 1 to 65535"),
            (SSL_POLICY, "my policy", "security policy name"),
            ("actions.x", "{not json", "JSON"),
            (
                "actions.x",
                r#"{"type":"drop"}"#,
                "forward, redirect, fixed-response",
            ),
            (
                "actions.x",
                r#"{"type":"fixed-response","fixedResponseConfig":{"statusCode":"200000"}}"#,
                "statusCode",
            ),
            (
                "actions.x",
                r#"{"type":"redirect","redirectConfig":{"statusCode":"HTTP_307"}}"#,
                "HTTP_301 or HTTP_302",
            ),
            (
                "actions.x",
                r#"{"type":"forward","forwardConfig":{"targetGroups":[]}}"#,
                "at least one target group",
            ),
            (
                "actions.x",
                r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a","servicePort":80,"weight":1000}]}}"#,
                "weight",
            ),
            (
                "conditions.x",
                r#"[{"field":"cookie"}]"#,
                "host-header, path-pattern",
            ),
            (
                "conditions.x",
                r#"[{"field":"host-header","hostHeaderConfig":{"values":[]}}]"#,
                "at least one value",
            ),
            ("healthcheck-intervall", "10", "unknown annotation"),
            (
                "wafv2-acl-arn",
                "arn:aws:wafv2:x",
                "does not support this annotation yet",
            ),
            (INBOUND_CIDRS, "10.0.0.0", "not an IPv4 or IPv6 CIDR"),
            (INBOUND_CIDRS, "10.0.0.0/33", "not an IPv4 or IPv6 CIDR"),
            (INBOUND_CIDRS, "10.0.0.0/8,anywhere", "\"anywhere\" is not"),
            (INBOUND_CIDRS, "2001:db8::/129", "not an IPv4 or IPv6 CIDR"),
            (INBOUND_CIDRS, ",", "comma-separated list"),
            (
                "security-group-prefix-lists",
                "pl-1",
                "does not support this annotation yet",
            ),
        ];
        for (k, v, want) in invalid {
            let mut pairs = vec![(k, v)];
            if k == SSL_REDIRECT {
                pairs.push((CERTIFICATE_ARN, CERT));
                pairs.push((LISTEN_PORTS, r#"[{"HTTP": 80}]"#));
            }
            let err =
                parse(&obj(), &ann(&pairs)).expect_err(&format!("{k}={v:?} should be rejected"));
            let msg = err.to_string();
            assert!(msg.contains("Ingress shop/web"), "{msg}");
            assert!(
                msg.contains(&format!("{PREFIX}{k}")),
                "names the annotation {k}: {msg}"
            );
            assert!(msg.contains(&format!("{v:?}")), "quotes the value: {msg}");
            assert!(msg.contains(want), "{k}={v:?} should say {want:?}: {msg}");
            assert_eq!(err.reason(), "InvalidAnnotation");
        }
    }

    #[test]
    fn inbound_cidrs_are_normalised() {
        let s = parse(
            &obj(),
            &ann(&[(
                INBOUND_CIDRS,
                "2001:db8::1/32, 192.168.1.7/24,10.0.0.0/8,10.0.0.0/8",
            )]),
        )
        .unwrap();
        assert_eq!(
            s.inbound_cidrs.unwrap(),
            ["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"]
        );
        assert_eq!(parse(&obj(), &ann(&[])).unwrap().inbound_cidrs, None);
    }

    #[test]
    fn defaults_and_listen_ports() {
        let s = parse(&obj(), &ann(&[])).unwrap();
        assert_eq!(s.listen_ports, [(ListenProtocol::Http, 80)]);
        assert_eq!(
            (s.order, s.group.as_deref(), s.scheme.as_deref()),
            (0, None, None)
        );
        let s = parse(&obj(), &ann(&[(CERTIFICATE_ARN, CERT)])).unwrap();
        assert_eq!(s.listen_ports, [(ListenProtocol::Https, 443)]);
        let s = parse(
            &obj(),
            &ann(&[
                (CERTIFICATE_ARN, CERT),
                (LISTEN_PORTS, r#"[{"HTTPS":443},{"HTTP":80}]"#),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.listen_ports,
            [(ListenProtocol::Http, 80), (ListenProtocol::Https, 443)]
        );
        // Other tools' annotations are ignored.
        let mut a = ann(&[]);
        a.insert("kubernetes.io/ingress.class".into(), "alb".into());
        a.insert(
            "external-dns.alpha.kubernetes.io/hostname".into(),
            "x".into(),
        );
        parse(&obj(), &a).unwrap();
    }

    #[test]
    fn target_group_settings_service_wins_and_defaults() {
        let d = tg_settings(&obj(), &ann(&[]), "shop/web", &BTreeMap::new()).unwrap();
        assert_eq!(
            (
                d.target_type.as_str(),
                d.protocol.as_str(),
                d.hc_interval,
                d.hc_timeout,
                d.hc_healthy,
                d.hc_unhealthy
            ),
            ("instance", "HTTP", 15, 5, 2, 2)
        );
        let ing = ann(&[
            (HC_PATH, "/ingress"),
            (TARGET_TYPE, "ip"),
            (SUCCESS_CODES, "200-299"),
        ]);
        let svc = ann(&[
            (HC_PATH, "/service"),
            (BACKEND_PROTOCOL_VERSION, "GRPC"),
            (SUCCESS_CODES, "0-12"),
        ]);
        let s = tg_settings(&obj(), &ing, "shop/web", &svc).unwrap();
        assert_eq!(s.hc_path.as_deref(), Some("/service"), "the Service wins");
        assert_eq!(s.target_type, "ip", "the Ingress fills in");
        assert_eq!(
            s.success_codes.as_deref(),
            Some("0-12"),
            "gRPC codes for GRPC"
        );
        let err = tg_settings(&obj(), &ing, "shop/api", &ann(&[(HC_INTERVAL, "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Ingress shop/web")
                && err.contains(
                    "alb.ingress.kubernetes.io/healthcheck-interval-seconds (on Service shop/api)"
                )
                && err.contains("\"1\""),
            "{err}"
        );
        for (k, v, want) in [
            (TARGET_TYPE, "pod", "instance, ip"),
            (BACKEND_PROTOCOL, "TCP", "HTTP, HTTPS"),
            (BACKEND_PROTOCOL_VERSION, "HTTP3", "HTTP1, HTTP2, GRPC"),
            (HC_PROTOCOL, "TCP", "HTTP, HTTPS"),
            (HC_PATH, "health", "starting with '/'"),
            (HC_PORT, "99999", "1 to 65535"),
            (HC_TIMEOUT, "1", "from 2 to 120"),
            (HC_TIMEOUT, "20", "shorter than the health-check interval"),
            (HC_HEALTHY, "11", "from 2 to 10"),
            (HC_UNHEALTHY, "1", "from 2 to 10"),
            (SUCCESS_CODES, "500", "200 to 499"),
            (TG_ATTRIBUTES, "stickiness.enabled=yes", "true or false"),
            (
                TG_ATTRIBUTES,
                "proxy_protocol_v2.enabled=true",
                "unknown attribute",
            ),
        ] {
            let err = tg_settings(&obj(), &ann(&[(k, v)]), "shop/web", &BTreeMap::new())
                .expect_err(&format!("{k}={v:?}"))
                .to_string();
            assert!(err.contains(k) && err.contains(want), "{k}={v:?}: {err}");
        }
    }
}
