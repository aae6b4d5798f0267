//! The owner's load balancers and target groups for observe: where the inventory says they are
//! and by the names the desired state wants, described now, their tags read now (the ownership
//! check on fresh data), sorted into ours and same-named foreign ones.

use super::Scope;
use crate::aws::client::AwsProvider;
use crate::aws::convert::Tags;
use crate::aws::inventory::{describe_each, By};
use crate::aws::kinds::{is_our_target_group, is_our_type};
use crate::aws::{tags, KIND_LB, KIND_TG};
use crate::error::Result;
use crate::plan::Observed;
use aws_sdk_elasticloadbalancingv2::types::{Listener, LoadBalancer, TargetGroup};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

/// Of load balancers or target groups (`kind`), described fresh with `tags` (their fresh tags):
/// those of our type that carry the owner's tags; the others that the desired state names are
/// recorded as foreign.
fn sort_out<T>(
    candidates: Vec<T>,
    kind: &str,
    arn_name: impl Fn(&T) -> (Option<&str>, Option<&str>),
    our_type: impl Fn(&T) -> bool,
    tags: &BTreeMap<String, Tags>,
    scope: &Scope<'_>,
    observed: &mut Observed,
) -> Vec<(T, Tags)> {
    let mut owned = Vec::new();
    for x in candidates {
        let (Some(arn), Some(name)) = arn_name(&x) else {
            continue;
        };
        let t = tags.get(arn).cloned().unwrap_or_default();
        if our_type(&x) && tags::owned_by_owner(&t, scope.cluster, scope.owner) {
            owned.push((x, t));
        } else if scope.wanted.get(kind, name).is_some() {
            observed
                .foreign
                .insert((kind.to_string(), name.to_string()), arn.to_string());
        }
    }
    owned
}

type Owned<T> = Vec<(T, Tags)>;

/// What [`AwsProvider::owned_lbs_and_tgs`] found.
pub(super) struct Found {
    pub lbs: Owned<LoadBalancer>,
    pub tgs: Owned<TargetGroup>,
    /// The listeners of our load balancers, by load balancer ARN.
    pub listeners: BTreeMap<String, Vec<Listener>>,
    /// The tags read, by ARN (load balancers, target groups, listeners).
    pub tags: BTreeMap<String, Tags>,
}

fn lb_keys(lb: &LoadBalancer) -> (Option<&str>, Option<&str>) {
    (lb.load_balancer_arn(), lb.load_balancer_name())
}

fn tg_keys(tg: &TargetGroup) -> (Option<&str>, Option<&str>) {
    (tg.target_group_arn(), tg.target_group_name())
}

impl AwsProvider {
    /// The owner's load balancers and target groups, with their tags read now: the inventory's
    /// ARNs and the desired names not among them, described, the listeners of those of our
    /// type, then one DescribeTags for all of them (the ownership check on fresh data; listeners
    /// are only read before it). The inventory follows what was read: what turned out ours is
    /// remembered (found by name: made by an earlier berth, or missed by a lagging listing),
    /// what is gone or no longer ours is forgotten.
    pub(super) async fn owned_lbs_and_tgs(
        &self,
        scope: &Scope<'_>,
        alb: bool,
        observed: &mut Observed,
    ) -> Result<Found> {
        // Deletion knows no names to look for: everything the owner has must come from a
        // listing made now, not from one up to a resync period old.
        let deleting = scope.wanted.by_name.is_empty();
        let (lb_arns, tg_arns) = self.inventory_of(scope.owner, deleting).await?;
        let lbs = self
            .described(&lb_arns, scope.wanted.names(KIND_LB), lb_keys, |by, k| {
                self.lbs_by(by, k)
            })
            .await?;
        let tgs = self
            .described(&tg_arns, scope.wanted.names(KIND_TG), tg_keys, |by, k| {
                self.tgs_by(by, k)
            })
            .await?;
        let our_lb = |lb: &LoadBalancer| is_our_type(lb, alb);
        let mut listeners = BTreeMap::new();
        for arn in lbs
            .iter()
            .filter(|x| our_lb(x))
            .filter_map(|x| lb_keys(x).0)
        {
            listeners.insert(arn.to_string(), self.listeners_of(arn).await?);
        }
        let arns: Vec<String> = (lbs.iter().map(|x| lb_keys(x).0))
            .chain(tgs.iter().map(|x| tg_keys(x).0))
            .chain(listeners.values().flatten().map(|l| l.listener_arn()))
            .flatten()
            .map(String::from)
            .collect();
        let mut tags = self.tags_of(&arns).await?;
        // Asked for and not answered: no tags (not worth asking again).
        for arn in arns {
            tags.entry(arn).or_default();
        }
        let owned_lbs = sort_out(lbs, KIND_LB, lb_keys, our_lb, &tags, scope, observed);
        let our_tg = |tg: &TargetGroup| is_our_target_group(tg, alb);
        let owned_tgs = sort_out(tgs, KIND_TG, tg_keys, our_tg, &tags, scope, observed);
        let owned: BTreeMap<&str, &Tags> = (owned_lbs.iter().map(|(x, t)| (lb_keys(x).0, t)))
            .chain(owned_tgs.iter().map(|(x, t)| (tg_keys(x).0, t)))
            .filter_map(|(arn, t)| Some((arn?, t)))
            .collect();
        for arn in lb_arns.iter().chain(&tg_arns) {
            if !owned.contains_key(arn.as_str()) {
                self.forget(arn);
            }
        }
        for (arn, t) in &owned {
            self.remember(arn, t);
        }
        listeners.retain(|arn, _| owned.contains_key(arn.as_str()));
        Ok(Found {
            lbs: owned_lbs,
            tgs: owned_tgs,
            listeners,
            tags,
        })
    }

    /// The inventory's `arns` described (those gone are dropped from it), then the wanted
    /// `names` not found among them, by name: a same-named resource is someone else's (a
    /// conflict) or ours without the inventory knowing (the tags decide).
    async fn described<T, F, Fut>(
        &self,
        arns: &[String],
        names: Vec<&str>,
        keys: impl Fn(&T) -> (Option<&str>, Option<&str>) + Copy,
        by: F,
    ) -> Result<Vec<T>>
    where
        F: Fn(By, Vec<String>) -> Fut,
        Fut: Future<Output = Result<Option<Vec<T>>>>,
    {
        let (mut found, gone) = describe_each(arns, |x| keys(x).0, |k| by(By::Arns, k)).await?;
        for arn in &gone {
            self.forget(arn);
        }
        let names: Vec<String> = {
            let have: BTreeSet<&str> = found.iter().filter_map(|x| keys(x).1).collect();
            names
                .into_iter()
                .filter(|n| !have.contains(n))
                .map(String::from)
                .collect()
        };
        if names.is_empty() {
            return Ok(found);
        }
        let (by_name, _) = describe_each(&names, |x| keys(x).1, |k| by(By::Names, k)).await?;
        let known: BTreeSet<String> = (found.iter().filter_map(|x| keys(x).0))
            .map(String::from)
            .collect();
        found.extend(
            by_name
                .into_iter()
                .filter(|x| keys(x).0.is_some_and(|a| !known.contains(a))),
        );
        Ok(found)
    }
}
