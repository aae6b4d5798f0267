//! The cluster's inventory on AWS: berth's load balancers and target groups, with their tags,
//! keyed by the owner's stack tag, so that observe(owner) knows the owner's ARNs without listing
//! the region (see [`crate::engine::inventory`] for the max age, single flight and own writes).
//!
//! Filled by one tag-filtered listing: the Resource Groups Tagging API's GetResources for
//! `elasticloadbalancing:loadbalancer` and `elasticloadbalancing:targetgroup`, filtered by
//! `elbv2.k8s.aws/cluster=<cluster>` and `berth.dev/managed-by=berth` server-side. Its cost
//! follows what the cluster owns (100 resources a page, tags included), not what the region
//! holds: the alternative, DescribeLoadBalancers + DescribeTargetGroups + DescribeTags over the
//! region once per cycle, pays for every other controller's and account user's resources (one
//! DescribeTags per 20). GetResources is eventually consistent (a new resource can be missing
//! for a while, a deleted one still listed); the engine's inventory keeps what berth made
//! itself, and observe drops what a describe finds gone and adopts what it finds by name with
//! berth's tags.

use super::client::AwsProvider;
use super::convert::Tags;
use super::operations as ops;
use super::tags;
use crate::error::Result;
use crate::frontend::ObjectRef;
use aws_sdk_elasticloadbalancingv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_resourcegroupstagging::types::TagFilter;
use std::collections::BTreeSet;
use std::future::Future;

/// What the inventory keeps of a load balancer or target group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: ElbKind,
    pub tags: Tags,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ElbKind {
    LoadBalancer,
    TargetGroup,
}

/// How a describe names what it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum By {
    Arns,
    Names,
}

/// The resource types GetResources is asked for.
const RESOURCE_TYPES: [&str; 2] = [
    "elasticloadbalancing:loadbalancer",
    "elasticloadbalancing:targetgroup",
];

/// Most resources GetResources returns on one page.
const PER_PAGE: i32 = 100;

/// The inventory's key for an owner: its stack tag, key and value (a Service and an Ingress
/// group use different keys).
pub fn owner_key(owner: &ObjectRef) -> String {
    format!("{}={}", tags::stack_key(owner), tags::stack_value(owner))
}

/// The owner key a resource's tags name, if they mark it as berth's in `cluster`.
pub fn owner_key_of(t: &Tags, cluster: &str) -> Option<String> {
    let ours = t.get(tags::CLUSTER).map(String::as_str) == Some(cluster)
        && t.get(tags::MANAGED_BY).map(String::as_str) == Some(tags::MANAGED_BY_VALUE);
    if !ours {
        return None;
    }
    [tags::STACK, tags::INGRESS_STACK]
        .into_iter()
        .find_map(|k| t.get(k).map(|v| format!("{k}={v}")))
}

/// A load balancer or target group, by its ARN (`...:loadbalancer/...`, `...:targetgroup/...`).
pub fn kind_of_arn(arn: &str) -> Option<ElbKind> {
    let resource = arn.splitn(6, ':').nth(5)?;
    if resource.starts_with("loadbalancer/") {
        Some(ElbKind::LoadBalancer)
    } else if resource.starts_with("targetgroup/") {
        Some(ElbKind::TargetGroup)
    } else {
        None
    }
}

