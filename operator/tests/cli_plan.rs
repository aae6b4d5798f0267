//! `berth plan` as a user runs it: the binary, offline, on the bundled manifests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/aws")
        .join(name)
}

fn berth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run berth")
}

#[test]
fn json_plan_of_a_bundled_example() {
    let path = testdata("nlb-basic.yaml");
    let out = berth(&[
        "plan",
        "--cloud",
        "aws",
        "-f",
        path.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let changes = plan["changes"].as_array().expect("changes");
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "AWS::EC2::SecurityGroup",
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            "AWS::ElasticLoadBalancingV2::Listener",
            "AWS::ElasticLoadBalancingV2::Listener"
        ]
    );
    assert!(changes.iter().all(|c| c["action"] == "create"));
    // The excluded node is not a target; the two others are, on the NodePort.
    assert_eq!(
        changes[2]["properties"]["Targets"],
        serde_json::json!([{"Id": "i-0a1b2c3d4e5f60001", "Port": 30080}, {"Id": "i-0a1b2c3d4e5f60002", "Port": 30080}])
    );
}

#[test]
fn invalid_input_exits_non_zero_naming_object_annotation_value_and_fix() {
    let path = testdata("invalid-annotation.yaml");
    let out = berth(&["plan", "-f", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for part in [
        "Service shop/broken",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval",
        "\"3s\"",
        "from 5 to 300",
    ] {
        assert!(err.contains(part), "stderr should contain {part:?}: {err}");
    }
}

#[test]
fn unreadable_or_malformed_files_are_reported() {
    let out = berth(&["plan", "-f", "/nonexistent/berth.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/berth.yaml: cannot read"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Service\nspec: {ports: notalist}\n",
    )
    .unwrap();
    let out = berth(&["plan", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml (document 1)") && err.contains("not valid v1 Service"),
        "{err}"
    );
}

#[test]
fn services_of_other_classes_are_skipped_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("metallb.yaml");
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: Service\nmetadata: {name: lb, namespace: x}\nspec: {type: LoadBalancer, loadBalancerClass: metallb.io/metallb, ports: [{port: 80}]}\n",
    )
    .unwrap();
    let out = berth(&["plan", "-f", f.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["changes"], serde_json::json!([]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipping Service x/lb"));
}

#[test]
fn ingress_group_plans_the_good_members_and_reports_the_rejected_ones() {
    let path = testdata("alb-group-isolation.yaml");
    let out = berth(&[
        "plan",
        "--cloud",
        "aws",
        "-f",
        path.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejected member makes the exit code 1"
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let changes = plan["changes"].as_array().unwrap();
    let rules: Vec<&serde_json::Value> = changes
        .iter()
        .filter(|c| c["kind"] == "AWS::ElasticLoadBalancingV2::ListenerRule")
        .collect();
    assert_eq!(rules.len(), 1, "only team/a-main is served");
    assert_eq!(rules[0]["properties"]["Priority"], 1);
    assert_eq!(
        rules[0]["properties"]["Conditions"][0]["HostHeaderConfig"]["Values"],
        serde_json::json!(["app.team.internal"])
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for part in [
        "Ingress team/b-typo: annotation alb.ingress.kubernetes.io/healthcheck-interval-seconds=\"3s\"",
        "Ingress team/d-orphan: spec.rules[0].http.paths[0].backend=\"missing:80\" is invalid: Service team/missing does not exist",
        "Ingress other/c-steal",
        "Ingress team/e-public: annotation alb.ingress.kubernetes.io/scheme=\"internet-facing\"",
    ] {
        assert!(err.contains(part), "stderr should contain {part:?}: {err}");
    }
}

#[test]
fn ingresses_of_other_classes_are_skipped_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("nginx.yaml");
    std::fs::write(
        &f,
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\nspec: {controller: k8s.io/ingress-nginx}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: x}\nspec: {ingressClassName: nginx, defaultBackend: {service: {name: web, port: {number: 80}}}}\n",
    )
    .unwrap();
    let out = berth(&["plan", "-f", f.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["changes"], serde_json::json!([]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipping Ingress x/web"));
}

#[cfg(feature = "gcp")]
#[test]
fn gcp_plan_says_which_readiness_probes_it_cannot_follow() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/gcp/ingress-readiness-probe.yaml");
    let out = berth(&[
        "plan",
        "--cloud",
        "gcp",
        "--gcp-node-tags",
        "gke-demo-node",
        "-f",
        path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("note: Ingress shop/probed: Pod shop/tcp-1 container tcp: the readinessProbe is a tcpSocket probe"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "Pod shop/api-1 container api: the readinessProbe is an httpGet on another port"
        ),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("requestPath") || stdout.contains("/healthz"),
        "{stdout}"
    );
}
