//! The Ingress controller: `networking.k8s.io/v1` Ingresses of a class berth serves are put into
//! IngressGroups (`alb.ingress.kubernetes.io/group.name`, or one group per Ingress), and every
//! group gets one L7 load balancer, kept converged, and deleted with its last member.
//!
//! The unit of work is the GROUP, not the Ingress: a kube-runtime Controller runs over a
//! synthetic [`IngressGroupRef`] resource whose cache ([`GroupIndex`]) is derived from the
//! Ingress cache. Every trigger is mapped to the group keys it affects, so the runtime dedupes
//! them and never reconciles one group twice at once:
//! - an Ingress change -> the group it asks for and every group whose finalizer it carries (a
//!   member that moved, was deselected or is being deleted is cleaned up by its old group);
//! - a Service or EndpointSlice change -> the groups of the Ingresses in that namespace that
//!   name the Service (in a backend or in an `actions.*` annotation);
//! - a relevant Node change, any IngressClass change or a LoadBalancerPolicy spec change (seen
//!   in the Service controller's policy cache) -> every group;
//! - a periodic resync per group (drift in the cloud).
//!
//! Reconciling a group: gather (members, backends, nodes) -> each member's LoadBalancerPolicy
//! (a member it forbids is rejected; the others get its defaults merged into their annotations)
//! -> `provider.desired_group` (which accepts some members and rejects others with a reason) -> observe (owner: the group) -> plan
//! -> apply -> report. Accepted members get `status.loadBalancer.ingress[0].hostname`; rejected
//! members get a Warning Event, their hostname cleared and a False condition; the others still
//! converge. The Ingress API has no `status.conditions`, so the condition is kept in the
//! annotation [`STATUS_ANNOTATION`] (JSON), which berth alone writes and ignores as a trigger.
//!
//! Finalizers (the aws-load-balancer-controller's, so clusters can migrate):
//! `group.ingress.k8s.aws/<group>` for explicit groups, `ingress.k8s.aws/resources` for implicit
//! ones. An accepted member gets it before any cloud write; any other member loses it only after
//! a successful apply of the group without it (its rules and its unshared target groups are then
//! gone). A group with no accepted member has no load balancer.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::gather::SERVICE_NAME_LABEL;
use crate::report;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use providers::frontend::{FrontendKind, ObjectRef as FeRef};
use providers::ingress::{GroupDesired, IngressGroup};
use providers::plan::Action as PlanAction;
use providers::{Address, Plan};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn, Instrument};

/// The aws-load-balancer-controller's finalizer of an Ingress in an implicit (one-Ingress) group.
pub const FINALIZER_IMPLICIT: &str = "ingress.k8s.aws/resources";
/// Prefix of its finalizer for a member of an explicit group: `group.ingress.k8s.aws/<group>`.
pub const FINALIZER_GROUP_PREFIX: &str = "group.ingress.k8s.aws/";
/// Prefix of the ALB `actions.<name>` annotations (they may name backend Services).
pub const ACTIONS_ANNOTATION_PREFIX: &str = "alb.ingress.kubernetes.io/actions.";
pub use crate::gather::ingress::{
    IngressSelection, CONTROLLER_AWS, CONTROLLER_BERTH, DEFAULT_CLASS_ANNOTATION,
    GROUP_NAME_ANNOTATION, LEGACY_CLASS_ANNOTATION,
};
/// Where berth keeps its condition on an Ingress (the Ingress API has no status.conditions):
/// JSON `{"type","status","reason","message","observedGeneration"}`.
pub const STATUS_ANNOTATION: &str = "berth.dev/status";
/// Maximum length of a group name (it becomes a finalizer's name part).
const MAX_GROUP_NAME: usize = 63;
/// Requeue after an API conflict (a stale cache, or two groups editing one Ingress's finalizers).
const CONFLICT_REQUEUE: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------- selection and groups

/// An IngressGroup: explicit (`group.name`, cluster-wide) or implicit (one Ingress).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKey {
    Explicit(String),
    Implicit { namespace: String, name: String },
}

impl GroupKey {
    pub fn finalizer(&self) -> String {
        match self {
            GroupKey::Explicit(g) => format!("{FINALIZER_GROUP_PREFIX}{g}"),
            GroupKey::Implicit { .. } => FINALIZER_IMPLICIT.into(),
        }
    }

    /// The owner of the group's cloud resources (providers' `IngressGroup::object`).
    pub fn owner(&self) -> FeRef {
        let (namespace, name) = match self {
            GroupKey::Explicit(g) => (String::new(), g.clone()),
            GroupKey::Implicit { namespace, name } => (namespace.clone(), name.clone()),
        };
        FeRef {
            kind: FrontendKind::IngressGroup,
            namespace,
            name,
        }
    }

    /// The key in the controller's queue: an explicit group has no namespace.
    pub fn to_ref(&self) -> ObjectRef<IngressGroupRef> {
        match self {
            GroupKey::Explicit(g) => ObjectRef::new(g),
            GroupKey::Implicit { namespace, name } => ObjectRef::new(name).within(namespace),
        }
    }

