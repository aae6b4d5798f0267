//! Annotation values shared by the Service (NLB) and Ingress (ALB) annotations: booleans,
//! numbers in a range, choices, `k=v` pairs, lists, tags, names, ARNs, success codes, and the
//! refusal of unknown annotations. Every error names the object, the annotation (and where it
//! sits), the value and what would be accepted.

use crate::error::{Error, Result};
use crate::frontend::ObjectRef;
use std::collections::BTreeMap;

/// Tag keys berth writes for ownership; users may not set them.
pub const RESERVED_TAG_PREFIXES: [&str; 5] = [
    "elbv2.k8s.aws/",
    "service.k8s.aws/",
    "ingress.k8s.aws/",
    "berth.dev/",
    "aws:",
];

/// AWS's 50 tags per resource, less berth's four ownership tags and its two marks.
pub const MAX_USER_TAGS: usize = 44;
/// AWS's default quota of certificates per listener.
pub const MAX_CERTIFICATES: usize = 25;

/// Builds errors that name the object, the annotation (and where it sits) and the value.
pub struct Ctx<'a> {
    pub object: &'a ObjectRef,
    /// The prefix annotation keys are written with in errors (`alb.ingress.kubernetes.io/`).
    pub prefix: &'a str,
    /// `Some("Service shop/web")` when reading a backend Service's annotations.
    pub on: Option<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(object: &'a ObjectRef, prefix: &'a str) -> Self {
        Ctx {
            object,
            prefix,
            on: None,
        }
    }

    pub fn err(&self, key: &str, value: &str, expected: impl Into<String>) -> Error {
        let prefix = self.prefix;
        let annotation = match &self.on {
            Some(on) => format!("{prefix}{key} (on {on})"),
            None => format!("{prefix}{key}"),
        };
        Error::InvalidAnnotation {
            object: self.object.clone(),
            annotation,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    pub fn bool(&self, key: &str, v: &str) -> Result<bool> {
        match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.err(key, v, "expected true or false")),
        }
    }

    pub fn int(&self, key: &str, v: &str, min: i64, max: i64) -> Result<i64> {
        v.parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                self.err(
                    key,
                    v,
                    format!("expected a whole number from {min} to {max}"),
                )
            })
    }

    pub fn small(&self, key: &str, v: &str, min: u16, max: u16) -> Result<u16> {
        self.int(key, v, min.into(), max.into())
            .map(|n| u16::try_from(n).unwrap_or(min))
    }

    pub fn one_of(&self, key: &str, v: &str, allowed: &[&str]) -> Result<String> {
        allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(v))
            .map(|a| a.to_string())
            .ok_or_else(|| self.err(key, v, format!("expected one of {}", allowed.join(", "))))
    }

    /// `k=v,k=v`: keys must be non-empty and unique; values may be empty (callers refuse them
    /// where they must not be).
    pub fn pairs(&self, key: &str, v: &str) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = Vec::new();
        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, val) = item.split_once('=').ok_or_else(|| {
                self.err(
                    key,
                    v,
                    format!("expected key=value pairs separated by commas; {item:?} has no '='"),
                )
            })?;
            let (k, val) = (k.trim(), val.trim());
            if k.is_empty() {
                return Err(self.err(key, v, format!("{item:?} has an empty key")));
            }
            if out.iter().any(|(seen, _)| seen == k) {
                return Err(self.err(key, v, format!("key {k:?} is given twice")));
            }
            out.push((k.to_string(), val.to_string()));
        }
        Ok(out)
    }

    /// `k=v` pairs whose keys are among `accepted` and whose values are not empty.
    pub fn attributes(
        &self,
        key: &str,
        v: &str,
        accepted: &[&str],
    ) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (k, val) in self.pairs(key, v)? {
            if !accepted.contains(&k.as_str()) {
                return Err(self.err(
                    key,
                    v,
                    format!("unknown attribute {k:?}; accepted: {}", accepted.join(", ")),
                ));
            }
            if val.is_empty() {
                return Err(self.err(key, v, format!("attribute {k:?} has an empty value")));
            }
            out.insert(k, val);
        }
        Ok(out)
    }

    /// Additional resource tags as `k=v` pairs: no reserved keys, AWS's length limits.
    pub fn tags(&self, key: &str, v: &str) -> Result<BTreeMap<String, String>> {
        let mut tags = BTreeMap::new();
        for (k, val) in self.pairs(key, v)? {
            // AWS reserves `aws:` in any case (`AWS:`, `Aws:`).
            let lower = k.to_ascii_lowercase();
            if RESERVED_TAG_PREFIXES.iter().any(|p| lower.starts_with(p)) {
                return Err(self.err(key, v, format!("tag key {k:?} is reserved (berth's ownership tags and aws: keys cannot be set)")));
            }
            if k.len() > 128 || val.len() > 256 {
                return Err(self.err(
                    key,
                    v,
                    format!("tag {k:?}: keys are at most 128 characters, values at most 256"),
                ));
            }
            tags.insert(k, val);
        }
        if tags.len() > MAX_USER_TAGS {
            return Err(self.err(key, v, format!("at most {MAX_USER_TAGS} tags ({} given): AWS allows 50 per resource, and berth's ownership tags and mark take the rest", tags.len())));
        }
        Ok(tags)
    }

    /// A load balancer's name, as ELBv2 accepts it.
    pub fn lb_name(&self, key: &str, v: &str) -> Result<String> {
        let ok = !v.is_empty()
            && v.len() <= 32
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !v.starts_with('-')
            && !v.ends_with('-')
            && !v.to_ascii_lowercase().starts_with("internal-");
        if ok {
            Ok(v.to_string())
        } else {
            Err(self.err(key, v, "expected 1-32 letters, digits and hyphens, not starting or ending with a hyphen, not starting with \"internal-\""))
        }
    }

    /// A health-check path.
    pub fn hc_path(&self, key: &str, v: &str) -> Result<String> {
        if v.starts_with('/') && v.len() <= 1024 {
            Ok(v.to_string())
        } else {
            Err(self.err(
                key,
                v,
                "expected a path starting with '/' (at most 1024 characters)",
            ))
        }
    }

    /// A TLS security policy name.
    pub fn ssl_policy(&self, key: &str, v: &str) -> Result<String> {
        if v.is_empty() || v.contains(char::is_whitespace) {
            Err(self.err(
                key,
                v,
                "expected an ELB security policy name, e.g. ELBSecurityPolicy-TLS13-1-2-2021-06",
            ))
        } else {
            Ok(v.to_string())
        }
    }

    /// Comma-separated certificate ARNs (an error names the first one that is not an ARN).
    pub fn certificate_arns(&self, key: &str, v: &str) -> Result<Vec<String>> {
        let certs = list(v);
        if let Some(c) = certs.iter().find(|c| !c.starts_with("arn:")) {
            return Err(self.err(
                key,
                c,
                "expected ACM or IAM certificate ARNs (arn:aws:acm:…), separated by commas",
            ));
        }
        if certs.len() > MAX_CERTIFICATES {
            return Err(self.err(key, v, format!("at most {MAX_CERTIFICATES} certificates ({} given): AWS's default quota per listener", certs.len())));
        }
        Ok(certs)
    }

    /// Success codes from `lo` to `hi`: a code, a range (`a-b`) or a list (`a,b`), normalised;
    /// anything else is refused with `expected`.
    pub fn codes(&self, key: &str, v: &str, lo: u16, hi: u16, expected: &str) -> Result<String> {
        let bad = || self.err(key, v, expected);
        let code = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (lo..=hi).contains(c))
        };
        if let Some((a, b)) = v.split_once('-') {
            return match (code(a), code(b)) {
                (Some(a), Some(b)) if a <= b => Ok(format!("{a}-{b}")),
                _ => Err(bad()),
            };
        }
        let codes: Option<Vec<u16>> = v.split(',').map(code).collect();
        match codes {
            Some(c) if !c.is_empty() => {
                Ok(c.iter().map(u16::to_string).collect::<Vec<_>>().join(","))
            }
            _ => Err(bad()),
        }
    }
}

/// A comma-separated list, trimmed, without empty items.
pub fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Refuses an annotation under a prefix berth owns that it does not implement: one the
/// aws-load-balancer-controller knows but berth does not support yet (`not_yet`), else an
/// unknown one, so that a typo never silently yields a different load balancer. `kind` names
/// the object (`Service`, `Ingress`); `accepted` lists what berth does accept.
pub fn unsupported(
    object: &ObjectRef,
    annotation: &str,
    value: &str,
    not_yet: bool,
    kind: &str,
    accepted: &str,
) -> Error {
    let expected = if not_yet {
        format!("berth does not support this annotation yet; remove it or keep this {kind} on the aws-load-balancer-controller")
    } else {
        format!("unknown annotation; berth accepts {accepted}")
    };
    Error::InvalidAnnotation {
        object: object.clone(),
        annotation: annotation.to_string(),
        value: value.to_string(),
        expected,
    }
}
