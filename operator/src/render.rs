//! How plans look to people (`berth plan -o text`) and to scripts (`-o json`).

use providers::frontend::ObjectRef;
use providers::plan::{Action, Plan};
use serde_json::Value;
use std::fmt::Write;

/// One Service's outcome in a `berth plan` run.
pub struct Planned {
    pub object: ObjectRef,
    pub result: Result<Plan, String>,
}

/// `{"changes": [...]}` with the changes of every planned object, in order.
pub fn json(planned: &[Planned]) -> Value {
    let changes: Vec<Value> = planned
        .iter()
        .filter_map(|p| p.result.as_ref().ok())
        .flat_map(|p| p.changes.iter())
        .map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
        .collect();
    serde_json::json!({ "changes": changes })
}

/// A short tree per object, resource by resource.
pub fn text(planned: &[Planned]) -> String {
    let mut out = String::new();
    for p in planned {
        let _ = writeln!(out, "{}", p.object);
        match &p.result {
            Err(e) => {
                let _ = writeln!(out, "  ! error: {e}");
            }
            Ok(plan) if plan.is_empty() => {
                let _ = writeln!(out, "  (no changes: the cloud matches)");
            }
            Ok(plan) => {
                for c in &plan.changes {
                    let (sign, verb) = match c.action {
                        Action::Create => ('+', "create"),
                        Action::Update => ('~', "update"),
                        Action::Delete => ('-', "delete"),
                    };
                    let kind = c.kind.rsplit("::").next().unwrap_or(&c.kind);
                    let _ = writeln!(out, "  {sign} {verb} {kind} {}", c.name);
                    let keys: Vec<&String> = match c.action {
                        Action::Update => c.changed.iter().collect(),
                        Action::Create => c.properties.keys().filter(|k| *k != "Name").collect(),
                        Action::Delete => Vec::new(),
                    };
                    for k in keys {
                        let Some(v) = c.properties.get(k) else {
                            continue;
                        };
                        let shown = summarize(k, v);
                        match c.current.as_ref().and_then(|cur| cur.get(k)) {
                            Some(old) if c.action == Action::Update => {
                                let _ =
                                    writeln!(out, "      {k}: {} -> {shown}", summarize(k, old));
                            }
                            _ => {
                                let _ = writeln!(out, "      {k}: {shown}");
                            }
                        }
                    }
                }
                let _ = writeln!(
                    out,
                    "  {} to create, {} to update, {} to delete",
                    plan.count(Action::Create),
                    plan.count(Action::Update),
                    plan.count(Action::Delete)
                );
            }
        }
    }
    if !planned.iter().any(|p| p.result.is_ok()) && planned.is_empty() {
        out.push_str("no LoadBalancer Service selected in the given manifests\n");
    }
    out
}

fn summarize(key: &str, v: &Value) -> String {
    match (key, v) {
        ("Tags", Value::Array(a)) => {
            let kv: Vec<String> = a
                .iter()
                .filter_map(|t| {
                    Some(format!(
                        "{}={}",
                        t.get("Key")?.as_str()?,
                        t.get("Value")?.as_str()?
                    ))
                })
                .collect();
            kv.join(", ")
        }
        (_, Value::String(s)) => s.clone(),
        _ => v.to_string(),
    }
}
