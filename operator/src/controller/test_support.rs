//! Test-only pieces shared by the Service and Ingress reconciler tests: a fake Kubernetes API (a
//! tower service that records every request and answers it), the one scripted fake Provider
//! with its in-memory "cloud", and the reconciler Context built over both.

use crate::context::Context;
use crate::metrics::Metrics;
use http::{Request, Response, StatusCode};
use k8s_openapi::api::core::v1::Node;
use kube::client::Body;
use kube::runtime::reflector::Store;
use providers::frontend::{Frontend, ObjectRef as FeRef};
use providers::ingress::{GroupDesired, IngressGroup};
use providers::plan::{Action as PlanAction, Observed, ObservedResource, Resource};
use providers::{Address, ApplyOutcome, Plan};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the controller made to the Kubernetes API.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// Answers PATCHes of Services and Ingresses (echoing the object's name), creates Events, and
/// says 404 to everything else.
#[derive(Clone, Default)]
pub(crate) struct FakeApi {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl FakeApi {
    pub fn client(&self) -> kube::Client {
        let calls = self.calls.clone();
        let svc = tower::service_fn(move |req: Request<Body>| {
            let calls = calls.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let bytes = req
                    .into_body()
                    .collect_bytes()
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                calls.lock().unwrap().push(Call {
                    method: method.clone(),
                    path: path.clone(),
                    body: body.clone(),
                });
                let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
                let (code, out) = match (method.as_str(), parts.as_slice()) {
                    ("PATCH", ["api", "v1", "namespaces", ns, "services", name, ..]) => (
                        StatusCode::OK,
                        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}}),
                    ),
                    (
                        "PATCH",
                        ["apis", "networking.k8s.io", "v1", "namespaces", ns, "ingresses", name, ..],
                    ) => (
                        StatusCode::OK,
                        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": ns}}),
                    ),
                    ("POST", ["apis", "events.k8s.io", "v1", "namespaces", _, "events"]) => {
                        (StatusCode::CREATED, body)
                    }
                    _ => (
                        StatusCode::NOT_FOUND,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
                    ),
                };
                let resp = Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&out).unwrap()))
                    .unwrap();
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        kube::Client::new(svc, "default")
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }

    /// The bodies of every Event.
    pub fn event_bodies(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.contains("/events"))
            .map(|c| c.body)
            .collect()
    }

    /// "type reason" of every Event.
    pub fn event_reasons(&self) -> Vec<String> {
        self.event_lines(&["type", "reason"])
    }

    /// "type reason name" of every Event.
    pub fn events(&self) -> Vec<String> {
        self.event_lines(&["type", "reason", "regarding.name"])
    }

    fn event_lines(&self, fields: &[&str]) -> Vec<String> {
        self.event_bodies()
            .iter()
            .map(|e| {
                fields
                    .iter()
                    .map(|f| f.split('.').fold(e, |v, k| &v[k]).as_str().unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// (object name, body) of status patches.
    pub fn status_patches(&self) -> Vec<(String, Value)> {
        self.patches(true)
    }

    /// (object name, body) of metadata patches (finalizers, the status annotation).
    pub fn object_patches(&self) -> Vec<(String, Value)> {
        self.patches(false)
    }

    fn patches(&self, status: bool) -> Vec<(String, Value)> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.method == "PATCH"
                    && (c.path.contains("/services/") || c.path.contains("/ingresses/"))
                    && c.path.ends_with("/status") == status
            })
            .map(|c| {
                let name = c
                    .path
                    .trim_end_matches("/status")
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                (name, c.body)
            })
            .collect()
    }

    /// (object name, finalizers) of the patches that set finalizers.
    pub fn finalizer_patches(&self) -> Vec<(String, Value)> {
        self.object_patches()
            .into_iter()
            .filter(|(_, b)| b["metadata"].get("finalizers").is_some())
            .map(|(n, b)| (n, b["metadata"]["finalizers"].clone()))
            .collect()
    }
}

/// The one scripted Provider of the controller tests. A Service gets an `LB` and a `TG` (its
/// nodes as targets); an Ingress group gets an `LB` and a `RULE` and a `TG` per accepted member
/// (members annotated `test/reject` are rejected). The "cloud" is in memory (see
/// [`Self::apply_to_cloud`]); every call is logged; `fail_desired` / `fail_apply` fail the next
/// call with the error put there.
#[derive(Default)]
pub(crate) struct FakeProvider {
    calls: Mutex<Vec<String>>,
    pub cloud: Mutex<Vec<ObservedResource>>,
    pub fail_desired: Mutex<Option<providers::Error>>,
    pub fail_apply: Mutex<Option<providers::Error>>,
    /// Work the next apply reports as still pending.
    pub pending: Mutex<Option<String>>,
    /// The Frontends `desired` saw.
    pub frontends: Mutex<Vec<Frontend>>,
    /// (member, its `alb.ingress.kubernetes.io/tags`) as the last `desired_group` saw them.
    members: Mutex<Vec<(String, Option<String>)>>,
    /// The hostname answered while the cloud holds an LB.
    hostname: &'static str,
}

