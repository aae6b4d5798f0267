use super::*;
use crate::frontend::Protocol;
use crate::frontend::{FrontendKind, Node, ServicePort};
use crate::gcp::l4::translate::tests::{assert_valid_bodies, of};
use crate::ingress::{ResolvedBackend, Rule, Tls};
use crate::profile::Settings;

fn facts() -> Facts {
    let s = Settings::from_pairs([("node-tags", "gke-prod-node")]);
    Facts::resolve(&s, &nodes()).unwrap()
}

fn nodes() -> Vec<Node> {
    ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, z)| Node {
            name: format!("n{i}"),
            provider_id: Some(format!("gce://shop-prod/us-central1-{z}/gke-n{i}")),
            ..Default::default()
        })
        .collect()
}

fn backend(
    service: &str,
    port: u16,
    node_port: Option<u16>,
    annotations: &[(&str, &str)],
) -> Backend {
    Backend {
        service: service.into(),
        port: BackendPort::Number(port),
        resolved: Ok(ResolvedBackend {
            service_annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            port: ServicePort {
                name: Some(if port == 443 {
                    "https".into()
                } else {
                    "http".into()
                }),
                protocol: Protocol::Tcp,
                port,
                node_port,
                target_port: Some(8080),
                endpoints: Vec::new(),
            },
            probe: None,
            probe_note: None,
        }),
    }
}

fn path(p: &str, t: PathType, b: Backend) -> HttpPath {
    HttpPath {
        path: p.into(),
        path_type: t,
        backend: b,
    }
}

fn ingress(annotations: &[(&str, &str)], rules: Vec<Rule>) -> IngressGroup {
    let object = ObjectRef {
        kind: FrontendKind::Ingress,
        namespace: "shop".into(),
        name: "web".into(),
    };
    IngressGroup {
        object: ObjectRef {
            kind: FrontendKind::IngressGroup,
            ..object.clone()
        },
        cluster: "prod".into(),
        members: vec![Member {
            object,
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            default_backend: Some(backend("web", 80, Some(30080), &[])),
            rules,
            tls: Vec::new(),
            annotation_backends: Vec::new(),
        }],
        nodes: nodes(),
        endpoints_unavailable: None,
    }
}

fn rules() -> Vec<Rule> {
    vec![
        Rule {
            host: Some("shop.example.com".into()),
            paths: vec![
                path(
                    "/api",
                    PathType::Prefix,
                    backend("api", 8080, Some(30081), &[]),
                ),
                path(
                    "/exact",
                    PathType::Exact,
                    backend("web", 80, Some(30080), &[]),
                ),
            ],
        },
        Rule {
            host: None,
            paths: vec![path(
                "/static/*",
                PathType::ImplementationSpecific,
                backend("web", 80, Some(30080), &[]),
            )],
        },
    ]
}

