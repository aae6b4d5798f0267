//! Desired vs observed -> the plan. Pure: no I/O, no clock. Driven by the kinds' specs: how each
//! property compares, which ones the cloud changes in place (any other change is refused here,
//! before a single call, and `berth plan` shows it), and which kinds are shared (never deleted
//! by one owner's plan).

use super::kind::Kinds;
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Observed, Plan, Resource};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub fn diff(desired: &[Resource], observed: &Observed, kinds: &Kinds) -> Result<Plan> {
    let ids: BTreeMap<&str, &str> = observed
        .resources
        .iter()
        .map(|o| (o.resource.name.as_str(), o.id.as_str()))
        .collect();

    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut wanted: BTreeSet<(&str, &str)> = BTreeSet::new();
    for d in desired {
        wanted.insert((d.kind.as_str(), d.name.as_str()));
        let spec = kinds.get(&d.kind);
        let shared = spec.is_shared(&d.properties);
        let mut props = d.properties.clone();
        resolve_refs(&mut props, &ids);
        match observed.find(&d.kind, &d.name) {
            None => {
                if let Some(id) = observed.foreign.get(&(d.kind.clone(), d.name.clone())) {
                    return Err(Error::Conflict {
                        kind: d.kind.clone(),
                        name: d.name.clone(),
                        id: id.clone(),
                    });
                }
                creates.push(Change {
                    action: Action::Create,
                    kind: d.kind.clone(),
                    name: d.name.clone(),
                    id: None,
                    properties: props,
                    changed: Vec::new(),
                    current: None,
                    shared,
                });
            }
            Some(o) => {
                let changed: Vec<String> = props
                    .iter()
                    .filter(|(k, v)| !spec.same(k, v, o.resource.properties.get(*k)))
                    .map(|(k, _)| k.clone())
                    .collect();
                let fixed: Vec<&str> = changed
                    .iter()
                    .map(String::as_str)
                    .filter(|k| !spec.is_mutable(k))
                    .collect();
                if !fixed.is_empty() {
                    return Err(Error::NeedsReplacement {
                        object: String::new(),
                        kind: d.kind.clone(),
                        name: d.name.clone(),
                        id: o.id.clone(),
                        why: format!(
                            "{} cannot be changed on an existing {}; only a new resource would have the new value (give it a new name, or delete the object and create it again)",
                            fixed.join(", "),
                            short(&d.kind)
                        ),
                    });
                }
                if !changed.is_empty() {
                    updates.push(Change {
                        action: Action::Update,
                        kind: d.kind.clone(),
                        name: d.name.clone(),
                        id: Some(o.id.clone()),
                        properties: props,
                        changed,
                        current: Some(o.resource.properties.clone()),
                        shared,
                    });
                }
            }
        }
    }
    let mut deletes: Vec<Change> = observed
        .resources
        .iter()
        .filter(|o| !wanted.contains(&(o.resource.kind.as_str(), o.resource.name.as_str())))
        .filter(|o| {
            !kinds
                .get(&o.resource.kind)
                .is_shared(&o.resource.properties)
        })
        .map(|o| Change {
            action: Action::Delete,
            kind: o.resource.kind.clone(),
            name: o.resource.name.clone(),
            id: Some(o.id.clone()),
            properties: o.resource.properties.clone(),
            changed: Vec::new(),
            current: None,
            shared: false,
        })
        .collect();

    // Stable sorts keep the translator's order within a kind.
    creates.sort_by_key(|c| kinds.rank(&c.kind));
    updates.sort_by_key(|c| kinds.rank(&c.kind));
    deletes.sort_by_key(|c| std::cmp::Reverse(kinds.rank(&c.kind)));
    let mut changes = creates;
    changes.extend(updates);
    changes.extend(deletes);
    Ok(Plan { changes })
}

/// `AWS::ElasticLoadBalancingV2::TargetGroup` -> `TargetGroup`.
fn short(kind: &str) -> &str {
    kind.rsplit("::").next().unwrap_or(kind)
}

/// Replaces `{"Ref": name}` by the existing resource's ID where that resource exists.
fn resolve_refs(props: &mut Map<String, Value>, ids: &BTreeMap<&str, &str>) {
    for v in props.values_mut() {
        resolve_value(v, ids);
    }
}

