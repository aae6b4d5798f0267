//! The AWS provider against the moto emulator: desired -> observe -> plan -> apply, and what
//! moto holds afterwards. Run through `bash localstack/test.sh` (it starts moto and sets
//! `AWS_ENDPOINT_URL`). Every test makes its own VPC, subnets, cluster name and namespace, so
//! the tests can share one moto and run in parallel.
#![cfg(feature = "aws")]

mod support;

use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Tag as ElbTag,
};
use providers::aws::{
    annotations as ann, tags, AwsProvider, KIND_LB, KIND_LISTENER, KIND_SG, KIND_TG,
};
use providers::frontend::{Endpoint, Frontend, ObjectRef};
use providers::metrics::{is_mutating, CallCounter};
use providers::plan::{Action, Plan};
use providers::{Address, Error, Provider};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use support::{acm_certificate, node, print_calls, sdk_config, summary, tcp_port, unique, Vpc};

/// One test's world: a VPC with subnets tagged for its cluster, a provider and a call counter.
struct World {
    cluster: String,
    namespace: String,
    vpc: String,
    /// (zone, subnet id), the subnets tagged for internal load balancers.
    subnets: Vec<(String, String)>,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    sdk: SdkConfig,
    calls: Arc<CallCounter>,
    provider: AwsProvider,
}

impl World {
    /// A VPC with subnets in us-east-1a (two: discovery must pick the lower ID) and
    /// us-east-1b, tagged `kubernetes.io/role/internal-elb=1` + the cluster tag.
    async fn new(name: &str) -> World {
        let sdk = sdk_config().await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let cluster = unique(name);
        let namespace = unique("ns");
        let Vpc { id: vpc, subnets } =
            Vpc::create(&sdk, &cluster, &["us-east-1a", "us-east-1a", "us-east-1b"]).await;
        let calls = Arc::new(CallCounter::default());
        let provider = AwsProvider::new(&sdk, cluster.clone(), Some(vpc.clone()), calls.clone());
        World {
            cluster,
            namespace,
            vpc,
            subnets,
            elb,
            sdk,
            calls,
            provider,
        }
    }

