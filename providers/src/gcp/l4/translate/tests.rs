use super::*;
use crate::frontend::{Node, ObjectRef, ServicePort};
use crate::gcp::facts::API;
use crate::profile::Settings;

fn facts() -> Facts {
    let s = Settings::from_pairs([("node-tags", "gke-prod-node"), ("subnetwork", "nodes")]);
    Facts::resolve(&s, &nodes()).unwrap()
}

fn nodes() -> Vec<Node> {
    ["a", "a", "b"]
        .iter()
        .enumerate()
        .map(|(i, z)| Node {
            name: format!("n{i}"),
            provider_id: Some(format!("gce://shop-prod/us-central1-{z}/gke-n{i}")),
            ..Default::default()
        })
        .collect()
}

fn port(port: u16, protocol: Protocol) -> ServicePort {
    ServicePort {
        name: None,
        protocol,
        port,
        node_port: Some(30000 + port % 1000),
        target_port: Some(8080),
        endpoints: Vec::new(),
    }
}

fn service(ports: &[(u16, Protocol)], annotations: &[(&str, &str)]) -> Frontend {
    let mut fe = Frontend::new(ObjectRef::service("shop", "web"), "prod");
    fe.ports = ports.iter().map(|(p, pr)| port(*p, *pr)).collect();
    fe.nodes = nodes();
    fe.annotations = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    fe
}

pub(crate) fn of<'a>(rs: &'a [Resource], kind: &str) -> Vec<&'a Resource> {
    rs.iter().filter(|r| r.kind == kind).collect()
}

/// Every desired body is a valid request body of its insert (or addInstances, setNamedPorts)
/// method in the discovery document, with references filled in as URLs.
pub(crate) fn assert_valid_bodies(rs: &[Resource]) {
    // A `{"Ref": name}` is unambiguous: names are unique across kinds (an instance group and
    // its members and named ports share the group's name and ID).
    let group_kinds = [
        INSTANCE_GROUP,
        INSTANCE_GROUP_MEMBERS,
        INSTANCE_GROUP_NAMED_PORTS,
    ];
    let mut seen = std::collections::BTreeMap::new();
    for r in rs
        .iter()
        .filter(|r| !group_kinds.contains(&r.kind.as_str()))
    {
        if let Some(other) = seen.insert(r.name.clone(), r.kind.clone()) {
            panic!("{} is the name of a {} and a {}", r.name, other, r.kind);
        }
    }
    let api = gcp_fake::discovery::Api::get();
    for r in rs {
        let (collection, method) = match r.kind.as_str() {
            INSTANCE_GROUP_MEMBERS => ("instanceGroups", "addInstances"),
            INSTANCE_GROUP_NAMED_PORTS => ("instanceGroups", "setNamedPorts"),
            k => (k.trim_start_matches("compute.v1."), "insert"),
        };
        let schema = api
            .method(collection, method)
            .and_then(|m| m.request.clone())
            .unwrap_or_else(|| panic!("{collection}.{method} has a request body"));
        let mut body = Value::Object(r.properties.clone());
        fill_refs(&mut body);
        if let Err(e) = gcp_fake::schema::validate(api, &schema, &body, "resource") {
            panic!("{} {}: {e:?}\n{body:#}", r.kind, r.name);
        }
    }
}

fn fill_refs(v: &mut Value) {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("Ref") => {
            *v = json!(format!("{API}projects/p/regions/r/x/{}", m["Ref"]));
        }
        Value::Object(m) => m.values_mut().for_each(fill_refs),
        Value::Array(a) => a.iter_mut().for_each(fill_refs),
        _ => {}
    }
}

