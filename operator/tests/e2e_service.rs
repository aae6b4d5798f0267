//! End to end: the built `berth run` binary against a real kube-apiserver and the moto AWS
//! emulator (see localstack/README.md). Each test uses its own namespace, cluster name (so it
//! sees only its own AWS resources), VPC, EC2 instances and Nodes (labelled for the test and
//! selected with `--node-selector`), and watches only its namespace (`--watch-namespace`).
//!
//! Run: `bash localstack/test.sh -p berth --test e2e_service -- --nocapture`

use aws_sdk_ec2 as ec2;
use aws_sdk_elasticloadbalancingv2 as elb;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FINALIZER: &str = "service.k8s.aws/resources";
const CONDITION: &str = "berth.dev/LoadBalancerReady";
const TYPE_ANNOTATION: &str = "service.beta.kubernetes.io/aws-load-balancer-type";
const AMI: &str = "ami-12c6146b";
/// Lease settings of the spawned processes (short, so that takeover is quick).
const LEASE: Duration = Duration::from_secs(3);

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
        berth::install_crypto_provider();
        let kubeconfig = require("BERTH_TEST_KUBECONFIG");
        require("AWS_ENDPOINT_URL");
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("read kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("kubeconfig");
        let client = kube::Client::try_from(config).expect("client");
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

    /// Launches an EC2 instance and registers a Node for it; returns the instance ID.
    async fn node(&self, name: &str) -> String {
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
        let id = out.instances()[0]
            .instance_id()
            .expect("instance id")
            .to_string();
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": self.node_name(name), "labels": {"berth-e2e": self.ns}},
            "spec": {"providerID": format!("aws:///{az}/{id}")}
        }))
        .unwrap();
        Api::<Node>::all(self.client.clone())
            .create(&PostParams::default(), &node)
            .await
            .expect("create Node");
        id
    }

    fn node_name(&self, name: &str) -> String {
        format!("{}-{name}", self.ns)
    }

    async fn delete_node(&self, name: &str) {
        Api::<Node>::all(self.client.clone())
            .delete(&self.node_name(name), &DeleteParams::default())
            .await
            .expect("delete Node");
    }

    fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create_service(&self, name: &str, annotations: serde_json::Value) -> Service {
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
            .expect("create Service")
    }

    /// Waits for `status.loadBalancer.ingress[0].hostname`; returns the Service.
    async fn wait_hostname(&self, name: &str, timeout: Duration) -> (Service, String) {
        let api = self.services();
        eventually(&format!("Service {name} gets a hostname"), timeout, || {
            let api = api.clone();
            async move {
                let svc = api.get(name).await.ok()?;
                let h = svc
                    .status
                    .as_ref()?
                    .load_balancer
                    .as_ref()?
                    .ingress
                    .as_ref()?
                    .first()?
                    .hostname
                    .clone()?;
                Some((svc, h))
            }
        })
        .await
    }

    fn stack(&self, name: &str) -> String {
        format!("{}/{name}", self.ns)
    }

    /// ARNs among `arns` whose tags say this test's cluster and `stack`.
    async fn owned(&self, arns: Vec<String>, stack: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for chunk in arns.chunks(20) {
            let tags = self
                .elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .expect("DescribeTags");
            for d in tags.tag_descriptions() {
                let t: BTreeMap<&str, &str> = d
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value()?)))
                    .collect();
                if t.get("elbv2.k8s.aws/cluster") == Some(&self.cluster.as_str())
                    && t.get("service.k8s.aws/stack") == Some(&stack)
                {
                    out.extend(d.resource_arn().map(str::to_string));
                }
            }
        }
        out
    }

    async fn our_lbs(&self, name: &str) -> Vec<elb::types::LoadBalancer> {
        let all = self
            .elb
            .describe_load_balancers()
            .send()
            .await
            .expect("DescribeLoadBalancers");
        let arns = all
            .load_balancers()
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let ours = self.owned(arns, &self.stack(name)).await;
        all.load_balancers()
            .iter()
            .filter(|l| l.load_balancer_arn().is_some_and(|a| ours.contains(a)))
            .cloned()
            .collect()
    }

    async fn our_tgs(&self, name: &str) -> Vec<elb::types::TargetGroup> {
        let all = self
            .elb
            .describe_target_groups()
            .send()
            .await
            .expect("DescribeTargetGroups");
        let arns = all
            .target_groups()
            .iter()
            .filter_map(|t| t.target_group_arn().map(str::to_string))
            .collect();
        let ours = self.owned(arns, &self.stack(name)).await;
        all.target_groups()
            .iter()
            .filter(|t| t.target_group_arn().is_some_and(|a| ours.contains(a)))
            .cloned()
            .collect()
    }

    async fn targets(&self, tg_arn: &str) -> BTreeSet<(String, i32)> {
        self.elb
            .describe_target_health()
            .target_group_arn(tg_arn)
            .send()
            .await
            .expect("DescribeTargetHealth")
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target())
            .map(|t| {
                (
                    t.id().unwrap_or_default().to_string(),
                    t.port().unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn events(&self) -> Vec<Event> {
        Api::<Event>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default())
            .await
            .expect("list Events")
            .items
    }

    /// Waits for a Warning Event about the Service `name`.
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

    /// Waits until the Service's berth condition has this status and reason.
    async fn wait_condition(&self, name: &str, status: &str, reason: &str) -> Service {
        let want = Some((status.to_string(), reason.to_string()));
        eventually(
            &format!("condition {status}/{reason} on {name}"),
            Duration::from_secs(10),
            || async {
                let s = self.services().get(name).await.ok()?;
                (condition(&s) == want).then_some(s)
            },
        )
        .await
    }

    async fn lease_holder(&self) -> Option<String> {
        Api::<Lease>::namespaced(self.client.clone(), &self.ns)
            .get("berth-leader")
            .await
            .ok()?
            .spec?
            .holder_identity
            .filter(|h| !h.is_empty())
    }
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
    fn spawn(env: &TestEnv, identity: &str) -> Berth {
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
                "3s",
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

    /// Waits until /readyz answers 200 with `phase` (`leader` or `standby`).
    async fn wait_phase(&self, phase: &str, timeout: Duration) {
        eventually(
            &format!("{} /readyz says {phase}", self.identity),
            timeout,
            || async {
                matches!(self.get("/readyz").await, Some((200, b)) if b.trim() == phase)
                    .then_some(())
            },
        )
        .await
    }

    async fn metrics(&self) -> Metrics {
        let (code, body) = self.get("/metrics").await.expect("GET /metrics");
        assert_eq!(code, 200);
        Metrics(
            body.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .filter_map(|l| {
                    let (k, v) = l.rsplit_once(' ')?;
                    Some((k.to_string(), v.parse().ok()?))
                })
                .collect(),
        )
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {}", self.child.id());
    }

    async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "{} did not exit within {timeout:?}",
                self.identity
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

/// Parsed `/metrics`: `name{labels}` -> value.
#[derive(Clone, Debug, Default)]
struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    fn value(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// Cloud API calls per operation (both outcomes).
    fn calls(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.0 {
            if let Some(rest) = k.strip_prefix("berth_cloud_api_calls_total{") {
                if let Some(op) = rest
                    .split("operation=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                {
                    *out.entry(op.to_string()).or_insert(0) += *v as u64;
                }
            }
        }
        out
    }

    fn successes(&self) -> u64 {
        self.value(r#"berth_reconciles_total{result="success"}"#) as u64
    }
}

/// Calls made between two snapshots, per operation.
fn delta(before: &Metrics, after: &Metrics) -> BTreeMap<String, u64> {
    let b = before.calls();
    after
        .calls()
        .into_iter()
        .filter_map(|(op, n)| {
            let d = n - b.get(&op).copied().unwrap_or(0);
            (d > 0).then_some((op, d))
        })
        .collect()
}

fn mutating(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(op, _)| providers::metrics::is_mutating(op))
        .map(|(_, n)| n)
        .sum()
}

fn summary(calls: &BTreeMap<String, u64>) -> String {
    let total: u64 = calls.values().sum();
    let list: Vec<String> = calls.iter().map(|(op, n)| format!("{op}={n}")).collect();
    format!(
        "{total} calls ({} mutating): {}",
        mutating(calls),
        list.join(" ")
    )
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

/// a) create, b) annotation change, c) node added/removed, d) delete; with timings and
/// API-call counts for create, a no-op resync and delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_lifecycle_creates_updates_retargets_and_deletes_the_nlb() {
    let env = TestEnv::new("life").await;
    let i1 = env.node("n1").await;
    let i2 = env.node("n2").await;
    let berth = Berth::spawn(&env, "berth-life");
    let t = Instant::now();
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    println!(
        "[timing] berth ready (leader, caches synced) in {:?}",
        t.elapsed()
    );

    // a) create
    let m0 = berth.metrics().await;
    let t = Instant::now();
    env.create_service("web", json!({})).await;
    let (svc, hostname) = env.wait_hostname("web", Duration::from_secs(60)).await;
    let create_time = t.elapsed();
    let lbs = env.our_lbs("web").await;
    assert_eq!(lbs.len(), 1, "exactly one NLB for the Service: {lbs:?}");
    let lb = &lbs[0];
    let lb_arn = lb.load_balancer_arn().unwrap().to_string();
    assert_eq!(
        lb.r#type(),
        Some(&elb::types::LoadBalancerTypeEnum::Network)
    );
    assert_eq!(hostname, lb.dns_name().unwrap().to_ascii_lowercase());
    assert!(
        svc.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == FINALIZER)),
        "finalizer"
    );
    let svc = eventually("condition True", Duration::from_secs(10), || async {
        let s = env.services().get("web").await.ok()?;
        (condition(&s) == Some(("True".into(), "Ensured".into()))).then_some(s)
    })
    .await;
    let node_port = svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0]
        .node_port
        .expect("nodePort");

    let listeners = env
        .elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .expect("DescribeListeners");
    assert_eq!(listeners.listeners().len(), 1, "{listeners:?}");
    let listener = &listeners.listeners()[0];
    assert_eq!(listener.port(), Some(80));
    assert_eq!(listener.protocol(), Some(&elb::types::ProtocolEnum::Tcp));
    let tgs = env.our_tgs("web").await;
    assert_eq!(tgs.len(), 1, "{tgs:?}");
    let tg_arn = tgs[0].target_group_arn().unwrap().to_string();
    assert_eq!(
        tgs[0].target_type(),
        Some(&elb::types::TargetTypeEnum::Instance)
    );
    assert_eq!(tgs[0].port(), Some(node_port));
    let forward = listener.default_actions()[0].target_group_arn();
    assert_eq!(
        forward,
        Some(tg_arn.as_str()),
        "the listener forwards to our target group"
    );
    assert_eq!(
        env.targets(&tg_arn).await,
        BTreeSet::from([(i1.clone(), node_port), (i2.clone(), node_port)])
    );
    let reasons: Vec<String> = env
        .events()
        .await
        .iter()
        .filter_map(|e| e.reason.clone())
        .collect();
    assert!(
        reasons.iter().any(|r| r == "Ensuring") && reasons.iter().any(|r| r == "Ensured"),
        "{reasons:?}"
    );
    let m1 = berth.metrics().await;
    let create_calls = delta(&m0, &m1);
    assert_eq!(m1.value("berth_managed_load_balancers"), 1.0);

    // No-op resync: one reconcile of the converged Service mutates nothing.
    let settled = eventually(
        "a resync after convergence",
        Duration::from_secs(15),
        || async {
            let m = berth.metrics().await;
            (m.successes() > m1.successes()).then_some(m)
        },
    )
    .await;
    let t = Instant::now();
    let resynced = eventually("one more resync", Duration::from_secs(15), || async {
        let m = berth.metrics().await;
        (m.successes() > settled.successes()).then_some(m)
    })
    .await;
    let resync_wait = t.elapsed();
    let n = resynced.successes() - settled.successes();
    let resync_calls = delta(&settled, &resynced);
    assert_eq!(
        mutating(&resync_calls),
        0,
        "a no-op resync mutates nothing: {resync_calls:?}"
    );

    // b) an annotation change reaches the target group
    let patch = json!({"metadata": {"annotations": {
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": "20",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/healthz",
    }}});
    let t = Instant::now();
    env.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    eventually(
        "health check updated in moto",
        Duration::from_secs(30),
        || async {
            let tg = env.our_tgs("web").await.into_iter().next()?;
            (tg.health_check_interval_seconds() == Some(20)
                && tg.health_check_protocol() == Some(&elb::types::ProtocolEnum::Http)
                && tg.health_check_path() == Some("/healthz"))
            .then_some(())
        },
    )
    .await;
    let update_time = t.elapsed();
    assert_eq!(
        env.our_tgs("web").await[0].target_group_arn(),
        Some(tg_arn.as_str()),
        "updated in place"
    );

    // c) a new Node becomes a target; a deleted one stops being one
    let t = Instant::now();
    let i3 = env.node("n3").await;
    let want = BTreeSet::from([
        (i1.clone(), node_port),
        (i2.clone(), node_port),
        (i3.clone(), node_port),
    ]);
    eventually("n3 registered", Duration::from_secs(30), || async {
        (env.targets(&tg_arn).await == want).then_some(())
    })
    .await;
    env.delete_node("n1").await;
    let want = BTreeSet::from([(i2.clone(), node_port), (i3.clone(), node_port)]);
    eventually("n1 deregistered", Duration::from_secs(30), || async {
        (env.targets(&tg_arn).await == want).then_some(())
    })
    .await;
    let retarget_time = t.elapsed();

    // d) delete: the NLB, listeners and target groups go before the Service does
    let m2 = berth.metrics().await;
    let t = Instant::now();
    env.services()
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete Service");
    eventually(
        "the Service is gone from the API",
        Duration::from_secs(60),
        || async {
            env.services()
                .get_opt("web")
                .await
                .expect("get")
                .is_none()
                .then_some(())
        },
    )
    .await;
    let delete_time = t.elapsed();
    assert!(
        env.our_lbs("web").await.is_empty(),
        "the NLB was deleted before the finalizer was removed"
    );
    assert!(
        env.our_tgs("web").await.is_empty(),
        "the target group was deleted before the finalizer was removed"
    );
    let gone = env
        .elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await;
    assert!(
        gone.map(|l| l.listeners().is_empty()).unwrap_or(true),
        "listeners are gone"
    );
    let m3 = berth.metrics().await;
    let delete_calls = delta(&m2, &m3);
    assert_eq!(m3.value("berth_managed_load_balancers"), 0.0);

    println!("[timing] create: Service -> hostname in status: {create_time:?}");
    println!("[calls]  create: {}", summary(&create_calls));
    println!("[timing] resync interval observed: {resync_wait:?} ({n} reconcile(s))");
    println!(
        "[calls]  no-op resync ({n} reconcile(s)): {}",
        summary(&resync_calls)
    );
    println!("[timing] annotation change -> target group updated: {update_time:?}");
    println!("[timing] node added + node deleted -> targets updated: {retarget_time:?}");
    println!(
        "[timing] delete: Service delete -> gone (cloud resources deleted first): {delete_time:?}"
    );
    println!("[calls]  delete: {}", summary(&delete_calls));
    let _ = i3;
}

