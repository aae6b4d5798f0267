//! What lives inside resources: instance group members, NEG endpoints, and the IP addresses
//! the API assigns to addresses and forwarding rules.

use crate::discovery::Api;
use crate::error::{ApiError, ApiResult};
use crate::refs::reference;
use crate::state::{State, SELF_LINK_BASE};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Server-set fields of a new resource: an address gets an IP when none was asked for; a
/// forwarding rule's `IPAddress` becomes the literal IP (the real API resolves an address URL
/// to its IP) and the address it uses lists it in `users`.
pub fn on_insert(api: &Api, st: &mut State, schema: &str, key: &str, value: &mut Value) {
    let n = st.next();
    let global = key.contains("/global/");
    // Four octets from the benchmarking range 198.18.0.0/15: global in 198.19, regional in
    // 198.18.
    let ip = format!(
        "{}.{}.{}",
        if global { "198.19" } else { "198.18" },
        n / 250 % 250,
        n % 250 + 1
    );
    match schema {
        "Address" => {
            if value["address"].is_null() {
                value["address"] = json!(ip);
            }
            value["status"] = json!("RESERVED");
        }
        "ForwardingRule" => {
            let given = value["IPAddress"].as_str().map(str::to_string);
            let address = given.as_deref().and_then(|g| {
                let by_ref = reference(api, g, crate::refs::project_of(key));
                by_ref.or_else(|| address_with_ip(st, key, g))
            });
            let literal = match (&address, &given) {
                (Some(a), _) => st.resources[a].value["address"]
                    .as_str()
                    .map(str::to_string),
                (None, Some(g)) => Some(g.clone()),
                (None, None) => Some(ip),
            };
            value["IPAddress"] = json!(literal);
            if let Some(a) = address.and_then(|a| st.resources.get_mut(&a)) {
                let users = a.value["users"].as_array().cloned().unwrap_or_default();
                let mut users: Vec<Value> = users.into_iter().collect();
                users.push(json!(format!("{SELF_LINK_BASE}{key}")));
                a.value["users"] = json!(users);
                a.value["status"] = json!("IN_USE");
            }
        }
        "InstanceGroup" | "NetworkEndpointGroup" => value["size"] = json!(0),
        _ => {}
    }
}

/// The stored address in the forwarding rule's scope (global, or the same region) with that IP.
fn address_with_ip(st: &State, rule_key: &str, ip: &str) -> Option<String> {
    let scope = rule_key.rsplitn(3, '/').nth(2)?;
    let prefix = format!("{scope}/addresses/");
    st.resources
        .iter()
        .find(|(k, s)| k.starts_with(&prefix) && s.value["address"] == ip)
        .map(|(k, _)| k.clone())
}

/// A deleted forwarding rule no longer uses its address.
pub fn on_delete(st: &mut State, key: &str) {
    let link = json!(format!("{SELF_LINK_BASE}{key}"));
    for s in st.resources.values_mut().filter(|s| s.schema == "Address") {
        if let Some(users) = s.value["users"].as_array_mut() {
            users.retain(|u| u != &link);
            if users.is_empty() {
                s.value.as_object_mut().map(|o| o.remove("users"));
                s.value["status"] = json!("RESERVED");
            }
        }
    }
}

/// Endpoints are kept as JSON with sorted keys, so the same endpoint written twice is one.
fn endpoint_key(v: &Value) -> String {
    let sorted: BTreeMap<&String, &Value> = v
        .as_object()
        .map(|o| o.iter().collect())
        .unwrap_or_default();
    serde_json::to_string(&sorted).unwrap_or_default()
}

pub fn change(st: &mut State, method: &str, key: &str, body: &Map<String, Value>) -> ApiResult<()> {
    let (field, add) = match method {
        "addInstances" => ("instances", true),
        "removeInstances" => ("instances", false),
        "attachNetworkEndpoints" => ("networkEndpoints", true),
        _ => ("networkEndpoints", false),
    };
    let given = body
        .get(field)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let entries: Vec<String> = match field {
        "instances" => given
            .iter()
            .filter_map(|i| i["instance"].as_str().map(str::to_string))
            .collect(),
        _ => given.iter().map(endpoint_key).collect(),
    };
    let members = st.members.entry(key.to_string()).or_default();
    for e in entries {
        let present = members.contains(&e);
        match (add, present) {
            (true, true) => {
                return Err(ApiError::new(
                    400,
                    "memberAlreadyExists",
                    format!("'{e}' is already a member of '{key}'"),
                ))
            }
            (false, false) => {
                return Err(ApiError::new(
                    400,
                    "memberNotFound",
                    format!("'{e}' is not a member of '{key}'"),
                ))
            }
            (true, false) => members.insert(e),
            (false, true) => members.remove(&e),
        };
    }
    let size = members.len();
    if let Some(s) = st.resources.get_mut(key) {
        s.value["size"] = json!(size);
    }
    Ok(())
}

pub fn list(st: &State, method: &str, key: &str) -> Value {
    let members = st.members.get(key).cloned().unwrap_or_default();
    let items: Vec<Value> = members
        .iter()
        .map(|m| match method {
            "listInstances" => json!({"instance": m, "status": "RUNNING"}),
            _ => json!({"networkEndpoint": serde_json::from_str::<Value>(m).unwrap_or_default()}),
        })
        .collect();
    let kind = match method {
        "listInstances" => "compute#instanceGroupsListInstances",
        _ => "compute#networkEndpointGroupsListNetworkEndpoints",
    };
    let mut out = json!({"kind": kind});
    if !items.is_empty() {
        out["items"] = json!(items);
    }
    out
}

/// Every member of the group is HEALTHY: the fake runs no health checks.
pub fn health(
    api: &Api,
    st: &State,
    service: &str,
    project: &str,
    body: &Map<String, Value>,
) -> ApiResult {
    let group = body
        .get("group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group_key = reference(api, group, project).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid value for field 'resource.group': '{group}'"
        ))
    })?;
    let backends = st.resources[service].value["backends"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let in_service = backends.iter().any(|b| {
        b["group"]
            .as_str()
            .and_then(|g| reference(api, g, project))
            .as_deref()
            == Some(group_key.as_str())
    });
    if !in_service {
        return Err(ApiError::invalid(format!(
            "Could not find '{group}' among the backends of '{service}'"
        )));
    }
    let members = st.members.get(&group_key).cloned().unwrap_or_default();
    let states: Vec<Value> = members
        .iter()
        .map(|m| match serde_json::from_str::<Value>(m) {
            Ok(Value::Object(ep)) => {
                let mut s = json!({"healthState": "HEALTHY"});
                for f in ["ipAddress", "port", "instance"] {
                    if let Some(v) = ep.get(f) {
                        s[f] = v.clone();
                    }
                }
                s
            }
            _ => json!({"instance": m, "healthState": "HEALTHY"}),
        })
        .collect();
    Ok(json!({"kind": "compute#backendServiceGroupHealth", "healthStatus": states}))
}
