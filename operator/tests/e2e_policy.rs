//! LoadBalancerPolicy against a real kube-apiserver (1.20) and moto (see localstack/README.md):
//! the CRD's OpenAPI schema (examples accepted, malformed policies rejected with 422), and the
//! `berth run` binary enforcing a policy end to end.
//!
//! Policies are cluster-scoped and every test shares one API server, so each policy here lists
//! its test's namespace in `spec.namespaces` (and schema checks use dry-run creates): no test
//! sees another's policy. The helpers are copies of e2e_service.rs's (that file is unchanged).
//!
//! Run: `bash localstack/test.sh -p berth --test e2e_policy -- --nocapture`

use aws_sdk_ec2 as ec2;
use aws_sdk_elasticloadbalancingv2 as elb;
use berth::policy::LoadBalancerPolicy;
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use serde_json::json;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONDITION: &str = "berth.dev/LoadBalancerReady";
const TYPE_ANNOTATION: &str = "service.beta.kubernetes.io/aws-load-balancer-type";
const SCHEME_ANNOTATION: &str = "service.beta.kubernetes.io/aws-load-balancer-scheme";
const AMI: &str = "ami-12c6146b";

fn require(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run through bash localstack/test.sh"))
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "e2e-{tag}-{:06x}",
        (nanos as u64 ^ u64::from(std::process::id())) & 0xff_ffff
    )
}

async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn admin_client() -> (String, kube::Client) {
    berth::install_crypto_provider();
    let kubeconfig = require("BERTH_TEST_KUBECONFIG");
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig");
    (kubeconfig, kube::Client::try_from(config).expect("client"))
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

struct TestEnv {
    kubeconfig: String,
    client: kube::Client,
    ec2: ec2::Client,
    elb: elb::Client,
    ns: String,
    cluster: String,
    dir: tempfile::TempDir,
    subnets: Vec<(String, String)>,
}

impl TestEnv {
    async fn new(tag: &str) -> TestEnv {
        let (kubeconfig, client) = admin_client().await;
        require("AWS_ENDPOINT_URL");
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let id = unique(tag);
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": id}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        let mut env = TestEnv {
            kubeconfig,
            client,
            ec2: ec2::Client::new(&aws),
            elb: elb::Client::new(&aws),
            ns: id.clone(),
            cluster: id,
            dir: tempfile::tempdir().expect("tempdir"),
            subnets: Vec::new(),
        };
        env.network().await;
        env
    }

    /// A VPC with two subnets tagged for internal NLBs of this test's cluster.
    async fn network(&mut self) {
        let vpc = self
            .ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .expect("CreateVpc")
            .vpc
            .and_then(|v| v.vpc_id)
            .expect("vpc id");
        for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
            let subnet = self
                .ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(format!("10.0.{i}.0/24"))
                .availability_zone(*az)
                .send()
                .await
                .expect("CreateSubnet")
                .subnet
                .and_then(|s| s.subnet_id)
                .expect("subnet id");
            self.ec2
                .create_tags()
                .resources(&subnet)
                .tags(
                    ec2::types::Tag::builder()
                        .key("kubernetes.io/role/internal-elb")
                        .value("1")
                        .build(),
                )
                .tags(
                    ec2::types::Tag::builder()
                        .key(format!("kubernetes.io/cluster/{}", self.cluster))
                        .value("owned")
                        .build(),
                )
                .send()
                .await
                .expect("CreateTags");
            self.subnets.push((subnet, az.to_string()));
        }
    }

    /// Launches an EC2 instance and registers a Node for it.
    async fn node(&self, name: &str) {
        let (subnet, az) = &self.subnets[0];
        let out = self
            .ec2
            .run_instances()
            .image_id(AMI)
            .instance_type(ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .subnet_id(subnet)
            .send()
            .await
            .expect("RunInstances");
        let id = out.instances()[0].instance_id().expect("instance id");
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": format!("{}-{name}", self.ns), "labels": {"berth-e2e": self.ns}},
            "spec": {"providerID": format!("aws:///{az}/{id}")}
        }))
        .unwrap();
        Api::<Node>::all(self.client.clone())
            .create(&PostParams::default(), &node)
            .await
            .expect("create Node");
    }

    fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create_service(&self, name: &str, annotations: serde_json::Value) {
        let mut ann = json!({TYPE_ANNOTATION: "external"});
        if let (Some(a), Some(extra)) = (ann.as_object_mut(), annotations.as_object()) {
            a.extend(extra.clone());
        }
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": ann},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
        }))
        .unwrap();
        self.services()
            .create(&PostParams::default(), &svc)
            .await
            .expect("create Service");
    }

    async fn wait_hostname(&self, name: &str, timeout: Duration) -> String {
        let api = self.services();
        eventually(&format!("Service {name} gets a hostname"), timeout, || {
            let api = api.clone();
            async move {
                let svc = api.get(name).await.ok()?;
                svc.status?
                    .load_balancer?
                    .ingress?
                    .first()?
                    .hostname
                    .clone()
            }
        })
        .await
    }

    /// This test cluster's load balancers of the Service `name`: ARN -> tags.
    async fn our_lbs(&self, name: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        let all = self
            .elb
            .describe_load_balancers()
            .send()
            .await
            .expect("DescribeLoadBalancers");
        let arns: Vec<String> = all
            .load_balancers()
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let stack = format!("{}/{name}", self.ns);
        let mut out = BTreeMap::new();
        for chunk in arns.chunks(20) {
            let tags = self
                .elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .expect("DescribeTags");
            for d in tags.tag_descriptions() {
                let t: BTreeMap<String, String> = d
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect();
                if t.get("elbv2.k8s.aws/cluster") == Some(&self.cluster)
                    && t.get("service.k8s.aws/stack") == Some(&stack)
                {
                    out.insert(d.resource_arn().unwrap_or_default().to_string(), t);
                }
            }
        }
        out
    }

    async fn events(&self) -> Vec<Event> {
        Api::<Event>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default())
            .await
            .expect("list Events")
            .items
    }

    async fn warning_event(&self, name: &str) -> Event {
        eventually(
            &format!("a Warning Event for {name}"),
            Duration::from_secs(30),
            || async {
                self.events().await.into_iter().find(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                })
            },
        )
        .await
    }

    async fn wait_condition(&self, name: &str, status: &str, reason: &str) {
        let want = Some((status.to_string(), reason.to_string()));
        eventually(
            &format!("condition {status}/{reason} on {name}"),
            Duration::from_secs(15),
            || async {
                let s = self.services().get(name).await.ok()?;
                (condition(&s) == want).then_some(())
            },
        )
        .await
    }

    async fn governed(&self, policy: &str) -> Option<i64> {
        policy_api(&self.client).get(policy).await.ok()?.data["status"]["governedObjects"].as_i64()
    }
}

