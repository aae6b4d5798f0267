//! The AWS provider's ALB path against the moto emulator: an Ingress group (built by hand, as the
//! operator's gather would) -> desired_group -> observe -> plan -> apply, and what moto holds
//! afterwards. Run through `bash localstack/test.sh` (it starts moto and sets
//! `AWS_ENDPOINT_URL`). Each test makes its own VPC, subnets, cluster name and group.
#![cfg(feature = "aws")]

mod support;

use providers::aws::alb::annotations as ann;
use providers::aws::alb::translate::explicit_group;
use providers::aws::{tags, AwsProvider, KIND_LB, KIND_LISTENER, KIND_RULE, KIND_TG};
use providers::frontend::{FrontendKind, ObjectRef, Protocol, ServicePort};
use providers::ingress::{
    Backend, BackendPort, HttpPath, IngressGroup, Member, PathType, ResolvedBackend, Rule,
};
use providers::metrics::CallCounter;
use providers::plan::{Action, Plan};
use providers::{Address, Error, Provider};
use std::collections::BTreeMap;
use std::sync::Arc;
use support::{acm_certificate, node, print_calls, sdk_config, summary, unique, Vpc};

/// One test's world: a VPC with two subnets (two zones) tagged for its cluster's internal load
/// balancers, a security group, a provider and a call counter.
struct World {
    cluster: String,
    group: String,
    security_group: String,
    /// An ACM certificate every member names (each member with an HTTPS listener needs one).
    cert: String,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    calls: Arc<CallCounter>,
    provider: AwsProvider,
}

impl World {
    async fn new(name: &str) -> World {
        let sdk = sdk_config().await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let cluster = unique(name);
        let Vpc { id: vpc, .. } = Vpc::create(&sdk, &cluster, &["us-east-1a", "us-east-1b"]).await;
        let security_group = ec2
            .create_security_group()
            .group_name(&cluster)
            .description("berth alb test")
            .vpc_id(&vpc)
            .send()
            .await
            .expect("CreateSecurityGroup")
            .group_id()
            .expect("sg id")
            .to_string();
        let calls = Arc::new(CallCounter::default());
        let provider = AwsProvider::new(&sdk, cluster.clone(), Some(vpc.clone()), calls.clone());
        let cert = acm_certificate(&format!("{cluster}.example.com")).await;
        World {
            cert,
            group: unique("edge"),
            cluster,
            security_group,
            elb,
            calls,
            provider,
        }
    }

    fn owner(&self) -> ObjectRef {
        explicit_group(&self.group)
    }

    fn ingress_group(&self, members: Vec<Member>) -> IngressGroup {
        IngressGroup {
            object: self.owner(),
            cluster: self.cluster.clone(),
            members,
            nodes: vec![node("i-0a1b2c3d4e5f60001"), node("i-0a1b2c3d4e5f60002")],
            endpoints_unavailable: None,
        }
    }

    /// desired_group -> observe -> plan -> apply.
    async fn reconcile(&self, members: Vec<Member>) -> Result<(Plan, Option<Address>), Error> {
        let g = self.ingress_group(members);
        let d = self.provider.desired_group(&g).await?;
        assert!(d.rejected.is_empty(), "rejected: {:?}", d.rejected);
        self.sync(&d.resources).await
    }

    async fn sync(
        &self,
        desired: &[providers::Resource],
    ) -> Result<(Plan, Option<Address>), Error> {
        support::sync(&self.provider, &self.owner(), &self.cluster, desired).await
    }

    /// ELBv2 load balancers and target groups that carry this test's cluster tag.
    async fn tagged(&self) -> Vec<String> {
        support::tagged(&self.elb, &self.cluster)
            .await
            .into_iter()
            .map(|(arn, _)| arn)
            .collect()
    }