/// e) an invalid annotation: a Warning Event naming it, a False condition, nothing in the cloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_annotation_is_reported_and_creates_nothing() {
    let env = TestEnv::new("bad").await;
    env.node("n1").await;
    let berth = Berth::spawn(&env, "berth-bad");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    let annotation = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval";
    env.create_service("bad", json!({annotation: "abc"})).await;
    let event = env.warning_event("bad").await;
    assert_eq!(event.reason.as_deref(), Some("InvalidAnnotation"));
    let note = event.note.unwrap_or_default();
    assert!(
        note.contains(annotation) && note.contains("abc"),
        "the Event names the annotation and value: {note}"
    );
    env.wait_condition("bad", "False", "InvalidAnnotation")
        .await;
    let svc = env.services().get("bad").await.unwrap();
    assert!(
        svc.status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .unwrap_or_default()
            .is_empty(),
        "no address"
    );
    assert!(env.our_lbs("bad").await.is_empty());
    assert!(env.our_tgs("bad").await.is_empty());
    let calls = berth.metrics().await.calls();
    assert_eq!(mutating(&calls), 0, "nothing created: {calls:?}");
}

/// f) two replicas: the second stays passive while the first holds the Lease; when the first
/// dies, the second takes over within the lease duration and reconciles; SIGTERM releases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_stays_passive_until_the_leader_dies() {
    let env = TestEnv::new("ha").await;
    env.node("n1").await;
    let mut a = Berth::spawn(&env, "berth-a");
    a.wait_phase("leader", Duration::from_secs(30)).await;
    let mut b = Berth::spawn(&env, "berth-b");
    b.wait_phase("standby", Duration::from_secs(30)).await;
    assert_eq!(env.lease_holder().await.as_deref(), Some("berth-a"));
    assert_eq!(a.metrics().await.value("berth_leader"), 1.0);
    assert_eq!(b.metrics().await.value("berth_leader"), 0.0);
    assert!(
        b.log_text().contains("standby"),
        "b logs that it is standby"
    );

    env.create_service("one", json!({})).await;
    env.wait_hostname("one", Duration::from_secs(60)).await;
    // b stayed passive through a's work (and a few of its renewals).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bm = b.metrics().await;
    assert!(
        bm.calls().is_empty() && bm.successes() == 0,
        "standby b did nothing: {:?}",
        bm.0
    );
    assert_eq!(env.lease_holder().await.as_deref(), Some("berth-a"));

    // a dies without releasing the Lease.
    a.signal("KILL");
    a.wait_exit(Duration::from_secs(5)).await;
    let t = Instant::now();
    b.wait_phase("leader", LEASE * 3 + Duration::from_secs(5))
        .await;
    let takeover = t.elapsed();
    assert!(
        takeover < LEASE * 3,
        "took over within ~lease duration (+ renew interval): {takeover:?}"
    );
    assert_eq!(env.lease_holder().await.as_deref(), Some("berth-b"));
    assert_eq!(b.metrics().await.value("berth_leader"), 1.0);

    env.create_service("two", json!({})).await;
    env.wait_hostname("two", Duration::from_secs(60)).await;
    assert!(!env.our_lbs("two").await.is_empty());
    assert!(
        b.metrics().await.calls().values().sum::<u64>() > 0,
        "b made the cloud calls"
    );

    // SIGTERM: graceful, exit 0, Lease released.
    b.signal("TERM");
    let status = b.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "graceful exit: {status:?}");
    assert_eq!(env.lease_holder().await, None, "the Lease was released");
    println!(
        "[timing] takeover after the leader was killed: {takeover:?} (lease duration {LEASE:?})"
    );
}

