//! One group's reconciliation: members -> policies -> desired_group -> observe -> plan ->
//! apply -> finalizers and status of every member.

use super::*;

/// Exponential back-off, as for Services.
pub use crate::controller::common::backoff;
use crate::controller::common::{conflict, counts, measured};

/// What a reconciliation did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: Vec<String>,
    pub rejected: Vec<String>,
    pub released: Vec<String>,
    pub address: Option<String>,
    /// The cloud is still doing some of it: come back soon.
    pub pending: bool,
}

/// Reconciles one group; records metrics; on error reports on the live members.
pub async fn reconcile(group: Arc<IngressGroupRef>, ctx: Arc<IngressContext>) -> Result<Action> {
    let gk = GroupKey::of(&group);
    let span = tracing::info_span!("reconcile", group = %gk);
    async move {
        let key = IngressContext::failure_key(&gk);
        match measured(&ctx.base, &key, reconcile_group(&gk, &ctx)).await {
            Ok(o) if o.pending => Ok(Action::requeue(crate::controller::common::PENDING_REQUEUE)),
            Ok(_) => Ok(Action::requeue(ctx.base.resync)),
            Err(e) => {
                if conflict(&e) {
                    tracing::debug!(error = %e, "conflict; retrying");
                } else {
                    warn!(error = %e, reason = e.reason(), "group reconcile failed");
                    report_group_error(&gk, &ctx, &e).await;
                }
                Err(e)
            }
        }
    }
    .instrument(span)
    .await
}

pub fn error_policy(group: Arc<IngressGroupRef>, err: &Error, ctx: Arc<IngressContext>) -> Action {
    let k = IngressContext::failure_key(&GroupKey::of(&group));
    crate::controller::common::requeue_after(err, &ctx.base, &k)
}

/// A live member, and the reason the operator itself rejects it (an invalid group name).
pub(super) type LiveMember = (Arc<Ingress>, Option<providers::Error>);

/// The members of a group as the cache has them: (live ones, with a rejection found by the
/// operator itself; every Ingress involved in the group).
pub(super) fn members_of(
    gk: &GroupKey,
    ctx: &IngressContext,
) -> (Vec<LiveMember>, Vec<Arc<Ingress>>) {
    let classes = ctx.class_list();
    let mut involved: Vec<Arc<Ingress>> = ctx
        .ingresses
        .state()
        .into_iter()
        .filter(|i| groups_of(i, &ctx.selection, &classes).contains(gk))
        .collect();
    involved.sort_by_key(|i| key(i));
    let live = involved
        .iter()
        .filter_map(|i| match wanted_group(i, &ctx.selection, &classes) {
            Some((g, err)) if &g == gk => Some((i.clone(), err)),
            _ => None,
        })
        .collect();
    (live, involved)
}

/// Builds the cloud-neutral group from the live, not operator-rejected members (backends
/// resolved to Service ports and ready endpoints, eligible nodes).
pub(super) fn gather(
    gk: &GroupKey,
    members: &[Arc<Ingress>],
    ctx: &IngressContext,
) -> IngressGroup {
    let services: Vec<Service> = ctx.services.state().iter().map(|s| (**s).clone()).collect();
    let nodes: Vec<Node> = ctx.nodes.state().iter().map(|n| (**n).clone()).collect();
    let slices: Option<Vec<EndpointSlice>> = ctx
        .slices
        .as_ref()
        .map(|s| s.state().iter().map(|x| (**x).clone()).collect());
    let pods: Vec<Pod> = ctx
        .pods
        .as_ref()
        .map(|p| p.state().iter().map(|x| (**x).clone()).collect())
        .unwrap_or_default();
    let snapshot = crate::gather::ingress::Snapshot {
        ingresses: &[],
        classes: &[],
        services: &services,
        slices: slices.as_deref(),
        nodes: &nodes,
        pods: &pods,
        cluster: &ctx.base.cluster,
    };
    let mut group = snapshot.group(&ctx.selection, &gk.owner());
    group.members = members.iter().map(|i| snapshot.member(i)).collect();
    group
}

