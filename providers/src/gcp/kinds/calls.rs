//! The calls of the named kinds (health checks, firewalls, backend services, forwarding rules):
//! get by name, insert, patch, delete, each body converted between the plan's JSON (the
//! discovery document's names) and the client's typed model by serde, so what a plan shows is
//! what is sent. Instance groups, zonal and with members, are in `instance_group.rs`.

use super::*;
use crate::error::{Error, Result};
use crate::gcp::client::GcpProvider;
use crate::gcp::operation::Scope;
use google_cloud_compute_v1::model::{
    Address, BackendService, Firewall, ForwardingRule, HealthCheck, Operation, TargetHttpProxy,
    TargetHttpsProxy, UrlMap,
};

/// One named kind's get / insert / delete (and patch, for kinds Compute patches): its client,
/// model, name setter, metric label, and `set_region` when it is regional.
macro_rules! named_kind {
    ($module:ident, $client:ident, $model:ty, $set:ident, $label:literal, patch $(, $region:ident)?) => {
        named_kind!($module, $client, $model, $set, $label $(, $region)?);
        impl $module::Kind {
            pub async fn patch(p: &GcpProvider, kind: &str, name: &str, props: &Map<String, Value>) -> Result<Operation> {
                let (c, b): (_, $model) = (&p.clients.$client, body(kind, props)?);
                p.call(concat!("Patch", $label), || {
                    c.patch().set_project(&p.project)$(.$region(&p.region))?.$set(name).set_body(b.clone()).send()
                })
                .await
            }
        }
    };
    ($module:ident, $client:ident, $model:ty, $set:ident, $label:literal $(, $region:ident)?) => {
        mod $module {
            use super::*;

            pub struct Kind;

            impl Kind {
                pub async fn get(p: &GcpProvider, name: &str) -> Result<Option<Map<String, Value>>> {
                    let c = &p.clients.$client;
                    let got = p
                        .call_unless_absent(concat!("Get", $label), || {
                            c.get().set_project(&p.project)$(.$region(&p.region))?.$set(name).send()
                        })
                        .await?;
                    Ok(got.map(|m| json(&m)))
                }

                pub async fn insert(p: &GcpProvider, kind: &str, props: &Map<String, Value>) -> Result<Operation> {
                    let (c, b): (_, $model) = (&p.clients.$client, body(kind, props)?);
                    p.call(concat!("Insert", $label), || {
                        c.insert().set_project(&p.project)$(.$region(&p.region))?.set_body(b.clone()).send()
                    })
                    .await
                }

                pub async fn delete(p: &GcpProvider, name: &str) -> Result<Option<Operation>> {
                    let c = &p.clients.$client;
                    p.call_unless_absent(concat!("Delete", $label), || {
                        c.delete().set_project(&p.project)$(.$region(&p.region))?.$set(name).send()
                    })
                    .await
                }
            }
        }
    };
}

named_kind!(
    region_health_check,
    region_health_checks,
    HealthCheck,
    set_health_check,
    "RegionHealthCheck",
    patch,
    set_region
);
named_kind!(
    firewall,
    firewalls,
    Firewall,
    set_firewall,
    "Firewall",
    patch
);
named_kind!(
    region_backend_service,
    region_backend_services,
    BackendService,
    set_backend_service,
    "RegionBackendService",
    patch,
    set_region
);
named_kind!(
    forwarding_rule,
    forwarding_rules,
    ForwardingRule,
    set_forwarding_rule,
    "ForwardingRule",
    patch,
    set_region
);
named_kind!(
    health_check,
    health_checks,
    HealthCheck,
    set_health_check,
    "HealthCheck",
    patch
);
named_kind!(
    backend_service,
    backend_services,
    BackendService,
    set_backend_service,
    "BackendService",
    patch
);
named_kind!(url_map, url_maps, UrlMap, set_url_map, "UrlMap", patch);
named_kind!(
    target_http_proxy,
    target_http_proxies,
    TargetHttpProxy,
    set_target_http_proxy,
    "TargetHttpProxy",
    patch
);
named_kind!(
    target_https_proxy,
    target_https_proxies,
    TargetHttpsProxy,
    set_target_https_proxy,
    "TargetHttpsProxy",
    patch
);
named_kind!(
    global_address,
    global_addresses,
    Address,
    set_address,
    "GlobalAddress"
);
named_kind!(
    global_forwarding_rule,
    global_forwarding_rules,
    ForwardingRule,
    set_forwarding_rule,
    "GlobalForwardingRule"
);