    /// The subnets discovery must choose: the lowest ID per zone, sorted.
    fn expected_subnets(&self) -> Vec<String> {
        let mut by_zone: BTreeMap<&str, &str> = BTreeMap::new();
        for (z, id) in &self.subnets {
            let e = by_zone.entry(z).or_insert(id);
            if id.as_str() < *e {
                *e = id;
            }
        }
        let mut v: Vec<String> = by_zone.values().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    /// A Service with TCP ports 80 and 443 on NodePorts 30080 / 30443, and `nodes` as
    /// instance targets.
    fn service(&self, name: &str, nodes: &[&str]) -> Frontend {
        let mut fe = Frontend::new(ObjectRef::service(&self.namespace, name), &self.cluster);
        for (pname, port) in [("http", 80u16), ("https", 443)] {
            fe.ports.push(tcp_port(pname, port, 30000 + port));
        }
        fe.nodes = nodes.iter().map(|n| node(n)).collect();
        // These instance IDs are made up (moto registers any ID as a target), so there are no
        // security groups to add backend rules to: aws_nlb_security_group_moto.rs tests those
        // with real instances.
        annotate(&mut fe, ann::MANAGE_BACKEND_SG_RULES, "false");
        fe
    }

    /// desired -> observe -> plan -> apply, counting the calls.
    async fn reconcile(&self, fe: &Frontend) -> Result<(Plan, Option<Address>), Error> {
        let desired = self.provider.desired(fe).await?;
        self.sync(fe, &desired).await
    }

    /// Deletion: the same pipeline with nothing desired.
    async fn delete(&self, fe: &Frontend) -> Result<(Plan, Option<Address>), Error> {
        self.sync(fe, &[]).await
    }

    async fn sync(
        &self,
        fe: &Frontend,
        desired: &[providers::Resource],
    ) -> Result<(Plan, Option<Address>), Error> {
        support::sync(&self.provider, &fe.object, &fe.cluster, desired).await
    }

    /// ELBv2 resources (LBs and TGs) that carry this test's cluster tag, straight from moto.
    async fn tagged(&self) -> Vec<(String, BTreeMap<String, String>)> {
        support::tagged(&self.elb, &self.cluster).await
    }

    async fn load_balancer(
        &self,
        arn: &str,
    ) -> aws_sdk_elasticloadbalancingv2::types::LoadBalancer {
        self.elb
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .expect("DescribeLoadBalancers")
            .load_balancers()
            .first()
            .expect("the load balancer")
            .clone()
    }

    async fn listeners(
        &self,
        lb_arn: &str,
    ) -> Vec<aws_sdk_elasticloadbalancingv2::types::Listener> {
        self.elb
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .expect("DescribeListeners")
            .listeners()
            .to_vec()
    }

    async fn target_groups_of(
        &self,
        lb_arn: &str,
    ) -> Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup> {
        let mut tgs = self
            .elb
            .describe_target_groups()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .expect("DescribeTargetGroups")
            .target_groups()
            .to_vec();
        tgs.sort_by_key(|t| t.port());
        tgs
    }

    async fn targets(&self, tg_arn: &str) -> BTreeSet<(String, i32)> {
        self.elb
            .describe_target_health()
            .target_group_arn(tg_arn)
            .send()
            .await
            .expect("DescribeTargetHealth")
            .target_health_descriptions()
            .iter()
            .filter_map(|d| {
                let t = d.target()?;
                Some((t.id()?.to_string(), t.port()?))
            })
            .collect()
    }
}

fn annotate(fe: &mut Frontend, key: &str, value: &str) {
    fe.annotations
        .insert(format!("{}{key}", ann::PREFIXES[0]), value.to_string());
}

#[tokio::test]
async fn create_makes_one_internal_nlb_with_listeners_target_groups_and_targets() {
    let w = World::new("create").await;
    let fe = w.service("web", &["i-0aaa000000000001", "i-0aaa000000000002"]);
    let (plan, address) = w.reconcile(&fe).await.expect("first reconcile");
    assert_eq!(
        summary(&plan),
        vec![
            "Create SecurityGroup",
            "Create LoadBalancer",
            "Create TargetGroup",
            "Create TargetGroup",
            "Create Listener",
            "Create Listener"
        ]
    );

    let ours = w.tagged().await;
    let lb_arns: Vec<&String> = ours
        .iter()
        .filter(|(arn, _)| arn.contains(":loadbalancer/"))
        .map(|(a, _)| a)
        .collect();
    assert_eq!(lb_arns.len(), 1, "exactly one load balancer: {ours:?}");
    let (_, lb_tags) = ours.iter().find(|(a, _)| a == lb_arns[0]).unwrap();
    assert_eq!(lb_tags[tags::STACK], format!("{}/web", w.namespace));
    assert_eq!(lb_tags[tags::RESOURCE], "LoadBalancer");
    assert_eq!(lb_tags[tags::MANAGED_BY], "berth");

    let lb = w.load_balancer(lb_arns[0]).await;
    assert_eq!(lb.r#type(), Some(&LoadBalancerTypeEnum::Network));
    assert_eq!(lb.scheme(), Some(&LoadBalancerSchemeEnum::Internal));
    assert_eq!(lb.vpc_id(), Some(w.vpc.as_str()));
    let mut subnets: Vec<String> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id().map(String::from))
        .collect();
    subnets.sort();
    assert_eq!(subnets, w.expected_subnets());
    assert_eq!(
        address,
        Some(Address::Hostname(
            lb.dns_name().expect("dns name").to_ascii_lowercase()
        ))
    );

    let listeners = w.listeners(lb_arns[0]).await;
    let mut ports: Vec<i32> = listeners.iter().filter_map(|l| l.port()).collect();
    ports.sort();
    assert_eq!(ports, vec![80, 443]);
    let tgs = w.target_groups_of(lb_arns[0]).await;
    assert_eq!(tgs.len(), 2);
    for (tg, node_port) in tgs.iter().zip([30080, 30443]) {
        assert_eq!(tg.port(), Some(node_port));
        assert_eq!(tg.protocol().map(|p| p.as_str()), Some("TCP"));
        assert_eq!(tg.target_type().map(|t| t.as_str()), Some("instance"));
        assert_eq!(tg.health_check_protocol().map(|p| p.as_str()), Some("TCP"));
        assert_eq!(tg.health_check_port(), Some("traffic-port"));
        assert_eq!(tg.health_check_interval_seconds(), Some(10));
        assert_eq!(tg.healthy_threshold_count(), Some(3));
        let arn = tg.target_group_arn().unwrap();
        assert!(ours.iter().any(|(a, _)| a == arn), "TG {arn} has our tags");
        let want: BTreeSet<(String, i32)> = [
            ("i-0aaa000000000001".to_string(), node_port),
            ("i-0aaa000000000002".to_string(), node_port),
        ]
        .into_iter()
        .collect();
        assert_eq!(w.targets(arn).await, want);
        // Each listener forwards to the target group of its port.
        let l = listeners
            .iter()
            .find(|l| l.port() == Some(node_port - 30000))
            .unwrap();
        assert_eq!(l.protocol().map(|p| p.as_str()), Some("TCP"));
        assert_eq!(l.default_actions()[0].target_group_arn(), Some(arn));
    }
}

#[tokio::test]
async fn second_pass_is_empty_and_mutates_nothing() {
    let w = World::new("noop").await;
    let fe = w.service("web", &["i-0bbb000000000001", "i-0bbb000000000002"]);
    w.calls.reset();
    w.reconcile(&fe).await.expect("create");
    print_calls("create (2-port Service)", &w.calls);

    w.calls.reset();
    let (plan, address) = w.reconcile(&fe).await.expect("second pass");
    print_calls("no-op (2-port Service)", &w.calls);
    assert!(plan.is_empty(), "second pass must plan nothing: {plan:#?}");
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());
    assert!(
        w.calls.by_operation().keys().all(|op| !is_mutating(op)),
        "{:?}",
        w.calls.by_operation()
    );
    assert!(matches!(address, Some(Address::Hostname(_))));

    w.calls.reset();
    let (plan, address) = w.delete(&fe).await.expect("delete");
    print_calls("delete (2-port Service)", &w.calls);
    assert_eq!(
        plan.count(Action::Delete),
        6,
        "LB, its group, 2 TGs, 2 listeners"
    );
    assert_eq!(address, None);
}

