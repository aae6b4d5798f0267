//! End to end on GCP: the built `berth run --cloud gcp` binary against the real kube-apiserver
//! and the Compute fake (`localstack/gcp-fake`, in this test's process, every request held to
//! the discovery document). A Service (berth is the default class) gets its passthrough NLB and
//! the forwarding rule's IP in its status; a new Node joins the cluster's instance group;
//! deleting the Service removes its resources before the finalizer goes.
//!
//! Run: `bash localstack/test.sh -p berth --test e2e_gcp -- --nocapture`
#![cfg(feature = "gcp")]

mod support;

use k8s_openapi::api::core::v1::Pod;
use support::*;

const GCP_FINALIZER: &str = "berth.dev/gcp-load-balancer";

async fn gce_node(client: &kube::Client, ns: &str, name: &str, zone: &str) {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": format!("{ns}-{name}"), "labels": {"berth-e2e": ns}},
        "spec": {"providerID": format!("gce://p/us-central1-{zone}/{ns}-{name}")}
    }))
    .unwrap();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .expect("create Node");
}

fn spawn(kubeconfig: &str, ns: &str, endpoint: &str, dir: &std::path::Path) -> Berth {
    let port = free_port();
    let identity = format!("{ns}-berth");
    let log = dir.join("berth.log");
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let metrics = format!("127.0.0.1:{port}");
    let selector = format!("berth-e2e={ns}");
    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "run",
            "--cloud",
            "gcp",
            "--cluster-name",
            ns,
            "--identity",
            &identity,
        ])
        .args(["--metrics-addr", &metrics, "--resync", "3s"])
        .args(["--leader-election-namespace", ns, "--lease-duration", "3s"])
        .args(["--lease-renew-interval", "1s", "--watch-namespace", ns])
        .args(["--node-selector", &selector])
        // The test API server (1.20) drops spec.loadBalancerClass: berth is the default class.
        .arg("--default-class")
        .args(["--gcp-project", "p", "--gcp-region", "us-central1"])
        .args([
            "--gcp-node-tags",
            "gke-e2e-node",
            "--gcp-endpoint",
            endpoint,
        ])
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "info,berth=debug")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn berth");
    Berth {
        child,
        port,
        log,
        identity,
    }
}

