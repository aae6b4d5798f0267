//! The GCP provider for an Ingress against the Compute fake: the global Application Load
//! Balancer created (named ports added to the cluster's instance groups, never removed from
//! under another user), its IP as the group's address, a second pass with zero mutating calls,
//! a path change updating the URL map in place, and deletion leaving nothing of the Ingress's.
#![cfg(feature = "gcp")]

mod gcp_support;

use gcp_fake::Fake;
use gcp_support::{described, provider};
use providers::frontend::{FrontendKind, Node, ObjectRef, Protocol, ServicePort};
use providers::gcp::GcpProvider;
use providers::ingress::{
    Backend, BackendPort, HttpPath, IngressGroup, Member, PathType, ResolvedBackend, Rule,
};
use providers::metrics::CallCounter;
use providers::provider::{Address, Provider};
use std::sync::Arc;

fn backend(service: &str, port: u16, node_port: u16) -> Backend {
    Backend {
        service: service.into(),
        port: BackendPort::Number(port),
        resolved: Ok(ResolvedBackend {
            service_annotations: Default::default(),
            port: ServicePort {
                name: Some("http".into()),
                protocol: Protocol::Tcp,
                port,
                node_port: Some(node_port),
                target_port: Some(8080),
                endpoints: Vec::new(),
            },
            probe: None,
            probe_note: None,
        }),
    }
}

fn ingress(name: &str, api_path: &str) -> IngressGroup {
    let object = ObjectRef {
        kind: FrontendKind::Ingress,
        namespace: "shop".into(),
        name: name.into(),
    };
    let nodes = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, z)| Node {
            name: format!("n{i}"),
            provider_id: Some(format!("gce://p/us-central1-{z}/gke-n{i}")),
            ..Default::default()
        })
        .collect();
    IngressGroup {
        object: ObjectRef {
            kind: FrontendKind::IngressGroup,
            ..object.clone()
        },
        cluster: "prod".into(),
        members: vec![Member {
            object,
            annotations: Default::default(),
            default_backend: Some(backend("web", 80, 30080)),
            rules: vec![Rule {
                host: Some("shop.example.com".into()),
                paths: vec![HttpPath {
                    path: api_path.into(),
                    path_type: PathType::Prefix,
                    backend: backend("api", 8080, 30081),
                }],
            }],
            tls: Vec::new(),
            annotation_backends: Vec::new(),
        }],
        nodes,
        endpoints_unavailable: None,
    }
}

async fn converge(
    p: &GcpProvider,
    g: &IngressGroup,
) -> providers::Result<(providers::Plan, providers::ApplyOutcome)> {
    let d = p.desired_group(g).await?;
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    let observed = p.observe(&g.object, &g.cluster, &d.resources).await?;
    let plan = p.plan(&d.resources, &observed)?;
    let out = p.apply(&plan, &observed).await?;
    Ok((plan, out))
}

async fn delete(p: &GcpProvider, g: &IngressGroup) -> providers::Plan {
    let observed = p.observe(&g.object, &g.cluster, &[]).await.unwrap();
    let plan = p.plan(&[], &observed).unwrap();
    p.apply(&plan, &observed).await.unwrap();
    plan
}

fn named_ports(fake: &Fake) -> Vec<serde_json::Value> {
    fake.resources()
        .into_iter()
        .filter(|(k, _)| k.contains("/instanceGroups/"))
        .map(|(_, v)| v["namedPorts"].clone())
        .collect()
}

#[tokio::test]
async fn an_ingress_gets_its_global_load_balancer_updates_in_place_and_goes() {
    let fake = Fake::start().await;
    let calls = Arc::new(CallCounter::default());
    let p = provider(&fake, calls.clone()).await;
    let g = ingress("web", "/api");

    let (plan, out) = converge(&p, &g).await.unwrap();
    println!(
        "create: {} changes, {} calls, {} mutating",
        plan.changes.len(),
        calls.total(),
        calls.mutating()
    );
    let Some(Address::Ip(ip)) = out.address else {
        panic!("an IP: {out:?}")
    };
    let rule = fake
        .resources()
        .into_iter()
        .find(|(k, _)| k.contains("/global/forwardingRules/"))
        .expect("the :80 rule")
        .1;
    assert_eq!(rule["IPAddress"], ip.as_str());
    for ports in named_ports(&fake) {
        assert_eq!(
            ports,
            serde_json::json!([{"name": "port30080", "port": 30080}, {"name": "port30081", "port": 30081}])
        );
    }

    calls.reset();
    let (plan, _) = converge(&p, &g).await.unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
    assert_eq!(calls.mutating(), 0, "{:?}", calls.by_operation());
    println!("no-op: {} calls", calls.total());

    // A second Ingress on another NodePort: the groups gain its port, keep the first's.
    let mut other = ingress("admin", "/admin");
    other.members[0].default_backend = Some(backend("admin", 80, 30090));
    converge(&p, &other).await.unwrap();
    for ports in named_ports(&fake) {
        let n: Vec<u64> = ports
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["port"].as_u64().unwrap())
            .collect();
        assert_eq!(n, [30080, 30081, 30090], "{ports}");
    }

    // The path changes: only the URL map changes, in place.
    let moved = ingress("web", "/v2");
    let (plan, _) = converge(&p, &moved).await.unwrap();
    let kinds: Vec<&str> = plan.changes.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["compute.v1.urlMaps"], "{plan:#?}");
    let um = fake
        .resources()
        .into_iter()
        .find(|(k, _)| k.contains("/urlMaps/") && k.contains("-web-"))
        .unwrap()
        .1;
    assert!(um["pathMatchers"].to_string().contains("/v2/*"), "{um}");

    // Deleted: everything of the Ingress's goes, the other Ingress keeps its load balancer
    // and the groups (in use).
    calls.reset();
    let plan = delete(&p, &moved).await;
    println!(
        "delete: {} changes, {} calls, {} mutating",
        plan.changes.len(),
        calls.total(),
        calls.mutating()
    );
    assert!(
        described(&fake, "Ingress shop/web").is_empty(),
        "{:?}",
        described(&fake, "Ingress shop/web")
    );
    assert!(!described(&fake, "Ingress shop/admin").is_empty());
    assert_eq!(
        fake.resources()
            .iter()
            .filter(|(k, _)| k.contains("/instanceGroups/"))
            .count(),
        2
    );
    assert!(
        delete(&p, &moved).await.is_empty(),
        "nothing left to delete"
    );
    delete(&p, &other).await;
    assert!(
        described(&fake, "berth.dev/cluster").is_empty(),
        "{:?}",
        described(&fake, "berth.dev/cluster")
    );
    assert!(
        fake.schema_violations().is_empty(),
        "{:?}",
        fake.schema_violations()
    );
}