#[tokio::test]
async fn updates_in_place_touch_only_what_changed() {
    let w = World::new("update").await;
    let mut fe = w.service("web", &["i-0ccc000000000001", "i-0ccc000000000002"]);
    // An HTTP health check from the start (see the moto note in the report: moto never stores a
    // matcher on a TCP target group whose health check turns HTTP later).
    annotate(&mut fe, ann::HC_PROTOCOL, "HTTP");
    let (_, address) = w.reconcile(&fe).await.expect("create");
    let observed = w
        .provider
        .observe(&fe.object, &fe.cluster, &[])
        .await
        .unwrap();
    let lb_arn = observed.of_kind(KIND_LB).next().unwrap().id.clone();
    let tg80_before = observed
        .of_kind(KIND_TG)
        .find(|o| o.resource.properties["Port"] == 30080)
        .unwrap()
        .id
        .clone();

    // Health check protocol/path/interval, a TG attribute, port 443 -> 8443, node 2 -> 3.
    annotate(&mut fe, ann::HC_PROTOCOL, "HTTPS");
    annotate(&mut fe, ann::HC_PATH, "/ready");
    annotate(&mut fe, ann::HC_INTERVAL, "30");
    annotate(
        &mut fe,
        ann::TG_ATTRIBUTES,
        "deregistration_delay.timeout_seconds=30",
    );
    fe.ports[1] = tcp_port("https", 8443, 30843);
    fe.nodes = vec![node("i-0ccc000000000001"), node("i-0ccc000000000003")];

    w.calls.reset();
    let (plan, address2) = w.reconcile(&fe).await.expect("update");
    print_calls("update", &w.calls);
    assert_eq!(
        summary(&plan),
        vec![
            "Create TargetGroup",
            "Create Listener",
            "Update SecurityGroup",
            "Update TargetGroup",
            "Delete Listener",
            "Delete TargetGroup"
        ],
        "{plan:#?}"
    );
    let update = plan
        .changes
        .iter()
        .find(|c| c.action == Action::Update && c.kind == KIND_TG)
        .unwrap();
    assert_eq!(update.id.as_deref(), Some(tg80_before.as_str()));
    let mut changed = update.changed.clone();
    changed.sort();
    assert_eq!(
        changed,
        vec![
            "HealthCheckIntervalSeconds",
            "HealthCheckPath",
            "HealthCheckProtocol",
            // berth.dev/attributes now names the attributes berth set.
            "Tags",
            "TargetGroupAttributes",
            "Targets"
        ]
    );
    let ops = w.calls.by_operation();
    assert!(!ops.contains_key("CreateLoadBalancer"), "{ops:?}");
    assert!(!ops.contains_key("DeleteLoadBalancer"), "{ops:?}");
    assert_eq!(address2, address, "same load balancer, same address");

    // moto's view: same LB; listeners 80 and 8443; the 80 TG changed in place.
    let tgs = w.target_groups_of(&lb_arn).await;
    let tg80 = tgs.iter().find(|t| t.port() == Some(30080)).unwrap();
    assert_eq!(tg80.target_group_arn(), Some(tg80_before.as_str()));
    assert_eq!(
        tg80.health_check_protocol().map(|p| p.as_str()),
        Some("HTTPS")
    );
    assert_eq!(tg80.health_check_path(), Some("/ready"));
    assert_eq!(tg80.health_check_interval_seconds(), Some(30));
    assert_eq!(
        w.targets(&tg80_before).await,
        [
            ("i-0ccc000000000001".to_string(), 30080),
            ("i-0ccc000000000003".to_string(), 30080)
        ]
        .into_iter()
        .collect()
    );
    let attrs = w
        .elb
        .describe_target_group_attributes()
        .target_group_arn(&tg80_before)
        .send()
        .await
        .unwrap();
    assert!(attrs.attributes().iter().any(|a| a.key()
        == Some("deregistration_delay.timeout_seconds")
        && a.value() == Some("30")));
    let mut ports: Vec<i32> = w
        .listeners(&lb_arn)
        .await
        .iter()
        .filter_map(|l| l.port())
        .collect();
    ports.sort();
    assert_eq!(ports, vec![80, 8443]);
    assert_eq!(
        w.tagged()
            .await
            .iter()
            .filter(|(a, _)| a.contains(":targetgroup/"))
            .count(),
        2,
        "the 443 target group is gone"
    );

    w.calls.reset();
    let (plan, _) = w.reconcile(&fe).await.expect("third pass");
    assert!(plan.is_empty(), "third pass must plan nothing: {plan:#?}");
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());
}

