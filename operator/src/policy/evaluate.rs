//! The pure policy decision for one Service or Ingress: which LoadBalancerPolicy governs it, and
//! either the effective annotations (the policy's defaults merged under the object's own) or a
//! [`Violation`] that names the policy, the rule, the annotation or value and what is allowed.
//!
//! Selection: a policy governs a Service when the Service's `spec.loadBalancerClass` (or "" for
//! none) is in `spec.loadBalancerClasses`; it governs an Ingress when the Ingress's IngressClass
//! name (the legacy `kubernetes.io/ingress.class` value counts as the class name) is in
//! `spec.ingressClasses`, or when that IngressClass's `spec.parameters` names the policy. Either
//! way, if the policy lists `spec.namespaces`, the object's namespace must be among them. When
//! several policies govern an object, the ones that list the namespace win over those that apply
//! to every namespace; two or more left at the same level are a conflict (an admin error,
//! reported on the object), never a silent pick: a policy's restrictions must not disappear
//! because another policy sorts first.
//!
//! The decision is the same for both kinds and every cloud; only the annotation names differ
//! ([`Vocabulary`], from the cloud's profile: on AWS the NLB annotations of Services and the ALB
//! annotations of Ingresses). A cloud (or kind) without a vocabulary cannot honour a policy, so
//! an object a policy governs there is refused, never served as if ungoverned.

use super::crd::{LoadBalancerPolicy, Scheme};
use std::collections::BTreeMap;
use std::fmt;

pub use providers::profile::{PolicyVocabulary, Vocabulary};

/// An object a policy may govern.
pub trait Governed: Copy {
    fn namespace(&self) -> &str;
    /// Whether the policy selects the object's class (its `spec.namespaces` aside).
    fn class_selected_by(&self, policy: &LoadBalancerPolicy) -> bool;
    /// The object and what selected it, for the conflict message: `this Service (class "x",
    /// namespace "y")`.
    fn describe(&self) -> String;
    /// This kind's annotation names in the cloud's vocabulary.
    fn vocabulary<'v>(&self, v: &'v PolicyVocabulary) -> Option<&'v Vocabulary>;
}

/// What the policy decision needs to know about a Service.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub namespace: &'a str,
    /// `spec.loadBalancerClass`; `None` for a Service without a class.
    pub class: Option<&'a str>,
}

impl Governed for Subject<'_> {
    fn namespace(&self) -> &str {
        self.namespace
    }
    fn class_selected_by(&self, policy: &LoadBalancerPolicy) -> bool {
        let class = self.class.unwrap_or("");
        policy.spec.load_balancer_classes.iter().any(|c| c == class)
    }
    fn describe(&self) -> String {
        format!(
            "this Service (class {:?}, namespace {:?})",
            self.class.unwrap_or(""),
            self.namespace
        )
    }
    fn vocabulary<'v>(&self, v: &'v PolicyVocabulary) -> Option<&'v Vocabulary> {
        Some(&v.service)
    }
}

/// What the policy decision needs to know about an Ingress.
#[derive(Clone, Copy, Debug)]
pub struct IngressSubject<'a> {
    pub namespace: &'a str,
    /// The IngressClass name: `spec.ingressClassName`, the cluster's default class, or the
    /// legacy `kubernetes.io/ingress.class` value (e.g. `alb`); `None` when there is none.
    pub class: Option<&'a str>,
    /// The policy the IngressClass's `spec.parameters` names (apiGroup `berth.dev`, kind
    /// `LoadBalancerPolicy`), if any.
    pub parameters: Option<&'a str>,
}

impl Governed for IngressSubject<'_> {
    fn namespace(&self) -> &str {
        self.namespace
    }
    fn class_selected_by(&self, policy: &LoadBalancerPolicy) -> bool {
        self.class
            .is_some_and(|c| policy.spec.ingress_classes.iter().any(|x| x == c))
            || self
                .parameters
                .is_some_and(|n| policy.metadata.name.as_deref() == Some(n))
    }
    fn describe(&self) -> String {
        format!(
            "this Ingress (IngressClass {:?}, namespace {:?})",
            self.class.unwrap_or(""),
            self.namespace
        )
    }
    fn vocabulary<'v>(&self, v: &'v PolicyVocabulary) -> Option<&'v Vocabulary> {
        v.ingress.as_ref()
    }
}

/// Which rule an object (or a policy) broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `restrictions.internetFacingNamespaces`.
    InternetFacing,
    /// `restrictions.lockedAnnotations`.
    LockedAnnotation,
    /// Two or more policies govern the object at the same level (admin error).
    Conflict,
    /// The policy itself is unusable, e.g. a reserved tag key (admin error).
    InvalidPolicy,
    /// berth cannot apply policies to this kind of object on this cloud (yet).
    Unsupported,
}

/// Why an object gets no load balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The policy (or, for a conflict, the policies, comma-separated).
    pub policy: String,
    pub rule: Rule,
    /// The full sentence, starting with `LoadBalancerPolicy "<name>": `.
    pub message: String,
}

