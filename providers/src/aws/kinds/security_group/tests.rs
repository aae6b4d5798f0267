use super::*;

#[test]
fn names_fit_aws_and_differ_between_a_service_and_an_ingress() {
    let svc = ObjectRef::service("shop", "web");
    let mut ing = svc.clone();
    ing.kind = FrontendKind::Ingress;
    let (a, b) = (name("c1", &svc), name("c1", &ing));
    assert_ne!(a, b);
    assert!(a.starts_with("k8s-shop-web-") && a.len() <= 255, "{a}");
    assert_eq!(name("c1", &svc), a, "deterministic");
}

#[test]
fn rule_sources_pick_their_property() {
    assert_eq!(
        ingress_rule("tcp", 80, "10.0.0.0/8")["CidrIp"],
        "10.0.0.0/8"
    );
    assert_eq!(ingress_rule("udp", 53, "::/0")["CidrIpv6"], "::/0");
    assert_eq!(
        ingress_rule("tcp", 80, "pl-0123")["SourcePrefixListId"],
        "pl-0123"
    );
    assert!(is_open_to_everyone(&ingress_rule("tcp", 80, "::/0")));
    assert!(!is_open_to_everyone(&ingress_rule("tcp", 80, "10.0.0.0/8")));
    assert!(!is_open_to_everyone(&ingress_rule("tcp", 80, "pl-0123")));
}

#[test]
fn security_group_rules_change_by_delta_new_before_old() {
    let rule = |port: u16, cidr: &str| crate::aws::security_group::ingress_rule("tcp", port, cidr);
    let d = json!({"SecurityGroupIngress": [rule(80, "10.0.0.0/8"), rule(80, "192.168.0.0/16"), rule(443, "10.0.0.0/8")]});
    let mut stale = rule(443, "10.0.0.0/8");
    stale["Description"] = json!("old");
    let c = json!({"SecurityGroupIngress": [rule(80, "10.0.0.0/8"), rule(80, "0.0.0.0/0"), stale, rule(80, "::/0")]});
    let (first, add, last) = sg_rule_delta(&sg_rules(d.as_object()), &sg_rules(c.as_object()));
    let cidrs = |v: &[SgRule]| {
        v.iter()
            .map(|r| format!("{}/{}", r.1, r.3))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cidrs(&first),
        ["443/10.0.0.0/8"],
        "same rule, other description"
    );
    assert_eq!(cidrs(&add), ["80/192.168.0.0/16", "443/10.0.0.0/8"]);
    assert_eq!(cidrs(&last), ["80/0.0.0.0/0", "80/::/0"]);
    let same = sg_rules(d.as_object());
    let (a, b, c) = sg_rule_delta(&same, &same);
    assert!(a.is_empty() && b.is_empty() && c.is_empty());
    let perms = sdk_permissions(&last);
    assert_eq!(perms[1].ipv6_ranges()[0].cidr_ipv6(), Some("::/0"));
    assert_eq!(perms[0].ip_ranges()[0].cidr_ip(), Some("0.0.0.0/0"));
}

#[test]
fn rules_someone_else_added_to_the_group_are_not_read_so_never_revoked() {
    use aws_sdk_ec2::types::{IpPermission, IpRange};
    let range = |cidr: &str, d: &str| IpRange::builder().cidr_ip(cidr).description(d).build();
    let sg = SecurityGroup::builder()
        .group_name("k8s-shop-web-1")
        .group_id("sg-1")
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(80)
                .to_port(80)
                .ip_ranges(range("10.0.0.0/8", "berth: listener port 80"))
                .ip_ranges(range("192.0.2.0/24", "the office, added by hand"))
                .build(),
        )
        .build();
    let r = sg_resource(&sg);
    assert_eq!(
        r.properties["SecurityGroupIngress"],
        json!([ingress_rule("tcp", 80, "10.0.0.0/8")]),
    );
}
