//! The cluster's instance group in a zone, and its members: the group is created when missing
//! and never deleted by one Service; members follow the Nodes through `addInstances` /
//! `removeInstances` (only berth's own group, whose description marks it, is ever changed).

use crate::engine::apply::Progress;
use crate::error::Error;
use crate::error::Result;
use crate::gcp::client::GcpProvider;
use crate::gcp::operation::Scope;
use google_cloud_compute_v1::model::{
    InstanceGroup, InstanceGroupsAddInstancesRequest, InstanceGroupsListInstancesRequest,
    InstanceGroupsRemoveInstancesRequest, InstanceGroupsSetNamedPortsRequest, InstanceReference,
    NamedPort, Operation,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// More pages than this of one group's members is a cloud that pages forever.
const MAX_PAGES: usize = 1_000;

/// `us-central1-a/berth-1a2b3c4d-ig` -> (`us-central1-a`, `berth-1a2b3c4d-ig`).
pub fn split(plan_name: &str) -> (&str, &str) {
    plan_name.split_once('/').unwrap_or(("", plan_name))
}

/// The instance URLs of a members resource's properties.
pub fn instances(props: &Map<String, Value>) -> BTreeSet<String> {
    props
        .get("instances")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("instance")?.as_str().map(String::from))
        .collect()
}

fn references(urls: &BTreeSet<String>) -> Vec<InstanceReference> {
    urls.iter()
        .map(|u| InstanceReference::new().set_instance(u.clone()))
        .collect()
}

impl GcpProvider {
    pub(crate) async fn get_instance_group(
        &self,
        zone: &str,
        name: &str,
    ) -> Result<Option<Map<String, Value>>> {
        let (c, p) = (&self.clients, self.project.as_str());
        Ok(self
            .call_unless_absent("GetInstanceGroup", || {
                c.instance_groups
                    .get()
                    .set_project(p)
                    .set_zone(zone)
                    .set_instance_group(name)
                    .send()
            })
            .await?
            .map(|g| super::calls::json(&g)))
    }

    pub(crate) async fn insert_instance_group(
        &self,
        zone: &str,
        props: &Map<String, Value>,
    ) -> Result<Operation> {
        let (c, p) = (&self.clients, self.project.as_str());
        let b: InstanceGroup = super::calls::body(super::INSTANCE_GROUP, props)?;
        self.call("InsertInstanceGroup", || {
            c.instance_groups
                .insert()
                .set_project(p)
                .set_zone(zone)
                .set_body(b.clone())
                .send()
        })
        .await
    }

    /// `None`: it was already gone.
    pub(crate) async fn delete_instance_group(
        &self,
        zone: &str,
        name: &str,
    ) -> Result<Option<Operation>> {
        let (c, p) = (&self.clients, self.project.as_str());
        self.call_unless_absent("DeleteInstanceGroup", || {
            c.instance_groups
                .delete()
                .set_project(p)
                .set_zone(zone)
                .set_instance_group(name)
                .send()
        })
        .await
    }

