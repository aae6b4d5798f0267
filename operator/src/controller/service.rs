//! The Service controller: every `type: LoadBalancer` Service of a class berth serves gets a
//! cloud load balancer, kept converged, and deleted with the Service.
//!
//! Triggers: the Service itself, any relevant change of a Node (re-reconciles every Service:
//! nodes change rarely) and the Service's EndpointSlices (`discovery.k8s.io/v1`, when served),
//! plus a periodic resync that corrects drift in the cloud. A LoadBalancerPolicy change (when the
//! CRD is installed) re-reconciles every Service.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::gather::{self, SERVICE_NAME_LABEL};
use crate::policy::LoadBalancerPolicy;
use crate::report::{self, Cond, Ingress};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Error as FinalizerError, Event as FinalizerEvent};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use providers::Address;
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn, Instrument};

/// The cloud's Service finalizer (on AWS the aws-load-balancer-controller's, so that clusters
/// can migrate between the two controllers in either direction).
pub fn finalizer_of(ctx: &Context) -> &'static str {
    ctx.selection.profile.service.finalizer
}

pub use super::common::{backoff, USER_ERROR_REQUEUE};
use super::common::{counts, measured, synced};
/// How often berth compares LoadBalancerPolicies' `status.governedObjects` with its caches.
const POLICY_STATUS_INTERVAL: Duration = Duration::from_secs(2);

/// A hash of what a reconcile depends on in a Service: everything but its status (and the
/// bookkeeping metadata the API server changes with every write).
pub fn relevant(svc: &Service) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    svc.metadata.uid.hash(&mut h);
    svc.metadata.annotations.hash(&mut h);
    svc.metadata.labels.hash(&mut h);
    svc.metadata.finalizers.hash(&mut h);
    svc.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .hash(&mut h);
    serde_json::to_string(&svc.spec)
        .unwrap_or_default()
        .hash(&mut h);
    Some(h.finish())
}

