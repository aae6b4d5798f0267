//! The GKE annotations of an Ingress and of its backend Services, with GKE's meaning:
//! `kubernetes.io/ingress.global-static-ip-name` (a reserved global address by name),
//! `kubernetes.io/ingress.allow-http` (`"false"`: no port 80), `ingress.gcp.kubernetes.io/pre-shared-cert`
//! (SslCertificates by name, comma-separated); on Services `cloud.google.com/app-protocols`
//! (`{"port-name": "HTTP" | "HTTPS" | "HTTP2"}`). Every other annotation under GKE's prefixes that
//! changes a load balancer is refused (berth does not implement it yet, and a load balancer
//! without it is not what was asked for): FrontendConfig, BackendConfig, NEGs, regional IPs.

use crate::error::{Error, Result};
use crate::frontend::ObjectRef;
use crate::gcp::names::{comma_list, is_rfc1035};
use std::collections::BTreeMap;

pub const STATIC_IP: &str = "kubernetes.io/ingress.global-static-ip-name";
pub const ALLOW_HTTP: &str = "kubernetes.io/ingress.allow-http";
pub const PRE_SHARED_CERT: &str = "ingress.gcp.kubernetes.io/pre-shared-cert";
pub const CLASS: &str = "kubernetes.io/ingress.class";
pub const APP_PROTOCOLS: &str = "cloud.google.com/app-protocols";
pub const NEG: &str = "cloud.google.com/neg";
const BACKEND_CONFIGS: [&str; 2] = [
    "cloud.google.com/backend-config",
    "beta.cloud.google.com/backend-config",
];

/// Prefixes under which an Ingress annotation concerns its load balancer.
const INGRESS_PREFIXES: [&str; 3] = [
    "kubernetes.io/ingress.",
    "ingress.gcp.kubernetes.io/",
    "networking.gke.io/",
];
/// What the controller writes on the Ingress itself (GKE's status annotations).
const STATUS_PREFIX: &str = "ingress.kubernetes.io/";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngressAnnotations {
    pub static_ip: Option<String>,
    pub allow_http: bool,
    pub pre_shared_certs: Vec<String>,
}

fn err(object: &ObjectRef, key: &str, value: &str, expected: impl Into<String>) -> Error {
    Error::InvalidAnnotation {
        object: object.clone(),
        annotation: key.to_string(),
        value: value.to_string(),
        expected: expected.into(),
    }
}

pub fn parse_ingress(
    object: &ObjectRef,
    a: &BTreeMap<String, String>,
) -> Result<IngressAnnotations> {
    const SUPPORTED: [&str; 4] = [STATIC_IP, ALLOW_HTTP, PRE_SHARED_CERT, CLASS];
    for (k, v) in a {
        let ours = INGRESS_PREFIXES.iter().any(|p| k.starts_with(p));
        if ours && !SUPPORTED.contains(&k.as_str()) && !k.starts_with(STATUS_PREFIX) {
            return Err(err(
                object,
                k,
                v,
                format!(
                    "an annotation berth honours on a GCE Ingress: {} (berth does not implement this one yet)",
                    SUPPORTED[..3].join(", ")
                ),
            ));
        }
    }
    let get = |k: &str| a.get(k).map(|v| v.trim());
    if let Some(v) = get(CLASS).filter(|v| *v == "gce-internal") {
        return Err(err(
            object,
            CLASS,
            v,
            "gce: berth builds external Application Load Balancers only (internal ones are not implemented yet)",
        ));
    }
    let static_ip = match get(STATIC_IP) {
        Some(v) if !is_rfc1035(v) => {
            return Err(err(
                object,
                STATIC_IP,
                v,
                "the name of a reserved global address",
            ))
        }
        v => v.map(String::from),
    };
    let allow_http = match get(ALLOW_HTTP) {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(err(object, ALLOW_HTTP, v, "true or false")),
    };
    let pre_shared_certs = comma_list(get(PRE_SHARED_CERT));
    if let Some(bad) = pre_shared_certs.iter().find(|c| !is_rfc1035(c)) {
        return Err(err(
            object,
            PRE_SHARED_CERT,
            bad,
            "SslCertificate names, comma-separated",
        ));
    }
    if pre_shared_certs.len() > 15 {
        return Err(err(
            object,
            PRE_SHARED_CERT,
            &pre_shared_certs.join(","),
            "at most 15 certificates (a target HTTPS proxy's limit)",
        ));
    }
    Ok(IngressAnnotations {
        static_ip,
        allow_http,
        pre_shared_certs,
    })
}

