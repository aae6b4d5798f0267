"""Measures the resident memory of `berth run` managing N Services (see measure-memory.sh).

Runs with the moto venv's python (boto3 comes with moto) against the environment of the sourced
env file (BERTH_TEST_*, AWS_*). Prints VmRSS / VmHWM from /proc/<pid>/status at each phase.
Numbers only: nothing is asserted.
"""
from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

API = os.environ["BERTH_TEST_APISERVER"]
TOKEN = os.environ["BERTH_TEST_ADMIN_TOKEN"]
CTX = ssl.create_default_context(cafile=os.environ["BERTH_TEST_CA_FILE"])
COUNTS = [int(x) for x in os.environ.get("BERTH_MEASURE_COUNTS", "1,50").split(",")]


def kube(method: str, path: str, body: dict | None = None, ok404: bool = False) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, context=CTX, timeout=30) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        if ok404 and e.code == 404:
            return {}
        raise SystemExit(f"{method} {path}: {e.code} {e.read()[:300]!r}")


def mem(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])  # kB
    return out


def wait(what: str, pred, timeout: float = 300) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)
    return time.monotonic() - t0


def main() -> int:
    berth = sys.argv[1]
    run_id = f"mem-{os.getpid():x}-{int(time.time()) % 100000}"
    ns = run_id
    kube("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for i, az in enumerate(["us-east-1a", "us-east-1b"]):
        s = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[s], Tags=[
            {"Key": "kubernetes.io/role/internal-elb", "Value": "1"},
            {"Key": f"kubernetes.io/cluster/{run_id}", "Value": "owned"},
        ])
        subnets.append((s, az))
    # The nodes' security group, tagged for the cluster as EKS does: berth adds its NLBs'
    # backend rules there.
    node_sg = ec2.create_security_group(GroupName=f"{run_id}-nodes", Description="nodes", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[node_sg], Tags=[{"Key": f"kubernetes.io/cluster/{run_id}", "Value": "owned"}])
    nodes = []
    for i in range(3):
        inst = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 SubnetId=subnets[0][0], SecurityGroupIds=[node_sg])["Instances"][0]["InstanceId"]
        name = f"{run_id}-n{i}"
        kube("POST", "/api/v1/nodes", {"metadata": {"name": name, "labels": {"berth-mem": run_id}},
                                       "spec": {"providerID": f"aws:///{subnets[0][1]}/{inst}"}})
        nodes.append(name)

    log = tempfile.NamedTemporaryFile(prefix="berth-mem-", suffix=".log", delete=False)
    port = 18000 + os.getpid() % 1000
    env = dict(os.environ, KUBECONFIG=os.environ["BERTH_TEST_KUBECONFIG"], NO_COLOR="1")
    env.pop("RUST_LOG", None)
    proc = subprocess.Popen(
        [berth, "run", "--cluster-name", run_id, "--identity", run_id,
         "--metrics-addr", f"127.0.0.1:{port}", "--resync", "5m",
         "--leader-election-namespace", ns, "--watch-namespace", ns,
         "--node-selector", f"berth-mem={run_id}", "--log-format", "json"],
        env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    rows = []

    def sample(phase: str, seconds: float | None = None) -> None:
        m = mem(proc.pid)
        rows.append((phase, m["VmRSS"], m["VmHWM"], seconds))
        took = f"  ({seconds:.1f} s)" if seconds is not None else ""
        print(f"  {phase:<44} VmRSS {m['VmRSS'] / 1024:6.1f} MiB   VmHWM {m['VmHWM'] / 1024:6.1f} MiB{took}", flush=True)

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return r.read().strip() == b"leader"
        except Exception:
            return False

    def hostnames() -> int:
        items = kube("GET", f"/api/v1/namespaces/{ns}/services")["items"]
        return sum(1 for s in items if (s.get("status", {}).get("loadBalancer", {}).get("ingress") or [{}])[0].get("hostname"))

    try:
        print(f"berth: {berth}")
        print(f"memory of `berth run` (pid {proc.pid}), log {log.name}:")
        t = wait("berth ready", ready, 60)
        sample("ready, 0 Services", t)
        made = 0
        for n in COUNTS:
            t0 = time.monotonic()
            while made < n:
                kube("POST", f"/api/v1/namespaces/{ns}/services", {
                    "metadata": {"name": f"svc-{made}", "annotations": {
                        "service.beta.kubernetes.io/aws-load-balancer-type": "external"}},
                    "spec": {"type": "LoadBalancer", "ports": [
                        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}})
                made += 1
            wait(f"{n} hostnames", lambda: hostnames() >= n, 600)
            sample(f"{n} Service(s) provisioned", time.monotonic() - t0)
            time.sleep(10)
            sample(f"{n} Service(s), 10 s later (idle)")
        t0 = time.monotonic()
        for i in range(made):
            kube("DELETE", f"/api/v1/namespaces/{ns}/services/svc-{i}")
        wait("Services deleted", lambda: not kube("GET", f"/api/v1/namespaces/{ns}/services")["items"], 600)
        sample(f"all {made} deleted", time.monotonic() - t0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        for n in nodes:
            kube("DELETE", f"/api/v1/nodes/{n}", ok404=True)
    peak = max(r[2] for r in rows)
    print(f"peak VmHWM: {peak / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