    pub fn of(group: &IngressGroupRef) -> GroupKey {
        let name = group.metadata.name.clone().unwrap_or_default();
        match &group.metadata.namespace {
            Some(ns) => GroupKey::Implicit {
                namespace: ns.clone(),
                name,
            },
            None => GroupKey::Explicit(name),
        }
    }

    /// The groups whose finalizers an Ingress carries.
    pub fn from_finalizers(ing: &Ingress) -> Vec<GroupKey> {
        ing.finalizers()
            .iter()
            .filter_map(|f| {
                if f == FINALIZER_IMPLICIT {
                    Some(GroupKey::Implicit {
                        namespace: namespace(ing),
                        name: ing.name_any(),
                    })
                } else {
                    f.strip_prefix(FINALIZER_GROUP_PREFIX)
                        .map(|g| GroupKey::Explicit(g.to_string()))
                }
            })
            .collect()
    }
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupKey::Explicit(g) => write!(f, "{g}"),
            GroupKey::Implicit { namespace, name } => write!(f, "{namespace}/{name}"),
        }
    }
}

fn namespace(ing: &Ingress) -> String {
    ing.metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into())
}

/// `namespace/name` of an Ingress.
pub fn key(ing: &Ingress) -> String {
    format!("{}/{}", namespace(ing), ing.name_any())
}

/// The providers' reference to an Ingress (what `GroupDesired::rejected` names).
pub fn member_ref(ing: &Ingress) -> FeRef {
    FeRef {
        kind: FrontendKind::Ingress,
        namespace: namespace(ing),
        name: ing.name_any(),
    }
}

/// The group an Ingress asks to be in, and whether its `group.name` is usable. An invalid
/// group name puts the Ingress in its own implicit group, rejected there with the reason.
pub fn group_of(ing: &Ingress) -> (GroupKey, Option<providers::Error>) {
    let implicit = GroupKey::Implicit {
        namespace: namespace(ing),
        name: ing.name_any(),
    };
    let Some(raw) = ing.annotations().get(GROUP_NAME_ANNOTATION) else {
        return (implicit, None);
    };
    let g = raw.trim();
    if providers::aws::alb::annotations::valid_group_name(g) {
        (GroupKey::Explicit(g.to_string()), None)
    } else {
        let err = providers::Error::InvalidAnnotation {
            object: member_ref(ing),
            annotation: GROUP_NAME_ANNOTATION.into(),
            value: raw.clone(),
            expected: format!("expected at most {MAX_GROUP_NAME} lower-case letters, digits, '-' or '.', starting and ending with a letter or digit"),
        };
        (implicit, Some(err))
    }
}

/// The group a selected, not-deleting Ingress is a live member of.
pub fn wanted_group(
    ing: &Ingress,
    sel: &IngressSelection,
    classes: &[IngressClass],
) -> Option<(GroupKey, Option<providers::Error>)> {
    (ing.metadata.deletion_timestamp.is_none() && sel.selects(ing, classes)).then(|| group_of(ing))
}

/// Every group an Ingress is involved in: the one it wants, and those whose finalizer it holds.
pub fn groups_of(
    ing: &Ingress,
    sel: &IngressSelection,
    classes: &[IngressClass],
) -> BTreeSet<GroupKey> {
    let mut out: BTreeSet<GroupKey> = GroupKey::from_finalizers(ing).into_iter().collect();
    if let Some((g, _)) = wanted_group(ing, sel, classes) {
        out.insert(g);
    }
    out
}

/// Whether an Ingress names the Service `name` (same namespace): in a backend or in an
/// `actions.*` annotation (weighted forwards name Services).
pub fn references_service(ing: &Ingress, ns: &str, name: &str) -> bool {
    if namespace(ing) != ns {
        return false;
    }
    let spec = ing.spec.as_ref();
    let backend_is = |b: &k8s_openapi::api::networking::v1::IngressBackend| {
        b.service.as_ref().is_some_and(|s| s.name == name)
    };
    let in_spec = spec.is_some_and(|s| {
        s.default_backend.as_ref().is_some_and(backend_is)
            || s.rules.iter().flatten().any(|r| {
                r.http
                    .as_ref()
                    .is_some_and(|h| h.paths.iter().any(|p| backend_is(&p.backend)))
            })
    });
    let quoted = format!("\"{name}\"");
    in_spec
        || ing
            .annotations()
            .iter()
            .any(|(k, v)| k.starts_with(ACTIONS_ANNOTATION_PREFIX) && v.contains(&quoted))
}

// ---------------------------------------------------------------- the synthetic group resource

/// A group as a (never stored) Kubernetes-like object, so that the kube-runtime Controller can
/// queue, dedupe and serialize reconciliations per group. Name = group name (explicit, no
/// namespace) or the Ingress's name (implicit, in its namespace).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IngressGroupRef {
    pub metadata: ObjectMeta,
}