/// The fake's resources whose description names `owner`.
fn owned_by(fake: &gcp_fake::Fake, owner: &str) -> Vec<(String, serde_json::Value)> {
    fake.resources()
        .into_iter()
        .filter(|(_, v)| {
            v["description"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("\"berth.dev/owner\":\"{owner}\"")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_gets_a_passthrough_nlb_its_ip_and_is_cleaned_up() {
    let kubeconfig = require("BERTH_TEST_KUBECONFIG");
    let client = kube_client(&kubeconfig).await;
    let ns = unique("gcp");
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("create namespace");
    let fake = gcp_fake::Fake::start().await;
    gce_node(&client, &ns, "n1", "a").await;
    gce_node(&client, &ns, "n2", "b").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let berth = spawn(&kubeconfig, &ns, &fake.url(), dir.path());
    berth.wait_phase("leader", Duration::from_secs(30)).await;

    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "loadBalancerClass": "berth.dev/gce-l4",
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .unwrap();
    let t = Instant::now();
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("create Service");
    let (svc, ip) = eventually(
        "an IP in the Service's status",
        Duration::from_secs(60),
        || async {
            let s = services.get("web").await.ok()?;
            let ip = s
                .status
                .as_ref()?
                .load_balancer
                .as_ref()?
                .ingress
                .as_ref()?
                .first()?
                .ip
                .clone()?;
            Some((s, ip))
        },
    )
    .await;
    println!("[timing] Service -> IP in status in {:?}", t.elapsed());
    let owner = format!("Service {ns}/web");
    let rule = owned_by(&fake, &owner)
        .into_iter()
        .find(|(k, _)| k.contains("/forwardingRules/"))
        .expect("the Service's forwarding rule")
        .1;
    assert_eq!(
        rule["IPAddress"],
        ip.as_str(),
        "the status holds the rule's IP"
    );
    assert!(
        svc.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == GCP_FINALIZER)),
        "finalizer {GCP_FINALIZER}"
    );
    let kinds: BTreeSet<String> = owned_by(&fake, &owner)
        .iter()
        .map(|(k, _)| k.split('/').rev().nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["backendServices", "firewalls", "forwardingRules"]
            .map(String::from)
            .into(),
        "the Service's own resources"
    );

    // A third node (zone a): the cluster's instance group there gains it.
    gce_node(&client, &ns, "n3", "a").await;
    let group = format!(
        "projects/p/zones/us-central1-a/instanceGroups/berth-{}",
        providers::gcp::names::cluster_hash(&ns)
    );
    eventually(
        "the new node in the zone's instance group",
        Duration::from_secs(30),
        || async {
            let n = fake
                .requests()
                .iter()
                .filter(|r| r.path.contains(&group))
                .count();
            (n >= 2).then_some(())
        },
    )
    .await;

    // An Ingress (GKE's class annotation) on a NodePort Service: its global load balancer's
    // IP in the Ingress's status; deleted, nothing of it is left.
    let site: Service = serde_json::from_value(json!({
        "metadata": {"name": "site"},
        "spec": {"type": "NodePort", "selector": {"app": "site"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .unwrap();
    services
        .create(&PostParams::default(), &site)
        .await
        .expect("create Service site");
    // Its pod's readiness probe becomes the health check's path.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = |name: &str, path: &str| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "site"}},
            "spec": {"containers": [{"name": "site", "image": "site:1",
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 5}}]}
        }))
        .unwrap()
    };
    pods.create(&PostParams::default(), &pod("site-1", "/ready-v1"))
        .await
        .expect("create Pod");
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), &ns);
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "site", "annotations": {"kubernetes.io/ingress.class": "gce"}},
        "spec": {"defaultBackend": {"service": {"name": "site", "port": {"number": 80}}}}
    }))
    .unwrap();
    let t = Instant::now();
    ingresses
        .create(&PostParams::default(), &ing)
        .await
        .expect("create Ingress");
    let ing_ip = eventually(
        "an IP in the Ingress's status",
        Duration::from_secs(60),
        || async {
            let i = ingresses.get("site").await.ok()?;
            i.status?.load_balancer?.ingress?.first()?.ip.clone()
        },
    )
    .await;
    println!("[timing] Ingress -> IP in status in {:?}", t.elapsed());
    let ing_owner = format!("Ingress {ns}/site");
    let global_rule = owned_by(&fake, &ing_owner)
        .into_iter()
        .find(|(k, _)| k.contains("/global/forwardingRules/"))
        .expect("the Ingress's forwarding rule")
        .1;
    assert_eq!(global_rule["IPAddress"], ing_ip.as_str());
    // GKE's annotations name the load balancer's parts.
    let url_map = owned_by(&fake, &ing_owner)
        .into_iter()
        .find(|(k, _)| k.contains("/global/urlMaps/"))
        .map(|(_, v)| v["name"].clone())
        .expect("the Ingress's URL map");
    eventually(
        "GKE's annotations on the Ingress",
        Duration::from_secs(10),
        || async {
            let i = ingresses.get("site").await.ok()?;
            let a = i.metadata.annotations?;
            (Some(&url_map)
                == a.get("ingress.kubernetes.io/url-map")
                    .map(|v| json!(v))
                    .as_ref()
                && a.contains_key("ingress.kubernetes.io/forwarding-rule")
                && a.contains_key("ingress.kubernetes.io/target-proxy"))
            .then_some(())
        },
    )
    .await;
    let check_path = || {
        owned_by(&fake, &ing_owner)
            .into_iter()
            .find(|(k, _)| k.contains("/global/healthChecks/"))
            .map(|(_, v)| v["httpHealthCheck"]["requestPath"].clone())
    };
    assert_eq!(check_path(), Some(json!("/ready-v1")), "the probe's path");
    // A rollout: the new pod's probe is on another path; the health check follows.
    pods.delete("site-1", &DeleteParams::default())
        .await
        .expect("delete Pod");
    pods.create(&PostParams::default(), &pod("site-2", "/ready-v2"))
        .await
        .expect("create Pod");
    let t = Instant::now();
    eventually(
        "the health check on the new probe's path",
        Duration::from_secs(30),
        || async { (check_path() == Some(json!("/ready-v2"))).then_some(()) },
    )
    .await;
    println!(
        "[timing] new readinessProbe -> health check updated in {:?}",
        t.elapsed()
    );
    ingresses
        .delete("site", &DeleteParams::default())
        .await
        .expect("delete Ingress");
    eventually("the Ingress gone", Duration::from_secs(60), || async {
        ingresses
            .get_opt("site")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let left = owned_by(&fake, &ing_owner);
    assert!(left.is_empty(), "nothing of the Ingress is left: {left:?}");

    // Deleted: the Service's resources go before its finalizer (and the Service) does.
    services
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete Service");
    eventually("the Service gone", Duration::from_secs(60), || async {
        services.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;
    let left = owned_by(&fake, &owner);
    assert!(left.is_empty(), "nothing of the Service is left: {left:?}");
    assert!(
        fake.schema_violations().is_empty(),
        "{:?}",
        fake.schema_violations()
    );
    for n in ["n1", "n2", "n3"] {
        let _ = Api::<Node>::all(client.clone())
            .delete(&format!("{ns}-{n}"), &DeleteParams::default())
            .await;
    }
    drop(berth);
}