/// `namespace/name` of a Service.
pub fn key(svc: &Service) -> String {
    format!(
        "{}/{}",
        svc.metadata.namespace.as_deref().unwrap_or("default"),
        svc.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Reconciles one Service; records metrics, and on error an Event and a False condition.
pub async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action> {
    let object = key(&svc);
    let span = tracing::info_span!("reconcile", object = %object);
    async move {
        let result = measured(&ctx, &object, reconcile_inner(svc.clone(), &ctx)).await;
        if let Err(e) = &result {
            warn!(error = %e, reason = e.reason(), "reconcile failed");
            report_error(&svc, &ctx, e).await;
        }
        result
    }
    .instrument(span)
    .await
}

/// The error policy (see [`super::common::requeue_after`]).
pub fn error_policy(svc: Arc<Service>, err: &Error, ctx: Arc<Context>) -> Action {
    super::common::requeue_after(err, &ctx, &key(&svc))
}

async fn report_error(svc: &Service, ctx: &Context, e: &Error) {
    let reason = e.reason();
    let message = e.to_string();
    report::event(
        &ctx.recorder,
        svc,
        super::common::event_type(e),
        reason,
        "Reconcile",
        message.clone(),
    )
    .await;
    if let Err(ke) = report::update_status(
        &ctx.client,
        svc,
        &Ingress::Keep,
        &Cond::failed(reason, message),
    )
    .await
    {
        warn!(error = %ke, "could not update the status condition");
    }
}

async fn reconcile_inner(svc: Arc<Service>, ctx: &Context) -> Result<Action> {
    let object = gather::object_ref(&svc);
    let selected = ctx.selection.selects(&svc);
    let fin = finalizer_of(ctx);
    let ours = svc.finalizers().iter().any(|f| f == fin);
    let deleting = svc.metadata.deletion_timestamp.is_some();

    if !selected && !ours {
        // Not ours, never was: untouched.
        return Ok(Action::await_change());
    }
    if !selected && !deleting {
        // No longer ours (type or class changed): clean up, then let go.
        release(&svc, ctx).await?;
        return Ok(Action::await_change());
    }
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &object.namespace);
    finalizer(&api, fin, svc, |event| async move {
        match event {
            FinalizerEvent::Apply(svc) => ensure(&svc, ctx).await,
            FinalizerEvent::Cleanup(svc) => {
                cleanup(&svc, ctx).await.map(|_| Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| match e {
        FinalizerError::ApplyFailed(e) | FinalizerError::CleanupFailed(e) => e,
        FinalizerError::AddFinalizer(e) | FinalizerError::RemoveFinalizer(e) => {
            Error::kube(&object, e)
        }
        other => Error::Config(format!("{object}: finalizer {fin}: {other}")),
    })
}

/// Apply branch: gather -> desired -> observe -> plan -> apply -> report.
async fn ensure(svc: &Service, ctx: &Context) -> Result<Action> {
    let nodes: Vec<Node> = ctx.nodes.state().iter().map(|n| (**n).clone()).collect();
    let slices: Option<Vec<EndpointSlice>> = ctx.slices.as_ref().map(|store| slices_of(store, svc));
    let mut fe = gather::frontend(svc, slices.as_deref(), &nodes, &ctx.cluster)?;
    // LoadBalancerPolicies, before any cloud call: a violation stops here.
    fe.annotations = crate::policy::effective_annotations(
        ctx.policies.as_ref(),
        svc,
        ctx.policy_wait,
        ctx.selection.profile.policy.as_ref(),
    )
    .await?;
    let desired = ctx.provider.desired(&fe).await?;
    let observed = ctx
        .provider
        .observe(&fe.object, &ctx.cluster, &desired)
        .await?;
    let plan = ctx.provider.plan(&desired, &observed)?;
    let changed = !plan.is_empty();
    if changed {
        let summary = counts(&plan);
        info!(changes = %summary, "ensuring load balancer");
        report::event(
            &ctx.recorder,
            svc,
            EventType::Normal,
            "Ensuring",
            "Reconcile",
            format!("Ensuring load balancer: {summary}"),
        )
        .await;
    }
    let applied = ctx.provider.apply(&plan, &observed).await?;
    let (ingress, message) = match &applied.address {
        Some(Address::Hostname(h)) => (
            Ingress::Set(Address::Hostname(h.clone())),
            format!("load balancer {} is provisioned", h.to_ascii_lowercase()),
        ),
        Some(Address::Ip(ip)) => (
            Ingress::Set(Address::Ip(ip.clone())),
            format!("load balancer {ip} is provisioned"),
        ),
        None => (
            Ingress::Keep,
            "load balancer resources are provisioned".to_string(),
        ),
    };
    let patched = report::update_status(
        &ctx.client,
        svc,
        &ingress,
        &Cond::ready("Ensured", message.clone()),
    )
    .await
    .map_err(|e| Error::kube(&fe.object, e))?;
    if changed || patched {
        report::event(
            &ctx.recorder,
            svc,
            EventType::Normal,
            "Ensured",
            "Reconcile",
            message,
        )
        .await;
    }
    ctx.metrics.set_managed(&key(svc), true);
    if !applied.pending.is_empty() {
        info!(pending = %applied.pending.join("; "), "cloud work still pending; back soon");
        return Ok(Action::requeue(super::common::PENDING_REQUEUE));
    }
    Ok(Action::requeue(ctx.resync))
}

/// Deletes everything berth created for the Service (the same pipeline with nothing desired).
async fn cleanup(svc: &Service, ctx: &Context) -> Result<()> {
    let object = gather::object_ref(svc);
    let observed = ctx.provider.observe(&object, &ctx.cluster, &[]).await?;
    let plan = ctx.provider.plan(&[], &observed)?;
    if !plan.is_empty() {
        let summary = counts(&plan);
        info!(changes = %summary, "deleting load balancer");
        report::event(
            &ctx.recorder,
            svc,
            EventType::Normal,
            "Deleting",
            "Cleanup",
            format!("Deleting load balancer: {summary}"),
        )
        .await;
    }
    // Work the cloud is still doing (a security group not released yet) keeps the finalizer:
    // the error retries soon and reports progress, not a failure.
    if let Some(e) = ctx.provider.apply(&plan, &observed).await?.in_progress() {
        return Err(e.into());
    }
    if !plan.is_empty() {
        report::event(
            &ctx.recorder,
            svc,
            EventType::Normal,
            "Deleted",
            "Cleanup",
            format!("Deleted {} cloud resources", plan.changes.len()),
        )
        .await;
    }
    ctx.metrics.set_managed(&key(svc), false);
    Ok(())
}

/// A Service berth no longer serves but still carries our finalizer: delete the cloud
/// resources, clear the status berth wrote, remove the finalizer.
async fn release(svc: &Service, ctx: &Context) -> Result<()> {
    let object = gather::object_ref(svc);
    cleanup(svc, ctx).await?;
    report::update_status(&ctx.client, svc, &Ingress::Clear, &Cond::Remove)
        .await
        .map_err(|e| Error::kube(&object, e))?;
    let rest: Vec<String> = svc
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer_of(ctx))
        .cloned()
        .collect();
    // resourceVersion makes this conditional: a concurrent change of the finalizers fails it.
    let patch =
        json!({"metadata": {"finalizers": rest, "resourceVersion": svc.metadata.resource_version}});
    Api::<Service>::namespaced(ctx.client.clone(), &object.namespace)
        .patch(&object.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::kube(&object, e))?;
    info!("released: berth no longer serves this Service");
    Ok(())
}

/// The cached EndpointSlices of a Service.
fn slices_of(store: &Store<EndpointSlice>, svc: &Service) -> Vec<EndpointSlice> {
    let ns = svc.metadata.namespace.as_deref();
    let name = svc.metadata.name.as_deref();
    store
        .state_filter(|s| {
            s.metadata.namespace.as_deref() == ns
                && s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SERVICE_NAME_LABEL))
                    .map(String::as_str)
                    == name
        })
        .iter()
        .map(|s| (**s).clone())
        .collect()
}

/// The Service an EndpointSlice belongs to.
pub fn slice_owner(slice: &EndpointSlice) -> Option<ObjectRef<Service>> {
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    let ns = slice.metadata.namespace.as_deref()?;
    Some(ObjectRef::new(name).within(ns))
}

/// What about a Node matters to load balancers: a change of anything else triggers nothing.
fn node_fingerprint(n: &Node) -> String {
    let eligible = gather::eligible_nodes(std::slice::from_ref(n));
    format!("{eligible:?}")
}

/// Turns a Node watch into "reconcile everything" signals, one per relevant change (a node
/// added, removed, or changed in provider ID, address, labels, removal taints or deletion).
pub fn node_changes<S>(events: S) -> impl Stream<Item = ()> + Send
where
    S: Stream<Item = std::result::Result<watcher::Event<Node>, watcher::Error>> + Send,
{
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut init: HashMap<String, String> = HashMap::new();
    events.filter_map(move |ev| {
        let out = match ev {
            Ok(watcher::Event::Apply(n)) => {
                let (name, fp) = (n.name_any(), node_fingerprint(&n));
                (seen.insert(name, fp.clone()).as_ref() != Some(&fp)).then_some(())
            }
            Ok(watcher::Event::Delete(n)) => seen.remove(&n.name_any()).map(|_| ()),
            Ok(watcher::Event::Init) => {
                init.clear();
                None
            }
            Ok(watcher::Event::InitApply(n)) => {
                init.insert(n.name_any(), node_fingerprint(&n));
                None
            }
            Ok(watcher::Event::InitDone) => {
                let changed = init != seen;
                seen = std::mem::take(&mut init);
                changed.then_some(())
            }
            Err(e) => {
                warn!(error = %e, "Node watch failed; retrying");
                None
            }
        };
        futures::future::ready(out)
    })
}

/// Whether the API server serves `discovery.k8s.io/v1` EndpointSlices.
pub async fn slices_served(client: &kube::Client) -> std::result::Result<bool, kube::Error> {
    match client.list_api_group_resources("discovery.k8s.io/v1").await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == "endpointslices")),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The caches a controller reads, created before the [`Context`] that holds their readers.
pub struct Caches {
    pub nodes: Store<Node>,
    pub slices: Option<Store<EndpointSlice>>,
    node_writer: reflector::store::Writer<Node>,
    slice_writer: Option<reflector::store::Writer<EndpointSlice>>,
    /// LoadBalancerPolicies; `None` unless [`Caches::with_policies`] enabled them.
    pub policies: Option<Store<LoadBalancerPolicy>>,
    policy_writer: Option<reflector::store::Writer<LoadBalancerPolicy>>,
    /// The Ingress controller's caches, so that the policies' `status.governedObjects` counts
    /// governed Ingresses too (`None`: the Ingress controller does not run).
    pub policy_ingresses: Option<crate::policy::status::IngressCaches>,
}

impl Caches {
    /// `slices`: whether to watch `discovery.k8s.io/v1` EndpointSlices (see [`slices_served`]).
    pub fn new(slices: bool) -> Self {
        let (nodes, node_writer) = reflector::store();
        let (slices, slice_writer) = if slices {
            let (r, w) = reflector::store();
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        Caches {
            nodes,
            slices,
            node_writer,
            slice_writer,
            policies: None,
            policy_writer: None,
            policy_ingresses: None,
        }
    }

    /// `served`: whether to watch LoadBalancerPolicies (see [`crate::policy::served`]).
    pub fn with_policies(mut self, served: bool) -> Self {
        if served {
            let (r, w) = reflector::store();
            self.policies = Some(r);
            self.policy_writer = Some(w);
        }
        self
    }
}

/// What the controller watches.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Only Services (and EndpointSlices) of this namespace; `None`: all namespaces.
    pub namespace: Option<String>,
    /// Only Nodes matching this label selector are load-balancer targets; `None`: all Nodes.
    pub node_selector: Option<String>,
    /// How many Services are reconciled at once.
    pub workers: u16,
}

impl Scope {
    fn api<K>(&self, client: &kube::Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
}

/// Runs the Service controller until `shutdown` resolves (then finishes the reconciliations in
/// flight). `on_ready` is called once every cache has its initial list.
pub async fn run(
    ctx: Arc<Context>,
    caches: Caches,
    scope: &Scope,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    on_ready: impl FnOnce() + Send + 'static,
) {
    let client = ctx.client.clone();
    let services: Api<Service> = scope.api(&client);
    let mut node_config = watcher::Config::default();
    if let Some(sel) = &scope.node_selector {
        node_config = node_config.labels(sel);
    }
    let node_events = reflector::reflector(
        caches.node_writer,
        watcher(Api::<Node>::all(client.clone()), node_config),
    )
    .default_backoff();
    // berth's own status writes come back as watch events; they are filtered out here, so that
    // writing the address does not cost another round of cloud reads.
    let (service_reader, service_writer) = reflector::store();
    let service_events = reflector::reflector(
        service_writer,
        watcher(services, watcher::Config::default()),
    )
    .default_backoff()
    .applied_objects()
    .predicate_filter(relevant, Default::default());
    let mut controller = Controller::for_stream(service_events, service_reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(scope.workers.max(1)))
        .reconcile_all_on(node_changes(node_events))
        .graceful_shutdown_on(shutdown);
    if let Some(writer) = caches.slice_writer {
        let slice_events = reflector::reflector(
            writer,
            watcher(
                scope.api::<EndpointSlice>(&client),
                watcher::Config::default(),
            ),
        )
        .default_backoff()
        .touched_objects();
        controller = controller.watches_stream(slice_events, |s| slice_owner(&s));
    }

    let mut policy_status = None;
    if let Some(writer) = caches.policy_writer {
        let policy_events = reflector::reflector(
            writer,
            watcher(
                Api::<LoadBalancerPolicy>::all(client.clone()),
                watcher::Config::default(),
            ),
        )
        .default_backoff();
        controller = controller.reconcile_all_on(crate::policy::policy_changes(policy_events));
        if let Some(policies) = caches.policies.clone() {
            policy_status = Some(tokio::spawn(crate::policy::status::maintain(
                client.clone(),
                policies,
                controller.store(),
                ctx.selection.clone(),
                caches.policy_ingresses.clone(),
                scope.namespace.clone(),
                POLICY_STATUS_INTERVAL,
            )));
        }
    }

    let services_store = controller.store();
    let nodes_store = caches.nodes.clone();
    let slices_store = caches.slices.clone();
    let policies_store = caches.policies.clone();
    let ready = tokio::spawn(async move {
        let ok = synced(&services_store).await
            && synced(&nodes_store).await
            && match &slices_store {
                Some(s) => synced(s).await,
                None => true,
            }
            && match &policies_store {
                Some(s) => synced(s).await,
                None => true,
            };
        if ok {
            info!("caches synced");
            on_ready();
        }
    });

    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, action)) => tracing::trace!(object = %obj, ?action, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(_, obj)) => {
                    tracing::debug!(object = %obj, "reconcile failed (see above)")
                }
                Err(e) => warn!(error = %e, "controller"),
            }
        })
        .await;
    ready.abort();
    if let Some(task) = policy_status {
        task.abort();
    }
}

#[cfg(all(test, feature = "aws"))]
mod tests;
