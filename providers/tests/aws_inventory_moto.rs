//! The AWS inventory against moto: observing one object costs the same calls however many
//! objects the cluster has, the listing is made once per max age, berth's own writes keep it
//! current, and a stale inventory (too much or too little in it) neither harms nor leaks.
//! Run through `bash localstack/test.sh` (it starts moto and sets `AWS_ENDPOINT_URL`).
#![cfg(feature = "aws")]

mod support;

use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum, Tag as ElbTag,
};
use providers::aws::{inventory::owner_key, tags, AwsProvider, KIND_LB, KIND_TG};
use providers::metrics::{CallCounter, Outcome};
use providers::plan::{Observed, Resource};
use providers::{Error, Provider};
use std::collections::BTreeMap;
use std::time::Duration;
use support::fleet::{line, Fleet};
use support::summary;

fn n(calls: &CallCounter, op: &str) -> u64 {
    calls.by_operation().get(op).copied().unwrap_or(0)
}

/// The calls that failed (a describe of something not there), by operation.
fn failed(calls: &CallCounter) -> BTreeMap<String, u64> {
    calls
        .snapshot()
        .into_iter()
        .filter(|((_, _, outcome), _)| *outcome == Outcome::Error)
        .map(|((_, op, _), n)| (op, n))
        .collect()
}

fn id_of(o: &Observed, kind: &str) -> Vec<String> {
    let mut v: Vec<String> = o
        .resources
        .iter()
        .filter(|r| r.resource.kind == kind)
        .map(|r| r.id.clone())
        .collect();
    v.sort();
    v
}

fn name_of<'a>(desired: &'a [Resource], kind: &str) -> &'a str {
    &desired.iter().find(|r| r.kind == kind).expect(kind).name
}

/// The inventory's ARNs for Service `i` of the fleet, sorted.
fn inventoried(p: &AwsProvider, fleet: &Fleet, i: usize) -> Vec<String> {
    let key = owner_key(&fleet.service(i).object);
    let mut v: Vec<String> = p
        .inventoried()
        .into_iter()
        .filter(|(_, owner)| *owner == key)
        .map(|(arn, _)| arn)
        .collect();
    v.sort();
    v
}

/// The calls of one observe of converged svc-0, by a berth process whose inventory is filled
/// (by observing another Service first).
async fn observe_one(fleet: &Fleet) -> BTreeMap<String, u64> {
    let (p, calls) = fleet.provider();
    let d1 = fleet.desired(&p, 1).await;
    fleet.observe(&p, 1, &d1).await;
    let d0 = fleet.desired(&p, 0).await;
    calls.reset();
    let observed = fleet.observe(&p, 0, &d0).await;
    assert!(p.plan(&d0, &observed).unwrap().changes.is_empty());
    calls.by_operation()
}

#[tokio::test]
async fn observing_one_converged_service_costs_the_same_for_3_and_24_services() {
    let (fleet, p, _) = Fleet::provisioned("inv-k", 3).await;
    let k3 = observe_one(&fleet).await;
    // More than 20 (one DescribeTags batch) and more than one page of nothing: a listing over
    // the region or its tags would show here.
    fleet.provision(&p, 3, 24).await;
    let k24 = observe_one(&fleet).await;
    println!("[calls] observe one of 3 Services: {k3:?}");
    println!("[calls] observe one of 24 Services: {k24:?}");
    assert_eq!(k3, k24, "the same calls whatever the number of Services");
    let get = |op: &str| k3.get(op).copied().unwrap_or(0);
    assert_eq!(
        get("GetResources"),
        0,
        "the inventory was filled: no listing"
    );
    // The load balancer by ARN, its target group by ARN, one DescribeTags for both and the
    // listener: nothing over other Services, no lookup by name.
    assert_eq!(
        (
            get("DescribeLoadBalancers"),
            get("DescribeTargetGroups"),
            get("DescribeTags")
        ),
        (1, 1, 1),
        "{k3:?}"
    );
}

