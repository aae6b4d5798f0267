//! Listener rules: Ingress paths -> ALB conditions, `actions.<name>` / `conditions.<name>` JSON
//! -> ALB actions and conditions (CloudFormation's shapes), and the specificity order that,
//! with `group.order`, gives deterministic priorities.

use super::annotations::Ctx;
use crate::error::Result;
use crate::ingress::{BackendPort, PathType};
use serde_json::{json, Map, Value};

/// A condition in CloudFormation's shape, e.g. `{"Field": "host-header", "HostHeaderConfig":
/// {"Values": ["a.example.com"]}}`.
pub type ConditionSpec = Value;

/// One target of a forward action as the annotation names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardTarget {
    Service {
        name: String,
        port: BackendPort,
        weight: Option<u16>,
    },
    Arn {
        arn: String,
        weight: Option<u16>,
    },
}

/// An `actions.<name>` annotation, validated.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionSpec {
    Forward {
        targets: Vec<ForwardTarget>,
        /// (enabled, duration seconds)
        stickiness: Option<(bool, Option<u32>)>,
    },
    /// `RedirectConfig`, every field filled (AWS reports the defaults back).
    Redirect(Map<String, Value>),
    /// `FixedResponseConfig`.
    FixedResponse(Map<String, Value>),
}

fn obj<'a>(
    cx: &Ctx<'_>,
    key: &str,
    raw: &str,
    v: &'a Value,
    what: &str,
) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| cx.err(key, raw, format!("{what} must be a JSON object")))
}