impl k8s_openapi::Resource for IngressGroupRef {
    const API_VERSION: &'static str = "berth.dev/v1";
    const GROUP: &'static str = "berth.dev";
    const KIND: &'static str = "IngressGroup";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "ingressgroups";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for IngressGroupRef {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl IngressGroupRef {
    pub fn new(key: &GroupKey) -> Self {
        let metadata = match key {
            GroupKey::Explicit(g) => ObjectMeta {
                name: Some(g.clone()),
                ..Default::default()
            },
            GroupKey::Implicit { namespace, name } => ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
        };
        IngressGroupRef { metadata }
    }
}

/// Keeps the groups' cache in step with the Ingress cache, and says which groups an Ingress
/// event affects (only when something relevant changed).
pub struct GroupIndex {
    writer: reflector::store::Writer<IngressGroupRef>,
    /// Ingress `namespace/name` -> (relevance hash, groups it was involved in).
    seen: HashMap<String, (u64, BTreeSet<GroupKey>)>,
    /// Buffer of a (re)list.
    init: HashMap<String, (u64, BTreeSet<GroupKey>)>,
    /// Every group with at least one Ingress involved, and how many.
    groups: BTreeMap<GroupKey, usize>,
    ready: bool,
}

/// A hash of what a reconcile depends on in an Ingress: everything but its status, berth's
/// status annotation and the bookkeeping metadata (finalizers are berth's own writes; the
/// groups they name are tracked separately).
pub fn relevant(ing: &Ingress) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ing.metadata.uid.hash(&mut h);
    let mut ann = ing.annotations().clone();
    ann.remove(STATUS_ANNOTATION);
    ann.hash(&mut h);
    ing.metadata.labels.hash(&mut h);
    ing.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .hash(&mut h);
    serde_json::to_string(&ing.spec)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

impl GroupIndex {
    pub fn new(writer: reflector::store::Writer<IngressGroupRef>) -> Self {
        GroupIndex {
            writer,
            seen: HashMap::new(),
            init: HashMap::new(),
            groups: BTreeMap::new(),
            ready: false,
        }
    }

    fn rebuild(&mut self) {
        let mut groups = BTreeMap::new();
        for (_, gs) in self.seen.values() {
            for g in gs {
                *groups.entry(g.clone()).or_insert(0) += 1;
            }
        }
        self.writer.apply_watcher_event(&watcher::Event::Init);
        for g in groups.keys() {
            self.writer
                .apply_watcher_event(&watcher::Event::InitApply(IngressGroupRef::new(g)));
        }
        self.writer.apply_watcher_event(&watcher::Event::InitDone);
        self.groups = groups;
        self.ready = true;
    }

    /// Replaces what is known of one Ingress; keeps the group counts and the groups' cache in
    /// step (groups are added before old ones are dropped, so a group never blinks out).
    fn replace(
        &mut self,
        k: String,
        entry: Option<(u64, BTreeSet<GroupKey>)>,
    ) -> Option<(u64, BTreeSet<GroupKey>)> {
        if let Some((_, gs)) = &entry {
            for g in gs {
                let n = self.groups.entry(g.clone()).or_insert(0);
                if *n == 0 {
                    self.writer
                        .apply_watcher_event(&watcher::Event::Apply(IngressGroupRef::new(g)));
                }
                *n += 1;
            }
        }
        let old = match entry {
            Some(e) => self.seen.insert(k, e),
            None => self.seen.remove(&k),
        };
        for g in old.iter().flat_map(|o| o.1.iter()) {
            if let Some(n) = self.groups.get_mut(g) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.groups.remove(g);
                    self.writer
                        .apply_watcher_event(&watcher::Event::Delete(IngressGroupRef::new(g)));
                }
            }
        }
        old
    }

    /// Handles one Ingress event (after the Ingress cache has applied it); returns the groups
    /// to reconcile.
    pub fn on_event(
        &mut self,
        ev: &watcher::Event<Ingress>,
        sel: &IngressSelection,
        classes: &[IngressClass],
    ) -> Vec<GroupKey> {
        match ev {
            watcher::Event::Apply(ing) => {
                let k = key(ing);
                let gs = groups_of(ing, sel, classes);
                let h = relevant(ing);
                if self.seen.get(&k) == Some(&(h, gs.clone())) {
                    return Vec::new();
                }
                let before = self.replace(k, Some((h, gs.clone())));
                let mut out: BTreeSet<GroupKey> = gs;
                if let Some((old_h, old)) = before {
                    // Groups it left are re-planned without it; an unchanged spec in an
                    // unchanged group (only finalizers moved) triggers nothing.
                    if old_h == h {
                        out = out.symmetric_difference(&old).cloned().collect();
                    } else {
                        out.extend(old);
                    }
                }
                out.into_iter().collect()
            }
            watcher::Event::Delete(ing) => self
                .replace(key(ing), None)
                .map(|o| o.1.into_iter().collect())
                .unwrap_or_default(),
            watcher::Event::Init => {
                self.init.clear();
                Vec::new()
            }
            watcher::Event::InitApply(ing) => {
                self.init
                    .insert(key(ing), (relevant(ing), groups_of(ing, sel, classes)));
                Vec::new()
            }
            watcher::Event::InitDone => {
                let first = !self.ready;
                let old = std::mem::replace(&mut self.seen, std::mem::take(&mut self.init));
                let mut out = BTreeSet::new();
                for (k, v) in &self.seen {
                    if first || old.get(k) != Some(v) {
                        out.extend(v.1.iter().cloned());
                    }
                }
                for (k, v) in &old {
                    if !self.seen.contains_key(k) {
                        out.extend(v.1.iter().cloned());
                    }
                }
                self.rebuild();
                out.into_iter().collect()
            }
        }
    }

    /// Re-evaluates every Ingress (after an IngressClass change: selection may differ).
    pub fn reselect(
        &mut self,
        ingresses: &[Arc<Ingress>],
        sel: &IngressSelection,
        classes: &[IngressClass],
    ) {
        if !self.ready {
            return;
        }
        self.seen = ingresses
            .iter()
            .map(|i| (key(i), (relevant(i), groups_of(i, sel, classes))))
            .collect();
        self.rebuild();
    }
}

