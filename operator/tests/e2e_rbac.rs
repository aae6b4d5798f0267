//! The Helm chart's RBAC, proved on the real kube-apiserver (RBAC enforced) with moto for AWS.
//!
//! The chart is rendered with the helm venv's python (`helm/tests/render.py`, through
//! `$BERTH_TEST_HELM_PYTHON` from the env file of localstack/up.sh). Its ClusterRole and Role are
//! applied with the admin kubeconfig and bound to an unprivileged user, and `berth run` runs as
//! that user through one scenario (below). Then:
//! - sufficient: the scenario passes as the token user `berth-tenant` (bound with kind User), and
//!   as the chart's own ServiceAccount with the chart's own bindings (impersonated);
//! - minimal: for every verb of every rule, the same scenario with that one verb removed fails
//!   (each variant runs as its own impersonated user, so variants and other tests' bindings
//!   cannot lend each other permissions).
//!
//! The scenario: berth becomes leader (Lease) and ready; a LoadBalancerPolicy created afterwards
//! (only for this namespace) is seen and its default tag lands on the NLB; a Service gets an NLB
//! in moto, its hostname in status and the finalizer, Events `Ensuring`/`Ensured`, and the
//! policy counts it in `status.governedObjects`; a Node added later becomes a target; a repeated
//! Warning on an invalid Service becomes an Event series (count >= 2); an IngressClass of berth's
//! controller and an Ingress of that class (both created now, so only seen through the watches)
//! in front of the Service get an ALB in moto, the Ingress berth's finalizer, its condition
//! annotation (True) and the hostname in status; the Ingress deleted, the ALB goes and then the
//! Ingress (finalizer removed); deleting the Services removes the NLB and the Services; SIGTERM
//! ends berth with exit 0 and the Lease released.
//! Each step has the same short timeout in every run ([`STEP`]).
//!
//! Cluster-scoped objects (ClusterRole, ClusterRoleBinding, Nodes, LoadBalancerPolicy,
//! IngressClass) get unique names per run. Run: `bash localstack/test.sh -p berth --test e2e_rbac -- --nocapture`

mod support;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{
    ec2, elb, free_port, http_get, kube_client, lb_service, network, node_security_group, require,
};

/// Timeout of each step of the scenario, in every run: the baseline passes within it, and a
/// variant that misses it has failed.
const STEP: Duration = Duration::from_secs(6);
/// Variants run at once (2 cores; they mostly wait).
const PARALLEL: usize = 4;
const FINALIZER: &str = "service.k8s.aws/resources";
/// berth's finalizer on an Ingress of an implicit (one-Ingress) group.
const INGRESS_FINALIZER: &str = "ingress.k8s.aws/resources";
/// berth's condition annotation on Ingresses.
const STATUS_ANN: &str = "berth.dev/status";
/// The tag that marks an ALB of an Ingress group.
const STACK_TAG: &str = "ingress.k8s.aws/stack";
const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
const AMI: &str = "ami-12c6146b";

