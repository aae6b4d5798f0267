//! The NLB's managed security group against moto: source ranges and prefix lists become its
//! only ingress rules, changes are applied as a delta, the group goes with the Service, and an
//! NLB that exists without security groups is kept as it is or the restriction refused (AWS
//! cannot add security groups to it). Run through `bash localstack/test.sh`.
#![cfg(feature = "aws")]

mod support;

use aws_config::SdkConfig;
use providers::aws::{annotations as ann, AwsProvider, KIND_LB, KIND_SG};
use providers::frontend::{Frontend, ObjectRef, Protocol, ServicePort};
use providers::metrics::CallCounter;
use providers::plan::Action;
use providers::{Error, Provider};
use std::collections::BTreeSet;
use std::sync::Arc;
use support::{node, summary, unique, Vpc};

struct World {
    cluster: String,
    namespace: String,
    vpc: String,
    subnet: String,
    sdk: SdkConfig,
    calls: Arc<CallCounter>,
    provider: AwsProvider,
}

impl World {
    async fn new(name: &str) -> World {
        let sdk = support::sdk_config().await;
        let cluster = unique(name);
        let Vpc { id: vpc, subnets } =
            Vpc::create(&sdk, &cluster, &["us-east-1a", "us-east-1b"]).await;
        let calls = Arc::new(CallCounter::default());
        let provider = AwsProvider::new(&sdk, cluster.clone(), Some(vpc.clone()), calls.clone());
        World {
            cluster,
            namespace: unique("ns"),
            vpc,
            subnet: subnets[0].1.clone(),
            sdk,
            calls,
            provider,
        }
    }

    /// TCP 80 and UDP 53 on NodePorts, one instance target.
    fn service(&self, name: &str) -> Frontend {
        let mut fe = Frontend::new(ObjectRef::service(&self.namespace, name), &self.cluster);
        for (pname, protocol, port) in [("http", Protocol::Tcp, 80u16), ("dns", Protocol::Udp, 53)]
        {
            fe.ports.push(ServicePort {
                name: Some(pname.into()),
                protocol,
                port,
                node_port: Some(30000 + port),
                target_port: Some(port),
                endpoints: vec![],
            });
        }
        fe.nodes = vec![node("i-0fff000000000001")];
        // A made-up instance: no security group for backend rules (tested with real ones below).
        fe.annotations.insert(
            format!("{}{}", ann::PREFIXES[0], ann::MANAGE_BACKEND_SG_RULES),
            "false".into(),
        );
        fe
    }

    async fn reconcile(&self, fe: &Frontend) -> Result<providers::Plan, Error> {
        let desired = self.provider.desired(fe).await?;
        self.sync(fe, &desired).await
    }

    async fn sync(
        &self,
        fe: &Frontend,
        desired: &[providers::Resource],
    ) -> Result<providers::Plan, Error> {
        support::sync(&self.provider, &fe.object, &fe.cluster, desired)
            .await
            .map(|(p, _)| p)
    }

    fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk)
    }

    fn elb(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk)
    }

    /// The security group IDs of this test's NLBs, by name.
    async fn nlbs(&self) -> Vec<(String, Vec<String>)> {
        let ours: Vec<String> = support::tagged(&self.elb(), &self.cluster)
            .await
            .into_iter()
            .map(|(a, _)| a)
            .filter(|a| a.contains(":loadbalancer/"))
            .collect();
        if ours.is_empty() {
            return Vec::new();
        }
        let out = self
            .elb()
            .describe_load_balancers()
            .set_load_balancer_arns(Some(ours))
            .send()
            .await
            .expect("DescribeLoadBalancers");
        out.load_balancers()
            .iter()
            .map(|l| {
                (
                    l.load_balancer_name().unwrap_or_default().to_string(),
                    l.security_groups().to_vec(),
                )
            })
            .collect()
    }

    /// (protocol, port, source) of a security group's ingress rules, straight from moto.
    async fn rules(&self, sg: &str) -> BTreeSet<(String, i32, String)> {
        let mut rules = BTreeSet::new();
        for p in &self.permissions(sg).await {
            let proto = p.ip_protocol().unwrap_or_default().to_string();
            let port = p.from_port().unwrap_or_default();
            for r in p.ip_ranges() {
                rules.insert((
                    proto.clone(),
                    port,
                    r.cidr_ip().unwrap_or_default().to_string(),
                ));
            }
            for r in p.ipv6_ranges() {
                rules.insert((
                    proto.clone(),
                    port,
                    r.cidr_ipv6().unwrap_or_default().to_string(),
                ));
            }
            for r in p.prefix_list_ids() {
                rules.insert((
                    proto.clone(),
                    port,
                    r.prefix_list_id().unwrap_or_default().to_string(),
                ));
            }
        }
        rules
    }

    /// A security group in the test's VPC, tagged for the cluster or not.
    async fn security_group(&self, name: &str, cluster_tag: bool) -> String {
        let id = self
            .ec2()
            .create_security_group()
            .group_name(unique(name))
            .description(name)
            .vpc_id(&self.vpc)
            .send()
            .await
            .expect("CreateSecurityGroup")
            .group_id()
            .unwrap()
            .to_string();
        if cluster_tag {
            self.ec2()
                .create_tags()
                .resources(&id)
                .tags(support::ec2_tag(
                    &format!("kubernetes.io/cluster/{}", self.cluster),
                    "owned",
                ))
                .send()
                .await
                .expect("CreateTags");
        }
        id
    }

    /// A real EC2 instance in these security groups.
    async fn instance(&self, groups: &[&str]) -> String {
        let mut req = self
            .ec2()
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(1)
            .max_count(1)
            .subnet_id(&self.subnet);
        for g in groups {
            req = req.security_group_ids(*g);
        }
        req.send().await.expect("RunInstances").instances()[0]
            .instance_id()
            .unwrap()
            .to_string()
    }

    /// (protocol, port, source group, description) of a group's rules that come from groups.
    async fn group_rules(&self, sg: &str) -> BTreeSet<(String, i32, String, String)> {
        let mut rules = BTreeSet::new();
        for p in self.permissions(sg).await {
            for g in p.user_id_group_pairs() {
                rules.insert((
                    p.ip_protocol().unwrap_or_default().to_string(),
                    p.from_port().unwrap_or_default(),
                    g.group_id().unwrap_or_default().to_string(),
                    g.description().unwrap_or_default().to_string(),
                ));
            }
        }
        rules
    }

    /// A security group's ingress permissions, straight from moto.
    async fn permissions(&self, sg: &str) -> Vec<aws_sdk_ec2::types::IpPermission> {
        let out = self
            .ec2()
            .describe_security_groups()
            .group_ids(sg)
            .send()
            .await
            .expect("DescribeSecurityGroups");
        out.security_groups()[0].ip_permissions().to_vec()
    }

    async fn sg_exists(&self, id: &str) -> bool {
        self.ec2()
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .is_ok_and(|o| !o.security_groups().is_empty())
    }
}

fn set(l: &[(&str, i32, &str)]) -> BTreeSet<(String, i32, String)> {
    l.iter()
        .map(|(p, n, s)| (p.to_string(), *n, s.to_string()))
        .collect()
}

