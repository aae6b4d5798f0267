//! The `LoadBalancerPolicy` custom resource (`berth.dev/v1alpha1`, cluster-scoped): what a
//! cluster administrator decides for the load balancers of the Services and Ingresses it
//! governs — defaults and restrictions. The CRD YAML in `crds/` is generated from these
//! types (`berth crds`).
//!
//! Validation is OpenAPI schema only (enums, patterns, min/max items), so that a 1.20 API server
//! (no CEL) rejects a malformed policy with 422 Unprocessable Entity.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Kubernetes namespace name (RFC 1123 label).
const NAMESPACE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A `spec.loadBalancerClass` value (a label-style qualified name) or "" for "no class".
const CLASS_PATTERN: &str = r"^$|^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$";
/// An annotation name: an optional DNS-subdomain prefix and a name.
const ANNOTATION_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$";
/// An IngressClass name (DNS subdomain).
const INGRESS_CLASS_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// One subnet ID or Name tag: no commas (the annotation is comma-separated).
const SUBNET_PATTERN: &str = r"^[^,\s]([^,]*[^,\s])?$";
/// An ACM or IAM certificate ARN.
const CERTIFICATE_PATTERN: &str = r"^arn:aws[a-z-]*:(acm|iam):[^,\s]+$";
/// An ELB security policy name.
const SSL_POLICY_PATTERN: &str = r"^ELBSecurityPolicy-[A-Za-z0-9-]+$";
/// An AWS tag value: no commas (the tag annotation is `k=v,k=v`).
const TAG_VALUE_PATTERN: &str = r"^[^,]*$";

/// Governs the load balancers berth provisions for the Services and Ingresses it selects:
/// defaults applied where an object sets nothing, and restrictions a tenant cannot override. Cluster-scoped; written by cluster administrators.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "LoadBalancerPolicy",
    plural = "loadbalancerpolicies",
    shortname = "lbp",
    status = "LoadBalancerPolicyStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "LoadBalancerPolicy: cluster-wide defaults and restrictions for the load balancers berth provisions (see berth's README)",
    printcolumn = r#"{"name":"Classes","type":"string","jsonPath":".spec.loadBalancerClasses"}"#,
    printcolumn = r#"{"name":"Namespaces","type":"string","jsonPath":".spec.namespaces"}"#,
    printcolumn = r#"{"name":"Governed","type":"integer","jsonPath":".status.governedObjects"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = at_least_one_selector)]
pub struct LoadBalancerPolicySpec {
    /// Service `spec.loadBalancerClass` values this policy governs. The empty string stands for
    /// the Services berth serves without a class (with `--default-class`, or annotated
    /// `service.beta.kubernetes.io/aws-load-balancer-type: external` / `nlb-ip`).
    ///
    /// (`null` is read as "" too: the list's items are `nullable`, because a 1.20 API server
    /// otherwise refuses "" in a string list as "must be of type string: null".)
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_is_empty"
    )]
    #[schemars(inner(regex(pattern = CLASS_PATTERN)), transform = nullable_items)]
    pub load_balancer_classes: Vec<String>,

    /// IngressClass names whose Ingresses this policy governs (the legacy annotation
    /// `kubernetes.io/ingress.class: alb` counts as class `alb`). An IngressClass may also point
    /// at a policy itself, with `spec.parameters: {apiGroup: berth.dev, kind:
    /// LoadBalancerPolicy, name: <policy>, scope: Cluster}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = INGRESS_CLASS_PATTERN)))]
    pub ingress_classes: Vec<String>,

    /// Only govern objects in these namespaces. Absent: every namespace. When several policies
    /// select the same object, one that lists its namespace wins over one without
    /// `namespaces`; two at the same level are a conflict, reported on the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), inner(regex(pattern = NAMESPACE_PATTERN)))]
    pub namespaces: Option<Vec<String>>,

    /// Applied to a governed object when it does not set the corresponding annotation itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<PolicyDefaults>,

    /// Rules a governed object must follow; an object that breaks one gets no load balancer
    /// (Warning Event `PolicyViolation` and a False condition on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<PolicyRestrictions>,
}

/// `anyOf: [{required: [loadBalancerClasses]}, {required: [ingressClasses]}]`: a policy must
/// select something. (Structural schemas allow value-only `anyOf`; no CEL needed.)
fn at_least_one_selector(schema: &mut schemars::Schema) {
    schema.insert(
        "anyOf".into(),
        serde_json::json!([
            {"required": ["loadBalancerClasses"]},
            {"required": ["ingressClasses"]}
        ]),
    );
}