/// `berth plan --observe` prints exactly what `berth run` would do, and does nothing: after run
/// has converged a Service, planning the same objects shows no change; planning an edited copy
/// shows the one update, and the cloud is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_observe_shows_the_diff_against_what_run_created() {
    let env = TestEnv::new("observe").await;
    env.node("n1").await;
    let berth = Berth::spawn(&env, "berth-observe");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    env.create_service("web", json!({})).await;
    env.wait_hostname("web", Duration::from_secs(60)).await;
    drop(berth); // Stop acting: plan alone must change nothing from here on.

    let svc = env.services().get("web").await.unwrap();
    let nodes = Api::<Node>::all(env.client.clone())
        .list(&ListParams::default().labels(&format!("berth-e2e={}", env.ns)))
        .await
        .unwrap();
    let write = |svc: &Service, file: &str| {
        let mut docs = vec![serde_yaml_ng::to_string(svc).unwrap()];
        for n in &nodes.items {
            docs.push(serde_yaml_ng::to_string(n).unwrap());
        }
        let path = env.dir.path().join(file);
        std::fs::write(&path, docs.join("---\n")).unwrap();
        path
    };
    let plan = |path: &PathBuf, format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args([
                "plan",
                "--observe",
                "--cluster-name",
                &env.cluster,
                "-o",
                format,
            ])
            .arg("-f")
            .arg(path)
            .output()
            .expect("run berth plan");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    let same = write(&svc, "same.yaml");
    let text = plan(&same, "text");
    assert!(text.contains("(no changes: the cloud matches)"), "{text}");

    let mut edited = svc.clone();
    edited
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(
            "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval".into(),
            "30".into(),
        );
    let path = write(&edited, "edited.yaml");
    let json: serde_json::Value = serde_json::from_str(&plan(&path, "json")).unwrap();
    let changes = json["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{json:#}");
    assert_eq!(changes[0]["action"], "update");
    assert_eq!(
        changes[0]["kind"],
        "AWS::ElasticLoadBalancingV2::TargetGroup"
    );
    assert_eq!(changes[0]["changed"], json!(["HealthCheckIntervalSeconds"]));
    let tgs = env.our_tgs("web").await;
    assert_eq!(
        tgs[0].health_check_interval_seconds(),
        Some(10),
        "plan changed nothing"
    );
}