/// A backend Service port's protocol to the pods (`cloud.google.com/app-protocols`, by the
/// Service port's name; default HTTP).
pub fn app_protocol(
    ingress: &ObjectRef,
    service: &str,
    service_annotations: &BTreeMap<String, String>,
    port_name: Option<&str>,
) -> Result<&'static str> {
    let for_service = |key: &str, value: &str, expected: &str| Error::InvalidAnnotation {
        object: ingress.clone(),
        annotation: format!("{key} (on Service {}/{service})", ingress.namespace),
        value: value.to_string(),
        expected: expected.to_string(),
    };
    if let Some((key, v)) = BACKEND_CONFIGS
        .iter()
        .find_map(|k| service_annotations.get(*k).map(|v| (*k, v)))
    {
        return Err(for_service(
            key,
            v,
            "no BackendConfig (berth does not read BackendConfigs yet)",
        ));
    }
    if let Some(v) = service_annotations.get(NEG) {
        let parsed: serde_json::Value = serde_json::from_str(v)
            .map_err(|_| for_service(NEG, v, r#"JSON such as {"ingress": false}"#))?;
        if parsed["ingress"] == true {
            return Err(for_service(
                NEG,
                v,
                r#"{"ingress": false}: berth's GCE Ingresses use instance groups on the NodePort (NEG backends are not implemented yet)"#,
            ));
        }
    }
    let Some(v) = service_annotations.get(APP_PROTOCOLS) else {
        return Ok("HTTP");
    };
    let map: BTreeMap<String, String> = serde_json::from_str(v).map_err(|_| {
        for_service(
            APP_PROTOCOLS,
            v,
            r#"a JSON object such as {"https-port": "HTTPS"}"#,
        )
    })?;
    let Some(proto) = port_name.and_then(|n| map.get(n)) else {
        return Ok("HTTP");
    };
    match proto.as_str() {
        "HTTP" => Ok("HTTP"),
        "HTTPS" => Ok("HTTPS"),
        "HTTP2" => Ok("HTTP2"),
        _ => Err(for_service(
            APP_PROTOCOLS,
            v,
            "protocols HTTP, HTTPS or HTTP2 (upper case, as GKE)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(a: &[(&str, &str)]) -> BTreeMap<String, String> {
        a.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ingress_annotations_valid_and_invalid() {
        let ing = ObjectRef::service("shop", "web");
        let ok = |a: &[(&str, &str)]| parse_ingress(&ing, &map(a)).unwrap();
        assert_eq!(
            ok(&[]),
            IngressAnnotations {
                allow_http: true,
                ..Default::default()
            }
        );
        let a = ok(&[
            (STATIC_IP, "web-ip"),
            (ALLOW_HTTP, "false"),
            (PRE_SHARED_CERT, "c1, c2"),
            (CLASS, "gce"),
            ("ingress.kubernetes.io/url-map", "x"),
        ]);
        assert_eq!(
            (
                a.static_ip.as_deref(),
                a.allow_http,
                a.pre_shared_certs.len()
            ),
            (Some("web-ip"), false, 2)
        );
        for (a, key, want) in [
            (vec![(ALLOW_HTTP, "no")], ALLOW_HTTP, "true or false"),
            (
                vec![(STATIC_IP, "Web IP")],
                STATIC_IP,
                "reserved global address",
            ),
            (
                vec![(PRE_SHARED_CERT, "ok,Bad_Cert")],
                PRE_SHARED_CERT,
                "SslCertificate names",
            ),
            (
                vec![("networking.gke.io/v1beta1.FrontendConfig", "fc")],
                "FrontendConfig",
                "does not implement",
            ),
            (
                vec![("kubernetes.io/ingress.regional-static-ip-name", "ip")],
                "regional-static-ip-name",
                "does not implement",
            ),
            (
                vec![(CLASS, "gce-internal")],
                CLASS,
                "internal ones are not implemented",
            ),
        ] {
            let e = parse_ingress(&ing, &map(&a)).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(want), "{a:?}: {e}");
        }
    }

    #[test]
    fn service_annotations_app_protocols_negs_and_backend_configs() {
        let ing = ObjectRef::service("shop", "web");
        let proto =
            |a: &[(&str, &str)], port: Option<&str>| app_protocol(&ing, "api", &map(a), port);
        assert_eq!(proto(&[], Some("http")).unwrap(), "HTTP");
        let ap = [(APP_PROTOCOLS, r#"{"https":"HTTPS","h2":"HTTP2"}"#)];
        assert_eq!(proto(&ap, Some("https")).unwrap(), "HTTPS");
        assert_eq!(proto(&ap, Some("h2")).unwrap(), "HTTP2");
        assert_eq!(proto(&ap, Some("other")).unwrap(), "HTTP");
        assert_eq!(
            proto(&[(NEG, r#"{"ingress": false}"#)], None).unwrap(),
            "HTTP"
        );
        for (a, want) in [
            (vec![(APP_PROTOCOLS, r#"{"https":"https"}"#)], "upper case"),
            (vec![(APP_PROTOCOLS, "HTTPS")], "JSON object"),
            (
                vec![(NEG, r#"{"ingress": true}"#)],
                "NEG backends are not implemented",
            ),
            (
                vec![("cloud.google.com/backend-config", r#"{"default":"bc"}"#)],
                "BackendConfig",
            ),
        ] {
            let e = proto(&a, Some("https")).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("Service shop/api"),
                "{a:?}: {e}"
            );
        }
    }
}
