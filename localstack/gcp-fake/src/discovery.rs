//! The discovery document, compiled in, turned into a route table.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The repository's copy of the discovery subset (see `discovery/README.md`).
pub const DOCUMENT: &str = include_str!("../discovery/compute.v1.lb-subset.json");

/// Query parameters every client may send that the document does not list: the official Rust
/// client adds `$alt` and `$apiVersion` to every call, and `requestId` to mutations that lack it.
const CLIENT_PARAMETERS: [&str; 3] = ["requestId", "$alt", "$apiVersion"];

#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Lit(String),
    Param(String),
}

#[derive(Debug)]
pub struct Route {
    pub resource: String,
    pub method: String,
    pub http_method: String,
    pub path: String,
    pub segs: Vec<Seg>,
    pub request: Option<String>,
    pub response: Option<String>,
    pub query: Vec<String>,
}

impl Route {
    /// Matches `segments` against the template; the path parameters on success.
    pub fn matches(&self, segments: &[&str]) -> Option<BTreeMap<String, String>> {
        if segments.len() != self.segs.len() {
            return None;
        }
        let mut params = BTreeMap::new();
        for (seg, got) in self.segs.iter().zip(segments) {
            match seg {
                Seg::Lit(l) if l == got => {}
                Seg::Lit(_) => return None,
                Seg::Param(_) if got.is_empty() => return None,
                Seg::Param(p) => {
                    params.insert(p.clone(), (*got).to_string());
                }
            }
        }
        Some(params)
    }

    fn literals(&self) -> usize {
        self.segs
            .iter()
            .filter(|s| matches!(s, Seg::Lit(_)))
            .count()
    }

    pub fn allows_query(&self, name: &str, api: &Api) -> bool {
        self.query.iter().any(|q| q == name)
            || api.global_parameters.iter().any(|q| q == name)
            || CLIENT_PARAMETERS.contains(&name)
    }
}

pub struct Api {
    pub routes: Vec<Route>,
    pub schemas: Map<String, Value>,
    pub global_parameters: Vec<String>,
}

pub fn parse_template(path: &str) -> Vec<Seg> {
    path.split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(p) => Seg::Param(p.to_string()),
                None => Seg::Lit(s.to_string()),
            },
        )
        .collect()
}

impl Api {
    pub fn get() -> &'static Api {
        static API: OnceLock<Api> = OnceLock::new();
        API.get_or_init(|| Api::parse(DOCUMENT))
    }

    fn parse(document: &str) -> Api {
        let doc: Value = serde_json::from_str(document).expect("the discovery document is JSON");
        let mut routes = Vec::new();
        for (resource, r) in doc["resources"].as_object().expect("resources") {
            for (method, m) in r["methods"].as_object().expect("methods") {
                let path = m["flatPath"].as_str().or(m["path"].as_str()).expect("path");
                let schema = |k: &str| m[k]["$ref"].as_str().map(str::to_string);
                let query = m["parameters"]
                    .as_object()
                    .map(|ps| {
                        let q = ps.iter().filter(|(_, p)| p["location"] == "query");
                        q.map(|(n, _)| n.clone()).collect()
                    })
                    .unwrap_or_default();
                routes.push(Route {
                    resource: resource.clone(),
                    method: method.clone(),
                    http_method: m["httpMethod"].as_str().expect("httpMethod").to_string(),
                    path: path.to_string(),
                    segs: parse_template(path),
                    request: schema("request"),
                    response: schema("response"),
                    query,
                });
            }
        }
        routes.extend(zone_operations());
        let global_parameters = doc["parameters"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let schemas = doc["schemas"].as_object().expect("schemas").clone();
        Api {
            routes,
            schemas,
            global_parameters,
        }
    }

    /// The most specific route for a path below `/compute/v1/`: a template with more literal
    /// segments wins (`backendServices/listUsable` over `backendServices/{backendService}`).
    pub fn route(
        &self,
        http_method: &str,
        path: &str,
    ) -> Option<(&Route, BTreeMap<String, String>)> {
        let segments: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .filter(|r| r.http_method == http_method)
            .filter_map(|r| r.matches(&segments).map(|p| (r, p)))
            .max_by_key(|(r, _)| r.literals())
    }

    pub fn method(&self, resource: &str, method: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.resource == resource && r.method == method)
    }

    /// Collection templates (`projects/{project}/regions/{region}/backendServices`) of the
    /// resources the fake stores: those with an `insert`.
    pub fn collections(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().filter(|r| r.method == "insert")
    }

    /// The `kind` a schema's resources carry (`compute#healthCheck`), from its default.
    pub fn kind(&self, schema: &str) -> Option<&str> {
        self.schemas.get(schema)?["properties"]["kind"]["default"].as_str()
    }

    pub fn has_property(&self, schema: &str, property: &str) -> bool {
        self.schemas
            .get(schema)
            .is_some_and(|s| s["properties"].get(property).is_some())
    }
}

/// `zoneOperations` is not in the subset, but zonal mutations (instance groups, NEGs) return
/// zonal operations that clients poll there; these routes mirror `regionOperations`.
fn zone_operations() -> Vec<Route> {
    let item = "projects/{project}/zones/{zone}/operations/{operation}";
    let methods = [
        ("get", "GET", item.to_string(), Some("Operation")),
        ("wait", "POST", format!("{item}/wait"), Some("Operation")),
        ("delete", "DELETE", item.to_string(), None),
        (
            "list",
            "GET",
            "projects/{project}/zones/{zone}/operations".to_string(),
            Some("OperationList"),
        ),
    ];
    let paging = ["filter", "maxResults", "orderBy", "pageToken"];
    methods
        .into_iter()
        .map(|(method, http_method, path, response)| Route {
            resource: "zoneOperations".to_string(),
            method: method.to_string(),
            http_method: http_method.to_string(),
            segs: parse_template(&path),
            path,
            request: None,
            response: response.map(str::to_string),
            query: if method == "list" {
                paging.map(str::to_string).to_vec()
            } else {
                Vec::new()
            },
        })
        .collect()
}
