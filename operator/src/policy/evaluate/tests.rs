//! Table-driven tests of the policy decision.

use super::*;
use serde_json::json;

fn policy(name: &str, spec: serde_json::Value) -> LoadBalancerPolicy {
    serde_json::from_value(json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "LoadBalancerPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| {
            let k = if k.contains('/') {
                k.to_string()
            } else {
                format!("service.beta.kubernetes.io/{k}")
            };
            (k, v.to_string())
        })
        .collect()
}

const NS: &str = "team-a";

fn tenants() -> LoadBalancerPolicy {
    policy(
        "tenants",
        json!({
            "loadBalancerClasses": [""],
            "defaults": {
                "scheme": "internal",
                "subnets": ["subnet-1", "subnet-2"],
                "tags": {"team": "platform", "cost-center": "42"},
                "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"
            },
            "restrictions": {
                "internetFacingNamespaces": ["edge", "public"],
                "lockedAnnotations": ["service.beta.kubernetes.io/aws-load-balancer-name"]
            }
        }),
    )
}

enum Want {
    /// Effective annotations equal the Service's plus these (key without prefix -> value).
    Adds(
        Option<&'static str>,
        &'static [(&'static str, &'static str)],
    ),
    /// A violation of this rule whose message contains every fragment.
    Violates(Rule, &'static [&'static str]),
}

/// (what, policies, the Service's class, its namespace, its annotations, the outcome).
type Case<'a> = (
    &'a str,
    Vec<&'a LoadBalancerPolicy>,
    Option<&'a str>,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Want,
);

