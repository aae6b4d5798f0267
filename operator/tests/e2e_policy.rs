//! LoadBalancerPolicy against a real kube-apiserver (1.20) and moto (see localstack/README.md):
//! the CRD's OpenAPI schema (examples accepted, malformed policies rejected with 422), and the
//! `berth run` binary enforcing a policy end to end, on Services and on the members of an Ingress
//! group.
//!
//! Policies are cluster-scoped and every test shares one API server, so each policy here lists
//! its test's namespace in `spec.namespaces` (and schema checks use dry-run creates): no test
//! sees another's policy. The harness is tests/support, shared with e2e_service.rs and e2e_ingress.rs.
//!
//! Run: `bash localstack/test.sh -p berth --test e2e_policy -- --nocapture`

mod support;

use berth::policy::LoadBalancerPolicy;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::DynamicObject;
use kube::core::ApiResource;
use std::path::Path;
use support::*;

const SCHEME_ANNOTATION: &str = "service.beta.kubernetes.io/aws-load-balancer-scheme";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn admin_client() -> (String, kube::Client) {
    let kubeconfig = require("BERTH_TEST_KUBECONFIG");
    let client = kube_client(&kubeconfig).await;
    (kubeconfig, client)
}

/// Installs the committed CRD file (which a unit test keeps equal to `berth crds`) and waits
/// until the API server has established it. Idempotent: tests run in parallel.
async fn install_crd(client: &kube::Client) {
    let yaml = std::fs::read_to_string(repo_root().join(berth::policy::CRD_FILE))
        .expect("read the CRD file");
    let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&yaml).expect("parse the CRD");
    let name = crd.metadata.name.clone().expect("CRD name");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    // Create, or replace an older one (same content from a parallel test is fine too).
    for attempt in 0.. {
        let result = match api.get_opt(&name).await.expect("get the CRD") {
            None => api.create(&PostParams::default(), &crd).await,
            Some(old) => {
                let mut new = crd.clone();
                new.metadata.resource_version = old.metadata.resource_version;
                api.replace(&name, &PostParams::default(), &new).await
            }
        };
        match result {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 5 => continue,
            Err(e) => panic!("install the CRD: {e}"),
        }
    }
    eventually(
        "the CRD is Established",
        Duration::from_secs(30),
        || async {
            let c = api.get(&name).await.ok()?;
            c.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        },
    )
    .await;
    // Discovery can lag behind Established for a moment.
    eventually(
        "berth.dev/v1alpha1 is served",
        Duration::from_secs(30),
        || async { berth::policy::served(client).await.ok()?.then_some(()) },
    )
    .await;
}

fn policy_api(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::erase::<LoadBalancerPolicy>(&());
    Api::all_with(client.clone(), &ar)
}

fn dynamic(v: serde_json::Value) -> DynamicObject {
    serde_json::from_value(v).expect("object")
}

fn lbp(name: &str, spec: serde_json::Value) -> DynamicObject {
    dynamic(json!({
        "apiVersion": "berth.dev/v1alpha1", "kind": "LoadBalancerPolicy",
        "metadata": {"name": name}, "spec": spec
    }))
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..Default::default()
    }
}