fn condition(svc: &Service) -> Option<(String, String)> {
    svc.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == CONDITION)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A `berth run` child process. Killed on drop; its log is printed when a test fails.
struct Berth {
    child: Child,
    port: u16,
    log: PathBuf,
    identity: String,
}

impl Berth {
    /// `resync` is long here: what happens must be triggered by the change itself.
    fn spawn(env: &TestEnv, identity: &str, resync: &str) -> Berth {
        let port = free_port();
        let log = env.dir.path().join(format!("{identity}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args([
                "run",
                "--cluster-name",
                &env.cluster,
                "--identity",
                identity,
            ])
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--resync",
                resync,
            ])
            .args([
                "--leader-election-namespace",
                &env.ns,
                "--lease-duration",
                "3s",
                "--lease-renew-interval",
                "1s",
            ])
            .args([
                "--watch-namespace",
                &env.ns,
                "--node-selector",
                &format!("berth-e2e={}", env.ns),
            ])
            .env("KUBECONFIG", &env.kubeconfig)
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
            identity: identity.into(),
        }
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.ok()?;
        let code = buf.split_whitespace().nth(1)?.parse().ok()?;
        let body = buf
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Some((code, body))
    }

    async fn wait_leader(&self) {
        eventually(
            &format!("{} /readyz says leader", self.identity),
            Duration::from_secs(30),
            || async {
                matches!(self.get("/readyz").await, Some((200, b)) if b.trim() == "leader")
                    .then_some(())
            },
        )
        .await
    }

    /// Cloud API calls per operation, from /metrics.
    async fn calls(&self) -> BTreeMap<String, u64> {
        let (code, body) = self.get("/metrics").await.expect("GET /metrics");
        assert_eq!(code, 200);
        let mut out = BTreeMap::new();
        for l in body
            .lines()
            .filter(|l| l.starts_with("berth_cloud_api_calls_total{"))
        {
            let Some((k, v)) = l.rsplit_once(' ') else {
                continue;
            };
            let Some(op) = k
                .split("operation=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
            else {
                continue;
            };
            *out.entry(op.to_string()).or_insert(0) += v.parse::<f64>().unwrap_or(0.0) as u64;
        }
        out
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "---- last lines of {} ({}) ----",
                self.identity,
                self.log.display()
            );
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

fn mutating(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(op, _)| providers::metrics::is_mutating(op))
        .map(|(_, n)| n)
        .sum()
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

    let berth = Berth::spawn(&env, "berth-policy", "300s");
    berth.wait_leader().await;

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
        env.our_lbs("open").await.is_empty(),
        "no NLB for the refused Service"
    );
    let calls = berth.calls().await;
    assert_eq!(mutating(&calls), 0, "no mutating cloud call: {calls:?}");
    assert!(
        calls.values().sum::<u64>() == 0,
        "no cloud call at all: {calls:?}"
    );

    // 2. Internal (the default): provisioned, with the policy's default tag.
    env.create_service("web", json!({})).await;
    env.wait_hostname("web", Duration::from_secs(60)).await;
    let lbs = env.our_lbs("web").await;
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
            let lbs = env.our_lbs("web").await;
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
        env.our_lbs("web").await.len(),
        1,
        "the NLB is left in place"
    );

    // Clean up the cluster-scoped policy (the namespace is left, as in e2e_service.rs).
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete the policy");
}