fn only(
    cx: &Ctx<'_>,
    key: &str,
    raw: &str,
    m: &Map<String, Value>,
    allowed: &[&str],
    what: &str,
) -> Result<()> {
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(cx.err(
            key,
            raw,
            format!(
                "{what} has an unknown field {k:?}; accepted: {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses `actions.<name>`: forward (one target group ARN, or weighted service / ARN targets
/// with optional stickiness), redirect, fixed-response.
pub fn parse_action(cx: &Ctx<'_>, key: &str, raw: &str) -> Result<ActionSpec> {
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| cx.err(key, raw, format!("expected an action as JSON: {e}")))?;
    let m = obj(cx, key, raw, &v, "the action")?;
    only(
        cx,
        key,
        raw,
        m,
        &[
            "type",
            "targetGroupARN",
            "forwardConfig",
            "redirectConfig",
            "fixedResponseConfig",
        ],
        "the action",
    )?;
    let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
    match ty {
        "forward" => {
            let mut targets = Vec::new();
            let mut stickiness = None;
            if let Some(arn) = m.get("targetGroupARN").and_then(Value::as_str) {
                targets.push(ForwardTarget::Arn {
                    arn: arn.to_string(),
                    weight: None,
                });
            }
            if let Some(fc) = m.get("forwardConfig") {
                let fc = obj(cx, key, raw, fc, "forwardConfig")?;
                only(
                    cx,
                    key,
                    raw,
                    fc,
                    &["targetGroups", "targetGroupStickinessConfig"],
                    "forwardConfig",
                )?;
                for t in fc
                    .get("targetGroups")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let t = obj(cx, key, raw, t, "a target group")?;
                    only(
                        cx,
                        key,
                        raw,
                        t,
                        &["serviceName", "servicePort", "targetGroupARN", "weight"],
                        "a target group",
                    )?;
                    let weight = match t.get("weight") {
                        None => None,
                        Some(w) => Some(
                            w.as_u64()
                                .and_then(|w| u16::try_from(w).ok())
                                .filter(|w| *w <= 999)
                                .ok_or_else(|| {
                                    cx.err(
                                        key,
                                        raw,
                                        format!("weight {w} is not a whole number from 0 to 999"),
                                    )
                                })?,
                        ),
                    };
                    if let Some(arn) = t.get("targetGroupARN").and_then(Value::as_str) {
                        targets.push(ForwardTarget::Arn {
                            arn: arn.to_string(),
                            weight,
                        });
                        continue;
                    }
                    let name = t
                        .get("serviceName")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let port = match t.get("servicePort") {
                        Some(Value::Number(n)) => n
                            .as_u64()
                            .and_then(|n| u16::try_from(n).ok())
                            .map(BackendPort::Number),
                        Some(Value::String(s)) => Some(match s.parse::<u16>() {
                            Ok(n) => BackendPort::Number(n),
                            Err(_) => BackendPort::Name(s.clone()),
                        }),
                        _ => None,
                    };
                    let (false, Some(port)) = (name.is_empty(), port) else {
                        return Err(cx.err(key, raw, "each target group names serviceName and servicePort, or targetGroupARN"));
                    };
                    targets.push(ForwardTarget::Service {
                        name: name.to_string(),
                        port,
                        weight,
                    });
                }
                if let Some(s) = fc.get("targetGroupStickinessConfig") {
                    let s = obj(cx, key, raw, s, "targetGroupStickinessConfig")?;
                    only(
                        cx,
                        key,
                        raw,
                        s,
                        &["enabled", "durationSeconds"],
                        "targetGroupStickinessConfig",
                    )?;
                    let enabled = s.get("enabled").and_then(Value::as_bool).unwrap_or(false);
                    let duration = match s.get("durationSeconds") {
                        None => None,
                        Some(d) => Some(
                            d.as_u64()
                                .and_then(|d| u32::try_from(d).ok())
                                .filter(|d| (1..=604_800).contains(d))
                                .ok_or_else(|| {
                                    cx.err(key, raw, "durationSeconds is from 1 to 604800")
                                })?,
                        ),
                    };
                    if enabled && duration.is_none() {
                        // AWS refuses enabled stickiness without a duration.
                        return Err(cx.err(
                            key,
                            raw,
                            "targetGroupStickinessConfig with enabled: true needs durationSeconds (1 to 604800)",
                        ));
                    }
                    stickiness = Some((enabled, duration));
                }
            }
            if targets.is_empty() {
                return Err(cx.err(key, raw, "a forward action needs at least one target group (targetGroupARN or forwardConfig.targetGroups)"));
            }
            if targets.len() > 5 {
                return Err(cx.err(key, raw, "a forward action has at most 5 target groups"));
            }
            Ok(ActionSpec::Forward {
                targets,
                stickiness,
            })
        }
        "redirect" => {
            let r = obj(
                cx,
                key,
                raw,
                m.get("redirectConfig").unwrap_or(&Value::Null),
                "redirectConfig",
            )?;
            only(
                cx,
                key,
                raw,
                r,
                &["protocol", "port", "host", "path", "query", "statusCode"],
                "redirectConfig",
            )?;
            let status = string(r.get("statusCode")).unwrap_or_default();
            if status != "HTTP_301" && status != "HTTP_302" {
                return Err(cx.err(
                    key,
                    raw,
                    "redirectConfig.statusCode is HTTP_301 or HTTP_302",
                ));
            }
            let protocol = string(r.get("protocol")).unwrap_or_else(|| "#{protocol}".into());
            if !["HTTP", "HTTPS", "#{protocol}"].contains(&protocol.as_str()) {
                return Err(cx.err(
                    key,
                    raw,
                    "redirectConfig.protocol is HTTP, HTTPS or #{protocol}",
                ));
            }
            Ok(ActionSpec::Redirect(redirect_config(
                &protocol,
                &string(r.get("port")).unwrap_or_else(|| "#{port}".into()),
                &string(r.get("host")).unwrap_or_else(|| "#{host}".into()),
                &string(r.get("path")).unwrap_or_else(|| "/#{path}".into()),
                &string(r.get("query")).unwrap_or_else(|| "#{query}".into()),
                &status,
            )))
        }
        "fixed-response" => {
            let f = obj(
                cx,
                key,
                raw,
                m.get("fixedResponseConfig").unwrap_or(&Value::Null),
                "fixedResponseConfig",
            )?;
            only(
                cx,
                key,
                raw,
                f,
                &["contentType", "messageBody", "statusCode"],
                "fixedResponseConfig",
            )?;
            let status = string(f.get("statusCode")).unwrap_or_default();
            let ok = status.len() == 3
                && status.chars().all(|c| c.is_ascii_digit())
                && matches!(status.as_bytes()[0], b'2' | b'4' | b'5');
            if !ok {
                return Err(cx.err(
                    key,
                    raw,
                    "fixedResponseConfig.statusCode is a 2XX, 4XX or 5XX code",
                ));
            }
            let mut out = Map::new();
            out.insert("StatusCode".into(), json!(status));
            if let Some(ct) = string(f.get("contentType")) {
                const TYPES: [&str; 5] = [
                    "text/plain",
                    "text/css",
                    "text/html",
                    "application/javascript",
                    "application/json",
                ];
                if !TYPES.contains(&ct.as_str()) {
                    return Err(cx.err(
                        key,
                        raw,
                        format!(
                            "fixedResponseConfig.contentType is one of {}",
                            TYPES.join(", ")
                        ),
                    ));
                }
                out.insert("ContentType".into(), json!(ct));
            }
            if let Some(body) = string(f.get("messageBody")) {
                if body.len() > 1024 {
                    return Err(cx.err(
                        key,
                        raw,
                        "fixedResponseConfig.messageBody is at most 1024 characters",
                    ));
                }
                out.insert("MessageBody".into(), json!(body));
            }
            Ok(ActionSpec::FixedResponse(out))
        }
        other => Err(cx.err(
            key,
            raw,
            format!("action type {other:?} is not one of forward, redirect, fixed-response"),
        )),
    }
}

pub fn redirect_config(
    protocol: &str,
    port: &str,
    host: &str,
    path: &str,
    query: &str,
    status: &str,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("Protocol".into(), json!(protocol));
    m.insert("Port".into(), json!(port));
    m.insert("Host".into(), json!(host));
    m.insert("Path".into(), json!(path));
    m.insert("Query".into(), json!(query));
    m.insert("StatusCode".into(), json!(status));
    m
}

/// Parses `conditions.<name>`: a JSON list of host-header, path-pattern, http-header,
/// http-request-method, query-string and source-ip conditions.
pub fn parse_conditions(cx: &Ctx<'_>, key: &str, raw: &str) -> Result<Vec<ConditionSpec>> {
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| cx.err(key, raw, format!("expected a JSON list of conditions: {e}")))?;
    let items = v
        .as_array()
        .ok_or_else(|| cx.err(key, raw, "expected a JSON list of conditions"))?;
    let mut out = Vec::new();
    for item in items {
        let m = obj(cx, key, raw, item, "a condition")?;
        let field = m.get("field").and_then(Value::as_str).unwrap_or_default();
        let (config, cf_config) = match field {
            "host-header" => ("hostHeaderConfig", "HostHeaderConfig"),
            "path-pattern" => ("pathPatternConfig", "PathPatternConfig"),
            "http-header" => ("httpHeaderConfig", "HttpHeaderConfig"),
            "http-request-method" => ("httpRequestMethodConfig", "HttpRequestMethodConfig"),
            "query-string" => ("queryStringConfig", "QueryStringConfig"),
            "source-ip" => ("sourceIpConfig", "SourceIpConfig"),
            other => {
                return Err(cx.err(key, raw, format!("condition field {other:?} is not one of host-header, path-pattern, http-header, http-request-method, query-string, source-ip")))
            }
        };
        only(cx, key, raw, m, &["field", config], "a condition")?;
        let c = obj(cx, key, raw, m.get(config).unwrap_or(&Value::Null), config)?;
        let values = c
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if values.is_empty() {
            return Err(cx.err(key, raw, format!("{config} needs at least one value")));
        }
        let mut cf = Map::new();
        if field == "query-string" {
            only(cx, key, raw, c, &["values"], config)?;
            let mut kv = Vec::new();
            for x in &values {
                let value = x.get("value").and_then(Value::as_str);
                let Some(value) = value else {
                    return Err(cx.err(
                        key,
                        raw,
                        "each query-string value is {\"key\": …, \"value\": …} (key optional)",
                    ));
                };
                let mut e = Map::new();
                if let Some(k) = x.get("key").and_then(Value::as_str) {
                    e.insert("Key".into(), json!(k));
                }
                e.insert("Value".into(), json!(value));
                kv.push(Value::Object(e));
            }
            cf.insert("Values".into(), Value::Array(kv));
        } else {
            let allowed: &[&str] = if field == "http-header" {
                &["httpHeaderName", "values"]
            } else {
                &["values"]
            };
            only(cx, key, raw, c, allowed, config)?;
            if let Some(bad) = values.iter().find(|x| !x.is_string()) {
                return Err(cx.err(key, raw, format!("{config} values are strings, not {bad}")));
            }
            if field == "http-header" {
                let name = c
                    .get("httpHeaderName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if name.is_empty() {
                    return Err(cx.err(key, raw, "httpHeaderConfig needs httpHeaderName"));
                }
                cf.insert("HttpHeaderName".into(), json!(name));
            }
            cf.insert("Values".into(), Value::Array(values));
        }
        out.push(json!({"Field": field, cf_config: Value::Object(cf)}));
    }
    Ok(out)
}

/// The ALB path patterns for an Ingress path: Exact -> the path; Prefix -> the path and
/// everything under it (`/` -> `/*`); ImplementationSpecific -> as written (ALB wildcards).
pub fn path_patterns(path: &str, path_type: PathType) -> Vec<String> {
    match path_type {
        PathType::Exact => vec![path.to_string()],
        PathType::Prefix => {
            let p = path.trim_end_matches('/');
            if p.is_empty() {
                vec!["/*".to_string()]
            } else {
                vec![p.to_string(), format!("{p}/*")]
            }
        }
        PathType::ImplementationSpecific if path.is_empty() => vec!["/*".to_string()],
        PathType::ImplementationSpecific => vec![path.to_string()],
    }
}

/// Orders an Ingress's rules from most to least specific: with a host before without, Exact
/// before the others, longer paths first; ties keep the Ingress's order (the sort is stable).
pub fn specificity(
    host: Option<&str>,
    path: &str,
    path_type: PathType,
) -> (bool, bool, std::cmp::Reverse<usize>) {
    (
        host.is_none(),
        path_type != PathType::Exact,
        std::cmp::Reverse(path.trim_end_matches('*').len()),
    )
}

/// Renders an action in CloudFormation's shape, with target groups given as (reference, weight).
/// Canonical, so that what AWS reports back reads the same: disabled stickiness (AWS's default)
/// is left out, and one target group of weight 1 without stickiness is the short form.
pub fn forward(targets: &[(Value, Option<u16>)], stickiness: Option<(bool, Option<u32>)>) -> Value {
    let stickiness = stickiness.filter(|(enabled, _)| *enabled);
    if let ([(tg, None | Some(1))], None) = (targets, stickiness) {
        return json!({"Type": "forward", "TargetGroupArn": tg});
    }
    let groups: Vec<Value> = targets
        .iter()
        .map(|(tg, w)| json!({"TargetGroupArn": tg, "Weight": w.unwrap_or(1)}))
        .collect();
    let mut fc = Map::new();
    fc.insert("TargetGroups".into(), Value::Array(groups));
    if let Some((enabled, duration)) = stickiness {
        let mut s = Map::new();
        s.insert("Enabled".into(), json!(enabled));
        if let Some(d) = duration {
            s.insert("DurationSeconds".into(), json!(d));
        }
        fc.insert("TargetGroupStickinessConfig".into(), Value::Object(s));
    }
    json!({"Type": "forward", "ForwardConfig": Value::Object(fc)})
}

pub fn fixed_404() -> Value {
    json!({"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}})
}

#[cfg(test)]
mod tests;
