//! The cluster's shared resources (instance groups, the `externalTrafficPolicy: Cluster` health
//! check and its firewall rule) go with the last load balancer that uses them: when a backend
//! service is deleted, each shared resource it referenced is deleted too, if it carries
//! berth's shared mark for this cluster, and unless Compute refuses because another resource
//! still uses it (`resourceInUseByAnotherResource`: then it stays, for that user). Compute's
//! referential integrity decides, so no count of users is kept that could go stale.

use super::client::{GcpProvider, IN_USE};
use super::description::{self, Owner};
use super::kinds::*;
use super::names;
use super::operation::Scope;
use crate::engine::apply::Progress;
use crate::error::{Error, Result};
use google_cloud_compute_v1::model::Operation;
use serde_json::{Map, Value};

/// A shared resource a backend service refers to, from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dependency {
    HealthCheck(String),
    InstanceGroup { zone: String, name: String },
}

impl Dependency {
    pub fn of_url(url: &str) -> Option<Dependency> {
        // A global health check is an Ingress's own (its plan deletes it).
        if url.contains("/global/") {
            return None;
        }
        let parts: Vec<&str> = url.trim_end_matches('/').rsplit('/').take(4).collect();
        match parts.as_slice() {
            [name, "healthChecks", ..] => Some(Dependency::HealthCheck(name.to_string())),
            [name, "instanceGroups", zone, "zones"] => Some(Dependency::InstanceGroup {
                zone: zone.to_string(),
                name: name.to_string(),
            }),
            _ => None,
        }
    }
}

/// The shared resources a backend service's properties refer to.
pub fn dependencies(backend_service: &Map<String, Value>) -> Vec<Dependency> {
    let checks = backend_service
        .get("healthChecks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    let groups = backend_service
        .get("backends")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("group")?.as_str());
    checks
        .chain(groups)
        .filter_map(Dependency::of_url)
        .collect()
}

impl GcpProvider {
    fn is_shared_mark(&self, body: &Map<String, Value>) -> bool {
        let d = body.get("description").and_then(Value::as_str);
        description::owner(&self.cluster, d) == Some(Owner::Shared)
    }

    /// Deletes one shared resource if it is berth's and unused: `Ok(true)` when it is gone.
    async fn release_one(
        &self,
        what: &str,
        scope: Scope,
        body: Option<Map<String, Value>>,
        delete: impl std::future::Future<Output = Result<Option<Operation>>>,
    ) -> Result<bool> {
        match body {
            Some(b) if self.is_shared_mark(&b) => {}
            _ => return Ok(false),
        }
        match delete.await {
            Ok(None) => Ok(true),
            Ok(Some(op)) => Ok(self.wait(what, scope, op).await? == Progress::Done),
            Err(Error::Cloud { message, .. }) if message.contains(IN_USE) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// After a backend service is gone: its shared dependencies that nothing else uses go too.
    pub(crate) async fn release(&self, backend_service: &Map<String, Value>) -> Result<()> {
        for dep in dependencies(backend_service) {
            match dep {
                Dependency::HealthCheck(name) => {
                    let body = self.get_named(REGION_HEALTH_CHECK, &name).await?;
                    let what = format!("delete shared health check {name}");
                    let delete = self.delete_named(REGION_HEALTH_CHECK, &name);
                    if self
                        .release_one(&what, Scope::Regional, body, delete)
                        .await?
                    {
                        // Its firewall rule was for it alone.
                        let fw = names::shared_health_check_firewall(&self.cluster);
                        let body = self.get_named(FIREWALL, &fw).await?;
                        let what = format!("delete shared firewall rule {fw}");
                        let delete = self.delete_named(FIREWALL, &fw);
                        self.release_one(&what, Scope::Global, body, delete).await?;
                    }
                }
                Dependency::InstanceGroup { zone, name } => {
                    let body = self.get_instance_group(&zone, &name).await?;
                    let what = format!("delete instance group {zone}/{name}");
                    let delete = self.delete_instance_group(&zone, &name);
                    self.release_one(&what, Scope::Zonal(zone.clone()), body, delete)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_backend_service_names_its_shared_dependencies_by_url() {
        let api = crate::gcp::facts::API;
        let bs = json!({
            "healthChecks": [format!("{api}projects/p/regions/r/healthChecks/hc")],
            "backends": [{"group": format!("{api}projects/p/zones/r-a/instanceGroups/ig")}],
        });
        assert_eq!(
            dependencies(bs.as_object().unwrap()),
            [
                Dependency::HealthCheck("hc".into()),
                Dependency::InstanceGroup {
                    zone: "r-a".into(),
                    name: "ig".into()
                }
            ]
        );
        assert_eq!(Dependency::of_url("https://example.com/networks/n"), None);
    }
}
