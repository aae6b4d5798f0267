//! AWS as the operator sees it: the aws-load-balancer-controller's classes, finalizers and
//! IngressGroup rule (so that a cluster moves from it without re-creating anything), the NLB and
//! ALB annotations a LoadBalancerPolicy stands for, and the offline translation.

use super::alb::annotations as alb;
use super::nlb::annotations as nlb;
use crate::profile::*;

pub static PROFILE: Profile = Profile {
    cloud: "aws",
    service: ServiceProfile {
        classes: &["berth.dev/aws-nlb", "service.k8s.aws/nlb"],
        legacy_annotations: &[
            "service.beta.kubernetes.io/aws-load-balancer-type",
            "service.kubernetes.io/aws-load-balancer-type",
        ],
        legacy_values: &["external", "nlb-ip"],
        finalizer: "service.k8s.aws/resources",
    },
    ingress: Some(IngressProfile {
        controller: "berth.dev/alb",
        incumbent_controller: "ingress.k8s.aws/alb",
        legacy_classes: &["alb"],
        grouping: Grouping::Annotation {
            annotation: "alb.ingress.kubernetes.io/group.name",
            finalizer_prefix: "group.ingress.k8s.aws/",
            max_len: 63,
            valid: alb::valid_group_name,
        },
        finalizer: "ingress.k8s.aws/resources",
        backend_annotation_prefix: Some("alb.ingress.kubernetes.io/actions."),
        reads_pods: false,
    }),
    policy: Some(PolicyVocabulary {
        service: Vocabulary {
            kind: "Service",
            prefixes: &nlb::PREFIXES,
            scheme: nlb::SCHEME,
            internal: Some(nlb::INTERNAL),
            subnets: nlb::SUBNETS,
            tags: nlb::TAGS,
            certificate: Some(nlb::SSL_CERT),
            ssl_policy: Some(nlb::SSL_POLICY),
        },
        ingress: Some(Vocabulary {
            kind: "Ingress",
            prefixes: &[alb::PREFIX],
            scheme: alb::SCHEME,
            internal: None,
            subnets: alb::SUBNETS,
            tags: alb::TAGS,
            certificate: Some(alb::CERTIFICATE_ARN),
            ssl_policy: Some(alb::SSL_POLICY),
        }),
        reserved_tag_prefixes: &nlb::RESERVED_TAG_PREFIXES,
    }),
    offline: Some(Offline {
        service: |fe, _| super::desired(fe, &Default::default()),
        group: Some(|g, _| super::alb::desired_group(g, &Default::default())),
        plan: super::plan,
    }),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_name_rule_is_the_alb_one() {
        let Some(IngressProfile {
            grouping: Grouping::Annotation { valid, max_len, .. },
            ..
        }) = &PROFILE.ingress
        else {
            panic!("AWS groups Ingresses by annotation");
        };
        assert!(valid("shop.prod-1"));
        assert!(valid(&"a".repeat(*max_len)));
        assert!(!valid(&"a".repeat(max_len + 1)));
        assert!(!valid("Not_Valid"));
    }
}
