//! Every AWS API operation berth calls, with what IAM needs to allow it. The call wrapper takes an
//! [`Op`] (so the API-call metrics are labelled from this list) and `berth iam-policy` derives the
//! least-privilege policy from the same list: the two cannot drift apart.

use super::tags;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Elbv2,
    Ec2,
    /// The Resource Groups Tagging API: the inventory's one listing.
    Tagging,
}

impl Service {
    /// The label in metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Service::Elbv2 => "elbv2",
            Service::Ec2 => "ec2",
            Service::Tagging => "tagging",
        }
    }

    /// The IAM action prefix.
    pub fn iam_prefix(&self) -> &'static str {
        match self {
            Service::Elbv2 => "elasticloadbalancing",
            Service::Ec2 => "ec2",
            Service::Tagging => "tag",
        }
    }
}

/// How narrowly IAM can allow an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Describe calls: AWS evaluates them on `*` only.
    Read,
    /// Creates a resource: allowed only when the request tags it with this cluster's tag.
    CreateTagged,
    /// Tagging: on create (the create call's tags) or on resources already tagged for this cluster.
    Tagging,
    /// Changes or deletes a load balancer, target group or security group already tagged for
    /// this cluster.
    OwnedResource,
    /// Registers or deregisters targets: target groups only.
    TargetRegistration,
    /// Listener calls: ELBv2 offers no tag condition for them; berth only issues them for
    /// listeners of load balancers it found by its tags.
    Listener,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Op {
    pub service: Service,
    pub name: &'static str,
    pub scope: Scope,
}

impl Op {
    pub fn iam_action(&self) -> String {
        format!("{}:{}", self.service.iam_prefix(), self.name)
    }
}

macro_rules! ops {
    ($($id:ident = $service:ident $name:literal $scope:ident;)*) => {
        $(pub const $id: Op = Op { service: Service::$service, name: $name, scope: Scope::$scope };)*
        /// Every operation berth may call.
        pub const ALL: &[Op] = &[$($id),*];
    };
}