#[tokio::test]
async fn the_listing_is_made_once_per_max_age_and_shared_by_concurrent_observes() {
    let (fleet, setup, _) = Fleet::provisioned("inv-once", 4).await;
    let mut desired = Vec::new();
    for i in 0..4 {
        desired.push(fleet.desired(&setup, i).await);
    }

    let (p, calls) = fleet.provider();
    for _ in 0..2 {
        for (i, d) in desired.iter().enumerate() {
            fleet.observe(&p, i, d).await;
        }
    }
    assert_eq!(n(&calls, "GetResources"), 1, "{}", line(&calls));

    // Concurrent observes of a new process wait for one listing.
    let (p, calls) = fleet.provider();
    let o = |i: usize| fleet.observe(&p, i, &desired[i]);
    tokio::join!(o(0), o(1), o(2), o(3));
    assert_eq!(n(&calls, "GetResources"), 1, "{}", line(&calls));

    // Older than its max age at every observe: listed every time.
    let (p, calls) = fleet.provider_with(|p| p.with_inventory_max_age(Duration::ZERO));
    for (i, d) in desired.iter().enumerate() {
        let o = fleet.observe(&p, i, d).await;
        assert_eq!(id_of(&o, KIND_LB).len(), 1);
    }
    assert_eq!(n(&calls, "GetResources"), 4, "{}", line(&calls));
}

#[tokio::test]
async fn own_creates_and_deletes_update_the_inventory_without_a_listing() {
    let fleet = Fleet::new("inv-own").await;
    let (p, calls) = fleet.provider();
    let d = fleet.desired(&p, 0).await;
    let plan = fleet.sync(&p, 0, Some(&d)).await;
    assert!(summary(&plan).contains(&"Create LoadBalancer".to_string()));
    assert_eq!(n(&calls, "GetResources"), 1, "the first observe lists");
    let mut made: Vec<String> = support::tagged(&fleet.elb, &fleet.cluster)
        .await
        .into_iter()
        .map(|(arn, _)| arn)
        .collect();
    made.sort();
    assert_eq!(made.len(), 2, "a load balancer and a target group");
    assert_eq!(
        inventoried(&p, &fleet, 0),
        made,
        "the creates were recorded"
    );

    calls.reset();
    let o = fleet.observe(&p, 0, &d).await;
    assert!(p.plan(&d, &o).unwrap().changes.is_empty());
    assert_eq!(n(&calls, "GetResources"), 0, "{}", line(&calls));
    assert_eq!(
        failed(&calls),
        BTreeMap::new(),
        "found by ARN, nothing by name"
    );

    fleet.sync(&p, 0, None).await;
    assert!(
        inventoried(&p, &fleet, 0).is_empty(),
        "the deletes were recorded"
    );
    calls.reset();
    let o = fleet.observe(&p, 0, &d).await;
    assert!(id_of(&o, KIND_LB).is_empty() && id_of(&o, KIND_TG).is_empty());
    assert_eq!(n(&calls, "GetResources"), 0, "{}", line(&calls));
    // Only the desired names were looked for: no ARN of the deleted ones was described.
    assert_eq!(n(&calls, "DescribeLoadBalancers"), 1, "{}", line(&calls));
    let names_only = [("DescribeLoadBalancers", 1), ("DescribeTargetGroups", 1)];
    assert_eq!(
        failed(&calls),
        names_only.map(|(k, v)| (k.to_string(), v)).into(),
        "only the lookups by name found nothing"
    );
}

#[tokio::test]
async fn a_load_balancer_and_target_group_deleted_behind_berths_back_are_recreated() {
    let (fleet, p, calls) = Fleet::provisioned("inv-gone", 1).await;
    let d = fleet.desired(&p, 0).await;
    let o = fleet.observe(&p, 0, &d).await;
    let (lb, tg) = (id_of(&o, KIND_LB), id_of(&o, KIND_TG));
    let elb = &fleet.elb;
    elb.delete_load_balancer()
        .load_balancer_arn(&lb[0])
        .send()
        .await
        .expect("DeleteLoadBalancer");
    elb.delete_target_group()
        .target_group_arn(&tg[0])
        .send()
        .await
        .expect("DeleteTargetGroup");

    let o = fleet.observe(&p, 0, &d).await;
    assert!(id_of(&o, KIND_LB).is_empty() && id_of(&o, KIND_TG).is_empty());
    assert!(inventoried(&p, &fleet, 0).is_empty(), "gone: dropped");
    let plan = p.plan(&d, &o).unwrap();
    assert_eq!(
        summary(&plan),
        [
            "Create LoadBalancer",
            "Create TargetGroup",
            "Create Listener"
        ]
    );
    p.apply(&plan, &o).await.expect("apply");
    calls.reset();
    let o = fleet.observe(&p, 0, &d).await;
    assert!(
        p.plan(&d, &o).unwrap().changes.is_empty(),
        "converged again"
    );
    assert_ne!(id_of(&o, KIND_LB), lb, "a new load balancer");
    assert_eq!(calls.mutating(), 0);
}

