//! What each method does to the state, chosen by the discovery method's name.

use crate::discovery::{Api, Route};
use crate::error::{ApiError, ApiResult};
use crate::members;
use crate::refs::{collection_key, fill, item_key, references, user_of};
use crate::state::{timestamp, State, Stored, SELF_LINK_BASE};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Fields the server owns: kept by `update`, never taken from a body.
const SERVER_FIELDS: [&str; 7] = [
    "id",
    "creationTimestamp",
    "selfLink",
    "kind",
    "name",
    "region",
    "zone",
];

pub struct Call<'a> {
    pub api: &'a Api,
    pub route: &'a Route,
    pub params: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
}

impl Call<'_> {
    pub fn project(&self) -> &str {
        self.params
            .get("project")
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// `global`, `regions/r` or `zones/z`: where the method's operations live.
    pub fn scope(&self) -> String {
        match (self.params.get("zone"), self.params.get("region")) {
            (Some(z), _) => format!("zones/{z}"),
            (None, Some(r)) => format!("regions/{r}"),
            (None, None) => "global".to_string(),
        }
    }

    fn request_id(&self) -> Option<&str> {
        let mutation = self.route.response.as_deref() == Some("Operation");
        self.query
            .get("requestId")
            .filter(|_| mutation)
            .map(String::as_str)
    }

    fn item(&self) -> ApiResult<String> {
        item_key(self.api, self.route, &self.params).ok_or_else(|| self.unsupported())
    }

    pub fn body_object(&self) -> Map<String, Value> {
        self.body
            .as_ref()
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    fn unsupported(&self) -> ApiError {
        let (r, m) = (&self.route.resource, &self.route.method);
        ApiError::new(
            501,
            "notImplemented",
            format!("The fake does not implement {r}.{m}"),
        )
    }
}

pub fn dispatch(st: &mut State, call: &Call) -> ApiResult {
    if call.route.resource.ends_with("Operations") {
        return operations(st, call);
    }
    // A retried mutation with the same requestId gets the first one's operation, as the real
    // API does (clients resend the requestId when they retry).
    if let Some(op) = call
        .request_id()
        .and_then(|id| st.operation_for_request(id))
    {
        return Ok(op);
    }
    let method = call.route.method.as_str();
    match method {
        "insert" => insert(st, call),
        "get" => {
            let key = call.item()?;
            Ok(stored(st, &key)?.value.clone())
        }
        "list" => list(st, call),
        "delete" => delete(st, call),
        "patch" | "update" => modify(st, call),
        "setIamPolicy" => Err(call.unsupported()),
        _ if method.starts_with("set") => set(st, call),
        "addInstances"
        | "removeInstances"
        | "attachNetworkEndpoints"
        | "detachNetworkEndpoints" => {
            let key = call.item()?;
            stored(st, &key)?;
            let body = call.body_object();
            mutate(st, call, method, &key, |st| {
                members::change(st, method, &key, &body)
            })
        }
        "listInstances" | "listNetworkEndpoints" => {
            let key = call.item()?;
            stored(st, &key)?;
            Ok(members::list(st, method, &key))
        }
        "getHealth" => {
            let key = call.item()?;
            stored(st, &key)?;
            members::health(call.api, st, &key, call.project(), &call.body_object())
        }
        _ => Err(call.unsupported()),
    }
}

pub fn stored<'s>(st: &'s State, key: &str) -> ApiResult<&'s Stored> {
    st.resources
        .get(key)
        .ok_or_else(|| ApiError::not_found(key))
}

/// Runs a change and returns its operation. An injected failure or stall leaves the state as it
/// was (the real API applies nothing for a failed operation).
fn mutate(
    st: &mut State,
    call: &Call,
    operation_type: &str,
    target: &str,
    change: impl FnOnce(&mut State) -> ApiResult<()>,
) -> ApiResult {
    let fault = st.take_op_fault(operation_type);
    let before = fault
        .as_ref()
        .map(|_| (st.resources.clone(), st.members.clone()));
    let id = |st: &State| {
        st.resources
            .get(target)
            .and_then(|s| s.value["id"].as_str().map(str::to_string))
    };
    let id_before = id(st);
    if let Err(e) = change(st) {
        if let Some(f) = fault {
            st.add_op_fault(operation_type, f);
        }
        return Err(e);
    }
    let target_id = id(st).or(id_before);
    if let Some((resources, members)) = before {
        st.resources = resources;
        st.members = members;
    }
    let (project, scope) = (call.project().to_string(), call.scope());
    let op = st.start_operation(&project, &scope, operation_type, target, target_id, fault);
    if let Some(id) = call.request_id() {
        st.remember_request(id, &op);
    }
    Ok(op)
}

