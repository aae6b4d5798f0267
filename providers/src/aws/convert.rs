//! Shared conversions between the plan's JSON properties and the AWS SDK's shapes: reading
//! strings, numbers, lists and `{Key, Value}` pairs out of properties, tags both ways, and the
//! DescribeTags batches every ELBv2 kind's ownership check uses.

use crate::aws::client::AwsProvider;
use crate::aws::operations as ops;
use crate::error::{Error, Result};
use crate::plan::{Change, ObservedResource, Resource};
use aws_sdk_ec2::types::Filter;
use aws_sdk_elasticloadbalancingv2::types::Tag;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) fn str_of<'a>(p: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

pub(crate) fn as_i32(v: &Value) -> Option<i32> {
    v.as_i64().and_then(|n| i32::try_from(n).ok())
}

pub(crate) fn int_of(p: &Map<String, Value>, key: &str) -> Option<i32> {
    p.get(key).and_then(as_i32)
}

/// The entries of the array under `key` that `f` converts (none when there is no array).
pub(crate) fn entries<'a, T, C: FromIterator<T>>(
    p: Option<&'a Map<String, Value>>,
    key: &str,
    f: impl FnMut(&'a Value) -> Option<T>,
) -> C {
    p.and_then(|p| p.get(key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(f)
        .collect()
}

pub(crate) fn required<'a>(c: &Change, p: &'a Map<String, Value>, key: &str) -> Result<&'a str> {
    str_of(p, key)
        .ok_or_else(|| Error::Bug(format!("the plan's {} {} has no {key}", c.kind, c.name)))
}

/// `[{Key, Value}]` -> pairs (in order).
pub fn pairs(p: Option<&Map<String, Value>>, key: &str) -> Vec<(String, String)> {
    entries(p, key, |x| Some((vstr(x, "Key")?, vstr(x, "Value")?)))
}

/// The desired pairs that are missing from, or different in, the current ones.
pub fn pairs_to_set(
    desired: &[(String, String)],
    current: &[(String, String)],
) -> Vec<(String, String)> {
    let have: BTreeMap<&str, &str> = current
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    desired
        .iter()
        .filter(|(k, v)| have.get(k.as_str()) != Some(&v.as_str()))
        .cloned()
        .collect()
}

/// The desired pairs under `key` that the current ones lack or hold otherwise.
pub(crate) fn pairs_delta(
    desired: &Map<String, Value>,
    current: Option<&Map<String, Value>>,
    key: &str,
) -> Vec<(String, String)> {
    pairs_to_set(&pairs(Some(desired), key), &pairs(current, key))
}

/// The keys `current` has and `desired` no longer lists.
pub(crate) fn keys_gone(
    desired: &Map<String, Value>,
    current: Option<&Map<String, Value>>,
    key: &str,
) -> Vec<String> {
    let want: BTreeSet<String> = pairs(Some(desired), key)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    pairs(current, key)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !want.contains(k))
        .collect()
}

/// Key-value pairs -> one SDK value each (tags, attributes).
pub(crate) fn map_pairs<T>(pairs: &[(String, String)], f: impl Fn(&str, &str) -> T) -> Vec<T> {
    pairs.iter().map(|(k, v)| f(k, v)).collect()
}

pub(crate) fn sdk_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    map_pairs(pairs, |k, v| Tag::builder().key(k).value(v).build())
}

pub(crate) fn strings_of(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    })
}

pub(crate) fn vstr(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

pub(crate) fn vint(v: &Value, key: &str) -> Option<i32> {
    v.get(key).and_then(as_i32)
}

/// An ID a create call returned; its absence is a (retryable) cloud error.
pub(crate) fn returned(operation: &str, what: &str, id: Option<&str>) -> Result<String> {
    id.map(String::from)
        .ok_or_else(|| Error::cloud(operation, format!("the response has no {what}"), true))
}

/// DescribeTags accepts at most 20 ARNs.
pub const TAG_BATCH: usize = 20;

pub type Tags = BTreeMap<String, String>;

/// `[{Key, Value}]`, sorted by key (the shape translate uses for tags and attributes).
pub fn key_values<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let sorted: BTreeMap<&str, &str> = pairs.into_iter().collect();
    Value::Array(
        sorted
            .into_iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

pub(crate) fn tags_value(t: &Tags) -> Value {
    key_values(t.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

pub(crate) fn pairs_value(a: &[(String, String)]) -> Value {
    key_values(a.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// An SDK key and value (tag, attribute) as a pair; none without a key, "" without a value.
pub(crate) fn key_value(key: Option<&str>, value: Option<&str>) -> Option<(String, String)> {
    Some((key?.to_string(), value.unwrap_or_default().to_string()))
}

/// Sets `key` when there is a value.
pub(crate) fn put(m: &mut Map<String, Value>, key: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        m.insert(key.into(), v.into());
    }
}

/// An object of the fields that have a value (in their order).
pub(crate) fn present<'a>(fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Value {
    let mut m = Map::new();
    for (k, v) in fields {
        put(&mut m, k, v);
    }
    Value::Object(m)
}

pub(crate) fn ours(id: impl Into<String>, resource: Resource) -> ObservedResource {
    ObservedResource {
        id: id.into(),
        resource,
        outputs: Map::new(),
    }
}

/// The value of tag `key` in a resource's `Tags` property (`[{Key, Value}]`).
pub fn tag_value<'a>(r: &'a Resource, key: &str) -> Option<&'a str> {
    r.properties
        .get("Tags")?
        .as_array()?
        .iter()
        .find(|t| t.get("Key").and_then(Value::as_str) == Some(key))?
        .get("Value")?
        .as_str()
}

pub(crate) fn ec2_filter(name: &str, values: Vec<String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values))
        .build()
}

impl AwsProvider {
    /// AddTags for the desired tags that are missing or different; tags others added stay.
    pub(crate) async fn add_tags(
        &self,
        arn: &str,
        p: &Map<String, Value>,
        current: Option<&Map<String, Value>>,
    ) -> Result<()> {
        let add = pairs_delta(p, current, "Tags");
        if !add.is_empty() {
            let req = self
                .elb
                .add_tags()
                .resource_arns(arn)
                .set_tags(Some(sdk_tags(&add)));
            self.call(ops::ADD_TAGS, || req.clone().send()).await?;
        }
        // `current` holds only berth's tags: one it no longer wants goes.
        let remove = keys_gone(p, current, "Tags");
        if !remove.is_empty() {
            let req = self
                .elb
                .remove_tags()
                .resource_arns(arn)
                .set_tag_keys(Some(remove));
            self.call(ops::REMOVE_TAGS, || req.clone().send()).await?;
        }
        Ok(())
    }

    /// Tags of ELBv2 resources, 20 ARNs per DescribeTags call.
    pub(crate) async fn tags_of(&self, arns: &[String]) -> Result<BTreeMap<String, Tags>> {
        let mut out = BTreeMap::new();
        for batch in arns.chunks(TAG_BATCH) {
            let req = self
                .elb
                .describe_tags()
                .set_resource_arns(Some(batch.to_vec()));
            let page = self.call(ops::DESCRIBE_TAGS, || req.clone().send()).await?;
            for d in page.tag_descriptions() {
                let Some(arn) = d.resource_arn() else {
                    continue;
                };
                let t: Tags = d
                    .tags()
                    .iter()
                    .filter_map(|t| key_value(t.key(), t.value()))
                    .collect();
                out.insert(arn.to_string(), t);
            }
        }
        Ok(out)
    }
}
