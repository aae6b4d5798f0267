//! The serving pods' readiness probe of an Ingress backend, as ingress-gce picks it (GCP's
//! health checks follow it), and why a probe could not be taken.

use super::Snapshot;
use k8s_openapi::api::core::v1::{Pod, Service, ServicePort as KubeServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use providers::ingress::HttpProbe;

impl Snapshot<'_> {
    /// The serving pods' HTTP readiness probe on the Service port's target, as ingress-gce
    /// picks it: the pods the Service selects in its namespace, oldest first; the first
    /// container with an `httpGet` readiness probe whose port is the one the Service targets
    /// (by number or name) and whose probe is on that same port.
    /// `(probe, why not)`: the note says why a serving container's readiness probe was not taken.
    pub(super) fn probe(
        &self,
        namespace: &str,
        svc: &Service,
        port: &KubeServicePort,
    ) -> (Option<HttpProbe>, Option<String>) {
        let found = self.http_probe(namespace, svc, port);
        if found.is_some() {
            return (found, None);
        }
        (None, self.unusable_probe(namespace, svc, port))
    }

    /// A serving container on the target port whose readiness probe berth cannot use.
    fn unusable_probe(
        &self,
        namespace: &str,
        svc: &Service,
        port: &KubeServicePort,
    ) -> Option<String> {
        let target = port
            .target_port
            .clone()
            .unwrap_or(IntOrString::Int(port.port));
        self.selected_pods(namespace, svc)?.iter().find_map(|pod| {
            pod.spec.as_ref()?.containers.iter().find_map(|c| {
                let probe = c.readiness_probe.as_ref()?;
                c.ports.as_ref()?.iter().find(|cp| match &target {
                    IntOrString::Int(n) => cp.container_port == *n,
                    IntOrString::String(name) => cp.name.as_deref() == Some(name.as_str()),
                })?;
                let what = if probe.http_get.is_some() {
                    "an httpGet on another port"
                } else if probe.tcp_socket.is_some() {
                    "a tcpSocket probe"
                } else if probe.grpc.is_some() {
                    "a grpc probe"
                } else {
                    "an exec probe"
                };
                Some(format!(
                    "Pod {namespace}/{} container {}: the readinessProbe is {what}, so the health check of Service {namespace}/{} port {} uses the default (/ on the NodePort); an httpGet probe on the served port would be followed",
                    pod.metadata.name.clone().unwrap_or_default(),
                    c.name,
                    svc.metadata.name.clone().unwrap_or_default(),
                    port.port
                ))
            })
        })
    }

    /// The pods a Service selects in its namespace, oldest first (`None`: no selector).
    fn selected_pods(&self, namespace: &str, svc: &Service) -> Option<Vec<&Pod>> {
        let selector = svc
            .spec
            .as_ref()?
            .selector
            .as_ref()
            .filter(|s| !s.is_empty())?;
        let mut pods: Vec<&Pod> = self
            .pods
            .iter()
            .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == namespace)
            .filter(|p| {
                let labels = p.metadata.labels.clone().unwrap_or_default();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .collect();
        pods.sort_by_key(|p| {
            (
                p.metadata.creation_timestamp.clone().map(|t| t.0),
                p.metadata.name.clone(),
            )
        });
        Some(pods)
    }

    fn http_probe(
        &self,
        namespace: &str,
        svc: &Service,
        port: &KubeServicePort,
    ) -> Option<HttpProbe> {
        let target = port
            .target_port
            .clone()
            .unwrap_or(IntOrString::Int(port.port));
        let pods = self.selected_pods(namespace, svc)?;
        pods.iter().find_map(|pod| {
            pod.spec.as_ref()?.containers.iter().find_map(|c| {
                let get = c.readiness_probe.as_ref()?.http_get.as_ref()?;
                let cport = c.ports.as_ref()?.iter().find(|cp| match &target {
                    IntOrString::Int(n) => cp.container_port == *n,
                    IntOrString::String(name) => cp.name.as_deref() == Some(name.as_str()),
                })?;
                let on_it = match &get.port {
                    IntOrString::Int(n) => *n == cport.container_port,
                    IntOrString::String(name) => cport.name.as_deref() == Some(name.as_str()),
                };
                if !on_it {
                    return None;
                }
                let probe = c.readiness_probe.as_ref()?;
                let path = get.path.clone().unwrap_or_default();
                let host = get.host.clone().or_else(|| {
                    get.http_headers
                        .iter()
                        .flatten()
                        .find(|h| h.name.eq_ignore_ascii_case("host"))
                        .map(|h| h.value.clone())
                });
                Some(HttpProbe {
                    path: if path.starts_with('/') {
                        path
                    } else {
                        format!("/{path}")
                    },
                    host,
                    scheme: get
                        .scheme
                        .clone()
                        .unwrap_or_else(|| "HTTP".into())
                        .to_ascii_uppercase(),
                    period_seconds: probe
                        .period_seconds
                        .and_then(|v| u32::try_from(v).ok())
                        .unwrap_or(10),
                    timeout_seconds: probe
                        .timeout_seconds
                        .and_then(|v| u32::try_from(v).ok())
                        .unwrap_or(1),
                })
            })
        })
    }
}