    /// (port, protocol, default action types) of the listeners, and per listener port the
    /// non-default rules as (priority, host values, path values, action types).
    async fn listeners_and_rules(
        &self,
        lb_arn: &str,
    ) -> (
        Vec<(i32, String, Vec<String>)>,
        BTreeMap<i32, Vec<(String, Vec<String>)>>,
    ) {
        let ls = self
            .elb
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .expect("DescribeListeners");
        let mut listeners = Vec::new();
        let mut rules = BTreeMap::new();
        for l in ls.listeners() {
            let port = l.port().unwrap_or_default();
            listeners.push((
                port,
                l.protocol()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                l.default_actions()
                    .iter()
                    .map(|a| {
                        a.r#type()
                            .map(|t| t.as_str().to_string())
                            .unwrap_or_default()
                    })
                    .collect(),
            ));
            let rs = self
                .elb
                .describe_rules()
                .listener_arn(l.listener_arn().unwrap_or_default())
                .send()
                .await
                .expect("DescribeRules");
            let mut v: Vec<(String, Vec<String>)> = rs
                .rules()
                .iter()
                .filter(|r| r.is_default() != Some(true))
                .map(|r| {
                    (
                        r.priority().unwrap_or_default().to_string(),
                        r.actions()
                            .iter()
                            .map(|a| {
                                a.r#type()
                                    .map(|t| t.as_str().to_string())
                                    .unwrap_or_default()
                            })
                            .collect(),
                    )
                })
                .collect();
            v.sort_by_key(|(p, _)| p.parse::<u32>().unwrap_or(0));
            rules.insert(port, v);
        }
        listeners.sort();
        (listeners, rules)
    }
}

fn backend(svc: &str, node_port: u16) -> Backend {
    Backend {
        service: svc.into(),
        port: BackendPort::Number(80),
        resolved: Ok(ResolvedBackend {
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
        }),
    }
}

const API_PORT: u16 = 30101;
const WEB_PORT: u16 = 30102;

/// An Ingress of the group: `host` with `paths` (path, type, service or `use-annotation:<name>`).
fn member(
    w: &World,
    name: &str,
    order: u32,
    host: &str,
    paths: &[(&str, PathType, &str)],
    extra: &[(&str, String)],
) -> Member {
    let mut annotations: BTreeMap<String, String> = [
        (ann::GROUP_NAME, w.group.clone()),
        (ann::GROUP_ORDER, order.to_string()),
        (
            ann::LISTEN_PORTS,
            r#"[{"HTTP": 80}, {"HTTPS": 443}]"#.to_string(),
        ),
        (ann::SSL_REDIRECT, "443".to_string()),
        (ann::SECURITY_GROUPS, w.security_group.clone()),
        (ann::CERTIFICATE_ARN, w.cert.clone()),
    ]
    .into_iter()
    .chain(extra.iter().cloned())
    .map(|(k, v)| (format!("{}{k}", ann::PREFIX), v))
    .collect();
    annotations.retain(|_, v| !v.is_empty());
    let http_paths = paths
        .iter()
        .map(|(p, t, svc)| HttpPath {
            path: p.to_string(),
            path_type: *t,
            backend: match svc.strip_prefix("use-annotation:") {
                Some(action) => Backend {
                    service: action.into(),
                    port: BackendPort::Name("use-annotation".into()),
                    resolved: Err("handled by the provider".into()),
                },
                None => backend(svc, if *svc == "api" { API_PORT } else { WEB_PORT }),
            },
        })
        .collect();
    Member {
        object: ObjectRef {
            kind: FrontendKind::Ingress,
            namespace: "shop".into(),
            name: name.into(),
        },
        annotations,
        default_backend: None,
        rules: vec![Rule {
            host: Some(host.into()),
            paths: http_paths,
        }],
        tls: vec![],
        annotation_backends: vec![backend("api", API_PORT), backend("web", WEB_PORT)],
    }
}

/// Member a: two path rules on a.example.com (api, web).
fn member_a(w: &World) -> Member {
    member(
        w,
        "a",
        1,
        "a.example.com",
        &[
            ("/api", PathType::Prefix, "api"),
            ("/static", PathType::Exact, "web"),
        ],
        &[],
    )
}

/// Member b: weighted forwarding (api 80 / web 20, sticky) for b.example.com.
fn member_b(w: &World) -> Member {
    let action = r#"{"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": "api", "servicePort": "80", "weight": 80},
        {"serviceName": "web", "servicePort": 80, "weight": 20}],
        "targetGroupStickinessConfig": {"enabled": true, "durationSeconds": 60}}}"#;
    member(
        w,
        "b",
        2,
        "b.example.com",
        &[("/", PathType::Prefix, "use-annotation:weighted")],
        &[(&format!("{}weighted", ann::ACTIONS), action.to_string())],
    )
}

