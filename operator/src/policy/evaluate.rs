//! The pure policy decision for one Service: which LoadBalancerPolicy governs it, and either the
//! effective annotations (the policy's defaults merged under the Service's own) or a
//! [`Violation`] that names the policy, the rule, the annotation or value and what is allowed.
//!
//! Selection: a policy governs a Service when the Service's `spec.loadBalancerClass` (or "" for
//! none) is in `spec.loadBalancerClasses` and, if the policy lists `spec.namespaces`, the
//! Service's namespace is among them. When several policies govern it, the ones that list the
//! namespace win over those that apply to every namespace; two or more left at the same level
//! are a conflict (an admin error, reported on the Service), never a silent pick: a policy's
//! restrictions must not disappear because another policy sorts first.

use super::crd::{LoadBalancerPolicy, Scheme};
use std::collections::BTreeMap;
use std::fmt;

pub use providers::aws::annotations::{
    INTERNAL, PREFIXES, RESERVED_TAG_PREFIXES, SCHEME, SSL_CERT, SSL_POLICY, SUBNETS, TAGS,
};

/// What the policy decision needs to know about a Service.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub namespace: &'a str,
    /// `spec.loadBalancerClass`; `None` for a Service without a class.
    pub class: Option<&'a str>,
}

/// Which rule a Service (or a policy) broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `restrictions.internetFacingNamespaces`.
    InternetFacing,
    /// `restrictions.lockedAnnotations`.
    LockedAnnotation,
    /// Two or more policies govern the Service at the same level (admin error).
    Conflict,
    /// The policy itself is unusable, e.g. a reserved tag key (admin error).
    InvalidPolicy,
}

/// Why a Service gets no load balancer.
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
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The outcome for a Service that breaks no rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effective {
    /// The governing policy, if any.
    pub policy: Option<String>,
    /// The annotations to build the load balancer from (the Service's, plus defaults).
    pub annotations: BTreeMap<String, String>,
}

fn name_of(p: &LoadBalancerPolicy) -> &str {
    p.metadata.name.as_deref().unwrap_or_default()
}

/// Whether `policy` selects a Service of this class and namespace.
pub fn selects(policy: &LoadBalancerPolicy, subject: Subject<'_>) -> bool {
    let class = subject.class.unwrap_or("");
    policy.spec.load_balancer_classes.iter().any(|c| c == class)
        && policy
            .spec
            .namespaces
            .as_ref()
            .is_none_or(|ns| ns.iter().any(|n| n == subject.namespace))
}

/// The policy that governs the Service: `Ok(None)` when none does, a `Conflict` violation when
/// several do at the same level (see the module docs).
pub fn governing<'p>(
    policies: &'p [&'p LoadBalancerPolicy],
    subject: Subject<'_>,
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
                    "LoadBalancerPolicies {} all govern this Service (class {:?}, namespace {:?}); a cluster administrator must make them select disjoint classes or namespaces (a policy listing the namespace in spec.namespaces takes precedence over one without)",
                    quoted.join(", "),
                    subject.class.unwrap_or(""),
                    subject.namespace
                ),
            })
        }
    }
}

/// The annotation `key` (without prefix) under either prefix: (full name, trimmed value); the
/// `service.beta.` spelling wins when both are set, as in the provider.
fn get<'a>(ann: &'a BTreeMap<String, String>, key: &str) -> Option<(&'a str, &'a str)> {
    PREFIXES.iter().find_map(|p| {
        ann.get_key_value(&format!("{p}{key}"))
            .map(|(k, v)| (k.as_str(), v.trim()))
    })
}

