"""Tests of the berth Helm chart, rendered offline with helm-python-sdk (Helm 4 as a library).

Run: bash localstack/test.sh (runs them after cargo test), or
     $(bash localstack/helm-venv.sh) -m pytest helm/tests
"""
from __future__ import annotations

import json
import re

import helm_python as helm
import jsonschema
import pytest
import yaml

from render import CHART, render

BASE = {"clusterName": "prod-eu1"}


def objs(values=None, **kw):
    return render({**BASE, **(values or {})}, **kw)


def one(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def container(objects):
    dep = one(objects, "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return c


def args(objects):
    return container(objects)["args"]


def rules(obj):
    """Rules as a set of (apiGroup, resource, resourceName or None, verb)."""
    out = set()
    for r in obj["rules"]:
        for g in r["apiGroups"]:
            for res in r["resources"]:
                for n in r.get("resourceNames") or [None]:
                    for v in r["verbs"]:
                        out.add((g, res, n, v))
    return out


# ------------------------------------------------------------------ chart and defaults


def test_chart_metadata():
    with helm.Chart.load(CHART) as c:
        md = c.metadata
        assert md["apiVersion"] == "v2"
        assert md["appVersion"] == "0.1.0"
        assert md["name"] == "berth"
        assert c.schema is not None, "values.schema.json is shipped"


def test_ships_the_loadbalancerpolicy_crd():
    with helm.Chart.load(CHART) as c:
        crds = [yaml.safe_load(x["data"]) for x in c.crds]
    names = [d["metadata"]["name"] for d in crds if d]
    assert "loadbalancerpolicies.berth.dev" in names


def test_default_values_render_the_expected_kinds():
    kinds = sorted(o["kind"] for o in objs())
    assert kinds == sorted([
        "ClusterRole", "ClusterRoleBinding", "Deployment", "PodDisruptionBudget",
        "Role", "RoleBinding", "Service", "ServiceAccount",
    ])


def test_everything_is_in_the_release_namespace():
    for o in objs(namespace="addons"):
        if o["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            assert "namespace" not in o["metadata"]
        else:
            assert o["metadata"]["namespace"] == "addons", o["kind"]


@pytest.mark.parametrize("release,name", [("berth", "berth"), ("prod", "prod-berth"), ("my-berth", "my-berth")])
def test_names_follow_the_release(release, name):
    dep = one(objs(name=release), "Deployment")
    assert dep["metadata"]["name"] == name


def test_lint_strict_is_clean():
    report = helm.lint(CHART, dict(BASE), strict=True)
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


def test_lint_reports_missing_cluster_name():
    report = helm.lint(CHART, {})
    assert any("clusterName" in e for e in report["errors"]), report


def test_values_yaml_plus_cluster_name_is_valid_for_an_independent_validator():
    with helm.Chart.load(CHART) as c:
        merged = c.merge_values(dict(BASE))
        schema = c.schema
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(merged, schema)


# ------------------------------------------------------------------ clouds


def test_cloud_aws_renders():
    assert args(objs({"cloud": "aws"}))[:3] == ["run", "--cloud=aws", "--cluster-name=prod-eu1"]


def test_cloud_not_implemented_fails_with_a_clear_message():
    with pytest.raises(helm.HelmRenderError, match=r"cloud=azure is not implemented yet: .*AWS and GCP load balancers \(set cloud: aws or gcp\)"):
        objs({"cloud": "azure"})


GCP = {"cloud": "gcp", "gcp": {"project": "shop-prod", "region": "europe-west1", "nodeTags": ["gke-prod-1a2b3c4d-node"]}}


def test_cloud_gcp_renders_its_settings_and_workload_identity():
    o = objs({**GCP, "region": "eu-west-1", "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": "berth@shop-prod.iam.gserviceaccount.com"}}})
    a = args(o)
    assert a[:3] == ["run", "--cloud=gcp", "--cluster-name=prod-eu1"]
    for want in ["--gcp-project=shop-prod", "--gcp-region=europe-west1", "--gcp-node-tags=gke-prod-1a2b3c4d-node"]:
        assert want in a, a
    assert not any(x.startswith("--load-balancer-class") for x in a), "the cloud's default classes"
    assert not any(x.startswith("--gcp-network") for x in a)
    env = {e["name"] for e in container(o).get("env", [])}
    assert "AWS_REGION" not in env, "region is AWS's"
    sa = one(o, "ServiceAccount")
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == "berth@shop-prod.iam.gserviceaccount.com"
    a = args(objs({**GCP, "gcp": {**GCP["gcp"], "network": "vpc-1", "subnetwork": "nodes"}}))
    assert "--gcp-network=vpc-1" in a and "--gcp-subnetwork=nodes" in a, a


def test_cloud_gcp_reads_pods_for_readiness_probes_and_aws_does_not():
    assert ("", "pods", None, "watch") in rules(one(objs(GCP), "ClusterRole"))
    assert not any(r[1] == "pods" for r in rules(one(objs(), "ClusterRole")))
    no_ingress = rules(one(objs({**GCP, "ingress": {"enabled": False}}), "ClusterRole"))
    assert not any(r[1] == "pods" for r in no_ingress), "only the Ingress controller reads them"


def test_cloud_gcp_needs_the_node_tags_and_leaves_project_and_region_to_the_metadata_server():
    with pytest.raises(helm.HelmRenderError, match=r"gcp.nodeTags is required with cloud: gcp"):
        objs({**GCP, "gcp": {"project": "shop-prod"}})
    a = args(objs({**GCP, "gcp": {"nodeTags": ["gke-prod-1a2b3c4d-node"]}}))
    assert not any(x.startswith(("--gcp-project", "--gcp-region")) for x in a), a


# ------------------------------------------------------------------ RBAC

CLUSTER_RULES = {
    ("", "services", None, "list"),
    ("", "services", None, "watch"),
    ("", "services", None, "patch"),
    ("", "services/status", None, "patch"),
    ("", "nodes", None, "list"),
    ("", "nodes", None, "watch"),
    ("discovery.k8s.io", "endpointslices", None, "list"),
    ("discovery.k8s.io", "endpointslices", None, "watch"),
    ("events.k8s.io", "events", None, "create"),
    ("events.k8s.io", "events", None, "patch"),
    ("networking.k8s.io", "ingresses", None, "list"),
    ("networking.k8s.io", "ingresses", None, "watch"),
    ("networking.k8s.io", "ingresses", None, "patch"),
    ("networking.k8s.io", "ingresses/status", None, "patch"),
    ("networking.k8s.io", "ingressclasses", None, "list"),
    ("networking.k8s.io", "ingressclasses", None, "watch"),
    ("berth.dev", "loadbalancerpolicies", None, "list"),
    ("berth.dev", "loadbalancerpolicies", None, "watch"),
    ("berth.dev", "loadbalancerpolicies/status", None, "patch"),
}


def test_cluster_role_rules_are_exactly_the_proven_set():
    assert rules(one(objs(), "ClusterRole")) == CLUSTER_RULES


def test_without_ingress_no_networking_rules_and_the_flag():
    o = objs({"ingress": {"enabled": False}})
    assert rules(one(o, "ClusterRole")) == {r for r in CLUSTER_RULES if r[0] != "networking.k8s.io"}
    assert "--disable-ingress" in args(o)
    assert "--disable-ingress" not in args(objs())


def test_no_wildcards_and_no_secrets():
    for o in objs():
        if o["kind"] in ("ClusterRole", "Role"):
            for r in o["rules"]:
                assert "*" not in r["verbs"] and "*" not in r["resources"] and "*" not in r["apiGroups"]
                assert "secrets" not in r["resources"]


def test_lease_role_in_the_release_namespace():
    role = one(objs(namespace="addons", values={"leaderElection": {"id": "my-lease"}}), "Role")
    assert role["metadata"]["namespace"] == "addons"
    assert rules(role) == {
        ("coordination.k8s.io", "leases", None, "create"),
        ("coordination.k8s.io", "leases", "my-lease", "get"),
        ("coordination.k8s.io", "leases", "my-lease", "update"),
    }
    assert "--leader-election-id=my-lease" in args(objs({"leaderElection": {"id": "my-lease"}}))


def test_bindings_bind_the_service_account():
    o = objs(name="prod", namespace="addons")
    sa = one(o, "ServiceAccount")["metadata"]["name"]
    crb = one(o, "ClusterRoleBinding")
    rb = one(o, "RoleBinding")
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": one(o, "ClusterRole")["metadata"]["name"]}
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": one(o, "Role")["metadata"]["name"]}
    for b in (crb, rb):
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": "addons"}]
    assert one(o, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == sa


def test_rbac_and_service_account_can_be_turned_off():
    o = objs({"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "existing"}})
    assert {x["kind"] for x in o} & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"} == set()
    assert one(o, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"


def test_existing_service_account_needs_a_name():
    with pytest.raises(helm.HelmRenderError, match="serviceAccount.name is required"):
        objs({"serviceAccount": {"create": False}})


# ------------------------------------------------------------------ Deployment


def test_default_args():
    assert args(objs()) == [
        "run",
        "--cloud=aws",
        "--cluster-name=prod-eu1",
        "--metrics-addr=0.0.0.0:8080",
        "--resync=5m",
        "--leader-election-namespace=$(POD_NAMESPACE)",
        "--leader-election-id=berth-leader",
        "--identity=$(POD_NAME)",
        "--lease-duration=15s",
        "--lease-renew-interval=5s",
        "--log-format=json",
        "--log-level=info",
        "--workers=4",
        "--cloud-api-qps=10",
        "--cloud-api-burst=20",
    ]


def test_args_from_values():
    a = args(objs({
        "vpcId": "vpc-0123456789abcdef0",
        "loadBalancerClasses": ["berth.dev/aws-nlb"],
        "defaultClass": True,
        "logFormat": "text",
        "logLevel": "berth=debug,kube=info",
        "workers": 8,
        "cloudApiQps": 5,
        "cloudApiBurst": 7,
        "resync": "30s",
        "watchNamespace": "shop",
        "nodeSelector": "pool=edge",
        "metrics": {"port": 9090},
        "leaderElection": {"leaseDuration": "20s", "renewInterval": "4s"},
        "extraArgs": ["--something=1"],
    }))
    for want in [
        "--vpc-id=vpc-0123456789abcdef0",
        "--load-balancer-class=berth.dev/aws-nlb",
        "--default-class",
        "--log-format=text",
        "--log-level=berth=debug,kube=info",
        "--workers=8",
        "--cloud-api-qps=5",
        "--cloud-api-burst=7",
        "--resync=30s",
        "--watch-namespace=shop",
        "--node-selector=pool=edge",
        "--metrics-addr=0.0.0.0:9090",
        "--lease-duration=20s",
        "--lease-renew-interval=4s",
    ]:
        assert want in a, want
    assert a[-1] == "--something=1"


def test_env_downward_api_region_and_extra_env():
    c = container(objs({"region": "eu-west-1", "extraEnv": [{"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}]}))
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    assert env["AWS_STS_REGIONAL_ENDPOINTS"]["value"] == "regional"
    assert "AWS_REGION" not in {e["name"] for e in container(objs())["env"]}


def test_replicas_and_image():
    o = objs({"replicas": 3, "image": {"repository": "example.com/berth", "tag": "dev", "pullPolicy": "Always"}})
    dep = one(o, "Deployment")
    assert dep["spec"]["replicas"] == 3
    c = container(o)
    assert c["image"] == "example.com/berth:dev" and c["imagePullPolicy"] == "Always"
    assert container(objs())["image"].endswith(":0.1.0"), "tag defaults to appVersion"
    assert one(objs(), "Deployment")["spec"]["replicas"] == 2


def test_probes_on_the_metrics_port():
    c = container(objs())
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_security_context():
    o = objs()
    c = container(o)
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    pod = one(o, "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 65532
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}


def _mi(q: str) -> float:
    m = re.fullmatch(r"(\d+)(Mi|Gi)", q)
    assert m, q
    return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)


def test_resources_are_set_and_the_limit_leaves_headroom():
    r = container(objs())["resources"]
    req, lim = _mi(r["requests"]["memory"]), _mi(r["limits"]["memory"])
    assert req >= 32 and lim == 4 * req, r
    assert "cpu" in r["requests"] and "cpu" not in r.get("limits", {}), "no CPU limit (throttling)"


def test_pdb_min_available_one_with_several_replicas():
    pdb = one(objs(), "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == one(objs(), "Deployment")["spec"]["selector"]["matchLabels"]
    assert not [x for x in objs({"replicas": 1}) if x["kind"] == "PodDisruptionBudget"]
    assert not [x for x in objs({"podDisruptionBudget": {"enabled": False}}) if x["kind"] == "PodDisruptionBudget"]


def test_preferred_anti_affinity_by_hostname():
    o = objs()
    aff = one(o, "Deployment")["spec"]["template"]["spec"]["affinity"]
    (term,) = aff["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == one(o, "Deployment")["spec"]["selector"]["matchLabels"]
    mine = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}}}
    assert one(objs({"affinity": mine}), "Deployment")["spec"]["template"]["spec"]["affinity"] == mine


def test_pod_scheduling_values():
    spec = one(objs({
        "podNodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "priorityClassName": "system-cluster-critical",
    }), "Deployment")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert "nodeSelector" not in one(objs(), "Deployment")["spec"]["template"]["spec"]


def test_target_node_selector_is_not_the_pod_node_selector():
    o = objs({"nodeSelector": "pool=edge"})
    assert "--node-selector=pool=edge" in args(o)
    assert "nodeSelector" not in one(o, "Deployment")["spec"]["template"]["spec"]


def test_irsa_annotation_on_the_service_account():
    arn = "arn:aws:iam::123456789012:role/berth"
    sa = one(objs({"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": arn}}}), "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}
    assert "annotations" not in one(objs(), "ServiceAccount")["metadata"]


# ------------------------------------------------------------------ metrics


def test_metrics_service():
    o = objs()
    svc = one(o, "Service")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    assert svc["spec"]["selector"] == one(o, "Deployment")["spec"]["selector"]["matchLabels"]
    assert not [x for x in objs({"metrics": {"service": {"enabled": False}}}) if x["kind"] == "Service"]


def test_service_monitor_off_by_default_and_on_when_enabled():
    assert not [x for x in objs() if x["kind"] == "ServiceMonitor"]
    o = objs({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}, "interval": "15s"}}})
    sm = one(o, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}]
    svc_labels = one(o, "Service")["metadata"]["labels"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc_labels.items(), "selects the metrics Service"


def test_service_monitor_needs_the_metrics_service():
    with pytest.raises(helm.HelmRenderError, match="needs metrics.service.enabled"):
        objs({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}})


# ------------------------------------------------------------------ values.schema.json

BAD = {
    "missing clusterName": ({}, "clusterName"),
    "empty clusterName": ({"clusterName": ""}, "clusterName"),
    "replicas as a string": ({**BASE, "replicas": "two"}, "replicas"),
    "replicas zero": ({**BASE, "replicas": 0}, "replicas"),
    "unknown logFormat": ({**BASE, "logFormat": "xml"}, "logFormat"),
    "unknown cloud": ({**BASE, "cloud": "ibm"}, "cloud"),
    "workers above 64": ({**BASE, "workers": 65}, "workers"),
    "qps zero": ({**BASE, "cloudApiQps": 0}, "cloudApiQps"),
    "resync in words": ({**BASE, "resync": "5 minutes"}, "resync"),
    "bad vpc id": ({**BASE, "vpcId": "my-vpc"}, "vpcId"),
    "bad region": ({**BASE, "region": "Europe"}, "region"),
    "bad pullPolicy": ({**BASE, "image": {"repository": "x", "pullPolicy": "Sometimes"}}, "pullPolicy"),
    "defaultClass as a string": ({**BASE, "defaultClass": "yes"}, "defaultClass"),
    "no classes": ({**BASE, "loadBalancerClasses": []}, "loadBalancerClasses"),
    "class with a comma": ({**BASE, "loadBalancerClasses": ["a,b"]}, "loadBalancerClasses"),
    "misspelt top-level key": ({**BASE, "replica": 2}, "replica"),
    "bad gcp project": ({**BASE, "gcp": {"project": "Shop_Prod"}}, "project"),
    "bad gcp node tag": ({**BASE, "gcp": {"nodeTags": ["Not A Tag"]}}, "nodeTags"),
    "unknown gcp key": ({**BASE, "gcp": {"zone": "a"}}, "zone"),
    "nodeSelector as a map": ({**BASE, "nodeSelector": {"pool": "edge"}}, "nodeSelector"),
    "bad watchNamespace": ({**BASE, "watchNamespace": "Shop"}, "watchNamespace"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_schema_rejects_bad_values_at_install(case):
    values, key = BAD[case]
    with pytest.raises(helm.HelmValuesError) as e:
        render(values)
    assert key in str(e.value), str(e.value)
    with helm.Chart.load(CHART) as c, pytest.raises(helm.HelmValuesError):
        c.validate_schema(values)


def test_schema_accepts_a_full_eks_values_file():
    values = yaml.safe_load("""
clusterName: prod-eu1
region: eu-west-1
vpcId: vpc-0a1b2c3d4e5f67890
defaultClass: true
serviceAccount:
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/berth
metrics:
  serviceMonitor:
    enabled: true
tolerations:
  - key: CriticalAddonsOnly
    operator: Exists
""")
    assert one(render(values), "ServiceMonitor")


def notes(values):
    with helm.Chart.load(CHART) as chart:
        out = chart.render({**BASE, **values}, name="berth", namespace="kube-system", is_install=True)
    (text,) = [v for k, v in out.items() if k.endswith("NOTES.txt")]
    return text


def test_notes_name_the_cloud_s_classes_and_credentials():
    aws = notes({})
    assert "[berth.dev/aws-nlb, service.k8s.aws/nlb]" in aws and "aws-load-balancer-type" in aws
    assert "eks\\.amazonaws\\.com/role-arn" in aws or "eks.amazonaws.com/role-arn" in aws.replace("\\", "")
    gcp = notes(GCP)
    assert "[berth.dev/gce-l4]" in gcp and "aws-load-balancer-type" not in gcp, gcp
    assert "iam-policy --cloud gcp" in gcp and "gcp-service-account" in gcp.replace("\\", ""), gcp