#[test]
fn an_ingress_is_gke_s_global_load_balancer_on_instance_groups() {
    let d = desired_group(&ingress(&[], rules()), Ok(&facts()));
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    let rs = &d.resources;
    assert_valid_bodies(rs);
    // Two backends (web:80 twice is one), each with its health check.
    let bss = of(rs, BACKEND_SERVICE);
    assert_eq!(bss.len(), 2);
    assert_eq!(bss[0].properties["portName"], "port30080");
    assert_eq!(bss[0].properties["protocol"], "HTTP");
    assert!(bss[0].properties["description"]
        .as_str()
        .unwrap()
        .contains(r#""kubernetes.io/service-name":"shop/web""#));
    let hc = of(rs, HEALTH_CHECK)[1];
    assert_eq!(
        hc.properties["httpHealthCheck"],
        json!({"port": 30081, "requestPath": "/"})
    );
    assert_eq!(
        (
            hc.properties["checkIntervalSec"].clone(),
            hc.properties["unhealthyThreshold"].clone()
        ),
        (json!(60), json!(10))
    );
    // The groups carry both NodePorts as named ports.
    let np = of(rs, INSTANCE_GROUP_NAMED_PORTS);
    assert_eq!(np.len(), 2);
    assert_eq!(
        np[0].properties["namedPorts"],
        json!([{"name": "port30080", "port": 30080}, {"name": "port30081", "port": 30081}])
    );
    let fw = of(rs, FIREWALL)[0];
    assert_eq!(
        fw.properties["allowed"],
        json!([{"IPProtocol": "tcp", "ports": ["30080", "30081"]}])
    );
    assert_eq!(fw.properties["sourceRanges"], json!(L7_RANGES));
    // GKE's paths: Prefix /api -> /api and /api/*; Exact as is; a rule without host -> "*".
    let um = &of(rs, URL_MAP)[0].properties;
    let hosts: Vec<&Value> = um["hostRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["hosts"][0])
        .collect();
    assert_eq!(hosts, [&json!("shop.example.com"), &json!("*")]);
    let first = &um["pathMatchers"][0]["pathRules"];
    let paths: Vec<&Value> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["paths"][0])
        .collect();
    assert_eq!(paths, [&json!("/api"), &json!("/api/*"), &json!("/exact")]);
    assert_eq!(um["defaultService"], reference(&bss[0].name));
    // HTTP only: one proxy, one rule on :80, an ephemeral address.
    assert_eq!(of(rs, TARGET_HTTP_PROXY).len(), 1);
    assert!(of(rs, TARGET_HTTPS_PROXY).is_empty() && of(rs, GLOBAL_ADDRESS).is_empty());
    let fr = of(rs, GLOBAL_FORWARDING_RULE)[0];
    assert_eq!(fr.properties["portRange"], "80-80");
    assert!(fr.properties.get("IPAddress").is_none());
    for r in rs {
        let n = r.name.rsplit('/').next().unwrap();
        assert!(names::is_rfc1035(n), "{n}");
    }
}

#[test]
fn https_static_ips_shared_addresses_and_app_protocols() {
    let certs = [(annotations::PRE_SHARED_CERT, "shop-cert")];
    let d = desired_group(&ingress(&certs, rules()), Ok(&facts()));
    let rs = &d.resources;
    assert_valid_bodies(rs);
    let ts = of(rs, TARGET_HTTPS_PROXY)[0];
    assert!(ts.properties["sslCertificates"][0]
        .as_str()
        .unwrap()
        .ends_with("/global/sslCertificates/shop-cert"));
    // Both listen: one global address they share.
    let ip = of(rs, GLOBAL_ADDRESS)[0];
    let frs = of(rs, GLOBAL_FORWARDING_RULE);
    assert_eq!(frs.len(), 2);
    for fr in &frs {
        assert_eq!(fr.properties["IPAddress"], reference(&ip.name));
    }
    assert_eq!(frs[1].properties["portRange"], "443-443");
    // allow-http false: HTTPS only; a static IP by name.
    let a = [
        (annotations::PRE_SHARED_CERT, "shop-cert"),
        (annotations::ALLOW_HTTP, "false"),
        (annotations::STATIC_IP, "shop-ip"),
    ];
    let rs = desired_group(&ingress(&a, rules()), Ok(&facts())).resources;
    assert!(of(&rs, TARGET_HTTP_PROXY).is_empty() && of(&rs, GLOBAL_ADDRESS).is_empty());
    let fr = of(&rs, GLOBAL_FORWARDING_RULE)[0];
    assert!(fr.properties["IPAddress"]
        .as_str()
        .unwrap()
        .ends_with("/global/addresses/shop-ip"));
    // app-protocols: an HTTPS backend and its HTTPS health check.
    let mut g = ingress(&[], Vec::new());
    g.members[0].default_backend = Some(backend(
        "tls",
        443,
        Some(30443),
        &[(annotations::APP_PROTOCOLS, r#"{"https":"HTTPS"}"#)],
    ));
    let rs = desired_group(&g, Ok(&facts())).resources;
    assert_valid_bodies(&rs);
    assert_eq!(of(&rs, BACKEND_SERVICE)[0].properties["protocol"], "HTTPS");
    let hc = &of(&rs, HEALTH_CHECK)[0].properties;
    assert_eq!(
        (hc["type"].clone(), hc["httpsHealthCheck"]["port"].clone()),
        (json!("HTTPS"), json!(30443))
    );
    assert!(of(&rs, URL_MAP)[0].properties.get("hostRules").is_none());
}

#[test]
fn what_gke_refuses_or_berth_cannot_serve_is_refused_on_the_ingress() {
    let f = facts();
    let refused = |g: IngressGroup| -> String {
        let d = desired_group(&g, Ok(&f));
        assert!(d.resources.is_empty() && !d.converge(), "{d:?}");
        d.rejected[0].1.to_string()
    };
    let wild = vec![Rule {
        host: None,
        paths: vec![path(
            "/a/*",
            PathType::Prefix,
            backend("web", 80, Some(30080), &[]),
        )],
    }];
    let e = refused(ingress(&[], wild));
    assert!(
        e.contains("spec.rules[0].http.paths[0].path") && e.contains("no wildcard"),
        "{e}"
    );
    let mut g = ingress(&[], Vec::new());
    g.members[0].default_backend = None;
    assert!(refused(g).contains("kube-system/default-http-backend"));
    let mut g = ingress(&[], Vec::new());
    g.members[0].default_backend = Some(backend("web", 80, None, &[]));
    assert!(refused(g).contains("NodePort"));
    let mut g = ingress(&[], Vec::new());
    g.members[0].tls = vec![Tls {
        hosts: vec!["a".into()],
        secret_name: Some("s".into()),
    }];
    assert!(refused(g).contains("spec.tls[].secretName"));
    assert!(
        refused(ingress(&[(annotations::ALLOW_HTTP, "false")], Vec::new()))
            .contains("certificates for HTTPS")
    );
    let mut g = ingress(&[], Vec::new());
    g.members[0].default_backend = Some(backend(
        "web",
        80,
        Some(30080),
        &[(annotations::NEG, r#"{"ingress":true}"#)],
    ));
    assert!(refused(g).contains("NEG backends are not implemented"));
    let mut g = ingress(&[], Vec::new());
    g.members[0].default_backend.as_mut().unwrap().resolved =
        Err("Service shop/web does not exist".into());
    let e = refused(g);
    assert!(
        e.contains("spec.defaultBackend") && e.contains("does not exist"),
        "{e}"
    );
    let no_project = Error::CloudSetup("the GCP project and region are unknown".into());
    let d = desired_group(&ingress(&[], Vec::new()), Err(&no_project));
    assert!(d.rejected[0].1.to_string().contains("project"));
}

#[test]
fn health_checks_follow_the_pods_readiness_probe_as_gke_does() {
    let probe = |scheme: &str| crate::ingress::HttpProbe {
        path: "/ready".into(),
        host: Some("shop.example.com".into()),
        scheme: scheme.into(),
        period_seconds: 5,
        timeout_seconds: 2,
    };
    let mut g = ingress(&[], Vec::new());
    if let Some(Ok(r)) = g.members[0]
        .default_backend
        .as_mut()
        .map(|b| b.resolved.as_mut())
    {
        r.probe = Some(probe("HTTP"));
    }
    let rs = desired_group(&g, Ok(&facts())).resources;
    assert_valid_bodies(&rs);
    let hc = &of(&rs, HEALTH_CHECK)[0].properties;
    assert_eq!(
        hc["httpHealthCheck"],
        json!({"port": 30080, "requestPath": "/ready", "host": "shop.example.com"})
    );
    assert_eq!(
        (hc["checkIntervalSec"].clone(), hc["timeoutSec"].clone()),
        (json!(65), json!(2))
    );
    // A probe whose scheme is not the backend's is not used (GKE's rule): the default stays.
    if let Some(Ok(r)) = g.members[0]
        .default_backend
        .as_mut()
        .map(|b| b.resolved.as_mut())
    {
        r.probe = Some(probe("HTTPS"));
    }
    let rs = desired_group(&g, Ok(&facts())).resources;
    let hc = &of(&rs, HEALTH_CHECK)[0].properties;
    assert_eq!(hc["httpHealthCheck"]["requestPath"], "/");
    assert_eq!(hc["checkIntervalSec"], 60);
}

#[test]
fn a_probe_berth_cannot_use_is_told_not_hidden() {
    let mut g = ingress(&[], Vec::new());
    if let Some(Ok(r)) = g.members[0]
        .default_backend
        .as_mut()
        .map(|b| b.resolved.as_mut())
    {
        r.probe_note =
            Some("Pod shop/web-1 container web: the readinessProbe is a tcpSocket probe".into());
    }
    let d = desired_group(&g, Ok(&facts()));
    assert!(d.rejected.is_empty());
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    assert!(d.notes[0].1.contains("tcpSocket"));
    assert_eq!(d.notes[0].0, g.members[0].object);
    // A probe of the other scheme is not used either, and said so.
    if let Some(Ok(r)) = g.members[0]
        .default_backend
        .as_mut()
        .map(|b| b.resolved.as_mut())
    {
        r.probe_note = None;
        r.probe = Some(crate::ingress::HttpProbe {
            path: "/ready".into(),
            host: None,
            scheme: "HTTPS".into(),
            period_seconds: 10,
            timeout_seconds: 1,
        });
    }
    let d = desired_group(&g, Ok(&facts()));
    assert!(
        d.notes[0]
            .1
            .contains("readinessProbe is HTTPS but the backend speaks HTTP"),
        "{:?}",
        d.notes
    );
}