#[tokio::test]
async fn ip_targets_register_pod_ips_and_ports() {
    let w = World::new("ip").await;
    let mut fe = Frontend::new(ObjectRef::service(&w.namespace, "api"), &w.cluster);
    annotate(&mut fe, ann::TARGET_TYPE, "ip");
    // Made-up pod IPs: no network interfaces to find groups on (see aws_nlb_security_group_moto).
    annotate(&mut fe, ann::MANAGE_BACKEND_SG_RULES, "false");
    let mut port = tcp_port("grpc", 9000, 31900);
    port.target_port = Some(9090);
    port.endpoints = vec![
        Endpoint {
            ip: "10.0.1.10".into(),
            port: 9090,
        },
        Endpoint {
            ip: "10.0.2.11".into(),
            port: 9090,
        },
    ];
    fe.ports.push(port);
    w.reconcile(&fe).await.expect("create");
    let observed = w
        .provider
        .observe(&fe.object, &fe.cluster, &[])
        .await
        .unwrap();
    let lb = observed.of_kind(KIND_LB).next().expect("a load balancer");
    let tgs = w.target_groups_of(&lb.id).await;
    assert_eq!(tgs.len(), 1);
    assert_eq!(tgs[0].target_type().map(|t| t.as_str()), Some("ip"));
    assert_eq!(tgs[0].port(), Some(9090));
    assert_eq!(
        w.targets(tgs[0].target_group_arn().unwrap()).await,
        [
            ("10.0.1.10".to_string(), 9090),
            ("10.0.2.11".to_string(), 9090)
        ]
        .into_iter()
        .collect()
    );
    let (plan, _) = w.reconcile(&fe).await.expect("second pass");
    assert!(plan.is_empty(), "{plan:#?}");
}

#[tokio::test]
async fn tls_listener_gets_certificates_and_policy() {
    let w = World::new("tls").await;
    let cert1 = acm_certificate(&format!("{}.example.com", w.cluster)).await;
    let cert2 = acm_certificate(&format!("alt.{}.example.com", w.cluster)).await;
    let mut fe = w.service("web", &["i-0ddd000000000001"]);
    annotate(&mut fe, ann::SSL_CERT, &format!("{cert1},{cert2}"));
    annotate(&mut fe, ann::SSL_PORTS, "https");
    annotate(
        &mut fe,
        ann::SSL_POLICY,
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
    );
    w.calls.reset();
    w.reconcile(&fe).await.expect("create");
    print_calls("create with TLS", &w.calls);
    let observed = w
        .provider
        .observe(&fe.object, &fe.cluster, &[])
        .await
        .unwrap();
    let lb = observed.of_kind(KIND_LB).next().expect("a load balancer");
    let listeners = w.listeners(&lb.id).await;
    let tls = listeners
        .iter()
        .find(|l| l.port() == Some(443))
        .expect("443");
    assert_eq!(tls.protocol().map(|p| p.as_str()), Some("TLS"));
    assert_eq!(
        tls.ssl_policy(),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    assert_eq!(
        tls.certificates().first().and_then(|c| c.certificate_arn()),
        Some(cert1.as_str())
    );
    let tls_arn = tls.listener_arn().unwrap().to_string();
    let certs_now = || async {
        let mut v: Vec<String> = w
            .elb
            .describe_listener_certificates()
            .listener_arn(&tls_arn)
            .send()
            .await
            .unwrap()
            .certificates()
            .iter()
            .filter_map(|c| c.certificate_arn().map(String::from))
            .collect();
        v.sort();
        v
    };
    let mut want = vec![cert1.clone(), cert2.clone()];
    want.sort();
    assert_eq!(certs_now().await, want);
    let plain = listeners.iter().find(|l| l.port() == Some(80)).expect("80");
    assert_eq!(plain.protocol().map(|p| p.as_str()), Some("TCP"));
    // The TLS listener's target group speaks TCP to the nodes.
    let tgs = w.target_groups_of(&lb.id).await;
    assert!(tgs
        .iter()
        .all(|t| t.protocol().map(|p| p.as_str()) == Some("TCP")));

    w.calls.reset();
    let (plan, _) = w.reconcile(&fe).await.expect("second pass");
    assert!(plan.is_empty(), "{plan:#?}");
    assert_eq!(w.calls.mutating(), 0);

    // Someone adds a certificate of their own to berth's listener: berth leaves it alone.
    let theirs = acm_certificate(&format!("theirs.{}.example.com", w.cluster)).await;
    w.elb
        .add_listener_certificates()
        .listener_arn(&tls_arn)
        .certificates(
            aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                .certificate_arn(&theirs)
                .build(),
        )
        .send()
        .await
        .expect("AddListenerCertificates");
    let (plan, _) = w.reconcile(&fe).await.expect("with a foreign certificate");
    assert!(
        plan.is_empty(),
        "someone else's certificate is not berth's to remove: {plan:#?}"
    );
    let mut want = vec![cert1.clone(), cert2.clone(), theirs.clone()];
    want.sort();
    assert_eq!(certs_now().await, want);

    // The Service drops its second certificate: berth removes its own extra, not theirs.
    annotate(&mut fe, ann::SSL_CERT, &cert1);
    let (plan, _) = w.reconcile(&fe).await.expect("one certificate");
    assert_eq!(summary(&plan), ["Update Listener"], "{plan:#?}");
    let mut want = vec![cert1.clone(), theirs.clone()];
    want.sort();
    assert_eq!(certs_now().await, want);
    let (plan, _) = w.reconcile(&fe).await.expect("converged");
    assert!(plan.is_empty(), "{plan:#?}");
}

#[tokio::test]
async fn delete_removes_listeners_then_target_groups_then_the_load_balancer() {
    let w = World::new("delete").await;
    let fe = w.service("web", &["i-0eee000000000001"]);
    w.reconcile(&fe).await.expect("create");
    assert_eq!(w.tagged().await.len(), 3, "LB + 2 TGs");
    let (plan, address) = w.delete(&fe).await.expect("delete");
    let kinds: Vec<&str> = plan.changes.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            KIND_LISTENER,
            KIND_LISTENER,
            KIND_TG,
            KIND_TG,
            KIND_LB,
            KIND_SG
        ]
    );
    assert!(plan.changes.iter().all(|c| c.action == Action::Delete));
    assert_eq!(address, None);
    assert!(w.tagged().await.is_empty(), "nothing with our tags remains");
    // Deleting again is a no-op.
    let (plan, _) = w.delete(&fe).await.expect("delete again");
    assert!(plan.is_empty());
}

