//! One HTTP request through the fake: log, route, faults, query and body checks, the method,
//! and the response's own check against its schema.

use crate::discovery::Api;
use crate::error::{ApiError, ApiResult};
use crate::handlers::{dispatch, Call};
use crate::schema::validate;
use crate::state::{Request, State};
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub type Shared = Arc<Mutex<State>>;

const PREFIX: &str = "/compute/v1/";

/// Response header naming the discovery method a request was routed to (`healthChecks.get`).
pub const ROUTED_HEADER: &str = "x-gcp-fake-method";

pub async fn handle(
    axum::extract::State(state): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let body_json = (!body.is_empty()).then(|| serde_json::from_slice::<Value>(&body));
    st.log.push(Request {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        body: body_json.as_ref().and_then(|b| b.as_ref().ok().cloned()),
    });
    let mut routed = String::new();
    let (status, value) = match serve(&mut st, method.as_str(), &uri, body_json, &mut routed) {
        // Methods without a response schema (operations' delete) answer an empty object.
        Ok(Value::Null) => (200, serde_json::json!({})),
        Ok(v) => (200, v),
        Err(e) => (e.status, e.body()),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The routed method in a header lets tests check the routing itself.
    let headers = [
        (
            "content-type",
            "application/json; charset=UTF-8".to_string(),
        ),
        (ROUTED_HEADER, routed),
    ];
    (status, headers, value.to_string()).into_response()
}

fn serve(
    st: &mut State,
    method: &str,
    uri: &Uri,
    body: Option<serde_json::Result<Value>>,
    routed: &mut String,
) -> ApiResult {
    let api = Api::get();
    let path = uri.path();
    let not_found = || {
        ApiError::new(
            404,
            "notFound",
            format!("The requested URL {path} was not found on this server."),
        )
    };
    let relative = path.strip_prefix(PREFIX).ok_or_else(not_found)?;
    let (route, params) = api.route(method, relative).ok_or_else(not_found)?;
    *routed = format!("{}.{}", route.resource, route.method);
    if let Some(fault) = st.take_http_fault(method, path) {
        return Err(fault);
    }
    let query = parse_query(uri.query().unwrap_or_default())?;
    for name in query.keys() {
        if !route.allows_query(name, api) {
            let msg = format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter.");
            return Err(ApiError::invalid(msg));
        }
    }
    let body = match body {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            return Err(ApiError::new(
                400,
                "parseError",
                format!("Invalid JSON payload received. {e}"),
            ))
        }
    };
    match (&route.request, &body) {
        (Some(schema), Some(b)) => validate(api, schema, b, "resource").map_err(|e| {
            ApiError::invalid(format!(
                "Invalid value for field '{}': {}",
                e.field, e.message
            ))
        })?,
        (Some(schema), None) if route.method == "insert" || route.method == "update" => {
            return Err(ApiError::new(
                400,
                "required",
                format!("Required field 'resource' ({schema}) not specified"),
            ))
        }
        (None, Some(b)) if !b.is_null() && b.as_object().is_none_or(|o| !o.is_empty()) => {
            return Err(ApiError::invalid(format!(
                "{}.{} takes no request body",
                route.resource, route.method
            )));
        }
        _ => {}
    }
    let call = Call {
        api,
        route,
        params,
        query,
        body,
    };
    let value = dispatch(st, &call)?;
    // The fake must never answer what the real API could not: a response that breaks its
    // schema is a bug in the fake, reported as 500 and kept for the tests to see.
    if let Some(schema) = &route.response {
        if let Err(e) = validate(api, schema, &value, "response") {
            let msg = format!("{} {path}: {schema}: {}: {}", method, e.field, e.message);
            st.violations.push(msg.clone());
            return Err(ApiError::new(500, "internalError", msg));
        }
    }
    Ok(value)
}

/// Query pairs, percent-decoded; a repeated name keeps its last value.
fn parse_query(query: &str) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(decode(k)?, decode(v)?);
    }
    Ok(out)
}

fn decode(s: &str) -> ApiResult<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(
                    hex.ok_or_else(|| ApiError::invalid(format!("Bad percent-encoding in '{s}'")))?,
                );
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::invalid(format!("Query '{s}' is not UTF-8")))
}
