//! A resource kind as data: what the diff and the apply loop need to know about it, with no
//! cloud SDK in sight.

use serde_json::Value;
use std::collections::BTreeMap;

/// How one property's observed value is checked against the desired one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// Equal values.
    Exact,
    /// Equal lists, in any order (the clouds do not keep ours).
    Multiset,
    /// Lists of `{Key, Value}` (tags, labels, attributes): every desired pair is present; extra
    /// keys (cloud defaults, tags other tools added) are left alone.
    KeyValueSubset,
    /// By the value's shape: [`Compare::KeyValueSubset`] for a non-empty list of `{Key, Value}`,
    /// [`Compare::Multiset`] for other lists, [`Compare::Exact`] otherwise.
    Shape,
    /// What berth asked for is there: objects have every desired field (recursively; fields
    /// the cloud filled in with defaults are not differences), lists have as many elements,
    /// each matched by one observed element in any order, other values are equal. GCP answers
    /// with its defaults filled in (`proxyHeader: NONE`, a backend's `capacityScaler`).
    Within,
    /// A list the resource shares with others (an instance group's named ports): every desired
    /// element is [`Compare::Within`] some observed one; elements others added are not
    /// differences (and an update adds, never removes them).
    Includes,
}

/// Who a resource belongs to.
#[derive(Clone, Copy, Debug, Default)]
pub enum Ownership {
    /// Created and deleted by one object's plan.
    #[default]
    Owned,
    /// Used by several objects (Azure's cluster load balancer, GCP's instance groups): created
    /// when missing, never deleted by one object's plan; only its owned parts change.
    Shared,
    /// Shared when its properties say so (GCP: a health check every Service of the cluster
    /// uses is marked so in its description), owned otherwise.
    SharedIf(fn(&serde_json::Map<String, Value>) -> bool),
}

#[derive(Clone, Debug, Default)]
pub struct KindSpec {
    /// The kind's name in plans (CloudFormation's type name on AWS).
    pub kind: String,
    /// The kind whose sub-resource this is (a listener's load balancer), if any.
    pub parent: Option<String>,
    pub ownership: Ownership,
    /// The properties the cloud changes in place; `None`: all of them.
    pub mutable: Option<Vec<String>>,
    /// How each property compares; unlisted ones by [`Self::otherwise`].
    pub compare: BTreeMap<String, Compare>,
    /// How unlisted properties compare ([`Compare::Shape`] unless set).
    pub otherwise: Option<Compare>,
}

impl KindSpec {
    pub fn new(kind: &str) -> Self {
        KindSpec {
            kind: kind.into(),
            ..Default::default()
        }
    }

    pub fn parent(mut self, parent: &str) -> Self {
        self.parent = Some(parent.into());
        self
    }

    pub fn shared(mut self) -> Self {
        self.ownership = Ownership::Shared;
        self
    }

    pub fn mutable(mut self, properties: &[&str]) -> Self {
        self.mutable = Some(properties.iter().map(|p| p.to_string()).collect());
        self
    }

    pub fn compare(mut self, property: &str, how: Compare) -> Self {
        self.compare.insert(property.into(), how);
        self
    }

    pub fn shared_if(mut self, marked: fn(&serde_json::Map<String, Value>) -> bool) -> Self {
        self.ownership = Ownership::SharedIf(marked);
        self
    }

    /// Whether a resource of this kind with these properties is shared (never deleted by one
    /// object's plan).
    pub fn is_shared(&self, properties: &serde_json::Map<String, Value>) -> bool {
        match self.ownership {
            Ownership::Owned => false,
            Ownership::Shared => true,
            Ownership::SharedIf(marked) => marked(properties),
        }
    }

    /// How the properties not given a [`Self::compare`] compare.
    pub fn otherwise(mut self, how: Compare) -> Self {
        self.otherwise = Some(how);
        self
    }

    pub fn is_mutable(&self, property: &str) -> bool {
        self.mutable
            .as_ref()
            .is_none_or(|m| m.iter().any(|p| p == property))
    }

    /// Whether the observed value of `property` satisfies the desired one.
    pub fn same(&self, property: &str, desired: &Value, observed: Option<&Value>) -> bool {
        let how = self
            .compare
            .get(property)
            .copied()
            .or(self.otherwise)
            .unwrap_or(Compare::Shape);
        same(how, desired, observed)
    }
}

/// The kinds of one cloud, in creation order (dependencies first): creates run forward through
/// this order, deletes backward. Kinds not listed sort last and compare by shape.
#[derive(Clone, Debug, Default)]
pub struct Kinds {
    specs: Vec<KindSpec>,
    fallback: KindSpec,
}

impl Kinds {
    pub fn new(specs: Vec<KindSpec>) -> Self {
        Kinds {
            specs,
            fallback: KindSpec::default(),
        }
    }

    /// Kinds known only by their order (every property mutable, compared by shape).
    pub fn ordered(order: &[&str]) -> Self {
        Kinds::new(order.iter().map(|k| KindSpec::new(k)).collect())
    }

    pub fn rank(&self, kind: &str) -> usize {
        self.specs
            .iter()
            .position(|s| s.kind == kind)
            .unwrap_or(self.specs.len())
    }

    pub fn get(&self, kind: &str) -> &KindSpec {
        self.specs
            .iter()
            .find(|s| s.kind == kind)
            .unwrap_or(&self.fallback)
    }
}

fn is_key_value(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 2 && m.contains_key("Key") && m.contains_key("Value"))
}