// ---------------------------------------------------------------- context

/// What the Ingress controller shares with the Service controller (client, provider, Event
/// recorder, metrics, cluster, resync, back-off) plus its own caches.
pub struct IngressContext {
    pub base: Arc<Context>,
    pub selection: IngressSelection,
    pub ingresses: Store<Ingress>,
    pub classes: Store<IngressClass>,
    pub services: Store<Service>,
    pub nodes: Store<Node>,
    /// `None` when the API server does not serve `discovery.k8s.io/v1`.
    pub slices: Option<Store<EndpointSlice>>,
}

impl IngressContext {
    /// The caches the policies' status task counts governed Ingresses from.
    pub fn policy_caches(&self) -> crate::policy::status::IngressCaches {
        crate::policy::status::IngressCaches {
            ingresses: self.ingresses.clone(),
            classes: self.classes.clone(),
            selection: self.selection.clone(),
        }
    }

    fn class_list(&self) -> Vec<IngressClass> {
        self.classes.state().iter().map(|c| (**c).clone()).collect()
    }

    fn failure_key(group: &GroupKey) -> String {
        format!("IngressGroup {group}")
    }
}

// ---------------------------------------------------------------- reconcile

/// Exponential back-off, as for Services.
pub use super::service::backoff;

/// What a reconciliation did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: Vec<String>,
    pub rejected: Vec<String>,
    pub released: Vec<String>,
    pub address: Option<String>,
}