#[tokio::test]
async fn source_ranges_are_the_only_sources_the_nlb_admits() {
    let w = World::new("sgranges").await;
    let mut fe = w.service("web");
    fe.source_ranges = vec!["10.0.0.0/8".into(), "203.0.113.0/24".into()];
    let plan = w.reconcile(&fe).await.expect("create");
    assert_eq!(
        summary(&plan)[0],
        "Create SecurityGroup",
        "the group comes first: {plan:?}"
    );

    let nlbs = w.nlbs().await;
    assert_eq!(nlbs.len(), 1, "{nlbs:?}");
    let sgs = &nlbs[0].1;
    assert_eq!(sgs.len(), 1, "the NLB has berth's security group: {sgs:?}");
    let sg = sgs[0].clone();
    assert_eq!(
        w.rules(&sg).await,
        set(&[
            ("tcp", 80, "10.0.0.0/8"),
            ("tcp", 80, "203.0.113.0/24"),
            ("udp", 53, "10.0.0.0/8"),
            ("udp", 53, "203.0.113.0/24"),
        ]),
        "each listener port for its protocol from each range, and nothing from 0.0.0.0/0"
    );

    // Unchanged: nothing to do.
    w.calls.reset();
    assert!(w.reconcile(&fe).await.expect("no-op").is_empty());
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());

    // Someone adds a rule to berth's group by hand: berth leaves it alone.
    w.ec2()
        .authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("192.0.2.0/24")
                        .description("ssh from the office")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("a hand-made rule");
    assert!(w.reconcile(&fe).await.expect("still converged").is_empty());

    // Narrowed: one update of the group, as a delta; the NLB and the hand-made rule untouched.
    fe.source_ranges = vec!["203.0.113.0/24".into()];
    let plan = w.reconcile(&fe).await.expect("narrow");
    assert_eq!(summary(&plan), ["Update SecurityGroup"], "{plan:?}");
    assert_eq!(
        w.rules(&sg).await,
        set(&[
            ("tcp", 80, "203.0.113.0/24"),
            ("udp", 53, "203.0.113.0/24"),
            ("tcp", 22, "192.0.2.0/24")
        ])
    );

    // No ranges any more: open to everyone again (the default).
    fe.source_ranges.clear();
    w.reconcile(&fe).await.expect("open");
    assert_eq!(
        w.rules(&sg).await,
        set(&[
            ("tcp", 80, "0.0.0.0/0"),
            ("udp", 53, "0.0.0.0/0"),
            ("tcp", 22, "192.0.2.0/24")
        ])
    );

    // Deleted with the Service, after the NLB.
    let plan = w.sync(&fe, &[]).await.expect("delete");
    assert_eq!(
        plan.changes.last().map(|c| c.kind.as_str()),
        Some(KIND_SG),
        "{plan:?}"
    );
    assert!(w.nlbs().await.is_empty());
    assert!(!w.sg_exists(&sg).await, "the managed group is gone");
}

#[tokio::test]
async fn prefix_lists_and_the_users_own_security_groups() {
    let w = World::new("sgprefix").await;
    let pl = w
        .ec2()
        .create_managed_prefix_list()
        .prefix_list_name(unique("office"))
        .address_family("IPv4")
        .max_entries(5)
        .send()
        .await
        .expect("CreateManagedPrefixList")
        .prefix_list()
        .and_then(|p| p.prefix_list_id())
        .expect("prefix list id")
        .to_string();
    let mut fe = w.service("web");
    fe.annotations.insert(
        format!("{}{}", ann::PREFIXES[0], ann::SG_PREFIX_LISTS),
        pl.clone(),
    );
    w.reconcile(&fe).await.expect("create");
    let sg = w.nlbs().await[0].1[0].clone();
    assert_eq!(
        w.rules(&sg).await,
        set(&[("tcp", 80, pl.as_str()), ("udp", 53, pl.as_str())]),
        "only the prefix list: no 0.0.0.0/0 when prefix lists are set"
    );
    w.sync(&fe, &[]).await.expect("delete");

    // The user's own group: attached as given, never created, changed or deleted by berth.
    let theirs = w
        .ec2()
        .create_security_group()
        .group_name(unique("theirs"))
        .description("the user's")
        .send()
        .await
        .expect("CreateSecurityGroup")
        .group_id()
        .unwrap()
        .to_string();
    let mut fe = w.service("own");
    fe.annotations.insert(
        format!("{}{}", ann::PREFIXES[0], ann::SECURITY_GROUPS),
        theirs.clone(),
    );
    let plan = w
        .reconcile(&fe)
        .await
        .expect("create with the user's group");
    assert!(plan.changes.iter().all(|c| c.kind != KIND_SG), "{plan:?}");
    assert_eq!(w.nlbs().await[0].1, vec![theirs.clone()]);
    let before = w.rules(&theirs).await;
    w.sync(&fe, &[]).await.expect("delete");
    assert!(w.sg_exists(&theirs).await, "the user's group stays");
    assert_eq!(w.rules(&theirs).await, before);
}