#[test]
fn table() {
    let tenants = tenants();
    let other_class = policy(
        "nlb",
        json!({"loadBalancerClasses": ["service.k8s.aws/nlb"], "defaults": {"scheme": "internet-facing"}}),
    );
    let cases: Vec<Case> = vec![
        (
            "no policy: unchanged",
            vec![],
            None,
            NS,
            vec![("aws-load-balancer-type", "external")],
            Want::Adds(None, &[]),
        ),
        (
            "a policy for another class: unchanged",
            vec![&other_class],
            None,
            NS,
            vec![],
            Want::Adds(None, &[]),
        ),
        (
            "defaults applied",
            vec![&tenants, &other_class],
            None,
            NS,
            vec![],
            Want::Adds(
                Some("tenants"),
                &[
                    ("aws-load-balancer-scheme", "internal"),
                    ("aws-load-balancer-subnets", "subnet-1,subnet-2"),
                    (
                        "aws-load-balancer-additional-resource-tags",
                        "cost-center=42,team=platform",
                    ),
                    (
                        "aws-load-balancer-ssl-cert",
                        "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                    ),
                    (
                        "aws-load-balancer-ssl-negotiation-policy",
                        "ELBSecurityPolicy-TLS13-1-2-2021-06",
                    ),
                ],
            ),
        ),
        (
            "the Service's annotations win; tags merge, the Service winning per key",
            vec![&tenants],
            None,
            NS,
            vec![
                ("aws-load-balancer-subnets", "subnet-9"),
                (
                    "service.kubernetes.io/aws-load-balancer-ssl-cert",
                    "arn:aws:acm:us-east-1:1:certificate/own",
                ),
                (
                    "aws-load-balancer-ssl-negotiation-policy",
                    "ELBSecurityPolicy-2016-08",
                ),
                (
                    "aws-load-balancer-additional-resource-tags",
                    "team=shop, app=web",
                ),
            ],
            Want::Adds(
                Some("tenants"),
                &[
                    ("aws-load-balancer-scheme", "internal"),
                    (
                        "aws-load-balancer-additional-resource-tags",
                        "app=web,cost-center=42,team=shop",
                    ),
                ],
            ),
        ),
        (
            "legacy internal annotation counts as the Service's scheme (no default added)",
            vec![&tenants],
            None,
            NS,
            vec![("aws-load-balancer-internal", "true")],
            Want::Adds(
                Some("tenants"),
                &[
                    ("aws-load-balancer-subnets", "subnet-1,subnet-2"),
                    (
                        "aws-load-balancer-additional-resource-tags",
                        "cost-center=42,team=platform",
                    ),
                    (
                        "aws-load-balancer-ssl-cert",
                        "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                    ),
                    (
                        "aws-load-balancer-ssl-negotiation-policy",
                        "ELBSecurityPolicy-TLS13-1-2-2021-06",
                    ),
                ],
            ),
        ),
        (
            "locked annotation rejected",
            vec![&tenants],
            None,
            NS,
            vec![("aws-load-balancer-name", "mine")],
            Want::Violates(
                Rule::LockedAnnotation,
                &[
                    r#"LoadBalancerPolicy "tenants""#,
                    r#"service.beta.kubernetes.io/aws-load-balancer-name="mine""#,
                    "locked",
                ],
            ),
        ),
        (
            "locked annotation rejected under the other prefix too",
            vec![&tenants],
            None,
            NS,
            vec![("service.kubernetes.io/aws-load-balancer-name", "mine")],
            Want::Violates(
                Rule::LockedAnnotation,
                &["service.kubernetes.io/aws-load-balancer-name"],
            ),
        ),
        (
            "internet-facing restricted by namespace",
            vec![&tenants],
            None,
            NS,
            vec![("aws-load-balancer-scheme", "internet-facing")],
            Want::Violates(
                Rule::InternetFacing,
                &[
                    r#"LoadBalancerPolicy "tenants": namespace "team-a" may not create internet-facing load balancers (allowed: edge, public)"#,
                    "set service.beta.kubernetes.io/aws-load-balancer-scheme: internal",
                ],
            ),
        ),
        (
            "internet-facing in an allowed namespace",
            vec![&tenants],
            None,
            "edge",
            vec![("aws-load-balancer-scheme", "Internet-Facing")],
            Want::Adds(
                Some("tenants"),
                &[
                    ("aws-load-balancer-subnets", "subnet-1,subnet-2"),
                    (
                        "aws-load-balancer-additional-resource-tags",
                        "cost-center=42,team=platform",
                    ),
                    (
                        "aws-load-balancer-ssl-cert",
                        "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                    ),
                    (
                        "aws-load-balancer-ssl-negotiation-policy",
                        "ELBSecurityPolicy-TLS13-1-2-2021-06",
                    ),
                ],
            ),
        ),
        (
            "legacy internal=false counts as internet-facing",
            vec![&tenants],
            None,
            NS,
            vec![("aws-load-balancer-internal", "false")],
            Want::Violates(
                Rule::InternetFacing,
                &["aws-load-balancer-internal: \"false\""],
            ),
        ),
        (
            "scheme wins over legacy internal=false",
            vec![&tenants],
            None,
            NS,
            vec![
                ("aws-load-balancer-scheme", "internal"),
                ("aws-load-balancer-internal", "false"),
            ],
            Want::Adds(
                Some("tenants"),
                &[
                    ("aws-load-balancer-subnets", "subnet-1,subnet-2"),
                    (
                        "aws-load-balancer-additional-resource-tags",
                        "cost-center=42,team=platform",
                    ),
                    (
                        "aws-load-balancer-ssl-cert",
                        "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                    ),
                    (
                        "aws-load-balancer-ssl-negotiation-policy",
                        "ELBSecurityPolicy-TLS13-1-2-2021-06",
                    ),
                ],
            ),
        ),
    ];
    for (name, policies, class, ns, annotations, want) in cases {
        let a = ann(&annotations);
        let got = evaluate(
            &policies,
            Subject {
                namespace: ns,
                class,
            },
            &a,
        );
        match want {
            Want::Adds(policy, adds) => {
                let mut expected = a.clone();
                for (k, v) in adds {
                    expected.insert(format!("service.beta.kubernetes.io/{k}"), v.to_string());
                }
                assert_eq!(
                    got,
                    Ok(Effective {
                        policy: policy.map(String::from),
                        annotations: expected
                    }),
                    "{name}"
                );
            }
            Want::Violates(rule, fragments) => {
                let v = got.expect_err(name);
                assert_eq!(v.rule, rule, "{name}: {v}");
                for f in fragments {
                    assert!(v.message.contains(f), "{name}: {:?} lacks {f:?}", v.message);
                }
            }
        }
    }
}

#[test]
fn a_default_internet_facing_scheme_is_restricted_too() {
    let p = policy(
        "edge",
        json!({"loadBalancerClasses": ["berth.dev/aws-nlb"], "defaults": {"scheme": "internet-facing"},
               "restrictions": {"internetFacingNamespaces": []}}),
    );
    let v = evaluate(
        &[&p],
        Subject {
            namespace: "shop",
            class: Some("berth.dev/aws-nlb"),
        },
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert_eq!(v.reason(), "PolicyViolation");
    assert!(v.message.contains("(allowed: none)"), "{v}");
    assert!(v.message.contains("the policy's default scheme"), "{v}");
}

#[test]
fn namespaced_policies_win_and_equal_levels_conflict() {
    let all = policy("all", json!({"loadBalancerClasses": [""]}));
    let shop = policy(
        "shop",
        json!({"loadBalancerClasses": [""], "namespaces": ["shop"]}),
    );
    let shop2 = policy(
        "shop2",
        json!({"loadBalancerClasses": ["", "x/y"], "namespaces": ["shop", "blog"]}),
    );
    let subject = |ns| Subject {
        namespace: ns,
        class: None,
    };
    let name = |r: Result<Option<&LoadBalancerPolicy>, Violation>| {
        r.map(|p| p.and_then(|p| p.metadata.name.clone()))
    };
    assert_eq!(
        name(governing(&[&all, &shop], subject("shop"))),
        Ok(Some("shop".into()))
    );
    assert_eq!(
        name(governing(&[&all, &shop], subject("blog"))),
        Ok(Some("all".into()))
    );
    let v = governing(&[&shop2, &all, &shop], subject("shop")).unwrap_err();
    assert_eq!(
        (v.rule.clone(), v.reason()),
        (Rule::Conflict, "PolicyConflict")
    );
    assert_eq!(v.policy, "shop,shop2");
    assert!(v.message.contains(r#""shop", "shop2""#), "{v}");
    assert_eq!(
        name(governing(
            &[&all, &shop],
            Subject {
                namespace: "shop",
                class: Some("x/y")
            }
        )),
        Ok(None)
    );
}

#[test]
fn invalid_policies_fail_closed() {
    let sg = policy(
        "sg",
        json!({"loadBalancerClasses": [""], "defaults": {"securityGroups": ["sg-1"]}}),
    );
    let reserved = policy(
        "reserved",
        json!({"loadBalancerClasses": [""], "defaults": {"tags": {"elbv2.k8s.aws/cluster": "x"}}}),
    );
    for (p, fragment) in [(&sg, "securityGroups"), (&reserved, "reserved")] {
        let v = evaluate(
            &[p],
            Subject {
                namespace: NS,
                class: None,
            },
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(v.reason(), "InvalidPolicy");
        assert!(v.message.contains(fragment), "{v}");
    }
}

#[test]
fn a_malformed_service_tag_annotation_is_left_to_the_provider() {
    let p = tenants();
    let a = ann(&[("aws-load-balancer-additional-resource-tags", "novalue")]);
    let e = evaluate(
        &[&p],
        Subject {
            namespace: NS,
            class: None,
        },
        &a,
    )
    .unwrap();
    assert_eq!(
        e.annotations["service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags"],
        "novalue"
    );
}