/// Calls `$f` on the module of `$kind` (`Kind::get`, `Kind::insert`, ...).
macro_rules! dispatch {
    ($kind:expr, $f:ident ( $($arg:expr),* )) => {
        match $kind {
            REGION_HEALTH_CHECK => region_health_check::Kind::$f($($arg),*).await,
            FIREWALL => firewall::Kind::$f($($arg),*).await,
            REGION_BACKEND_SERVICE => region_backend_service::Kind::$f($($arg),*).await,
            FORWARDING_RULE => forwarding_rule::Kind::$f($($arg),*).await,
            HEALTH_CHECK => health_check::Kind::$f($($arg),*).await,
            BACKEND_SERVICE => backend_service::Kind::$f($($arg),*).await,
            URL_MAP => url_map::Kind::$f($($arg),*).await,
            TARGET_HTTP_PROXY => target_http_proxy::Kind::$f($($arg),*).await,
            TARGET_HTTPS_PROXY => target_https_proxy::Kind::$f($($arg),*).await,
            GLOBAL_ADDRESS => global_address::Kind::$f($($arg),*).await,
            GLOBAL_FORWARDING_RULE => global_forwarding_rule::Kind::$f($($arg),*).await,
            other => Err(unknown(other)),
        }
    };
}

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A plan's properties as the client's model of the body.
pub(crate) fn body<T: DeserializeOwned>(kind: &str, properties: &Map<String, Value>) -> Result<T> {
    serde_json::from_value(Value::Object(properties.clone())).map_err(|e| {
        Error::Bug(format!(
            "{kind}: the planned body does not fit the API's model: {e}"
        ))
    })
}

/// A model as the discovery document's JSON.
pub(crate) fn json<T: serde::Serialize>(model: &T) -> Map<String, Value> {
    match serde_json::to_value(model) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Where a named kind's operations live.
pub(crate) fn scope(kind: &str) -> Scope {
    match kind {
        REGION_HEALTH_CHECK | REGION_BACKEND_SERVICE | FORWARDING_RULE => Scope::Regional,
        _ => Scope::Global,
    }
}

fn unknown(kind: &str) -> Error {
    Error::Bug(format!("{kind} is not a named Compute kind berth handles"))
}

impl GcpProvider {
    /// The IP a reserved regional address holds (`None`: no such address).
    pub(crate) async fn get_address(&self, name: &str) -> Result<Option<String>> {
        let (c, p, r) = (&self.clients.addresses, &self.project, &self.region);
        let got = self
            .call_unless_absent("GetAddress", || {
                c.get()
                    .set_project(p)
                    .set_region(r)
                    .set_address(name)
                    .send()
            })
            .await?;
        Ok(got.and_then(|a| a.address))
    }

    /// The resource named `name`, as JSON; `None` when there is none.
    pub(crate) async fn get_named(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Option<Map<String, Value>>> {
        dispatch!(kind, get(self, name))
    }

    pub(crate) async fn insert_named(
        &self,
        kind: &str,
        props: &Map<String, Value>,
    ) -> Result<Operation> {
        dispatch!(kind, insert(self, kind, props))
    }

    /// A merge patch with the changed properties (and, where the kind has one, the current
    /// fingerprint: a stale one is refused with 412, and the caller re-reads).
    pub(crate) async fn patch_named(
        &self,
        kind: &str,
        name: &str,
        props: &Map<String, Value>,
    ) -> Result<Operation> {
        match kind {
            GLOBAL_ADDRESS | GLOBAL_FORWARDING_RULE => Err(Error::Bug(format!(
                "{kind} {name}: Compute does not patch this kind; the plan should have refused the change"
            ))),
            _ => patch_dispatch(self, kind, name, props).await,
        }
    }

    /// `None`: it was already gone.
    pub(crate) async fn delete_named(&self, kind: &str, name: &str) -> Result<Option<Operation>> {
        dispatch!(kind, delete(self, name))
    }
}

async fn patch_dispatch(
    p: &GcpProvider,
    kind: &str,
    name: &str,
    props: &Map<String, Value>,
) -> Result<Operation> {
    match kind {
        REGION_HEALTH_CHECK => region_health_check::Kind::patch(p, kind, name, props).await,
        FIREWALL => firewall::Kind::patch(p, kind, name, props).await,
        REGION_BACKEND_SERVICE => region_backend_service::Kind::patch(p, kind, name, props).await,
        FORWARDING_RULE => forwarding_rule::Kind::patch(p, kind, name, props).await,
        HEALTH_CHECK => health_check::Kind::patch(p, kind, name, props).await,
        BACKEND_SERVICE => backend_service::Kind::patch(p, kind, name, props).await,
        URL_MAP => url_map::Kind::patch(p, kind, name, props).await,
        TARGET_HTTP_PROXY => target_http_proxy::Kind::patch(p, kind, name, props).await,
        TARGET_HTTPS_PROXY => target_https_proxy::Kind::patch(p, kind, name, props).await,
        other => Err(unknown(other)),
    }
}