/// This apiserver (1.20) serves no `discovery.k8s.io/v1`: a Service that asks for ip targets is
/// told so (Warning Event + False condition) and gets nothing in the cloud; berth keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_targets_without_endpointslices_are_reported_unavailable() {
    let env = TestEnv::new("noslices").await;
    let berth = Berth::spawn(&env, "berth-noslices");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    env.create_service(
        "pods",
        json!({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}),
    )
    .await;
    let event = env.warning_event("pods").await;
    assert_eq!(event.reason.as_deref(), Some("Unavailable"));
    let note = event.note.unwrap_or_default();
    assert!(note.contains("discovery.k8s.io/v1"), "{note}");
    env.wait_condition("pods", "False", "Unavailable").await;
    assert!(env.our_lbs("pods").await.is_empty());
    assert!(berth.log_text().matches("discovery.k8s.io/v1").count() >= 1);
}

/// A Service that stops qualifying (here: the type annotation that handed it to berth is removed)
/// loses its load balancer, its status address and berth's finalizer; the Service stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_stops_qualifying_is_cleaned_up_and_released() {
    let env = TestEnv::new("release").await;
    env.node("n1").await;
    let berth = Berth::spawn(&env, "berth-release");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    env.create_service("web", json!({})).await;
    env.wait_hostname("web", Duration::from_secs(60)).await;
    assert_eq!(env.our_lbs("web").await.len(), 1);

    let patch = json!({"metadata": {"annotations": {TYPE_ANNOTATION: null}}});
    env.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("remove the type annotation");
    let svc = eventually("finalizer removed", Duration::from_secs(30), || async {
        let s = env.services().get("web").await.ok()?;
        let ours = s
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == FINALIZER);
        (!ours).then_some(s)
    })
    .await;
    assert!(env.our_lbs("web").await.is_empty(), "the NLB is gone");
    assert!(env.our_tgs("web").await.is_empty(), "its target groups too");
    let ingress = svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .unwrap_or_default();
    assert!(
        ingress.is_empty(),
        "the address berth wrote is cleared: {ingress:?}"
    );
}