#[test]
fn an_external_tcp_service_is_gke_s_backend_service_based_netlb() {
    let rs = desired(
        &service(&[(80, Protocol::Tcp), (443, Protocol::Tcp)], &[]),
        &facts(),
    )
    .unwrap();
    assert_valid_bodies(&rs);
    let kinds: Vec<&str> = rs.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            INSTANCE_GROUP,
            INSTANCE_GROUP_MEMBERS,
            INSTANCE_GROUP,
            INSTANCE_GROUP_MEMBERS,
            REGION_HEALTH_CHECK,
            FIREWALL,
            FIREWALL,
            REGION_BACKEND_SERVICE,
            FORWARDING_RULE
        ]
    );
    let groups = of(&rs, INSTANCE_GROUP_MEMBERS);
    assert_eq!(
        groups[0].properties["instances"].as_array().unwrap().len(),
        2
    );
    assert!(groups[1].name.starts_with("us-central1-b/berth-"));
    let hc = of(&rs, REGION_HEALTH_CHECK)[0];
    assert_eq!(
        hc.properties["httpHealthCheck"],
        json!({"port": 10256, "requestPath": "/healthz"})
    );
    assert_eq!(
        (
            hc.properties["checkIntervalSec"].clone(),
            hc.properties["unhealthyThreshold"].clone()
        ),
        (json!(8), json!(3))
    );
    assert!(
        description::marked_shared(&hc.properties),
        "eTP Cluster: the cluster's check"
    );
    let fws = of(&rs, FIREWALL);
    assert_eq!(fws[1].properties["sourceRanges"], json!(["0.0.0.0/0"]));
    assert_eq!(
        fws[1].properties["allowed"],
        json!([{"IPProtocol": "tcp", "ports": ["80", "443"]}])
    );
    assert_eq!(fws[1].properties["targetTags"], json!(["gke-prod-node"]));
    let bs = of(&rs, REGION_BACKEND_SERVICE)[0];
    assert_eq!(bs.properties["loadBalancingScheme"], "EXTERNAL");
    assert_eq!(bs.properties["backends"].as_array().unwrap().len(), 2);
    assert_eq!(bs.properties["healthChecks"], json!([reference(&hc.name)]));
    let fr = of(&rs, FORWARDING_RULE)[0];
    assert_eq!(fr.properties["ports"], json!(["80", "443"]));
    assert_eq!(fr.properties["IPProtocol"], "TCP");
    assert!(
        fr.properties.get("networkTier").is_none(),
        "the project's default tier"
    );
    assert!(names::is_rfc1035(&fr.name), "{}", fr.name);
}

#[test]
fn mixed_protocols_many_ports_internal_and_local_policy() {
    // TCP and UDP: one L3_DEFAULT rule for all ports, an UNSPECIFIED backend service.
    let rs = desired(
        &service(&[(53, Protocol::Tcp), (53, Protocol::Udp)], &[]),
        &facts(),
    )
    .unwrap();
    assert_valid_bodies(&rs);
    let fr = of(&rs, FORWARDING_RULE)[0];
    assert_eq!(
        (
            fr.properties["IPProtocol"].clone(),
            fr.properties["allPorts"].clone()
        ),
        (json!("L3_DEFAULT"), json!(true))
    );
    assert_eq!(
        of(&rs, REGION_BACKEND_SERVICE)[0].properties["protocol"],
        "UNSPECIFIED"
    );
    assert_eq!(
        of(&rs, FIREWALL)[1].properties["allowed"],
        json!([{"IPProtocol": "tcp", "ports": ["53"]}, {"IPProtocol": "udp", "ports": ["53"]}])
    );

    // More than five ports: a range outside, all ports inside.
    let many: Vec<(u16, Protocol)> = (0..6).map(|i| (8000 + i * 10, Protocol::Tcp)).collect();
    let rs = desired(&service(&many, &[]), &facts()).unwrap();
    assert_eq!(
        of(&rs, FORWARDING_RULE)[0].properties["portRange"],
        "8000-8050"
    );
    let internal = [
        (annotations::LB_TYPE, "Internal"),
        (annotations::GLOBAL_ACCESS, "true"),
    ];
    let rs = desired(&service(&many, &internal), &facts()).unwrap();
    assert_valid_bodies(&rs);
    let fr = of(&rs, FORWARDING_RULE)[0];
    assert_eq!(fr.properties["allPorts"], true);
    assert_eq!(fr.properties["loadBalancingScheme"], "INTERNAL");
    assert_eq!(fr.properties["allowGlobalAccess"], true);
    assert_eq!(
        fr.properties["subnetwork"],
        json!(format!(
            "{API}projects/shop-prod/regions/us-central1/subnetworks/nodes"
        ))
    );

    // externalTrafficPolicy: Local: the Service's own check on its healthCheckNodePort.
    let mut fe = service(&[(80, Protocol::Tcp)], &[]);
    fe.external_traffic_policy = TrafficPolicy::Local;
    fe.session_affinity_client_ip = true;
    let e = desired(&fe, &facts()).unwrap_err();
    assert_eq!(e.reason(), "Unavailable", "{e}");
    fe.health_check_node_port = Some(32000);
    let rs = desired(&fe, &facts()).unwrap();
    assert_valid_bodies(&rs);
    let hc = of(&rs, REGION_HEALTH_CHECK)[0];
    assert!(!description::marked_shared(&hc.properties));
    assert_eq!(hc.properties["httpHealthCheck"]["port"], 32000);
    assert_eq!(hc.properties["checkIntervalSec"], 3);
    assert_eq!(
        of(&rs, FIREWALL)[0].properties["allowed"],
        json!([{"IPProtocol": "tcp", "ports": ["32000"]}])
    );
    assert_eq!(
        of(&rs, REGION_BACKEND_SERVICE)[0].properties["sessionAffinity"],
        "CLIENT_IP"
    );

    // Source ranges, a reserved address and the Standard tier.
    let mut fe = service(
        &[(80, Protocol::Tcp)],
        &[
            (annotations::IP_ADDRESSES, "web-ip"),
            (annotations::NETWORK_TIER, "Standard"),
        ],
    );
    fe.source_ranges = vec!["203.0.113.0/24".into()];
    let rs = desired(&fe, &facts()).unwrap();
    assert_valid_bodies(&rs);
    assert_eq!(
        of(&rs, FIREWALL)[1].properties["sourceRanges"],
        json!(["203.0.113.0/24"])
    );
    let fr = of(&rs, FORWARDING_RULE)[0];
    assert_eq!(fr.properties["networkTier"], "STANDARD");
    assert!(fr.properties["IPAddress"]
        .as_str()
        .unwrap()
        .ends_with("/regions/us-central1/addresses/web-ip"));
}