impl Violation {
    /// CamelCase reason for Events and conditions.
    pub fn reason(&self) -> &'static str {
        match self.rule {
            Rule::InternetFacing | Rule::LockedAnnotation => "PolicyViolation",
            Rule::Conflict => "PolicyConflict",
            Rule::InvalidPolicy => "InvalidPolicy",
            Rule::Unsupported => "PolicyUnsupported",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The outcome for an object that breaks no rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effective {
    /// The governing policy, if any.
    pub policy: Option<String>,
    /// The annotations to build the load balancer from (the object's, plus defaults).
    pub annotations: BTreeMap<String, String>,
}

fn name_of(p: &LoadBalancerPolicy) -> &str {
    p.metadata.name.as_deref().unwrap_or_default()
}

/// Whether `policy` selects this object (its class and namespace).
pub fn selects<S: Governed>(policy: &LoadBalancerPolicy, subject: S) -> bool {
    subject.class_selected_by(policy)
        && policy
            .spec
            .namespaces
            .as_ref()
            .is_none_or(|ns| ns.iter().any(|n| n == subject.namespace()))
}

/// The policy that governs the object: `Ok(None)` when none does, a `Conflict` violation when
/// several do at the same level (see the module docs).
pub fn governing<'p, S: Governed>(
    policies: &'p [&'p LoadBalancerPolicy],
    subject: S,
) -> Result<Option<&'p LoadBalancerPolicy>, Violation> {
    let matching: Vec<&LoadBalancerPolicy> = policies
        .iter()
        .copied()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && selects(p, subject))
        .collect();
    let scoped: Vec<&LoadBalancerPolicy> = matching
        .iter()
        .copied()
        .filter(|p| p.spec.namespaces.is_some())
        .collect();
    let level = if scoped.is_empty() { matching } else { scoped };
    match level.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => {
            let mut names: Vec<&str> = many.iter().map(|p| name_of(p)).collect();
            names.sort_unstable();
            let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
            Err(Violation {
                policy: names.join(","),
                rule: Rule::Conflict,
                message: format!(
                    "LoadBalancerPolicies {} all govern {}; a cluster administrator must make them select disjoint classes or namespaces (a policy listing the namespace in spec.namespaces takes precedence over one without)",
                    quoted.join(", "),
                    subject.describe()
                ),
            })
        }
    }
}

/// The annotation `key` (without prefix) under any prefix: (full name, trimmed value); the
/// first prefix's spelling (`service.beta.`) wins when several are set, as in the provider.
fn get<'a>(
    vocab: &Vocabulary,
    ann: &'a BTreeMap<String, String>,
    key: &str,
) -> Option<(&'a str, &'a str)> {
    vocab.prefixes.iter().find_map(|p| {
        ann.get_key_value(&format!("{p}{key}"))
            .map(|(k, v)| (k.as_str(), v.trim()))
    })
}

/// The spellings of an annotation name under the vocabulary's prefixes (or the name alone).
fn spellings(vocab: &Vocabulary, name: &str) -> Vec<String> {
    match vocab.prefixes.iter().find_map(|p| name.strip_prefix(p)) {
        Some(key) => vocab.prefixes.iter().map(|p| format!("{p}{key}")).collect(),
        None => vec![name.to_string()],
    }
}

/// `k=v,k=v` as the provider reads it; `None` when malformed (the provider reports that).
fn parse_tags(v: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, val) = item.split_once('=')?;
        if k.trim().is_empty() {
            return None;
        }
        out.insert(k.trim().to_string(), val.trim().to_string());
    }
    Some(out)
}

/// Checks what the schema cannot: tag keys. (securityGroups is refused by the schema; an
/// object stored under an older schema is refused here too: fail closed.)
fn check_policy(
    p: &LoadBalancerPolicy,
    v: &Vocabulary,
    reserved: &[&str],
) -> Result<(), Violation> {
    let name = name_of(p);
    let invalid = |what: String| {
        Violation {
        policy: name.to_string(),
        rule: Rule::InvalidPolicy,
        message: format!("LoadBalancerPolicy {name:?} is invalid: {what}; a cluster administrator must fix the policy"),
    }
    };
    let Some(d) = &p.spec.defaults else {
        return Ok(());
    };
    if d.security_groups.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(invalid(
            "spec.defaults.securityGroups is not supported by berth yet (must be empty)".into(),
        ));
    }
    for (k, v) in d.tags.iter().flatten() {
        if k.is_empty() || k.len() > 128 || k.contains([',', '=']) || v.contains(',') {
            return Err(invalid(format!(
                "spec.defaults.tags: {k:?}: keys are 1-128 characters without ',' or '=', values have no ','"
            )));
        }
        if reserved.iter().any(|r| k.starts_with(r)) {
            return Err(invalid(format!(
                "spec.defaults.tags: key {k:?} is reserved (berth's ownership tags and the cloud's own keys: {})",
                reserved.join(", ")
            )));
        }
    }
    let unmapped = |field: &str| {
        invalid(format!(
            "spec.defaults.{field} has no meaning for a {} on this cloud (it is an AWS setting); remove it or give this cloud's objects their own policy",
            v.kind
        ))
    };
    if d.certificate_arn.is_some() && v.certificate.is_none() {
        return Err(unmapped("certificateArn"));
    }
    if d.ssl_policy.is_some() && v.ssl_policy.is_none() {
        return Err(unmapped("sslPolicy"));
    }
    Ok(())
}