#[tokio::test]
async fn an_nlb_created_without_security_groups_is_kept_or_the_restriction_refused() {
    let w = World::new("sglegacy").await;
    let mut fe = w.service("old");
    // What berth made before it managed security groups: the same NLB, without one.
    let mut legacy: Vec<providers::Resource> = w.provider.desired(&fe).await.expect("desired");
    legacy.retain(|r| r.kind != KIND_SG);
    for r in legacy.iter_mut().filter(|r| r.kind == KIND_LB) {
        r.properties.remove("SecurityGroups");
    }
    w.sync(&fe, &legacy).await.expect("the legacy NLB");
    let (name, sgs) = w.nlbs().await.remove(0);
    assert!(sgs.is_empty());

    // Unrestricted: kept as it is, no group created, nothing changed.
    w.calls.reset();
    let plan = w.reconcile(&fe).await.expect("kept");
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());

    // Restricted: refused with what to do, and nothing changes in the cloud.
    fe.source_ranges = vec!["203.0.113.0/24".into()];
    w.calls.reset();
    let err = w
        .reconcile(&fe)
        .await
        .expect_err("AWS cannot add a group to this NLB");
    assert_eq!(err.reason(), "ReplacementNeeded", "{err}");
    assert!(err.to_string().contains("aws-load-balancer-name"), "{err}");
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());

    // The way out the message names: a new name; berth replaces the NLB with one that has the group.
    fe.annotations
        .insert(format!("{}{}", ann::PREFIXES[0], ann::NAME), unique("new"));
    let plan = w.reconcile(&fe).await.expect("replaced");
    assert_eq!(
        plan.count(Action::Create),
        6,
        "group, NLB, 2 target groups, 2 listeners: {plan:?}"
    );
    let nlbs = w.nlbs().await;
    assert_eq!(nlbs.len(), 1, "the old NLB is deleted: {nlbs:?}");
    assert_ne!(nlbs[0].0, name);
    assert_eq!(
        w.rules(&nlbs[0].1[0]).await,
        set(&[("tcp", 80, "203.0.113.0/24"), ("udp", 53, "203.0.113.0/24")])
    );
    w.sync(&fe, &[]).await.expect("delete");
}

