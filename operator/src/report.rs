//! Step 6: report on the Service — `status.loadBalancer.ingress`, a status condition, Events.
//!
//! The status patches are computed by pure functions ([`status_patch`]) so that an unchanged
//! status costs no API call.

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::Resource;
use providers::Address;
use serde_json::{json, Value};

/// The condition berth keeps on the Services it serves.
pub const CONDITION_TYPE: &str = "berth.dev/LoadBalancerReady";
/// Events' notes are limited to 1 KiB by the API server.
const MAX_NOTE: usize = 1024;

/// What berth wants `status.loadBalancer.ingress` to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Ingress {
    /// Leave as it is (e.g. after an error: the last known address stays).
    Keep,
    /// Exactly this address.
    Set(Address),
    /// No address (berth no longer serves the Service).
    Clear,
}

/// What berth wants its condition to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Keep,
    Set {
        ready: bool,
        reason: String,
        message: String,
    },
    Remove,
}

impl Cond {
    pub fn ready(reason: &str, message: impl Into<String>) -> Self {
        Cond::Set {
            ready: true,
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn failed(reason: &str, message: impl Into<String>) -> Self {
        Cond::Set {
            ready: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

fn ingress_of(address: &Address) -> LoadBalancerIngress {
    match address {
        Address::Hostname(h) => LoadBalancerIngress {
            hostname: Some(h.to_ascii_lowercase()),
            ..Default::default()
        },
        Address::Ip(ip) => LoadBalancerIngress {
            ip: Some(ip.clone()),
            ..Default::default()
        },
    }
}

/// The merge patch for the status subresource that makes the Service's status what berth
/// wants, or `None` when it already is. Pure: `now` is only used for a condition whose status
/// changes.
pub fn status_patch(svc: &Service, ingress: &Ingress, cond: &Cond, now: Time) -> Option<Value> {
    let status = svc.status.clone().unwrap_or_default();
    let current_ingress = status
        .load_balancer
        .as_ref()
        .and_then(|lb| lb.ingress.clone())
        .unwrap_or_default();
    let mut status_patch = serde_json::Map::new();

    match ingress {
        Ingress::Keep => {}
        Ingress::Set(address) => {
            let want = vec![ingress_of(address)];
            if current_ingress != want {
                status_patch.insert("loadBalancer".into(), json!({ "ingress": want }));
            }
        }
        Ingress::Clear => {
            if !current_ingress.is_empty() {
                status_patch.insert("loadBalancer".into(), json!({ "ingress": null }));
            }
        }
    }

    let current: Vec<Condition> = status.conditions.clone().unwrap_or_default();
    let ours = current.iter().find(|c| c.type_ == CONDITION_TYPE);
    let others: Vec<Condition> = current
        .iter()
        .filter(|c| c.type_ != CONDITION_TYPE)
        .cloned()
        .collect();
    match cond {
        Cond::Keep => {}
        Cond::Set {
            ready,
            reason,
            message,
        } => {
            let status_str = if *ready { "True" } else { "False" };
            let generation = svc.metadata.generation;
            let unchanged = ours.is_some_and(|c| {
                c.status == status_str
                    && &c.reason == reason
                    && &c.message == message
                    && c.observed_generation == generation
            });
            if !unchanged {
                let last_transition_time = match ours {
                    Some(c) if c.status == status_str => c.last_transition_time.clone(),
                    _ => now,
                };
                let mut all = others;
                all.push(Condition {
                    type_: CONDITION_TYPE.into(),
                    status: status_str.into(),
                    reason: reason.clone(),
                    message: message.clone(),
                    observed_generation: generation,
                    last_transition_time,
                });
                status_patch.insert("conditions".into(), json!(all));
            }
        }
        Cond::Remove => {
            if ours.is_some() {
                let v = if others.is_empty() {
                    Value::Null
                } else {
                    json!(others)
                };
                status_patch.insert("conditions".into(), v);
            }
        }
    }

    if status_patch.is_empty() {
        None
    } else {
        Some(json!({ "status": status_patch }))
    }
}

/// Patches the status subresource if it differs from what berth wants; returns whether it
/// patched.
pub async fn update_status(
    client: &kube::Client,
    svc: &Service,
    ingress: &Ingress,
    cond: &Cond,
) -> Result<bool, kube::Error> {
    let Some(patch) = status_patch(svc, ingress, cond, Time(now())) else {
        return Ok(false);
    };
    let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

/// Publishes an Event on the object (a Service, an Ingress). Failures are logged, never
/// returned: an Event that cannot be written must not fail a reconciliation.
pub async fn event<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: impl Into<String>,
) {
    let mut note = note.into();
    if note.len() > MAX_NOTE {
        let mut cut = MAX_NOTE - 3;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish Event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(status: Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "generation": 3},
            "spec": {"type": "LoadBalancer"},
            "status": status,
        }))
        .unwrap()
    }

    fn t(s: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn sets_lowercase_hostname_and_condition_once() {
        let s = svc(json!({}));
        let addr = Ingress::Set(Address::Hostname(
            "My-LB-123.ELB.us-east-1.amazonaws.com".into(),
        ));
        let cond = Cond::ready("Ensured", "ok");
        let p = status_patch(&s, &addr, &cond, t(100)).unwrap();
        assert_eq!(
            p["status"]["loadBalancer"]["ingress"][0]["hostname"],
            "my-lb-123.elb.us-east-1.amazonaws.com"
        );
        assert_eq!(p["status"]["conditions"][0]["type"], CONDITION_TYPE);
        assert_eq!(p["status"]["conditions"][0]["status"], "True");
        assert_eq!(p["status"]["conditions"][0]["observedGeneration"], 3);

        // Applying the patch makes the next one empty.
        let applied = svc(p["status"].clone());
        assert_eq!(status_patch(&applied, &addr, &cond, t(200)), None);

        // A changed message keeps the transition time; a changed status moves it.
        let p2 = status_patch(&applied, &addr, &Cond::ready("Ensured", "other"), t(200)).unwrap();
        assert!(p2["status"].get("loadBalancer").is_none());
        assert_eq!(
            p2["status"]["conditions"][0]["lastTransitionTime"],
            p["status"]["conditions"][0]["lastTransitionTime"]
        );
        let p3 = status_patch(
            &applied,
            &Ingress::Keep,
            &Cond::failed("InvalidAnnotation", "x"),
            t(200),
        )
        .unwrap();
        assert!(p3["status"].get("loadBalancer").is_none());
        assert_eq!(p3["status"]["conditions"][0]["status"], "False");
        assert_ne!(
            p3["status"]["conditions"][0]["lastTransitionTime"],
            p["status"]["conditions"][0]["lastTransitionTime"]
        );
    }

    #[test]
    fn keeps_foreign_conditions_and_clears_ours() {
        let s = svc(json!({
            "loadBalancer": {"ingress": [{"hostname": "a"}]},
            "conditions": [
                {"type": "other", "status": "True", "reason": "R", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"},
                {"type": CONDITION_TYPE, "status": "True", "reason": "Ensured", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}
            ]
        }));
        let p = status_patch(&s, &Ingress::Clear, &Cond::Remove, t(1)).unwrap();
        assert_eq!(p["status"]["loadBalancer"], json!({"ingress": null}));
        assert_eq!(p["status"]["conditions"].as_array().unwrap().len(), 1);
        assert_eq!(p["status"]["conditions"][0]["type"], "other");
        assert_eq!(
            status_patch(&svc(json!({})), &Ingress::Clear, &Cond::Remove, t(1)),
            None
        );
    }
}