#[tokio::test]
async fn a_foreign_load_balancer_with_our_name_is_a_conflict_and_stays_untouched() {
    let w = World::new("foreign").await;
    let name = unique("theirs");
    let subnets: Vec<String> = w.subnets.iter().map(|(_, s)| s.clone()).skip(1).collect();
    let theirs = w
        .elb
        .create_load_balancer()
        .name(&name)
        .r#type(LoadBalancerTypeEnum::Network)
        .scheme(LoadBalancerSchemeEnum::Internal)
        .set_subnets(Some(subnets))
        .tags(ElbTag::builder().key("owner").value("someone-else").build())
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();

    let mut fe = w.service("web", &["i-0fff000000000001"]);
    annotate(&mut fe, ann::NAME, &name);
    w.calls.reset();
    let err = w.reconcile(&fe).await.expect_err("a conflict");
    assert!(
        matches!(&err, Error::Conflict { kind, id, .. } if kind == KIND_LB && *id == theirs),
        "{err}"
    );
    assert!(err.to_string().contains("not owned by berth"), "{err}");
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());

    // Theirs is untouched; nothing of ours exists.
    let lb = w.load_balancer(&theirs).await;
    assert_eq!(lb.load_balancer_name(), Some(name.as_str()));
    assert!(w.listeners(&theirs).await.is_empty());
    let t = w
        .elb
        .describe_tags()
        .resource_arns(&theirs)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = t.tag_descriptions()[0]
        .tags()
        .iter()
        .filter_map(|t| t.key())
        .collect();
    assert_eq!(keys, vec!["owner"]);
    assert!(w.tagged().await.is_empty());
    let same_name = w
        .elb
        .describe_load_balancers()
        .names(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(same_name.load_balancers().len(), 1);
}