fn check_references(call: &Call, st: &State, value: &Value, own: &str) -> ApiResult<()> {
    for (field, key) in references(call.api, value, call.project()) {
        if key != own && !st.resources.contains_key(&key) {
            let msg = format!("The resource '{key}' was not found (field '{field}')");
            return Err(ApiError::new(404, "notFound", msg));
        }
    }
    Ok(())
}

/// RFC 1035 names, as the API demands of every resource name.
fn check_name(name: &str) -> ApiResult<()> {
    let b = name.as_bytes();
    let ok = (1..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        let msg = format!(
            "Invalid value for field 'resource.name': '{name}'. Must be a match of regex \
             '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'"
        );
        Err(ApiError::invalid(msg))
    }
}

fn schema_of(call: &Call) -> ApiResult<String> {
    let insert = call.api.method(&call.route.resource, "insert");
    insert
        .and_then(|r| r.request.clone())
        .ok_or_else(|| call.unsupported())
}

fn insert(st: &mut State, call: &Call) -> ApiResult {
    let schema = schema_of(call)?;
    let mut value = Value::Object(call.body_object());
    let name = value["name"].as_str().unwrap_or_default().to_string();
    check_name(&name)?;
    let collection = collection_key(call.api, &call.route.resource, &call.params)
        .ok_or_else(|| call.unsupported())?;
    let key = format!("{collection}/{name}");
    if st.resources.contains_key(&key) {
        return Err(ApiError::new(
            409,
            "alreadyExists",
            format!("The resource '{key}' already exists"),
        ));
    }
    check_references(call, st, &value, &key)?;
    let n = st.next();
    value["id"] = json!(st.new_id());
    value["creationTimestamp"] = json!(timestamp(n));
    value["selfLink"] = json!(format!("{SELF_LINK_BASE}{key}"));
    if let Some(kind) = call.api.kind(&schema) {
        value["kind"] = json!(kind);
    }
    let scope = call.scope();
    if let Some((field, _)) = scope.split_once('/') {
        let field = &field[..field.len() - 1];
        if call.api.has_property(&schema, field) {
            value[field] = json!(format!(
                "{SELF_LINK_BASE}projects/{}/{scope}",
                call.project()
            ));
        }
    }
    for field in ["fingerprint", "labelFingerprint"] {
        if call.api.has_property(&schema, field) {
            value[field] = json!(st.new_fingerprint());
        }
    }
    mutate(st, call, "insert", &key, |st| {
        members::on_insert(call.api, st, &schema, &key, &mut value);
        st.resources.insert(key.clone(), Stored { schema, value });
        Ok(())
    })
}

fn list(st: &mut State, call: &Call) -> ApiResult {
    let collection = collection_key(call.api, &call.route.resource, &call.params)
        .ok_or_else(|| call.unsupported())?;
    let prefix = format!("{collection}/");
    let items: Vec<(String, Value)> = st
        .resources
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, _)| !k[prefix.len()..].contains('/'))
        .map(|(k, s)| (k[prefix.len()..].to_string(), s.value.clone()))
        .collect();
    page(call, items, &format!("{SELF_LINK_BASE}{collection}"))
}

/// One page of a list; `pageToken` is the name of the first item of the page.
pub fn page(call: &Call, items: Vec<(String, Value)>, self_link: &str) -> ApiResult {
    let max = match call.query.get("maxResults") {
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| ApiError::invalid(format!("Invalid value for maxResults: '{m}'")))?,
        None => 500,
    };
    let start = match call.query.get("pageToken") {
        Some(t) => items
            .iter()
            .position(|(n, _)| n >= t)
            .unwrap_or(items.len()),
        None => 0,
    };
    let max = max.clamp(1, 500);
    let mut out = json!({"id": self_link, "selfLink": self_link});
    if let Some(kind) = call
        .route
        .response
        .as_deref()
        .and_then(|s| call.api.kind(s))
    {
        out["kind"] = json!(kind);
    }
    let end = (start + max).min(items.len());
    if end > start {
        out["items"] = json!(items[start..end].iter().map(|(_, v)| v).collect::<Vec<_>>());
    }
    if end < items.len() {
        out["nextPageToken"] = json!(items[end].0);
    }
    Ok(out)
}

fn delete(st: &mut State, call: &Call) -> ApiResult {
    let key = call.item()?;
    let resource = stored(st, &key)?;
    let user = user_of(call.api, st, &key)
        .or_else(|| resource.value["users"][0].as_str().map(str::to_string));
    if let Some(user) = user {
        let msg = format!("The resource '{key}' is already being used by '{user}'");
        return Err(ApiError::new(400, "resourceInUseByAnotherResource", msg));
    }
    mutate(st, call, "delete", &key, |st| {
        st.resources.remove(&key);
        st.members.remove(&key);
        members::on_delete(st, &key);
        Ok(())
    })
}