impl FakeProvider {
    pub fn answering(hostname: &'static str) -> Self {
        FakeProvider {
            hostname,
            ..Default::default()
        }
    }
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    pub fn members(&self) -> Vec<(String, Option<String>)> {
        self.members.lock().unwrap().clone()
    }
    /// The names of what the cloud holds, sorted.
    pub fn cloud_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .cloud
            .lock()
            .unwrap()
            .iter()
            .map(|o| o.resource.name.clone())
            .collect();
        v.sort();
        v
    }
    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
    fn take(slot: &Mutex<Option<providers::Error>>) -> Option<providers::Error> {
        slot.lock().unwrap().take()
    }

    /// Applies `plan` to the in-memory cloud (one ObservedResource with id `arn:<name>` per
    /// created or updated resource); the address while it holds an LB.
    fn apply_to_cloud(&self, plan: &Plan) -> Option<Address> {
        let mut cloud = self.cloud.lock().unwrap();
        for c in &plan.changes {
            cloud.retain(|o| !(o.resource.kind == c.kind && o.resource.name == c.name));
            if c.action != PlanAction::Delete {
                cloud.push(ObservedResource {
                    id: format!("arn:{}", c.name),
                    resource: res(&c.kind, &c.name, c.properties.clone()),
                    outputs: Default::default(),
                });
            }
        }
        cloud
            .iter()
            .any(|o| o.resource.kind == "LB")
            .then(|| Address::Hostname(self.hostname.into()))
    }
}

fn res(kind: &str, name: &str, properties: serde_json::Map<String, Value>) -> Resource {
    Resource {
        kind: kind.into(),
        name: name.into(),
        properties,
    }
}

#[async_trait::async_trait]
impl providers::Provider for FakeProvider {
    fn cloud(&self) -> &'static str {
        "fake"
    }

    async fn desired(&self, fe: &Frontend) -> providers::Result<Vec<Resource>> {
        self.log(format!("desired {}", fe.object.stack()));
        self.frontends.lock().unwrap().push(fe.clone());
        if let Some(e) = Self::take(&self.fail_desired) {
            return Err(e);
        }
        let targets: Vec<Value> = fe.nodes.iter().map(|n| json!(n.name)).collect();
        let props = |v: Value| v.as_object().cloned().unwrap_or_default();
        Ok(vec![
            res("LB", "lb", props(json!({"Scheme": "internal"}))),
            res("TG", "tg", props(json!({"Targets": targets}))),
        ])
    }

    async fn desired_group(&self, group: &IngressGroup) -> providers::Result<GroupDesired> {
        let names: Vec<String> = group.members.iter().map(|m| m.object.stack()).collect();
        self.log(format!(
            "desired_group {} [{}]",
            group.object,
            names.join(",")
        ));
        *self.members.lock().unwrap() = group
            .members
            .iter()
            .map(|m| {
                let tags = m.annotations.get("alb.ingress.kubernetes.io/tags");
                (m.object.name.clone(), tags.cloned())
            })
            .collect();
        let mut out = GroupDesired::default();
        for m in &group.members {
            if let Some(v) = m.annotations.get("test/reject") {
                let e = providers::Error::InvalidAnnotation {
                    object: m.object.clone(),
                    annotation: "test/reject".into(),
                    value: v.clone(),
                    expected: "no such annotation".into(),
                };
                out.rejected.push((m.object.clone(), e));
            } else {
                let name = &m.object.name;
                out.resources
                    .push(res("RULE", &format!("rule-{name}"), Default::default()));
                out.resources
                    .push(res("TG", &format!("tg-{name}"), Default::default()));
            }
        }
        if !out.resources.is_empty() {
            out.resources
                .insert(0, res("LB", "alb", Default::default()));
        }
        Ok(out)
    }

    async fn observe(
        &self,
        owner: &FeRef,
        cluster: &str,
        desired: &[Resource],
    ) -> providers::Result<Observed> {
        self.log(format!(
            "observe {owner} {cluster} desired={}",
            desired.len()
        ));
        Ok(Observed {
            resources: self.cloud.lock().unwrap().clone(),
            foreign: Default::default(),
        })
    }

    fn plan(&self, desired: &[Resource], observed: &Observed) -> providers::Result<Plan> {
        self.log("plan".into());
        providers::plan::diff(desired, observed, &["LB", "TG", "RULE"])
    }

    async fn apply(&self, plan: &Plan, _observed: &Observed) -> providers::Result<ApplyOutcome> {
        self.log(format!("apply {}", plan.changes.len()));
        if let Some(e) = Self::take(&self.fail_apply) {
            return Err(e);
        }
        let mut out = ApplyOutcome::done(self.apply_to_cloud(plan));
        out.pending = self.pending.lock().unwrap().take().into_iter().collect();
        Ok(out)
    }
}

/// The reconciler Context over the fake API and `provider`: cluster `c1`, default selection, no
/// EndpointSlices, a 42s resync and identity `test`.
pub(crate) fn context(
    api: &FakeApi,
    provider: Arc<dyn providers::Provider>,
    nodes: Store<Node>,
) -> Context {
    Context::new(
        api.client(),
        provider,
        Metrics::new(),
        crate::gather::Selection::default(),
        "c1".into(),
        nodes,
        None,
        Duration::from_secs(42),
        Some("test".into()),
    )
}

/// RFC 7386 merge patch.
pub(crate) fn merge_patch(a: &mut Value, b: Value) {
    match b {
        Value::Object(b) => {
            if !a.is_object() {
                *a = json!({});
            }
            let a = a.as_object_mut().unwrap();
            for (k, v) in b {
                if v.is_null() {
                    a.remove(&k);
                } else {
                    merge_patch(a.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        b => *a = b,
    }
}