fn resolve_value(v: &mut Value, ids: &BTreeMap<&str, &str>) {
    match v {
        Value::Object(m) => {
            if let (1, Some(Value::String(name))) = (m.len(), m.get("Ref")) {
                if let Some(id) = ids.get(name.as_str()) {
                    *v = Value::String((*id).to_string());
                }
                return;
            }
            resolve_refs(m, ids);
        }
        Value::Array(a) => a.iter_mut().for_each(|x| resolve_value(x, ids)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::kind::{Compare, KindSpec};
    use crate::plan::ObservedResource;
    use serde_json::json;

    /// A fake cloud's kinds: a shared pool with owned members, and an owned rule whose port is
    /// immutable and whose order matters.
    fn kinds() -> Kinds {
        Kinds::new(vec![
            KindSpec::new("Pool").shared().mutable(&["Members", "Tags"]),
            KindSpec::new("Rule")
                .parent("Pool")
                .mutable(&["Backends", "Tags"])
                .compare("Backends", Compare::Exact),
        ])
    }

    fn res(kind: &str, name: &str, props: Value) -> Resource {
        Resource {
            kind: kind.into(),
            name: name.into(),
            properties: props.as_object().cloned().unwrap(),
        }
    }

    fn observed(r: &[(&str, Resource)]) -> Observed {
        Observed {
            resources: r
                .iter()
                .map(|(id, r)| ObservedResource {
                    id: id.to_string(),
                    resource: r.clone(),
                    outputs: Map::new(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn immutable_changes_are_refused_by_the_plan_naming_the_property() {
        let cur = res("Rule", "r", json!({"Port": 80, "Backends": ["a"]}));
        let o = observed(&[("id-r", cur)]);
        let e = diff(
            &[res("Rule", "r", json!({"Port": 81, "Backends": ["a"]}))],
            &o,
            &kinds(),
        )
        .unwrap_err();
        assert_eq!(e.reason(), "ReplacementNeeded");
        let msg = e.to_string();
        assert!(
            msg.contains("Port") && msg.contains("id-r") && msg.contains("Rule"),
            "{msg}"
        );
        // A mutable one is an update; Exact makes order matter for this property.
        let p = diff(
            &[res(
                "Rule",
                "r",
                json!({"Port": 80, "Backends": ["a", "b"]}),
            )],
            &o,
            &kinds(),
        )
        .unwrap();
        assert_eq!(p.changes[0].changed, ["Backends"]);
    }

    #[test]
    fn shared_resources_are_created_if_missing_never_deleted_and_shown_as_shared() {
        let pool = res("Pool", "cluster-lb", json!({"Members": ["m1"]}));
        let p = diff(std::slice::from_ref(&pool), &Observed::default(), &kinds()).unwrap();
        assert_eq!(
            (p.changes[0].action, p.changes[0].shared),
            (Action::Create, true)
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json["changes"][0]["shared"], true,
            "a plan shows it as shared"
        );
        // One owner's plan without it: the shared pool stays; its own rule goes.
        let rule = res("Rule", "mine", json!({"Backends": ["a"]}));
        let o = observed(&[("id-pool", pool), ("id-rule", rule)]);
        let p = diff(&[], &o, &kinds()).unwrap();
        assert_eq!(p.changes.len(), 1, "{p:?}");
        assert_eq!(
            (p.changes[0].action, p.changes[0].kind.as_str()),
            (Action::Delete, "Rule")
        );
        let json = serde_json::to_value(&p).unwrap();
        assert!(
            json["changes"][0].get("shared").is_none(),
            "owned changes do not say so"
        );
    }

    #[test]
    fn a_resource_marked_shared_by_its_properties_is_never_deleted_by_one_plan() {
        let kinds = Kinds::new(vec![KindSpec::new("Check")
            .shared_if(|p| p.get("Owner").and_then(Value::as_str) == Some("cluster"))]);
        let common = res("Check", "common", json!({"Owner": "cluster"}));
        let own = res("Check", "own", json!({"Owner": "svc"}));
        let p = diff(&[common.clone(), own.clone()], &Observed::default(), &kinds).unwrap();
        let shared: Vec<bool> = p.changes.iter().map(|c| c.shared).collect();
        assert_eq!(shared, [true, false]);
        let o = observed(&[("id-common", common), ("id-own", own)]);
        let p = diff(&[], &o, &kinds).unwrap();
        let deleted: Vec<&str> = p.changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(deleted, ["own"]);
    }
}
