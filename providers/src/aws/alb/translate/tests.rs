use super::*;
use crate::aws::security_group::DESCRIPTION as SG_DESCRIPTION;
use crate::aws::KIND_SG;
use crate::frontend::{Node, Protocol, ServicePort};
use crate::ingress::{HttpPath, ResolvedBackend, Rule};
use crate::plan::{Action, Observed, ObservedResource};

fn member(
    ns: &str,
    name: &str,
    ann: &[(&str, &str)],
    host: &str,
    paths: &[(&str, PathType, &str)],
) -> Member {
    Member {
        object: ObjectRef {
            kind: FrontendKind::Ingress,
            namespace: ns.into(),
            name: name.into(),
        },
        annotations: ann
            .iter()
            .map(|(k, v)| (format!("{}{k}", ann::PREFIX), v.to_string()))
            .collect(),
        default_backend: None,
        rules: vec![Rule {
            host: Some(host.into()),
            paths: paths
                .iter()
                .map(|(p, t, svc)| HttpPath {
                    path: p.to_string(),
                    path_type: *t,
                    backend: backend(svc, 80),
                })
                .collect(),
        }],
        tls: vec![],
        annotation_backends: vec![],
    }
}

fn backend(svc: &str, node_port: u16) -> Backend {
    Backend {
        service: svc.into(),
        port: BackendPort::Number(80),
        resolved: if svc == "missing" {
            Err(format!("Service x/{svc} does not exist"))
        } else {
            Ok(ResolvedBackend {
                service_annotations: BTreeMap::new(),
                port: ServicePort {
                    name: Some("http".into()),
                    protocol: Protocol::Tcp,
                    port: 80,
                    node_port: Some(node_port),
                    target_port: Some(8080),
                    endpoints: vec![],
                },
                probe: None,
                probe_note: None,
            })
        },
    }
}

fn group(members: Vec<Member>) -> IngressGroup {
    IngressGroup {
        object: explicit_group("edge"),
        cluster: "c1".into(),
        members,
        nodes: vec![Node {
            name: "n1".into(),
            provider_id: Some("aws:///us-east-1a/i-1".into()),
            internal_ip: None,
            labels: Default::default(),
        }],
        endpoints_unavailable: None,
    }
}

fn a() -> Member {
    member(
        "shop",
        "a",
        &[(ann::GROUP_ORDER, "1")],
        "a.example.com",
        &[("/", PathType::Prefix, "web"), ("/x", PathType::Exact, "x")],
    )
}
fn b() -> Member {
    member(
        "blog",
        "b",
        &[(ann::GROUP_ORDER, "2")],
        "b.example.com",
        &[("/", PathType::Prefix, "blog")],
    )
}
fn c() -> Member {
    member(
        "shop",
        "c",
        &[(ann::GROUP_ORDER, "3")],
        "c.example.com",
        &[("/", PathType::Prefix, "web")],
    )
}

fn run(members: Vec<Member>) -> GroupDesired {
    translate(&group(members), &AwsFacts::default())
}

/// What exists after applying `desired`: refs resolved to `arn:<name>`.
fn applied(desired: &[Resource]) -> Observed {
    fn resolve(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if let (1, Some(Value::String(n))) = (m.len(), m.get("Ref")) {
                    *v = json!(format!("arn:{n}"));
                    return;
                }
                m.values_mut().for_each(resolve);
            }
            Value::Array(a) => a.iter_mut().for_each(resolve),
            _ => {}
        }
    }
    Observed {
        resources: desired
            .iter()
            .map(|r| {
                let mut v = Value::Object(r.properties.clone());
                resolve(&mut v);
                ObservedResource {
                    id: format!("arn:{}", r.name),
                    resource: Resource {
                        kind: r.kind.clone(),
                        name: r.name.clone(),
                        properties: v.as_object().cloned().unwrap_or_default(),
                    },
                    outputs: Map::new(),
                }
            })
            .collect(),
        foreign: BTreeMap::new(),
    }
}