/// `items.nullable: true` (see `loadBalancerClasses`).
fn nullable_items(schema: &mut schemars::Schema) {
    if let Some(items) = schema.get_mut("items").and_then(|i| i.as_object_mut()) {
        items.insert("nullable".into(), true.into());
    }
}

/// A list of strings whose `null` items read as "".
fn null_is_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items: Option<Vec<Option<String>>> = Deserialize::deserialize(d)?;
    Ok(items
        .unwrap_or_default()
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

/// Tag values: at most 256 characters, no commas.
fn tag_values(schema: &mut schemars::Schema) {
    schema.insert(
        "additionalProperties".into(),
        serde_json::json!({"type": "string", "maxLength": 256, "pattern": TAG_VALUE_PATTERN}),
    );
}

/// The load-balancer scheme.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    Internal,
    InternetFacing,
}

impl Scheme {
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::Internal => "internal",
            Scheme::InternetFacing => "internet-facing",
        }
    }
}

/// Defaults, each mapped to the AWS annotation it stands for (for Services the
/// `service.beta.kubernetes.io/aws-load-balancer-*` NLB annotations, for Ingresses the
/// `alb.ingress.kubernetes.io/*` ALB annotations); an object that sets that annotation keeps its
/// own value (tags are merged per key, the object winning).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDefaults {
    /// `aws-load-balancer-scheme` (applied only when the Service sets neither the scheme nor
    /// the legacy `aws-load-balancer-internal`); Ingresses: `scheme`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
    /// `aws-load-balancer-subnets` (Ingresses: `subnets`): subnet IDs or Name tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), inner(regex(pattern = SUBNET_PATTERN)))]
    pub subnets: Option<Vec<String>>,
    /// `aws-load-balancer-additional-resource-tags` (Ingresses: `tags`), merged with the
    /// object's own (its value wins per key). Keys may not be berth's ownership keys or `aws:` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = tag_values)]
    pub tags: Option<BTreeMap<String, String>>,
    /// Reserved: berth does not support security groups yet, so this list must be empty (the
    /// API server rejects a policy that sets one, rather than berth silently provisioning load
    /// balancers without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 0))]
    pub security_groups: Option<Vec<String>>,
    /// AWS only: `aws-load-balancer-ssl-cert`, the default certificate (ACM or IAM ARN); TLS
    /// listeners on every TCP port unless the Service sets `aws-load-balancer-ssl-ports`.
    /// Ingresses: `certificate-arn` (an HTTPS:443 listener unless `listen-ports` says
    /// otherwise). On a cloud without ARNs a policy that sets it is refused (InvalidPolicy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CERTIFICATE_PATTERN))]
    pub certificate_arn: Option<String>,
    /// AWS only: `aws-load-balancer-ssl-negotiation-policy` (Ingresses: `ssl-policy`), e.g.
    /// `ELBSecurityPolicy-TLS13-1-2-2021-06`; refused elsewhere like `certificateArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SSL_POLICY_PATTERN))]
    pub ssl_policy: Option<String>,
}

/// Restrictions on governed objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRestrictions {
    /// Only these namespaces may get internet-facing load balancers (an empty list: none may).
    /// Absent: no restriction. Internet-facing comes from the `aws-load-balancer-scheme`
    /// annotation, the legacy `aws-load-balancer-internal: "false"` (Ingresses:
    /// `alb.ingress.kubernetes.io/scheme`), or this policy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(regex(pattern = NAMESPACE_PATTERN)))]
    pub internet_facing_namespaces: Option<Vec<String>>,
    /// Annotations a governed object may not set (full names, e.g.
    /// `service.beta.kubernetes.io/aws-load-balancer-subnets` or
    /// `alb.ingress.kubernetes.io/scheme`; a `service.beta.kubernetes.io/` name locks the
    /// `service.kubernetes.io/` spelling too, and the other way round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(regex(pattern = ANNOTATION_PATTERN), length(max = 316)))]
    pub locked_annotations: Option<Vec<String>>,
}

/// What berth observed about the policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerPolicyStatus {
    /// How many objects (Services and Ingresses) this policy currently governs.
    #[serde(default)]
    pub governed_objects: i64,
    /// Standard conditions (`type`, `status`, `reason`, `message`, `lastTransitionTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<PolicyCondition>>,
}

/// A condition in the shape of `metav1.Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCondition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The (apiGroup, kind) an IngressClass's `spec.parameters` uses to point at a policy.
pub const INGRESS_CLASS_PARAMETERS: (&str, &str) = ("berth.dev", "LoadBalancerPolicy");
