use super::*;
use serde_json::json;

fn svc(v: serde_json::Value) -> Service {
    serde_json::from_value(v).unwrap()
}

#[cfg(feature = "aws")]
#[test]
fn selection_by_class_default_and_type_annotation() {
    let sel = Selection::default();
    let lb = |class: Option<&str>, ann: serde_json::Value| {
        svc(
            json!({"metadata": {"name": "a", "namespace": "n", "annotations": ann}, "spec": {"type": "LoadBalancer", "loadBalancerClass": class}}),
        )
    };
    assert!(sel.selects(&lb(Some("service.k8s.aws/nlb"), json!({}))));
    assert!(sel.selects(&lb(Some("berth.dev/aws-nlb"), json!({}))));
    assert!(!sel.selects(&lb(
        Some("metallb.io/metallb"),
        json!({"service.beta.kubernetes.io/aws-load-balancer-type": "external"})
    )));
    assert!(!sel.selects(&lb(None, json!({}))));
    assert!(sel.selects(&lb(
        None,
        json!({"service.beta.kubernetes.io/aws-load-balancer-type": "external"})
    )));
    assert!(sel.selects(&lb(
        None,
        json!({"service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip"})
    )));
    assert!(Selection {
        default_class: true,
        ..Selection::default()
    }
    .selects(&lb(None, json!({}))));
    let cluster_ip = svc(
        json!({"metadata": {"name": "a"}, "spec": {"type": "ClusterIP", "loadBalancerClass": "service.k8s.aws/nlb"}}),
    );
    assert!(!sel.selects(&cluster_ip));
}

#[test]
fn frontend_reads_ports_endpoints_and_nodes() {
    let s = svc(json!({
        "metadata": {"name": "web", "namespace": "shop", "annotations": {"x": "y"}},
        "spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000,
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}, {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": "dns"}]}
    }));
    let slices: Vec<EndpointSlice> = serde_json::from_value(json!([
        {"metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 5353, "protocol": "UDP"}],
         "endpoints": [{"addresses": ["10.0.0.2"], "conditions": {"ready": true}}, {"addresses": ["10.0.0.3"], "conditions": {"ready": false}}, {"addresses": ["10.0.0.1"]}]},
        {"metadata": {"name": "other", "labels": {"kubernetes.io/service-name": "other"}}, "addressType": "IPv4",
         "ports": [{"name": "http", "port": 9999}], "endpoints": [{"addresses": ["10.9.9.9"]}]}
    ])).unwrap();
    let nodes: Vec<KubeNode> = serde_json::from_value(json!([
        {"metadata": {"name": "n2"}, "spec": {"providerID": "aws:///us-east-1b/i-2"}},
        {"metadata": {"name": "n1"}, "spec": {"providerID": "aws:///us-east-1a/i-1"}},
        {"metadata": {"name": "n3", "labels": {EXCLUDE_LABEL: ""}}, "spec": {"providerID": "aws:///us-east-1a/i-3"}}
    ])).unwrap();
    let fe = frontend(&s, Some(&slices), &nodes, "c1").unwrap();
    assert_eq!(fe.object.stack(), "shop/web");
    assert!(fe.session_affinity_client_ip);
    assert_eq!(fe.external_traffic_policy, TrafficPolicy::Local);
    assert_eq!(fe.health_check_node_port, Some(32000));
    assert_eq!(
        fe.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["n1", "n2"]
    );
    let http = &fe.ports[0];
    assert_eq!(
        (http.port, http.node_port, http.target_port),
        (80, Some(30080), Some(8080))
    );
    assert_eq!(
        http.endpoints,
        vec![
            Endpoint {
                ip: "10.0.0.1".into(),
                port: 8080
            },
            Endpoint {
                ip: "10.0.0.2".into(),
                port: 8080
            }
        ]
    );
    let dns = &fe.ports[1];
    assert_eq!((dns.protocol, dns.target_port), (Protocol::Udp, None));
    assert_eq!(
        dns.endpoints.iter().map(|e| e.port).collect::<Vec<_>>(),
        [5353, 5353]
    );
    assert!(fe.endpoints_unavailable.is_none());

    let without = frontend(&s, None, &nodes, "c1").unwrap();
    assert!(without.endpoints_unavailable.is_some());
}