fn summary(desired: &[Resource], observed: &Observed) -> Vec<String> {
    super::super::plan(desired, observed)
        .unwrap()
        .changes
        .iter()
        .map(|c| {
            format!(
                "{:?} {} {}",
                c.action,
                c.kind.rsplit("::").next().unwrap(),
                c.changed.join(",")
            )
        })
        .collect()
}

fn rules_of(r: &[Resource]) -> Vec<(u64, String)> {
    r.iter()
        .filter(|x| x.kind == KIND_RULE)
        .map(|x| {
            (
                x.properties["Priority"].as_u64().unwrap(),
                x.properties["Conditions"].to_string(),
            )
        })
        .collect()
}

#[test]
fn priorities_follow_order_then_specificity_and_are_stable() {
    let d = run(vec![b(), a()]);
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    let rules = rules_of(&d.resources);
    let hosts: Vec<(u64, bool, bool)> = rules
        .iter()
        .map(|(p, c)| (*p, c.contains("a.example.com"), c.contains("\"/x\"")))
        .collect();
    assert_eq!(
        hosts,
        [(1, true, true), (2, true, false), (3, false, false)]
    );
    // Same input in another order: the same resources, and a re-reconcile plans nothing.
    let again = run(vec![a(), b()]);
    assert_eq!(d.resources, again.resources);
    assert_eq!(
        summary(&again.resources, &applied(&d.resources)),
        Vec::<String>::new()
    );
}

#[test]
fn adding_or_removing_the_last_member_touches_only_its_resources() {
    let two = run(vec![a(), b()]).resources;
    let three = run(vec![a(), b(), c()]).resources;
    // c shares a's Service: only its rule is new.
    assert_eq!(summary(&three, &applied(&two)), ["Create ListenerRule "]);
    assert_eq!(summary(&two, &applied(&three)), ["Delete ListenerRule "]);
    // Removing b (in the middle): its rule and target group go, c's rule moves up one priority.
    let without_b = run(vec![a(), c()]).resources;
    assert_eq!(
        summary(&without_b, &applied(&three)),
        [
            "Update ListenerRule Priority",
            "Delete ListenerRule ",
            "Delete TargetGroup "
        ]
    );
    // The last member gone: everything goes.
    let none = run(vec![]).resources;
    assert!(none.is_empty());
    assert!(summary(&none, &applied(&two))
        .iter()
        .all(|s| s.starts_with("Delete")));
}