/// Describes `keys` (ARNs or names) 20 a call; a batch that fails as not found (`batch`
/// returns `None`: ELBv2 fails the whole call for one missing ARN or name) is described one by
/// one. Returns what exists and the keys that do not.
pub(crate) async fn describe_each<T, F, Fut>(
    keys: &[String],
    key_of: impl Fn(&T) -> Option<&str>,
    mut batch: F,
) -> Result<(Vec<T>, Vec<String>)>
where
    F: FnMut(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Option<Vec<T>>>>,
{
    let mut found = Vec::new();
    for chunk in keys.chunks(super::convert::TAG_BATCH) {
        match batch(chunk.to_vec()).await? {
            Some(items) => found.extend(items),
            None if chunk.len() > 1 => {
                for k in chunk {
                    found.extend(batch(vec![k.clone()]).await?.unwrap_or_default());
                }
            }
            None => {}
        }
    }
    let seen: BTreeSet<&str> = found.iter().filter_map(&key_of).collect();
    let missing = keys
        .iter()
        .filter(|k| !seen.contains(k.as_str()))
        .cloned()
        .collect();
    Ok((found, missing))
}

impl AwsProvider {
    /// One Describe call by ARNs or names (`send`), its items (`items`); `None` when ELBv2
    /// answers `not_found` (one of them does not exist, and the call fails whole).
    pub(crate) async fn described_by<O, T, E, Fut>(
        &self,
        op: ops::Op,
        not_found: &str,
        send: impl FnMut() -> Fut,
        items: impl FnOnce(O) -> Option<Vec<T>>,
    ) -> Result<Option<Vec<T>>>
    where
        Fut: Future<Output = std::result::Result<O, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let out = self.call_unless(op, &[not_found], send).await?;
        Ok(out.map(|o| items(o).unwrap_or_default()))
    }

    /// Every load balancer and target group of the cluster that carries berth's tags, with its
    /// owner key (paged GetResources).
    async fn list_owned(&self) -> Result<Vec<(String, String, Entry)>> {
        let filter = |k: &str, v: &str| TagFilter::builder().key(k).values(v).build();
        let req = self
            .tagging
            .get_resources()
            .tag_filters(filter(tags::CLUSTER, &self.cluster))
            .tag_filters(filter(tags::MANAGED_BY, tags::MANAGED_BY_VALUE))
            .set_resource_type_filters(Some(RESOURCE_TYPES.map(String::from).to_vec()))
            .resources_per_page(PER_PAGE);
        let mappings = self
            .all_pages(
                ops::GET_RESOURCES,
                |m| req.clone().set_pagination_token(m).send(),
                |p| (p.resource_tag_mapping_list, p.pagination_token),
            )
            .await?;
        Ok(mappings
            .iter()
            .filter_map(|m| {
                let arn = m.resource_arn()?;
                let t: Tags = m
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                let owner = owner_key_of(&t, &self.cluster)?;
                let kind = kind_of_arn(arn)?;
                Some((arn.to_string(), owner, Entry { kind, tags: t }))
            })
            .collect())
    }

    /// The inventory's ARNs for `owner`: (load balancers, target groups). `fresh` asks for a
    /// listing made now (deletion: nothing the owner has may be missed).
    pub(crate) async fn inventory_of(
        &self,
        owner: &ObjectRef,
        fresh: bool,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let records = self
            .inventory
            .of_owner(&owner_key(owner), fresh, || self.list_owned())
            .await?;
        let of = |kind: ElbKind| {
            records
                .iter()
                .filter(|(_, e)| e.kind == kind)
                .map(|(arn, _)| arn.clone())
                .collect()
        };
        Ok((of(ElbKind::LoadBalancer), of(ElbKind::TargetGroup)))
    }

    /// berth made (or observe found, fresh, with berth's tags) `arn` with tags `t`.
    pub(crate) fn remember(&self, arn: &str, t: &Tags) {
        if let (Some(owner), Some(kind)) = (owner_key_of(t, &self.cluster), kind_of_arn(arn)) {
            let entry = Entry {
                kind,
                tags: t.clone(),
            };
            self.inventory.insert(arn, &owner, entry);
        }
    }

    /// berth just created `arn` with the properties `p`: known at once, so the next observe
    /// need not wait for the tag index to list it.
    pub(crate) fn created(&self, arn: &str, p: &serde_json::Map<String, serde_json::Value>) {
        let t: Tags = super::convert::pairs(Some(p), "Tags").into_iter().collect();
        self.remember(arn, &t);
    }

    /// What the inventory holds now, ARN -> owner key, without a call (diagnostics, tests).
    pub fn inventoried(&self) -> std::collections::BTreeMap<String, String> {
        self.inventory
            .records()
            .into_iter()
            .map(|(arn, r)| (arn, r.owner))
            .collect()
    }

    /// berth deleted `arn`, or a describe found it gone (or no longer berth's).
    pub(crate) fn forget(&self, arn: &str) {
        self.inventory.remove(arn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn t(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn owner_keys_from_the_owner_and_from_its_tags_agree() {
        let svc = ObjectRef::service("ns", "web");
        let mine = t(&[
            (tags::CLUSTER, "c1"),
            (tags::STACK, "ns/web"),
            (tags::MANAGED_BY, tags::MANAGED_BY_VALUE),
        ]);
        assert_eq!(owner_key_of(&mine, "c1"), Some(owner_key(&svc)));
        assert_eq!(owner_key_of(&mine, "c2"), None, "another cluster's");
        let mut theirs = mine.clone();
        theirs.remove(tags::MANAGED_BY);
        assert_eq!(owner_key_of(&theirs, "c1"), None, "the AWS controller's");
        let group = t(&[
            (tags::CLUSTER, "c1"),
            (tags::INGRESS_STACK, "ns/web"),
            (tags::MANAGED_BY, tags::MANAGED_BY_VALUE),
        ]);
        assert_ne!(owner_key_of(&group, "c1"), owner_key_of(&mine, "c1"));
    }

    #[test]
    fn kinds_from_arns() {
        let lb = "arn:aws:elasticloadbalancing:us-east-1:123:loadbalancer/net/a/1";
        let tg = "arn:aws:elasticloadbalancing:us-east-1:123:targetgroup/a/1";
        let l = "arn:aws:elasticloadbalancing:us-east-1:123:listener/net/a/1/2";
        assert_eq!(kind_of_arn(lb), Some(ElbKind::LoadBalancer));
        assert_eq!(kind_of_arn(tg), Some(ElbKind::TargetGroup));
        assert_eq!(kind_of_arn(l), None);
        assert_eq!(kind_of_arn("nonsense"), None);
    }

    /// A batch with a missing key fails whole (as ELBv2 does): the rest are still found, one by
    /// one, and the missing ones named.
    #[tokio::test]
    async fn a_missing_key_does_not_hide_the_others() {
        let exists = ["a", "c"];
        let mut calls = 0;
        let keys: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let (found, missing) = describe_each(
            &keys,
            |s: &String| Some(s.as_str()),
            |batch: Vec<String>| {
                calls += 1;
                let all = batch.iter().all(|k| exists.contains(&k.as_str()));
                async move { Ok(all.then_some(batch)) }
            },
        )
        .await
        .unwrap();
        assert_eq!(found, vec!["a", "c"]);
        assert_eq!(missing, vec!["b"]);
        assert_eq!(calls, 4, "one batch, then each of its three");

        let (found, missing) = describe_each(
            &keys,
            |s: &String| Some(s.as_str()),
            |b: Vec<String>| async move { Ok(Some(b)) },
        )
        .await
        .unwrap();
        assert_eq!((found.len(), missing.len()), (3, 0));
        let err = describe_each(
            &keys,
            |s: &String| Some(s.as_str()),
            |_| async { Err::<Option<Vec<String>>, _>(Error::cloud("X", "denied", false)) },
        )
        .await;
        assert!(err.is_err(), "other errors are errors");
    }
}