/// Member c: a fixed response and a redirect for c.example.com.
fn member_c(w: &World) -> Member {
    let fixed = r#"{"type": "fixed-response", "fixedResponseConfig": {"contentType": "text/plain", "statusCode": "503", "messageBody": "down"}}"#;
    let redirect = r#"{"type": "redirect", "redirectConfig": {"host": "docs.example.com", "path": "/c/#{path}", "statusCode": "HTTP_302"}}"#;
    member(
        w,
        "c",
        3,
        "c.example.com",
        &[
            ("/maintenance", PathType::Exact, "use-annotation:fixed"),
            ("/docs", PathType::Prefix, "use-annotation:docs"),
        ],
        &[
            (&format!("{}fixed", ann::ACTIONS), fixed.to_string()),
            (&format!("{}docs", ann::ACTIONS), redirect.to_string()),
        ],
    )
}

fn count(p: &Plan, action: Action, kind: &str) -> usize {
    p.changes
        .iter()
        .filter(|c| c.action == action && c.kind == kind)
        .count()
}

/// Asserts that a pass plans nothing and mutates nothing.
async fn assert_noop(w: &World, members: Vec<Member>, label: &str) {
    w.calls.reset();
    let (plan, _) = w.reconcile(members).await.expect(label);
    assert!(plan.is_empty(), "{label}: {:#?}", plan.changes);
    assert_eq!(
        w.calls.mutating(),
        0,
        "{label}: {:?}",
        w.calls.by_operation()
    );
    print_calls(label, &w.calls);
}