#[test]
fn a_bad_member_changes_nothing_for_the_others() {
    // a says internal explicitly: an unset scheme would let a later member choose it.
    let mut a = a();
    a.annotations
        .insert(format!("{}{}", ann::PREFIX, ann::SCHEME), "internal".into());
    let good = run(vec![a.clone(), b()]);
    let bad_annotation = member(
        "z",
        "typo",
        &[(ann::HC_INTERVAL, "3s")],
        "t.example.com",
        &[("/", PathType::Prefix, "web")],
    );
    let missing = member(
        "z",
        "orphan",
        &[],
        "o.example.com",
        &[("/", PathType::Prefix, "missing")],
    );
    let steal = member(
        "z",
        "steal",
        &[(ann::GROUP_ORDER, "5")],
        "a.example.com",
        &[("/x", PathType::Exact, "other")],
    );
    let public = member(
        "z",
        "public",
        &[(ann::SCHEME, "internet-facing"), (ann::GROUP_ORDER, "100")],
        "p.example.com",
        &[("/", PathType::Prefix, "web")],
    );
    let mut ports = member(
        "z",
        "ports",
        &[
            (ann::LISTEN_PORTS, r#"[{"HTTPS": 80}]"#),
            (ann::CERTIFICATE_ARN, "arn:c"),
        ],
        "q.example.com",
        &[("/", PathType::Prefix, "web")],
    );
    ports
        .annotations
        .insert(format!("{}{}", ann::PREFIX, ann::GROUP_ORDER), "9".into());
    let mut no_node_port = member(
        "z",
        "cip",
        &[],
        "n.example.com",
        &[("/", PathType::Prefix, "web")],
    );
    if let Ok(r) = &mut no_node_port.rules[0].paths[0].backend.resolved {
        r.port.node_port = None;
    }
    let all = run(vec![
        a,
        bad_annotation,
        b(),
        missing,
        steal,
        public,
        ports,
        no_node_port,
    ]);
    assert_eq!(
        all.resources, good.resources,
        "the good members get exactly what they had"
    );
    let why: BTreeMap<String, String> = all
        .rejected
        .iter()
        .map(|(o, e)| (o.name.clone(), e.to_string()))
        .collect();
    assert_eq!(why.len(), 6, "{why:#?}");
    assert!(
        why["typo"].contains("healthcheck-interval-seconds=\"3s\""),
        "{}",
        why["typo"]
    );
    assert!(
        why["orphan"].contains("Service x/missing does not exist"),
        "{}",
        why["orphan"]
    );
    assert!(
        why["steal"].contains("Ingress shop/a") && why["steal"].contains("same host and path"),
        "{}",
        why["steal"]
    );
    assert!(
        why["public"].contains("scheme=\"internal\" from Ingress shop/a"),
        "{}",
        why["public"]
    );
    assert!(
        why["ports"].contains("listen-ports") && why["ports"].contains("HTTP:80"),
        "{}",
        why["ports"]
    );
    assert!(
        why["cip"].contains("instance targets need a NodePort"),
        "{}",
        why["cip"]
    );
    for (o, e) in &all.rejected {
        assert_eq!(o.kind, FrontendKind::Ingress);
        assert!(e.is_user_error() || e.reason() == "Unavailable", "{e}");
    }
}

#[test]
fn every_member_rejected_means_do_not_converge() {
    let bad = member(
        "z",
        "typo",
        &[(ann::SCHEME, "public")],
        "t.example.com",
        &[("/", PathType::Prefix, "web")],
    );
    let d = run(vec![bad]);
    assert!(d.resources.is_empty() && !d.converge());
    assert!(
        run(vec![]).converge(),
        "no members at all: converge to nothing (delete)"
    );
}

#[test]
fn default_backends_and_shared_target_groups_must_agree() {
    let mut first = a();
    first.default_backend = Some(backend("web", 80));
    let mut second = b();
    second.default_backend = Some(backend("blog", 80));
    let d = run(vec![first.clone(), second]);
    assert_eq!(d.rejected.len(), 1);
    assert!(
        d.rejected[0].1.to_string().contains("spec.defaultBackend"),
        "{}",
        d.rejected[0].1
    );
    let listener = d
        .resources
        .iter()
        .find(|r| r.kind == KIND_LISTENER)
        .unwrap();
    assert_eq!(listener.properties["DefaultActions"][0]["Type"], "forward");

    // c uses web:80 like a, but asks for another health-check path on the Ingress.
    let mut other_hc = c();
    other_hc
        .annotations
        .insert(format!("{}{}", ann::PREFIX, ann::HC_PATH), "/other".into());
    let d = run(vec![a(), other_hc]);
    assert_eq!(d.rejected.len(), 1);
    let e = d.rejected[0].1.to_string();
    assert!(
        e.contains("different target-group settings (HealthCheckPath)"),
        "{e}"
    );
}

#[test]
fn names_fit_aws_limits_and_tags_use_the_ingress_keys() {
    let d = run(vec![a()]);
    for r in &d.resources {
        if r.kind == KIND_LB || r.kind == KIND_TG {
            assert!(r.name.len() <= 32, "{}", r.name);
            let tags = r.properties["Tags"].as_array().unwrap();
            assert!(
                tags.contains(&json!({"Key": "ingress.k8s.aws/stack", "Value": "edge"})),
                "{tags:?}"
            );
        }
    }
    assert!(d.resources[0].name.starts_with("k8s-edge-"));
    let implicit = IngressGroup {
        object: ObjectRef {
            kind: FrontendKind::IngressGroup,
            namespace: "shop".into(),
            name: "a".into(),
        },
        ..group(vec![a()])
    };
    let r = translate(&implicit, &AwsFacts::default()).resources;
    assert!(r[0].properties["Tags"]
        .as_array()
        .unwrap()
        .contains(&json!({"Key": "ingress.k8s.aws/stack", "Value": "shop/a"})));
    assert!(r[0].name.starts_with("k8s-shop-a-"));
    // Facts fill subnets and the VPC.
    let facts = AwsFacts {
        vpc_id: Some("vpc-1".into()),
        subnets: Some(vec!["subnet-a".into(), "subnet-b".into()]),
        ..Default::default()
    };
    let r = translate(&group(vec![a()]), &facts).resources;
    let of = |kind: &str| r.iter().find(|x| x.kind == kind).unwrap();
    assert_eq!(
        of(KIND_LB).properties["Subnets"],
        json!(["subnet-a", "subnet-b"])
    );
    assert_eq!(of(KIND_TG).properties["VpcId"], "vpc-1");
    assert_eq!(of(KIND_SG).properties["VpcId"], "vpc-1");
    assert_eq!(placement(&group(vec![a()])), Some((true, None)));
    let _ = Action::Create;
}

fn with(mut m: Member, pairs: &[(&str, &str)]) -> Member {
    for (k, v) in pairs {
        m.annotations
            .insert(format!("{}{k}", ann::PREFIX), v.to_string());
    }
    m
}

/// (port, CIDR) of the managed security group's ingress rules, and the load balancer's
/// SecurityGroups; `None` when there is no managed group.
fn managed_sg(r: &[Resource]) -> (Option<Vec<(u64, String)>>, Value) {
    let lb = r.iter().find(|x| x.kind == KIND_LB).unwrap();
    let sg = r.iter().find(|x| x.kind == KIND_SG).map(|sg| {
        assert_eq!(
            lb.properties["SecurityGroups"],
            json!([{"Ref": sg.name}]),
            "the load balancer uses the managed group"
        );
        sg.properties["SecurityGroupIngress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                assert_eq!(x["IpProtocol"], "tcp");
                assert_eq!(x["FromPort"], x["ToPort"]);
                let cidr = x.get("CidrIp").or(x.get("CidrIpv6")).unwrap();
                (
                    x["FromPort"].as_u64().unwrap(),
                    cidr.as_str().unwrap().to_string(),
                )
            })
            .collect()
    });
    (
        sg,
        lb.properties
            .get("SecurityGroups")
            .cloned()
            .unwrap_or(Value::Null),
    )
}