/// gather -> desired_group -> observe -> plan -> apply -> report.
pub async fn reconcile_group(gk: &GroupKey, ctx: &IngressContext) -> Result<Outcome> {
    let finalizer = gk.finalizer(ctx.selection.profile);
    let owner = gk.owner();
    let (live, involved) = members_of(gk, ctx);
    let mut rejected: Vec<(Arc<Ingress>, Error)> = Vec::new();
    // (the member, the member as the provider sees it: its LoadBalancerPolicy's defaults merged
    // into its annotations).
    let mut candidates: Vec<(Arc<Ingress>, Arc<Ingress>)> = Vec::new();
    // The policies, before any cloud call (fails closed until they are loaded); only needed
    // when some member may be served.
    let policies = if live.iter().any(|(_, e)| e.is_none()) {
        crate::policy::snapshot(ctx.base.policies.as_ref(), ctx.base.policy_wait).await?
    } else {
        None
    };
    let classes = ctx.class_list();
    for (ing, err) in live {
        if let Some(e) = err {
            rejected.push((ing, e.into()));
            continue;
        }
        let Some(policies) = &policies else {
            candidates.push((ing.clone(), ing));
            continue;
        };
        match crate::policy::effective_ingress_annotations(
            policies,
            &ing,
            &classes,
            ctx.base.selection.profile.policy.as_ref(),
        ) {
            Ok(annotations) => {
                let mut effective = (*ing).clone();
                effective.metadata.annotations = Some(annotations);
                candidates.push((ing, Arc::new(effective)));
            }
            Err(v) => rejected.push((ing, Error::Policy(v))),
        }
    }

    let mut desired = if candidates.is_empty() {
        GroupDesired::default()
    } else {
        let effective: Vec<Arc<Ingress>> = candidates.iter().map(|(_, e)| e.clone()).collect();
        let group = gather(gk, &effective, ctx);
        ctx.base.provider.desired_group(&group).await?
    };
    let notes = std::mem::take(&mut desired.notes);
    let mut by_member: HashMap<FeRef, providers::Error> = HashMap::new();
    for (r, e) in desired.rejected {
        by_member.insert(r, e);
    }
    let mut accepted: Vec<Arc<Ingress>> = Vec::new();
    for (ing, _) in candidates {
        match by_member.remove(&member_ref(&ing)) {
            Some(e) => rejected.push((ing, e.into())),
            None => accepted.push(ing),
        }
    }
    let resources = if accepted.is_empty() {
        Vec::new()
    } else {
        desired.resources
    };
    // Every live member rejected: change nothing in the cloud (applying nothing would delete a
    // load balancer that the fix brings straight back; see `GroupDesired::converge`). No live
    // member at all: converge to nothing (deletion).
    let converge = !accepted.is_empty() || rejected.is_empty();

    let holds = |i: &Ingress| i.finalizers().contains(&finalizer);
    let needs_cloud = converge && (!accepted.is_empty() || involved.iter().any(|i| holds(i)));
    let mut outcome = Outcome {
        accepted: accepted.iter().map(|i| key(i)).collect(),
        rejected: rejected.iter().map(|(i, _)| key(i)).collect(),
        ..Default::default()
    };

    let mut address = None;
    let mut provider_annotations = std::collections::BTreeMap::new();
    let mut changed = false;
    if needs_cloud {
        // The finalizer goes on before any cloud write that serves the member.
        for ing in accepted.iter().filter(|i| !holds(i)) {
            set_finalizer(ctx, ing, &finalizer, true).await?;
        }
        let observed = ctx
            .base
            .provider
            .observe(&owner, &ctx.base.cluster, &resources)
            .await?;
        let plan = ctx.base.provider.plan(&resources, &observed)?;
        changed = !plan.is_empty();
        if changed {
            let summary = counts(&plan);
            info!(changes = %summary, accepted = accepted.len(), rejected = rejected.len(), "ensuring group load balancer");
            for ing in &accepted {
                event(
                    ctx,
                    ing,
                    EventType::Normal,
                    "Ensuring",
                    format!("Ensuring load balancer of IngressGroup {gk}: {summary}"),
                )
                .await;
            }
        }
        let applied = ctx.base.provider.apply(&plan, &observed).await?;
        if accepted.is_empty() {
            // The group is going: cloud work still pending keeps the finalizers on.
            if let Some(e) = applied.in_progress() {
                return Err(e.into());
            }
        }
        outcome.pending = !applied.pending.is_empty();
        address = applied.address;
        provider_annotations = applied.annotations;
        // Everything the group no longer serves is gone: let go of those members.
        for ing in involved.iter().filter(|i| holds(i)) {
            if !accepted.iter().any(|a| a.metadata.uid == ing.metadata.uid) {
                set_finalizer(ctx, ing, &finalizer, false).await?;
                outcome.released.push(key(ing));
            }
        }
    }
    outcome.address = match &address {
        Some(Address::Hostname(h)) => Some(h.to_ascii_lowercase()),
        Some(Address::Ip(ip)) => Some(ip.clone()),
        None => None,
    };

    // Report.
    let message = match &outcome.address {
        Some(a) => format!("IngressGroup {gk}: load balancer {a} is provisioned"),
        None => format!("IngressGroup {gk}: load balancer resources are provisioned"),
    };
    for ing in &accepted {
        let lb = match &address {
            Some(a) => LbStatus::Set(a.clone()),
            None => LbStatus::Keep,
        };
        let patched_status = update_status(ctx, ing, &lb).await?;
        update_annotations(ctx, ing, &provider_annotations).await?;
        let cond = Condition::new(ing, true, "Ensured", &message);
        let patched_cond = update_condition(ctx, ing, Some(&cond)).await?;
        if changed || patched_status || patched_cond {
            event(ctx, ing, EventType::Normal, "Ensured", message.clone()).await;
            for (_, note) in notes.iter().filter(|(o, _)| *o == member_ref(ing)) {
                event(
                    ctx,
                    ing,
                    EventType::Warning,
                    "ReadinessProbeNotUsed",
                    note.clone(),
                )
                .await;
            }
        }
    }
    for (ing, err) in &rejected {
        let msg = format!("left out of IngressGroup {gk}: {err}");
        // Left out of a converged group, it is no longer served; otherwise nothing changed.
        let lb = if converge {
            LbStatus::Clear
        } else {
            LbStatus::Keep
        };
        update_status(ctx, ing, &lb).await?;
        let cond = Condition::new(ing, false, err.reason(), &msg);
        if update_condition(ctx, ing, Some(&cond)).await? {
            event(ctx, ing, EventType::Warning, err.reason(), msg).await;
        }
    }
    // Members that left this group but not for another one: berth no longer serves them.
    for ing in &involved {
        let gone_elsewhere = ing.metadata.deletion_timestamp.is_some()
            || wanted_group(ing, &ctx.selection, &classes).is_some();
        if !gone_elsewhere {
            update_status(ctx, ing, &LbStatus::Clear).await?;
            update_condition(ctx, ing, None).await?;
        }
    }
    ctx.base
        .metrics
        .set_managed(&IngressContext::failure_key(gk), outcome.address.is_some());
    Ok(outcome)
}

/// A group-wide failure (cloud API, discovery): every live member is told, nothing else moves.
pub(super) async fn report_group_error(gk: &GroupKey, ctx: &IngressContext, e: &Error) {
    let (live, _) = members_of(gk, ctx);
    let msg = format!("IngressGroup {gk}: {e}");
    for (ing, _) in live {
        let t = crate::controller::common::event_type(e);
        event(ctx, &ing, t, e.reason(), msg.clone()).await;
        let cond = Condition::new(&ing, false, e.reason(), &msg);
        if let Err(ke) = update_condition(ctx, &ing, Some(&cond)).await {
            warn!(error = %ke, "could not update the status annotation");
        }
    }
}