    /// The group's members as a members resource's properties (`{"instances": [...]}`).
    pub(crate) async fn list_members(&self, zone: &str, name: &str) -> Result<Map<String, Value>> {
        let (c, p) = (&self.clients, self.project.as_str());
        let mut urls = BTreeSet::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .call("ListInstanceGroupInstances", || {
                    let mut req = c
                        .instance_groups
                        .list_instances()
                        .set_project(p)
                        .set_zone(zone)
                        .set_instance_group(name)
                        .set_body(InstanceGroupsListInstancesRequest::new());
                    if let Some(t) = &token {
                        req = req.set_page_token(t.clone());
                    }
                    req.send()
                })
                .await?;
            urls.extend(page.items.iter().filter_map(|i| i.instance.clone()));
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                let list: Vec<Value> = urls.iter().map(|u| json!({"instance": u})).collect();
                return Ok(Map::from_iter([(
                    "instances".to_string(),
                    Value::Array(list),
                )]));
            }
        }
        Err(crate::error::Error::cloud(
            "ListInstanceGroupInstances",
            format!("more than {MAX_PAGES} pages; stopped instead of paging forever"),
            true,
        ))
    }

    /// Makes the group's members exactly `want`, against a fresh listing (every Service and
    /// Ingress of the cluster edits the same groups): adds and removes the difference; a
    /// refusal because another writer got there first (already a member, not a member) is
    /// re-listed and retried once.
    pub(crate) async fn sync_members(
        &self,
        zone: &str,
        name: &str,
        want: &BTreeSet<String>,
    ) -> Result<Progress> {
        let what = format!("update members of {zone}/{name}");
        for attempt in 1..=2 {
            let have = instances(&self.list_members(zone, name).await?);
            let add: BTreeSet<String> = want.difference(&have).cloned().collect();
            let remove: BTreeSet<String> = have.difference(want).cloned().collect();
            let mut result = Ok(Progress::Done);
            for (urls, adding) in [(add, true), (remove, false)] {
                if urls.is_empty() || result.as_ref().is_ok_and(|p| *p != Progress::Done) {
                    continue;
                }
                result = match self.change_members(zone, name, &urls, adding).await {
                    Ok(op) => self.wait(&what, Scope::Zonal(zone.into()), op).await,
                    Err(e) => Err(e),
                };
                if result.is_err() {
                    break;
                }
            }
            match result {
                Err(Error::Cloud {
                    retryable: false, ..
                }) if attempt == 1 => continue,
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    /// `add`: `addInstances`, else `removeInstances`, of these instance URLs.
    pub(crate) async fn change_members(
        &self,
        zone: &str,
        name: &str,
        urls: &BTreeSet<String>,
        add: bool,
    ) -> Result<Operation> {
        let (c, p) = (&self.clients.instance_groups, self.project.as_str());
        let list = references(urls);
        if add {
            let b = InstanceGroupsAddInstancesRequest::new().set_instances(list);
            self.call("AddInstanceGroupInstances", || {
                c.add_instances()
                    .set_project(p)
                    .set_zone(zone)
                    .set_instance_group(name)
                    .set_body(b.clone())
                    .send()
            })
            .await
        } else {
            let b = InstanceGroupsRemoveInstancesRequest::new().set_instances(list);
            self.call("RemoveInstanceGroupInstances", || {
                c.remove_instances()
                    .set_project(p)
                    .set_zone(zone)
                    .set_instance_group(name)
                    .set_body(b.clone())
                    .send()
            })
            .await
        }
    }

    /// Adds the desired named ports (`{"namedPorts": [...]}`) to the group's, keeping every
    /// other one (other load balancers use them); a port of the same name takes the desired
    /// number. `setNamedPorts` carries the group's fingerprint; a stale one is re-read.
    pub(crate) async fn add_named_ports(
        &self,
        zone: &str,
        name: &str,
        props: &Map<String, Value>,
    ) -> Result<Progress> {
        let desired: Vec<NamedPort> = super::calls::body::<InstanceGroupsSetNamedPortsRequest>(
            super::INSTANCE_GROUP_NAMED_PORTS,
            props,
        )?
        .named_ports;
        let (c, p) = (&self.clients.instance_groups, self.project.as_str());
        for attempt in 1..=3 {
            let group = self
                .call("GetInstanceGroup", || {
                    c.get()
                        .set_project(p)
                        .set_zone(zone)
                        .set_instance_group(name)
                        .send()
                })
                .await?;
            let mut ports: Vec<NamedPort> = group
                .named_ports
                .iter()
                .filter(|have| !desired.iter().any(|d| d.name == have.name))
                .cloned()
                .collect();
            ports.extend(desired.iter().cloned());
            ports.sort_by_key(|p| p.port);
            let mut req = InstanceGroupsSetNamedPortsRequest::new().set_named_ports(ports);
            req.fingerprint = group.fingerprint.clone();
            let sent = self
                .call("SetInstanceGroupNamedPorts", || {
                    c.set_named_ports()
                        .set_project(p)
                        .set_zone(zone)
                        .set_instance_group(name)
                        .set_body(req.clone())
                        .send()
                })
                .await;
            match sent {
                Ok(op) => {
                    return self
                        .wait(
                            &format!("set named ports of {zone}/{name}"),
                            Scope::Zonal(zone.into()),
                            op,
                        )
                        .await
                }
                Err(Error::StaleVersion { .. }) if attempt < 3 => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }
}