fn check_fingerprint(current: &Value, body: &Map<String, Value>, field: &str) -> ApiResult<()> {
    match body.get(field) {
        Some(given) if given != &current[field] => {
            let msg = format!(
                "Invalid fingerprint: the resource has changed since '{field}' {given} was read \
                 (now {}).",
                current[field]
            );
            Err(ApiError::new(412, "conditionNotMet", msg))
        }
        _ => Ok(()),
    }
}

/// JSON merge: objects merge field by field, anything else (arrays too) replaces, null removes.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match v {
                    Value::Null => {
                        t.remove(k);
                    }
                    _ => merge(t.entry(k.clone()).or_insert(Value::Null), v),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn modify(st: &mut State, call: &Call) -> ApiResult {
    let key = call.item()?;
    let current = stored(st, &key)?.value.clone();
    let body = call.body_object();
    if let Some(name) = body.get("name").filter(|n| *n != &current["name"]) {
        return Err(ApiError::invalid(format!(
            "Invalid value for field 'resource.name': {name}: the name cannot change"
        )));
    }
    check_fingerprint(&current, &body, "fingerprint")?;
    let mut next = current.clone();
    if call.route.method == "update" {
        next = Value::Object(body.clone());
        for f in SERVER_FIELDS {
            if let Some(v) = current.get(f) {
                next[f] = v.clone();
            }
        }
    } else {
        let patch: Map<String, Value> = body
            .into_iter()
            .filter(|(k, _)| !SERVER_FIELDS.contains(&k.as_str()))
            .collect();
        merge(&mut next, &Value::Object(patch));
    }
    check_references(call, st, &next, &key)?;
    let method = call.route.method.clone();
    replace(st, call, &method, &key, next, &current)
}

/// Stores the changed resource with new fingerprints, through an operation.
fn replace(
    st: &mut State,
    call: &Call,
    operation_type: &str,
    key: &str,
    mut next: Value,
    current: &Value,
) -> ApiResult {
    for field in ["fingerprint", "labelFingerprint"] {
        if current.get(field).is_some()
            && (field == "fingerprint" || next["labels"] != current["labels"])
        {
            next[field] = json!(st.new_fingerprint());
        } else if let Some(v) = current.get(field) {
            next[field] = v.clone();
        }
    }
    mutate(st, call, operation_type, key, |st| {
        if let Some(s) = st.resources.get_mut(key) {
            s.value = next;
        }
        Ok(())
    })
}

/// `set*` methods: each field of the request lands in the field of the same name
/// (`setEdgeSecurityPolicy`'s `securityPolicy` in `edgeSecurityPolicy`).
fn set(st: &mut State, call: &Call) -> ApiResult {
    let key = call.item()?;
    let stored = stored(st, &key)?;
    let (current, schema) = (stored.value.clone(), stored.schema.clone());
    let body = call.body_object();
    check_fingerprint(&current, &body, "fingerprint")?;
    check_fingerprint(&current, &body, "labelFingerprint")?;
    let mut next = current.clone();
    for (k, v) in body.iter().filter(|(k, _)| !k.ends_with("ingerprint")) {
        let field = match (call.route.method.as_str(), k.as_str()) {
            ("setEdgeSecurityPolicy", "securityPolicy") => "edgeSecurityPolicy",
            _ => k.as_str(),
        };
        if !call.api.has_property(&schema, field) {
            return Err(call.unsupported());
        }
        next[field] = v.clone();
    }
    check_references(call, st, &next, &key)?;
    let method = call.route.method.clone();
    replace(st, call, &method, &key, next, &current)
}

fn operations(st: &mut State, call: &Call) -> ApiResult {
    let ops_list = call
        .api
        .method(&call.route.resource, "list")
        .ok_or_else(|| call.unsupported())?;
    let prefix = format!("{}/", fill(&ops_list.segs, &call.params, None));
    let key = format!(
        "{prefix}{}",
        call.params
            .get("operation")
            .map(String::as_str)
            .unwrap_or_default()
    );
    match call.route.method.as_str() {
        "get" => st.poll_operation(&key, false),
        "wait" => st.poll_operation(&key, true),
        "delete" => st.delete_operation(&key).map(|()| Value::Null),
        "list" => {
            let ops = st.operations_under(&prefix);
            let items = ops
                .into_iter()
                .map(|o| (o["name"].as_str().unwrap_or_default().to_string(), o))
                .collect();
            page(
                call,
                items,
                &format!("{SELF_LINK_BASE}{}", &prefix[..prefix.len() - 1]),
            )
        }
        _ => Err(call.unsupported()),
    }
}
