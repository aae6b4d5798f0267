//! Step 1 for Ingresses: Kubernetes Ingresses (with their IngressClass, backend Services,
//! EndpointSlices and Nodes) -> cloud-neutral [`IngressGroup`]s. Which Ingresses are ours and how
//! they group is read here; everything else in the annotations passes through to the provider.
//!
//! Grouping follows the cloud's profile ([`Grouping`]). On AWS, as with the
//! aws-load-balancer-controller, `alb.ingress.kubernetes.io/group.name` puts Ingresses of any
//! namespace into one group (one load balancer); without it (or with an invalid name, which is
//! reported on the Ingress) an Ingress is its own group; on GCP every Ingress is its own.
//! Ingresses being deleted are left out of their group, so that their rules go away while the
//! rest of the group stays (the controller releases their finalizer after applying).

mod probe;

use super::{eligible_nodes, ready_endpoints};
use k8s_openapi::api::core::v1::{Node as KubeNode, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use providers::frontend::{FrontendKind, ObjectRef, Protocol, ServicePort};
use providers::ingress::{
    Backend, BackendPort, HttpPath, IngressGroup, Member, PathType, ResolvedBackend, Rule, Tls,
};
use providers::profile::{Grouping, IngressProfile, Profile};
use serde_json::Value;
use std::collections::BTreeMap;

/// The legacy class annotation.
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Marks the cluster's default IngressClass.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// Which Ingresses this berth acts on.
#[derive(Clone)]
pub struct IngressSelection {
    /// The cloud's Ingress rules: grouping, finalizers, the incumbent controller.
    pub profile: &'static IngressProfile,
    /// IngressClass `spec.controller` values berth serves.
    pub controllers: Vec<String>,
    /// `kubernetes.io/ingress.class` values berth serves.
    pub legacy_classes: Vec<String>,
}

impl std::fmt::Debug for IngressSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngressSelection")
            .field("controllers", &self.controllers)
            .field("legacy_classes", &self.legacy_classes)
            .finish()
    }
}

impl Default for IngressSelection {
    /// The build's default cloud (tests; it must serve Ingresses).
    fn default() -> Self {
        IngressSelection::of(providers::profile::default_profile())
            .expect("the build's default cloud serves Ingresses")
    }
}

impl IngressSelection {
    /// berth's own controller name and the cloud's legacy classes; `None` when berth serves no
    /// Ingresses on this cloud.
    pub fn of(profile: &'static Profile) -> Option<Self> {
        let p = profile.ingress.as_ref()?;
        Some(IngressSelection {
            profile: p,
            controllers: vec![p.controller.to_string()],
            legacy_classes: p.legacy_classes.iter().map(|c| c.to_string()).collect(),
        })
    }

    /// Also serve IngressClasses of the cloud's incumbent controller (AWS:
    /// `ingress.k8s.aws/alb`).
    pub fn with_incumbent(mut self) -> Self {
        let c = self.profile.incumbent_controller;
        if !self.controllers.iter().any(|x| x == c) {
            self.controllers.push(c.into());
        }
        self
    }

    fn ours(&self, class: &IngressClass) -> bool {
        class
            .spec
            .as_ref()
            .and_then(|s| s.controller.as_deref())
            .is_some_and(|c| self.controllers.iter().any(|x| x == c))
    }

    /// Whether the Ingress is ours: the legacy annotation when set, else `spec.ingressClassName`'s
    /// IngressClass, else the cluster's default IngressClass (if it is ours).
    pub fn selects(&self, ing: &Ingress, classes: &[IngressClass]) -> bool {
        if let Some(v) = ing
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LEGACY_CLASS_ANNOTATION))
        {
            return self.legacy_classes.iter().any(|c| c == v.trim());
        }
        match ing
            .spec
            .as_ref()
            .and_then(|s| s.ingress_class_name.as_deref())
        {
            Some(name) => classes
                .iter()
                .any(|c| c.metadata.name.as_deref() == Some(name) && self.ours(c)),
            None => classes.iter().any(|c| {
                self.ours(c)
                    && c.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                        .is_some_and(|v| v == "true")
            }),
        }
    }
}

/// The Ingress itself (kind Ingress).
pub fn ingress_ref(ing: &Ingress) -> ObjectRef {
    ObjectRef {
        kind: FrontendKind::Ingress,
        namespace: ing
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: ing.metadata.name.clone().unwrap_or_default(),
    }
}