ops! {
    DESCRIBE_SUBNETS = Ec2 "DescribeSubnets" Read;
    // EC2 filters by tag server-side (tag:<key>): one call finds an ALB's managed security group.
    DESCRIBE_SECURITY_GROUPS = Ec2 "DescribeSecurityGroups" Read;
    // Backend rules: the targets' security groups (instances' primary interfaces, pod IPs').
    DESCRIBE_INSTANCES = Ec2 "DescribeInstances" Read;
    DESCRIBE_NETWORK_INTERFACES = Ec2 "DescribeNetworkInterfaces" Read;
    DESCRIBE_LOAD_BALANCERS = Elbv2 "DescribeLoadBalancers" Read;
    DESCRIBE_LOAD_BALANCER_ATTRIBUTES = Elbv2 "DescribeLoadBalancerAttributes" Read;
    DESCRIBE_TARGET_GROUPS = Elbv2 "DescribeTargetGroups" Read;
    DESCRIBE_TARGET_GROUP_ATTRIBUTES = Elbv2 "DescribeTargetGroupAttributes" Read;
    DESCRIBE_TARGET_HEALTH = Elbv2 "DescribeTargetHealth" Read;
    DESCRIBE_LISTENERS = Elbv2 "DescribeListeners" Read;
    DESCRIBE_LISTENER_CERTIFICATES = Elbv2 "DescribeListenerCertificates" Read;
    DESCRIBE_TAGS = Elbv2 "DescribeTags" Read;
    DESCRIBE_RULES = Elbv2 "DescribeRules" Read;
    // The inventory: the cluster's load balancers and target groups by their tags, one listing
    // per resync period instead of the region's per reconcile.
    GET_RESOURCES = Tagging "GetResources" Read;
    CREATE_LOAD_BALANCER = Elbv2 "CreateLoadBalancer" CreateTagged;
    CREATE_TARGET_GROUP = Elbv2 "CreateTargetGroup" CreateTagged;
    ADD_TAGS = Elbv2 "AddTags" Tagging;
    // Only tags berth added (named by its berth.dev/tags mark), on resources tagged for the cluster.
    REMOVE_TAGS = Elbv2 "RemoveTags" OwnedResource;
    MODIFY_LOAD_BALANCER_ATTRIBUTES = Elbv2 "ModifyLoadBalancerAttributes" OwnedResource;
    SET_SUBNETS = Elbv2 "SetSubnets" OwnedResource;
    SET_IP_ADDRESS_TYPE = Elbv2 "SetIpAddressType" OwnedResource;
    SET_SECURITY_GROUPS = Elbv2 "SetSecurityGroups" OwnedResource;
    DELETE_LOAD_BALANCER = Elbv2 "DeleteLoadBalancer" OwnedResource;
    MODIFY_TARGET_GROUP = Elbv2 "ModifyTargetGroup" OwnedResource;
    MODIFY_TARGET_GROUP_ATTRIBUTES = Elbv2 "ModifyTargetGroupAttributes" OwnedResource;
    DELETE_TARGET_GROUP = Elbv2 "DeleteTargetGroup" OwnedResource;
    REGISTER_TARGETS = Elbv2 "RegisterTargets" TargetRegistration;
    DEREGISTER_TARGETS = Elbv2 "DeregisterTargets" TargetRegistration;
    CREATE_LISTENER = Elbv2 "CreateListener" Listener;
    MODIFY_LISTENER = Elbv2 "ModifyListener" Listener;
    DELETE_LISTENER = Elbv2 "DeleteListener" Listener;
    ADD_LISTENER_CERTIFICATES = Elbv2 "AddListenerCertificates" Listener;
    REMOVE_LISTENER_CERTIFICATES = Elbv2 "RemoveListenerCertificates" Listener;
    // Listener rules: berth sends no tags on them (so no rule-level tag condition applies) and
    // only issues these for listeners of load balancers it found by its tags.
    CREATE_RULE = Elbv2 "CreateRule" Listener;
    MODIFY_RULE = Elbv2 "ModifyRule" Listener;
    DELETE_RULE = Elbv2 "DeleteRule" Listener;
    SET_RULE_PRIORITIES = Elbv2 "SetRulePriorities" Listener;
    // An ALB's managed security group: created with its tags (TagSpecifications), so the
    // cluster tag conditions the create; changed and deleted only while it carries that tag.
    CREATE_SECURITY_GROUP = Ec2 "CreateSecurityGroup" CreateTagged;
    CREATE_TAGS = Ec2 "CreateTags" Tagging;
    DELETE_TAGS = Ec2 "DeleteTags" OwnedResource;
    AUTHORIZE_SECURITY_GROUP_INGRESS = Ec2 "AuthorizeSecurityGroupIngress" OwnedResource;
    REVOKE_SECURITY_GROUP_INGRESS = Ec2 "RevokeSecurityGroupIngress" OwnedResource;
    DELETE_SECURITY_GROUP = Ec2 "DeleteSecurityGroup" OwnedResource;
}

const LB_AND_TG_ARNS: [&str; 3] = [
    "arn:aws:elasticloadbalancing:*:*:loadbalancer/net/*/*",
    "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*",
    "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
];

const LISTENER_AND_RULE_ARNS: [&str; 4] = [
    "arn:aws:elasticloadbalancing:*:*:listener/net/*/*/*",
    "arn:aws:elasticloadbalancing:*:*:listener/app/*/*/*",
    "arn:aws:elasticloadbalancing:*:*:listener-rule/net/*/*/*/*",
    "arn:aws:elasticloadbalancing:*:*:listener-rule/app/*/*/*/*",
];

const SECURITY_GROUP_ARN: &str = "arn:aws:ec2:*:*:security-group/*";
const VPC_ARN: &str = "arn:aws:ec2:*:*:vpc/*";

fn actions(scope: Scope) -> Vec<String> {
    actions_of(scope, None)
}

/// The IAM actions of a scope, of one service (or all).
fn actions_of(scope: Scope, service: Option<Service>) -> Vec<String> {
    let mut a: Vec<String> = ALL
        .iter()
        .filter(|o| o.scope == scope && service.is_none_or(|s| o.service == s))
        .map(Op::iam_action)
        .collect();
    a.sort();
    a
}