#[test]
fn the_managed_security_group_opens_each_listen_port_to_the_inbound_cidrs() {
    // Default: 0.0.0.0/0 on each listen port.
    let ports = r#"[{"HTTP": 80}, {"HTTP": 8080}]"#;
    let d = run(vec![with(a(), &[(ann::LISTEN_PORTS, ports)])]);
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    let (rules, _) = managed_sg(&d.resources);
    assert_eq!(
        rules.unwrap(),
        [
            (80, "0.0.0.0/0".to_string()),
            (8080, "0.0.0.0/0".to_string())
        ]
    );
    let sg = d.resources.iter().find(|r| r.kind == KIND_SG).unwrap();
    assert!(sg.name.starts_with("k8s-edge-") && sg.name.len() <= 255);
    assert_eq!(sg.properties["GroupName"], json!(sg.name));
    assert_eq!(sg.properties["GroupDescription"], SG_DESCRIPTION);
    assert!(sg.properties.get("VpcId").is_none(), "offline: no VPC");
    let tags = sg.properties["Tags"].as_array().unwrap();
    for t in [
        json!({"Key": "elbv2.k8s.aws/cluster", "Value": "c1"}),
        json!({"Key": "ingress.k8s.aws/stack", "Value": "edge"}),
        json!({"Key": "ingress.k8s.aws/resource", "Value": "ManagedLBSecurityGroup"}),
        json!({"Key": "berth.dev/managed-by", "Value": "berth"}),
    ] {
        assert!(tags.contains(&t), "{t} in {tags:?}");
    }
    let lb = d.resources.iter().find(|r| r.kind == KIND_LB).unwrap();
    assert_ne!(lb.name, sg.name, "Refs are by name: they must differ");

    // Dualstack adds ::/0.
    let d = run(vec![with(a(), &[(ann::IP_ADDRESS_TYPE, "dualstack")])]);
    assert_eq!(
        managed_sg(&d.resources).0.unwrap(),
        [(80, "0.0.0.0/0".to_string()), (80, "::/0".to_string())]
    );

    // inbound-cidrs replaces the default (normalised); another member may repeat it.
    let cidrs = "192.168.0.0/16, 10.1.2.3/8";
    let d = run(vec![
        with(a(), &[(ann::INBOUND_CIDRS, cidrs)]),
        with(b(), &[(ann::INBOUND_CIDRS, "10.0.0.0/8,192.168.0.0/16")]),
    ]);
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    assert_eq!(
        managed_sg(&d.resources).0.unwrap(),
        [
            (80, "10.0.0.0/8".to_string()),
            (80, "192.168.0.0/16".to_string())
        ]
    );

    // Explicit security groups: no managed group. inbound-cidrs cannot be honoured then (the
    // groups are the user's), so the member that sets it is refused, never silently ignored.
    let d = run(vec![with(a(), &[(ann::SECURITY_GROUPS, "sg-1")])]);
    let (rules, lb_sgs) = managed_sg(&d.resources);
    assert_eq!(rules, None);
    assert_eq!(lb_sgs, json!(["sg-1"]));
    let d = run(vec![
        with(a(), &[(ann::SECURITY_GROUPS, "sg-1")]),
        with(b(), &[(ann::INBOUND_CIDRS, "10.0.0.0/8")]),
    ]);
    assert_eq!(d.rejected.len(), 1, "{:?}", d.rejected);
    assert_eq!(d.rejected[0].0.name, "b");
    let e = d.rejected[0].1.to_string();
    assert!(
        e.contains("alb.ingress.kubernetes.io/inbound-cidrs")
            && e.contains("sg-1")
            && e.contains("does not change"),
        "{e}"
    );
    let d = run(vec![with(
        a(),
        &[
            (ann::SECURITY_GROUPS, "sg-1"),
            (ann::INBOUND_CIDRS, "10.0.0.0/8"),
        ],
    )]);
    assert_eq!(d.rejected.len(), 1, "{:?}", d.rejected);
    let before = run(vec![a()]);
    let after = run(vec![a(), with(b(), &[(ann::SECURITY_GROUPS, "sg-1")])]);
    assert!(before.resources.iter().any(|r| r.kind == KIND_SG));
    assert!(!after.resources.iter().any(|r| r.kind == KIND_SG));
}

