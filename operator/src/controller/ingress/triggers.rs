//! What makes a group reconcile (Ingress, Service, EndpointSlice, Node, IngressClass and policy
//! changes, resync), the caches behind them, and the controller's run loop.

use super::*;

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
pub(super) fn service_fingerprint(s: &Service) -> String {
    format!(
        "{}|{:?}",
        serde_json::to_string(&s.spec).unwrap_or_default(),
        s.metadata.annotations
    )
}

pub(super) fn slice_fingerprint(s: &EndpointSlice) -> String {
    format!(
        "{}|{}",
        serde_json::to_string(&s.endpoints).unwrap_or_default(),
        serde_json::to_string(&s.ports).unwrap_or_default()
    )
}

/// Turns a watch into the `(namespace, name)` targets of the objects that changed in a way that
/// matters (`fingerprint`); `target` maps an object to what it stands for (a Service for an
/// EndpointSlice).
pub(super) fn changed_targets<K, F, T>(
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
pub(super) fn groups_for_service(ctx: &IngressContext, ns: &str, name: &str) -> Vec<GroupKey> {
    let classes = ctx.class_list();
    let mut out = BTreeSet::new();
    for ing in ctx.ingresses.state() {
        if references_service(&ing, ctx.selection.profile, ns, name) {
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
    pub pods: Option<Store<Pod>>,
    pub groups: Store<IngressGroupRef>,
    pub(super) ingress_writer: reflector::store::Writer<Ingress>,
    pub(super) class_writer: reflector::store::Writer<IngressClass>,
    pub(super) service_writer: reflector::store::Writer<Service>,
    pub(super) node_writer: reflector::store::Writer<Node>,
    pub(super) slice_writer: Option<reflector::store::Writer<EndpointSlice>>,
    pub(super) pod_writer: Option<reflector::store::Writer<Pod>>,
    pub(super) group_writer: reflector::store::Writer<IngressGroupRef>,
}

impl IngressCaches {
    /// `pods`: the cloud reads the backends' pods (see [`providers::profile::IngressProfile`]).
    pub fn new(slices: bool, pods: bool) -> Self {
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
        let (pods, pod_writer) = if pods {
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
            pods,
            pod_writer,
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
            pods: self.pods.clone(),
        }
    }
}

use crate::controller::common::synced;

/// How often the Ingress controller looks for a LoadBalancerPolicy change.
pub(super) const POLICY_POLL: Duration = Duration::from_secs(2);

/// One item per change of the policies' specs (names, generations, deletions) in the cache the
/// Service controller's policy watch fills (a second watch would cost another connection).
pub(super) fn policy_changes(
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
pub(super) enum Trigger {
    Groups(Vec<GroupKey>),
    Services(Vec<(String, String)>),
    /// Pods of these namespaces changed what berth reads of them.
    Namespaces(Vec<String>),
    All,
}

/// Keeps of a Pod only what berth reads (labels, creation time, containers' names, ports and
/// readiness probes): the cache stays small whatever the pods carry.
pub(super) fn keep_probe_facts(mut pod: Pod) -> Pod {
    let m = &mut pod.metadata;
    m.annotations = None;
    m.managed_fields = None;
    m.owner_references = None;
    m.finalizers = None;
    pod.status = None;
    if let Some(spec) = pod.spec.take() {
        let containers = spec
            .containers
            .into_iter()
            .map(|c| k8s_openapi::api::core::v1::Container {
                name: c.name,
                ports: c.ports,
                readiness_probe: c.readiness_probe,
                ..Default::default()
            })
            .collect();
        pod.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            containers,
            ..Default::default()
        });
    }
    pod
}

/// What of a (kept) Pod decides a health check: its labels and containers.
fn pod_fingerprint(p: &Pod) -> String {
    format!("{:?}|{:?}", p.metadata.labels, p.spec)
}

/// Runs the Ingress controller until `shutdown` resolves (then finishes the reconciliations in
/// flight). `scope` is the Service controller's (namespace, node selector, workers).
pub async fn run(
    ctx: Arc<IngressContext>,
    caches: IngressCaches,
    scope: &crate::controller::service::Scope,
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

    let node_triggers = crate::controller::service::node_changes(
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
    if let Some(writer) = caches.pod_writer {
        streams.push(
            changed_targets(
                reflector::reflector(
                    writer,
                    watcher(
                        api::<Pod>(&client, &scope.namespace),
                        watcher::Config::default(),
                    )
                    .modify(|p| *p = keep_probe_facts(std::mem::take(p))),
                )
                .default_backoff(),
                pod_fingerprint,
                |p: &Pod| Some((p.metadata.namespace.clone()?, String::new())),
                "Pod",
            )
            .map(|t| Trigger::Namespaces(t.into_iter().map(|(ns, _)| ns).collect()))
            .boxed(),
        );
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
                Trigger::Namespaces(nss) => {
                    let classes = ctx.class_list();
                    let gs: BTreeSet<GroupKey> = ctx
                        .ingresses
                        .state()
                        .iter()
                        .filter(|i| {
                            i.metadata
                                .namespace
                                .as_ref()
                                .is_some_and(|n| nss.contains(n))
                        })
                        .filter_map(|i| wanted_group(i, &ctx.selection, &classes).map(|(g, _)| g))
                        .collect();
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