/// The least-privilege IAM policy for exactly the calls in [`ALL`], with the cluster tag as the
/// condition wherever AWS evaluates one.
pub fn iam_policy(cluster: &str) -> Value {
    let request_tag = format!("aws:RequestTag/{}", tags::CLUSTER);
    let resource_tag = format!("aws:ResourceTag/{}", tags::CLUSTER);
    let statements = vec![
        json!({"Sid": "Read", "Effect": "Allow", "Action": actions(Scope::Read), "Resource": "*"}),
        json!({"Sid": "CreateTagged", "Effect": "Allow", "Action": actions_of(Scope::CreateTagged, Some(Service::Elbv2)), "Resource": "*",
               "Condition": {"StringEquals": {request_tag.clone(): cluster}}}),
        // CreateSecurityGroup is authorised on the new group (which the request must tag for
        // this cluster) and on its VPC (which carries no request tags).
        json!({"Sid": "CreateTaggedSecurityGroup", "Effect": "Allow", "Action": actions_of(Scope::CreateTagged, Some(Service::Ec2)), "Resource": SECURITY_GROUP_ARN,
               "Condition": {"StringEquals": {request_tag.clone(): cluster}}}),
        json!({"Sid": "SecurityGroupInVpc", "Effect": "Allow", "Action": actions_of(Scope::CreateTagged, Some(Service::Ec2)), "Resource": VPC_ARN}),
        json!({"Sid": "TagOnCreate", "Effect": "Allow", "Action": actions_of(Scope::Tagging, Some(Service::Elbv2)), "Resource": LB_AND_TG_ARNS,
               "Condition": {"StringEquals": {"elasticloadbalancing:CreateAction": ["CreateLoadBalancer", "CreateTargetGroup"], request_tag.clone(): cluster}}}),
        json!({"Sid": "TagOwned", "Effect": "Allow", "Action": actions_of(Scope::Tagging, Some(Service::Elbv2)), "Resource": LB_AND_TG_ARNS,
               "Condition": {"StringEquals": {resource_tag.clone(): cluster}}}),
        json!({"Sid": "TagSecurityGroupOnCreate", "Effect": "Allow", "Action": actions_of(Scope::Tagging, Some(Service::Ec2)), "Resource": SECURITY_GROUP_ARN,
               "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup", request_tag: cluster}}}),
        json!({"Sid": "TagOwnedSecurityGroup", "Effect": "Allow", "Action": actions_of(Scope::Tagging, Some(Service::Ec2)), "Resource": SECURITY_GROUP_ARN,
               "Condition": {"StringEquals": {resource_tag.clone(): cluster}}}),
        json!({"Sid": "ChangeOwned", "Effect": "Allow", "Action": actions(Scope::OwnedResource), "Resource": "*",
               "Condition": {"StringEquals": {resource_tag: cluster}}}),
        // The targets' own security groups are not berth's: it adds and removes only its rules
        // there (source: its own group), and only in groups the cluster claims by its tag.
        json!({"Sid": "TargetSecurityGroupRules", "Effect": "Allow",
               "Action": [AUTHORIZE_SECURITY_GROUP_INGRESS.iam_action(), REVOKE_SECURITY_GROUP_INGRESS.iam_action()],
               "Resource": SECURITY_GROUP_ARN,
               "Condition": {"Null": {format!("aws:ResourceTag/kubernetes.io/cluster/{cluster}"): "false"}}}),
        json!({"Sid": "Targets", "Effect": "Allow", "Action": actions(Scope::TargetRegistration),
               "Resource": "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*"}),
        json!({"Sid": "Listeners", "Effect": "Allow", "Action": actions(Scope::Listener), "Resource": "*"}),
        // Listeners and rules carry berth's ownership tags (set at creation, or added to the
        // untagged ones an earlier berth made); like the listener calls, ELBv2 offers no tag
        // condition that would let berth tag its new listeners, so this is scoped by type.
        json!({"Sid": "TagListenersAndRules", "Effect": "Allow", "Action": [ADD_TAGS.iam_action(), REMOVE_TAGS.iam_action()],
               "Resource": LISTENER_AND_RULE_ARNS}),
    ];
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::is_mutating;
    use std::collections::BTreeSet;

    #[test]
    fn the_policy_allows_exactly_the_operations_berth_calls() {
        let p = iam_policy("prod");
        let mut allowed = BTreeSet::new();
        for s in p["Statement"].as_array().unwrap() {
            for a in s["Action"].as_array().unwrap() {
                allowed.insert(a.as_str().unwrap().to_string());
            }
        }
        let wanted: BTreeSet<String> = ALL.iter().map(Op::iam_action).collect();
        assert_eq!(allowed, wanted);
        assert_eq!(ALL.len(), wanted.len(), "no operation is listed twice");
        let target_rules = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "TargetSecurityGroupRules")
            .unwrap();
        assert_eq!(
            target_rules["Condition"]["Null"]["aws:ResourceTag/kubernetes.io/cluster/prod"],
            "false",
            "only in security groups the cluster claims"
        );
    }

    #[test]
    fn mutating_calls_are_conditioned_on_the_cluster_tag_where_aws_can() {
        for op in ALL {
            assert_eq!(op.scope == Scope::Read, !is_mutating(op.name), "{op:?}");
        }
        let p = iam_policy("prod");
        let by_sid = |sid: &str| {
            p["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .unwrap()
                .clone()
        };
        assert_eq!(
            by_sid("CreateTagged")["Condition"]["StringEquals"]
                ["aws:RequestTag/elbv2.k8s.aws/cluster"],
            "prod"
        );
        assert_eq!(
            by_sid("ChangeOwned")["Condition"]["StringEquals"]
                ["aws:ResourceTag/elbv2.k8s.aws/cluster"],
            "prod"
        );
        assert!(by_sid("ChangeOwned")["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("elasticloadbalancing:DeleteLoadBalancer")));
        assert_eq!(by_sid("Read")["Action"].as_array().unwrap().len(), 14);
        assert!(by_sid("Read")["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("tag:GetResources")));
        assert!(by_sid("Read")["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("ec2:DescribeSecurityGroups")));
        // The managed security group: tagged at creation, changed only while tagged.
        let create_sg = by_sid("CreateTaggedSecurityGroup");
        assert_eq!(create_sg["Action"], json!(["ec2:CreateSecurityGroup"]));
        assert_eq!(create_sg["Resource"], "arn:aws:ec2:*:*:security-group/*");
        assert_eq!(
            create_sg["Condition"]["StringEquals"]["aws:RequestTag/elbv2.k8s.aws/cluster"],
            "prod"
        );
        assert_eq!(
            by_sid("SecurityGroupInVpc")["Resource"],
            "arn:aws:ec2:*:*:vpc/*"
        );
        assert!(!by_sid("CreateTagged")["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("ec2:CreateSecurityGroup")));
        let tag_sg = by_sid("TagSecurityGroupOnCreate");
        assert_eq!(tag_sg["Action"], json!(["ec2:CreateTags"]));
        assert_eq!(
            tag_sg["Condition"]["StringEquals"]["ec2:CreateAction"],
            "CreateSecurityGroup"
        );
        assert_eq!(
            tag_sg["Condition"]["StringEquals"]["aws:RequestTag/elbv2.k8s.aws/cluster"],
            "prod"
        );
        assert_eq!(
            by_sid("TagOwnedSecurityGroup")["Condition"]["StringEquals"]
                ["aws:ResourceTag/elbv2.k8s.aws/cluster"],
            "prod"
        );
        assert!(!by_sid("TagOwned")["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("ec2:CreateTags")));
        for a in [
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:DeleteSecurityGroup",
        ] {
            assert!(
                by_sid("ChangeOwned")["Action"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(a)),
                "{a}"
            );
        }
        assert!(by_sid("Listeners")["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("elasticloadbalancing:SetRulePriorities")));
        assert!(by_sid("TagOwned")["Resource"]
            .as_array()
            .unwrap()
            .contains(&json!(
                "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*"
            )));
    }
}
