//! Table-driven tests of the policy decision.

use super::*;
use serde_json::json;

fn aws() -> Option<&'static PolicyVocabulary> {
    providers::aws::profile::PROFILE.policy.as_ref()
}

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
            aws(),
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
        aws(),
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
            aws(),
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
        aws(),
    )
    .unwrap();
    assert_eq!(
        e.annotations["service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags"],
        "novalue"
    );
}

// ---------------------------------------------------------------- Ingresses

fn ingress(ns: &str, class: Option<&str>, annotations: &[(&str, &str)]) -> Ingress {
    let a: BTreeMap<String, String> = annotations
        .iter()
        .map(|(k, v)| {
            let k = if k.contains('/') {
                k.to_string()
            } else {
                format!("alb.ingress.kubernetes.io/{k}")
            };
            (k, v.to_string())
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": ns, "annotations": a},
        "spec": {"ingressClassName": class},
    }))
    .unwrap()
}

fn ingress_class(name: &str, parameters: Option<serde_json::Value>, default: bool) -> IngressClass {
    let mut v = json!({"metadata": {"name": name}, "spec": {"controller": "berth.dev/alb"}});
    if let Some(p) = parameters {
        v["spec"]["parameters"] = p;
    }
    if default {
        v["metadata"]["annotations"] =
            json!({"ingressclass.kubernetes.io/is-default-class": "true"});
    }
    serde_json::from_value(v).unwrap()
}

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