#[tokio::test]
async fn an_alb_group_is_created_converges_changes_member_by_member_and_is_deleted() {
    let w = World::new("alb").await;

    // Create: a (two hosts' worth of path rules) + b (weighted forwarding).
    w.calls.reset();
    let (plan, address) = w
        .reconcile(vec![member_a(&w), member_b(&w)])
        .await
        .expect("create");
    print_calls("create (2 members)", &w.calls);
    assert_eq!(
        count(&plan, Action::Create, KIND_LB),
        1,
        "{:?}",
        summary(&plan)
    );
    assert_eq!(
        count(&plan, Action::Create, KIND_TG),
        2,
        "{:?}",
        summary(&plan)
    );
    assert_eq!(
        count(&plan, Action::Create, KIND_LISTENER),
        2,
        "{:?}",
        summary(&plan)
    );
    assert_eq!(
        count(&plan, Action::Create, KIND_RULE),
        3,
        "{:?}",
        summary(&plan)
    );
    let Some(Address::Hostname(host)) = address else {
        panic!("no hostname: {address:?}")
    };
    assert!(!host.is_empty());

    let tagged = w.tagged().await;
    assert_eq!(tagged.len(), 3, "1 ALB + 2 target groups: {tagged:?}");
    let lb = w
        .elb
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .iter()
        .find(|l| tagged.contains(&l.load_balancer_arn().unwrap_or_default().to_string()))
        .cloned()
        .expect("the ALB");
    assert_eq!(lb.r#type().map(|t| t.as_str()), Some("application"));
    assert_eq!(
        lb.security_groups(),
        std::slice::from_ref(&w.security_group)
    );
    let lb_arn = lb.load_balancer_arn().unwrap().to_string();
    let (listeners, rules) = w.listeners_and_rules(&lb_arn).await;
    assert_eq!(
        listeners,
        vec![
            (80, "HTTP".to_string(), vec!["redirect".to_string()]),
            (443, "HTTPS".to_string(), vec!["fixed-response".to_string()]),
        ]
    );
    assert_eq!(rules[&80], vec![], "HTTP redirects everything: no rules");
    let prio = |v: &[(String, Vec<String>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(prio(&rules[&443]), ["1", "2", "3"]);

    // Converged: nothing to do.
    assert_noop(&w, vec![member_a(&w), member_b(&w)], "no-op (2 members)").await;

    // Adding c (last by group.order): only its rules are created; no priority moves.
    w.calls.reset();
    let (plan, _) = w
        .reconcile(vec![member_a(&w), member_b(&w), member_c(&w)])
        .await
        .expect("add c");
    print_calls("add member c", &w.calls);
    assert_eq!(
        summary(&plan),
        ["Create ListenerRule", "Create ListenerRule"]
    );
    let (_, rules) = w.listeners_and_rules(&lb_arn).await;
    assert_eq!(prio(&rules[&443]), ["1", "2", "3", "4", "5"]);
    assert_eq!(rules[&443][3].1, ["fixed-response"], "{rules:?}");
    assert_eq!(rules[&443][4].1, ["redirect"], "{rules:?}");
    assert_noop(
        &w,
        vec![member_a(&w), member_b(&w), member_c(&w)],
        "no-op (3 members)",
    )
    .await;

    // Removing c again: only its rules go.
    let (plan, _) = w
        .reconcile(vec![member_a(&w), member_b(&w)])
        .await
        .expect("remove c");
    assert_eq!(
        summary(&plan),
        ["Delete ListenerRule", "Delete ListenerRule"]
    );

    // Removing a (first by group.order): its rules go, b's rule moves up (one
    // SetRulePriorities call), the api target group stays (b's weighted forward uses it).
    let b_only = member_b(&w);
    w.calls.reset();
    let (plan, _) = w.reconcile(vec![b_only.clone()]).await.expect("remove a");
    print_calls("remove member a", &w.calls);
    assert_eq!(
        summary(&plan),
        [
            "Update ListenerRule",
            "Delete ListenerRule",
            "Delete ListenerRule"
        ]
    );
    let moved = plan
        .changes
        .iter()
        .find(|c| c.action == Action::Update)
        .unwrap();
    assert_eq!(moved.changed, ["Priority"]);
    assert_eq!(w.calls.by_operation().get("SetRulePriorities"), Some(&1));
    assert_eq!(w.calls.by_operation().get("ModifyRule"), None);
    let (_, rules) = w.listeners_and_rules(&lb_arn).await;
    assert_eq!(prio(&rules[&443]), ["1"]);
    assert_noop(&w, vec![b_only.clone()], "no-op (b only)").await;

    // a comes back ahead of b: b moves to 3 before a's rules take 1 and 2 (no collision).
    let (plan, _) = w
        .reconcile(vec![member_a(&w), b_only.clone()])
        .await
        .expect("re-add a");
    assert_eq!(
        summary(&plan),
        [
            "Create ListenerRule",
            "Create ListenerRule",
            "Update ListenerRule"
        ]
    );
    let (_, rules) = w.listeners_and_rules(&lb_arn).await;
    assert_eq!(prio(&rules[&443]), ["1", "2", "3"]);
    assert_eq!(rules[&443][2].1, ["forward"]);
    assert_noop(&w, vec![member_a(&w), b_only], "no-op (a + b again)").await;

    // With c back, removing a shifts b and c up by two: the new priorities overlap the old
    // ones (AWS takes that in one SetRulePriorities call; moto refuses it, and berth then
    // moves the rules in waves).
    w.reconcile(vec![member_a(&w), member_b(&w), member_c(&w)])
        .await
        .expect("a, b, c");
    w.calls.reset();
    let (plan, _) = w
        .reconcile(vec![member_b(&w), member_c(&w)])
        .await
        .expect("remove a from a, b, c");
    print_calls(
        "remove a from a, b, c (overlapping priority shift)",
        &w.calls,
    );
    assert_eq!(
        count(&plan, Action::Update, KIND_RULE),
        3,
        "{:?}",
        summary(&plan)
    );
    assert_eq!(
        count(&plan, Action::Delete, KIND_RULE),
        2,
        "{:?}",
        summary(&plan)
    );
    let (_, rules) = w.listeners_and_rules(&lb_arn).await;
    let actions: Vec<(String, String)> = rules[&443]
        .iter()
        .map(|(p, a)| (p.clone(), a.join(",")))
        .collect();
    assert_eq!(
        actions,
        [
            ("1".to_string(), "forward".to_string()),
            ("2".to_string(), "fixed-response".to_string()),
            ("3".to_string(), "redirect".to_string())
        ]
    );
    assert_noop(&w, vec![member_b(&w), member_c(&w)], "no-op (b + c)").await;

    // Same conditions, another action: ModifyRule, nothing else.
    let mut c2 = member_c(&w);
    c2.annotations.insert(
        format!("{}{}fixed", ann::PREFIX, ann::ACTIONS),
        r#"{"type": "fixed-response", "fixedResponseConfig": {"contentType": "application/json", "statusCode": "500", "messageBody": "{}"}}"#.into(),
    );
    w.calls.reset();
    let (plan, _) = w
        .reconcile(vec![member_b(&w), c2.clone()])
        .await
        .expect("change c's action");
    assert_eq!(summary(&plan), ["Update ListenerRule"]);
    assert_eq!(plan.changes[0].changed, ["Actions"]);
    assert_eq!(w.calls.mutating(), 1, "{:?}", w.calls.by_operation());
    assert_eq!(w.calls.by_operation().get("ModifyRule"), Some(&1));
    assert_noop(&w, vec![member_b(&w), c2.clone()], "no-op (changed action)").await;

    // Without ssl-redirect the HTTP listener's default action becomes the fixed 404
    // (ModifyListener) and it gets the rules too.
    let no_redirect = |mut m: Member| {
        m.annotations
            .remove(&format!("{}{}", ann::PREFIX, ann::SSL_REDIRECT));
        m
    };
    let (plan, _) = w
        .reconcile(vec![no_redirect(member_b(&w)), no_redirect(c2.clone())])
        .await
        .expect("drop ssl-redirect");
    assert_eq!(
        count(&plan, Action::Update, KIND_LISTENER),
        1,
        "{:?}",
        summary(&plan)
    );
    assert_eq!(
        count(&plan, Action::Create, KIND_RULE),
        3,
        "{:?}",
        summary(&plan)
    );
    let (listeners, rules) = w.listeners_and_rules(&lb_arn).await;
    assert_eq!(listeners[0].2, ["fixed-response"]);
    assert_eq!(prio(&rules[&80]), ["1", "2", "3"]);
    assert_noop(
        &w,
        vec![no_redirect(member_b(&w)), no_redirect(c2)],
        "no-op (no redirect)",
    )
    .await;

    // Deletion: nothing desired -> nothing tagged remains.
    w.calls.reset();
    let (plan, address) = w.sync(&[]).await.expect("delete");
    print_calls("delete", &w.calls);
    assert_eq!(address, None);
    assert_eq!(
        count(&plan, Action::Delete, KIND_LB),
        1,
        "{:?}",
        summary(&plan)
    );
    assert!(w.tagged().await.is_empty(), "tagged resources remain");
    let again = w.sync(&[]).await.expect("delete again");
    assert!(again.0.is_empty());
}

/// (port, CIDR) of a security group's ingress rules, sorted.
async fn sg_rules(ec2: &aws_sdk_ec2::Client, id: &str) -> Vec<(i32, String)> {
    let out = ec2
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .expect("DescribeSecurityGroups");
    let sg = &out.security_groups()[0];
    let mut v: Vec<(i32, String)> = sg
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            assert_eq!(p.ip_protocol(), Some("tcp"));
            assert_eq!(p.from_port(), p.to_port());
            let port = p.from_port().unwrap_or_default();
            p.ip_ranges()
                .iter()
                .filter_map(move |r| Some((port, r.cidr_ip()?.to_string())))
                .chain(
                    p.ipv6_ranges()
                        .iter()
                        .filter_map(move |r| Some((port, r.cidr_ipv6()?.to_string()))),
                )
        })
        .collect();
    v.sort();
    v
}

/// Without `security-groups`, the ALB gets a security group berth creates (before the ALB),
/// opens on each listen port to `inbound-cidrs`, changes by delta and deletes after the ALB.
#[tokio::test]
async fn an_alb_without_security_groups_gets_a_managed_one() {
    use providers::aws::KIND_SG;
    let w = World::new("albsg").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let with_cidrs = |cidrs: &str| {
        member(
            &w,
            "a",
            1,
            "a.example.com",
            &[("/api", PathType::Prefix, "api")],
            &[
                (ann::SECURITY_GROUPS, String::new()),
                (ann::INBOUND_CIDRS, cidrs.to_string()),
            ],
        )
    };

    // Create: the security group first (with its rules), then the ALB that uses it.
    w.calls.reset();
    let (plan, _) = w.reconcile(vec![with_cidrs("")]).await.expect("create");
    print_calls("create (managed security group)", &w.calls);
    assert_eq!(
        summary(&plan)[..2],
        ["Create SecurityGroup", "Create LoadBalancer"]
    );
    let ops = w.calls.by_operation();
    assert_eq!(ops.get("CreateSecurityGroup"), Some(&1));
    assert_eq!(ops.get("AuthorizeSecurityGroupIngress"), Some(&1));
    assert_eq!(ops.get("CreateTags"), None, "tagged at creation");
    let sg_name = plan.changes[0].name.clone();
    let lb = w
        .elb
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .iter()
        .find(|l| l.load_balancer_name() == Some(plan.changes[1].name.as_str()))
        .cloned()
        .expect("the ALB");
    assert_eq!(lb.security_groups().len(), 1, "{:?}", lb.security_groups());
    let sg_id = lb.security_groups()[0].clone();
    let sg = ec2
        .describe_security_groups()
        .group_ids(&sg_id)
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    assert_eq!(sg.group_name(), Some(sg_name.as_str()));
    assert!(sg
        .tags()
        .iter()
        .any(|t| t.key() == Some(tags::CLUSTER) && t.value() == Some(w.cluster.as_str())));
    let open = |cidrs: &[&str]| -> Vec<(i32, String)> {
        let mut v: Vec<(i32, String)> = [80, 443]
            .iter()
            .flat_map(|p| cidrs.iter().map(move |c| (*p, c.to_string())))
            .collect();
        v.sort();
        v
    };
    assert_eq!(sg_rules(&ec2, &sg_id).await, open(&["0.0.0.0/0"]));
    assert_noop(&w, vec![with_cidrs("")], "no-op (managed security group)").await;

    // inbound-cidrs: only the delta is authorized and revoked.
    w.calls.reset();
    let (plan, _) = w
        .reconcile(vec![with_cidrs("10.0.0.0/8, 192.168.0.0/16")])
        .await
        .expect("inbound-cidrs");
    print_calls("change inbound-cidrs", &w.calls);
    assert_eq!(summary(&plan), ["Update SecurityGroup"]);
    let ops = w.calls.by_operation();
    assert_eq!(ops.get("AuthorizeSecurityGroupIngress"), Some(&1));
    assert_eq!(ops.get("RevokeSecurityGroupIngress"), Some(&1));
    assert_eq!(w.calls.mutating(), 2, "{ops:?}");
    assert_eq!(
        sg_rules(&ec2, &sg_id).await,
        open(&["10.0.0.0/8", "192.168.0.0/16"])
    );
    assert_noop(
        &w,
        vec![with_cidrs("10.0.0.0/8, 192.168.0.0/16")],
        "no-op (inbound-cidrs)",
    )
    .await;
    w.calls.reset();
    w.reconcile(vec![with_cidrs("10.0.0.0/8")])
        .await
        .expect("fewer cidrs");
    assert_eq!(
        w.calls.mutating(),
        1,
        "one revoke: {:?}",
        w.calls.by_operation()
    );
    assert_eq!(sg_rules(&ec2, &sg_id).await, open(&["10.0.0.0/8"]));

    // Deletion: the security group goes after the ALB.
    let (plan, _) = w.sync(&[]).await.expect("delete");
    let pos = |kind: &str| {
        plan.changes
            .iter()
            .position(|c| c.action == Action::Delete && c.kind == kind)
            .unwrap_or_else(|| panic!("no delete of {kind}: {:?}", summary(&plan)))
    };
    assert!(pos(KIND_LB) < pos(KIND_SG), "{:?}", summary(&plan));
    let left = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values(&sg_name)
                .build(),
        )
        .send()
        .await
        .expect("DescribeSecurityGroups");
    assert!(
        left.security_groups().is_empty(),
        "the security group remains"
    );
    assert!(w.tagged().await.is_empty(), "tagged resources remain");
    assert!(w.sync(&[]).await.expect("delete again").0.is_empty());
}

