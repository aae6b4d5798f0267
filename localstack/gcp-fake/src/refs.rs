//! Resource keys and references between resources.
//!
//! A resource's key is its path below `compute/v1/`
//! (`projects/p/global/healthChecks/hc`); a reference in a body may be a full URL on either
//! Google host, a `projects/...` path, or a `global/...`, `regions/...`, `zones/...` path in the
//! request's project, as the real API accepts.

use crate::discovery::{Api, Route, Seg};
use crate::state::State;
use serde_json::Value;
use std::collections::BTreeMap;

const HOSTS: [&str; 2] = [
    "https://compute.googleapis.com/compute/v1/",
    "https://www.googleapis.com/compute/v1/",
];

/// Fills a template with path parameters; `name` stands for the template's last parameter
/// when given (custom and IAM methods call it `{resource}`).
pub fn fill(segs: &[Seg], params: &BTreeMap<String, String>, name: Option<&str>) -> String {
    let last = segs.iter().rposition(|s| matches!(s, Seg::Param(_)));
    let parts: Vec<&str> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            Seg::Lit(l) => l.as_str(),
            Seg::Param(_) if Some(i) == last && name.is_some() => name.unwrap_or_default(),
            Seg::Param(p) => params.get(p).map(String::as_str).unwrap_or_default(),
        })
        .collect();
    parts.join("/")
}

/// The key of the resource a method acts on, through the resource's `get` template: custom
/// methods may sit elsewhere (`projects/{project}/targetHttpProxies/{p}/setUrlMap` has no
/// `global/`), but the resource lives where `get` finds it.
pub fn item_key(api: &Api, route: &Route, params: &BTreeMap<String, String>) -> Option<String> {
    let get = api.method(&route.resource, "get")?;
    let Some(Seg::Param(last)) = get.segs.iter().rev().find(|s| matches!(s, Seg::Param(_))) else {
        return None;
    };
    let name = params.get(last).or_else(|| params.get("resource"))?;
    Some(fill(&get.segs, params, Some(name)))
}

/// The key of a resource's collection (`projects/p/regions/r/backendServices`).
pub fn collection_key(
    api: &Api,
    resource: &str,
    params: &BTreeMap<String, String>,
) -> Option<String> {
    Some(fill(&api.method(resource, "insert")?.segs, params, None))
}

/// The key a reference points to, when it names a resource of a stored collection; `None` for
/// anything else (IP addresses, networks, subnetworks, instances, regions: unchecked).
pub fn reference(api: &Api, s: &str, project: &str) -> Option<String> {
    let rest = HOSTS.iter().find_map(|h| s.strip_prefix(h)).unwrap_or(s);
    let rel = if rest.starts_with("projects/") {
        rest.to_string()
    } else if ["global/", "regions/", "zones/"]
        .iter()
        .any(|p| rest.starts_with(p))
    {
        format!("projects/{project}/{rest}")
    } else {
        return None;
    };
    let segs: Vec<&str> = rel.split('/').collect();
    let (name, collection) = segs.split_last()?;
    let stored = api.collections().any(|r| r.matches(collection).is_some());
    (stored && !name.is_empty()).then_some(rel)
}

/// Every reference to a stored collection in `value`, with its field path; a resource's own
/// `selfLink`, an address's `users` and free text (`description`) are not references.
pub fn references(api: &Api, value: &Value, project: &str) -> Vec<(String, String)> {
    fn walk(api: &Api, v: &Value, project: &str, path: String, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) => out.extend(reference(api, s, project).map(|k| (path, k))),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(api, item, project, format!("{path}[{i}]"), out);
                }
            }
            Value::Object(fields) => {
                let fields = fields
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "selfLink" | "users" | "description"));
                for (k, item) in fields {
                    walk(api, item, project, format!("{path}.{k}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(api, value, project, "resource".to_string(), &mut out);
    out
}

/// The project part of a key.
pub fn project_of(key: &str) -> &str {
    key.split('/').nth(1).unwrap_or_default()
}

/// A stored resource (other than `key` itself) that refers to `key`.
pub fn user_of(api: &Api, state: &State, key: &str) -> Option<String> {
    state.resources.iter().find_map(|(k, s)| {
        let refers = k != key
            && references(api, &s.value, project_of(k))
                .iter()
                .any(|(_, r)| r == key);
        refers.then(|| k.clone())
    })
}
