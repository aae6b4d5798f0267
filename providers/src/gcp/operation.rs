//! A mutation's Compute Operation, waited for with a deadline (never a hang): `DONE` without
//! `error` is done; `DONE` with `error.errors[]` is the cloud's failure (quotas named as
//! such); still running at the deadline is pending, and the next reconcile looks again.

use super::client::GcpProvider;
use crate::engine::apply::Progress;
use crate::error::{Error, Result};
use google_cloud_compute_v1::model::Operation;
use serde_json::Value;

/// Where an operation lives (and is polled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Regional,
    Zonal(String),
}

/// The parts of an Operation berth reads, from its JSON (the discovery names).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpState {
    pub name: String,
    pub done: bool,
    /// The resource it acts on (its self link).
    pub target: Option<String>,
    pub error: Option<String>,
    pub quota: bool,
}

impl OpState {
    pub fn of(op: &Operation) -> OpState {
        let v = serde_json::to_value(op).unwrap_or(Value::Null);
        let errors = v["error"]["errors"].as_array().cloned().unwrap_or_default();
        let error = (!errors.is_empty()).then(|| {
            errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["code"].as_str().unwrap_or("ERROR"),
                        e["message"].as_str().unwrap_or("(no message)")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        });
        OpState {
            name: v["name"].as_str().unwrap_or_default().to_string(),
            done: v["status"] == "DONE",
            target: v["targetLink"].as_str().map(String::from),
            quota: errors.iter().any(|e| {
                e["code"]
                    .as_str()
                    .is_some_and(|c| c.contains("QUOTA") || c.contains("LIMIT_EXCEEDED"))
            }),
            error,
        }
    }

    fn result(&self, what: &str) -> Result<bool> {
        match &self.error {
            Some(_) if self.quota => Err(Error::Quota {
                object: String::new(),
                what: format!("{what}: {}", self.error.clone().unwrap_or_default()),
            }),
            Some(e) => Err(Error::OperationFailed {
                operation: format!("{what} ({})", self.name),
                message: e.clone(),
            }),
            None => Ok(self.done),
        }
    }
}

impl GcpProvider {
    /// Waits for `op` (what `what` did) up to the operation deadline.
    pub(crate) async fn wait(&self, what: &str, scope: Scope, op: Operation) -> Result<Progress> {
        let first = OpState::of(&op);
        if first.result(what)? {
            return Ok(Progress::Done);
        }
        if first.name.is_empty() {
            return Err(Error::cloud(
                what,
                "Compute returned a running operation without a name; it cannot be followed",
                true,
            ));
        }
        let t = self.timeouts;
        crate::engine::operation::wait(what, t.operation, t.poll, || {
            let (name, scope) = (first.name.clone(), scope.clone());
            async move {
                let op = self.get_operation(&scope, &name).await?;
                OpState::of(&op).result(what)
            }
        })
        .await
    }

    async fn get_operation(&self, scope: &Scope, name: &str) -> Result<Operation> {
        let (c, project, region) = (&self.clients, self.project.as_str(), self.region.as_str());
        match scope {
            Scope::Global => {
                self.call("GetGlobalOperation", || {
                    c.firewalls
                        .get_operation()
                        .set_project(project)
                        .set_operation(name)
                        .send()
                })
                .await
            }
            Scope::Regional => {
                self.call("GetRegionOperation", || {
                    c.region_backend_services
                        .get_operation()
                        .set_project(project)
                        .set_region(region)
                        .set_operation(name)
                        .send()
                })
                .await
            }
            Scope::Zonal(zone) => {
                self.call("GetZoneOperation", || {
                    c.instance_groups
                        .get_operation()
                        .set_project(project)
                        .set_zone(zone)
                        .set_operation(name)
                        .send()
                })
                .await
            }
        }
    }
}