/// A listener rule someone else adds to berth's ALB (at a priority berth does not use) is theirs:
/// berth's plans neither change nor delete it, also when a member goes.
#[tokio::test]
async fn a_rule_someone_else_adds_to_the_alb_is_left_alone() {
    let w = World::new("albsub").await;
    w.reconcile(vec![member_a(&w)]).await.expect("create");
    let lb = w
        .tagged()
        .await
        .into_iter()
        .find(|a| a.contains(":loadbalancer/"))
        .expect("the ALB");
    let listener = w
        .elb
        .describe_listeners()
        .load_balancer_arn(&lb)
        .send()
        .await
        .expect("DescribeListeners")
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_string();
    use aws_sdk_elasticloadbalancingv2::types::{
        Action as ElbAction, ActionTypeEnum, FixedResponseActionConfig, PathPatternConditionConfig,
        RuleCondition,
    };
    w.elb
        .create_rule()
        .listener_arn(&listener)
        .priority(40000)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .values("/ops/*")
                        .build(),
                )
                .build(),
        )
        .actions(
            ElbAction::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("503")
                        .content_type("text/plain")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("their rule");
    let theirs = |w: &World| {
        let listener = listener.clone();
        let elb = w.elb.clone();
        async move {
            elb.describe_rules()
                .listener_arn(listener)
                .send()
                .await
                .expect("DescribeRules")
                .rules()
                .iter()
                .any(|r| r.priority() == Some("40000"))
        }
    };
    assert_noop(
        &w,
        vec![member_a(&w)],
        "their rule is not berth's to change",
    )
    .await;
    assert!(theirs(&w).await);
    w.reconcile(vec![member_a(&w), member_b(&w)])
        .await
        .expect("a member joins");
    w.reconcile(vec![member_a(&w)])
        .await
        .expect("the member goes");
    assert!(theirs(&w).await, "their rule survived both");
}