/// The group an Ingress belongs to (kind IngressGroup), by the cloud's grouping rule: with
/// [`Grouping::Annotation`], the explicit group (namespace empty) of a valid name, else the
/// Ingress's own implicit group (its namespace and name) — and for an invalid name the error
/// to report on the Ingress.
pub fn group_of(ing: &Ingress, grouping: &Grouping) -> (ObjectRef, Option<providers::Error>) {
    let me = ingress_ref(ing);
    let implicit = ObjectRef {
        kind: FrontendKind::IngressGroup,
        namespace: me.namespace.clone(),
        name: me.name.clone(),
    };
    let Grouping::Annotation {
        annotation,
        max_len,
        valid,
        ..
    } = *grouping
    else {
        return (implicit, None);
    };
    let Some(raw) = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotation))
    else {
        return (implicit, None);
    };
    let name = raw.trim();
    if valid(name) {
        let explicit = ObjectRef {
            kind: FrontendKind::IngressGroup,
            namespace: String::new(),
            name: name.to_string(),
        };
        return (explicit, None);
    }
    let err = providers::Error::InvalidAnnotation {
        object: me,
        annotation: annotation.into(),
        value: raw.clone(),
        expected: format!("expected at most {max_len} lower-case letters, digits, '-' or '.', starting and ending with a letter or digit"),
    };
    (implicit, Some(err))
}

/// Everything an Ingress group needs, as the controller's caches (or `berth plan`'s manifests)
/// hold it. `slices` is `None` when the API server does not serve `discovery.k8s.io/v1`.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot<'a> {
    pub ingresses: &'a [Ingress],
    pub classes: &'a [IngressClass],
    pub services: &'a [Service],
    pub slices: Option<&'a [EndpointSlice]>,
    pub nodes: &'a [KubeNode],
    /// The pods, as far as the cloud reads them (readiness probes for health checks); empty
    /// when it does not.
    pub pods: &'a [Pod],
    pub cluster: &'a str,
}

