use super::*;
use crate::frontend::{Endpoint, Node, ObjectRef};

fn fe(annotations: &[(&str, &str)]) -> Frontend {
    let mut f = Frontend::new(ObjectRef::service("shop", "web"), "c1");
    for (k, v) in annotations {
        f.annotations
            .insert(format!("service.beta.kubernetes.io/{k}"), v.to_string());
    }
    f.ports.push(ServicePort {
        name: Some("http".into()),
        protocol: Protocol::Tcp,
        port: 80,
        node_port: Some(30080),
        target_port: Some(8080),
        endpoints: vec![
            Endpoint {
                ip: "10.0.0.2".into(),
                port: 8080,
            },
            Endpoint {
                ip: "10.0.0.1".into(),
                port: 8080,
            },
        ],
    });
    f.nodes = vec![
        Node {
            name: "n1".into(),
            provider_id: Some("aws:///us-east-1a/i-111".into()),
            internal_ip: None,
            labels: Default::default(),
        },
        Node {
            name: "n2".into(),
            provider_id: Some("aws:///us-east-1b/i-222".into()),
            internal_ip: None,
            labels: Default::default(),
        },
        Node {
            name: "fargate".into(),
            provider_id: Some("aws:///us-east-1a/fargate-ip-1".into()),
            internal_ip: None,
            labels: Default::default(),
        },
    ];
    f
}

fn run(f: &Frontend) -> Vec<Resource> {
    crate::aws::desired(f, &AwsFacts::default()).unwrap()
}

fn of<'a>(r: &'a [Resource], kind: &str) -> Vec<&'a Map<String, Value>> {
    r.iter()
        .filter(|x| x.kind == kind)
        .map(|x| &x.properties)
        .collect()
}

