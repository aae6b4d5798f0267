//! The ALB annotations, valid and invalid.

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
        parse(&obj(), &ann(&pairs)).unwrap_or_else(|e| panic!("{pairs:?} should be valid: {e}"));
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
        let err = parse(&obj(), &ann(&pairs)).expect_err(&format!("{k}={v:?} should be rejected"));
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