#[tokio::test]
async fn subnets_are_discovered_by_tags_names_or_ids_and_missing_tags_are_explained() {
    let w = World::new("subnets").await;
    let fe = w.service("web", &["i-0abc000000000001"]);
    let desired = w.provider.desired(&fe).await.expect("discovered");
    let lb = desired.iter().find(|r| r.kind == KIND_LB).unwrap();
    assert_eq!(
        lb.properties["Subnets"],
        serde_json::json!(w.expected_subnets())
    );
    let tg = desired.iter().find(|r| r.kind == KIND_TG).unwrap();
    assert_eq!(tg.properties["VpcId"], serde_json::json!(w.vpc));
    assert_eq!(w.calls.by_operation().get("DescribeSubnets"), Some(&1));

    // By Name tag.
    let mut named = fe.clone();
    annotate(&mut named, ann::SUBNETS, &format!("{0}-1,{0}-2", w.cluster));
    let desired = w.provider.desired(&named).await.expect("by names");
    let mut want = vec![w.subnets[1].1.clone(), w.subnets[2].1.clone()];
    want.sort();
    assert_eq!(desired[0].properties["Subnets"], serde_json::json!(want));

    // By ID: as listed.
    let mut by_id = fe.clone();
    annotate(&mut by_id, ann::SUBNETS, &w.subnets[0].1);
    let desired = w.provider.desired(&by_id).await.expect("by id");
    assert_eq!(
        desired[0].properties["Subnets"],
        serde_json::json!([w.subnets[0].1])
    );

    // Internet-facing needs kubernetes.io/role/elb, which no subnet of this cluster has.
    let mut public = fe.clone();
    annotate(&mut public, ann::SCHEME, "internet-facing");
    let err = w
        .provider
        .desired(&public)
        .await
        .expect_err("no public subnets");
    assert!(matches!(err, Error::CloudSetup(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("kubernetes.io/role/elb=1"), "{msg}");
    assert!(
        msg.contains(&format!("kubernetes.io/cluster/{}", w.cluster)),
        "{msg}"
    );
    assert!(msg.contains("aws-load-balancer-subnets"), "{msg}");

    // Another cluster's tags do not count.
    let other = AwsProvider::new(
        &w.sdk,
        "someone-else".into(),
        Some(w.vpc.clone()),
        w.calls.clone(),
    );
    let mut foreign = fe.clone();
    foreign.cluster = unique("other");
    let err = other
        .desired(&foreign)
        .await
        .expect_err("no subnets for that cluster");
    assert!(
        err.to_string()
            .contains("kubernetes.io/role/internal-elb=1"),
        "{err}"
    );

    // A listed subnet that does not exist.
    let mut missing = fe.clone();
    annotate(&mut missing, ann::SUBNETS, "subnet-0000dead");
    let err = w
        .provider
        .desired(&missing)
        .await
        .expect_err("missing subnet");
    assert!(err.to_string().contains("subnet-0000dead"), "{err}");
}

/// A change AWS cannot make in place (the scheme) replaces the load balancer and its target
/// groups: the new ones are created first, the listeners come with them, the old ones go last.
#[tokio::test]
async fn scheme_change_replaces_the_load_balancer_and_its_target_groups() {
    let w = World::new("scheme").await;
    let mut fe = w.service("web", &["i-0fff000000000001"]);
    let ids: Vec<String> = w.subnets.iter().map(|(_, id)| id.clone()).collect();
    annotate(&mut fe, ann::SUBNETS, &ids.join(","));
    let (_, before) = w.reconcile(&fe).await.expect("create internal");
    let old: Vec<String> = w.tagged().await.into_iter().map(|(arn, _)| arn).collect();
    assert_eq!(old.len(), 3, "LB + 2 TGs");

    annotate(&mut fe, ann::SCHEME, "internet-facing");
    let (plan, after) = w.reconcile(&fe).await.expect("replace");
    let actions: Vec<String> = summary(&plan);
    assert_eq!(
        actions,
        vec![
            "Create LoadBalancer",
            "Create TargetGroup",
            "Create TargetGroup",
            "Create Listener",
            "Create Listener",
            "Delete Listener",
            "Delete Listener",
            "Delete TargetGroup",
            "Delete TargetGroup",
            "Delete LoadBalancer"
        ],
        "{plan:#?}"
    );
    assert_ne!(before, after, "the new load balancer has a new address");
    let now: Vec<String> = w.tagged().await.into_iter().map(|(arn, _)| arn).collect();
    assert_eq!(now.len(), 3);
    assert!(
        now.iter().all(|arn| !old.contains(arn)),
        "old resources are gone: {old:?} vs {now:?}"
    );
    let observed = w
        .provider
        .observe(&fe.object, &fe.cluster, &[])
        .await
        .unwrap();
    let lb = observed.of_kind(KIND_LB).next().unwrap();
    assert_eq!(lb.resource.properties["Scheme"], "internet-facing");
    let (plan, _) = w.reconcile(&fe).await.expect("converged");
    assert!(plan.is_empty(), "{plan:#?}");
}

/// The attribute-, tag- and Kubernetes-field rows of the annotation table reach the cloud, and a
/// second pass over them is still a no-op (AWS's own shapes normalise to berth's).
#[tokio::test]
async fn attributes_tags_stickiness_proxy_protocol_and_local_health_checks_reach_the_cloud() {
    let w = World::new("attrs").await;
    let mut fe = w.service("web", &["i-0abc000000000001"]);
    fe.ports.truncate(1);
    fe.session_affinity_client_ip = true;
    fe.external_traffic_policy = providers::frontend::TrafficPolicy::Local;
    fe.health_check_node_port = Some(32123);
    annotate(&mut fe, ann::PROXY_PROTOCOL, "*");
    annotate(&mut fe, ann::CROSS_ZONE, "true");
    annotate(
        &mut fe,
        ann::TG_ATTRIBUTES,
        "deregistration_delay.timeout_seconds=15",
    );
    annotate(&mut fe, ann::TAGS, "team=payments,cost-center=42");
    w.reconcile(&fe).await.expect("create");

    let observed = w
        .provider
        .observe(&fe.object, &fe.cluster, &[])
        .await
        .unwrap();
    let lb_arn = observed.of_kind(KIND_LB).next().unwrap().id.clone();
    let tg = w.target_groups_of(&lb_arn).await.remove(0);
    let tg_arn = tg.target_group_arn().unwrap().to_string();
    assert_eq!(tg.health_check_protocol().map(|p| p.as_str()), Some("HTTP"));
    assert_eq!(tg.health_check_port(), Some("32123"));
    assert_eq!(tg.health_check_path(), Some("/healthz"));
    assert_eq!(tg.health_check_timeout_seconds(), Some(6));
    assert_eq!(tg.healthy_threshold_count(), Some(2));

    let attrs: BTreeMap<String, String> = w
        .elb
        .describe_target_group_attributes()
        .target_group_arn(&tg_arn)
        .send()
        .await
        .unwrap()
        .attributes()
        .iter()
        .map(|a| {
            (
                a.key().unwrap_or_default().to_string(),
                a.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (k, v) in [
        ("proxy_protocol_v2.enabled", "true"),
        ("stickiness.enabled", "true"),
        ("stickiness.type", "source_ip"),
        ("deregistration_delay.timeout_seconds", "15"),
    ] {
        assert_eq!(attrs.get(k).map(String::as_str), Some(v), "{k}: {attrs:?}");
    }
    let lb_attrs: BTreeMap<String, String> = w
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap()
        .attributes()
        .iter()
        .map(|a| {
            (
                a.key().unwrap_or_default().to_string(),
                a.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        lb_attrs
            .get("load_balancing.cross_zone.enabled")
            .map(String::as_str),
        Some("true"),
        "{lb_attrs:?}"
    );

    let tagged = w.tagged().await;
    assert_eq!(tagged.len(), 2, "LB + TG");
    for (arn, tags) in &tagged {
        assert_eq!(
            tags.get("team").map(String::as_str),
            Some("payments"),
            "{arn}"
        );
        assert_eq!(
            tags.get("cost-center").map(String::as_str),
            Some("42"),
            "{arn}"
        );
        assert_eq!(
            tags.get("berth.dev/managed-by").map(String::as_str),
            Some("berth"),
            "{arn}"
        );
    }

    w.calls.reset();
    let (plan, _) = w.reconcile(&fe).await.expect("second pass");
    assert!(plan.is_empty(), "{plan:#?}");
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());
}

/// Listeners someone else adds to berth's NLB are theirs: never deleted, and a conflict when
/// berth wants their port. Listeners an earlier berth made without ownership tags are adopted
/// in place (tagged, not recreated).
#[tokio::test]
async fn listeners_someone_else_adds_are_left_alone_and_untagged_ones_berth_made_are_adopted() {
    let w = World::new("sublis").await;
    let mut fe = w.service("web", &["i-0ddd000000000001"]);
    fe.ports.truncate(1);
    // What berth made before it tagged listeners: the same listener without tags.
    let mut old = w.provider.desired(&fe).await.expect("desired");
    for r in old.iter_mut().filter(|r| r.kind == KIND_LISTENER) {
        r.properties.remove("Tags");
    }
    w.sync(&fe, &old).await.expect("the old berth's NLB");
    let lb_arn = w
        .tagged()
        .await
        .into_iter()
        .find(|(a, _)| a.contains(":loadbalancer/"))
        .unwrap()
        .0;
    let listener = w.listeners(&lb_arn).await[0]
        .listener_arn()
        .unwrap()
        .to_string();

    let plan = w.reconcile(&fe).await.expect("adopt").0;
    assert_eq!(
        summary(&plan),
        ["Update Listener"],
        "tagged in place: {plan:?}"
    );
    assert_eq!(plan.changes[0].changed, ["Tags"]);
    assert_eq!(
        w.listeners(&lb_arn).await[0].listener_arn(),
        Some(listener.as_str())
    );
    w.calls.reset();
    assert!(w.reconcile(&fe).await.expect("converged").0.is_empty());
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());

    // Someone adds a listener on 9443 (to a target group of theirs): berth leaves it.
    let their_tg = w
        .elb
        .create_target_group()
        .name(unique("theirs"))
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
        .port(31000)
        .vpc_id(&w.vpc)
        .send()
        .await
        .expect("CreateTargetGroup")
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let forward = |tg: &str| {
        aws_sdk_elasticloadbalancingv2::types::Action::builder()
            .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
            .target_group_arn(tg)
            .build()
    };
    w.elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
        .port(9443)
        .default_actions(forward(&their_tg))
        .send()
        .await
        .expect("their listener");
    let plan = w.reconcile(&fe).await.expect("theirs stays").0;
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(w.listeners(&lb_arn).await.len(), 2);

    // berth now wants 9443 too: their listener is a conflict, never taken over.
    fe.ports.push(tcp_port("alt", 9443, 30943));
    w.calls.reset();
    let err = w.reconcile(&fe).await.expect_err("their port");
    assert!(
        matches!(&err, Error::Conflict { kind, .. } if kind == KIND_LISTENER),
        "{err}"
    );
    assert_eq!(w.calls.mutating(), 0, "{:?}", w.calls.by_operation());
}

/// Removing a tag from the annotation removes it from AWS (berth remembers which tags it added,
/// in berth.dev/tags), and a tag someone else added stays through all of it.
#[tokio::test]
async fn removed_tags_go_and_tags_others_added_stay() {
    let w = World::new("tags").await;
    let mut fe = w.service("web", &["i-0eee000000000001"]);
    annotate(&mut fe, ann::TAGS, "team=a,env=b");
    w.reconcile(&fe).await.expect("create");
    let lb_arn = w
        .tagged()
        .await
        .into_iter()
        .find(|(arn, _)| arn.contains(":loadbalancer/"))
        .expect("the NLB")
        .0;
    w.elb
        .add_tags()
        .resource_arns(&lb_arn)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("cost-center")
                .value("x")
                .build(),
        )
        .send()
        .await
        .expect("AddTags");
    let (plan, _) = w.reconcile(&fe).await.expect("someone else's tag");
    assert!(
        plan.is_empty(),
        "someone else's tag is not berth's: {plan:#?}"
    );

    annotate(&mut fe, ann::TAGS, "team=a");
    w.calls.reset();
    w.reconcile(&fe).await.expect("one tag fewer");
    let (lb, tgs) = lb_and_tg_tags(&w, &lb_arn).await;
    assert!(
        !lb.contains_key("env") && lb["team"] == "a" && lb["cost-center"] == "x",
        "{lb:?}"
    );
    assert!(
        tgs.iter()
            .all(|t| !t.contains_key("env") && t["team"] == "a"),
        "{tgs:?}"
    );
    assert!(
        w.calls.by_operation().contains_key("RemoveTags"),
        "{:?}",
        w.calls.by_operation()
    );

    fe.annotations
        .remove(&format!("{}{}", ann::PREFIXES[0], ann::TAGS));
    w.reconcile(&fe).await.expect("no tags");
    let (lb, tgs) = lb_and_tg_tags(&w, &lb_arn).await;
    assert!(
        !lb.contains_key("team") && !lb.contains_key("berth.dev/tags"),
        "{lb:?}"
    );
    assert_eq!(lb["cost-center"], "x", "someone else's tag stays");
    assert!(tgs.iter().all(|t| !t.contains_key("team")), "{tgs:?}");
    let (plan, _) = w.reconcile(&fe).await.expect("converged");
    assert!(plan.is_empty(), "{plan:#?}");
}

/// The tags of the load balancer `lb_arn` and of the test's target groups, from moto.
async fn lb_and_tg_tags(
    w: &World,
    lb_arn: &str,
) -> (BTreeMap<String, String>, Vec<BTreeMap<String, String>>) {
    let all = w.tagged().await;
    let tgs = all
        .iter()
        .filter(|(a, _)| a.contains(":targetgroup/"))
        .map(|(_, t)| t.clone())
        .collect();
    let lb = all.into_iter().find(|(a, _)| a == lb_arn).expect("lb").1;
    (lb, tgs)
}

/// A load balancer with deletion protection on is found before anything is deleted: the
/// deletion is refused whole (no listener or target group goes first), and goes through once
/// the protection is off.
#[tokio::test]
async fn deletion_protection_refuses_the_deletion_before_anything_goes() {
    let w = World::new("protect").await;
    let mut fe = w.service("web", &["i-0fff000000000001"]);
    annotate(
        &mut fe,
        ann::LB_ATTRIBUTES,
        "deletion_protection.enabled=true",
    );
    w.reconcile(&fe).await.expect("create");
    let before = w.tagged().await.len();
    w.calls.reset();
    let e = w.delete(&fe).await.expect_err("protected");
    assert_eq!(e.reason(), "CloudSetupMissing");
    assert!(e.to_string().contains("deletion protection on"), "{e}");
    assert_eq!(
        w.calls.mutating(),
        0,
        "nothing half-deleted: {:?}",
        w.calls.by_operation()
    );
    assert_eq!(w.tagged().await.len(), before);

    annotate(
        &mut fe,
        ann::LB_ATTRIBUTES,
        "deletion_protection.enabled=false",
    );
    w.reconcile(&fe).await.expect("protection off");
    w.delete(&fe).await.expect("deleted");
    assert!(w.tagged().await.is_empty(), "{:?}", w.tagged().await);
}

/// Removing an attribute annotation reverts its effect: the attribute goes back to AWS's
/// default (berth remembers what it set, in berth.dev/attributes), and then nothing changes.
#[tokio::test]
async fn removed_attributes_go_back_to_their_defaults() {
    let w = World::new("attrs").await;
    let mut fe = w.service("web", &["i-0aaa000000000001"]);
    annotate(
        &mut fe,
        ann::TG_ATTRIBUTES,
        "deregistration_delay.timeout_seconds=30",
    );
    annotate(
        &mut fe,
        ann::LB_ATTRIBUTES,
        "load_balancing.cross_zone.enabled=true",
    );
    w.reconcile(&fe).await.expect("create");
    assert_eq!(attr(&w, true).await.as_deref(), Some("30"));
    assert_eq!(attr(&w, false).await.as_deref(), Some("true"));

    fe.annotations
        .remove(&format!("{}{}", ann::PREFIXES[0], ann::TG_ATTRIBUTES));
    fe.annotations
        .remove(&format!("{}{}", ann::PREFIXES[0], ann::LB_ATTRIBUTES));
    let (plan, _) = w.reconcile(&fe).await.expect("annotations removed");
    // The load balancer and both target groups (one per port): attributes and the mark.
    assert_eq!(
        summary(&plan),
        [
            "Update LoadBalancer",
            "Update TargetGroup",
            "Update TargetGroup"
        ],
        "{plan:#?}"
    );
    assert_eq!(attr(&w, true).await.as_deref(), Some("300"));
    assert_eq!(attr(&w, false).await.as_deref(), Some("false"));
    let (plan, _) = w.reconcile(&fe).await.expect("converged");
    assert!(plan.is_empty(), "{plan:#?}");
}

/// The test's target-group (`tg`) or load-balancer attribute value, from moto.
async fn attr(w: &World, tg: bool) -> Option<String> {
    let lb = w
        .tagged()
        .await
        .into_iter()
        .find(|(a, _)| a.contains(":loadbalancer/"))
        .expect("lb")
        .0;
    if tg {
        let arn = w.target_groups_of(&lb).await[0]
            .target_group_arn()
            .unwrap()
            .to_string();
        let out = w
            .elb
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .unwrap();
        out.attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value().map(String::from))
    } else {
        let out = w
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(lb)
            .send()
            .await
            .unwrap();
        out.attributes()
            .iter()
            .find(|a| a.key() == Some("load_balancing.cross_zone.enabled"))
            .and_then(|a| a.value().map(String::from))
    }
}