/// Drift: a change made behind berth's back (health check edited, a target deregistered) is
/// corrected by the periodic resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_in_the_cloud_is_corrected_by_the_resync() {
    let env = TestEnv::new("drift").await;
    let instance = env.node("n1").await;
    let berth = Berth::spawn(&env, "berth-drift");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    env.create_service("web", json!({})).await;
    env.wait_hostname("web", Duration::from_secs(60)).await;
    let tg = env.our_tgs("web").await.remove(0);
    let tg_arn = tg.target_group_arn().unwrap().to_string();
    let port = tg.port().unwrap();

    env.elb
        .modify_target_group()
        .target_group_arn(&tg_arn)
        .health_check_interval_seconds(30)
        .send()
        .await
        .expect("ModifyTargetGroup behind berth's back");
    env.elb
        .deregister_targets()
        .target_group_arn(&tg_arn)
        .targets(
            elb::types::TargetDescription::builder()
                .id(&instance)
                .port(port)
                .build(),
        )
        .send()
        .await
        .expect("DeregisterTargets behind berth's back");

    // --resync is 3s in these tests.
    eventually(
        "the resync restores the target and the interval",
        Duration::from_secs(20),
        || async {
            let tg = env.our_tgs("web").await.into_iter().next()?;
            let targets = env.targets(&tg_arn).await;
            (tg.health_check_interval_seconds() == Some(10)
                && targets == BTreeSet::from([(instance.clone(), port)]))
            .then_some(())
        },
    )
    .await;
}
