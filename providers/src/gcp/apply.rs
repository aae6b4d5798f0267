//! The engine's executor for GCP: each change is one Compute call (an update of a kind with a
//! fingerprint re-reads it first), followed by its Operation with a deadline. A create still
//! running at the deadline stops the apply as in progress (what comes after needs it); the
//! next reconcile observes and goes on.

use super::client::GcpProvider;
use super::facts::API;
use super::kinds::calls::scope;
use super::kinds::instance_group::{instances, split};
use super::kinds::*;
use super::operation::Scope;
use crate::engine::apply::{Created, Executor, Progress};
use crate::error::{Error, Result};
use crate::plan::Change;
use serde_json::{Map, Value};

/// Kinds whose patch must carry the current fingerprint.
const FINGERPRINTED: [&str; 6] = [
    REGION_BACKEND_SERVICE,
    FORWARDING_RULE,
    BACKEND_SERVICE,
    URL_MAP,
    TARGET_HTTP_PROXY,
    TARGET_HTTPS_PROXY,
];
/// A stale fingerprint (412) is re-read and retried this many times.
const STALE_RETRIES: usize = 3;

fn what(c: &Change) -> String {
    format!("{:?} {} {}", c.action, c.kind, c.name).to_lowercase()
}

impl GcpProvider {
    fn group_url(&self, zone: &str, name: &str) -> String {
        format!(
            "{API}projects/{}/zones/{zone}/instanceGroups/{name}",
            self.project
        )
    }

    fn finished(&self, c: &Change, p: Progress) -> Result<()> {
        match p {
            Progress::Done => Ok(()),
            Progress::Pending(why) => {
                Err(Error::InProgress(format!("{} {}: {why}", c.kind, c.name)))
            }
        }
    }

    async fn patch_fresh(&self, c: &Change, props: &Map<String, Value>) -> Result<Progress> {
        let name = props
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&c.name)
            .to_string();
        let mut body: Map<String, Value> = c
            .changed
            .iter()
            .filter_map(|k| Some((k.clone(), props.get(k)?.clone())))
            .collect();
        for attempt in 1..=STALE_RETRIES {
            if FINGERPRINTED.contains(&c.kind.as_str()) {
                let current = self.get_named(&c.kind, &name).await?.ok_or_else(|| {
                    Error::cloud(what(c), "the resource disappeared before its update", true)
                })?;
                if let Some(f) = current.get("fingerprint") {
                    body.insert("fingerprint".into(), f.clone());
                }
            }
            match self.patch_named(&c.kind, &name, &body).await {
                Ok(op) => return self.wait(&what(c), scope(&c.kind), op).await,
                Err(Error::StaleVersion { .. }) if attempt < STALE_RETRIES => continue,
                Err(Error::StaleVersion { resource, .. }) => {
                    return Err(Error::StaleVersion {
                        resource,
                        attempts: attempt,
                    })
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }
}

#[async_trait::async_trait]
impl Executor for GcpProvider {
    async fn create(&self, c: &Change, props: &Map<String, Value>) -> Result<Created> {
        match c.kind.as_str() {
            INSTANCE_GROUP => {
                let (zone, name) = split(&c.name);
                let op = self.insert_instance_group(zone, props).await?;
                let p = self.wait(&what(c), Scope::Zonal(zone.into()), op).await?;
                self.finished(c, p)?;
                Ok(Created::id(self.group_url(zone, name)))
            }
            INSTANCE_GROUP_NAMED_PORTS => {
                let (zone, name) = split(&c.name);
                let p = self.add_named_ports(zone, name, props).await?;
                self.finished(c, p)?;
                Ok(Created::id(self.group_url(zone, name)))
            }
            INSTANCE_GROUP_MEMBERS => {
                let (zone, name) = split(&c.name);
                let p = self.sync_members(zone, name, &instances(props)).await?;
                self.finished(c, p)?;
                Ok(Created::id(self.group_url(zone, name)))
            }
            kind => {
                let op = self.insert_named(kind, props).await?;
                let target = super::operation::OpState::of(&op).target;
                let p = self.wait(&what(c), scope(kind), op).await?;
                self.finished(c, p)?;
                let name = props.get("name").and_then(Value::as_str).unwrap_or(&c.name);
                let mut created = Created::id(target.unwrap_or_default());
                // The address Compute picked is known once the rule exists.
                if kind == FORWARDING_RULE || kind == GLOBAL_FORWARDING_RULE {
                    let rule = self.get_named(kind, name).await?.unwrap_or_default();
                    if let Some(ip) = rule.get("IPAddress") {
                        created.outputs.insert("IPAddress".into(), ip.clone());
                    }
                    if let Some(link) = rule.get("selfLink").and_then(Value::as_str) {
                        created.id = link.to_string();
                    }
                }
                if created.id.is_empty() {
                    return Err(Error::cloud(
                        what(c),
                        "the operation named no target resource",
                        true,
                    ));
                }
                Ok(created)
            }
        }
    }

    async fn update(&self, c: &Change, _id: &str, props: &Map<String, Value>) -> Result<Progress> {
        match c.kind.as_str() {
            INSTANCE_GROUP_MEMBERS => {
                let (zone, name) = split(&c.name);
                self.sync_members(zone, name, &instances(props)).await
            }
            INSTANCE_GROUP_NAMED_PORTS => {
                let (zone, name) = split(&c.name);
                self.add_named_ports(zone, name, props).await
            }
            INSTANCE_GROUP => Err(Error::Bug(format!(
                "{}: an instance group has no property berth changes in place",
                c.name
            ))),
            _ => self.patch_fresh(c, props).await,
        }
    }

    async fn delete(&self, c: &Change, _id: &str) -> Result<Progress> {
        let name = c
            .properties
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&c.name);
        let progress = match self.delete_named(&c.kind, name).await? {
            None => Progress::Done,
            Some(op) => self.wait(&what(c), scope(&c.kind), op).await?,
        };
        let backend_service = c.kind == REGION_BACKEND_SERVICE || c.kind == BACKEND_SERVICE;
        if progress == Progress::Done && backend_service {
            // The last user of a shared resource takes it along; a failure here must not
            // keep the Service (its own resources are gone), so it is reported and left.
            if let Err(e) = self.release(&c.properties).await {
                tracing::warn!(backend_service = %c.name, error = %e, "shared resources of the cluster left in place");
            }
        }
        Ok(progress)
    }
}
