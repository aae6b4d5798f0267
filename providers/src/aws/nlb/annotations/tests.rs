use super::*;
use crate::frontend::{ObjectRef, Protocol, ServicePort};

fn fe(annotations: &[(&str, &str)]) -> Frontend {
    let mut f = Frontend::new(ObjectRef::service("shop", "web"), "c1");
    for (k, v) in annotations {
        f.annotations
            .insert(format!("service.beta.kubernetes.io/{k}"), v.to_string());
    }
    for (name, port) in [("http", 80), ("https", 443)] {
        f.ports.push(ServicePort {
            name: Some(name.into()),
            protocol: Protocol::Tcp,
            port,
            node_port: Some(30000 + port),
            target_port: Some(8080),
            endpoints: vec![],
        });
    }
    f
}

/// Every supported annotation: valid values parse, invalid ones fail naming the annotation,
/// the value and what is accepted.
#[test]
fn each_annotation_valid_and_invalid() {
    let cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc";
    let valid: Vec<(&str, &str)> = vec![
        (TYPE, "external"),
        (TYPE, "nlb-ip"),
        (TYPE, "nlb"),
        (TARGET_TYPE, "instance"),
        (TARGET_TYPE, "ip"),
        (TARGET_TYPE, "IP"),
        (NAME, "my-nlb-1"),
        (SCHEME, "internet-facing"),
        (SCHEME, "internal"),
        (INTERNAL, "true"),
        (INTERNAL, "false"),
        (SUBNETS, "subnet-1, subnet-2"),
        (SUBNETS, "private-a"),
        (IP_ADDRESS_TYPE, "dualstack"),
        (HC_PROTOCOL, "http"),
        (HC_PORT, "traffic-port"),
        (HC_PORT, "8081"),
        (HC_PORT, "https"),
        (HC_PATH, "/healthz"),
        (HC_INTERVAL, "30"),
        (HC_TIMEOUT, "6"),
        (HC_HEALTHY, "2"),
        (HC_UNHEALTHY, "10"),
        (HC_SUCCESS_CODES, "200-299"),
        (HC_SUCCESS_CODES, "200,202"),
        (SSL_CERT, cert),
        (SSL_POLICY, "ELBSecurityPolicy-TLS13-1-2-2021-06"),
        (ALPN_POLICY, "HTTP2Preferred"),
        (BACKEND_PROTOCOL, "ssl"),
        (BACKEND_PROTOCOL, "tcp"),
        (PROXY_PROTOCOL, "*"),
        (
            TG_ATTRIBUTES,
            "deregistration_delay.timeout_seconds=120, preserve_client_ip.enabled=false",
        ),
        (TG_ATTRIBUTES, "proxy_protocol_v2.enabled.443=true"),
        (LB_ATTRIBUTES, "deletion_protection.enabled=true"),
        (CROSS_ZONE, "true"),
        (TAGS, "team=payments,env=prod"),
        (SECURITY_GROUPS, "sg-0123abcd, sg-0456ef"),
        (SG_PREFIX_LISTS, "pl-0123abcd,pl-0456ef"),
        (MANAGE_BACKEND_SG_RULES, "false"),
        (MANAGE_BACKEND_SG_RULES, "true"),
    ];
    for (k, v) in valid {
        let mut pairs = vec![(k, v)];
        if k == SSL_POLICY || k == ALPN_POLICY {
            pairs.push((SSL_CERT, cert));
        }
        parse(&fe(&pairs)).unwrap_or_else(|e| panic!("{k}={v:?} should be valid: {e}"));
    }
    let invalid: Vec<(&str, &str, &str)> = vec![
        (TYPE, "clb", "expected one of external, nlb-ip, nlb"),
        (TARGET_TYPE, "pod", "expected one of instance, ip"),
        (NAME, "-bad", "letters, digits and hyphens"),
        (NAME, "a-name-that-is-far-too-long-for-aws-elb", "1-32"),
        (NAME, "internal-x", "internal-"),
        (SCHEME, "public", "internal, internet-facing"),
        (INTERNAL, "yes", "true or false"),
        (SUBNETS, ",", "subnet IDs or Name tags"),
        (IP_ADDRESS_TYPE, "ipv6", "ipv4, dualstack"),
        (HC_PROTOCOL, "UDP", "TCP, HTTP, HTTPS"),
        (HC_PORT, "metrics", "name of a Service port (http, https)"),
        (HC_PORT, "70000", "1 to 65535"),
        (HC_PATH, "healthz", "starting with '/'"),
        (HC_INTERVAL, "abc", "from 5 to 300"),
        (HC_INTERVAL, "1", "from 5 to 300"),
        (HC_TIMEOUT, "121", "from 2 to 120"),
        (HC_HEALTHY, "11", "from 2 to 10"),
        (HC_UNHEALTHY, "1", "from 2 to 10"),
        (HC_SUCCESS_CODES, "100", "200 to 599"),
        (HC_SUCCESS_CODES, "399-200", "200 to 599"),
        (SSL_CERT, "my-cert", "certificate ARNs"),
        (SSL_PORTS, "443", "need a certificate"),
        (ALPN_POLICY, "HTTP3", "HTTP1Only"),
        (BACKEND_PROTOCOL, "http", "tcp, ssl, tls"),
        (PROXY_PROTOCOL, "true", "expected *"),
        (TG_ATTRIBUTES, "stickiness.enabled", "has no '='"),
        (
            TG_ATTRIBUTES,
            "foo.bar=1",
            "unknown target-group attribute \"foo.bar\"",
        ),
        (TG_ATTRIBUTES, "stickiness.enabled=", "empty value"),
        (
            TG_ATTRIBUTES,
            "stickiness.enabled=true,stickiness.enabled=false",
            "given twice",
        ),
        (
            LB_ATTRIBUTES,
            "idle_timeout.timeout_seconds=60",
            "unknown load-balancer attribute",
        ),
        (CROSS_ZONE, "on", "true or false"),
        (ACCESS_LOG_ENABLED, "yes", "true or false"),
        (ACCESS_LOG_ENABLED, "true", "a bucket too"),
        (ACCESS_LOG_BUCKET, "My_Bucket", "an S3 bucket name"),
        (TAGS, "elbv2.k8s.aws/cluster=x", "reserved"),
        (TAGS, "AWS:cloudformation:stack-name=x", "reserved"),
        (TAGS, "Aws:x=y", "reserved"),
        (TAGS, "=x", "empty key"),
        (
            "aws-load-balancer-healthcheck-intervall",
            "10",
            "unknown annotation",
        ),
        (
            "aws-load-balancer-eip-allocations",
            "eipalloc-1",
            "does not support this annotation yet",
        ),
        (SECURITY_GROUPS, "web-sg", "IDs (sg-…) only"),
        (SECURITY_GROUPS, ",", "security group IDs"),
        (SG_PREFIX_LISTS, "pl-xyz", "prefix list IDs (pl-…)"),
        (SG_PREFIX_LISTS, "", "prefix list IDs (pl-…)"),
        (MANAGE_BACKEND_SG_RULES, "yes", "true or false"),
    ];
    for (k, v, want) in invalid {
        let err = parse(&fe(&[(k, v)])).expect_err(&format!("{k}={v:?} should be rejected"));
        let msg = err.to_string();
        assert!(msg.contains("Service shop/web"), "{msg}");
        assert!(
            msg.contains(k),
            "error should name the annotation {k}: {msg}"
        );
        assert!(
            msg.contains(&format!("{v:?}")),
            "error should quote the value: {msg}"
        );
        assert!(
            msg.contains(want),
            "error for {k}={v:?} should say {want:?}: {msg}"
        );
        assert_eq!(err.reason(), "InvalidAnnotation");
    }
    // An ssl-ports entry that matches no port is an error naming the ports there are.
    let err = parse(&fe(&[(SSL_CERT, cert), (SSL_PORTS, "8443")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("matches no Service port") && err.contains("80(http), 443(https)"),
        "{err}"
    );
    // A TCP health check has no path.
    let err = parse(&fe(&[(HC_PROTOCOL, "TCP"), (HC_PATH, "/x")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("TCP health check has no path"), "{err}");
}

#[test]
fn defaults_and_legacy_forms() {
    let a = parse(&fe(&[])).unwrap();
    assert!(a.internal, "scheme defaults to internal");
    assert_eq!(a.target_type, TargetType::Instance);
    assert_eq!(a.subnets, Subnets::Discover);
    assert!(!parse(&fe(&[(INTERNAL, "false")])).unwrap().internal);
    assert!(
        parse(&fe(&[(SCHEME, "internal"), (INTERNAL, "false")]))
            .unwrap()
            .internal,
        "scheme wins over legacy internal"
    );
    assert_eq!(
        parse(&fe(&[(TYPE, "nlb-ip")])).unwrap().target_type,
        TargetType::Ip
    );
    let mut f = fe(&[]);
    f.annotations.insert(
        "service.kubernetes.io/aws-load-balancer-scheme".into(),
        "internet-facing".into(),
    );
    assert!(
        !parse(&f).unwrap().internal,
        "service.kubernetes.io/ prefix is accepted"
    );
    let a = parse(&fe(&[(
        TG_ATTRIBUTES,
        "deregistration_delay.timeout_seconds=5,proxy_protocol_v2.enabled.443=true",
    )]))
    .unwrap();
    assert_eq!(a.tg_attributes["deregistration_delay.timeout_seconds"], "5");
    assert_eq!(
        a.tg_attributes_by_port[&443]["proxy_protocol_v2.enabled"],
        "true"
    );
    let a = parse(&fe(&[
        (CROSS_ZONE, "true"),
        (SSL_CERT, "arn:a,arn:b"),
        (SSL_PORTS, "https"),
    ]))
    .unwrap();
    assert_eq!(a.lb_attributes["load_balancing.cross_zone.enabled"], "true");
    assert_eq!(a.ssl_certs, ["arn:a", "arn:b"]);
    assert_eq!(a.ssl_ports, Some(vec!["https".to_string()]));
    // Other tools' annotations are ignored.
    let mut f = fe(&[]);
    f.annotations.insert(
        "external-dns.alpha.kubernetes.io/hostname".into(),
        "x.example.com".into(),
    );
    f.annotations.insert(
        "service.beta.kubernetes.io/azure-load-balancer-internal".into(),
        "true".into(),
    );
    parse(&f).unwrap();
}

#[test]
fn access_restrictions_are_honoured_or_refused_never_dropped() {
    // The user's security groups and berth's source ranges or prefix lists exclude each other.
    let mut f = fe(&[(SECURITY_GROUPS, "sg-0abc")]);
    f.source_ranges = vec!["203.0.113.0/24".into()];
    let e = parse(&f).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.reason(), "InvalidField");
    assert!(
        msg.contains("spec.loadBalancerSourceRanges")
            && msg.contains("203.0.113.0/24")
            && msg.contains("sg-0abc"),
        "{msg}"
    );
    // ... named as the annotation when they came from it.
    f.source_ranges_from_annotation = true;
    f.annotations
        .insert(SOURCE_RANGES_ANNOTATION.into(), "203.0.113.0/24".into());
    let e = parse(&f).unwrap_err();
    assert_eq!(e.reason(), "InvalidAnnotation");
    assert!(e.to_string().contains(SOURCE_RANGES_ANNOTATION), "{e}");
    let e = parse(&fe(&[
        (SECURITY_GROUPS, "sg-0abc"),
        (SG_PREFIX_LISTS, "pl-0abc"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("prefix lists are rules of berth's managed security group"),
        "{e}"
    );
    // IPv6 clients need a dualstack load balancer.
    let mut f = fe(&[]);
    f.source_ranges = vec!["10.0.0.0/8".into(), "2001:db8::/32".into()];
    let e = parse(&f).unwrap_err().to_string();
    assert!(
        e.contains("2001:db8::/32 is an IPv6 range") && e.contains("dualstack"),
        "{e}"
    );
    f.annotations.insert(
        format!("{}{IP_ADDRESS_TYPE}", PREFIXES[0]),
        "dualstack".into(),
    );
    assert!(parse(&f).is_ok());
    let a = parse(&fe(&[
        (SECURITY_GROUPS, "sg-0b,sg-0a"),
        (SG_PREFIX_LISTS, "pl-2,pl-1,pl-2"),
    ]))
    .unwrap_err();
    assert_eq!(a.reason(), "InvalidAnnotation");
    let a = parse(&fe(&[(SG_PREFIX_LISTS, "pl-2,pl-1,pl-2")])).unwrap();
    assert_eq!(a.prefix_lists, ["pl-1", "pl-2"]);
    assert_eq!(a.security_groups, None);
    // Backend rules: on with berth's managed group, off with the user's, as ALBC.
    assert!(parse(&fe(&[])).unwrap().manage_backend_rules);
    assert!(
        !parse(&fe(&[(SECURITY_GROUPS, "sg-0a")]))
            .unwrap()
            .manage_backend_rules
    );
    assert!(
        !parse(&fe(&[(MANAGE_BACKEND_SG_RULES, "false")]))
            .unwrap()
            .manage_backend_rules
    );
    let e = parse(&fe(&[
        (SECURITY_GROUPS, "sg-0a"),
        (MANAGE_BACKEND_SG_RULES, "true"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(MANAGE_BACKEND_SG_RULES) && e.contains("sg-0a"),
        "{e}"
    );
}

/// The same annotation under both prefixes with different values is refused (which one wins is
/// not something a user should have to know); the same value twice is fine.
#[test]
fn both_prefixes_must_agree() {
    let mut f = fe(&[(SCHEME, "internal")]);
    f.annotations.insert(
        format!("service.kubernetes.io/{SCHEME}"),
        "internet-facing".into(),
    );
    let e = parse(&f).unwrap_err().to_string();
    assert!(
        e.contains("service.kubernetes.io/aws-load-balancer-scheme")
            && e.contains("set it under one prefix only"),
        "{e}"
    );
    f.annotations.insert(
        format!("service.kubernetes.io/{SCHEME}"),
        " internal".into(),
    );
    assert!(parse(&f).is_ok());
}

/// The access-log annotations stand for the access_logs.s3.* attributes; one that disagrees with
/// aws-load-balancer-attributes is refused, never silently preferred.
#[test]
fn access_logs_become_attributes_and_never_silently_win() {
    let a = parse(&fe(&[
        (ACCESS_LOG_ENABLED, "true"),
        (ACCESS_LOG_BUCKET, "my-logs"),
        (ACCESS_LOG_PREFIX, "/nlb/web/"),
    ]))
    .unwrap();
    assert_eq!(a.lb_attributes["access_logs.s3.enabled"], "true");
    assert_eq!(a.lb_attributes["access_logs.s3.bucket"], "my-logs");
    assert_eq!(a.lb_attributes["access_logs.s3.prefix"], "nlb/web");
    // The same value in both places is fine; a different one is refused.
    assert!(parse(&fe(&[
        (LB_ATTRIBUTES, "load_balancing.cross_zone.enabled=true"),
        (CROSS_ZONE, "true")
    ]))
    .is_ok());
    let e = parse(&fe(&[
        (LB_ATTRIBUTES, "load_balancing.cross_zone.enabled=false"),
        (CROSS_ZONE, "true"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("set it in one place"), "{e}");
}