impl Snapshot<'_> {
    /// The selected, not-deleting Ingresses, in namespace/name order.
    fn members(&self, selection: &IngressSelection) -> Vec<&Ingress> {
        let mut out: Vec<&Ingress> = self
            .ingresses
            .iter()
            .filter(|i| i.metadata.deletion_timestamp.is_none())
            .filter(|i| selection.selects(i, self.classes))
            .collect();
        out.sort_by_key(|i| ingress_ref(i));
        out
    }

    /// One group (possibly with no members left: then the provider plans its deletion).
    pub fn group(&self, selection: &IngressSelection, group: &ObjectRef) -> IngressGroup {
        let members = self
            .members(selection)
            .into_iter()
            .filter(|i| group_of(i, &selection.profile.grouping).0 == *group)
            .map(|i| self.member(i))
            .collect();
        IngressGroup {
            object: group.clone(),
            cluster: self.cluster.to_string(),
            members,
            nodes: eligible_nodes(self.nodes),
            endpoints_unavailable: self.slices.is_none().then(|| {
                "the API server does not serve discovery.k8s.io/v1 EndpointSlices".to_string()
            }),
        }
    }

    /// Every group with at least one selected member, in group order.
    pub fn groups(&self, selection: &IngressSelection) -> Vec<IngressGroup> {
        let mut refs: Vec<ObjectRef> = self
            .members(selection)
            .into_iter()
            .map(|i| group_of(i, &selection.profile.grouping).0)
            .collect();
        refs.sort();
        refs.dedup();
        refs.iter().map(|g| self.group(selection, g)).collect()
    }

    /// One Ingress as a group member, its backends resolved.
    pub fn member(&self, ing: &Ingress) -> Member {
        let object = ingress_ref(ing);
        let spec = ing.spec.clone().unwrap_or_default();
        let annotations = ing.metadata.annotations.clone().unwrap_or_default();
        let default_backend = spec
            .default_backend
            .as_ref()
            .map(|b| self.backend(&object.namespace, b));
        let rules = spec
            .rules
            .unwrap_or_default()
            .iter()
            .map(|r| Rule {
                host: r.host.clone().filter(|h| !h.is_empty()),
                paths: r
                    .http
                    .as_ref()
                    .map(|h| {
                        h.paths
                            .iter()
                            .map(|p| HttpPath {
                                path: p.path.clone().unwrap_or_default(),
                                path_type: match p.path_type.as_str() {
                                    "Exact" => PathType::Exact,
                                    "Prefix" => PathType::Prefix,
                                    _ => PathType::ImplementationSpecific,
                                },
                                backend: self.backend(&object.namespace, &p.backend),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let tls = spec
            .tls
            .unwrap_or_default()
            .iter()
            .map(|t| Tls {
                hosts: t.hosts.clone().unwrap_or_default(),
                secret_name: t.secret_name.clone(),
            })
            .collect();
        let annotation_backends = annotation_backends(&annotations)
            .into_iter()
            .map(|(service, port)| {
                let resolved = self.resolve(&object.namespace, &service, &port);
                Backend {
                    service,
                    port,
                    resolved,
                }
            })
            .collect();
        Member {
            object,
            annotations,
            default_backend,
            rules,
            tls,
            annotation_backends,
        }
    }

    fn backend(&self, namespace: &str, b: &IngressBackend) -> Backend {
        let Some(svc) = &b.service else {
            let what = b
                .resource
                .as_ref()
                .map(|r| format!("{}/{}", r.kind, r.name))
                .unwrap_or_default();
            return Backend {
                service: String::new(),
                port: BackendPort::Name(String::new()),
                resolved: Err(format!(
                    "resource backends ({what}) are not supported; use a Service backend"
                )),
            };
        };
        let port = match &svc.port {
            Some(p) => match (p.number, &p.name) {
                (Some(n), _) => BackendPort::Number(u16::try_from(n).unwrap_or_default()),
                (None, Some(name)) => BackendPort::Name(name.clone()),
                (None, None) => BackendPort::Name(String::new()),
            },
            None => BackendPort::Name(String::new()),
        };
        // `use-annotation` backends are the provider's (actions.<name>); nothing to resolve.
        let resolved = if port == BackendPort::Name("use-annotation".into()) {
            Err("the backend is an actions.<name> annotation".into())
        } else {
            self.resolve(namespace, &svc.name, &port)
        };
        Backend {
            service: svc.name.clone(),
            port,
            resolved,
        }
    }

    /// A Service port in `namespace`, with its NodePort, targetPort and ready endpoints.
    pub fn resolve(
        &self,
        namespace: &str,
        service: &str,
        port: &BackendPort,
    ) -> Result<ResolvedBackend, String> {
        let svc = self
            .services
            .iter()
            .find(|s| {
                s.metadata.namespace.as_deref().unwrap_or("default") == namespace
                    && s.metadata.name.as_deref() == Some(service)
            })
            .ok_or_else(|| format!("Service {namespace}/{service} does not exist"))?;
        let ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.clone())
            .unwrap_or_default();
        let p = ports
            .iter()
            .find(|p| match port {
                BackendPort::Number(n) => p.port == i32::from(*n),
                BackendPort::Name(name) => p.name.as_deref() == Some(name.as_str()),
            })
            .ok_or_else(|| {
                let have: Vec<String> = ports
                    .iter()
                    .map(|p| match &p.name {
                        Some(n) => format!("{}({n})", p.port),
                        None => p.port.to_string(),
                    })
                    .collect();
                let want = match port {
                    BackendPort::Number(n) => n.to_string(),
                    BackendPort::Name(n) => format!("{n:?}"),
                };
                format!(
                    "Service {namespace}/{service} has no port {want} (it has {})",
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                )
            })?;
        let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            other => {
                return Err(format!(
                    "Service {namespace}/{service} port {} is {other}; an Ingress backend is TCP",
                    p.port
                ))
            }
        };
        let svc_port = u16::try_from(p.port).unwrap_or_default();
        let target_port = match &p.target_port {
            Some(IntOrString::Int(n)) => u16::try_from(*n).ok(),
            Some(_) => None,
            None => Some(svc_port),
        };
        let endpoints = self
            .slices
            .map(|all| {
                let in_ns: Vec<EndpointSlice> = all
                    .iter()
                    .filter(|s| s.metadata.namespace.as_deref().unwrap_or("default") == namespace)
                    .cloned()
                    .collect();
                ready_endpoints(&in_ns, service, p.name.as_deref(), protocol)
            })
            .unwrap_or_default();
        let probe = self.probe(namespace, svc, p);
        Ok(ResolvedBackend {
            probe: probe.0,
            probe_note: probe.1,
            service_annotations: svc.metadata.annotations.clone().unwrap_or_default(),
            port: ServicePort {
                name: p.name.clone(),
                protocol,
                port: svc_port,
                node_port: p
                    .node_port
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n > 0),
                target_port,
                endpoints,
            },
        })
    }
}

/// `(serviceName, servicePort)` of every JSON object in an annotation value that names both
/// (e.g. the targets of a weighted forward action), deduplicated, in a stable order.
pub fn annotation_backends(annotations: &BTreeMap<String, String>) -> Vec<(String, BackendPort)> {
    fn walk(v: &Value, out: &mut Vec<(String, BackendPort)>) {
        match v {
            Value::Object(m) => {
                let name = m.get("serviceName").and_then(Value::as_str);
                let port = match m.get("servicePort") {
                    Some(Value::Number(n)) => n
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .map(BackendPort::Number),
                    Some(Value::String(s)) => Some(match s.parse::<u16>() {
                        Ok(n) => BackendPort::Number(n),
                        Err(_) => BackendPort::Name(s.clone()),
                    }),
                    _ => None,
                };
                if let (Some(name), Some(port)) = (name, port) {
                    out.push((name.to_string(), port));
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for v in annotations.values() {
        if let Ok(json) = serde_json::from_str::<Value>(v) {
            walk(&json, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(all(test, feature = "aws"))]
mod tests {
    const GROUP_NAME_ANNOTATION: &str = "alb.ingress.kubernetes.io/group.name";
    use super::*;
    use serde_json::json;

    fn ing(v: Value) -> Ingress {
        serde_json::from_value(v).unwrap()
    }

    fn classes() -> Vec<IngressClass> {
        serde_json::from_value(json!([
            {"metadata": {"name": "berth"}, "spec": {"controller": "berth.dev/alb"}},
            {"metadata": {"name": "aws"}, "spec": {"controller": "ingress.k8s.aws/alb"}},
            {"metadata": {"name": "nginx", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}}, "spec": {"controller": "k8s.io/ingress-nginx"}}
        ]))
        .unwrap()
    }

    #[test]
    fn selection_by_class_legacy_annotation_and_flag() {
        let sel = IngressSelection::default();
        let by_class = |c: &str| {
            ing(
                json!({"metadata": {"name": "a", "namespace": "n"}, "spec": {"ingressClassName": c}}),
            )
        };
        assert!(sel.selects(&by_class("berth"), &classes()));
        assert!(!sel.selects(&by_class("aws"), &classes()));
        assert!(sel
            .clone()
            .with_incumbent()
            .selects(&by_class("aws"), &classes()));
        assert!(!sel.selects(&by_class("nginx"), &classes()));
        assert!(!sel.selects(&by_class("missing"), &classes()));
        let legacy = |v: &str| {
            ing(
                json!({"metadata": {"name": "a", "annotations": {LEGACY_CLASS_ANNOTATION: v}}, "spec": {"ingressClassName": "nginx"}}),
            )
        };
        assert!(
            sel.selects(&legacy("alb"), &classes()),
            "the legacy annotation wins"
        );
        assert!(!sel.selects(&legacy("nginx"), &classes()));
        // No class: the default class decides (nginx here: not ours).
        let none = ing(json!({"metadata": {"name": "a"}, "spec": {}}));
        assert!(!sel.selects(&none, &classes()));
        let mut c = classes();
        c[0].metadata.annotations =
            Some([(DEFAULT_CLASS_ANNOTATION.to_string(), "true".to_string())].into());
        assert!(sel.selects(&none, &c));
    }

    #[test]
    fn groups_members_and_backends() {
        let ingresses = vec![
            ing(
                json!({"metadata": {"name": "b", "namespace": "shop", "annotations": {GROUP_NAME_ANNOTATION: "edge", "alb.ingress.kubernetes.io/actions.split": "{\"type\":\"forward\",\"forwardConfig\":{\"targetGroups\":[{\"serviceName\":\"web\",\"servicePort\":80,\"weight\":10},{\"serviceName\":\"gone\",\"servicePort\":\"http\"}]}}"}},
                       "spec": {"ingressClassName": "berth", "defaultBackend": {"service": {"name": "web", "port": {"name": "http"}}},
                                "rules": [{"host": "a.example.com", "http": {"paths": [
                                    {"path": "/x", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {"number": 8080}}}},
                                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "split", "port": {"name": "use-annotation"}}}}]}}],
                                "tls": [{"hosts": ["a.example.com"]}]}}),
            ),
            ing(
                json!({"metadata": {"name": "a", "namespace": "blog", "annotations": {GROUP_NAME_ANNOTATION: "edge"}}, "spec": {"ingressClassName": "berth"}}),
            ),
            ing(
                json!({"metadata": {"name": "solo", "namespace": "blog", "annotations": {GROUP_NAME_ANNOTATION: "Not_Valid"}}, "spec": {"ingressClassName": "berth"}}),
            ),
            ing(
                json!({"metadata": {"name": "deleting", "namespace": "blog", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["x"], "annotations": {GROUP_NAME_ANNOTATION: "edge"}}, "spec": {"ingressClassName": "berth"}}),
            ),
            ing(
                json!({"metadata": {"name": "other", "namespace": "blog"}, "spec": {"ingressClassName": "nginx"}}),
            ),
        ];
        let services: Vec<Service> = serde_json::from_value(json!([
            {"metadata": {"name": "web", "namespace": "shop", "annotations": {"alb.ingress.kubernetes.io/healthcheck-path": "/ready"}},
             "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]}}
        ])).unwrap();
        let slices: Vec<EndpointSlice> = serde_json::from_value(json!([
            {"metadata": {"name": "web-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
             "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}], "endpoints": [{"addresses": ["10.0.0.1"]}]},
            {"metadata": {"name": "web-x", "namespace": "blog", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
             "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}], "endpoints": [{"addresses": ["10.9.9.9"]}]}
        ])).unwrap();
        let snap = Snapshot {
            ingresses: &ingresses,
            classes: &classes(),
            services: &services,
            slices: Some(&slices),
            nodes: &[],
            pods: &[],
            cluster: "c1",
        };
        let groups = snap.groups(&IngressSelection::default());
        let names: Vec<String> = groups.iter().map(|g| g.object.to_string()).collect();
        assert_eq!(names, ["IngressGroup edge", "IngressGroup blog/solo"]);
        let edge = &groups[0];
        let members: Vec<String> = edge.members.iter().map(|m| m.object.to_string()).collect();
        assert_eq!(
            members,
            ["Ingress blog/a", "Ingress shop/b"],
            "sorted; the deleting one left out"
        );
        let b = &edge.members[1];
        let ok = b
            .default_backend
            .as_ref()
            .unwrap()
            .resolved
            .as_ref()
            .unwrap();
        assert_eq!(
            (ok.port.port, ok.port.node_port, ok.port.endpoints.len()),
            (80, Some(30080), 1)
        );
        assert_eq!(
            ok.service_annotations["alb.ingress.kubernetes.io/healthcheck-path"],
            "/ready"
        );
        let paths = &b.rules[0].paths;
        assert_eq!(paths[0].path_type, PathType::Exact);
        assert_eq!(
            paths[0].backend.resolved.as_ref().unwrap_err(),
            "Service shop/web has no port 8080 (it has 80(http))"
        );
        assert_eq!(
            paths[1].backend.port,
            BackendPort::Name("use-annotation".into())
        );
        assert_eq!(b.tls[0].hosts, ["a.example.com"]);
        let extra: Vec<(String, bool)> = b
            .annotation_backends
            .iter()
            .map(|x| (x.service.clone(), x.resolved.is_ok()))
            .collect();
        assert_eq!(
            extra,
            [("gone".to_string(), false), ("web".to_string(), true)]
        );
        assert_eq!(
            b.annotation_backends[0].resolved.as_ref().unwrap_err(),
            "Service shop/gone does not exist"
        );
        // A group whose last member went away is empty: the provider plans its deletion.
        assert!(snap
            .group(
                &IngressSelection::default(),
                &ObjectRef {
                    kind: FrontendKind::IngressGroup,
                    namespace: String::new(),
                    name: "gone".into()
                }
            )
            .members
            .is_empty());
    }
}

#[cfg(all(test, feature = "gcp"))]
mod per_ingress_tests {
    use super::*;
    use serde_json::json;

    /// GCE's rule: every Ingress is its own load balancer, whatever group annotation it has.
    #[test]
    fn on_gcp_every_ingress_is_its_own_group() {
        let gcp = &providers::gcp::profile::PROFILE;
        let sel = IngressSelection::of(gcp).unwrap();
        let ing: Ingress = serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "shop",
            "annotations": {"alb.ingress.kubernetes.io/group.name": "edge", LEGACY_CLASS_ANNOTATION: "gce"}}}))
        .unwrap();
        assert!(sel.selects(&ing, &[]));
        let (group, err) = group_of(&ing, &sel.profile.grouping);
        assert_eq!(
            (group.namespace.as_str(), group.name.as_str()),
            ("shop", "web")
        );
        assert!(err.is_none());
        assert!(!sel.clone().with_incumbent().controllers.is_empty());
    }
}
