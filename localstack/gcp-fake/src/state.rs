//! The fake's memory: resources, operations, injected faults and the request log.

use crate::error::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Self links use the host the real API writes into them.
pub const SELF_LINK_BASE: &str = "https://www.googleapis.com/compute/v1/";

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    /// Below the host, e.g. `/compute/v1/projects/p/global/healthChecks`.
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Stored {
    pub schema: String,
    pub value: Value,
}

#[derive(Debug)]
struct HttpFault {
    method: String,
    path_contains: String,
    status: u16,
    remaining: usize,
}

/// What an injected operation fault does.
#[derive(Debug, Clone)]
pub enum OpFault {
    /// Ends `DONE` with `error.errors[]` holding this code and message.
    Fail { code: String, message: String },
    /// Stays `RUNNING` forever.
    Stall,
}

#[derive(Debug)]
struct Operation {
    value: Value,
    polls: u32,
    fault: Option<OpFault>,
}

#[derive(Default)]
pub struct State {
    pub resources: BTreeMap<String, Stored>,
    /// Instance URLs of an instance group, endpoints (as JSON) of a NEG, by the group's key.
    pub members: BTreeMap<String, BTreeSet<String>>,
    operations: BTreeMap<String, Operation>,
    http_faults: Vec<HttpFault>,
    op_faults: Vec<(String, OpFault)>,
    pub log: Vec<Request>,
    pub violations: Vec<String>,
    /// Operation keys by the `requestId` that started them.
    request_ids: BTreeMap<String, String>,
    counter: u64,
}

impl State {
    pub fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub fn new_id(&mut self) -> String {
        (1_000_000_000_000 + self.next() * 7919).to_string()
    }

    /// URL-safe base64, as Compute writes fingerprints (and as the Rust client reads them).
    pub fn new_fingerprint(&mut self) -> String {
        use base64::Engine;
        let n = self.next().wrapping_mul(0x9E37_79B9_7F4A_7C15);
        base64::engine::general_purpose::URL_SAFE.encode(n.to_be_bytes())
    }

    pub fn add_http_fault(&mut self, method: &str, path_contains: &str, status: u16, n: usize) {
        self.http_faults.push(HttpFault {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            status,
            remaining: n,
        });
    }

    pub fn add_op_fault(&mut self, operation_type: &str, fault: OpFault) {
        self.op_faults.push((operation_type.to_string(), fault));
    }

    /// The injected HTTP failure for this request, if one is due; it is used up.
    pub fn take_http_fault(&mut self, method: &str, path: &str) -> Option<ApiError> {
        let f = self.http_faults.iter_mut().find(|f| {
            f.remaining > 0
                && (f.method.is_empty() || f.method.eq_ignore_ascii_case(method))
                && path.contains(&f.path_contains)
        })?;
        f.remaining -= 1;
        Some(match f.status {
            429 => ApiError::new(429, "rateLimitExceeded", "Rate Limit Exceeded (injected)"),
            503 => ApiError::new(503, "backendError", "Internal error (injected)"),
            s => ApiError::new(s, "backendError", format!("Injected HTTP {s}")),
        })
    }

    /// The injected fault for the next operation of this type; it is used up.
    pub fn take_op_fault(&mut self, operation_type: &str) -> Option<OpFault> {
        let i = self
            .op_faults
            .iter()
            .position(|(t, _)| t == operation_type)?;
        Some(self.op_faults.remove(i).1)
    }

    /// Starts an operation (`PENDING`) in `scope` (`global`, `regions/r`, `zones/z`) of
    /// `project` and returns its first state.
    pub fn start_operation(
        &mut self,
        project: &str,
        scope: &str,
        operation_type: &str,
        target: &str,
        target_id: Option<String>,
        fault: Option<OpFault>,
    ) -> Value {
        let n = self.next();
        let name = format!("operation-{n}-{:08x}", n.wrapping_mul(2_654_435_761) as u32);
        let key = format!("projects/{project}/{scope}/operations/{name}");
        let mut op = json!({
            "kind": "compute#operation",
            "id": self.new_id(),
            "name": name,
            "operationType": operation_type,
            "targetLink": format!("{SELF_LINK_BASE}{target}"),
            "status": "PENDING",
            "progress": 0,
            "user": "berth-test@example.iam.gserviceaccount.com",
            "insertTime": timestamp(n),
            "selfLink": format!("{SELF_LINK_BASE}{key}"),
        });
        if let Some(id) = target_id {
            op["targetId"] = json!(id);
        }
        if let Some((kind, _)) = scope.split_once('/') {
            // `region` / `zone` hold the scope's URL.
            op[&kind[..kind.len() - 1]] =
                json!(format!("{SELF_LINK_BASE}projects/{project}/{scope}"));
        }
        self.operations.insert(
            key,
            Operation {
                value: op.clone(),
                polls: 0,
                fault,
            },
        );
        op
    }

    /// Polls an operation: PENDING → RUNNING → DONE, one step per poll (`wait` finishes it at
    /// once); a stalled one stays RUNNING.
    pub fn poll_operation(&mut self, key: &str, wait: bool) -> ApiResult {
        let op = self
            .operations
            .get_mut(key)
            .ok_or_else(|| ApiError::not_found(key))?;
        if op.value["status"] == "DONE" {
            return Ok(op.value.clone());
        }
        op.polls += 1;
        let stalled = matches!(op.fault, Some(OpFault::Stall));
        let done = !stalled && (wait || op.polls >= 2);
        let at = timestamp(op.polls.into());
        if op.value["status"] == "PENDING" {
            op.value["status"] = json!("RUNNING");
            op.value["progress"] = json!(50);
            op.value["startTime"] = json!(at);
        }
        if done {
            op.value["status"] = json!("DONE");
            op.value["progress"] = json!(100);
            op.value["endTime"] = json!(at);
            if let Some(OpFault::Fail { code, message }) = &op.fault {
                op.value["error"] = json!({"errors": [{"code": code, "message": message}]});
                op.value["httpErrorStatusCode"] = json!(400);
                op.value["httpErrorMessage"] = json!("BAD REQUEST");
            }
        }
        Ok(op.value.clone())
    }

    pub fn remember_request(&mut self, request_id: &str, op: &Value) {
        let link = op["selfLink"].as_str().unwrap_or_default();
        let key = link.strip_prefix(SELF_LINK_BASE).unwrap_or(link);
        self.request_ids
            .insert(request_id.to_string(), key.to_string());
    }

    /// The current state of the operation a request id started, without polling it.
    pub fn operation_for_request(&self, request_id: &str) -> Option<Value> {
        let key = self.request_ids.get(request_id)?;
        Some(self.operations.get(key)?.value.clone())
    }

    pub fn delete_operation(&mut self, key: &str) -> ApiResult<()> {
        self.operations
            .remove(key)
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(key))
    }

    /// The operations of one scope (`projects/p/global/operations/`), by key.
    pub fn operations_under(&self, prefix: &str) -> Vec<Value> {
        let ops = self.operations.range(prefix.to_string()..);
        ops.take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, o)| o.value.clone())
            .collect()
    }
}

/// A fixed-format RFC 3339 timestamp that moves with `n`, as the API's `creationTimestamp`.
pub fn timestamp(n: u64) -> String {
    let s = n % 60;
    let m = (n / 60) % 60;
    format!("2026-12-03T10:{m:02}:{s:02}.000-08:00")
}