#[test]
fn defaults_follow_the_aws_controller() {
    let r = run(&fe(&[]));
    let lb = of(&r, KIND_LB)[0];
    assert_eq!(lb["Scheme"], "internal");
    assert_eq!(lb["Type"], "network");
    assert!(
        lb.get("Subnets").is_none(),
        "offline: subnets are discovered at apply time"
    );
    let tg = of(&r, KIND_TG)[0];
    assert_eq!(
        (
            tg["Protocol"].as_str(),
            tg["Port"].as_u64(),
            tg["TargetType"].as_str()
        ),
        (Some("TCP"), Some(30080), Some("instance"))
    );
    assert_eq!(
        (
            tg["HealthCheckProtocol"].as_str(),
            tg["HealthCheckPort"].as_str()
        ),
        (Some("TCP"), Some("traffic-port"))
    );
    assert_eq!(
        (
            tg["HealthCheckIntervalSeconds"].as_u64(),
            tg["HealthCheckTimeoutSeconds"].as_u64()
        ),
        (Some(10), Some(10))
    );
    assert_eq!(
        (
            tg["HealthyThresholdCount"].as_u64(),
            tg["UnhealthyThresholdCount"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert!(
        tg.get("HealthCheckPath").is_none() && tg.get("Matcher").is_none(),
        "TCP checks carry no path or matcher"
    );
    assert_eq!(
        tg["Targets"],
        json!([{"Id": "i-111", "Port": 30080}, {"Id": "i-222", "Port": 30080}])
    );
    let li = of(&r, KIND_LISTENER)[0];
    assert_eq!(li["Protocol"], "TCP");
    assert_eq!(
        li["DefaultActions"][0]["TargetGroupArn"]["Ref"],
        r[1].name.as_str()
    );
    for res in &r {
        if res.kind == KIND_LISTENER {
            continue;
        }
        assert!(
            res.name.len() <= 32 && res.name.starts_with("k8s-shop-web-"),
            "{}",
            res.name
        );
        let tags = res.properties["Tags"].as_array().unwrap();
        assert!(tags.contains(&json!({"Key": "service.k8s.aws/stack", "Value": "shop/web"})));
        assert!(tags.contains(&json!({"Key": "elbv2.k8s.aws/cluster", "Value": "c1"})));
    }
}

#[test]
fn local_traffic_policy_checks_health_check_node_port() {
    let mut f = fe(&[]);
    f.external_traffic_policy = TrafficPolicy::Local;
    f.health_check_node_port = Some(32000);
    let r = run(&f);
    let tg = of(&r, KIND_TG)[0];
    assert_eq!(tg["HealthCheckProtocol"], "HTTP");
    assert_eq!(tg["HealthCheckPort"], "32000");
    assert_eq!(tg["HealthCheckPath"], "/healthz");
    assert_eq!(
        (
            tg["HealthCheckTimeoutSeconds"].as_u64(),
            tg["HealthyThresholdCount"].as_u64()
        ),
        (Some(6), Some(2))
    );
    assert_eq!(tg["Matcher"]["HttpCode"], "200-399");
    f.health_check_node_port = None;
    let err = crate::aws::desired(&f, &AwsFacts::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.healthCheckNodePort"), "{err}");
}

#[test]
fn http_health_check_annotations() {
    let r = run(&fe(&[
        ("aws-load-balancer-healthcheck-protocol", "HTTP"),
        ("aws-load-balancer-healthcheck-port", "http"),
        ("aws-load-balancer-healthcheck-success-codes", "200"),
    ]));
    let tg = of(&r, KIND_TG)[0];
    assert_eq!(
        (
            tg["HealthCheckPath"].as_str(),
            tg["HealthCheckPort"].as_str()
        ),
        (Some("/"), Some("30080"))
    );
    assert_eq!(tg["Matcher"]["HttpCode"], "200");
}

#[test]
fn ip_targets_use_ready_pod_ips_on_the_target_port() {
    let r = run(&fe(&[("aws-load-balancer-nlb-target-type", "ip")]));
    let tg = of(&r, KIND_TG)[0];
    assert_eq!(tg["TargetType"], "ip");
    assert_eq!(tg["Port"], 8080);
    assert_eq!(
        tg["Targets"],
        json!([{"Id": "10.0.0.1", "Port": 8080}, {"Id": "10.0.0.2", "Port": 8080}])
    );
    let mut f = fe(&[("aws-load-balancer-nlb-target-type", "ip")]);
    f.endpoints_unavailable = Some("no EndpointSlice v1".into());
    let err = crate::aws::desired(&f, &AwsFacts::default()).unwrap_err();
    assert_eq!(err.reason(), "Unavailable");
    assert!(err.to_string().contains("no EndpointSlice v1"));
}

#[test]
fn session_affinity_turns_on_source_ip_stickiness_unless_annotated() {
    let mut f = fe(&[]);
    f.session_affinity_client_ip = true;
    let tg_attrs = |f: &Frontend| {
        run(f)
            .into_iter()
            .find(|r| r.kind == KIND_TG)
            .unwrap()
            .properties["TargetGroupAttributes"]
            .clone()
    };
    assert_eq!(
        tg_attrs(&f),
        json!([{"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "source_ip"}])
    );
    f.annotations.insert(
        "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes".into(),
        "stickiness.enabled=false".into(),
    );
    assert_eq!(
        tg_attrs(&f),
        json!([{"Key": "stickiness.enabled", "Value": "false"}])
    );
}

#[test]
fn tls_ports_alpn_backend_and_tcp_udp() {
    let mut f = fe(&[
        (
            "aws-load-balancer-ssl-cert",
            "arn:aws:acm:us-east-1:1:certificate/a,arn:aws:acm:us-east-1:1:certificate/b",
        ),
        ("aws-load-balancer-ssl-ports", "443"),
        ("aws-load-balancer-alpn-policy", "HTTP2Preferred"),
        ("aws-load-balancer-backend-protocol", "ssl"),
    ]);
    f.ports.push(ServicePort {
        name: Some("https".into()),
        protocol: Protocol::Tcp,
        port: 443,
        node_port: Some(30443),
        target_port: Some(8443),
        endpoints: vec![],
    });
    f.ports.push(ServicePort {
        name: Some("dns-tcp".into()),
        protocol: Protocol::Tcp,
        port: 53,
        node_port: Some(30053),
        target_port: Some(53),
        endpoints: vec![],
    });
    f.ports.push(ServicePort {
        name: Some("dns-udp".into()),
        protocol: Protocol::Udp,
        port: 53,
        node_port: Some(30053),
        target_port: Some(53),
        endpoints: vec![],
    });
    let r = run(&f);
    let lis = of(&r, KIND_LISTENER);
    let protocols: Vec<&str> = lis
        .iter()
        .map(|l| l["Protocol"].as_str().unwrap())
        .collect();
    assert_eq!(protocols, ["TCP", "TLS", "TCP_UDP"]);
    assert_eq!(lis[1]["Certificates"].as_array().unwrap().len(), 2);
    assert_eq!(lis[1]["SslPolicy"], DEFAULT_SSL_POLICY);
    assert_eq!(lis[1]["AlpnPolicy"], json!(["HTTP2Preferred"]));
    let tgs = of(&r, KIND_TG);
    assert_eq!(
        tgs.iter()
            .map(|t| t["Protocol"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["TCP", "TLS", "TCP_UDP"]
    );
    // Without ssl-ports every TCP port is TLS.
    let mut g = fe(&[(
        "aws-load-balancer-ssl-cert",
        "arn:aws:acm:us-east-1:1:certificate/a",
    )]);
    g.ports.push(f.ports[1].clone());
    assert!(of(&run(&g), KIND_LISTENER)
        .iter()
        .all(|l| l["Protocol"] == "TLS"));
    // A port over TCP and UDP is one TCP_UDP listener, which has no TLS: refused, never TLS
    // dropped silently (in either order of the two entries).
    for udp_first in [false, true] {
        let mut h = g.clone();
        let mut udp = h.ports[0].clone();
        udp.protocol = Protocol::Udp;
        if udp_first {
            h.ports.insert(0, udp);
        } else {
            h.ports.push(udp);
        }
        let e = crate::aws::desired(&h, &Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("aws-load-balancer-ssl-ports") && e.contains("port 80 has TCP and UDP"),
            "{e}"
        );
    }
}

#[test]
fn names_are_stable_and_immutable_changes_rename() {
    let a = run(&fe(&[]));
    assert_eq!(a, run(&fe(&[])), "translation is deterministic");
    let b = run(&fe(&[("aws-load-balancer-scheme", "internet-facing")]));
    assert_ne!(
        a[0].name, b[0].name,
        "a scheme change needs a new load balancer"
    );
    let c = run(&fe(&[("aws-load-balancer-nlb-target-type", "ip")]));
    assert_ne!(
        a[1].name, c[1].name,
        "a target-type change needs a new target group"
    );
    assert_eq!(a[0].name, c[0].name);
    let named = run(&fe(&[("aws-load-balancer-name", "edge")]));
    assert_eq!(named[0].name, "edge");
    assert_eq!(named[2].name, "edge:80");
}

#[test]
fn facts_fill_subnets_and_vpc() {
    let facts = AwsFacts {
        vpc_id: Some("vpc-1".into()),
        subnets: Some(vec!["subnet-a".into(), "subnet-b".into()]),
        ..Default::default()
    };
    let r = crate::aws::desired(&fe(&[]), &facts).unwrap();
    assert_eq!(r[0].properties["Subnets"], json!(["subnet-a", "subnet-b"]));
    assert_eq!(r[1].properties["VpcId"], "vpc-1");
    let explicit = run(&fe(&[("aws-load-balancer-subnets", "subnet-x,subnet-y")]));
    assert_eq!(
        explicit[0].properties["Subnets"],
        json!(["subnet-x", "subnet-y"])
    );
}

#[test]
fn sctp_and_missing_node_port_are_field_errors() {
    let mut f = fe(&[]);
    f.ports[0].protocol = Protocol::Sctp;
    assert!(crate::aws::desired(&f, &AwsFacts::default())
        .unwrap_err()
        .to_string()
        .contains("spec.ports[80/SCTP].protocol"));
    let mut f = fe(&[]);
    f.ports[0].node_port = None;
    let err = crate::aws::desired(&f, &AwsFacts::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nodePort") && err.contains("nlb-target-type: ip"),
        "{err}"
    );
}

fn sg_rules_of(r: &[Resource]) -> Vec<(String, u64, String)> {
    let sg = of(r, crate::aws::KIND_SG);
    assert_eq!(sg.len(), 1, "one managed security group");
    let mut out: Vec<(String, u64, String)> = sg[0]["SecurityGroupIngress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let src = ["CidrIp", "CidrIpv6", "SourcePrefixListId"]
                .iter()
                .find_map(|k| x.get(*k))
                .and_then(Value::as_str)
                .unwrap()
                .to_string();
            (
                x["IpProtocol"].as_str().unwrap().to_string(),
                x["FromPort"].as_u64().unwrap(),
                src,
            )
        })
        .collect();
    out.sort();
    out
}

fn rules(l: &[(&str, u64, &str)]) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = l
        .iter()
        .map(|(p, n, s)| (p.to_string(), *n, s.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn the_nlb_gets_a_managed_security_group_open_to_the_source_ranges_only() {
    // Default: every client, on every listener port.
    let r = run(&fe(&[]));
    let sg = of(&r, crate::aws::KIND_SG)[0];
    let lb = of(&r, KIND_LB)[0];
    assert_eq!(lb["SecurityGroups"], json!([{"Ref": sg["GroupName"]}]));
    assert_eq!(sg_rules_of(&r), rules(&[("tcp", 80, "0.0.0.0/0")]));
    assert_eq!(
        sg["GroupDescription"],
        "[k8s] Managed SecurityGroup for LoadBalancer"
    );

    // spec.loadBalancerSourceRanges: only those, never 0.0.0.0/0.
    let mut f = fe(&[]);
    f.source_ranges = vec!["10.0.0.0/8".into(), "203.0.113.0/24".into()];
    f.ports.push(ServicePort {
        name: Some("dns".into()),
        protocol: Protocol::Udp,
        port: 53,
        node_port: Some(30053),
        target_port: Some(53),
        endpoints: vec![],
    });
    assert_eq!(
        sg_rules_of(&run(&f)),
        rules(&[
            ("tcp", 80, "10.0.0.0/8"),
            ("tcp", 80, "203.0.113.0/24"),
            ("udp", 53, "10.0.0.0/8"),
            ("udp", 53, "203.0.113.0/24"),
        ])
    );

    // TCP and UDP on one port (TCP_UDP listener): both protocols.
    let mut f = fe(&[]);
    f.source_ranges = vec!["10.0.0.0/8".into()];
    let mut udp = f.ports[0].clone();
    udp.protocol = Protocol::Udp;
    f.ports.push(udp);
    assert_eq!(
        sg_rules_of(&run(&f)),
        rules(&[("tcp", 80, "10.0.0.0/8"), ("udp", 80, "10.0.0.0/8")])
    );

    // Prefix lists alone: nobody else; with ranges: both.
    let f = fe(&[("aws-load-balancer-security-group-prefix-lists", "pl-0a")]);
    assert_eq!(sg_rules_of(&run(&f)), rules(&[("tcp", 80, "pl-0a")]));
    let mut f = fe(&[("aws-load-balancer-security-group-prefix-lists", "pl-0a")]);
    f.source_ranges = vec!["10.0.0.0/8".into()];
    assert_eq!(
        sg_rules_of(&run(&f)),
        rules(&[("tcp", 80, "10.0.0.0/8"), ("tcp", 80, "pl-0a")])
    );

    // Dualstack: IPv6 clients too.
    let f = fe(&[("aws-load-balancer-ip-address-type", "dualstack")]);
    assert_eq!(
        sg_rules_of(&run(&f)),
        rules(&[("tcp", 80, "0.0.0.0/0"), ("tcp", 80, "::/0")])
    );

    // The user's security groups: attached as given, berth creates none.
    let r = run(&fe(&[("aws-load-balancer-security-groups", "sg-0b,sg-0a")]));
    assert!(of(&r, crate::aws::KIND_SG).is_empty());
    assert_eq!(
        of(&r, KIND_LB)[0]["SecurityGroups"],
        json!(["sg-0b", "sg-0a"])
    );
}

/// An NLB that exists without security groups: AWS cannot add one.
fn legacy(r: &[Resource]) -> crate::plan::Observed {
    let lb = r.iter().find(|x| x.kind == KIND_LB).unwrap();
    let mut props = lb.properties.clone();
    props.remove("SecurityGroups");
    crate::plan::Observed {
        resources: vec![crate::plan::ObservedResource {
            id: "arn:lb".into(),
            resource: Resource {
                kind: KIND_LB.into(),
                name: lb.name.clone(),
                properties: props,
            },
            outputs: Map::new(),
        }],
        ..Default::default()
    }
}

#[test]
fn an_nlb_without_security_groups_is_kept_open_or_the_restriction_refused() {
    use crate::aws::security_group::for_existing_nlbs;
    // Unrestricted: the managed group would change nothing; the NLB stays as it is.
    let r = run(&fe(&[]));
    let kept = for_existing_nlbs(&r, &legacy(&r)).unwrap();
    assert!(of(&kept, crate::aws::KIND_SG).is_empty());
    assert!(of(&kept, KIND_LB)[0].get("SecurityGroups").is_none());
    let plan = crate::aws::plan(&r, &legacy(&r)).unwrap();
    assert!(
        plan.changes
            .iter()
            .all(|c| c.kind != crate::aws::KIND_SG
                && !c.changed.contains(&"SecurityGroups".to_string())),
        "{plan:?}"
    );
    // Restricted: refused, naming the Service and what to do; nothing planned.
    let mut f = fe(&[]);
    f.source_ranges = vec!["203.0.113.0/24".into()];
    let r = run(&f);
    let e = crate::aws::plan(&r, &legacy(&r)).unwrap_err();
    assert_eq!(e.reason(), "ReplacementNeeded");
    let msg = e.to_string();
    assert!(
        msg.contains("Service shop/web")
            && msg.contains("arn:lb")
            && msg.contains("aws-load-balancer-name"),
        "{msg}"
    );
    let r = run(&fe(&[("aws-load-balancer-security-groups", "sg-0a")]));
    assert!(crate::aws::plan(&r, &legacy(&r)).is_err());
    // An NLB that has security groups is updated in place as usual.
    let r = run(&f);
    let mut o = legacy(&r);
    o.resources[0]
        .resource
        .properties
        .insert("SecurityGroups".into(), json!(["sg-old"]));
    assert_eq!(for_existing_nlbs(&r, &o).unwrap(), r);
}

#[test]
fn backend_rules_reference_the_managed_group_and_go_with_it() {
    let groups: crate::aws::backend_rules::TargetGroups = [
        ("i-111".to_string(), "sg-node".to_string()),
        ("i-222".to_string(), "sg-node".to_string()),
    ]
    .into();
    let facts = AwsFacts {
        target_security_groups: Some(groups),
        ..Default::default()
    };
    let r = crate::aws::desired(&fe(&[]), &facts).unwrap();
    let rules = of(&r, crate::aws::KIND_SG_INGRESS);
    assert_eq!(
        rules.len(),
        1,
        "one port, traffic = health check: {rules:?}"
    );
    let sg = of(&r, crate::aws::KIND_SG)[0];
    assert_eq!(rules[0]["GroupId"], "sg-node");
    assert_eq!(rules[0]["FromPort"], 30080);
    assert_eq!(
        rules[0]["SourceSecurityGroupId"],
        json!({"Ref": sg["GroupName"]})
    );
    // Off, or the user's groups: none.
    let off = crate::aws::desired(
        &fe(&[(
            "aws-load-balancer-manage-backend-security-group-rules",
            "false",
        )]),
        &facts,
    )
    .unwrap();
    assert!(of(&off, crate::aws::KIND_SG_INGRESS).is_empty());
    let theirs = crate::aws::desired(
        &fe(&[("aws-load-balancer-security-groups", "sg-0a")]),
        &facts,
    )
    .unwrap();
    assert!(of(&theirs, crate::aws::KIND_SG_INGRESS).is_empty());
    // An NLB kept without security groups keeps no rules either (their source is gone).
    let kept = crate::aws::security_group::for_existing_nlbs(&r, &legacy(&r)).unwrap();
    assert!(of(&kept, crate::aws::KIND_SG_INGRESS).is_empty());
}

/// ELBv2 refuses a health-check timeout above the interval: refused here, before any call.
#[test]
fn a_health_check_timeout_above_the_interval_is_refused() {
    let e = translate_err(&[(ann::HC_INTERVAL, "10"), (ann::HC_TIMEOUT, "20")]);
    assert!(
        e.contains("aws-load-balancer-healthcheck-timeout")
            && e.contains("at most the health-check interval (10 s)"),
        "{e}"
    );
    let e = translate_err(&[(ann::HC_TIMEOUT, "30")]);
    assert!(e.contains("(10 s, the default)"), "{e}");
    let e = translate_err(&[(ann::HC_INTERVAL, "5")]);
    assert!(
        e.contains("aws-load-balancer-healthcheck-interval")
            && e.contains("at least the health-check timeout"),
        "{e}"
    );
    let ok = fe(&[(ann::HC_INTERVAL, "10"), (ann::HC_TIMEOUT, "10")]);
    assert!(crate::aws::desired(&ok, &Default::default()).is_ok());
}

fn translate_err(annotations: &[(&str, &str)]) -> String {
    crate::aws::desired(&fe(annotations), &Default::default())
        .unwrap_err()
        .to_string()
}

/// AWS quotas are checked here, not discovered halfway through an apply.
#[test]
fn aws_quotas_are_checked_before_any_call() {
    // Listeners per NLB: one per port.
    let mut many = fe(&[]);
    let template = many.ports[0].clone();
    many.ports = (1..=51)
        .map(|i| ServicePort {
            port: 1000 + i,
            node_port: Some(30000 + i),
            ..template.clone()
        })
        .collect();
    let e = crate::aws::desired(&many, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("spec.ports") && e.contains("at most 50 ports"),
        "{e}"
    );

    // Inbound rules of the managed security group: ports x sources, per address family.
    let mut wide = fe(&[]);
    wide.source_ranges = (0..61).map(|i| format!("10.{i}.0.0/16")).collect();
    let e = crate::aws::desired(&wide, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("spec.loadBalancerSourceRanges") && e.contains("at most 60 per address family"),
        "{e}"
    );
    wide.source_ranges.truncate(60);
    assert!(crate::aws::desired(&wide, &Default::default()).is_ok());

    // Tags and certificates, in the annotations.
    let tags: Vec<String> = (0..45).map(|i| format!("k{i}=v")).collect();
    let e = translate_err(&[(ann::TAGS, &tags.join(","))]);
    assert!(e.contains("at most 44 tags (45 given)"), "{e}");
    let certs: Vec<String> = (0..26)
        .map(|i| format!("arn:aws:acm:us-east-1:1:certificate/{i}"))
        .collect();
    let e = translate_err(&[(ann::SSL_CERT, &certs.join(","))]);
    assert!(e.contains("at most 25 certificates (26 given)"), "{e}");
}

/// The address type is always written, so removing `ip-address-type` goes back to ipv4.
#[test]
fn the_address_type_is_always_written() {
    let lb = |f: &Frontend| run(f).into_iter().find(|r| r.kind == KIND_LB).unwrap();
    assert_eq!(lb(&fe(&[])).properties["IpAddressType"], "ipv4");
    assert_eq!(
        lb(&fe(&[(ann::IP_ADDRESS_TYPE, "dualstack")])).properties["IpAddressType"],
        "dualstack"
    );
}

/// `aws-load-balancer-target-node-labels`: instance targets only on nodes with every label.
#[test]
fn target_node_labels_select_the_instance_targets() {
    let mut f = fe(&[(ann::TARGET_NODE_LABELS, "pool=edge, zone=a")]);
    f.nodes[0].labels = [("pool", "edge"), ("zone", "a")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    f.nodes[1].labels = [("pool".to_string(), "edge".to_string())].into();
    let tg = run(&f).into_iter().find(|r| r.kind == KIND_TG).unwrap();
    assert_eq!(
        tg.properties["Targets"],
        json!([{"Id": "i-111", "Port": 30080}])
    );
    let e = translate_err(&[(ann::TARGET_NODE_LABELS, "pool")]);
    assert!(e.contains("aws-load-balancer-target-node-labels"), "{e}");
}