/// The CRD's schema on a real 1.20 API server: the documented examples are accepted, malformed
/// policies are rejected with 422 naming the field, unknown fields are pruned (1.20 has no
/// strict field validation). Dry-run creates: nothing is stored that could govern another
/// test's Services.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_schema_accepts_the_examples_and_rejects_malformed_policies() {
    let (_, client) = admin_client().await;
    install_crd(&client).await;
    let api = policy_api(&client);

    // Every example in crds/examples/ (policies, and the IngressClass pointing at one).
    let mut policies = 0;
    let dir = repo_root().join("crds/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("crds/examples")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
            match v["kind"].as_str() {
                Some("LoadBalancerPolicy") => {
                    let created = api
                        .create(&dry_run(), &dynamic(v.clone()))
                        .await
                        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                    // It also parses as berth's type.
                    let typed: LoadBalancerPolicy =
                        serde_json::from_value(serde_json::to_value(&created).unwrap())
                            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                    assert!(
                        !typed.spec.load_balancer_classes.is_empty()
                            || !typed.spec.ingress_classes.is_empty()
                    );
                    policies += 1;
                }
                Some("IngressClass") => {
                    let ic: IngressClass = serde_json::from_value(v).unwrap();
                    Api::<IngressClass>::all(client.clone())
                        .create(&dry_run(), &ic)
                        .await
                        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                }
                other => panic!("{}: unexpected kind {other:?}", file.display()),
            }
        }
    }
    assert!(policies >= 3, "examples: {policies}");

    // Malformed: (what, spec, a fragment of the API server's message).
    let bad = [
        (
            "scheme outside the enum",
            json!({"loadBalancerClasses": [""], "defaults": {"scheme": "public"}}),
            "spec.defaults.scheme",
        ),
        (
            "classes not a list",
            json!({"loadBalancerClasses": "berth.dev/aws-nlb"}),
            "spec.loadBalancerClasses",
        ),
        (
            "a tag value not a string",
            json!({"loadBalancerClasses": [""], "defaults": {"tags": {"team": 7}}}),
            "spec.defaults.tags",
        ),
        (
            "a tag value with a comma",
            json!({"loadBalancerClasses": [""], "defaults": {"tags": {"team": "a,b"}}}),
            "spec.defaults.tags",
        ),
        (
            "security groups (not supported yet)",
            json!({"loadBalancerClasses": [""], "defaults": {"securityGroups": ["sg-1"]}}),
            "spec.defaults.securityGroups",
        ),
        (
            "selects nothing",
            json!({"defaults": {"scheme": "internal"}}),
            "spec",
        ),
        (
            "empty namespaces",
            json!({"loadBalancerClasses": [""], "namespaces": []}),
            "spec.namespaces",
        ),
        (
            "a namespace that is not a DNS label",
            json!({"loadBalancerClasses": [""], "namespaces": ["Team_A"]}),
            "spec.namespaces",
        ),
        (
            "not a certificate ARN",
            json!({"loadBalancerClasses": [""], "defaults": {"certificateArn": "my-cert"}}),
            "spec.defaults.certificateArn",
        ),
        (
            "not an ELB security policy",
            json!({"loadBalancerClasses": [""], "defaults": {"sslPolicy": "TLS13"}}),
            "spec.defaults.sslPolicy",
        ),
        (
            "a subnet list with commas",
            json!({"loadBalancerClasses": [""], "defaults": {"subnets": ["subnet-1,subnet-2"]}}),
            "spec.defaults.subnets",
        ),
        (
            "internetFacingNamespaces not a list",
            json!({"loadBalancerClasses": [""], "restrictions": {"internetFacingNamespaces": "edge"}}),
            "spec.restrictions.internetFacingNamespaces",
        ),
        (
            "a locked annotation that is no annotation name",
            json!({"loadBalancerClasses": [""], "restrictions": {"lockedAnnotations": ["not an annotation"]}}),
            "spec.restrictions.lockedAnnotations",
        ),
        (
            "a class that is no qualified name",
            json!({"loadBalancerClasses": ["a b"]}),
            "spec.loadBalancerClasses",
        ),
    ];
    for (what, spec, field) in bad {
        match api.create(&dry_run(), &lbp("bad", spec.clone())).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{what}: {s:?}");
                assert!(
                    s.message.contains(field),
                    "{what}: {:?} names {field}",
                    s.message
                );
            }
            Ok(o) => panic!("{what}: accepted: {o:?}"),
            Err(e) => panic!("{what}: {e}"),
        }
    }

    // Unknown fields are pruned, not rejected, by a 1.20 API server.
    let o = api
        .create(
            &dry_run(),
            &lbp(
                "pruned",
                json!({"loadBalancerClasses": [""], "bogus": 1, "defaults": {"colour": "red"}}),
            ),
        )
        .await
        .expect("unknown fields are pruned");
    assert_eq!(
        o.data["spec"],
        json!({"loadBalancerClasses": [""], "defaults": {}})
    );
}

impl TestEnv {
    /// This test's NLBs of Service `name`, with their tags.
    async fn lb_tags(&self, name: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for lb in self.our_lbs(name).await {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            let tags = self.tags_of(&arn).await;
            out.insert(arn, tags);
        }
        out
    }

    async fn governed(&self, policy: &str) -> Option<i64> {
        policy_api(&self.client).get(policy).await.ok()?.data["status"]["governedObjects"].as_i64()
    }
}

