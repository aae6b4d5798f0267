//! Validation of JSON values against the discovery document's schemas.
//!
//! Discovery's JSON mapping: 64-bit integers (`int64`, `uint64`) are JSON strings, 32-bit ones
//! JSON numbers; `byte` is base64 text; maps are objects with `additionalProperties`.

use crate::discovery::Api;
use serde_json::Value;

/// Where a value breaks its schema (`resource.backends[0].group`) and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

/// Checks `value` against the schema named `schema`; `root` names the value in the error path
/// (the real API says `resource` for a request body).
pub fn validate(api: &Api, schema: &str, value: &Value, root: &str) -> Result<(), Invalid> {
    let reference = serde_json::json!({ "$ref": schema });
    check(api, &reference, value, root)
}

fn invalid(field: &str, message: String) -> Result<(), Invalid> {
    Err(Invalid {
        field: field.to_string(),
        message,
    })
}

fn check(api: &Api, schema: &Value, value: &Value, field: &str) -> Result<(), Invalid> {
    if let Some(name) = schema["$ref"].as_str() {
        let Some(resolved) = api.schemas.get(name) else {
            return invalid(field, format!("schema {name} is not in the document"));
        };
        return check(api, resolved, value, field);
    }
    let ty = schema["type"].as_str().unwrap_or("any");
    let format = schema["format"].as_str();
    let wrong = |expected: &str| invalid(field, format!("expected {expected}, got {value}"));
    match (ty, value) {
        ("any", _) => Ok(()),
        ("object", Value::Object(fields)) => {
            let properties = schema["properties"].as_object();
            for (name, v) in fields {
                let path = format!("{field}.{name}");
                match (
                    properties.and_then(|p| p.get(name)),
                    &schema["additionalProperties"],
                ) {
                    (Some(p), _) => check(api, p, v, &path)?,
                    (None, Value::Null) if properties.is_none() && format.is_some() => {}
                    (None, Value::Null) => {
                        return invalid(&path, format!("unknown field '{name}'"));
                    }
                    (None, additional) => check(api, additional, v, &path)?,
                }
            }
            Ok(())
        }
        ("object", _) => wrong("an object"),
        ("array", Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check(api, &schema["items"], item, &format!("{field}[{i}]"))?;
            }
            Ok(())
        }
        ("array", _) => wrong("an array"),
        ("boolean", Value::Bool(_)) => Ok(()),
        ("boolean", _) => wrong("a boolean"),
        ("number", Value::Number(_)) => Ok(()),
        ("number", _) => wrong("a number"),
        ("integer", Value::Number(n)) => {
            let fits = match format {
                Some("uint32") => n.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)),
                _ => n
                    .as_i64()
                    .is_some_and(|n| i32::try_from(n).is_ok() || format != Some("int32")),
            };
            if fits {
                Ok(())
            } else {
                wrong(&format!("a {} number", format.unwrap_or("integer")))
            }
        }
        ("integer", _) => wrong("a JSON number"),
        ("string", Value::String(s)) => check_string(schema, format, s, field),
        ("string", _) if matches!(format, Some("int64" | "uint64")) => wrong(&format!(
            "a {} as a JSON string",
            format.unwrap_or_default()
        )),
        ("string", _) => wrong("a string"),
        (other, _) => invalid(field, format!("unsupported schema type {other}")),
    }
}

fn check_string(schema: &Value, format: Option<&str>, s: &str, field: &str) -> Result<(), Invalid> {
    if let Some(values) = schema["enum"].as_array() {
        if !values.iter().any(|v| v == s) {
            return invalid(field, format!("'{s}' is not one of the enum values"));
        }
    }
    let ok = match format {
        Some("int64") => s.parse::<i64>().is_ok(),
        Some("uint64") => s.parse::<u64>().is_ok(),
        Some("byte") => {
            use base64::Engine;
            let engines = [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE,
            ];
            engines.iter().any(|e| e.decode(s).is_ok())
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        invalid(
            field,
            format!("'{s}' is not a valid {}", format.unwrap_or("string")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_against_health_check_schema() {
        let api = Api::get();
        let cases = [
            (json!({"name": "a", "checkIntervalSec": 5}), None),
            (
                json!({"name": "a", "id": "123", "kind": "compute#healthCheck"}),
                None,
            ),
            (json!({"nmae": "a"}), Some("resource.nmae")),
            (
                json!({"checkIntervalSec": "5"}),
                Some("resource.checkIntervalSec"),
            ),
            (
                json!({"checkIntervalSec": 5_000_000_000u64}),
                Some("resource.checkIntervalSec"),
            ),
            (json!({"id": 5}), Some("resource.id")),
            (json!({"id": "x"}), Some("resource.id")),
            (json!({"type": "HTTPX"}), Some("resource.type")),
            (
                json!({"httpHealthCheck": {"port": 80, "prot": 1}}),
                Some("resource.httpHealthCheck.prot"),
            ),
            (
                json!({"httpHealthCheck": []}),
                Some("resource.httpHealthCheck"),
            ),
            (
                json!({"logConfig": {"enable": "yes"}}),
                Some("resource.logConfig.enable"),
            ),
        ];
        for (value, bad) in cases {
            let got = validate(api, "HealthCheck", &value, "resource")
                .err()
                .map(|e| e.field);
            assert_eq!(got.as_deref(), bad, "{value}");
        }
    }

    #[test]
    fn maps_and_arrays() {
        let api = Api::get();
        let cases = [
            (json!({"labels": {"a": "b"}}), None),
            (json!({"labels": {"a": 1}}), Some("resource.labels.a")),
            (json!({"ports": ["80"]}), None),
            (json!({"ports": [80]}), Some("resource.ports[0]")),
            (json!({"IPProtocol": "TCP", "IPAddress": "1.2.3.4"}), None),
            (json!({"IPProtocol": "TCPX"}), Some("resource.IPProtocol")),
        ];
        for (value, bad) in cases {
            let got = validate(api, "ForwardingRule", &value, "resource")
                .err()
                .map(|e| e.field);
            assert_eq!(got.as_deref(), bad, "{value}");
        }
    }
}