#[tokio::test]
async fn the_targets_security_groups_get_berths_rules_and_keep_everyone_elses() {
    let w = World::new("sgbackend").await;
    let node_sg = w.security_group("nodes", true).await;
    let other_sg = w.security_group("extra", false).await;
    let foreign_source = w.security_group("bastion", false).await;
    // Someone else's rule in the nodes' group, from another group: never touched.
    w.ec2()
        .authorize_security_group_ingress()
        .group_id(&node_sg)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(&foreign_source)
                        .description("ssh from the bastion")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("the foreign rule");
    let foreign = (
        "tcp".to_string(),
        22,
        foreign_source.clone(),
        "ssh from the bastion".to_string(),
    );
    let i1 = w.instance(&[&node_sg, &other_sg]).await;
    let i2 = w.instance(&[&node_sg]).await;

    let mut fe = w.service("web");
    fe.annotations.clear(); // backend rules on: the default with berth's managed group
    fe.nodes = vec![node(&i1), node(&i2)];
    let plan = w.reconcile(&fe).await.expect("create");
    let nlb_sg = w.nlbs().await[0].1[0].clone();
    let description = format!("berth: targets of {}/web", w.namespace);
    let want: BTreeSet<(String, i32, String, String)> = [
        ("tcp", 30080),
        ("udp", 30053),
        ("tcp", 30053), // the UDP target group's TCP health check on its traffic port
    ]
    .into_iter()
    .map(|(p, n)| (p.to_string(), n, nlb_sg.clone(), description.clone()))
    .chain([foreign.clone()])
    .collect();
    assert_eq!(
        w.group_rules(&node_sg).await,
        want,
        "the NodePorts and health-check ports from the NLB's group, in the cluster-tagged group only: {plan:?}"
    );
    assert!(
        w.group_rules(&other_sg).await.is_empty(),
        "the untagged group is untouched"
    );

    // Converged: nothing to do.
    w.calls.reset();
    assert!(w.reconcile(&fe).await.expect("no-op").is_empty());
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());

    // Turned off: berth's rules go, the foreign one stays.
    fe.annotations.insert(
        format!("{}{}", ann::PREFIXES[0], ann::MANAGE_BACKEND_SG_RULES),
        "false".into(),
    );
    let plan = w.reconcile(&fe).await.expect("off");
    assert_eq!(plan.count(Action::Delete), 3, "{plan:?}");
    assert_eq!(w.group_rules(&node_sg).await, [foreign.clone()].into());

    // On again, then the Service goes: its rules are revoked first, so its group can go too.
    fe.annotations.clear();
    w.reconcile(&fe).await.expect("on again");
    assert_eq!(w.group_rules(&node_sg).await.len(), 4);
    w.sync(&fe, &[]).await.expect("delete");
    assert_eq!(w.group_rules(&node_sg).await, [foreign].into());
    assert!(!w.sg_exists(&nlb_sg).await);

    // A node whose groups carry no cluster tag: refused, naming the instance and its groups.
    let i3 = w.instance(&[&other_sg]).await;
    fe.nodes = vec![node(&i3)];
    w.calls.reset();
    let e = w
        .reconcile(&fe)
        .await
        .expect_err("no tagged group")
        .to_string();
    assert!(
        e.contains(&i3)
            && e.contains(&other_sg)
            && e.contains(&format!("kubernetes.io/cluster/{}", w.cluster)),
        "{e}"
    );
    assert_eq!(w.calls.mutating(), 0);
}

#[tokio::test]
async fn ip_targets_rules_go_to_the_pods_network_interfaces_groups() {
    let w = World::new("sgpods").await;
    let pod_sg = w.security_group("pods", true).await;
    let eni = w
        .ec2()
        .create_network_interface()
        .subnet_id(&w.subnet)
        .groups(&pod_sg)
        .private_ip_address("10.0.0.77")
        .send()
        .await
        .expect("CreateNetworkInterface");
    assert!(eni.network_interface().is_some());
    let mut fe = Frontend::new(ObjectRef::service(&w.namespace, "api"), &w.cluster);
    fe.annotations.insert(
        format!("{}{}", ann::PREFIXES[0], ann::TARGET_TYPE),
        "ip".into(),
    );
    fe.ports.push(ServicePort {
        name: Some("grpc".into()),
        protocol: Protocol::Tcp,
        port: 9000,
        node_port: None,
        target_port: Some(9090),
        endpoints: vec![providers::frontend::Endpoint {
            ip: "10.0.0.77".into(),
            port: 9090,
        }],
    });
    w.reconcile(&fe).await.expect("create");
    let nlb_sg = w.nlbs().await[0].1[0].clone();
    assert_eq!(
        w.group_rules(&pod_sg).await,
        [(
            "tcp".to_string(),
            9090,
            nlb_sg,
            format!("berth: targets of {}/api", w.namespace)
        )]
        .into(),
        "the pod's port from the NLB's group"
    );
    w.sync(&fe, &[]).await.expect("delete");
    assert!(w.group_rules(&pod_sg).await.is_empty());
}