/// A policy scoped to the test's namespace: internet-facing only elsewhere → an internet-facing
/// Service gets `PolicyViolation` (Event + condition) and nothing in the cloud; an internal one
/// gets its NLB with the policy's default tag; a policy change re-reconciles (resync is 5 min
/// here); `status.governedObjects` follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_is_enforced_end_to_end() {
    let env = TestEnv::new("policy").await;
    install_crd(&env.client).await;
    env.node("n1").await;
    let name = env.ns.clone();
    let api = policy_api(&env.client);
    api.create(
        &PostParams::default(),
        &lbp(
            &name,
            json!({
                "loadBalancerClasses": [""],
                "namespaces": [env.ns],
                "defaults": {"tags": {"team": "x"}},
                "restrictions": {"internetFacingNamespaces": ["somewhere-else"]}
            }),
        ),
    )
    .await
    .expect("create the policy");

    let berth = Berth::spawn_with(&env, "berth-policy", "300s");
    berth.wait_phase("leader", Duration::from_secs(30)).await;

    // 1. Internet-facing in this namespace: refused, nothing in the cloud.
    env.create_service("open", json!({SCHEME_ANNOTATION: "internet-facing"}))
        .await;
    let event = env.warning_event("open").await;
    assert_eq!(event.reason.as_deref(), Some("PolicyViolation"));
    let note = event.note.unwrap_or_default();
    let want = format!(
        "LoadBalancerPolicy {name:?}: namespace {:?} may not create internet-facing load balancers (allowed: somewhere-else)",
        env.ns
    );
    assert!(note.starts_with(&want), "{note}");
    assert!(
        note.contains("set service.beta.kubernetes.io/aws-load-balancer-scheme: internal"),
        "{note}"
    );
    env.wait_condition("open", "False", "PolicyViolation").await;
    assert!(
        env.lb_tags("open").await.is_empty(),
        "no NLB for the refused Service"
    );
    let calls = berth.metrics().await.calls();
    assert_eq!(mutating(&calls), 0, "no mutating cloud call: {calls:?}");
    assert!(
        calls.values().sum::<u64>() == 0,
        "no cloud call at all: {calls:?}"
    );

    // 2. Internal (the default): provisioned, with the policy's default tag.
    env.create_service("web", json!({})).await;
    env.wait_hostname("web", Duration::from_secs(60)).await;
    let lbs = env.lb_tags("web").await;
    assert_eq!(lbs.len(), 1, "{lbs:?}");
    let tags = lbs.values().next().unwrap();
    assert_eq!(tags.get("team").map(String::as_str), Some("x"), "{tags:?}");
    env.wait_condition("web", "True", "Ensured").await;

    // 3. governedObjects: both Services are governed; after "open" is deleted, one.
    eventually("governedObjects = 2", Duration::from_secs(20), || async {
        (env.governed(&name).await == Some(2)).then_some(())
    })
    .await;
    env.services()
        .delete("open", &DeleteParams::default())
        .await
        .expect("delete open");
    eventually("governedObjects = 1", Duration::from_secs(30), || async {
        (env.governed(&name).await == Some(1)).then_some(())
    })
    .await;

    // 4. A policy change re-reconciles at once (the resync is 5 minutes): the tag follows.
    let patch = json!({"spec": {"defaults": {"tags": {"team": "y"}}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch the policy");
    eventually(
        "the NLB's tag follows the policy",
        Duration::from_secs(30),
        || async {
            let lbs = env.lb_tags("web").await;
            (lbs.values().next()?.get("team").map(String::as_str) == Some("y")).then_some(())
        },
    )
    .await;

    // 5. Locked annotation: a tenant setting it is refused; the existing NLB stays as it is.
    let patch = json!({"spec": {"restrictions": {"lockedAnnotations": ["service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval"]}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch the policy");
    let patch = json!({"metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": "30"}}});
    env.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch web");
    env.wait_condition("web", "False", "PolicyViolation").await;
    assert_eq!(
        env.lb_tags("web").await.len(),
        1,
        "the NLB is left in place"
    );

    // Clean up the cluster-scoped policy (the namespace is left, as in e2e_service.rs).
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete the policy");
}

impl TestEnv {
    /// The ALBs of this test's Ingress group, with scheme and tags.
    async fn group_albs(&self) -> Vec<(String, BTreeMap<String, String>)> {
        let mut out = Vec::new();
        for lb in self.group_lbs().await {
            let tags = self
                .tags_of(lb.load_balancer_arn().unwrap_or_default())
                .await;
            let scheme = lb
                .scheme()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            out.push((scheme, tags));
        }
        out
    }
}

/// A policy for this test's own IngressClass, scoped to its namespace, forbidding
/// internet-facing there: in one Ingress group, the internet-facing member gets a Warning
/// `PolicyViolation` Event, a False condition and no hostname, and no ALB is made for it; the
/// internal member gets the group's ALB with the policy's default tag; both count in
/// `status.governedObjects`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_governs_the_members_of_an_ingress_group() {
    let env = TestEnv::new("ingpol").await;
    install_crd(&env.client).await;
    env.node("n1").await;
    let name = env.ns.clone();
    let class = env.ingress_backend().await;
    let api = policy_api(&env.client);
    api.create(
        &PostParams::default(),
        &lbp(
            &name,
            json!({
                "ingressClasses": [class],
                "namespaces": [env.ns],
                "defaults": {"tags": {"team": "x"}},
                "restrictions": {"internetFacingNamespaces": ["somewhere-else"]}
            }),
        ),
    )
    .await
    .expect("create the policy");

    let berth = Berth::spawn(&env, "berth-ingpol");
    berth.wait_phase("leader", Duration::from_secs(30)).await;

    env.create_ingress(
        "open",
        &class,
        json!({"alb.ingress.kubernetes.io/scheme": "internet-facing"}),
    )
    .await;
    env.create_ingress("internal", &class, json!({})).await;

    // The internal member is served, by an internal ALB with the policy's tag.
    let host = eventually(
        "the internal Ingress gets a hostname",
        Duration::from_secs(60),
        || env.ingress_hostname("internal"),
    )
    .await;
    let albs = env.group_albs().await;
    assert_eq!(albs.len(), 1, "one ALB for the group: {albs:?}");
    assert_eq!(albs[0].0, "internal", "{albs:?}");
    assert_eq!(
        albs[0].1.get("team").map(String::as_str),
        Some("x"),
        "{albs:?}"
    );
    eventually(
        "the internal Ingress's condition is True",
        Duration::from_secs(20),
        || async {
            env.ingress_condition("internal")
                .await
                .filter(|(s, _)| s == "True")
        },
    )
    .await;

    // The internet-facing member: refused by the policy, told so, not served.
    let event = env.warning_event("open").await;
    assert_eq!(event.reason.as_deref(), Some("PolicyViolation"));
    let note = event.note.unwrap_or_default();
    let want = format!(
        "LoadBalancerPolicy {name:?}: namespace {:?} may not create internet-facing load balancers (allowed: somewhere-else)",
        env.ns
    );
    assert!(note.contains(&want), "{note}");
    assert!(
        note.contains("set alb.ingress.kubernetes.io/scheme: internal"),
        "{note}"
    );
    eventually(
        "the internet-facing Ingress's condition is False/PolicyViolation",
        Duration::from_secs(20),
        || async {
            env.ingress_condition("open")
                .await
                .filter(|c| c == &("False".to_string(), "PolicyViolation".to_string()))
        },
    )
    .await;
    assert_eq!(env.ingress_hostname("open").await, None);
    let albs = env.group_albs().await;
    assert!(
        albs.len() == 1 && albs[0].0 == "internal",
        "no internet-facing ALB: {albs:?}"
    );
    eprintln!("group served at {host}; the internet-facing member refused: {note}");

    // Both Ingresses are governed.
    eventually("governedObjects = 2", Duration::from_secs(20), || async {
        (env.governed(&name).await == Some(2)).then_some(())
    })
    .await;

    // Clean up: the Ingresses (their ALB goes), the policy and the IngressClass.
    for ing in ["open", "internal"] {
        let _ = env.ingresses().delete(ing, &DeleteParams::default()).await;
    }
    eventually(
        "the group's ALB is gone",
        Duration::from_secs(60),
        || async { env.group_albs().await.is_empty().then_some(()) },
    )
    .await;
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete the policy");
    let _ = Api::<IngressClass>::all(env.client.clone())
        .delete(&class, &DeleteParams::default())
        .await;
}