#[test]
fn inbound_cidrs_conflicts_and_ipv6_need_dualstack() {
    // The first member (by group.order) wins; a disagreeing member is rejected, alone.
    let d = run(vec![
        with(a(), &[(ann::INBOUND_CIDRS, "10.0.0.0/8")]),
        with(b(), &[(ann::INBOUND_CIDRS, "172.16.0.0/12")]),
    ]);
    assert_eq!(d.rejected.len(), 1, "{:?}", d.rejected);
    assert_eq!(d.rejected[0].0.name, "b");
    let e = d.rejected[0].1.to_string();
    assert!(
        e.contains("Ingress blog/b")
            && e.contains("alb.ingress.kubernetes.io/inbound-cidrs")
            && e.contains("172.16.0.0/12")
            && e.contains("10.0.0.0/8"),
        "{e}"
    );
    assert_eq!(
        managed_sg(&d.resources).0.unwrap(),
        [(80, "10.0.0.0/8".to_string())]
    );
    // An invalid CIDR rejects only its member.
    let d = run(vec![a(), with(b(), &[(ann::INBOUND_CIDRS, "10.0.0.0/40")])]);
    assert_eq!(d.rejected.len(), 1);
    let e = d.rejected[0].1.to_string();
    assert!(
        e.contains("Ingress blog/b") && e.contains("\"10.0.0.0/40\""),
        "{e}"
    );
    // IPv6 CIDRs need a dualstack load balancer.
    let d = run(vec![with(a(), &[(ann::INBOUND_CIDRS, "2001:db8::/32")])]);
    let e = d.rejected[0].1.to_string();
    assert!(e.contains("IPv6") && e.contains("dualstack"), "{e}");
    let d = run(vec![with(
        a(),
        &[
            (ann::INBOUND_CIDRS, "2001:db8::/32,10.0.0.0/8"),
            (ann::IP_ADDRESS_TYPE, "dualstack"),
        ],
    )]);
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    assert_eq!(
        managed_sg(&d.resources).0.unwrap(),
        [
            (80, "10.0.0.0/8".to_string()),
            (80, "2001:db8::/32".to_string())
        ]
    );
}

