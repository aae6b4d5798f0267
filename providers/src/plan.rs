//! The plan: a pure diff between the desired and the observed cloud resources, in a small
//! vocabulary (create / update / delete), ordered so that creates go forward through the
//! dependency graph and deletes go backward.
//!
//! Resources are described in CloudFormation's vocabulary: a `kind` (the resource type) and
//! `properties` with that type's property names. A property that refers to another resource of
//! the same plan is written `{"Ref": "<name>"}` and resolved to the real ID when that resource
//! already exists.

use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub kind: String,
    pub name: String,
    pub properties: Map<String, Value>,
}

/// A resource that exists in the cloud and carries berth's ownership marks for this object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedResource {
    /// The cloud's ID (an ARN, a self link, a resource ID).
    pub id: String,
    pub resource: Resource,
    /// Read-only outputs, like CloudFormation's `Fn::GetAtt` (e.g. `DNSName`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub outputs: Map<String, Value>,
}

/// What observe found: our resources, and the names of same-kind resources that are not ours
/// (a create with one of those names is a conflict, never a takeover).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub resources: Vec<ObservedResource>,
    /// (kind, name) -> id of resources without our ownership marks.
    #[serde(default)]
    pub foreign: BTreeMap<(String, String), String>,
}

impl Observed {
    pub fn find(&self, kind: &str, name: &str) -> Option<&ObservedResource> {
        self.resources
            .iter()
            .find(|o| o.resource.kind == kind && o.resource.name == name)
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a ObservedResource> + 'a {
        self.resources
            .iter()
            .filter(move |o| o.resource.kind == kind)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub action: Action,
    pub kind: String,
    pub name: String,
    /// The cloud ID of the resource an update or delete acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Desired properties (create, update) or the current ones (delete).
    pub properties: Map<String, Value>,
    /// For an update: the properties that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// For an update: the current properties, so apply can compute e.g. tag or target deltas.
    #[serde(skip)]
    pub current: Option<Map<String, Value>>,
    /// A resource several objects share: created if missing, never deleted by this plan, only
    /// its owned parts changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// Diffs desired against observed. `kind_order` lists resource kinds in creation order
/// (dependencies first); kinds not listed go last; every property compares by its shape (see
/// [`crate::engine::diff`] for kinds with specs). Pure: no I/O, no clock.
pub fn diff(desired: &[Resource], observed: &Observed, kind_order: &[&str]) -> Result<Plan> {
    crate::engine::diff::diff(
        desired,
        observed,
        &crate::engine::Kinds::ordered(kind_order),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORDER: [&str; 3] = ["LB", "TG", "Listener"];

    fn res(kind: &str, name: &str, props: Value) -> Resource {
        Resource {
            kind: kind.into(),
            name: name.into(),
            properties: props.as_object().cloned().unwrap_or_default(),
        }
    }

    fn obs(id: &str, r: Resource) -> ObservedResource {
        ObservedResource {
            id: id.into(),
            resource: r,
            outputs: Map::new(),
        }
    }

    fn summary(p: &Plan) -> Vec<String> {
        p.changes
            .iter()
            .map(|c| format!("{:?} {} {}", c.action, c.kind, c.name))
            .collect()
    }

    #[test]
    fn table() {
        let lb = res(
            "LB",
            "lb",
            json!({"Scheme": "internal", "Tags": [{"Key": "a", "Value": "1"}]}),
        );
        let tg = res(
            "TG",
            "tg",
            json!({"Port": 80, "Targets": [{"Id": "i-1", "Port": 80}, {"Id": "i-2", "Port": 80}]}),
        );
        let li = res(
            "Listener",
            "li",
            json!({"LoadBalancerArn": {"Ref": "lb"}, "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "tg"}}]}),
        );
        let li_resolved = res(
            "Listener",
            "li",
            json!({"LoadBalancerArn": "arn:lb", "DefaultActions": [{"Type": "forward", "TargetGroupArn": "arn:tg"}]}),
        );
        let all = vec![lb.clone(), tg.clone(), li.clone()];
        let existing = Observed {
            resources: vec![
                obs("arn:li", li_resolved.clone()),
                obs(
                    "arn:lb",
                    res(
                        "LB",
                        "lb",
                        json!({"Scheme": "internal", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "other", "Value": "x"}]}),
                    ),
                ),
                obs(
                    "arn:tg",
                    res(
                        "TG",
                        "tg",
                        json!({"Port": 80, "Targets": [{"Id": "i-2", "Port": 80}, {"Id": "i-1", "Port": 80}]}),
                    ),
                ),
            ],
            foreign: BTreeMap::new(),
        };
        struct Case {
            name: &'static str,
            desired: Vec<Resource>,
            observed: Observed,
            want: Vec<&'static str>,
        }
        let cases = vec![
            Case {
                name: "create from nothing, dependencies first",
                desired: vec![li.clone(), tg.clone(), lb.clone()],
                observed: Observed::default(),
                want: vec!["Create LB lb", "Create TG tg", "Create Listener li"],
            },
            Case {
                name: "no-op: order and extra tags don't matter",
                desired: all.clone(),
                observed: existing.clone(),
                want: vec![],
            },
            Case {
                name: "delete everything in reverse",
                desired: vec![],
                observed: existing.clone(),
                want: vec!["Delete Listener li", "Delete TG tg", "Delete LB lb"],
            },
            Case {
                name: "update targets only",
                desired: vec![
                    lb.clone(),
                    res(
                        "TG",
                        "tg",
                        json!({"Port": 80, "Targets": [{"Id": "i-1", "Port": 80}]}),
                    ),
                    li.clone(),
                ],
                observed: existing.clone(),
                want: vec!["Update TG tg"],
            },
            Case {
                name: "replace target group by a new name: create, repoint, delete",
                desired: vec![
                    lb.clone(),
                    res("TG", "tg2", json!({"Port": 81})),
                    res(
                        "Listener",
                        "li",
                        json!({"LoadBalancerArn": {"Ref": "lb"}, "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "tg2"}}]}),
                    ),
                ],
                observed: existing.clone(),
                want: vec!["Create TG tg2", "Update Listener li", "Delete TG tg"],
            },
        ];
        for c in cases {
            let p = diff(&c.desired, &c.observed, &ORDER).unwrap();
            assert_eq!(summary(&p), c.want, "case: {}", c.name);
        }
    }

    #[test]
    fn refs_resolve_to_existing_ids_and_stay_refs_for_new_ones() {
        let observed = Observed {
            resources: vec![obs("arn:lb", res("LB", "lb", json!({})))],
            foreign: BTreeMap::new(),
        };
        let li = res(
            "Listener",
            "li",
            json!({"LoadBalancerArn": {"Ref": "lb"}, "DefaultActions": [{"TargetGroupArn": {"Ref": "tg"}}]}),
        );
        let p = diff(&[li], &observed, &ORDER).unwrap();
        assert_eq!(p.changes[0].properties["LoadBalancerArn"], json!("arn:lb"));
        assert_eq!(
            p.changes[0].properties["DefaultActions"][0]["TargetGroupArn"],
            json!({"Ref": "tg"})
        );
    }

    #[test]
    fn update_reports_changed_properties() {
        let observed = Observed {
            resources: vec![obs(
                "arn:tg",
                res(
                    "TG",
                    "tg",
                    json!({"HealthCheckIntervalSeconds": 10, "Port": 80}),
                ),
            )],
            foreign: BTreeMap::new(),
        };
        let p = diff(
            &[res(
                "TG",
                "tg",
                json!({"HealthCheckIntervalSeconds": 30, "Port": 80}),
            )],
            &observed,
            &ORDER,
        )
        .unwrap();
        assert_eq!(p.changes[0].changed, vec!["HealthCheckIntervalSeconds"]);
        assert_eq!(p.changes[0].id.as_deref(), Some("arn:tg"));
    }

    #[test]
    fn a_foreign_resource_with_our_name_is_a_conflict() {
        let mut foreign = BTreeMap::new();
        foreign.insert(
            ("LB".to_string(), "lb".to_string()),
            "arn:theirs".to_string(),
        );
        let observed = Observed {
            resources: vec![],
            foreign,
        };
        let err = diff(&[res("LB", "lb", json!({}))], &observed, &ORDER).unwrap_err();
        assert!(
            matches!(err, crate::Error::Conflict { ref id, .. } if id == "arn:theirs"),
            "{err}"
        );
        assert!(err.to_string().contains("not owned by berth"));
    }

    #[test]
    fn key_value_lists_are_subsets_and_missing_keys_differ() {
        let equivalent = |d: &Value, o: Option<&Value>| {
            crate::engine::kind::same(crate::engine::Compare::Shape, d, o)
        };
        let d = json!([{"Key": "a", "Value": "1"}]);
        assert!(equivalent(
            &d,
            Some(&json!([{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}]))
        ));
        assert!(!equivalent(&d, Some(&json!([{"Key": "a", "Value": "2"}]))));
        assert!(!equivalent(&json!(1), None));
        assert!(equivalent(&json!(["x", "y"]), Some(&json!(["y", "x"]))));
        assert!(!equivalent(&json!(["x"]), Some(&json!(["y", "x"]))));
    }
}