/// The Ingress decision: which policy governs (by `spec.ingressClasses`, by the IngressClass's
/// `spec.parameters`, the legacy class), the ALB defaults merged, the restrictions.
#[test]
fn ingress_table() {
    let by_class = policy(
        "albs",
        json!({
            "ingressClasses": ["shared", "alb"],
            "defaults": {
                "scheme": "internal",
                "subnets": ["subnet-1", "subnet-2"],
                "tags": {"team": "platform", "cost-center": "42"},
                "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"
            },
            "restrictions": {
                "internetFacingNamespaces": ["edge"],
                "lockedAnnotations": ["alb.ingress.kubernetes.io/load-balancer-name"]
            }
        }),
    );
    let by_parameters = policy(
        "pointed-at",
        json!({
            // Selects no class itself: only the IngressClass's parameters point at it.
            "ingressClasses": ["unused"],
            "defaults": {"tags": {"via": "parameters"}},
            "restrictions": {"internetFacingNamespaces": []}
        }),
    );
    let services_only = policy(
        "nlbs",
        json!({"loadBalancerClasses": [""], "defaults": {"scheme": "internet-facing"}}),
    );
    let params = |kind: &str, group: &str| {
        Some(json!({"apiGroup": group, "kind": kind, "name": "pointed-at", "scope": "Cluster"}))
    };
    let classes = vec![
        ingress_class("shared", None, false),
        ingress_class("pointing", params("LoadBalancerPolicy", "berth.dev"), false),
        ingress_class(
            "other-kind",
            params("IngressParameters", "elbv2.k8s.aws"),
            false,
        ),
        ingress_class("plain", None, true),
    ];
    let all = vec![
        std::sync::Arc::new(by_class.clone()),
        std::sync::Arc::new(by_parameters.clone()),
        std::sync::Arc::new(services_only.clone()),
    ];
    let defaults: &[(&str, &str)] = &[
        ("scheme", "internal"),
        ("subnets", "subnet-1,subnet-2"),
        ("tags", "cost-center=42,team=platform"),
        (
            "certificate-arn",
            "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        ),
        ("ssl-policy", "ELBSecurityPolicy-TLS13-1-2-2021-06"),
    ];
    // (what, the Ingress, the outcome).
    let cases: Vec<(&str, Ingress, Want)> = vec![
        (
            "class listed in ingressClasses: defaults merged",
            ingress(NS, Some("shared"), &[]),
            Want::Adds(Some("albs"), defaults),
        ),
        (
            "the Ingress's annotations win; tags merge, the Ingress winning per key",
            ingress(
                NS,
                Some("shared"),
                &[
                    ("scheme", "internal"),
                    ("subnets", "subnet-9"),
                    ("tags", "team=shop, app=web"),
                ],
            ),
            Want::Adds(
                Some("albs"),
                &[
                    ("tags", "app=web,cost-center=42,team=shop"),
                    (
                        "certificate-arn",
                        "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                    ),
                    ("ssl-policy", "ELBSecurityPolicy-TLS13-1-2-2021-06"),
                ],
            ),
        ),
        (
            "legacy kubernetes.io/ingress.class: alb is class name alb",
            ingress(NS, None, &[("kubernetes.io/ingress.class", "alb")]),
            Want::Adds(Some("albs"), defaults),
        ),
        (
            "IngressClass spec.parameters names the policy",
            ingress(NS, Some("pointing"), &[]),
            Want::Adds(Some("pointed-at"), &[("tags", "via=parameters")]),
        ),
        (
            "parameters of another kind select nothing",
            ingress(NS, Some("other-kind"), &[("scheme", "internet-facing")]),
            Want::Adds(None, &[]),
        ),
        (
            "the default IngressClass is the class of an Ingress without one",
            ingress(NS, None, &[]),
            Want::Adds(None, &[]),
        ),
        (
            "internet-facing forbidden in this namespace",
            ingress(NS, Some("shared"), &[("scheme", "internet-facing")]),
            Want::Violates(
                Rule::InternetFacing,
                &[
                    r#"LoadBalancerPolicy "albs": namespace "team-a" may not create internet-facing load balancers (allowed: edge)"#,
                    r#"this Ingress asks for one (alb.ingress.kubernetes.io/scheme: "internet-facing")"#,
                    "set alb.ingress.kubernetes.io/scheme: internal",
                ],
            ),
        ),
        (
            "internet-facing allowed in its namespace",
            ingress("edge", Some("shared"), &[("scheme", "internet-facing")]),
            Want::Adds(Some("albs"), &defaults[1..]),
        ),
        (
            "internet-facing forbidden by a policy named in spec.parameters",
            ingress(NS, Some("pointing"), &[("scheme", "internet-facing")]),
            Want::Violates(
                Rule::InternetFacing,
                &[r#""pointed-at""#, "(allowed: none)"],
            ),
        ),
        (
            "locked annotation",
            ingress(NS, Some("shared"), &[("load-balancer-name", "mine")]),
            Want::Violates(
                Rule::LockedAnnotation,
                &[
                    r#"alb.ingress.kubernetes.io/load-balancer-name="mine""#,
                    "remove it from the Ingress",
                ],
            ),
        ),
        (
            "a Service policy's annotations do not apply to Ingresses",
            ingress(NS, Some("unlisted"), &[]),
            Want::Adds(None, &[]),
        ),
    ];
    for (name, ing, want) in cases {
        let own = ing.metadata.annotations.clone().unwrap_or_default();
        let subject = crate::policy::status::ingress_subject(&ing, &classes);
        let refs: Vec<&LoadBalancerPolicy> = all.iter().map(|p| &**p).collect();
        let got = evaluate(&refs, subject, &own, aws());
        // The controller's entry point agrees.
        assert_eq!(
            crate::policy::effective_ingress_annotations(&all, &ing, &classes, aws()),
            got.clone().map(|e| e.annotations),
            "{name}"
        );
        match want {
            Want::Adds(policy, adds) => {
                let mut expected = own.clone();
                for (k, v) in adds {
                    expected.insert(format!("alb.ingress.kubernetes.io/{k}"), v.to_string());
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
fn ingress_subjects_and_conflicts() {
    let classes = vec![
        ingress_class(
            "pointing",
            Some(json!({"apiGroup": "berth.dev", "kind": "LoadBalancerPolicy", "name": "p"})),
            false,
        ),
        ingress_class("plain", None, true),
    ];
    let s = |ing: &Ingress| {
        let s = crate::policy::status::ingress_subject(ing, &classes);
        (
            s.namespace.to_string(),
            s.class.map(String::from),
            s.parameters.map(String::from),
        )
    };
    let own = |x: &str| Some(x.to_string());
    assert_eq!(
        s(&ingress(NS, Some("pointing"), &[])),
        (NS.into(), own("pointing"), own("p"))
    );
    assert_eq!(s(&ingress(NS, None, &[])), (NS.into(), own("plain"), None));
    assert_eq!(
        s(&ingress(
            NS,
            Some("pointing"),
            &[("kubernetes.io/ingress.class", " alb ")]
        )),
        (NS.into(), own("alb"), None)
    );
    assert_eq!(
        s(&ingress(NS, Some("missing"), &[])),
        (NS.into(), own("missing"), None)
    );
    // A policy named by parameters and another listing the class: a conflict at the same
    // level, unless one lists the namespace.
    let p = policy("p", json!({"ingressClasses": ["x"]}));
    let q = policy("q", json!({"ingressClasses": ["pointing"]}));
    let ing = ingress(NS, Some("pointing"), &[]);
    let subject = crate::policy::status::ingress_subject(&ing, &classes);
    let v = governing(&[&p, &q], subject).unwrap_err();
    assert_eq!(v.reason(), "PolicyConflict");
    assert!(
        v.message
            .contains(r#"this Ingress (IngressClass "pointing", namespace "team-a")"#),
        "{v}"
    );
    let q_scoped = policy(
        "q",
        json!({"ingressClasses": ["pointing"], "namespaces": [NS]}),
    );
    assert_eq!(
        governing(&[&p, &q_scoped], subject)
            .unwrap()
            .and_then(|p| p.metadata.name.clone()),
        Some("q".into())
    );
    // A Service subject never matches an ingressClasses-only policy.
    assert_eq!(
        governing(
            &[&p, &q],
            Subject {
                namespace: NS,
                class: None
            }
        )
        .unwrap(),
        None
    );
}

/// A cloud whose vocabulary lacks what a policy sets: the object is refused, never served as if
/// the policy were not there.
#[test]
fn what_a_cloud_cannot_map_is_refused() {
    static NO_CERTS: PolicyVocabulary = PolicyVocabulary {
        service: Vocabulary {
            kind: "Service",
            prefixes: &["example.com/"],
            scheme: "scheme",
            internal: None,
            subnets: "subnets",
            tags: "labels",
            certificate: None,
            ssl_policy: None,
        },
        ingress: None,
        reserved_tag_prefixes: &["berth.dev/"],
    };
    let subject = Subject {
        namespace: NS,
        class: None,
    };
    let with = |defaults: serde_json::Value| {
        policy(
            "p",
            json!({"loadBalancerClasses": [""], "defaults": defaults}),
        )
    };
    let own = BTreeMap::new();

    let p = with(json!({"scheme": "internal"}));
    let e = evaluate(&[&p], subject, &own, Some(&NO_CERTS)).unwrap();
    assert_eq!(e.annotations["example.com/scheme"], "internal");

    let p = with(json!({"certificateArn": "arn:aws:acm:us-east-1:1:certificate/x"}));
    let v = evaluate(&[&p], subject, &own, Some(&NO_CERTS)).unwrap_err();
    assert_eq!(v.rule, Rule::InvalidPolicy);
    assert!(v.message.contains("spec.defaults.certificateArn"), "{v}");

    let p = with(json!({"sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}));
    let v = evaluate(&[&p], subject, &own, Some(&NO_CERTS)).unwrap_err();
    assert!(v.message.contains("spec.defaults.sslPolicy"), "{v}");

    let p = with(json!({"tags": {"berth.dev/x": "1"}}));
    let v = evaluate(&[&p], subject, &own, Some(&NO_CERTS)).unwrap_err();
    assert!(v.message.contains("reserved"), "{v}");

    // No vocabulary at all (a cloud without policy support): refused, with its own reason.
    let p = with(json!({}));
    let v = evaluate(&[&p], subject, &own, None).unwrap_err();
    assert_eq!(
        (&v.rule, v.reason()),
        (&Rule::Unsupported, "PolicyUnsupported")
    );
    assert!(
        v.message.contains("cannot apply LoadBalancerPolicies"),
        "{v}"
    );
    // ... but an object no policy governs is served as it is.
    assert!(evaluate(&[], subject, &own, None).is_ok());

    // An Ingress where the cloud has no Ingress vocabulary.
    let ing = IngressSubject {
        namespace: NS,
        class: Some("c"),
        parameters: None,
    };
    let p = policy("p", json!({"ingressClasses": ["c"]}));
    let v = evaluate(&[&p], ing, &own, Some(&NO_CERTS)).unwrap_err();
    assert_eq!(v.rule, Rule::Unsupported);
}