/// The plan creates the security group before the load balancer and deletes it after.
#[test]
fn the_security_group_is_created_first_and_deleted_last() {
    let d = run(vec![a()]).resources;
    let kinds =
        |p: &crate::plan::Plan| p.changes.iter().map(|c| c.kind.clone()).collect::<Vec<_>>();
    let p = super::super::plan(&d, &Observed::default()).unwrap();
    assert_eq!(kinds(&p)[..2], [KIND_SG.to_string(), KIND_LB.to_string()]);
    let p = super::super::plan(&[], &applied(&d)).unwrap();
    let k = kinds(&p);
    assert_eq!(k[k.len() - 2..], [KIND_LB.to_string(), KIND_SG.to_string()]);
    // Applied: the Ref resolves to the group's ID, and nothing changes.
    assert!(super::super::plan(&d, &applied(&d)).unwrap().is_empty());
}

/// AWS's 100 rules per ALB: the member that would pass the quota is left out with the reason,
/// and the members before it still converge.
#[test]
fn the_member_that_would_pass_the_rule_quota_is_left_out() {
    let paths: Vec<String> = (0..60).map(|i| format!("/p{i}")).collect();
    let many = |name: &str, order: &str| {
        let p: Vec<(&str, PathType, &str)> = paths
            .iter()
            .map(|p| (p.as_str(), PathType::Exact, "web"))
            .collect();
        member(
            "shop",
            name,
            &[(ann::GROUP_ORDER, order)],
            &format!("{name}.example.com"),
            &p,
        )
    };
    let d = translate(
        &group(vec![many("first", "1"), many("second", "2")]),
        &Default::default(),
    );
    assert_eq!(d.rejected.len(), 1, "{:?}", d.rejected);
    let (who, why) = &d.rejected[0];
    assert_eq!(who.name, "second");
    let why = why.to_string();
    assert!(
        why.contains("AWS allows 100 rules per ALB") && why.contains("use 60"),
        "{why}"
    );
    assert_eq!(
        d.resources.iter().filter(|r| r.kind == KIND_RULE).count(),
        60
    );
}

/// The managed security group's 60 inbound rules per address family (ports x CIDRs): the
/// member whose listen ports would pass it is left out.
#[test]
fn the_member_that_would_pass_the_security_group_quota_is_left_out() {
    let cidrs: Vec<String> = (0..20).map(|i| format!("10.{i}.0.0/16")).collect();
    let ports = |from: u16| {
        let p: Vec<String> = (from..from + 2)
            .map(|p| format!("{{\"HTTP\": {p}}}"))
            .collect();
        format!("[{}]", p.join(","))
    };
    let first = member(
        "shop",
        "first",
        &[
            (ann::GROUP_ORDER, "1"),
            (ann::INBOUND_CIDRS, &cidrs.join(",")),
            (ann::LISTEN_PORTS, &ports(8000)),
        ],
        "first.example.com",
        &[("/", PathType::Prefix, "web")],
    );
    let second = member(
        "shop",
        "second",
        &[(ann::GROUP_ORDER, "2"), (ann::LISTEN_PORTS, &ports(9000))],
        "second.example.com",
        &[("/", PathType::Prefix, "web")],
    );
    let d = translate(&group(vec![first, second]), &Default::default());
    assert_eq!(d.rejected.len(), 1, "{:?}", d.rejected);
    assert_eq!(d.rejected[0].0.name, "second");
    let why = d.rejected[0].1.to_string();
    assert!(why.contains("at most 60 per address family"), "{why}");
}