#[test]
fn source_ranges_from_the_spec_or_the_annotation_normalised_and_never_ambiguous() {
    let with = |spec: serde_json::Value, ann: serde_json::Value| {
        let s = svc(
            json!({"metadata": {"name": "web", "namespace": "shop", "annotations": ann},
                           "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": spec,
                                    "ports": [{"port": 80, "nodePort": 30080}]}}),
        );
        frontend(&s, Some(&[]), &[], "c1")
            .map(|f| (f.source_ranges, f.source_ranges_from_annotation))
    };
    assert_eq!(
        with(
            json!(["2001:DB8::1/32", "10.1.2.3/8", "10.0.0.0/8"]),
            json!({})
        )
        .unwrap(),
        (
            vec!["10.0.0.0/8".to_string(), "2001:db8::/32".into()],
            false
        )
    );
    assert_eq!(
        with(
            json!(null),
            json!({SOURCE_RANGES_ANNOTATION: "203.0.113.0/24, 10.0.0.0/8"})
        )
        .unwrap(),
        (
            vec!["10.0.0.0/8".to_string(), "203.0.113.0/24".into()],
            true
        )
    );
    // The same ranges twice are fine; different ones are ambiguous.
    assert!(with(
        json!(["10.0.0.0/8"]),
        json!({SOURCE_RANGES_ANNOTATION: "10.0.0.0/8"})
    )
    .is_ok());
    let e = with(
        json!(["10.0.0.0/8"]),
        json!({SOURCE_RANGES_ANNOTATION: "0.0.0.0/0"}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(SOURCE_RANGES_ANNOTATION) && e.contains("ambiguous") && e.contains("10.0.0.0/8"),
        "{e}"
    );
    let e = with(json!(["10.0.0.0/8", "10.0.0.300/32"]), json!({}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Service shop/web")
            && e.contains("spec.loadBalancerSourceRanges[1]")
            && e.contains("10.0.0.300/32"),
        "{e}"
    );
    let e = with(json!(null), json!({SOURCE_RANGES_ANNOTATION: "10.0.0.0"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"10.0.0.0\" is not a CIDR"), "{e}");
    let e = with(json!(null), json!({SOURCE_RANGES_ANNOTATION: " , "}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
}

/// Every Kubernetes fact gather puts into a Frontend is used by the AWS translation (the
/// desired resources change when it changes) or refused (an error): none is read and then
/// dropped. The list below must name every Frontend field (checked through serde), so a
/// field added later fails here until it has a case.
#[cfg(feature = "aws")]
#[test]
fn every_field_gather_reads_is_used_or_refused() {
    use serde_json::Value;
    let base = json!({
        "metadata": {"name": "web", "namespace": "shop", "annotations": {}},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]}
    });
    let nodes = json!([{"metadata": {"name": "n1"}, "spec": {"providerID": "aws:///us-east-1a/i-1"},
                        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.1.1"}]}}]);
    let slices = json!([{"metadata": {"name": "web-1", "labels": {SERVICE_NAME_LABEL: "web"}}, "addressType": "IPv4",
                         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                         "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}]}]);
    type Mutate = fn(&mut Value, &mut Value, &mut Value);
    // (Frontend fields it exercises, what changes).
    let cases: Vec<(&[&str], Mutate)> = vec![
        (&["object"], |s, _, _| s["metadata"]["name"] = json!("api")),
        (
            &["annotations"],
            |s, _, _| {
                s["metadata"]["annotations"] = json!({"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"})
            },
        ),
        (
            &["ports.name", "ports.protocol", "ports.port"],
            |s, _, _| s["spec"]["ports"] = json!([{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 8080, "nodePort": 30080}]),
        ),
        (&["ports.node_port"], |s, _, _| {
            s["spec"]["ports"][0]["nodePort"] = json!(30081)
        }),
        (&["ports.target_port", "ports.endpoints"], |s, _, _| {
            s["metadata"]["annotations"] =
                json!({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"});
            s["spec"]["ports"][0]["targetPort"] = json!(9090);
        }),
        (&["session_affinity_client_ip"], |s, _, _| {
            s["spec"]["sessionAffinity"] = json!("ClientIP")
        }),
        (&["source_ranges"], |s, _, _| {
            s["spec"]["loadBalancerSourceRanges"] = json!(["203.0.113.0/24"])
        }),
        (&["source_ranges_from_annotation"], |s, _, _| {
            s["metadata"]["annotations"] = json!({SOURCE_RANGES_ANNOTATION: "203.0.113.0/24"})
        }),
        (
            &["external_traffic_policy", "health_check_node_port"],
            |s, _, _| {
                s["spec"]["externalTrafficPolicy"] = json!("Local");
                s["spec"]["healthCheckNodePort"] = json!(32000);
            },
        ),
        (&["nodes.provider_id"], |_, n, _| {
            n[0]["spec"]["providerID"] = json!("aws:///us-east-1a/i-2")
        }),
        (&["nodes.provider_id"], |_, n, _| {
            n[0]["metadata"]["labels"] = json!({EXCLUDE_LABEL: ""})
        }),
        (&["nodes.labels"], |s, n, _| {
            s["metadata"]["annotations"] = json!({"service.beta.kubernetes.io/aws-load-balancer-target-node-labels": "pool=edge"});
            // The node's label decides: it does not match, so it is no target.
            n[0]["metadata"]["labels"] = json!({"pool": "batch"});
        }),
        (&["endpoints_unavailable"], |s, _, sl| {
            s["metadata"]["annotations"] =
                json!({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"});
            *sl = Value::Null;
        }),
    ];
    // Facts no AWS resource depends on, and why (each is a deliberate decision).
    let not_for_aws: &[(&str, &str)] = &[
        ("cluster", "a berth flag, not a Kubernetes field"),
        ("nodes.name", "order and logs only; the target is the instance of spec.providerID"),
        ("nodes.internal_ip", "instance targets are EC2 instance IDs; node IPs are for the clouds whose pools take addresses"),
    ];

    let run = |s: &Value, n: &Value, sl: &Value| {
        let s: Service = serde_json::from_value(s.clone()).unwrap();
        let n: Vec<KubeNode> = serde_json::from_value(n.clone()).unwrap();
        let sl: Option<Vec<EndpointSlice>> = serde_json::from_value(sl.clone()).unwrap();
        let fe = frontend(&s, sl.as_deref(), &n, "c1")?;
        providers::aws::desired(&fe, &Default::default()).map_err(Into::into)
    };
    let baseline = run(&base, &nodes, &slices).expect("the baseline Service translates");
    for (fields, mutate) in &cases {
        let (mut s, mut n, mut sl) = (base.clone(), nodes.clone(), slices.clone());
        mutate(&mut s, &mut n, &mut sl);
        match run(&s, &n, &sl) {
            Ok(d) => assert_ne!(
                d, baseline,
                "{fields:?}: read by gather but changes nothing"
            ),
            Err(crate::error::Error::Provider(e)) => {
                assert!(
                    !e.to_string().is_empty(),
                    "{fields:?}: refused without a message"
                )
            }
            Err(e) => panic!("{fields:?}: {e}"),
        }
    }

    // Completeness: every field of Frontend (and of its ports and nodes) has a case.
    let s: Service = serde_json::from_value(base.clone()).unwrap();
    let n: Vec<KubeNode> = serde_json::from_value(nodes.clone()).unwrap();
    let fe = serde_json::to_value(frontend(&s, Some(&[]), &n, "c1").unwrap()).unwrap();
    let mut fields: Vec<String> = Vec::new();
    for (k, v) in fe.as_object().unwrap() {
        match v
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_object)
        {
            Some(inner) => fields.extend(inner.keys().map(|i| format!("{k}.{i}"))),
            None => fields.push(k.clone()),
        }
    }
    fields.push("ports.endpoints".into());
    for f in &fields {
        let covered = cases.iter().any(|(fs, _)| fs.contains(&f.as_str()))
            || not_for_aws.iter().any(|(x, _)| x == f);
        assert!(
            covered,
            "Frontend field {f} has no case: show that AWS uses or refuses it"
        );
    }
}

/// Ports a load balancer cannot use are refused, naming the port by its number.
#[test]
fn invalid_ports_are_refused_naming_the_port() {
    let with = |ports: serde_json::Value, extra: serde_json::Value| {
        let mut spec = json!({"type": "LoadBalancer", "ports": ports});
        if let (Some(m), Some(x)) = (spec.as_object_mut(), extra.as_object()) {
            m.extend(x.clone());
        }
        let s = svc(json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": spec}));
        frontend(&s, Some(&[]), &[], "c1")
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let p = |v: serde_json::Value| json!([v]);
    let cases: Vec<(serde_json::Value, serde_json::Value, &str)> = vec![
        (
            p(json!({"port": 0, "nodePort": 30080})),
            json!({}),
            "spec.ports[0].port=\"0\"",
        ),
        (
            p(json!({"port": 70000, "nodePort": 30080})),
            json!({}),
            "spec.ports[0].port=\"70000\"",
        ),
        (
            p(json!({"port": 80, "nodePort": 0})),
            json!({}),
            "spec.ports[80/TCP].nodePort=\"0\"",
        ),
        (
            p(json!({"port": 80, "nodePort": 70000})),
            json!({}),
            "spec.ports[80/TCP].nodePort",
        ),
        (
            p(json!({"port": 80, "nodePort": 30080, "targetPort": 0})),
            json!({}),
            "spec.ports[80/TCP].targetPort=\"0\"",
        ),
        (
            p(json!({"port": 80, "nodePort": 30080, "targetPort": "Not_A_Name"})),
            json!({}),
            "port name",
        ),
        (
            p(json!({"port": 80, "nodePort": 30080})),
            json!({"healthCheckNodePort": 0}),
            "spec.healthCheckNodePort=\"0\"",
        ),
        (
            json!([{"port": 80, "nodePort": 30080}, {"port": 80, "nodePort": 30081}]),
            json!({}),
            "listed twice",
        ),
    ];
    for (ports, extra, want) in cases {
        let e = with(ports.clone(), extra).expect_err(&format!("{ports} is refused"));
        assert!(e.contains(want), "{ports}: {e}");
        assert!(e.contains("Service shop/web"), "{e}");
    }
    // The same port over TCP and UDP is two entries, not a duplicate.
    assert!(with(
        json!([{"port": 53, "nodePort": 30053}, {"port": 53, "protocol": "UDP", "nodePort": 30053}]),
        json!({})
    )
    .is_ok());
}

/// A named targetPort no pod declares (its EndpointSlices have endpoints but not that port).
#[test]
fn a_named_target_port_the_pods_do_not_declare_is_refused() {
    let s = svc(json!({"metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "nodePort": 30080, "targetPort": "web"}]}}));
    let slice = |port_name: &str| -> Vec<EndpointSlice> {
        serde_json::from_value(json!([{"metadata": {"name": "web-1", "namespace": "shop", "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}]}])).unwrap()
    };
    let e = frontend(&s, Some(&slice("metrics")), &[], "c1")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("spec.ports[80/TCP].targetPort=\"web\"")
            && e.contains("EndpointSlices carry no such port"),
        "{e}"
    );
    let fe = frontend(&s, Some(&slice("http")), &[], "c1").unwrap();
    assert_eq!(fe.ports[0].endpoints.len(), 1);
    // No pods yet: not an error (they may come).
    assert!(frontend(&s, Some(&[]), &[], "c1").is_ok());
}

/// Nodes on their way out leave the targets first, so their connections drain.
#[test]
fn leaving_nodes_are_not_targets() {
    let nodes: Vec<KubeNode> = serde_json::from_value(json!([
        {"metadata": {"name": "stays"}, "spec": {"providerID": "aws:///us-east-1a/i-1"}},
        {"metadata": {"name": "scaled-down"}, "spec": {"providerID": "aws:///us-east-1a/i-2",
            "taints": [{"key": "ToBeDeletedByClusterAutoscaler", "value": "1700000000", "effect": "NoSchedule"}]}},
        {"metadata": {"name": "disrupted"}, "spec": {"providerID": "aws:///us-east-1a/i-3",
            "taints": [{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}]}},
        {"metadata": {"name": "tainted-otherwise"}, "spec": {"providerID": "aws:///us-east-1a/i-4",
            "taints": [{"key": "dedicated", "value": "edge", "effect": "NoSchedule"}]}},
        {"metadata": {"name": "deleting", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["x"]},
            "spec": {"providerID": "aws:///us-east-1a/i-5"}}
    ]))
    .unwrap();
    let names: Vec<String> = eligible_nodes(&nodes).into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["stays", "tainted-otherwise"]);
}