/// A name unique to this run: `e2e-rbac-{tag}-…`.
fn unique(tag: &str) -> String {
    support::unique(&format!("rbac-{tag}"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

// ------------------------------------------------------------------ the chart's RBAC

/// The chart's RBAC objects as rendered for release `release` in namespace `ns`.
#[derive(Clone, Debug)]
struct Rbac {
    cluster_role: Value,
    cluster_role_binding: Value,
    role: Value,
    role_binding: Value,
}

fn yaml_docs(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(text)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn render_rbac(release: &str, ns: &str, cluster: &str) -> Rbac {
    let python = require("BERTH_TEST_HELM_PYTHON");
    let out = Command::new(&python)
        .arg(root().join("helm/tests/render.py"))
        .args(["--name", release, "--namespace", ns])
        .args([
            "--values-json",
            &json!({ "clusterName": cluster }).to_string(),
        ])
        .args(["--kind", "ClusterRole", "--kind", "ClusterRoleBinding"])
        .args(["--kind", "Role", "--kind", "RoleBinding"])
        .output()
        .unwrap_or_else(|e| panic!("run {python} helm/tests/render.py: {e}"));
    assert!(
        out.status.success(),
        "render.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = yaml_docs(&String::from_utf8_lossy(&out.stdout));
    let kind = |k: &str| {
        let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == k).collect();
        assert_eq!(found.len(), 1, "one {k} in the rendered chart");
        found[0].clone()
    };
    Rbac {
        cluster_role: kind("ClusterRole"),
        cluster_role_binding: kind("ClusterRoleBinding"),
        role: kind("Role"),
        role_binding: kind("RoleBinding"),
    }
}

/// Every (role kind, rule index, verb) of the chart: what the minimality proof removes in turn.
fn verbs(rbac: &Rbac) -> Vec<(&'static str, usize, String)> {
    let mut out = Vec::new();
    for (kind, role) in [("ClusterRole", &rbac.cluster_role), ("Role", &rbac.role)] {
        for (i, rule) in role["rules"].as_array().expect("rules").iter().enumerate() {
            for v in rule["verbs"].as_array().expect("verbs") {
                out.push((kind, i, v.as_str().expect("verb").to_string()));
            }
        }
    }
    out
}

fn describe_rule(rule: &Value, verb: &str) -> String {
    let list = |k: &str| -> String {
        rule[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str())
                    .map(|s| if s.is_empty() { "core" } else { s })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    let names = list("resourceNames");
    format!(
        "{}/{}{} {verb}",
        list("apiGroups"),
        list("resources"),
        if names.is_empty() {
            String::new()
        } else {
            format!("[{names}]")
        }
    )
}

impl Rbac {
    /// This RBAC without one verb of one rule (the rule dropped when it has no verb left).
    fn without(&self, kind: &str, rule: usize, verb: &str) -> Rbac {
        let mut out = self.clone();
        let role = if kind == "ClusterRole" {
            &mut out.cluster_role
        } else {
            &mut out.role
        };
        let rules = role["rules"].as_array_mut().expect("rules");
        let verbs = rules[rule]["verbs"].as_array_mut().expect("verbs");
        verbs.retain(|v| v != verb);
        if verbs.is_empty() {
            rules.remove(rule);
        }
        out
    }

    fn rule(&self, kind: &str, rule: usize) -> &Value {
        let role = if kind == "ClusterRole" {
            &self.cluster_role
        } else {
            &self.role
        };
        &role["rules"][rule]
    }

    /// Both bindings with this one subject instead of the chart's ServiceAccount.
    fn bound_to_user(&self, user: &str) -> Rbac {
        let mut out = self.clone();
        let subject =
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]);
        out.cluster_role_binding["subjects"] = subject.clone();
        out.role_binding["subjects"] = subject;
        out
    }
}

// ------------------------------------------------------------------ environment

struct Shared {
    admin: kube::Client,
    admin_kubeconfig: Value,
    ec2: ec2::Client,
    elb: elb::Client,
    dir: tempfile::TempDir,
}

async fn shared() -> Shared {
    let path = require("BERTH_TEST_KUBECONFIG");
    require("AWS_ENDPOINT_URL");
    let admin = kube_client(&path).await;
    let text = std::fs::read_to_string(&path).expect("read admin kubeconfig");
    let admin_kubeconfig: Value = serde_yaml_ng::from_str(&text).expect("parse admin kubeconfig");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let sh = Shared {
        admin,
        admin_kubeconfig,
        ec2: ec2::Client::new(&aws),
        elb: elb::Client::new(&aws),
        dir: tempfile::tempdir().expect("tempdir"),
    };
    sh.install_policy_crd().await;
    sh
}

impl Shared {
    /// Installs the chart's LoadBalancerPolicy CRD (once per apiserver; other tests may have
    /// installed it already) and waits until it is served.
    async fn install_policy_crd(&self) {
        let text = std::fs::read_to_string(
            root().join("helm/berth/crds/berth.dev_loadbalancerpolicies.yaml"),
        )
        .expect("the chart's CRD file");
        let api: Api<CustomResourceDefinition> = Api::all(self.admin.clone());
        for doc in yaml_docs(&text) {
            let crd: CustomResourceDefinition = serde_json::from_value(doc).expect("a CRD");
            match api.create(&PostParams::default(), &crd).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => panic!("create CRD: {e}"),
            }
        }
        let start = Instant::now();
        loop {
            if let Ok(l) = self
                .admin
                .list_api_group_resources("berth.dev/v1alpha1")
                .await
            {
                if l.resources.iter().any(|r| r.name == "loadbalancerpolicies") {
                    return;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(30), "CRD not served");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether the apiserver serves discovery.k8s.io/v1 (1.21+; berth watches EndpointSlices
    /// only then).
    async fn slices_served(&self) -> bool {
        matches!(self.admin.list_api_group_resources("discovery.k8s.io/v1").await,
            Ok(l) if l.resources.iter().any(|r| r.name == "endpointslices"))
    }

    /// A kubeconfig that authenticates as the admin and impersonates `user`.
    fn impersonating(&self, user: &str, file: &str) -> PathBuf {
        let mut kc = self.admin_kubeconfig.clone();
        kc["users"][0]["user"]["as"] = json!(user);
        let path = self.dir.path().join(file);
        std::fs::write(&path, serde_yaml_ng::to_string(&kc).expect("yaml")).expect("write");
        path
    }
}

/// Who `berth run` runs as.
#[derive(Clone, Debug)]
enum Who {
    /// The token user `berth-tenant` (its own kubeconfig), bound with subjects kind User.
    Tenant,
    /// An impersonated user of this name, bound with subjects kind User.
    User(String),
    /// The chart's ServiceAccount, with the chart's bindings as rendered (impersonated).
    ServiceAccount,
}

/// One run of the scenario: its own namespace, cluster name (moto resources), Nodes, policy.
struct Run<'a> {
    sh: &'a Shared,
    id: String,
    ns: String,
    subnets: Vec<(String, String)>,
    nodes: Vec<String>,
    instances: Vec<String>,
}

/// A `berth run` child process, killed on drop.
struct Berth {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Berth {
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The apiserver's 403 messages in the log, from "cannot" to the end of the message
    /// (`cannot patch resource "services/status" in API group "" in the namespace "x"`).
    fn forbidden(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains("forbidden"))
            .filter_map(|l| {
                let from = l.find("cannot ")?;
                let msg = l[from..].replace("\\\"", "\"");
                let end = msg
                    .find(": Forbidden")
                    .or_else(|| msg.find(", metadata"))
                    .unwrap_or(msg.len());
                Some(msg[..end].trim_end_matches(['"', ' ']).to_string())
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it returns Some, at most [`STEP`]; fails early when berth has exited.
async fn step<T, F, Fut>(berth: &mut Berth, what: &str, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if let Some(status) = berth.exited() {
            return Err(format!("{what}: berth exited ({status})"));
        }
        if start.elapsed() > STEP {
            return Err(format!("{what}: not within {STEP:?}"));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

fn policy_resource() -> ApiResource {
    ApiResource {
        group: "berth.dev".into(),
        version: "v1alpha1".into(),
        api_version: "berth.dev/v1alpha1".into(),
        kind: "LoadBalancerPolicy".into(),
        plural: "loadbalancerpolicies".into(),
    }
}

impl<'a> Run<'a> {
    async fn new(sh: &'a Shared, tag: &str) -> Run<'a> {
        let id = unique(tag);
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": id}})).unwrap();
        Api::<Namespace>::all(sh.admin.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        let mut run = Run {
            sh,
            ns: id.clone(),
            id,
            subnets: Vec::new(),
            nodes: Vec::new(),
            instances: Vec::new(),
        };
        run.network().await;
        run
    }

    /// A VPC with two subnets tagged for internal NLBs of this run's cluster.
    async fn network(&mut self) {
        self.subnets = network(&self.sh.ec2, &self.id).await;
    }

    /// A Node selected by this run's berth; with an EC2 instance unless `excluded` (then it
    /// carries the exclude label and only makes berth reconcile everything).
    async fn node(&mut self, name: &str, excluded: bool) -> String {
        let (subnet, az) = self.subnets[0].clone();
        let instance = if excluded {
            format!("i-{:017x}", self.nodes.len())
        } else {
            let sg = node_security_group(&self.sh.ec2, &subnet, &self.id).await;
            let out = self
                .sh
                .ec2
                .run_instances()
                .security_group_ids(sg)
                .image_id(AMI)
                .instance_type(ec2::types::InstanceType::T3Micro)
                .min_count(1)
                .max_count(1)
                .subnet_id(&subnet)
                .send()
                .await
                .expect("RunInstances");
            let id = out.instances()[0]
                .instance_id()
                .expect("instance id")
                .to_string();
            self.instances.push(id.clone());
            id
        };
        let mut labels = json!({"berth-rbac": self.id});
        if excluded {
            labels[EXCLUDE_LABEL] = json!("true");
        }
        let full = format!("{}-{name}", self.id);
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": full, "labels": labels},
            "spec": {"providerID": format!("aws:///{az}/{instance}")}
        }))
        .unwrap();
        Api::<Node>::all(self.sh.admin.clone())
            .create(&PostParams::default(), &node)
            .await
            .expect("create Node");
        self.nodes.push(full);
        instance
    }

    /// Applies the RBAC objects for `who`; returns the kubeconfig berth uses.
    async fn grant(&self, rbac: &Rbac, who: &Who) -> PathBuf {
        let client = &self.sh.admin;
        let (rbac, kubeconfig) = match who {
            Who::Tenant => (
                rbac.bound_to_user("berth-tenant"),
                PathBuf::from(require("BERTH_TEST_TENANT_KUBECONFIG")),
            ),
            Who::User(u) => (
                rbac.bound_to_user(u),
                self.sh.impersonating(u, &format!("{}.kubeconfig", self.id)),
            ),
            Who::ServiceAccount => {
                let subject = &rbac.cluster_role_binding["subjects"][0];
                let user = format!(
                    "system:serviceaccount:{}:{}",
                    subject["namespace"].as_str().expect("sa namespace"),
                    subject["name"].as_str().expect("sa name")
                );
                (
                    rbac.clone(),
                    self.sh
                        .impersonating(&user, &format!("{}.kubeconfig", self.id)),
                )
            }
        };
        let pp = PostParams::default();
        let cr: ClusterRole = serde_json::from_value(rbac.cluster_role).expect("ClusterRole");
        let crb: ClusterRoleBinding =
            serde_json::from_value(rbac.cluster_role_binding).expect("ClusterRoleBinding");
        let role: Role = serde_json::from_value(rbac.role).expect("Role");
        let rb: RoleBinding = serde_json::from_value(rbac.role_binding).expect("RoleBinding");
        Api::<ClusterRole>::all(client.clone())
            .create(&pp, &cr)
            .await
            .expect("create ClusterRole");
        Api::<ClusterRoleBinding>::all(client.clone())
            .create(&pp, &crb)
            .await
            .expect("create ClusterRoleBinding");
        Api::<Role>::namespaced(client.clone(), &self.ns)
            .create(&pp, &role)
            .await
            .expect("create Role");
        Api::<RoleBinding>::namespaced(client.clone(), &self.ns)
            .create(&pp, &rb)
            .await
            .expect("create RoleBinding");
        kubeconfig
    }

    fn spawn(&self, kubeconfig: &Path) -> Berth {
        let port = free_port();
        let log = self.sh.dir.path().join(format!("{}.log", self.id));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["run", "--cluster-name", &self.id, "--identity", &self.id])
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--resync",
                "60s",
            ])
            .args(["--leader-election-namespace", &self.ns])
            .args(["--lease-duration", "3s", "--lease-renew-interval", "1s"])
            .args(["--watch-namespace", &self.ns])
            .args(["--node-selector", &format!("berth-rbac={}", self.id)])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn berth");
        Berth { child, port, log }
    }

    fn services(&self) -> Api<Service> {
        Api::namespaced(self.sh.admin.clone(), &self.ns)
    }

    async fn create_service(&self, name: &str, extra: Value) {
        self.services()
            .create(&PostParams::default(), &lb_service(name, extra))
            .await
            .expect("create Service");
    }

    fn policies(&self) -> Api<DynamicObject> {
        Api::all_with(self.sh.admin.clone(), &policy_resource())
    }

    /// A policy for this run's namespace only: berth's class-less Services get a default tag.
    async fn create_policy(&self) {
        let p: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "LoadBalancerPolicy",
            "metadata": {"name": self.id},
            "spec": {
                "loadBalancerClasses": [""],
                "namespaces": [self.ns],
                "defaults": {"tags": {"berth-rbac": self.id}}
            }
        }))
        .unwrap();
        self.policies()
            .create(&PostParams::default(), &p)
            .await
            .expect("create LoadBalancerPolicy");
    }

    async fn events(&self) -> Vec<Event> {
        Api::<Event>::namespaced(self.sh.admin.clone(), &self.ns)
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
    }

    fn ingresses(&self) -> Api<Ingress> {
        Api::namespaced(self.sh.admin.clone(), &self.ns)
    }

    /// This run's IngressClass (cluster-scoped, so named after the run).
    fn ingress_class(&self) -> String {
        format!("{}-alb", self.id)
    }

    /// The IngressClass naming berth's controller, and an Ingress of that class in front of the
    /// Service `backend` (it has a nodePort: instance targets).
    async fn create_ingress(&self, name: &str, backend: &str) {
        let ic: IngressClass = serde_json::from_value(json!({
            "metadata": {"name": self.ingress_class()},
            "spec": {"controller": "berth.dev/alb"}
        }))
        .unwrap();
        Api::<IngressClass>::all(self.sh.admin.clone())
            .create(&PostParams::default(), &ic)
            .await
            .expect("create IngressClass");
        let ing: Ingress = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"ingressClassName": self.ingress_class(), "rules": [{"http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": backend, "port": {"number": 80}}}}]}}]}
        }))
        .unwrap();
        self.ingresses()
            .create(&PostParams::default(), &ing)
            .await
            .expect("create Ingress");
    }

    /// This run's load balancers in moto (by the cluster tag), with their tags.
    async fn load_balancers(&self) -> Vec<(String, BTreeMap<String, String>)> {
        let Ok(all) = self.sh.elb.describe_load_balancers().send().await else {
            return Vec::new();
        };
        let arns: Vec<String> = all
            .load_balancers()
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let mut out = Vec::new();
        for chunk in arns.chunks(20) {
            let Ok(tags) = self
                .sh
                .elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
            else {
                continue;
            };
            for d in tags.tag_descriptions() {
                let t: BTreeMap<String, String> = d
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect();
                if t.get("elbv2.k8s.aws/cluster") == Some(&self.id) {
                    out.push((d.resource_arn().unwrap_or_default().to_string(), t));
                }
            }
        }
        out
    }

    async fn targets(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Ok(tgs) = self.sh.elb.describe_target_groups().send().await else {
            return out;
        };
        let ours: BTreeSet<String> = self
            .load_balancers()
            .await
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        for tg in tgs.target_groups() {
            if !tg.load_balancer_arns().iter().any(|a| ours.contains(a)) {
                continue;
            }
            if let Ok(h) = self
                .sh
                .elb
                .describe_target_health()
                .target_group_arn(tg.target_group_arn().unwrap_or_default())
                .send()
                .await
            {
                out.extend(
                    h.target_health_descriptions()
                        .iter()
                        .filter_map(|d| d.target()?.id().map(str::to_string)),
                );
            }
        }
        out
    }

    /// The scenario; Err names the step that failed.
    async fn scenario(&mut self, berth: &mut Berth) -> Result<(), String> {
        let svc = "web";
        let bad = "bad";
        // 1. Leader (Lease get/create) and caches synced (list of every watched kind).
        let port = berth.port;
        step(berth, "berth becomes leader and ready", || async move {
            matches!(http_get(port, "/readyz").await, Some((200, b)) if b.trim() == "leader")
                .then_some(())
        })
        .await?;
        // 2. A policy created now is only seen through the watch.
        self.create_policy().await;
        // 3. A Service: finalizer, NLB, hostname, Events, the policy's tag.
        self.create_service(svc, json!({})).await;
        let api = self.services();
        step(
            berth,
            "Service gets the finalizer and a hostname",
            || async {
                let s = api.get(svc).await.ok()?;
                let has_finalizer = s
                    .metadata
                    .finalizers
                    .as_ref()
                    .is_some_and(|f| f.iter().any(|f| f == FINALIZER));
                let hostname = s
                    .status?
                    .load_balancer?
                    .ingress?
                    .first()?
                    .hostname
                    .clone()?;
                (has_finalizer && !hostname.is_empty()).then_some(())
            },
        )
        .await?;
        step(
            berth,
            "the NLB carries the policy's default tag",
            || async {
                let lbs = self.load_balancers().await;
                (lbs.len() == 1 && lbs[0].1.get("berth-rbac") == Some(&self.id)).then_some(())
            },
        )
        .await?;
        step(
            berth,
            "Events Ensuring and Ensured on the Service",
            || async {
                let reasons: BTreeSet<String> = self
                    .events()
                    .await
                    .into_iter()
                    .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(svc))
                    .filter_map(|e| e.reason)
                    .collect();
                (reasons.contains("Ensuring") && reasons.contains("Ensured")).then_some(())
            },
        )
        .await?;
        let policies = self.policies();
        step(
            berth,
            "the policy's status.governedObjects counts the Service",
            || async {
                let p = policies.get(&self.id).await.ok()?;
                (p.data["status"]["governedObjects"].as_i64()? >= 1).then_some(())
            },
        )
        .await?;
        // 4. A Node added now is only seen through the Node watch.
        let first = self.instances.clone();
        let second = self.node("n2", false).await;
        step(berth, "a Node added later becomes a target", || async {
            let t = self.targets().await;
            (first.iter().all(|i| t.contains(i)) && t.contains(&second)).then_some(())
        })
        .await?;
        // 5. A Service with an invalid annotation: its Warning repeats on every reconciliation
        //    (each Node change), for the same Service version, which the event recorder
        //    patches into a series.
        self.create_service(
            bad,
            json!({"service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": "3s"}),
        )
        .await;
        let mut touches = 0;
        let mut last = Instant::now();
        let start = Instant::now();
        loop {
            let series = self.events().await.into_iter().any(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(bad)
                    && e.type_.as_deref() == Some("Warning")
                    && e.series.as_ref().is_some_and(|s| s.count >= 2)
            });
            if series {
                break;
            }
            if let Some(status) = berth.exited() {
                return Err(format!(
                    "a repeated Warning becomes an Event series: berth exited ({status})"
                ));
            }
            if start.elapsed() > STEP {
                return Err(format!(
                    "a repeated Warning becomes an Event series (count >= 2): not within {STEP:?}"
                ));
            }
            if last.elapsed() > Duration::from_millis(1500) && touches < 6 {
                touches += 1;
                self.node(&format!("x{touches}"), true).await;
                last = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // 6. An Ingress (its IngressClass created now, so both are only seen through the
        //    watches) in front of the Service: the finalizer, berth's condition, an ALB in moto
        //    and its hostname in status; deleted, the ALB goes and then the finalizer.
        let ing = "site";
        self.create_ingress(ing, svc).await;
        let ingresses = self.ingresses();
        step(
            berth,
            "Ingress gets the finalizer, condition True and an ALB hostname",
            || async {
                let i = ingresses.get(ing).await.ok()?;
                let has_finalizer = i
                    .metadata
                    .finalizers
                    .as_ref()
                    .is_some_and(|f| f.iter().any(|f| f == INGRESS_FINALIZER));
                let cond: Value =
                    serde_json::from_str(i.metadata.annotations.as_ref()?.get(STATUS_ANN)?).ok()?;
                let hostname = i
                    .status?
                    .load_balancer?
                    .ingress?
                    .first()?
                    .hostname
                    .clone()?;
                let alb = self
                    .load_balancers()
                    .await
                    .iter()
                    .any(|(_, t)| t.contains_key(STACK_TAG));
                (has_finalizer && cond["status"] == "True" && !hostname.is_empty() && alb)
                    .then_some(())
            },
        )
        .await?;
        ingresses
            .delete(ing, &DeleteParams::default())
            .await
            .map_err(|e| format!("delete Ingress {ing}: {e}"))?;
        step(
            berth,
            "deleted Ingress is gone (ALB deleted, then the finalizer removed)",
            || async {
                let gone = ingresses.get_opt(ing).await.ok()?.is_none();
                let albs = self
                    .load_balancers()
                    .await
                    .iter()
                    .any(|(_, t)| t.contains_key(STACK_TAG));
                (gone && !albs).then_some(())
            },
        )
        .await?;
        // 7. Delete: cloud resources gone, finalizers removed, Services gone.
        for name in [svc, bad] {
            api.delete(name, &DeleteParams::default())
                .await
                .map_err(|e| format!("delete Service {name}: {e}"))?;
        }
        step(
            berth,
            "deleted Services are gone (finalizer removed)",
            || async {
                let left = api.list(&ListParams::default()).await.ok()?.items.len();
                (left == 0).then_some(())
            },
        )
        .await?;
        step(berth, "the NLB is deleted in moto", || async {
            self.load_balancers().await.is_empty().then_some(())
        })
        .await?;
        // 8. Still leader (renewals: Lease update); SIGTERM releases the Lease and exits 0.
        if let Some(status) = berth.exited() {
            return Err(format!("berth still running at the end: exited ({status})"));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &berth.child.id().to_string()])
            .status();
        let status = step(berth, "berth exits after SIGTERM", || async { None::<()> })
            .await
            .err()
            .and_then(|_| berth.exited());
        match status {
            Some(s) if s.success() => {}
            other => return Err(format!("SIGTERM: exit 0 expected, got {other:?}")),
        }
        let lease = Api::<Lease>::namespaced(self.sh.admin.clone(), &self.ns)
            .get("berth-leader")
            .await
            .map_err(|e| format!("read Lease: {e}"))?;
        let holder = lease
            .spec
            .and_then(|s| s.holder_identity)
            .unwrap_or_default();
        if !holder.is_empty() {
            return Err(format!("SIGTERM: Lease still held by {holder:?}"));
        }
        Ok(())
    }

    /// Removes the cluster-scoped objects of this run (namespaces stay: without a
    /// controller-manager they never finish terminating).
    async fn cleanup(&self, rbac: &Rbac) {
        let dp = DeleteParams::default();
        let c = &self.sh.admin;
        for n in &self.nodes {
            let _ = Api::<Node>::all(c.clone()).delete(n, &dp).await;
        }
        let _ = self.policies().delete(&self.id, &dp).await;
        let _ = Api::<IngressClass>::all(c.clone())
            .delete(&self.ingress_class(), &dp)
            .await;
        if let Some(n) = rbac.cluster_role["metadata"]["name"].as_str() {
            let _ = Api::<ClusterRole>::all(c.clone()).delete(n, &dp).await;
        }
        if let Some(n) = rbac.cluster_role_binding["metadata"]["name"].as_str() {
            let _ = Api::<ClusterRoleBinding>::all(c.clone())
                .delete(n, &dp)
                .await;
        }
    }
}

