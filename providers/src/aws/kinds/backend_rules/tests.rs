use super::*;

fn tg(port: u16, protocol: &str, hc: &str, targets: &[&str]) -> Resource {
    let t: Vec<Value> = targets
        .iter()
        .map(|id| json!({"Id": id, "Port": port}))
        .collect();
    Resource {
        kind: KIND_TG.into(),
        name: format!("tg-{port}"),
        properties:
            json!({"Port": port, "Protocol": protocol, "HealthCheckPort": hc, "Targets": t})
                .as_object()
                .unwrap()
                .clone(),
    }
}

fn keys(r: &[Resource]) -> Vec<String> {
    r.iter().map(|x| x.name.clone()).collect()
}

#[test]
fn traffic_and_health_check_ports_per_target_group_in_each_targets_group() {
    let owner = ObjectRef::service("shop", "web");
    let groups: TargetGroups = [("i-1", "sg-a"), ("i-2", "sg-b"), ("i-3", "sg-a")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let tgs = [
        tg(30080, "TCP", "traffic-port", &["i-1", "i-2"]),
        tg(30053, "TCP_UDP", "32000", &["i-3"]),
    ];
    let r = desired(&owner, &tgs, "k8s-sg", &groups).unwrap();
    assert_eq!(
        keys(&r),
        [
            "sg-a:tcp:30053",
            "sg-a:tcp:30080",
            "sg-a:tcp:32000",
            "sg-a:udp:30053",
            "sg-b:tcp:30080"
        ]
    );
    assert_eq!(
        r[0].properties["SourceSecurityGroupId"],
        json!({"Ref": "k8s-sg"})
    );
    assert_eq!(r[0].properties["Description"], "berth: targets of shop/web");
    // A target without a known group is an error, not a silently missing rule.
    let tgs = [tg(30080, "TCP", "traffic-port", &["i-9"])];
    assert!(desired(&owner, &tgs, "k8s-sg", &groups).is_err());
    // Dropped with their source.
    let mut all = desired(
        &owner,
        &[tg(30080, "TCP", "traffic-port", &["i-1"])],
        "k8s-sg",
        &groups,
    )
    .unwrap();
    without_source(&mut all, "k8s-sg");
    assert!(all.is_empty());
}

#[test]
fn exactly_one_cluster_tagged_group_is_chosen() {
    let owner = ObjectRef::service("shop", "web");
    let c = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let tagged: BTreeSet<String> = ["sg-node".to_string()].into();
    assert_eq!(
        choose(
            &owner,
            "instance i-1",
            &c(&["sg-x", "sg-node"]),
            &tagged,
            "c1"
        )
        .unwrap(),
        "sg-node"
    );
    let e = choose(&owner, "instance i-1", &c(&["sg-x"]), &tagged, "c1")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kubernetes.io/cluster/c1") && e.contains("sg-x") && e.contains("instance i-1"),
        "{e}"
    );
    let two: BTreeSet<String> = ["sg-a".to_string(), "sg-b".to_string()].into();
    assert!(choose(&owner, "instance i-1", &c(&["sg-a", "sg-b"]), &two, "c1").is_err());
}

#[test]
fn only_berths_rules_from_its_own_group_are_read_back() {
    let pair = |src: &str, d: &str| {
        UserIdGroupPair::builder()
            .group_id(src)
            .description(d)
            .build()
    };
    let g = SecurityGroup::builder()
        .group_id("sg-node")
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(30080)
                .to_port(30080)
                .user_id_group_pairs(pair("sg-berth", "berth: targets of shop/web"))
                .user_id_group_pairs(pair("sg-berth", "added by hand"))
                .user_id_group_pairs(pair("sg-other", "berth: targets of shop/web"))
                .build(),
        )
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .build(),
        )
        .build();
    let sources: BTreeSet<String> = ["sg-berth".to_string()].into();
    let r = rules_of(&g, &sources);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].resource.name, "sg-node:tcp:30080");
    assert_eq!(
        r[0].resource.properties["SourceSecurityGroupId"],
        "sg-berth"
    );
}