/// The decision for one object with these annotations under these policies.
/// `vocabulary`: the cloud's (its profile's `policy`).
pub fn evaluate<S: Governed>(
    policies: &[&LoadBalancerPolicy],
    subject: S,
    annotations: &BTreeMap<String, String>,
    vocabulary: Option<&PolicyVocabulary>,
) -> Result<Effective, Violation> {
    let Some(policy) = governing(policies, subject)? else {
        return Ok(Effective {
            policy: None,
            annotations: annotations.clone(),
        });
    };
    let name = name_of(policy);
    let Some((v, reserved)) =
        vocabulary.and_then(|p| Some((subject.vocabulary(p)?, p.reserved_tag_prefixes)))
    else {
        return Err(Violation {
            policy: name.to_string(),
            rule: Rule::Unsupported,
            message: format!(
                "LoadBalancerPolicy {name:?} governs {}, but berth cannot apply LoadBalancerPolicies to it on this cloud yet; a cluster administrator must narrow the policy's classes or namespaces",
                subject.describe()
            ),
        });
    };
    let kind = v.kind;
    check_policy(policy, v, reserved)?;
    let restrictions = policy.spec.restrictions.clone().unwrap_or_default();

    // 1. Locked annotations: the object may not set them at all.
    for locked in restrictions.locked_annotations.iter().flatten() {
        for spelling in spellings(v, locked) {
            if let Some(v) = annotations.get(&spelling) {
                return Err(Violation {
                    policy: name.to_string(),
                    rule: Rule::LockedAnnotation,
                    message: format!(
                        "LoadBalancerPolicy {name:?}: annotation {spelling}={v:?} is locked by the cluster administrator; remove it from the {kind}"
                    ),
                });
            }
        }
    }

    // 2. Defaults, where the object sets nothing.
    let mut out = annotations.clone();
    let canonical = |key: &str| format!("{}{key}", v.prefixes[0]);
    let own = |key: &str| get(v, annotations, key).is_some();
    let defaults = policy.spec.defaults.clone().unwrap_or_default();
    if let Some(scheme) = defaults.scheme {
        if !own(v.scheme) && !v.internal.is_some_and(own) {
            out.insert(canonical(v.scheme), scheme.as_str().into());
        }
    }
    if let Some(subnets) = defaults.subnets.as_ref().filter(|s| !s.is_empty()) {
        if !own(v.subnets) {
            out.insert(canonical(v.subnets), subnets.join(","));
        }
    }
    // (check_policy refused these where the vocabulary has no such annotation.)
    if let (Some(cert), Some(key)) = (&defaults.certificate_arn, v.certificate) {
        if !own(key) {
            out.insert(canonical(key), cert.clone());
        }
    }
    if let (Some(ssl), Some(key)) = (&defaults.ssl_policy, v.ssl_policy) {
        if !own(key) {
            out.insert(canonical(key), ssl.clone());
        }
    }
    if let Some(tags) = defaults.tags.as_ref().filter(|t| !t.is_empty()) {
        match get(v, annotations, v.tags) {
            None => {
                let joined: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.insert(canonical(v.tags), joined.join(","));
            }
            Some((key, value)) => {
                // A malformed value is left as it is: the provider names it on the object.
                if let Some(own) = parse_tags(value) {
                    let mut merged = tags.clone();
                    merged.extend(own);
                    let joined: Vec<String> =
                        merged.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.insert(key.to_string(), joined.join(","));
                }
            }
        }
    }

    // 3. Internet-facing, from the effective annotations (the AWS default is internal, for NLBs
    // and ALBs alike).
    if let Some(allowed) = &restrictions.internet_facing_namespaces {
        let internal = v.internal.and_then(|k| get(v, &out, k));
        let source = match (get(v, &out, v.scheme), internal) {
            (Some((k, val)), _) if val.eq_ignore_ascii_case(Scheme::InternetFacing.as_str()) => {
                Some(if annotations.contains_key(k) {
                    format!("{k}: {val:?}")
                } else {
                    "the policy's default scheme internet-facing".to_string()
                })
            }
            (None, Some((k, val))) if val.eq_ignore_ascii_case("false") => {
                Some(format!("{k}: {val:?}"))
            }
            _ => None,
        };
        if let Some(source) = source {
            let namespace = subject.namespace();
            if !allowed.iter().any(|n| n == namespace) {
                let list = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                };
                return Err(Violation {
                    policy: name.to_string(),
                    rule: Rule::InternetFacing,
                    message: format!(
                        "LoadBalancerPolicy {name:?}: namespace {namespace:?} may not create internet-facing load balancers (allowed: {list}); this {kind} asks for one ({source}); set {}: internal",
                        canonical(v.scheme)
                    ),
                });
            }
        }
    }

    Ok(Effective {
        policy: Some(name.to_string()),
        annotations: out,
    })
}

#[cfg(all(test, feature = "aws"))]
mod tests;