#[tokio::test]
async fn same_named_foreign_load_balancer_and_target_group_are_conflicts_left_untouched() {
    let fleet = Fleet::new("inv-foreign").await;
    let (p, calls) = fleet.provider();
    let d = fleet.desired(&p, 0).await;
    let (lb_name, tg_name) = (name_of(&d, KIND_LB), name_of(&d, KIND_TG));
    let subnets = support::Vpc::create(&fleet.sdk, "elsewhere", &["us-east-1a"]).await;
    let tag = |k: &str, v: &str| ElbTag::builder().key(k).value(v).build();
    let lb = fleet
        .elb
        .create_load_balancer()
        .name(lb_name)
        .r#type(LoadBalancerTypeEnum::Network)
        .scheme(LoadBalancerSchemeEnum::Internal)
        .subnets(&subnets.subnets[0].1)
        .tags(tag("owner", "someone-else"))
        .send()
        .await
        .expect("CreateLoadBalancer");
    let lb = lb.load_balancers()[0].load_balancer_arn().unwrap();
    // Tagged for this cluster and stack, but not by berth: still not berth's.
    let tg = fleet
        .elb
        .create_target_group()
        .name(tg_name)
        .protocol(ProtocolEnum::Tcp)
        .port(30080)
        .vpc_id(&fleet.vpc)
        .tags(tag(tags::CLUSTER, &fleet.cluster))
        .tags(tag(tags::STACK, &fleet.service(0).object.stack()))
        .send()
        .await
        .expect("CreateTargetGroup");
    let tg = tg.target_groups()[0].target_group_arn().unwrap();

    calls.reset();
    let o = fleet.observe(&p, 0, &d).await;
    let foreign = |kind: &str, name: &str| o.foreign.get(&(kind.into(), name.into())).cloned();
    assert_eq!(foreign(KIND_LB, lb_name).as_deref(), Some(lb));
    assert_eq!(foreign(KIND_TG, tg_name).as_deref(), Some(tg));
    let err = p.plan(&d, &o).expect_err("a conflict, decided by the plan");
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(calls.mutating(), 0, "{}", line(&calls));
    assert!(
        p.inventoried().is_empty(),
        "not berth's: not in the inventory"
    );
}

#[tokio::test]
async fn resources_berth_owns_that_the_inventory_missed_are_found_and_deleted() {
    let fleet = Fleet::new("inv-missed").await;
    let (a, calls) = fleet.provider();
    let d0 = fleet.desired(&a, 0).await;
    let o = fleet.observe(&a, 0, &d0).await;
    assert!(o.resources.iter().all(|r| r.resource.kind != KIND_LB));
    // Another berth process (a new leader, an older one) makes svc-0 and svc-1 after this
    // process filled its inventory.
    let (b, _) = fleet.provider();
    fleet.provision(&b, 0, 2).await;

    calls.reset();
    let o = fleet.observe(&a, 0, &d0).await;
    let plan = a.plan(&d0, &o).unwrap();
    assert!(
        plan.changes.is_empty(),
        "found by name with berth's tags: {plan:?}"
    );
    assert_eq!(n(&calls, "GetResources"), 0, "no listing was needed");
    assert_eq!(
        inventoried(&a, &fleet, 0).len(),
        2,
        "adopted into the inventory"
    );

    // svc-1's deletion: this process never saw it, and a deletion names nothing.
    assert!(inventoried(&a, &fleet, 1).is_empty());
    let plan = fleet.sync(&a, 1, None).await;
    assert!(summary(&plan).contains(&"Delete LoadBalancer".to_string()));
    assert!(summary(&plan).contains(&"Delete TargetGroup".to_string()));
    fleet.sync(&a, 0, None).await;
    let left = support::tagged(&fleet.elb, &fleet.cluster).await;
    assert!(left.is_empty(), "nothing leaked: {left:?}");
}