/// Whether `observed` satisfies `desired` under `how`. A desired `null` is satisfied by an
/// absent value.
pub fn same(how: Compare, desired: &Value, observed: Option<&Value>) -> bool {
    let Some(observed) = observed else {
        return desired.is_null();
    };
    let how = match (how, desired, observed) {
        (Compare::Shape, Value::Array(d), Value::Array(o)) => {
            if !d.is_empty() && d.iter().all(is_key_value) && o.iter().all(is_key_value) {
                Compare::KeyValueSubset
            } else {
                Compare::Multiset
            }
        }
        (Compare::Shape, _, _) => Compare::Exact,
        (h, _, _) => h,
    };
    if how == Compare::Within {
        return within(desired, observed);
    }
    if let (Compare::Includes, Value::Array(d), Value::Array(o)) = (how, desired, observed) {
        return d.iter().all(|dv| o.iter().any(|ov| within(dv, ov)));
    }
    match (how, desired, observed) {
        (Compare::KeyValueSubset, Value::Array(d), Value::Array(o)) => {
            let have: BTreeMap<&str, &Value> = o
                .iter()
                .filter_map(|x| Some((x.get("Key")?.as_str()?, x.get("Value")?)))
                .collect();
            d.iter().all(|x| {
                let k = x.get("Key").and_then(Value::as_str).unwrap_or_default();
                have.get(k).copied() == x.get("Value")
            })
        }
        (Compare::Multiset, Value::Array(d), Value::Array(o)) => {
            let mut ds: Vec<String> = d.iter().map(Value::to_string).collect();
            let mut os: Vec<String> = o.iter().map(Value::to_string).collect();
            ds.sort();
            os.sort();
            ds == os
        }
        _ => desired == observed,
    }
}

/// [`Compare::Within`].
fn within(desired: &Value, observed: &Value) -> bool {
    match (desired, observed) {
        (Value::Object(d), Value::Object(o)) => d.iter().all(|(k, v)| match o.get(k) {
            Some(ov) => within(v, ov),
            None => v.is_null(),
        }),
        (Value::Array(d), Value::Array(o)) => {
            if d.len() != o.len() {
                return false;
            }
            let mut free = vec![true; o.len()];
            d.iter().all(|dv| {
                let hit = (0..o.len()).find(|&i| free[i] && within(dv, &o[i]));
                hit.map(|i| free[i] = false).is_some()
            })
        }
        _ => desired == observed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparisons_as_data() {
        let kv = |pairs: &[(&str, &str)]| {
            Value::Array(
                pairs
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect(),
            )
        };
        let cases: Vec<(Compare, Value, Option<Value>, bool)> = vec![
            (Compare::Exact, json!(1), Some(json!(1)), true),
            (Compare::Exact, json!([1, 2]), Some(json!([2, 1])), false),
            (Compare::Multiset, json!([1, 2]), Some(json!([2, 1])), true),
            (Compare::Multiset, json!([1, 1]), Some(json!([1])), false),
            (
                Compare::KeyValueSubset,
                kv(&[("a", "1")]),
                Some(kv(&[("a", "1"), ("b", "2")])),
                true,
            ),
            (
                Compare::KeyValueSubset,
                kv(&[("a", "1")]),
                Some(kv(&[("a", "2")])),
                false,
            ),
            (
                Compare::Shape,
                kv(&[("a", "1")]),
                Some(kv(&[("b", "2"), ("a", "1")])),
                true,
            ),
            (
                Compare::Shape,
                json!(["x", "y"]),
                Some(json!(["y", "x"])),
                true,
            ),
            (Compare::Shape, json!({"a": 1}), Some(json!({"a": 1})), true),
            (Compare::Exact, json!(null), None, true),
            (
                Compare::Within,
                json!({"port": 1, "list": [{"a": 1}, {"a": 2}]}),
                Some(
                    json!({"port": 1, "proxyHeader": "NONE", "list": [{"a": 2, "x": 0}, {"a": 1}]}),
                ),
                true,
            ),
            (
                Compare::Within,
                json!({"port": 1}),
                Some(json!({"port": 2})),
                false,
            ),
            (
                Compare::Includes,
                json!([{"p": 1}]),
                Some(json!([{"p": 2}, {"p": 1, "x": 0}])),
                true,
            ),
            (
                Compare::Includes,
                json!([{"p": 3}]),
                Some(json!([{"p": 2}, {"p": 1}])),
                false,
            ),
            (
                Compare::Within,
                json!([{"a": 1}]),
                Some(json!([{"a": 1}, {"a": 1}])),
                false,
            ),
            (
                Compare::Within,
                json!([{"a": 1}, {"a": 1}]),
                Some(json!([{"a": 1}, {"a": 2}])),
                false,
            ),
            (Compare::Exact, json!(1), None, false),
        ];
        for (how, d, o, want) in cases {
            assert_eq!(same(how, &d, o.as_ref()), want, "{how:?} {d} vs {o:?}");
        }
        let spec = KindSpec::new("K")
            .compare("Order", Compare::Exact)
            .mutable(&["Tags"]);
        assert!(!spec.same("Order", &json!([1, 2]), Some(&json!([2, 1]))));
        assert!(spec.same("Other", &json!([1, 2]), Some(&json!([2, 1]))));
        assert!(spec.is_mutable("Tags") && !spec.is_mutable("Order"));
        let kinds = Kinds::new(vec![KindSpec::new("A"), KindSpec::new("B")]);
        assert_eq!(
            (kinds.rank("A"), kinds.rank("B"), kinds.rank("Z")),
            (0, 1, 2)
        );
        assert!(kinds.get("Z").is_mutable("anything"));
    }
}