/// The two spellings of an annotation name under berth's prefixes (or the name alone).
fn spellings(name: &str) -> Vec<String> {
    match PREFIXES.iter().find_map(|p| name.strip_prefix(p)) {
        Some(key) => PREFIXES.iter().map(|p| format!("{p}{key}")).collect(),
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
fn check_policy(p: &LoadBalancerPolicy) -> Result<(), Violation> {
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
        if RESERVED_TAG_PREFIXES.iter().any(|r| k.starts_with(r)) {
            return Err(invalid(format!(
                "spec.defaults.tags: key {k:?} is reserved (berth's ownership tags and aws: keys)"
            )));
        }
    }
    Ok(())
}

/// The decision for one Service with these annotations under these policies.
pub fn evaluate(
    policies: &[&LoadBalancerPolicy],
    subject: Subject<'_>,
    annotations: &BTreeMap<String, String>,
) -> Result<Effective, Violation> {
    let Some(policy) = governing(policies, subject)? else {
        return Ok(Effective {
            policy: None,
            annotations: annotations.clone(),
        });
    };
    check_policy(policy)?;
    let name = name_of(policy);
    let restrictions = policy.spec.restrictions.clone().unwrap_or_default();

    // 1. Locked annotations: the Service may not set them at all.
    for locked in restrictions.locked_annotations.iter().flatten() {
        for spelling in spellings(locked) {
            if let Some(v) = annotations.get(&spelling) {
                return Err(Violation {
                    policy: name.to_string(),
                    rule: Rule::LockedAnnotation,
                    message: format!(
                        "LoadBalancerPolicy {name:?}: annotation {spelling}={v:?} is locked by the cluster administrator; remove it from the Service"
                    ),
                });
            }
        }
    }

    // 2. Defaults, where the Service sets nothing.
    let mut out = annotations.clone();
    let canonical = |key: &str| format!("{}{key}", PREFIXES[0]);
    let defaults = policy.spec.defaults.clone().unwrap_or_default();
    if let Some(scheme) = defaults.scheme {
        if get(annotations, SCHEME).is_none() && get(annotations, INTERNAL).is_none() {
            out.insert(canonical(SCHEME), scheme.as_str().into());
        }
    }
    if let Some(subnets) = defaults.subnets.as_ref().filter(|s| !s.is_empty()) {
        if get(annotations, SUBNETS).is_none() {
            out.insert(canonical(SUBNETS), subnets.join(","));
        }
    }
    if let Some(cert) = &defaults.certificate_arn {
        if get(annotations, SSL_CERT).is_none() {
            out.insert(canonical(SSL_CERT), cert.clone());
        }
    }
    if let Some(ssl) = &defaults.ssl_policy {
        if get(annotations, SSL_POLICY).is_none() {
            out.insert(canonical(SSL_POLICY), ssl.clone());
        }
    }
    if let Some(tags) = defaults.tags.as_ref().filter(|t| !t.is_empty()) {
        match get(annotations, TAGS) {
            None => {
                let joined: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.insert(canonical(TAGS), joined.join(","));
            }
            Some((key, value)) => {
                // A malformed value is left as it is: the provider names it on the Service.
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

    // 3. Internet-facing, from the effective annotations (the AWS default is internal).
    if let Some(allowed) = &restrictions.internet_facing_namespaces {
        let source = match (get(&out, SCHEME), get(&out, INTERNAL)) {
            (Some((k, v)), _) if v.eq_ignore_ascii_case(Scheme::InternetFacing.as_str()) => {
                Some(if annotations.contains_key(k) {
                    format!("{k}: {v:?}")
                } else {
                    "the policy's default scheme internet-facing".to_string()
                })
            }
            (None, Some((k, v))) if v.eq_ignore_ascii_case("false") => Some(format!("{k}: {v:?}")),
            _ => None,
        };
        if let Some(source) = source {
            if !allowed.iter().any(|n| n == subject.namespace) {
                let list = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                };
                return Err(Violation {
                    policy: name.to_string(),
                    rule: Rule::InternetFacing,
                    message: format!(
                        "LoadBalancerPolicy {name:?}: namespace {:?} may not create internet-facing load balancers (allowed: {list}); this Service asks for one ({source}); set {}: internal",
                        subject.namespace,
                        canonical(SCHEME)
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

#[cfg(test)]
mod tests;