/// The verb a minimality run goes without.
#[derive(Debug)]
struct Removed {
    text: String,
    verb: String,
    resource: String,
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The outcome of one run: Err(step) when the scenario failed, with berth's 403 log lines.
struct Outcome {
    result: Result<(), String>,
    forbidden: Vec<String>,
    log: String,
    elapsed: Duration,
}

/// Renders the chart for a fresh run, lets `edit` change its RBAC, grants it to `who`, and runs
/// the scenario.
async fn run_scenario(
    sh: &Shared,
    tag: &str,
    who: Who,
    edit: impl FnOnce(&Rbac) -> Rbac,
) -> Outcome {
    let t0 = Instant::now();
    let mut run = Run::new(sh, tag).await;
    let rbac = edit(&render_rbac(&run.id, &run.ns, &run.id));
    let kubeconfig = run.grant(&rbac, &who).await;
    run.node("n1", false).await;
    let mut berth = run.spawn(&kubeconfig);
    let result = run.scenario(&mut berth).await;
    let _ = berth.child.kill();
    let _ = berth.child.wait();
    let out = Outcome {
        result,
        forbidden: berth.forbidden(),
        log: berth.log_text(),
        elapsed: t0.elapsed(),
    };
    run.cleanup(&rbac).await;
    out
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The chart's RBAC is enough: the scenario passes as `berth-tenant` (a token user with no
/// other rights, bound with kind User).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_rbac_is_sufficient_for_berth_tenant() {
    let sh = shared().await;
    let out = run_scenario(&sh, "tenant", Who::Tenant, |r| r.clone()).await;
    if let Err(e) = &out.result {
        panic!(
            "scenario failed as berth-tenant with the chart's RBAC: {e}\n{}",
            tail(&out.log, 40)
        );
    }
    assert!(
        out.forbidden.is_empty(),
        "no request of berth may be forbidden with the chart's RBAC: {:#?}",
        out.forbidden
    );
    println!(
        "sufficient: scenario passed as berth-tenant in {:?}",
        out.elapsed
    );
}

/// The chart's own bindings bind the chart's ServiceAccount: the scenario passes as that
/// ServiceAccount (impersonated), with the ClusterRoleBinding and RoleBinding as rendered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_bindings_grant_the_service_account() {
    let sh = shared().await;
    let out = run_scenario(&sh, "sa", Who::ServiceAccount, |r| r.clone()).await;
    if let Err(e) = &out.result {
        panic!(
            "scenario failed as the chart's ServiceAccount: {e}\n{}",
            tail(&out.log, 40)
        );
    }
    assert!(out.forbidden.is_empty(), "forbidden: {:#?}", out.forbidden);
    println!(
        "sufficient: scenario passed as the chart's ServiceAccount in {:?}",
        out.elapsed
    );
}