/// Reconciles one group; records metrics; on error reports on the live members.
pub async fn reconcile(group: Arc<IngressGroupRef>, ctx: Arc<IngressContext>) -> Result<Action> {
    let gk = GroupKey::of(&group);
    let span = tracing::info_span!("reconcile", group = %gk);
    async move {
        let started = Instant::now();
        let m = &ctx.base.metrics;
        m.in_flight.inc();
        let result = reconcile_group(&gk, &ctx).await;
        m.in_flight.dec();
        m.reconciled(result.is_ok(), started.elapsed());
        match result {
            Ok(outcome) => {
                ctx.base.succeeded(&IngressContext::failure_key(&gk));
                tracing::debug!(
                    ?outcome,
                    took_ms = started.elapsed().as_millis() as u64,
                    "reconciled group"
                );
                Ok(Action::requeue(ctx.base.resync))
            }
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

fn conflict(e: &Error) -> bool {
    matches!(e, Error::Kube { source: kube::Error::Api(s), .. } if s.code == 409)
}

pub fn error_policy(group: Arc<IngressGroupRef>, err: &Error, ctx: Arc<IngressContext>) -> Action {
    if conflict(err) {
        Action::requeue(CONFLICT_REQUEUE)
    } else if err.is_user_error() || !err.retry_soon() {
        Action::requeue(super::service::USER_ERROR_REQUEUE)
    } else {
        let k = IngressContext::failure_key(&GroupKey::of(&group));
        Action::requeue(backoff(ctx.base.failed(&k)))
    }
}

/// A live member, and the reason the operator itself rejects it (an invalid group name).
type LiveMember = (Arc<Ingress>, Option<providers::Error>);

/// The members of a group as the cache has them: (live ones, with a rejection found by the
/// operator itself; every Ingress involved in the group).
fn members_of(gk: &GroupKey, ctx: &IngressContext) -> (Vec<LiveMember>, Vec<Arc<Ingress>>) {
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
fn gather(gk: &GroupKey, members: &[Arc<Ingress>], ctx: &IngressContext) -> IngressGroup {
    let services: Vec<Service> = ctx.services.state().iter().map(|s| (**s).clone()).collect();
    let nodes: Vec<Node> = ctx.nodes.state().iter().map(|n| (**n).clone()).collect();
    let slices: Option<Vec<EndpointSlice>> = ctx
        .slices
        .as_ref()
        .map(|s| s.state().iter().map(|x| (**x).clone()).collect());
    let snapshot = crate::gather::ingress::Snapshot {
        ingresses: &[],
        classes: &[],
        services: &services,
        slices: slices.as_deref(),
        nodes: &nodes,
        cluster: &ctx.base.cluster,
    };
    let mut group = snapshot.group(&ctx.selection, &gk.owner());
    group.members = members.iter().map(|i| snapshot.member(i)).collect();
    group
}

fn counts(plan: &Plan) -> String {
    format!(
        "{} to create, {} to update, {} to delete",
        plan.count(PlanAction::Create),
        plan.count(PlanAction::Update),
        plan.count(PlanAction::Delete)
    )
}

/// gather -> desired_group -> observe -> plan -> apply -> report.
pub async fn reconcile_group(gk: &GroupKey, ctx: &IngressContext) -> Result<Outcome> {
    let finalizer = gk.finalizer();
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
        match crate::policy::effective_ingress_annotations(policies, &ing, &classes) {
            Ok(annotations) => {
                let mut effective = (*ing).clone();
                effective.metadata.annotations = Some(annotations);
                candidates.push((ing, Arc::new(effective)));
            }
            Err(v) => rejected.push((ing, Error::Policy(v))),
        }
    }

    let desired = if candidates.is_empty() {
        GroupDesired::default()
    } else {
        let effective: Vec<Arc<Ingress>> = candidates.iter().map(|(_, e)| e.clone()).collect();
        let group = gather(gk, &effective, ctx);
        ctx.base.provider.desired_group(&group).await?
    };
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
        address = ctx.base.provider.apply(&plan, &observed).await?;
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
        let cond = Condition::new(ing, true, "Ensured", &message);
        let patched_cond = update_condition(ctx, ing, Some(&cond)).await?;
        if changed || patched_status || patched_cond {
            event(ctx, ing, EventType::Normal, "Ensured", message.clone()).await;
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
async fn report_group_error(gk: &GroupKey, ctx: &IngressContext, e: &Error) {
    let (live, _) = members_of(gk, ctx);
    let msg = format!("IngressGroup {gk}: {e}");
    for (ing, _) in live {
        event(ctx, &ing, EventType::Warning, e.reason(), msg.clone()).await;
        let cond = Condition::new(&ing, false, e.reason(), &msg);
        if let Err(ke) = update_condition(ctx, &ing, Some(&cond)).await {
            warn!(error = %ke, "could not update the status annotation");
        }
    }
}

// ---------------------------------------------------------------- writes

async fn event(ctx: &IngressContext, ing: &Ingress, t: EventType, reason: &str, note: String) {
    report::event(&ctx.base.recorder, ing, t, reason, "Reconcile", note).await;
}

fn api(ctx: &IngressContext, ing: &Ingress) -> Api<Ingress> {
    Api::namespaced(ctx.base.client.clone(), &namespace(ing))
}

fn kube_err(ing: &Ingress, e: kube::Error) -> Error {
    Error::Kube {
        object: format!("Ingress {}", key(ing)),
        source: e,
    }
}

/// Adds or removes one finalizer; `resourceVersion` makes it conditional (409 on a concurrent
/// change, retried at once by the error policy).
async fn set_finalizer(ctx: &IngressContext, ing: &Ingress, f: &str, on: bool) -> Result<()> {
    let mut list: Vec<String> = ing
        .finalizers()
        .iter()
        .filter(|x| *x != f)
        .cloned()
        .collect();
    if on {
        list.push(f.to_string());
    }
    let patch =
        json!({"metadata": {"finalizers": list, "resourceVersion": ing.metadata.resource_version}});
    api(ctx, ing)
        .patch(
            &ing.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| kube_err(ing, e))?;
    Ok(())
}

/// What berth wants `status.loadBalancer.ingress` of a member to be.
#[derive(Clone, Debug, PartialEq)]
pub enum LbStatus {
    Keep,
    Set(Address),
    Clear,
}

/// The merge patch of the status subresource, or `None` when the status already is right.
pub fn status_patch(ing: &Ingress, want: &LbStatus) -> Option<Value> {
    let current = ing
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.clone())
        .unwrap_or_default();
    match want {
        LbStatus::Keep => None,
        LbStatus::Set(a) => {
            let entry = match a {
                Address::Hostname(h) => json!({"hostname": h.to_ascii_lowercase()}),
                Address::Ip(ip) => json!({"ip": ip}),
            };
            let same = current.len() == 1
                && serde_json::to_value(&current[0]).ok().as_ref() == Some(&entry);
            (!same).then(|| json!({"status": {"loadBalancer": {"ingress": [entry]}}}))
        }
        LbStatus::Clear => {
            (!current.is_empty()).then(|| json!({"status": {"loadBalancer": {"ingress": null}}}))
        }
    }
}

async fn update_status(ctx: &IngressContext, ing: &Ingress, want: &LbStatus) -> Result<bool> {
    let Some(patch) = status_patch(ing, want) else {
        return Ok(false);
    };
    api(ctx, ing)
        .patch_status(
            &ing.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| kube_err(ing, e))?;
    Ok(true)
}

/// berth's condition on an Ingress, kept in [`STATUS_ANNOTATION`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    pub fn new(ing: &Ingress, ready: bool, reason: &str, message: &str) -> Self {
        Condition {
            type_: report::CONDITION_TYPE.into(),
            status: if ready { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: ing.metadata.generation,
        }
    }

    /// The condition an Ingress carries now, if any.
    pub fn of(ing: &Ingress) -> Option<Condition> {
        serde_json::from_str(ing.annotations().get(STATUS_ANNOTATION)?).ok()
    }
}

/// The metadata merge patch that sets (or removes) berth's condition, or `None` if unchanged.
pub fn condition_patch(ing: &Ingress, want: Option<&Condition>) -> Option<Value> {
    let current = ing.annotations().get(STATUS_ANNOTATION);
    match want {
        Some(c) => {
            let v = serde_json::to_string(c).ok()?;
            (current != Some(&v))
                .then(|| json!({"metadata": {"annotations": {STATUS_ANNOTATION: v}}}))
        }
        None => current.map(|_| json!({"metadata": {"annotations": {STATUS_ANNOTATION: null}}})),
    }
}

async fn update_condition(
    ctx: &IngressContext,
    ing: &Ingress,
    want: Option<&Condition>,
) -> Result<bool> {
    let Some(patch) = condition_patch(ing, want) else {
        return Ok(false);
    };
    api(ctx, ing)
        .patch(
            &ing.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| kube_err(ing, e))?;
    Ok(true)
}

// ---------------------------------------------------------------- triggers and run

/// Whether the API server serves `networking.k8s.io/v1` Ingresses and IngressClasses.
pub async fn served(client: &kube::Client) -> std::result::Result<bool, kube::Error> {
    match client
        .list_api_group_resources("networking.k8s.io/v1")
        .await
    {
        Ok(list) => Ok(["ingresses", "ingressclasses"]
            .iter()
            .all(|n| list.resources.iter().any(|r| r.name == *n))),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// What about a Service matters to Ingresses (its spec and annotations, not its status).
fn service_fingerprint(s: &Service) -> String {
    format!(
        "{}|{:?}",
        serde_json::to_string(&s.spec).unwrap_or_default(),
        s.metadata.annotations
    )
}

fn slice_fingerprint(s: &EndpointSlice) -> String {
    format!(
        "{}|{}",
        serde_json::to_string(&s.endpoints).unwrap_or_default(),
        serde_json::to_string(&s.ports).unwrap_or_default()
    )
}

/// Turns a watch into the `(namespace, name)` targets of the objects that changed in a way that
/// matters (`fingerprint`); `target` maps an object to what it stands for (a Service for an
/// EndpointSlice).
fn changed_targets<K, F, T>(
    events: impl Stream<Item = std::result::Result<watcher::Event<K>, watcher::Error>> + Send,
    fingerprint: F,
    target: T,
    what: &'static str,
) -> impl Stream<Item = Vec<(String, String)>> + Send
where
    K: kube::Resource + Send + 'static,
    F: Fn(&K) -> String + Send + 'static,
    T: Fn(&K) -> Option<(String, String)> + Send + 'static,
{
    type Seen = HashMap<(String, String), (String, Option<(String, String)>)>;
    let mut seen: Seen = HashMap::new();
    let mut init: Seen = HashMap::new();
    let id = |o: &K| {
        (
            o.meta().namespace.clone().unwrap_or_default(),
            o.meta().name.clone().unwrap_or_default(),
        )
    };
    events.filter_map(move |ev| {
        let out: Option<Vec<(String, String)>> = match ev {
            Ok(watcher::Event::Apply(o)) => {
                let entry = (fingerprint(&o), target(&o));
                let t = entry.1.clone();
                let old = seen.insert(id(&o), entry.clone());
                match old {
                    Some(old) if old == entry => None,
                    Some(old) => Some(old.1.into_iter().chain(t).collect()),
                    None => Some(t.into_iter().collect()),
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                seen.remove(&id(&o)).map(|old| old.1.into_iter().collect())
            }
            Ok(watcher::Event::Init) => {
                init.clear();
                None
            }
            Ok(watcher::Event::InitApply(o)) => {
                init.insert(id(&o), (fingerprint(&o), target(&o)));
                None
            }
            Ok(watcher::Event::InitDone) => {
                let mut out: Vec<(String, String)> = init
                    .iter()
                    .filter(|(k, v)| seen.get(*k) != Some(*v))
                    .filter_map(|(_, v)| v.1.clone())
                    .collect();
                out.extend(
                    seen.iter()
                        .filter(|(k, _)| !init.contains_key(*k))
                        .filter_map(|(_, v)| v.1.clone()),
                );
                seen = std::mem::take(&mut init);
                Some(out)
            }
            Err(e) => {
                warn!(error = %e, "{what} watch failed; retrying");
                None
            }
        };
        futures::future::ready(out.filter(|v| !v.is_empty()))
    })
}

/// The groups whose live members name the Service `ns/name`.
fn groups_for_service(ctx: &IngressContext, ns: &str, name: &str) -> Vec<GroupKey> {
    let classes = ctx.class_list();
    let mut out = BTreeSet::new();
    for ing in ctx.ingresses.state() {
        if references_service(&ing, ns, name) {
            if let Some((g, _)) = wanted_group(&ing, &ctx.selection, &classes) {
                out.insert(g);
            }
        }
    }
    out.into_iter().collect()
}

/// The caches of the Ingress controller, created before the [`IngressContext`].
pub struct IngressCaches {
    pub ingresses: Store<Ingress>,
    pub classes: Store<IngressClass>,
    pub services: Store<Service>,
    pub nodes: Store<Node>,
    pub slices: Option<Store<EndpointSlice>>,
    pub groups: Store<IngressGroupRef>,
    ingress_writer: reflector::store::Writer<Ingress>,
    class_writer: reflector::store::Writer<IngressClass>,
    service_writer: reflector::store::Writer<Service>,
    node_writer: reflector::store::Writer<Node>,
    slice_writer: Option<reflector::store::Writer<EndpointSlice>>,
    group_writer: reflector::store::Writer<IngressGroupRef>,
}

impl IngressCaches {
    pub fn new(slices: bool) -> Self {
        let (ingresses, ingress_writer) = reflector::store();
        let (classes, class_writer) = reflector::store();
        let (services, service_writer) = reflector::store();
        let (nodes, node_writer) = reflector::store();
        let (groups, group_writer) = reflector::store();
        let (slices, slice_writer) = if slices {
            let (r, w) = reflector::store();
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        IngressCaches {
            ingresses,
            classes,
            services,
            nodes,
            slices,
            groups,
            ingress_writer,
            class_writer,
            service_writer,
            node_writer,
            slice_writer,
            group_writer,
        }
    }

    pub fn context(&self, base: Arc<Context>, selection: IngressSelection) -> IngressContext {
        IngressContext {
            base,
            selection,
            ingresses: self.ingresses.clone(),
            classes: self.classes.clone(),
            services: self.services.clone(),
            nodes: self.nodes.clone(),
            slices: self.slices.clone(),
        }
    }
}

/// Waits until a store has its initial list (see the Service controller's `synced`).
async fn synced<K>(store: &Store<K>) -> bool
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        match tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready()).await {
            Ok(r) => return r.is_ok(),
            Err(_) => continue,
        }
    }
}

/// How often the Ingress controller looks for a LoadBalancerPolicy change.
const POLICY_POLL: Duration = Duration::from_secs(2);

/// One item per change of the policies' specs (names, generations, deletions) in the cache the
/// Service controller's policy watch fills (a second watch would cost another connection).
fn policy_changes(
    policies: Store<crate::policy::LoadBalancerPolicy>,
) -> impl Stream<Item = ()> + Send {
    let first = crate::policy::fingerprint(&policies.state());
    futures::stream::unfold((policies, first), |(policies, mut last)| async move {
        loop {
            tokio::time::sleep(POLICY_POLL).await;
            let now = crate::policy::fingerprint(&policies.state());
            if now != last {
                last = now;
                return Some(((), (policies, last)));
            }
        }
    })
}

/// Why a group (or every group) is to be reconciled.
enum Trigger {
    Groups(Vec<GroupKey>),
    Services(Vec<(String, String)>),
    All,
}

/// Runs the Ingress controller until `shutdown` resolves (then finishes the reconciliations in
/// flight). `scope` is the Service controller's (namespace, node selector, workers).
pub async fn run(
    ctx: Arc<IngressContext>,
    caches: IngressCaches,
    scope: &super::service::Scope,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.base.client.clone();
    fn api<K>(client: &kube::Client, ns: &Option<String>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let mut node_config = watcher::Config::default();
    if let Some(sel) = &scope.node_selector {
        node_config = node_config.labels(sel);
    }
    let index = Arc::new(Mutex::new(GroupIndex::new(caches.group_writer)));

    // Ingresses -> the groups they are involved in.
    let ingress_triggers = {
        let ctx = ctx.clone();
        let index = index.clone();
        reflector::reflector(
            caches.ingress_writer,
            watcher(
                api::<Ingress>(&client, &scope.namespace),
                watcher::Config::default(),
            ),
        )
        .default_backoff()
        .filter_map(move |ev| {
            let out = match ev {
                Ok(ev) => {
                    let classes = ctx.class_list();
                    let gs = match index.lock() {
                        Ok(mut ix) => ix.on_event(&ev, &ctx.selection, &classes),
                        Err(_) => Vec::new(),
                    };
                    (!gs.is_empty()).then_some(Trigger::Groups(gs))
                }
                Err(e) => {
                    warn!(error = %e, "Ingress watch failed; retrying");
                    None
                }
            };
            futures::future::ready(out)
        })
        .boxed()
    };

    // IngressClasses: the selection may change -> re-index, reconcile every group.
    let class_triggers = {
        let ctx = ctx.clone();
        let index = index.clone();
        changed_targets(
            reflector::reflector(
                caches.class_writer,
                watcher(
                    Api::<IngressClass>::all(client.clone()),
                    watcher::Config::default(),
                ),
            )
            .default_backoff(),
            |c: &IngressClass| format!("{:?}|{:?}", c.spec, c.metadata.annotations),
            |c: &IngressClass| Some((String::new(), c.name_any())),
            "IngressClass",
        )
        .map(move |_| {
            let ingresses = ctx.ingresses.state();
            let classes = ctx.class_list();
            if let Ok(mut ix) = index.lock() {
                ix.reselect(&ingresses, &ctx.selection, &classes);
            }
            Trigger::All
        })
        .boxed()
    };

    // Services and their EndpointSlices -> the groups naming the Service.
    let service_triggers = changed_targets(
        reflector::reflector(
            caches.service_writer,
            watcher(
                api::<Service>(&client, &scope.namespace),
                watcher::Config::default(),
            ),
        )
        .default_backoff(),
        service_fingerprint,
        |s: &Service| {
            Some((
                s.metadata.namespace.clone().unwrap_or_default(),
                s.name_any(),
            ))
        },
        "Service",
    )
    .map(Trigger::Services)
    .boxed();

    let node_triggers = super::service::node_changes(
        reflector::reflector(
            caches.node_writer,
            watcher(Api::<Node>::all(client.clone()), node_config),
        )
        .default_backoff(),
    )
    .map(|_| Trigger::All)
    .boxed();

    let mut streams = vec![
        ingress_triggers,
        class_triggers,
        service_triggers,
        node_triggers,
    ];
    if let Some(policies) = ctx.base.policies.clone() {
        streams.push(policy_changes(policies).map(|_| Trigger::All).boxed());
    }
    if let Some(writer) = caches.slice_writer {
        streams.push(
            changed_targets(
                reflector::reflector(
                    writer,
                    watcher(
                        api::<EndpointSlice>(&client, &scope.namespace),
                        watcher::Config::default(),
                    ),
                )
                .default_backoff(),
                slice_fingerprint,
                |s: &EndpointSlice| {
                    let svc = s.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
                    Some((s.metadata.namespace.clone()?, svc.clone()))
                },
                "EndpointSlice",
            )
            .map(Trigger::Services)
            .boxed(),
        );
    }
    let groups_store = caches.groups.clone();
    let requests = {
        let ctx = ctx.clone();
        futures::stream::select_all(streams).flat_map(move |t| {
            let keys: Vec<ObjectRef<IngressGroupRef>> = match t {
                Trigger::Groups(gs) => gs.iter().map(GroupKey::to_ref).collect(),
                Trigger::Services(svcs) => {
                    let mut gs = BTreeSet::new();
                    for (ns, name) in svcs {
                        gs.extend(groups_for_service(&ctx, &ns, &name));
                    }
                    gs.iter().map(GroupKey::to_ref).collect()
                }
                Trigger::All => groups_store
                    .state()
                    .iter()
                    .map(|g| GroupKey::of(g).to_ref())
                    .collect(),
            };
            futures::stream::iter(keys)
        })
    };

    let ready = {
        let stores = (
            caches.ingresses.clone(),
            caches.classes.clone(),
            caches.services.clone(),
            caches.nodes.clone(),
            caches.slices.clone(),
        );
        tokio::spawn(async move {
            let ok = synced(&stores.0).await
                && synced(&stores.1).await
                && synced(&stores.2).await
                && synced(&stores.3).await
                && match &stores.4 {
                    Some(s) => synced(s).await,
                    None => true,
                };
            if ok {
                info!("Ingress controller caches synced");
            }
        })
    };

    Controller::for_stream(
        futures::stream::pending::<std::result::Result<IngressGroupRef, watcher::Error>>(),
        caches.groups,
    )
    .with_config(kube::runtime::controller::Config::default().concurrency(scope.workers.max(1)))
    .reconcile_on(requests)
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
    .for_each(|res| async move {
        match res {
            Ok((obj, action)) => tracing::trace!(group = %obj, ?action, "reconciled"),
            Err(kube::runtime::controller::Error::ReconcilerFailed(_, obj)) => {
                tracing::debug!(group = %obj, "reconcile failed (see above)")
            }
            Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                tracing::debug!(group = %obj, "group is gone")
            }
            Err(e) => warn!(error = %e, "Ingress controller"),
        }
    })
    .await;
    ready.abort();
}

#[cfg(test)]
mod tests;