#[test]
fn what_a_passthrough_load_balancer_cannot_carry_is_refused_by_name() {
    let f = facts();
    let err = |fe: &Frontend| desired(fe, &f).unwrap_err().to_string();
    let e = err(&service(&[(80, Protocol::Sctp)], &[]));
    assert!(
        e.contains("spec.ports[80/SCTP].protocol") && e.contains("Service shop/web"),
        "{e}"
    );
    let e = err(&service(&[(80, Protocol::Tcp), (80, Protocol::Tcp)], &[]));
    assert!(
        e.contains("spec.ports[80/TCP]") && e.contains("once"),
        "{e}"
    );
    let e = err(&service(&[], &[]));
    assert!(e.contains("spec.ports"), "{e}");
    let mut v6 = service(&[(80, Protocol::Tcp)], &[]);
    v6.source_ranges = vec!["2001:db8::/32".into()];
    let e = err(&v6);
    assert!(
        e.contains("spec.loadBalancerSourceRanges") && e.contains("2001:db8::/32"),
        "{e}"
    );
    let e = err(&service(
        &[(80, Protocol::Tcp)],
        &[(annotations::IP_ADDRESSES, "v4,v6")],
    ));
    assert!(
        e.contains(annotations::IP_ADDRESSES) && e.contains("IPv4 only"),
        "{e}"
    );
    let mut foreign = service(&[(80, Protocol::Tcp)], &[]);
    foreign.nodes[0].provider_id = Some("kind://docker/n0".into());
    assert!(err(&foreign).contains("gce://PROJECT/ZONE/NAME"));
    // Annotation errors come from the annotation parser, before anything else.
    assert!(err(&service(
        &[(80, Protocol::Tcp)],
        &[(annotations::LB_TYPE, "Private")]
    ))
    .contains("Internal or External"));

    let untagged = Facts {
        node_tags: Vec::new(),
        ..f.clone()
    };
    let e = desired(&service(&[(80, Protocol::Tcp)], &[]), &untagged)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--gcp-node-tags"), "{e}");
    let no_subnet = Facts {
        subnetwork: None,
        ..f.clone()
    };
    let e = desired(
        &service(
            &[(80, Protocol::Tcp)],
            &[(annotations::LB_TYPE, "Internal")],
        ),
        &no_subnet,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--gcp-subnetwork") && e.contains(annotations::SUBNET),
        "{e}"
    );
}