/// The chart's RBAC is minimal: without any one of its verbs, the scenario fails (and berth's
/// log shows the 403). Rules this scenario cannot exercise (EndpointSlices on a 1.20 apiserver)
/// are listed, not proven.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_rbac_is_minimal() {
    let sh = shared().await;
    let slices = sh.slices_served().await;
    let sample = render_rbac("sample", "sample", "sample");
    let mut todo = Vec::new();
    let mut unproven = Vec::new();
    for (kind, rule, verb) in verbs(&sample) {
        let what = format!("{kind} {}", describe_rule(sample.rule(kind, rule), &verb));
        let resources = sample.rule(kind, rule)["resources"].to_string();
        if resources.contains("endpointslices") && !slices {
            unproven.push(format!(
                "{what}: not proven here: this kube-apiserver does not serve discovery.k8s.io/v1, so berth does not watch EndpointSlices"
            ));
            continue;
        }
        let resource = sample.rule(kind, rule)["resources"][0]
            .as_str()
            .expect("resource")
            .to_string();
        todo.push((
            Removed {
                text: what,
                verb: verb.clone(),
                resource,
            },
            kind,
            rule,
            verb,
        ));
    }
    assert!(todo.len() >= 10, "the chart has rules to prove: {todo:?}");
    assert!(
        todo.iter().any(|(r, ..)| r.resource == "ingresses"),
        "the chart's Ingress rules (ingress.enabled is the default) are among those proven: {todo:?}"
    );
    let t0 = Instant::now();
    let results: Vec<(Removed, Outcome)> = futures::stream::iter(todo.into_iter().enumerate())
        .map(|(i, (what, kind, rule, verb))| {
            let sh = &sh;
            async move {
                let user = format!("berth-rbac-{}-{i}", std::process::id());
                let out = run_scenario(sh, &format!("v{i}"), Who::User(user), |r| {
                    r.without(kind, rule, &verb)
                })
                .await;
                (what, out)
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut problems = Vec::new();
    println!(
        "RBAC minimality: each verb removed in turn ({} runs, {:?} in all)",
        results.len(),
        t0.elapsed()
    );
    for (what, out) in &results {
        match &out.result {
            Ok(()) => {
                problems.push(format!(
                    "without {what} the scenario still passes: the verb is not needed"
                ));
                println!("  PASSED (not needed!)  {what}");
            }
            Err(step) => {
                // The failure must come from the removed verb: berth's log shows the 403.
                let (verb, resource) = (&what.verb, &what.resource);
                let want = format!("cannot {verb} resource \"{resource}\"");
                let evidence = out.forbidden.iter().find(|l| l.starts_with(&want));
                println!(
                    "  needed  {:<62} fails at: {step} ({:.1?})",
                    what.text, out.elapsed
                );
                match evidence {
                    Some(e) => println!("          403: {e}"),
                    None => problems.push(format!(
                        "without {} the scenario failed ({step}) but berth logged no 403 for it (only {:?}): the failure may have another cause\n{}",
                        what.text,
                        out.forbidden,
                        tail(&out.log, 30)
                    )),
                }
            }
        }
    }
    let groups: BTreeSet<&str> = results
        .iter()
        .map(|(w, _)| w.text.split_once(' ').map_or("", |(_, r)| r))
        .map(|r| r.split('/').next().unwrap_or(""))
        .collect();
    println!(
        "RBAC minimality: {} of {} verbs proven necessary (API groups {}); {} not proven here:",
        results.len(),
        results.len() + unproven.len(),
        groups.into_iter().collect::<Vec<_>>().join(", "),
        unproven.len()
    );
    for u in &unproven {
        println!("  {u}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
